package apksig

import (
	"bytes"
	"crypto"
	"crypto/dsa" //nolint:staticcheck // verifying old DSA-signed APKs only
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/trustfuse/trustfuse/internal/cms"
)

// FORMAT: RFC 5652 (CMS) SignedData, the JAR signature block
// (META-INF/<NAME>.RSA, .DSA or .EC). DER; the signed content (the .SF file)
// is detached. What signV1 writes, like apksig:
//
//	ContentInfo ::= SEQUENCE {
//	  contentType  OID 1.2.840.113549.1.7.2 (signedData),
//	  content      [0] EXPLICIT SignedData }
//	SignedData ::= SEQUENCE {
//	  version           INTEGER 1,
//	  digestAlgorithms  SET OF AlgorithmIdentifier,          -- { sha256 or sha1, NULL }
//	  encapContentInfo  SEQUENCE { eContentType OID data },  -- no eContent: detached
//	  certificates      [0] IMPLICIT SET OF Certificate,     -- the chain, leaf first (read as BER: ber.go)
//	  crls              [1] IMPLICIT ... OPTIONAL,           -- never written
//	  signerInfos       SET OF SignerInfo }
//	SignerInfo ::= SEQUENCE {
//	  version             INTEGER 1,
//	  sid                 IssuerAndSerialNumber,             -- SEQUENCE { issuer Name, serial INTEGER }
//	                      -- ([0] SubjectKeyIdentifier is refused, as on Android)
//	  digestAlgorithm     AlgorithmIdentifier,
//	  signedAttrs         [0] IMPLICIT SET OF Attribute OPTIONAL,  -- read only
//	  signatureAlgorithm  AlgorithmIdentifier,               -- { rsaEncryption or id-ecPublicKey, NULL }
//	  signature           OCTET STRING,
//	  unsignedAttrs       [1] IMPLICIT SET OF Attribute OPTIONAL }
//
// Without signed attributes the signature is over the content itself. With
// them (jarsigner, openssl cms) it is over the DER of the attributes with the
// [0] tag byte replaced by SET (0x31), and the message-digest attribute holds
// the content's digest.
//
// For EC keys apksig names the signature algorithm id-ecPublicKey rather than
// ecdsa-with-SHA256: Android accepts that from API 18, the other only from 21.

// errPKCS7Malformed reports a signature block that cannot be decoded.
var errPKCS7Malformed = errors.New("apksig: malformed PKCS#7 signature block")

// Object identifiers, dotted.
const (
	pkcs7OIDData          = "1.2.840.113549.1.7.1"
	pkcs7OIDSignedData    = "1.2.840.113549.1.7.2"
	pkcs7OIDContentType   = "1.2.840.113549.1.9.3"
	pkcs7OIDMessageDigest = "1.2.840.113549.1.9.4"

	pkcs7OIDMD5    = "1.2.840.113549.2.5"
	pkcs7OIDSHA1   = "1.3.14.3.2.26"
	pkcs7OIDSHA224 = "2.16.840.1.101.3.4.2.4"
	pkcs7OIDSHA256 = "2.16.840.1.101.3.4.2.1"
	pkcs7OIDSHA384 = "2.16.840.1.101.3.4.2.2"
	pkcs7OIDSHA512 = "2.16.840.1.101.3.4.2.3"

	pkcs7OIDRSA         = "1.2.840.113549.1.1.1"
	pkcs7OIDDSA         = "1.2.840.10040.4.1"
	pkcs7OIDECPublicKey = "1.2.840.10045.2.1"

	pkcs7OIDKeyUsage = "2.5.29.15"
)

// pkcs7DigestHash maps a digest algorithm OID to its hash.
func pkcs7DigestHash(oid string) (crypto.Hash, bool) {
	switch oid {
	case pkcs7OIDMD5:
		return crypto.MD5, true
	case pkcs7OIDSHA1:
		return crypto.SHA1, true
	case pkcs7OIDSHA224:
		return crypto.SHA224, true
	case pkcs7OIDSHA256:
		return crypto.SHA256, true
	case pkcs7OIDSHA384:
		return crypto.SHA384, true
	case pkcs7OIDSHA512:
		return crypto.SHA512, true
	}
	return 0, false
}

