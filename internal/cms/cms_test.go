package cms

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// TestOpenSSLInterop: what openssl cms -sign makes (attached, SHA-256 and
// SHA-1, with and without signed attributes, DER and streamed BER) parses
// and verifies here, and
// openssl verifies what SignDetached makes; each tamper is refused.
func TestOpenSSLInterop(t *testing.T) {
	now := time.Now()
	id := testenv.NewAppleIdentity(t, "TEAM123456", now.Add(-time.Hour), now.Add(time.Hour))
	roots := x509.NewCertPool()
	roots.AddCert(id.Root)
	dir := t.TempDir()
	content := []byte("<plist><dict/></plist>\n")
	in := filepath.Join(dir, "in")
	os.WriteFile(in, content, 0o600)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"sha256 attrs", []string{"-md", "sha256"}},
		{"sha1 attrs", []string{"-md", "sha1"}},
		{"sha256 no attrs", []string{"-md", "sha256", "-noattr"}},
		{"sha256 streamed (BER, indefinite lengths)", []string{"-md", "sha256", "-stream"}},
	} {
		out := filepath.Join(dir, "p7")
		args := append([]string{"cms", "-sign", "-nodetach", "-binary", "-outform", "DER", "-in", in, "-out", out,
			"-signer", filepath.Join(id.Dir, "profile.pem"), "-inkey", filepath.Join(id.Dir, "profile.key")}, tc.args...)
		testenv.Run(t, "openssl", args...)
		der, _ := os.ReadFile(out)
		if streamed := slices.Contains(tc.args, "-stream"); streamed != (der[1] == 0x80) {
			t.Fatalf("%s: outer length byte %#x", tc.name, der[1])
		}
		sd, err := Parse(der)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(sd.Content, content) || sd.Signer.SerialNumber.Cmp(id.Profile.SerialNumber) != 0 {
			t.Errorf("%s: content %q signer %v", tc.name, sd.Content, sd.Signer.Subject)
		}
		if err := sd.VerifySignature(nil); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if _, err := sd.VerifyChain(roots, now); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err := sd.VerifySignature([]byte("other")); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: other content: %v", tc.name, err)
		}
		if _, err := sd.VerifyChain(x509.NewCertPool(), now); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: unknown root: %v", tc.name, err)
		}
	}

	sig, err := SignDetached(content, id.LeafKey, []*x509.Certificate{id.Leaf, id.WWDR}, now, nil, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "sig")
	os.WriteFile(p, sig, 0o600)
	testenv.Run(t, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p, "-content", in,
		"-CAfile", filepath.Join(id.Dir, "root.pem"), "-purpose", "any", "-ignore_critical", "-out", os.DevNull)
	sd, err := Parse(sig)
	if err != nil || sd.Content != nil || sd.VerifySignature(content) != nil {
		t.Errorf("our detached signature: %v", err)
	}
	if st, ok := sd.SigningTime(); !ok || st.Unix() != now.Unix() {
		t.Errorf("signing time %v %v", st, ok)
	}
}

// TestParseMalformed: one case per class of bad input.
func TestParseMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		der  []byte
	}{
		{"empty", nil},
		{"not DER", []byte("hello")},
		{"data not signedData", []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0, 0x00}},
		{"trailing bytes", []byte{0x30, 0x00, 0x00}},
	} {
		if _, err := Parse(tc.der); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// FuzzParse checks that Parse, BER or DER, never panics and fails only
// with ErrMalformed, and that what it accepts survives the checks callers
// run next. Seeds: a fixture profile signed by openssl, as DER and with its
// outer SEQUENCE made indefinite-length BER.
func FuzzParse(f *testing.F) {
	der, err := os.ReadFile(testenv.IOSFixture(f, "app.mobileprovision"))
	if err != nil {
		f.Fatal(err)
	}
	if der[0] != 0x30 || der[1] != 0x82 {
		f.Fatalf("fixture starts % x, want a SEQUENCE with a 2-byte length", der[:2])
	}
	f.Add(der)
	f.Add(append(append([]byte{0x30, 0x80}, der[4:]...), 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		_ = sd.VerifySignature(nil)
		_, _ = sd.VerifyChain(x509.NewCertPool(), time.Time{})
		_, _ = sd.SigningTime()
	})
}
