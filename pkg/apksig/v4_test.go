package apksig

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// writeV4 signs the APK at apkPath with SignV4 and writes apkPath.idsig.
func writeV4(t *testing.T, apkPath string, s *Signer) {
	t.Helper()
	z, err := zipx.Open(apkPath)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	v, err := SignV4(z.Reader, s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := v.MarshalBinary()
	if err := os.WriteFile(apkPath+IdsigSuffix, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkV4 is our verdict: the .idsig parses and Check accepts it.
func checkV4(t *testing.T, apkPath, idsig string) error {
	t.Helper()
	f, err := os.Open(idsig)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := ReadV4(f)
	if err != nil {
		return err
	}
	z, err := zipx.Open(apkPath)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	return v.Check(z.Reader)
}

// TestV4AgainstApksigner compares our v4 verdict with `apksigner verify
// --v4-signature-file` (apksigner does not look for <apk>.idsig by itself)
// for v4 files written by us and by apksigner, matching and not: both must
// accept exactly the same ones.
func TestV4AgainstApksigner(t *testing.T) {
	ks := fixtureKeys(t)
	rsa, ec := ks["rsa-keytool.p12"], ks["ec-openssl.p12"]
	keys := filepath.Join(testenv.Root(t), "testdata", "keys")
	unsigned := filepath.Join(testenv.Root(t), "testdata", "apk", "unsigned.apk")
	// sign signs for API 24+ (v2 + v3); v1 only when asked.
	sign := func(t *testing.T, dir, src string, s *Signer, v1 V1Mode) string {
		dst := filepath.Join(dir, "app.apk")
		signFile(t, src, dst, s, Options{MinSDK: sdkN, V1: v1})
		return dst
	}
	cases := []struct {
		name string
		// make returns the APK and the .idsig to check against it.
		make     func(t *testing.T, dir string) (apk, idsig string)
		want     bool
		wantErr  error
		wantSame bool // the .idsig re-encodes to its own bytes
	}{
		{"ours, RSA", func(t *testing.T, dir string) (string, string) {
			p := sign(t, dir, unsigned, rsa, V1Off)
			writeV4(t, p, rsa)
			return p, p + IdsigSuffix
		}, true, nil, true},
		{"ours, EC", func(t *testing.T, dir string) (string, string) {
			p := sign(t, dir, unsigned, ec, V1Off)
			writeV4(t, p, ec)
			return p, p + IdsigSuffix
		}, true, nil, true},
		{"ours, real app (several tree levels)", func(t *testing.T, dir string) (string, string) {
			p := sign(t, dir, testenv.RealApp(t, "ApiDemos-debug.apk"), rsa, V1Off)
			writeV4(t, p, rsa)
			return p, p + IdsigSuffix
		}, true, nil, true},
		{"apksigner's", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "app.apk")
			testenv.Run(t, "apksigner", "sign", "--key", filepath.Join(keys, "rsa.pk8"), "--cert", filepath.Join(keys, "rsa.x509.pem"),
				"--v4-signing-enabled", "true", "--out", p, unsigned)
			// Our tree, root hash and APK digest for the same APK are
			// apksigner's, byte for byte (RSA PKCS#1 signatures too:
			// they are deterministic).
			b, _ := os.ReadFile(p + IdsigSuffix)
			z, err := zipx.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			ours, err := SignV4(z.Reader, rsa)
			if err != nil {
				t.Fatal(err)
			}
			if enc, _ := ours.MarshalBinary(); !bytes.Equal(enc, b) {
				t.Error("SignV4 differs from apksigner's .idsig for the same APK and key")
			}
			return p, p + IdsigSuffix
		}, true, nil, true},
		{"APK re-signed after the v4 file (v1 added)", func(t *testing.T, dir string) (string, string) {
			p := sign(t, dir, unsigned, rsa, V1Off)
			writeV4(t, p, rsa)
			sign(t, dir, unsigned, rsa, V1On)
			return p, p + IdsigSuffix
		}, false, ErrV4Mismatch, true},
		{"v4 file of the same APK signed by another key", func(t *testing.T, dir string) (string, string) {
			p := sign(t, dir, unsigned, rsa, V1Off)
			writeV4(t, p, rsa)
			os.Rename(p+IdsigSuffix, filepath.Join(dir, "rsa.idsig"))
			sign(t, dir, unsigned, ec, V1Off)
			return p, filepath.Join(dir, "rsa.idsig")
		}, false, ErrV4Mismatch, true},
		{"v4 signed by a key that is not the APK's signer", func(t *testing.T, dir string) (string, string) {
			p := sign(t, dir, unsigned, rsa, V1Off)
			writeV4(t, p, ec)
			return p, p + IdsigSuffix
		}, false, ErrV4Mismatch, true},
		{"v4 file truncated in its signing info", func(t *testing.T, dir string) (string, string) {
			p := sign(t, dir, unsigned, rsa, V1Off)
			writeV4(t, p, rsa)
			b, _ := os.ReadFile(p + IdsigSuffix)
			os.WriteFile(p+IdsigSuffix, b[:300], 0o644)
			return p, p + IdsigSuffix
		}, false, ErrV4Malformed, false},
		// apksig reads no further than the signing info: the tree is
		// recomputed from the APK, so a damaged tree does not matter.
		{"v4 file truncated in its tree", func(t *testing.T, dir string) (string, string) {
			p := sign(t, dir, unsigned, rsa, V1Off)
			writeV4(t, p, rsa)
			b, _ := os.ReadFile(p + IdsigSuffix)
			os.WriteFile(p+IdsigSuffix, b[:len(b)-100], 0o644)
			return p, p + IdsigSuffix
		}, true, nil, false},
		{"v4 file with a flipped signature byte", func(t *testing.T, dir string) (string, string) {
			p := sign(t, dir, unsigned, rsa, V1Off)
			writeV4(t, p, rsa)
			b, _ := os.ReadFile(p + IdsigSuffix)
			v, err := ParseV4(b)
			if err != nil {
				t.Fatal(err)
			}
			v.Signature[10] ^= 1
			b, _ = v.MarshalBinary()
			os.WriteFile(p+IdsigSuffix, b, 0o644)
			return p, p + IdsigSuffix
		}, false, ErrV4Mismatch, true},
	}
	agree := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, idsig := c.make(t, t.TempDir())
			ok, schemes, _, out := apksigner(t, p, "--min-sdk-version", "24", "--v4-signature-file", idsig)
			theirs := ok && slices.Contains(schemes, "v4")
			err := checkV4(t, p, idsig)
			if ours := err == nil; ours != theirs || ours != c.want {
				t.Fatalf("ours %v (%v), apksigner %v, want %v\n%s", ours, err, theirs, c.want, out)
			}
			if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("error %v, want %v", err, c.wantErr)
			}
			if c.wantSame {
				b, _ := os.ReadFile(idsig)
				v, err := ParseV4(b)
				if err != nil {
					t.Fatal(err)
				}
				if re, _ := v.MarshalBinary(); !bytes.Equal(re, b) {
					t.Error("the .idsig does not re-encode to its own bytes")
				}
			}
			agree++
		})
	}
	t.Logf("v4 verdicts agreeing with apksigner: %d of %d", agree, len(cases))
}

