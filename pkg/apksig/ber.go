package apksig

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"

	"github.com/trustfuse/trustfuse/internal/cms"
)

// FORMAT: certificates in a signature block are X.690 DER, or BER (see
// internal/cms's BERToDER for what BER allows). Android reads them with
// Java's CertificateFactory and, when that refuses one, decodes it as BER,
// re-encodes it as DER and parses that, while keeping the original bytes as
// the certificate's encoding (apksig's X509CertificateUtils and
// GuaranteedEncodedFormX509Certificate): the signer's digest is of the
// original bytes. Java also reads an RSA modulus as unsigned, so a modulus
// encoded without its leading zero byte (a negative INTEGER, refused by
// crypto/x509) is the same key. parseCertificate does both.

// parseCertificate parses a certificate the way Android does (see the
// FORMAT note): as DER first, else re-encoded from BER, with an RSA modulus
// read as unsigned. The result's Raw is always the original bytes, so
// CertDigest gives the digest apksigner prints; the error is crypto/x509's
// for the original bytes when neither way works.
func parseCertificate(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err == nil {
		return c, nil
	}
	fixed, ferr := cms.BERToDER(der)
	if ferr != nil {
		return nil, err
	}
	if u, ok := unsignedRSAModulus(fixed); ok {
		fixed = u
	}
	c, ferr = x509.ParseCertificate(fixed)
	if ferr != nil {
		return nil, err
	}
	c.Raw = append([]byte(nil), der...)
	return c, nil
}

// unsignedRSAModulus returns a DER certificate whose RSA public key modulus,
// encoded as a negative INTEGER, gets the leading zero byte that makes it
// the unsigned number Java reads; ok is false when cert has no such key.
func unsignedRSAModulus(cert []byte) ([]byte, bool) {
	// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
	// TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber,
	//     signature, issuer, validity, subject, subjectPublicKeyInfo, ... }
	certParts, ok := derChildren(cert)
	if !ok || len(certParts) < 1 {
		return nil, false
	}
	tbsParts, ok := derChildren(certParts[0])
	if !ok {
		return nil, false
	}
	spkiIndex := 5
	if len(tbsParts) > 0 && tbsParts[0][0] == 0xa0 {
		spkiIndex = 6
	}
	if len(tbsParts) <= spkiIndex {
		return nil, false
	}
	var spki struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(tbsParts[spkiIndex], &spki); err != nil {
		return nil, false
	}
	var alg pkix.AlgorithmIdentifier
	if _, err := asn1.Unmarshal(spki.Algorithm.FullBytes, &alg); err != nil || alg.Algorithm.String() != pkcs7OIDRSA {
		return nil, false
	}
	keyParts, ok := derChildren(spki.PublicKey.RightAlign())
	if !ok || len(keyParts) != 2 || len(keyParts[0]) < 3 || keyParts[0][0] != asn1.TagInteger {
		return nil, false
	}
	var n asn1.RawValue
	if _, err := asn1.Unmarshal(keyParts[0], &n); err != nil || len(n.Bytes) == 0 || n.Bytes[0]&0x80 == 0 {
		return nil, false
	}
	keyParts[0] = cms.TLV(asn1.TagInteger, append([]byte{0}, n.Bytes...))
	key := cms.TLV(0x30, joinBytes(keyParts))
	bits := cms.TLV(asn1.TagBitString, append([]byte{0}, key...))
	tbsParts[spkiIndex] = cms.TLV(0x30, append(append([]byte(nil), spki.Algorithm.FullBytes...), bits...))
	certParts[0] = cms.TLV(0x30, joinBytes(tbsParts))
	return cms.TLV(0x30, joinBytes(certParts)), true
}

// derChildren splits a DER SEQUENCE into its elements' encodings.
func derChildren(b []byte) ([][]byte, bool) {
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(b, &seq); err != nil || len(rest) > 0 || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence {
		return nil, false
	}
	var out [][]byte
	for rest := seq.Bytes; len(rest) > 0; {
		var v asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &v); err != nil {
			return nil, false
		}
		out = append(out, v.FullBytes)
	}
	return out, true
}

func joinBytes(parts [][]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
