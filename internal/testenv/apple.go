package testenv

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// AppleIdentity is a stand-in for Apple's iOS signing PKI, made by the test:
// a fake "Apple Root CA", a WWDR intermediate carrying Apple's WWDR marker
// extension (1.2.840.113635.100.6.2.1, which designated requirements test),
// an iPhone Distribution leaf whose subject OU is the team id and which
// carries Apple's iPhone Distribution marker (1.2.840.113635.100.6.1.4)
// marked critical, as Apple marks it (openssl needs -ignore_critical for
// it, Go's x509 internal/cms's handling), and a provisioning-profile
// signing certificate issued by the root. All RSA 2048.
// Dir holds root.pem, wwdr.pem, leaf.pem, leaf.key, profile.pem and
// profile.key for openssl.
type AppleIdentity struct {
	Root, WWDR, Leaf, Profile          *x509.Certificate
	RootKey, WWDRKey, LeafKey, ProfKey *rsa.PrivateKey
	Dir                                string
}

// NewAppleIdentity makes an AppleIdentity for team whose leaf is valid from
// notBefore to notAfter (the CAs for ten years around them).
func NewAppleIdentity(t testing.TB, team string, notBefore, notAfter time.Time) *AppleIdentity {
	t.Helper()
	key := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	id := &AppleIdentity{RootKey: key(), WWDRKey: key(), LeafKey: key(), ProfKey: key(), Dir: t.TempDir()}
	caFrom, caTo := notBefore.AddDate(-5, 0, 0), notAfter.AddDate(5, 0, 0)
	issue := func(serial int64, tmpl *x509.Certificate, pub *rsa.PrivateKey, parent *x509.Certificate, parentKey *rsa.PrivateKey) *x509.Certificate {
		tmpl.SerialNumber = big.NewInt(serial)
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &pub.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	id.Root = issue(1, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "Test Apple Root CA", Organization: []string{"Apple Inc."}, OrganizationalUnit: []string{"Apple Certification Authority"}},
		NotBefore: caFrom, NotAfter: caTo, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, id.RootKey, nil, id.RootKey)
	id.WWDR = issue(2, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "Test Apple Worldwide Developer Relations Certification Authority", Organization: []string{"Apple Inc."}},
		NotBefore: caFrom, NotAfter: caTo, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:        x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 2, 1}, Value: []byte{0x05, 0x00}}},
	}, id.WWDRKey, id.Root, id.RootKey)
	id.Leaf = issue(3, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "iPhone Distribution: Test (" + team + ")", Organization: []string{"Test"}, OrganizationalUnit: []string{team}},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 1, 4}, Critical: true, Value: []byte{0x05, 0x00}}},
	}, id.LeafKey, id.WWDR, id.WWDRKey)
	id.Profile = issue(4, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "Test Apple iPhone OS Provisioning Profile Signing", Organization: []string{"Apple Inc."}},
		NotBefore: caFrom, NotAfter: caTo,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}, id.ProfKey, id.Root, id.RootKey)
	for name, c := range map[string]*x509.Certificate{"root": id.Root, "wwdr": id.WWDR, "leaf": id.Leaf, "profile": id.Profile} {
		writePEM(t, filepath.Join(id.Dir, name+".pem"), "CERTIFICATE", c.Raw)
	}
	for name, k := range map[string]*rsa.PrivateKey{"leaf": id.LeafKey, "profile": id.ProfKey} {
		writePEM(t, filepath.Join(id.Dir, name+".key"), "PRIVATE KEY", mustPKCS8(t, k))
	}
	return id
}

func mustPKCS8(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