// pkcs7SigAlg describes a signature algorithm OID: the key type and, for
// hash-specific OIDs, the hash it signs with (0 for key-only OIDs, which use
// the SignerInfo's digest algorithm).
type pkcs7SigAlg struct {
	key  string // "RSA", "DSA" or "ECDSA"
	hash crypto.Hash
}

func pkcs7SigAlgByOID(oid string) (pkcs7SigAlg, bool) {
	switch oid {
	case pkcs7OIDRSA:
		return pkcs7SigAlg{"RSA", 0}, true
	case pkcs7OIDDSA:
		return pkcs7SigAlg{"DSA", 0}, true
	case pkcs7OIDECPublicKey:
		return pkcs7SigAlg{"ECDSA", 0}, true
	case "1.2.840.113549.1.1.4":
		return pkcs7SigAlg{"RSA", crypto.MD5}, true
	case "1.2.840.113549.1.1.5":
		return pkcs7SigAlg{"RSA", crypto.SHA1}, true
	case "1.2.840.113549.1.1.14":
		return pkcs7SigAlg{"RSA", crypto.SHA224}, true
	case "1.2.840.113549.1.1.11":
		return pkcs7SigAlg{"RSA", crypto.SHA256}, true
	case "1.2.840.113549.1.1.12":
		return pkcs7SigAlg{"RSA", crypto.SHA384}, true
	case "1.2.840.113549.1.1.13":
		return pkcs7SigAlg{"RSA", crypto.SHA512}, true
	case "1.2.840.10040.4.3":
		return pkcs7SigAlg{"DSA", crypto.SHA1}, true
	case "2.16.840.1.101.3.4.3.1":
		return pkcs7SigAlg{"DSA", crypto.SHA224}, true
	case "2.16.840.1.101.3.4.3.2":
		return pkcs7SigAlg{"DSA", crypto.SHA256}, true
	case "2.16.840.1.101.3.4.3.3":
		return pkcs7SigAlg{"DSA", crypto.SHA384}, true
	case "2.16.840.1.101.3.4.3.4":
		return pkcs7SigAlg{"DSA", crypto.SHA512}, true
	case "1.2.840.10045.4.1":
		return pkcs7SigAlg{"ECDSA", crypto.SHA1}, true
	case "1.2.840.10045.4.3.1":
		return pkcs7SigAlg{"ECDSA", crypto.SHA224}, true
	case "1.2.840.10045.4.3.2":
		return pkcs7SigAlg{"ECDSA", crypto.SHA256}, true
	case "1.2.840.10045.4.3.3":
		return pkcs7SigAlg{"ECDSA", crypto.SHA384}, true
	case "1.2.840.10045.4.3.4":
		return pkcs7SigAlg{"ECDSA", crypto.SHA512}, true
	}
	return pkcs7SigAlg{}, false
}

// pkcs7HashName names a hash as apksigner does ("SHA-256").
func pkcs7HashName(h crypto.Hash) string {
	switch h {
	case crypto.MD5:
		return "MD5"
	case crypto.SHA1:
		return "SHA-1"
	case crypto.SHA224:
		return "SHA-224"
	case crypto.SHA256:
		return "SHA-256"
	case crypto.SHA384:
		return "SHA-384"
	case crypto.SHA512:
		return "SHA-512"
	}
	return h.String()
}

// pkcs7OIDName names a digest or signature algorithm OID for messages.
func pkcs7OIDName(oid asn1.ObjectIdentifier) string {
	s := oid.String()
	if h, ok := pkcs7DigestHash(s); ok {
		return pkcs7HashName(h)
	}
	if a, ok := pkcs7SigAlgByOID(s); ok {
		if a.hash == 0 {
			return a.key
		}
		return pkcs7HashName(a.hash) + " with " + a.key
	}
	return s
}

// pkcs7OID parses a dotted OID constant.
func pkcs7OID(dotted string) asn1.ObjectIdentifier {
	var oid asn1.ObjectIdentifier
	n := 0
	for i := 0; i <= len(dotted); i++ {
		if i == len(dotted) || dotted[i] == '.' {
			oid = append(oid, n)
			n = 0
			continue
		}
		n = n*10 + int(dotted[i]-'0')
	}
	return oid
}