// TestResignDropsSourceStamp re-signs an APK that apksigner signed with a
// SourceStamp: the stamp block goes with the old signing block, so its
// stamp-cert-sha256 entry must go too, and apksigner must not warn.
func TestResignDropsSourceStamp(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(testenv.Root(t), "testdata", "keys")
	stampKey, stampCert := filepath.Join(dir, "stamp.pk8"), filepath.Join(dir, "stamp.pem")
	testenv.Run(t, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", filepath.Join(dir, "stamp.key"),
		"-subj", "/CN=stamp", "-days", "3650", "-out", stampCert)
	testenv.Run(t, "openssl", "pkcs8", "-topk8", "-nocrypt", "-in", filepath.Join(dir, "stamp.key"), "-outform", "DER", "-out", stampKey)
	stamped := filepath.Join(dir, "stamped.apk")
	testenv.Run(t, "apksigner", "sign", "--key", filepath.Join(keys, "rsa.pk8"), "--cert", filepath.Join(keys, "rsa.x509.pem"),
		"--stamp-signer", "--key", stampKey, "--cert", stampCert, "--v4-signing-enabled", "false",
		"--out", stamped, filepath.Join(testenv.Root(t), "testdata", "apk", "unsigned.apk"))
	if _, ok := testenv.ZipEntries(t, stamped)[sourceStampCertEntry]; !ok {
		t.Fatal("the fixture has no stamp-cert-sha256: apksigner did not stamp it")
	}
	if _, _, _, out := apksigner(t, stamped); !bytes.Contains([]byte(out), []byte("Verified for SourceStamp: true")) {
		t.Fatalf("fixture stamp not verified:\n%s", out)
	}
	for name, s := range fixtureKeys(t) {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "resigned.apk")
			signFile(t, stamped, dst, s, Options{})
			if _, ok := testenv.ZipEntries(t, dst)[sourceStampCertEntry]; ok {
				t.Error("stamp-cert-sha256 kept without its stamp")
			}
			if ok, _, _, out := apksigner(t, dst); !ok || bytes.Contains([]byte(out), []byte("WARNING")) {
				t.Fatalf("apksigner:\n%s", out)
			}
		})
	}
}
