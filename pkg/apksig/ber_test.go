package apksig

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"testing"
)

// TestParseCertificateKeepsOriginal checks that a certificate crypto/x509
// refuses only for its BER length is read, with the original bytes as Raw.
func TestParseCertificateKeepsOriginal(t *testing.T) {
	s := v1TestSigner(t, false, "ber-original")
	der := s.Certs[0].Raw
	ber := berLongLength(t, der)
	if _, err := x509.ParseCertificate(ber); err == nil {
		t.Fatal("crypto/x509 reads the BER certificate: the test needs one it refuses")
	}
	c, err := parseCertificate(ber)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Raw, ber) || !c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Certs[0].PublicKey) {
		t.Errorf("Raw %d bytes (want the %d original), key equal: %v", len(c.Raw), len(ber), c.PublicKey)
	}
	if _, err := parseCertificate(ber[:len(ber)-1]); err == nil {
		t.Error("truncated certificate parsed")
	}
}