// pkcs7Hash returns h(data).
func pkcs7Hash(h crypto.Hash, data []byte) []byte {
	hh := h.New()
	hh.Write(data)
	return hh.Sum(nil)
}

// pkcs7SignDetached returns a DER ContentInfo with a SignedData signing
// content with s (no signed attributes), digest algorithm h. RSA PKCS#1 v1.5
// and RFC 6979 ECDSA make it deterministic.
func pkcs7SignDetached(content []byte, s *Signer, h crypto.Hash) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	leaf := s.Certs[0]
	sig, err := s.sign(pkcs7Hash(h, content), h)
	if err != nil {
		return nil, err
	}
	sigOID, alg := pkcs7OIDRSA, pkcs7SigAlg{key: "RSA"}
	if s.isEC() {
		sigOID, alg = pkcs7OIDECPublicKey, pkcs7SigAlg{key: "ECDSA"}
	}
	// Check the signature with the certificate's key, as apksig does: a key
	// that does not match its certificate would give an unverifiable APK.
	ok, err := pkcs7CheckSignature(leaf.PublicKey, alg, h, content, sig)
	if err != nil {
		return nil, fmt.Errorf("apksig: check JAR signature: %w", err)
	}
	if !ok {
		return nil, errors.New("apksig: JAR signature does not verify with the certificate's public key (key and certificate differ?)")
	}
	sid, err := asn1.Marshal(cms.IssuerAndSerial{Issuer: asn1.RawValue{FullBytes: leaf.RawIssuer}, Serial: leaf.SerialNumber})
	if err != nil {
		return nil, fmt.Errorf("apksig: encode signer identifier: %w", err)
	}
	var certs []byte
	for _, c := range s.Certs {
		certs = append(certs, c.Raw...)
	}
	digestAlg := pkix.AlgorithmIdentifier{Algorithm: pkcs7OID(pkcs7DigestOID(h)), Parameters: asn1.NullRawValue}
	sd := cms.SignedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{digestAlg},
		EncapContentInfo: cms.EncapContent{ContentType: pkcs7OID(pkcs7OIDData)},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs},
		SignerInfos: []cms.SignerInfo{{
			Version:            1,
			SID:                asn1.RawValue{FullBytes: sid},
			DigestAlgorithm:    digestAlg,
			SignatureAlgorithm: pkix.AlgorithmIdentifier{Algorithm: pkcs7OID(sigOID), Parameters: asn1.NullRawValue},
			Signature:          sig,
		}},
	}
	return cms.Encode(sd)
}

// pkcs7DigestOID returns the OID of a digest algorithm signV1 uses.
func pkcs7DigestOID(h crypto.Hash) string {
	if h == crypto.SHA1 {
		return pkcs7OIDSHA1
	}
	return pkcs7OIDSHA256
}

// pkcs7Block is a decoded signature block.
type pkcs7Block struct {
	contentType asn1.ObjectIdentifier // SignedData eContentType
	certs       []*x509.Certificate
	certErr     error // first certificate that did not parse, if any
	signers     []cms.SignerInfo
}

// parsePKCS7 decodes a DER ContentInfo holding a SignedData. Errors wrap
// errPKCS7Malformed.
func parsePKCS7(der []byte) (*pkcs7Block, error) {
	var ci cms.ContentInfo
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, fmt.Errorf("%w: ContentInfo: %w", errPKCS7Malformed, err)
	}
	if ci.ContentType.String() != pkcs7OIDSignedData {
		return nil, fmt.Errorf("%w: unsupported ContentInfo.contentType %s", errPKCS7Malformed, ci.ContentType)
	}
	var sd cms.SignedData
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("%w: SignedData: %w", errPKCS7Malformed, err)
	} else if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after SignedData", errPKCS7Malformed, len(rest))
	}
	b := &pkcs7Block{contentType: sd.EncapContentInfo.ContentType, signers: sd.SignerInfos}
	// Certificates may be BER (parseCertificate): split them as such.
	raws, err := cms.SplitBER(sd.Certificates.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: certificates: %w", errPKCS7Malformed, err)
	}
	for _, raw := range raws {
		if raw[0] != 0x30 {
			continue // other CertificateChoices (attribute certificates …)
		}
		c, err := parseCertificate(raw)
		if err != nil {
			if b.certErr == nil {
				b.certErr = err
			}
			continue
		}
		b.certs = append(b.certs, c)
	}
	return b, nil
}

