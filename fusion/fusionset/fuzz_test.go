package fusionset

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustfuse/trustfuse/internal/jcs"
)

// FuzzParse feeds arbitrary documents to Parse, next to a valid client.p12
// and server-ca.pem. It checks that Parse never panics, that every problem
// has a position inside the document, and that an accepted document's
// canonical form is JSON that canonicalizes to itself.
func FuzzParse(f *testing.F) {
	f.Add([]byte(issueExample))
	f.Add(Template())
	for _, name := range []string{"demo.json", "payments-prod.json", "retail-staging.json", "payments-attested.json"} {
		if data, err := os.ReadFile(filepath.Join("..", "examples", name)); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{"", "{", "[]", `{"a":1,"a":2}`, "// x\n{}", "\xEF\xBB\xBF{}", `{"mtls":{"hosts":[1,[2,{"x":[]}]]}}`} {
		f.Add([]byte(s))
	}
	w := newWorld(f)
	opts := w.opts(nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := Parse(data, "fuzz.json", w.dir, opts)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse returned %T: %v", err, err)
			}
			lines := bytes.Count(data, []byte("\n")) + 1
			for _, p := range ve.Problems {
				if p.Line < 1 || p.Line > lines || p.Col < 1 || p.Message == "" {
					t.Fatalf("problem %+v outside the %d-line document", p, lines)
				}
			}
			return
		}
		c := fs.Canonical()
		dec := json.NewDecoder(bytes.NewReader(c))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("Canonical is not JSON: %v\n%s", err, c)
		}
		if again := jcs.Canonical(v); !bytes.Equal(again, c) {
			t.Fatalf("canonical form not stable:\n%s\n%s", c, again)
		}
	})
}
