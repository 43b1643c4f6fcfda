package iosrt_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// buildKeyDER compiles the glue's DER code (apple/keyder.c, the same file
// the framework is built from) for the host with apple/hosttest/main.c.
func buildKeyDER(t *testing.T) string {
	t.Helper()
	cc := testenv.Tool(t, "clang-14")
	dir := filepath.Join(testenv.Root(t), "fusion", "runtime", "ios")
	bin := filepath.Join(t.TempDir(), "keyder")
	cmd := exec.Command(cc, "-ffreestanding", "-nostdlibinc", "-Wall", "-Wextra", "-Werror",
		"-isystem", "apple/libc", "-I", "core", "-I", "apple", "apple/hosttest/main.c", "apple/keyder.c", "-o", bin)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang-14 keyder: %v\n%s", err, out)
	}
	return bin
}

// runKeyDER runs the driver on der; ok is false when the C code refused it.
func runKeyDER(t *testing.T, bin, mode string, der []byte) (string, bool) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.der")
	if err := os.WriteFile(p, der, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, mode, p).Output()
	if ee, isExit := err.(*exec.ExitError); isExit && ee.ExitCode() == 1 {
		return "", false
	}
	if err != nil {
		t.Fatalf("keyder %s: %v", mode, err)
	}
	return strings.TrimSpace(string(out)), true
}

// TestKeyDERPKCS8 checks the PKCS#8 conversion the glue feeds to
// SecKeyCreateWithData against Go's crypto: an RSA key becomes exactly
// x509.MarshalPKCS1PrivateKey's DER, a P-256 key exactly 04 || X || Y || D
// (ANSI X9.63, as Security's documentation asks); other keys and broken DER
// are refused.
func TestKeyDERPKCS8(t *testing.T) {
	bin := buildKeyDER(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	ecdh, err := p256.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	x963 := append(ecdh.PublicKey().Bytes(), ecdh.Bytes()...)
	rsaDER := pkcs8(rsaKey)
	for _, c := range []struct {
		name string
		in   []byte
		want string // "" = refused
	}{
		{"rsa", rsaDER, "rsa " + hex.EncodeToString(x509.MarshalPKCS1PrivateKey(rsaKey))},
		{"p256", pkcs8(p256), "ec " + hex.EncodeToString(x963)},
		{"p384", pkcs8(p384), ""},
		{"ed25519", pkcs8(edKey), ""},
		{"truncated", rsaDER[:len(rsaDER)/2], ""},
		{"not DER", []byte("-----BEGIN PRIVATE KEY-----"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := runKeyDER(t, bin, "pkcs8", c.in)
			if c.want == "" {
				if ok {
					t.Errorf("accepted: %.40s…", got)
				}
				return
			}
			if !ok || got != c.want {
				t.Errorf("got %.60s… (ok %v), want %.60s…", got, ok, c.want)
			}
		})
	}
}

// TestKeyDERSPKI checks the SubjectPublicKeyInfo the glue hashes for the
// pin.spki check against Go's x509 parser (RawSubjectPublicKeyInfo), for a
// v3 certificate (explicit [0] version) and a v1 one (none), and refuses
// DER that is not a certificate.
func TestKeyDERSPKI(t *testing.T) {
	bin := buildKeyDER(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Fusion Set CA"},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1900000000, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	v3, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(v3)
	if err != nil {
		t.Fatal(err)
	}
	// A v1 certificate: the same fields without the version (RFC 5280
	// DEFAULT v1), with an arbitrary signature: only the structure matters.
	tbs, err := asn1.Marshal(struct {
		Serial   *big.Int
		SigAlg   pkix.AlgorithmIdentifier
		Issuer   asn1.RawValue
		Validity struct{ NotBefore, NotAfter time.Time }
		Subject  asn1.RawValue
		SPKI     asn1.RawValue
	}{
		big.NewInt(8), pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}},
		asn1.RawValue{FullBytes: cert.RawIssuer}, struct{ NotBefore, NotAfter time.Time }{cert.NotBefore, cert.NotAfter},
		asn1.RawValue{FullBytes: cert.RawSubject}, asn1.RawValue{FullBytes: cert.RawSubjectPublicKeyInfo},
	})
	if err != nil {
		t.Fatal(err)
	}
	v1, err := asn1.Marshal(struct {
		TBS    asn1.RawValue
		SigAlg pkix.AlgorithmIdentifier
		Sig    asn1.BitString
	}{asn1.RawValue{FullBytes: tbs}, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}}, asn1.BitString{Bytes: []byte{0}, BitLength: 8}})
	if err != nil {
		t.Fatal(err)
	}
	v1cert, err := x509.ParseCertificate(v1)
	if err != nil {
		t.Fatalf("the v1 certificate does not parse: %v", err)
	}
	if v1cert.Version != 1 {
		t.Fatalf("hand-made certificate is version %d", v1cert.Version)
	}
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"v3", v3, hex.EncodeToString(cert.RawSubjectPublicKeyInfo)},
		{"v1", v1, hex.EncodeToString(v1cert.RawSubjectPublicKeyInfo)},
		{"truncated", v3[:len(v3)-40], ""},
		{"private key", x509.MarshalPKCS1PrivateKey(mustRSA(t)), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := runKeyDER(t, bin, "spki", c.in)
			if ok != (c.want != "") || got != c.want {
				t.Errorf("got %q (ok %v), want %q", got, ok, c.want)
			}
		})
	}
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