// errSignerBySKI refuses a SignerInfo that names its certificate by
// SubjectKeyIdentifier: Android looks certificates up by issuer and serial
// number only (apksigner 31 does not even decode such a SignerInfo).
var errSignerBySKI = fmt.Errorf("%w: SignerInfo names its certificate by SubjectKeyIdentifier; Android supports only issuer and serial number", errPKCS7Malformed)

// findCert returns the certificate the signer identifier names, as Android
// finds it: same serial number and same issuer as X.500 principals
// (x500Equal), not byte for byte. It returns nil for any other kind of
// identifier.
func (b *pkcs7Block) findCert(sid asn1.RawValue) *x509.Certificate {
	if sid.Class != asn1.ClassUniversal || sid.Tag != asn1.TagSequence {
		return nil
	}
	var is cms.IssuerAndSerial
	if _, err := asn1.Unmarshal(sid.FullBytes, &is); err != nil {
		return nil
	}
	for _, c := range b.certs {
		if c.SerialNumber.Cmp(is.Serial) == 0 && x500Equal(c.RawIssuer, is.Issuer.FullBytes) {
			return c
		}
	}
	return nil
}

// pkcs7VerifyOpts carries the platform rules for signed attributes.
type pkcs7VerifyOpts struct {
	// rejectSignedAttrs refuses signed attributes: before API 19 Android
	// did not check their message digest, so such an APK is not protected.
	rejectSignedAttrs bool
	// checkContentType requires a content-type attribute equal to the
	// SignedData's eContentType (API 24 and later).
	checkContentType bool
}

// verify checks si's signature over content. It returns the signing
// certificate if it verifies, nil and no error if it does not, and an error
// when the SignerInfo cannot be checked at all (wrapping errPKCS7Malformed
// when it cannot be decoded).
func (b *pkcs7Block) verify(si *cms.SignerInfo, content []byte, opts pkcs7VerifyOpts) (*x509.Certificate, error) {
	digestHash, ok := pkcs7DigestHash(si.DigestAlgorithm.Algorithm.String())
	if !ok {
		return nil, fmt.Errorf("unsupported digest algorithm %s", si.DigestAlgorithm.Algorithm)
	}
	alg, ok := pkcs7SigAlgByOID(si.SignatureAlgorithm.Algorithm.String())
	if !ok {
		return nil, fmt.Errorf("unsupported signature algorithm %s", si.SignatureAlgorithm.Algorithm)
	}
	sigHash := alg.hash
	if sigHash == 0 {
		sigHash = digestHash
	}
	cert := b.findCert(si.SID)
	if cert == nil {
		if si.SID.Class == asn1.ClassContextSpecific && si.SID.Tag == 0 {
			return nil, errSignerBySKI
		}
		if b.certErr != nil {
			return nil, fmt.Errorf("%w: certificate: %w", errPKCS7Malformed, b.certErr)
		}
		return nil, errors.New("signing certificate referenced in SignerInfo not found in SignedData")
	}
	for _, ext := range cert.Extensions {
		if ext.Id.String() == pkcs7OIDKeyUsage && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
			return nil, errors.New("signing certificate not authorized for use in digital signatures: keyUsage extension missing digitalSignature and nonRepudiation")
		}
	}

	signed := content
	if len(si.SignedAttrs.FullBytes) > 0 {
		if opts.rejectSignedAttrs {
			return nil, fmt.Errorf("APKs with Signed Attributes broken on platforms with API Level < %d", v1SDKKitKat)
		}
		attrs, err := pkcs7ParseAttributes(si.SignedAttrs.Bytes)
		if err != nil {
			return nil, err
		}
		if opts.checkContentType {
			v, err := attrs.single(pkcs7OIDContentType)
			if err != nil {
				return nil, err
			}
			if v == nil {
				return nil, errors.New("no Content Type in signed attributes")
			}
			var ct asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(v.FullBytes, &ct); err != nil {
				return nil, fmt.Errorf("%w: content type attribute: %w", errPKCS7Malformed, err)
			}
			if !ct.Equal(b.contentType) {
				return nil, nil
			}
		}
		v, err := attrs.single(pkcs7OIDMessageDigest)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, errors.New("no content digest in signed attributes")
		}
		var md []byte
		if _, err := asn1.Unmarshal(v.FullBytes, &md); err != nil {
			return nil, fmt.Errorf("%w: message digest attribute: %w", errPKCS7Malformed, err)
		}
		if !bytes.Equal(md, pkcs7Hash(digestHash, content)) {
			return nil, nil
		}
		// Android (and apksig) verify over the attributes as encoded, with
		// the IMPLICIT [0] tag turned into SET, without re-encoding.
		signed = append([]byte{0x31}, si.SignedAttrs.FullBytes[1:]...)
	}
	ok, err := pkcs7CheckSignature(cert.PublicKey, alg, sigHash, signed, si.Signature)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	return cert, nil
}

