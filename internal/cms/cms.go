// Package cms signs and verifies the CMS SignedData (RFC 5652) that Apple's
// formats use: the detached signature over a CodeDirectory (pkg/codesign)
// and the attached one around a provisioning profile's plist
// (pkg/provision). Parse reads BER, as Apple's CMS encoder writes code
// signatures with indefinite lengths, by re-encoding it as DER first
// (BERToDER); what this package writes is DER.
//
// pkg/apksig shares the encoding structs and the BER normaliser but keeps
// its own reader and signer: JAR signature blocks need DSA, signatures
// without signed attributes and Android's exact acceptance rules, which
// these formats do not.
package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"time"
)

// FORMAT: RFC 5652.
//
//	ContentInfo ::= SEQUENCE { contentType OID signedData, content [0] EXPLICIT SignedData }
//	SignedData ::= SEQUENCE {
//	  version INTEGER 1, digestAlgorithms SET OF AlgorithmIdentifier,
//	  encapContentInfo SEQUENCE { eContentType OID, eContent [0] EXPLICIT OCTET STRING OPTIONAL },
//	  certificates [0] IMPLICIT SET OF Certificate OPTIONAL,
//	  crls [1] IMPLICIT … OPTIONAL, signerInfos SET OF SignerInfo }
//	SignerInfo ::= SEQUENCE {
//	  version INTEGER 1, sid IssuerAndSerialNumber, digestAlgorithm AlgorithmIdentifier,
//	  signedAttrs [0] IMPLICIT SET OF Attribute OPTIONAL,
//	  signatureAlgorithm AlgorithmIdentifier, signature OCTET STRING,
//	  unsignedAttrs [1] IMPLICIT … OPTIONAL }
//	Attribute ::= SEQUENCE { attrType OID, attrValues SET OF ANY }
//
// With signed attributes the signature covers the DER of the attribute SET
// (tag 0x31, not [0]) and the messageDigest attribute holds the content's
// digest; without them it covers the content.

// ErrMalformed and ErrSignature classify failures: the structure cannot be
// decoded, or it decodes but does not verify.
var (
	ErrMalformed = errors.New("cms: malformed SignedData")
	ErrSignature = errors.New("cms: signature does not verify")
)

// ErrSHA1Chain reports a certificate chain that cannot be verified because
// a certificate in it is signed with SHA-1: Go's x509 refuses those
// signatures since Go 1.24, and Apple's chains before 2016 use them. It
// comes wrapped with ErrSignature.
var ErrSHA1Chain = errors.New("cms: certificate chain uses SHA-1 signatures, which Go's x509 refuses since Go 1.24")

// Object identifiers.
var (
	OIDData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	OIDSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	OIDContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	OIDMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	OIDSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	OIDSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	OIDSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSA           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSASHA256     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidRSASHA1       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECPublicKey   = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
)

// The encoding structs, shared with pkg/apksig's JAR signature blocks.
// RawValue fields keep what callers check themselves (the signer
// identifier's form, the certificate SET, the attributes' exact bytes).

// ContentInfo is the outer CMS structure.
type ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0"` // [0] EXPLICIT: Bytes hold the inner TLV
}

// SignedData is RFC 5652 §5.1 SignedData.
type SignedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo EncapContent
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []SignerInfo  `asn1:"set"`
}

