package fusionset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/jcs"
	"github.com/trustfuse/trustfuse/internal/testenv"
)

// nodeCanonical is the reference JCS canonicalizer in ECMAScript (RFC 8785
// is defined by ECMAScript's JSON.stringify and Number-to-string, and
// Array.prototype.sort compares UTF-16 code units): node is the oracle.
const nodeCanonical = `
let s = ''; process.stdin.on('data', d => s += d).on('end', () => {
  const c = v => v === null || typeof v !== 'object' ? JSON.stringify(v)
    : Array.isArray(v) ? '[' + v.map(c).join(',') + ']'
    : '{' + Object.keys(v).sort().map(k => JSON.stringify(k) + ':' + c(v[k])).join(',') + '}';
  process.stdout.write(c(JSON.parse(s)));
});`

func node(t *testing.T, doc string) string {
	t.Helper()
	cmd := exec.Command(testenv.Tool(t, "node"), "-e", nodeCanonical)
	cmd.Stdin = strings.NewReader(doc)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	return string(out)
}

func decodeForTest(t *testing.T, doc string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCanonicalAgreesWithECMAScript(t *testing.T) {
	docs := map[string]string{
		"issue example": issueExample,
		// RFC 8785 §3.2.4.
		"rfc8785": `{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
			"string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}`,
		"numbers": `[0, -0, 0.0, 1.0, -1.5, 5e-324, -5e-324, 1.7976931348623157e308, 9007199254740993,
			295147905179352825856, 1e21, 999999999999999999999, 999999999999999900000, 1e23, 0.000001,
			9.999999999999997e-7, 1e-7, 333333333.3333332, -0.0000033333333333333333, 1424953923781206.2, 123e-20]`,
		// UTF-16 order differs from code point order: U+1F600 (surrogates
		// D83D DE00) sorts before U+FFFF.
		"keys":    `{"\uffff": 1, "😀": 2, "é": 3, "e": 4, "E": 5, "": 6, "a\u0000": 7, "\u007f": 8}`,
		"strings": `["\u0000\u0001\u001f\b\f\n\r\t", "<&>\u2028\u2029", "\u00e9\u4e2d", "/\\\"", "\ud83d\ude00"]`,
	}
	for name, doc := range docs {
		got := string(jcs.Canonical(decodeForTest(t, doc)))
		if want := node(t, doc); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

func TestCanonicalRFC8785Example(t *testing.T) {
	// The expected output printed in RFC 8785 §3.2.4.
	const want = `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
	doc := `{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
		"string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}`
	if got := string(jcs.Canonical(decodeForTest(t, doc))); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestHashIgnoresLayout: comments, indentation and member order do not
// change SHA256; values do.
func TestHashIgnoresLayout(t *testing.T) {
	w := newWorld(t)
	a, err := Load(w.write(t, "a.json", issueExample), w.opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(issueExample), &v); err != nil {
		t.Fatal(err)
	}
	pretty, _ := json.MarshalIndent(v, "// not JSON\n", "\t") // every line after the first starts with a comment
	b, err := Load(w.write(t, "b.json", string(pretty)), w.opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if a.SHA256() != b.SHA256() {
		t.Errorf("reformatted: %s != %s", a.SHA256(), b.SHA256())
	}
	sum := sha256.Sum256([]byte(node(t, issueExample)))
	if a.SHA256() != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256 = %s, want sha256 of node's canonical form %x", a.SHA256(), sum)
	}
	c, err := Load(w.write(t, "c.json", strings.Replace(issueExample, `"version": 1`, `"version": 2`, 1)), w.opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA256() == a.SHA256() {
		t.Error("version change did not change SHA256")
	}
	if !bytes.Equal(a.Canonical(), []byte(node(t, issueExample))) {
		t.Errorf("Canonical = %s", a.Canonical())
	}
}
