package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// ClientIdentity describes the client identity WriteClientP12 makes.
type ClientIdentity struct {
	NotBefore, NotAfter time.Time
	// NoKey writes the certificate only (a PKCS#12 trust store), as a
	// client identity without its private key.
	NoKey bool
}

// WriteClientP12 writes a client identity for a Fusion Set: an EC P-256 key
// and a clientAuth certificate issued by a throwaway CA, as PKCS#12 under
// password at path, and the CA as server-ca.pem in the same directory. The
// zero ClientIdentity is valid from an hour ago for a day. It returns the
// private key (to check it never leaks).
func WriteClientP12(t testing.TB, path, password string, id ClientIdentity) *ecdsa.PrivateKey {
	t.Helper()
	now := time.Now()
	if id.NotBefore.IsZero() {
		id.NotBefore = now.Add(-time.Hour)
	}
	if id.NotAfter.IsZero() {
		id.NotAfter = now.Add(24 * time.Hour)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "test client"},
		NotBefore: id.NotBefore, NotAfter: id.NotAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	var data []byte
	if id.NoKey {
		data, err = pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{cert}, password)
	} else {
		data, err = pkcs12.Modern.Encode(key, cert, []*x509.Certificate{ca}, password)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "server-ca.pem"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return key
}
