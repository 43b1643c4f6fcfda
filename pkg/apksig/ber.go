package apksig

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// FORMAT: X.690 BER and DER. A value is tag, length, contents. BER allows
// what DER forbids: lengths in more bytes than needed, the indefinite length
// (0x80, contents ended by 00 00) for constructed values, strings split into
// constructed segments, and any non-zero byte for BOOLEAN TRUE. berToDER
// removes those four; it does not know the schema, so it leaves SET element
// order and DEFAULT values as they are.
//
// Android reads the certificates of a signature block with Java's
// CertificateFactory and, when that refuses one, decodes it as BER,
// re-encodes it as DER and parses that, while keeping the original bytes as
// the certificate's encoding (apksig's X509CertificateUtils and
// GuaranteedEncodedFormX509Certificate): the signer's digest is of the
// original bytes. Java also reads an RSA modulus as unsigned, so a modulus
// encoded without its leading zero byte (a negative INTEGER, refused by
// crypto/x509) is the same key. parseCertificate does both.

// errBER reports input that is not BER.
var errBER = errors.New("apksig: malformed BER")

// berMaxDepth bounds the nesting berToDER follows; certificates need < 16.
const berMaxDepth = 64

// berToDER re-encodes one BER value as DER. It fails on trailing bytes,
// truncated input, nesting deeper than berMaxDepth and an indefinite length
// on a primitive value.
func berToDER(b []byte) ([]byte, error) {
	out, rest, err := berValue(b, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the value", errBER, len(rest))
	}
	return out, nil
}

// berHeader reads a tag and length. The tag bytes are returned as read;
// length is -1 for the indefinite form.
func berHeader(b []byte) (tag []byte, constructed bool, length int, rest []byte, err error) {
	if len(b) < 2 {
		return nil, false, 0, nil, fmt.Errorf("%w: truncated header", errBER)
	}
	n := 1
	if b[0]&0x1f == 0x1f { // high tag number: base-128 bytes, last without 0x80
		for {
			if n >= len(b) || n > 5 {
				return nil, false, 0, nil, fmt.Errorf("%w: bad tag", errBER)
			}
			n++
			if b[n-1]&0x80 == 0 {
				break
			}
		}
	}
	tag, constructed = b[:n], b[0]&0x20 != 0
	if n >= len(b) {
		return nil, false, 0, nil, fmt.Errorf("%w: truncated header", errBER)
	}
	l := b[n]
	n++
	switch {
	case l < 0x80:
		length = int(l)
	case l == 0x80:
		if !constructed {
			return nil, false, 0, nil, fmt.Errorf("%w: indefinite length on a primitive value", errBER)
		}
		length = -1
	default:
		k := int(l & 0x7f)
		if k > 4 || n+k > len(b) {
			return nil, false, 0, nil, fmt.Errorf("%w: bad length", errBER)
		}
		for _, c := range b[n : n+k] {
			length = length<<8 | int(c)
		}
		n += k
	}
	if length > len(b)-n {
		return nil, false, 0, nil, fmt.Errorf("%w: length %d beyond the input", errBER, length)
	}
	return tag, constructed, length, b[n:], nil
}

// berValue re-encodes the value at the start of b and returns the rest.
func berValue(b []byte, depth int) (der, rest []byte, err error) {
	if depth > berMaxDepth {
		return nil, nil, fmt.Errorf("%w: nested deeper than %d", errBER, berMaxDepth)
	}
	tag, constructed, length, rest, err := berHeader(b)
	if err != nil {
		return nil, nil, err
	}
	if !constructed {
		content := rest[:length]
		if len(tag) == 1 && tag[0] == asn1.TagBoolean && len(content) == 1 && content[0] != 0 {
			content = []byte{0xff}
		}
		return derTLV(tag, content), rest[length:], nil
	}
	var children [][]byte
	body := rest
	if length >= 0 {
		body = rest[:length]
	}
	for {
		if length < 0 {
			if len(body) >= 2 && body[0] == 0 && body[1] == 0 {
				body = body[2:]
				break
			}
		} else if len(body) == 0 {
			break
		}
		var child []byte
		if child, body, err = berValue(body, depth+1); err != nil {
			return nil, nil, err
		}
		children = append(children, child)
	}
	if length >= 0 {
		body = rest[length:]
	}
	// A constructed universal string is its segments' contents joined, in
	// the primitive form DER requires.
	if len(tag) == 1 && tag[0]&0xc0 == 0 && berStringTag(tag[0]&0x1f) {
		return berJoinString(tag[0]&^0x20, children, body)
	}
	return derTLV(tag, joinBytes(children)), body, nil
}

// berStringTag reports whether a universal tag number is a string type that
// BER may split into segments.
func berStringTag(n byte) bool {
	switch n {
	case asn1.TagBitString, asn1.TagOctetString, asn1.TagUTF8String, asn1.TagPrintableString,
		asn1.TagT61String, asn1.TagIA5String, asn1.TagUTCTime, asn1.TagGeneralizedTime,
		asn1.TagGeneralString, asn1.TagBMPString, 26 /* VisibleString */, 28 /* UniversalString */ :
		return true
	}
	return false
}

// berJoinString joins the already re-encoded segments of a constructed
// string into one primitive value with tag (the primitive tag byte). A BIT
// STRING segment starts with its count of unused bits, which only the last
// segment may have.
func berJoinString(tag byte, segments [][]byte, rest []byte) ([]byte, []byte, error) {
	var content []byte
	if tag == asn1.TagBitString {
		content = []byte{0}
	}
	for i, s := range segments {
		var seg asn1.RawValue
		if _, err := asn1.Unmarshal(s, &seg); err != nil || seg.Class != asn1.ClassUniversal || seg.Tag != int(tag) || seg.IsCompound {
			return nil, nil, fmt.Errorf("%w: segment of a constructed string is not of its type", errBER)
		}
		if tag != asn1.TagBitString {
			content = append(content, seg.Bytes...)
			continue
		}
		if len(seg.Bytes) == 0 || (seg.Bytes[0] != 0 && i != len(segments)-1) || seg.Bytes[0] > 7 {
			return nil, nil, fmt.Errorf("%w: bad BIT STRING segment", errBER)
		}
		content[0] = seg.Bytes[0]
		content = append(content, seg.Bytes[1:]...)
	}
	return derTLV([]byte{tag}, content), rest, nil
}

// derTLV encodes tag, the DER length of content, and content.
func derTLV(tag, content []byte) []byte {
	out := append([]byte(nil), tag...)
	switch n := len(content); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 1<<8:
		out = append(out, 0x81, byte(n))
	case n < 1<<16:
		out = append(out, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		out = append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, content...)
}

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
	fixed, ferr := berToDER(der)
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
	keyParts[0] = derTLV([]byte{asn1.TagInteger}, append([]byte{0}, n.Bytes...))
	key := derTLV([]byte{0x30}, joinBytes(keyParts))
	bits := derTLV([]byte{asn1.TagBitString}, append([]byte{0}, key...))
	tbsParts[spkiIndex] = derTLV([]byte{0x30}, append(append([]byte(nil), spki.Algorithm.FullBytes...), bits...))
	certParts[0] = derTLV([]byte{0x30}, joinBytes(tbsParts))
	return derTLV([]byte{0x30}, joinBytes(certParts)), true
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