// EncapContent is EncapsulatedContentInfo; Content is absent when detached.
type EncapContent struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"optional,explicit,tag:0"`
}

// SignerInfo is RFC 5652 §5.3 SignerInfo; SID is either an
// IssuerAndSerialNumber SEQUENCE or a [0] SubjectKeyIdentifier.
type SignerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

// IssuerAndSerial is IssuerAndSerialNumber.
type IssuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

// RawAttribute is an Attribute with its SET of values undecoded.
type RawAttribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue // SET OF ANY
}

// Attribute is a signed attribute with a single value, given as its DER.
type Attribute struct {
	Type  asn1.ObjectIdentifier
	Value []byte
}

// NewAttribute DER-encodes v (with encoding/asn1) as an attribute value.
func NewAttribute(oid asn1.ObjectIdentifier, v any) (Attribute, error) {
	b, err := asn1.Marshal(v)
	if err != nil {
		return Attribute{}, fmt.Errorf("cms: encoding attribute %s: %w", oid, err)
	}
	return Attribute{oid, b}, nil
}

// SignDetached returns a DER ContentInfo holding a SignedData over content
// (not included) with SHA-256, signed by signer whose certificate is
// chain[0]; the chain is embedded in order. The signed attributes are
// contentType (data), signingTime, messageDigest and extra, in DER order.
func SignDetached(content []byte, signer crypto.Signer, chain []*x509.Certificate, signingTime time.Time, extra []Attribute, rnd io.Reader) ([]byte, error) {
	if len(chain) == 0 {
		return nil, errors.New("cms: no signing certificate")
	}
	var sigAlg pkix.AlgorithmIdentifier
	switch signer.Public().(type) {
	case *rsa.PublicKey:
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidRSA, Parameters: asn1.NullRawValue}
	case *ecdsa.PublicKey:
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidECDSASHA256}
	default:
		return nil, fmt.Errorf("cms: %T keys are not supported", signer.Public())
	}
	digest := crypto.SHA256.New()
	digest.Write(content)
	ct, _ := NewAttribute(OIDContentType, OIDData)
	st, err := NewAttribute(OIDSigningTime, signingTime.UTC())
	if err != nil {
		return nil, err
	}
	md, _ := NewAttribute(OIDMessageDigest, digest.Sum(nil))
	var attrs [][]byte
	for _, a := range append([]Attribute{ct, st, md}, extra...) {
		b, err := asn1.Marshal(RawAttribute{a.Type, asn1.RawValue{FullBytes: TLV(0x31, a.Value)}})
		if err != nil {
			return nil, fmt.Errorf("cms: encoding attribute %s: %w", a.Type, err)
		}
		attrs = append(attrs, b)
	}
	slices.SortFunc(attrs, bytes.Compare) // DER: SET OF in ascending encoding order
	joined := bytes.Join(attrs, nil)
	h := crypto.SHA256.New()
	h.Write(TLV(0x31, joined))
	sig, err := signer.Sign(rnd, h.Sum(nil), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("cms: signing: %w", err)
	}
	var certs []byte
	for _, c := range chain {
		certs = append(certs, c.Raw...)
	}
	sha256Alg := pkix.AlgorithmIdentifier{Algorithm: OIDSHA256, Parameters: asn1.NullRawValue}
	sid, err := asn1.Marshal(IssuerAndSerial{asn1.RawValue{FullBytes: chain[0].RawIssuer}, chain[0].SerialNumber})
	if err != nil {
		return nil, fmt.Errorf("cms: encoding the signer identifier: %w", err)
	}
	return Encode(SignedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{sha256Alg},
		EncapContentInfo: EncapContent{ContentType: OIDData},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs},
		SignerInfos: []SignerInfo{{
			Version:            1,
			SID:                asn1.RawValue{FullBytes: sid},
			DigestAlgorithm:    sha256Alg,
			SignedAttrs:        asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: joined},
			SignatureAlgorithm: sigAlg,
			Signature:          sig,
		}},
	})
}

// Encode wraps sd in a ContentInfo of type signedData and encodes it as DER.
func Encode(sd SignedData) ([]byte, error) {
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("cms: encoding SignedData: %w", err)
	}
	out, err := asn1.Marshal(ContentInfo{OIDSignedData, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
	if err != nil {
		return nil, fmt.Errorf("cms: encoding ContentInfo: %w", err)
	}
	return out, nil
}

// Signed is a parsed SignedData with one signer.
type Signed struct {
	// Content is the encapsulated content (eContent), nil when detached.
	Content      []byte
	Certificates []*x509.Certificate
	// Signer is the certificate the SignerInfo names.
	Signer *x509.Certificate
	si     SignerInfo
	attrs  []RawAttribute
}

// Parse decodes a BER or DER ContentInfo holding a SignedData with exactly
// one signer whose certificate is embedded. BER is re-encoded as DER before
// decoding: the signature covers the DER of the signed attributes (RFC 5652
// §5.4), so no signed byte changes, and the certificates and attributes the
// result returns are DER.
func Parse(ber []byte) (*Signed, error) {
	der, err := BERToDER(ber)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var ci ContentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, fmt.Errorf("%w: ContentInfo: %w", ErrMalformed, err)
	} else if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the ContentInfo", ErrMalformed, len(rest))
	}
	if !ci.ContentType.Equal(OIDSignedData) {
		return nil, fmt.Errorf("%w: content type %s is not signedData", ErrMalformed, ci.ContentType)
	}
	var sd SignedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("%w: SignedData: %w", ErrMalformed, err)
	}
	if len(sd.SignerInfos) != 1 {
		return nil, fmt.Errorf("%w: %d signers, want 1", ErrMalformed, len(sd.SignerInfos))
	}
	out := &Signed{si: sd.SignerInfos[0]}
	if len(sd.EncapContentInfo.Content.Bytes) > 0 {
		var c []byte
		if _, err := asn1.Unmarshal(sd.EncapContentInfo.Content.Bytes, &c); err != nil {
			return nil, fmt.Errorf("%w: eContent: %w", ErrMalformed, err)
		}
		out.Content = c
	}
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: certificates: %w", ErrMalformed, err)
	}
	out.Certificates = certs
	var sid IssuerAndSerial
	if rest, err := asn1.Unmarshal(out.si.SID.FullBytes, &sid); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: signer identifier is not an IssuerAndSerialNumber", ErrMalformed)
	}
	for _, c := range certs {
		if bytes.Equal(c.RawIssuer, sid.Issuer.FullBytes) && c.SerialNumber.Cmp(sid.Serial) == 0 {
			out.Signer = c
		}
	}
	if out.Signer == nil {
		return nil, fmt.Errorf("%w: the signer's certificate is not embedded", ErrMalformed)
	}
	if len(out.si.SignedAttrs.Bytes) > 0 {
		if _, err := asn1.UnmarshalWithParams(TLV(0x31, out.si.SignedAttrs.Bytes), &out.attrs, "set"); err != nil {
			return nil, fmt.Errorf("%w: signed attributes: %w", ErrMalformed, err)
		}
	}
	return out, nil
}

// Attribute returns the DER of the single value of signed attribute oid.
func (sd *Signed) Attribute(oid asn1.ObjectIdentifier) ([]byte, bool) {
	vs, ok := sd.AttributeValues(oid)
	if !ok || len(vs) != 1 {
		return nil, false
	}
	return vs[0], true
}

// AttributeValues returns the DER of each value of signed attribute oid
// (Apple's CDHashes2 has one value per CodeDirectory); ok is false when the
// attribute is absent or its values do not decode.
func (sd *Signed) AttributeValues(oid asn1.ObjectIdentifier) ([][]byte, bool) {
	for _, a := range sd.attrs {
		if !a.Type.Equal(oid) {
			continue
		}
		var out [][]byte
		for rest := a.Values.Bytes; len(rest) > 0; {
			var v asn1.RawValue
			var err error
			if rest, err = asn1.Unmarshal(rest, &v); err != nil {
				return nil, false
			}
			out = append(out, v.FullBytes)
		}
		return out, true
	}
	return nil, false
}

// SigningTime returns the signingTime attribute, if any.
func (sd *Signed) SigningTime() (time.Time, bool) {
	v, ok := sd.Attribute(OIDSigningTime)
	if !ok {
		return time.Time{}, false
	}
	var t time.Time
	if _, err := asn1.Unmarshal(v, &t); err != nil {
		return time.Time{}, false
	}
	return t, true
}

// VerifySignature checks the signer's signature over content (the detached
// content, or nil to use the encapsulated one): the message digest when
// there are signed attributes, then the signature itself. SHA-1 and
// SHA-256 digests are accepted (older provisioning profiles use SHA-1).
// It does not check the certificate chain: see VerifyChain.
func (sd *Signed) VerifySignature(content []byte) error {
	if content == nil {
		content = sd.Content
	}
	var h crypto.Hash
	switch a := sd.si.DigestAlgorithm.Algorithm; {
	case a.Equal(OIDSHA256):
		h = crypto.SHA256
	case a.Equal(OIDSHA1):
		h = crypto.SHA1
	default:
		return fmt.Errorf("%w: digest algorithm %s is not SHA-1 or SHA-256", ErrSignature, a)
	}
	d := h.New()
	d.Write(content)
	digest := d.Sum(nil)
	signed := content
	if len(sd.attrs) > 0 {
		md, ok := sd.Attribute(OIDMessageDigest)
		var got []byte
		if ok {
			if _, err := asn1.Unmarshal(md, &got); err != nil {
				ok = false
			}
		}
		if !ok || !bytes.Equal(got, digest) {
			return fmt.Errorf("%w: message digest is not the content's", ErrSignature)
		}
		signed = TLV(0x31, sd.si.SignedAttrs.Bytes)
	}
	var alg x509.SignatureAlgorithm
	switch a := sd.si.SignatureAlgorithm.Algorithm; {
	case a.Equal(oidRSA), a.Equal(oidRSASHA256), a.Equal(oidRSASHA1):
		alg = map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.SHA256WithRSA, crypto.SHA1: x509.SHA1WithRSA}[h]
	case a.Equal(oidECDSASHA256), a.Equal(oidECPublicKey):
		alg = map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.ECDSAWithSHA256, crypto.SHA1: x509.ECDSAWithSHA1}[h]
	default:
		return fmt.Errorf("%w: signature algorithm %s", ErrSignature, a)
	}
	if err := checkSignature(sd.Signer, alg, signed, sd.si.Signature); err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return nil
}

// checkSignature verifies sig with cert's key; Go's x509 refuses SHA-1
// signatures, which Apple's older profiles carry, so those are checked
// directly.
func checkSignature(cert *x509.Certificate, alg x509.SignatureAlgorithm, signed, sig []byte) error {
	if alg != x509.SHA1WithRSA && alg != x509.ECDSAWithSHA1 {
		return cert.CheckSignature(alg, signed, sig)
	}
	h := crypto.SHA1.New()
	h.Write(signed)
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA1, h.Sum(nil), sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, h.Sum(nil), sig) {
			return errors.New("ECDSA verification failure")
		}
		return nil
	}
	return fmt.Errorf("%T key for a SHA-1 signature", cert.PublicKey)
}

// VerifyChain checks that the signer's certificate chains, through the
// embedded certificates, to roots at time at (any extended key usage).
// Apple's code signing marker extensions (see appleExtensions) count as
// handled even when critical, as Apple marks its leaves' (other unhandled
// critical extensions still fail). A chain that fails because a
// certificate is signed with SHA-1, which Go's x509 no longer verifies
// (Apple's pre-2016 chains), fails with ErrSHA1Chain.
func (sd *Signed) VerifyChain(roots *x509.CertPool, at time.Time) ([][]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range sd.Certificates {
		if c != sd.Signer {
			inter.AddCert(withAppleExtensionsHandled(c))
		}
	}
	leaf := withAppleExtensionsHandled(sd.Signer)
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		if c := sd.sha1Signed(); c != nil {
			return nil, fmt.Errorf("%w: %w: certificate %q is signed with %v; the chain is not verified: %w", ErrSignature, ErrSHA1Chain, c.Subject.CommonName, c.SignatureAlgorithm, err)
		}
		return nil, fmt.Errorf("%w: signer certificate: %w", ErrSignature, err)
	}
	return chains, nil
}

// sha1Signed returns the signer's certificate or an embedded intermediate
// (not self-signed: a root's own signature is not checked) whose signature
// uses SHA-1, nil if none does.
func (sd *Signed) sha1Signed() *x509.Certificate {
	for _, c := range append([]*x509.Certificate{sd.Signer}, sd.Certificates...) {
		switch c.SignatureAlgorithm {
		case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
			if !bytes.Equal(c.RawIssuer, c.RawSubject) {
				return c
			}
		}
	}
	return nil
}

// TLV encodes one DER element with a single-byte tag (short or long form
// length, up to 4 GiB).
func TLV(tag byte, content []byte) []byte {
	return tlv([]byte{tag}, content)
}
