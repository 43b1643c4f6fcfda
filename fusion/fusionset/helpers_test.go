package fusionset

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// testNow is the clock of every test: certificates are made around it.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// testCA is a CA made with crypto/x509.
type testCA struct {
	key  crypto.Signer
	cert *x509.Certificate
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCA makes a CA valid from notBefore to notAfter.
func newCA(t testing.TB, cn string, notBefore, notAfter time.Time) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{key: key, cert: cert}
}

// leafSpec describes a client certificate.
type leafSpec struct {
	cn                  string
	notBefore, notAfter time.Time
	eku                 []x509.ExtKeyUsage
	unknownEKU          []asn1.ObjectIdentifier
	ku                  x509.KeyUsage
	isCA                bool
}

// issue makes a leaf certificate for a new key, signed by ca.
func (ca *testCA) issue(t testing.TB, s leafSpec) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key := newKey(t)
	if s.notBefore.IsZero() {
		s.notBefore = testNow.AddDate(0, -1, 0)
	}
	if s.notAfter.IsZero() {
		s.notAfter = testNow.AddDate(1, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: s.cn},
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		ExtKeyUsage:           s.eku,
		KeyUsage:              s.ku,
		IsCA:                  s.isCA,
		BasicConstraintsValid: true,
	}
	tmpl.UnknownExtKeyUsage = s.unknownEKU
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// writePEM writes PEM blocks to dir/name and returns the path.
func writePEM(t testing.TB, dir, name string, blocks ...*pem.Block) string {
	t.Helper()
	var data []byte
	for _, b := range blocks {
		data = append(data, pem.EncodeToMemory(b)...)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func certBlock(c *x509.Certificate) *pem.Block {
	return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}
}

func keyBlock(t testing.TB, k crypto.Signer) *pem.Block {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
}

// writeP12 makes dir/name with OpenSSL 3's pkcs12 -export (default
// algorithms: PBES2 AES-256-CBC, HMAC-SHA256 MAC): a real third-party file.
// key nil makes a certificate-only file (-nokeys).
func writeP12(t testing.TB, dir, name string, key crypto.Signer, cert *x509.Certificate, pass string) string {
	t.Helper()
	certPath := writePEM(t, dir, name+".cert.pem", certBlock(cert))
	out := filepath.Join(dir, name)
	args := []string{"pkcs12", "-export", "-in", certPath, "-passout", "pass:" + pass, "-out", out}
	if key == nil {
		args = append(args, "-nokeys")
	} else {
		args = append(args, "-inkey", writePEM(t, dir, name+".key.pem", keyBlock(t, key)))
	}
	testenv.Run(t, "openssl", args...)
	return out
}

// world is a directory holding a valid client.p12 (password p12Pass, in
// $CLIENT_P12_PASS) and server-ca.pem, with the CA that issued both.
type world struct {
	dir string
	ca  *testCA
}

const p12Pass = "s3cret-p12-pass"

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{dir: t.TempDir()}
	w.ca = newCA(t, "Test CA", testNow.AddDate(-1, 0, 0), testNow.AddDate(5, 0, 0))
	key, cert := w.ca.issue(t, leafSpec{cn: "client", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, ku: x509.KeyUsageDigitalSignature})
	writeP12(t, w.dir, "client.p12", key, cert, p12Pass)
	writePEM(t, w.dir, "server-ca.pem", certBlock(w.ca.cert))
	return w
}

// opts returns LoadOptions with the test clock and env.
func (w *world) opts(env map[string]string) LoadOptions {
	return LoadOptions{
		Now: fixedNow,
		LookupEnv: func(k string) (string, bool) {
			if env != nil {
				v, ok := env[k]
				return v, ok
			}
			if k == "CLIENT_P12_PASS" {
				return p12Pass, true
			}
			return "", false
		},
	}
}

// write writes a Fusion Set into the world's directory.
func (w *world) write(t testing.TB, name, doc string) string {
	t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
