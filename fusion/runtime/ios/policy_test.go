package iosrt_test

import (
	"encoding/hex"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/fusion"
	"github.com/trustfuse/trustfuse/fusion/fusionset"
	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/fusion/runtime/android/harness"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/vault"
)

// fusedPolicy fuses testdata/apk/multidex.apk with the example Fusion Set
// name and returns the policy the pipeline wrote.
func fusedPolicy(t *testing.T, name string) []byte {
	t.Helper()
	root := testenv.Root(t)
	fs, err := fusionset.Load(filepath.Join(root, "fusion", "examples", name), fusionset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.Load(filepath.Join(root, "testdata", "keys", "rsa-keytool.p12"), []byte("fixture-pass"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "fused.apk")
	if _, err := fusion.Fuse(fusion.Request{In: filepath.Join(root, "testdata", "apk", "multidex.apk"), Out: out, FusionSet: fs,
		Signer: signer, Now: time.Unix(1700000000, 0).UTC()}); err != nil {
		t.Fatal(err)
	}
	return testenv.ZipEntry(t, out, androidrt.PolicyAsset)
}

// TestPolicyParse: the core reads every policy as java.util.Properties.load
// (the Android runtime's reader, run on the JDK) does: the policy the
// pipeline writes for the demo Fusion Set, a policy using every field and
// awkward text, and hand-written Properties syntax the encoder never
// writes but the format allows.
func TestPolicyParse(t *testing.T) {
	testenv.Tool(t, "java")
	full := &androidrt.Policy{
		FusionSetID: "fs-é", Package: "com.example.app",
		Threats: map[androidrt.Threat]androidrt.ThreatPolicy{
			androidrt.ThreatTamper:   {Mode: androidrt.ModeDefend, Message: " Leading space, = : # ! \\ tab\there\nnewline é 日本 😀", Score: 100},
			androidrt.ThreatDebugger: {Mode: androidrt.ModeDetect, Message: "dbg", Score: -5},
			androidrt.ThreatMITM:     {Mode: androidrt.ModeOff},
		},
		EventsEnabled: true, FailSafeEnforce: true, FailSafeAfter: 1500 * time.Millisecond, ExitOnDefend: true,
		SignerDigests: []string{strings.Repeat("AB", 32)}, DexDigests: map[string]string{"classes.dex": strings.Repeat("11", 32)},
		MTLSHosts: []string{"API.example.com", "10.0.0.1"}, PinnedCASPKI: []string{strings.Repeat("cd", 32)},
		PinnedCAs: [][]byte{{0x30, 0x82, 0x01, 0x0a}}, AttestEndpoint: "https://attest.example.com:8443/base",
		TokenHeader: "TrustFuse-Token", TokenTTL: 5 * time.Minute, BuildDate: "2025-01-02T03:04:05Z", FusedAppToken: "00ff",
		AttestMeasurement: `{"a":"b"}`, KeyAttestation: attest.KeyAttestationRequired,
	}
	cases := map[string][]byte{
		"demo.json through the pipeline": fusedPolicy(t, "demo.json"),
		"every field":                    full.Encode(),
		"properties syntax": []byte("# comment\n! bang comment\n   \n\tindented = value with trailing space \n" +
			"colon:sep\nspace sep\nkey\\ with\\ spaces=v\nesc\\=key=a\\=b\\:c\ncont = first \\\n    second\\\n\tthird\n" +
			"even\\\\\nafter=1\ncrlf=x\r\nnext=y\rcr=z\nunicode=\\u00e9\\u65e5\\uD83D\\uDE00\nlatin1=caf\xe9\n" +
			"dup=1\ndup=2\nempty=\nnovalue\n=emptykey\nescapes=\\t\\n\\r\\f\\q\\\\\n# \\\ncomment=not continued\nlast=end\\"),
	}
	for name, pol := range cases {
		t.Run(name, func(t *testing.T) {
			var got map[string]string
			out := mustRun(t, "policy", writeFile(t, "policy.bin", pol))
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			want := harness.LoadProperties(t, pol)
			for _, k := range slices.Sorted(maps.Keys(want)) {
				if got[k] != want[k] {
					t.Errorf("key %q: core %q, Java %q", k, got[k], want[k])
				}
			}
			if len(got) != len(want) {
				t.Errorf("core read %d keys, Java %d", len(got), len(want))
			}
		})
	}
	// A malformed \u escape is refused (Java throws IllegalArgumentException).
	if _, code := run(t, "policy", writeFile(t, "bad.bin", []byte("k=\\u12x4\n"))); code != 2 {
		t.Errorf("malformed \\u escape: exit %d, want 2", code)
	}
}

// TestPolicyChecks: the signer check accepts exactly the digests
// vault.IOSSignerDigest gives for the listed team and bundle ids, and the
// host check matches mtls.hosts as the Android runtime does (lowercase,
// exact).
func TestPolicyChecks(t *testing.T) {
	d := vault.IOSSignerDigest("ABCDE12345", "com.example.demo")
	other := vault.IOSSignerDigest("ZYXWV98765", "com.example.demo")
	pol := (&androidrt.Policy{FusionSetID: "fs", Package: "com.example.demo",
		SignerDigests: []string{hex.EncodeToString(other[:4]) + strings.Repeat("0", 56), strings.ToUpper(hex.EncodeToString(d[:]))},
		MTLSHosts:     []string{"API.example.com", "10.0.0.1"}}).Encode()
	p := writeFile(t, "policy.bin", pol)
	cases := []struct {
		team, bundle, host string
		signer, protected  int
	}{
		{"ABCDE12345", "com.example.demo", "api.example.com", 1, 1},
		{"ABCDE12345", "com.example.demo", "API.EXAMPLE.COM", 1, 1},
		{"ZYXWV98765", "com.example.demo", "10.0.0.1", 0, 1},
		{"ABCDE12345", "com.example.dem", "example.com", 0, 0},
		{"ABCDE12345", "com.example.demo", "api.example.com.", 1, 0},
		{"ABCDE12345", "com.example.demo", "", 1, 0},
	}
	for _, c := range cases {
		var got struct{ SignerAllowed, HostProtected int }
		if err := json.Unmarshal([]byte(mustRun(t, "policy-check", p, c.team, c.bundle, c.host)), &got); err != nil {
			t.Fatal(err)
		}
		if got.SignerAllowed != c.signer || got.HostProtected != c.protected {
			t.Errorf("%s.%s %q: %+v, want signer %d host %d", c.team, c.bundle, c.host, got, c.signer, c.protected)
		}
	}
}

// TestPolicyIdentity: mtls.identity as the Properties text says it (the
// core's Properties reader, so escapes and separators count as on
// Android); absent or any other value is embedded, today's behaviour.
func TestPolicyIdentity(t *testing.T) {
	for _, c := range []struct {
		policy string
		want   int // TF_ID_EMBEDDED, TF_ID_ATTESTED, TF_ID_EITHER
	}{
		{"fusionSetId=fs\n", 0},
		{"mtls.identity=embedded\n", 0},
		{"mtls.identity=attested\n", 1},
		{"mtls.identity = attested-or-embedded\n", 2},
		{"mtls\\u002eidentity:attest\\\n  ed\n", 1},
		{"mtls.identity=ATTESTED\n", 0},
		{"mtls.identity=attested \n", 0},
		{"mtls.identity=attested\nmtls.identity=embedded\n", 0},
	} {
		var got struct{ Identity int }
		if err := json.Unmarshal([]byte(mustRun(t, "policy-check", writeFile(t, "policy.bin", []byte(c.policy)), "T", "b", "h")), &got); err != nil {
			t.Fatal(err)
		}
		if got.Identity != c.want {
			t.Errorf("%q: identity %d, want %d", c.policy, got.Identity, c.want)
		}
	}
}