// pkcs7Attributes maps attribute type OIDs to their values.
type pkcs7Attributes map[string][]asn1.RawValue

func pkcs7ParseAttributes(set []byte) (pkcs7Attributes, error) {
	attrs := pkcs7Attributes{}
	for len(set) > 0 {
		var a cms.RawAttribute
		var err error
		if set, err = asn1.Unmarshal(set, &a); err != nil {
			return nil, fmt.Errorf("%w: signed attributes: %w", errPKCS7Malformed, err)
		}
		if a.Values.Class != asn1.ClassUniversal || a.Values.Tag != asn1.TagSet {
			return nil, fmt.Errorf("%w: attribute %s values are not a SET", errPKCS7Malformed, a.Type)
		}
		t := a.Type.String()
		if _, dup := attrs[t]; dup {
			return nil, fmt.Errorf("%w: duplicate signed attribute %s", errPKCS7Malformed, t)
		}
		var values []asn1.RawValue
		for rest := a.Values.Bytes; len(rest) > 0; {
			var v asn1.RawValue
			if rest, err = asn1.Unmarshal(rest, &v); err != nil {
				return nil, fmt.Errorf("%w: attribute %s: %w", errPKCS7Malformed, t, err)
			}
			values = append(values, v)
		}
		attrs[t] = values
	}
	return attrs, nil
}

// single returns the one value of attribute oid, nil if absent.
func (a pkcs7Attributes) single(oid string) (*asn1.RawValue, error) {
	vs := a[oid]
	switch len(vs) {
	case 0:
		return nil, nil
	case 1:
		return &vs[0], nil
	}
	return nil, fmt.Errorf("%w: attribute %s has multiple values", errPKCS7Malformed, oid)
}

// pkcs7CheckSignature verifies sig over data with pub. It returns false when
// the signature is wrong and an error when the key cannot make alg's kind of
// signature.
func pkcs7CheckSignature(pub crypto.PublicKey, alg pkcs7SigAlg, h crypto.Hash, data, sig []byte) (bool, error) {
	d := pkcs7Hash(h, data)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg.key != "RSA" {
			return false, fmt.Errorf("%s signature with an RSA key", alg.key)
		}
		return rsa.VerifyPKCS1v15(k, h, d, sig) == nil, nil
	case *ecdsa.PublicKey:
		if alg.key != "ECDSA" {
			return false, fmt.Errorf("%s signature with an EC key", alg.key)
		}
		return ecdsa.VerifyASN1(k, d, sig), nil
	case *dsa.PublicKey:
		if alg.key != "DSA" {
			return false, fmt.Errorf("%s signature with a DSA key", alg.key)
		}
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) > 0 {
			return false, nil
		}
		// FIPS 186-3 §4.6: use the leftmost bits of the digest, as many
		// as the subgroup order has.
		if n := (k.Q.BitLen() + 7) / 8; len(d) > n {
			d = d[:n]
		}
		return dsa.Verify(k, d, rs.R, rs.S), nil
	}
	return false, fmt.Errorf("unsupported public key type %T", pub)
}
