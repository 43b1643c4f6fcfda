package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// PlaySigningDigest is the SHA-256 of testdata/keys/ec.x509.pem's
// certificate (testdata/keys/README.md): the stand-in for Google Play's
// app signing key in the App Bundle tests. Its key is in ec.jks,
// ec-keytool.p12, ec.pk8 and the other ec.* files; the bundles' upload
// key is the rsa one.
const PlaySigningDigest = "6b04f6959e509cc3764bc3c1b184655069ef5f42e2026d16a0822d9a72cf287d"

// PlayFusionSet writes, in a temporary directory, the demo Fusion Set
// (fusion/examples/demo.json) with attestation.playSigningCertDigests =
// [PlaySigningDigest] and its file references made absolute, and returns
// its path: what fusing a bundle for Play App Signing needs.
func PlayFusionSet(t testing.TB) string {
	t.Helper()
	examples := filepath.Join(Root(t), "fusion", "examples")
	b, err := os.ReadFile(filepath.Join(examples, "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fs map[string]any
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatal(err)
	}
	mtls := fs["mtls"].(map[string]any)
	for _, k := range []string{"clientCertificate", "pinServerCA"} {
		mtls[k] = "file:" + filepath.Join(examples, "demo", filepath.Base(mtls[k].(string)))
	}
	fs["attestation"].(map[string]any)["playSigningCertDigests"] = []string{PlaySigningDigest}
	out, err := json.MarshalIndent(fs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "play.json")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
