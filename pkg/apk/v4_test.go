package apk

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/apksig"
)

// TestInfoV4 checks that Info claims v4 exactly when apksigner verifies the
// .idsig beside the APK (`--v4-signature-file`), and otherwise warns with a
// stable code. The APKs and .idsig files are made by apksigner.
func TestInfoV4(t *testing.T) {
	keys := filepath.Join(testenv.Root(t), "testdata", "keys")
	unsigned := filepath.Join(testenv.Root(t), "testdata", "apk", "unsigned.apk")
	// signV4 has apksigner sign the fixture into dir/name with v4 (v1 on
	// or off changes the bytes, so the two .idsig files differ).
	signV4 := func(t *testing.T, dir, name, v1 string) string {
		p := filepath.Join(dir, name)
		testenv.Run(t, "apksigner", "sign", "--key", filepath.Join(keys, "rsa.pk8"), "--cert", filepath.Join(keys, "rsa.x509.pem"),
			"--v1-signing-enabled", v1, "--v4-signing-enabled", "true", "--out", p, unsigned)
		return p
	}
	cases := []struct {
		name     string
		make     func(t *testing.T, dir string) string
		wantV4   bool
		wantCode string
	}{
		{"no .idsig", func(t *testing.T, dir string) string {
			p := signV4(t, dir, "app.apk", "true")
			os.Remove(p + apksig.IdsigSuffix)
			return p
		}, false, ""},
		{"matching .idsig", func(t *testing.T, dir string) string {
			return signV4(t, dir, "app.apk", "true")
		}, true, ""},
		{".idsig of another build", func(t *testing.T, dir string) string {
			p := signV4(t, dir, "app.apk", "true")
			other := signV4(t, dir, "other.apk", "false")
			os.Rename(other+apksig.IdsigSuffix, p+apksig.IdsigSuffix)
			return p
		}, false, "V4_SIGNATURE_MISMATCH"},
		{"malformed .idsig", func(t *testing.T, dir string) string {
			p := signV4(t, dir, "app.apk", "true")
			os.WriteFile(p+apksig.IdsigSuffix, []byte("not a v4 signature"), 0o644)
			return p
		}, false, "V4_SIGNATURE_MALFORMED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.make(t, t.TempDir())
			out, err := exec.Command(testenv.Tool(t, "apksigner"), "verify", "-v", "--v4-signature-file", p+apksig.IdsigSuffix, p).CombinedOutput()
			oracle := err == nil && strings.Contains(string(out), "Verified using v4 scheme (APK Signature Scheme v4): true")
			a, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			info, err := a.Info()
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Contains(info.Signing.Schemes, "v4")
			if got != c.wantV4 || got != oracle {
				t.Fatalf("v4 claimed %v, apksigner %v, want %v\n%s", got, oracle, c.wantV4, out)
			}
			var codes []string
			for _, w := range info.Signing.Warnings {
				codes = append(codes, w.Code)
			}
			if c.wantCode == "" && len(codes) > 0 || c.wantCode != "" && !slices.Equal(codes, []string{c.wantCode}) {
				t.Errorf("warnings %v, want %q", info.Signing.Warnings, c.wantCode)
			}
			present, err := a.Idsig()
			if present != (c.name != "no .idsig") || (c.wantCode == "V4_SIGNATURE_MISMATCH") != errors.Is(err, apksig.ErrV4Mismatch) {
				t.Errorf("Idsig: %v, %v", present, err)
			}
		})
	}
}
