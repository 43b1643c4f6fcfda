package apksig

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"testing"
)

func TestBerToDER(t *testing.T) {
	tests := []struct {
		name    string
		in, out []byte
	}{
		{"DER unchanged", []byte{0x30, 0x03, 0x02, 0x01, 0x05}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{"long-form length", []byte{0x30, 0x84, 0, 0, 0, 4, 0x02, 0x81, 0x01, 0x05}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{"indefinite length", []byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{"nested indefinite", []byte{0x30, 0x80, 0x31, 0x80, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00}, []byte{0x30, 0x04, 0x31, 0x02, 0x05, 0x00}},
		{"constructed OCTET STRING", []byte{0x24, 0x80, 0x04, 0x01, 'a', 0x04, 0x02, 'b', 'c', 0x00, 0x00}, []byte{0x04, 0x03, 'a', 'b', 'c'}},
		{"constructed BIT STRING", []byte{0x23, 0x09, 0x03, 0x02, 0x00, 0xaa, 0x03, 0x03, 0x04, 0xbb, 0xc0}, []byte{0x03, 0x04, 0x04, 0xaa, 0xbb, 0xc0}},
		{"BOOLEAN true as 0x01", []byte{0x01, 0x01, 0x01}, []byte{0x01, 0x01, 0xff}},
		{"context tag kept", []byte{0xa0, 0x81, 0x03, 0x02, 0x01, 0x02}, []byte{0xa0, 0x03, 0x02, 0x01, 0x02}},
	}
	for _, tc := range tests {
		got, err := berToDER(tc.in)
		if err != nil || !bytes.Equal(got, tc.out) {
			t.Errorf("%s: %x, %v; want %x", tc.name, got, err, tc.out)
		}
	}
	bad := map[string][]byte{
		"truncated":                   {0x30, 0x05, 0x02, 0x01},
		"indefinite primitive":        {0x04, 0x80, 0x00, 0x00},
		"no end of contents":          {0x30, 0x80, 0x02, 0x01, 0x05},
		"trailing bytes":              {0x05, 0x00, 0x00},
		"length of 5 bytes":           {0x04, 0x85, 0, 0, 0, 0, 1, 0},
		"segment of another type":     {0x24, 0x03, 0x0c, 0x01, 'a'},
		"unused bits before the last": {0x23, 0x08, 0x03, 0x02, 0x01, 0xaa, 0x03, 0x02, 0x00, 0xbb},
		"too deep":                    bytes.Repeat([]byte{0x30, 0x80}, berMaxDepth+2),
	}
	for name, in := range bad {
		if out, err := berToDER(in); !errors.Is(err, errBER) {
			t.Errorf("%s: %x, %v; want errBER", name, out, err)
		}
	}
}

// FuzzBerToDER checks that the normaliser never panics, that its output is
// DER (encoding/asn1 reads it back whole) and that DER is a fixed point.
func FuzzBerToDER(f *testing.F) {
	f.Add([]byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00})
	f.Add([]byte{0x24, 0x80, 0x04, 0x01, 'a', 0x04, 0x02, 'b', 'c', 0x00, 0x00})
	f.Add([]byte{0x30, 0x84, 0, 0, 0, 4, 0x02, 0x81, 0x01, 0x05})
	f.Add([]byte{0x23, 0x09, 0x03, 0x02, 0x00, 0xaa, 0x03, 0x03, 0x04, 0xbb, 0xc0})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := berToDER(in)
		if err != nil {
			return
		}
		if len(out) > 2*len(in)+8 {
			t.Fatalf("output %d bytes from %d", len(out), len(in))
		}
		again, err := berToDER(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not a fixed point: %x -> %x (%v)", out, again, err)
		}
		var v asn1.RawValue
		if rest, err := asn1.Unmarshal(out, &v); err == nil && len(rest) > 0 {
			t.Fatalf("encoding/asn1 leaves %d bytes of %x", len(rest), out)
		}
	})
}

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
