package codesign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"slices"
	"time"
)

// FORMAT: the signature slot (0x10000) is a BlobWrapper (magic 0xfade0b01)
// around a DER CMS ContentInfo (RFC 5652) holding a detached SignedData over
// the bytes of the CodeDirectory in slot 0:
//
//	SignedData { version 1, digestAlgorithms { sha256 },
//	  encapContentInfo { id-data } (no content),
//	  certificates [0] IMPLICIT { leaf, intermediates… },
//	  signerInfos { SignerInfo {
//	    version 1, sid IssuerAndSerialNumber, digestAlgorithm sha256,
//	    signedAttrs [0] IMPLICIT SET OF Attribute {        -- DER-sorted
//	      contentType    1.2.840.113549.1.9.3  { id-data }
//	      signingTime    1.2.840.113549.1.9.5  { UTCTime }
//	      messageDigest  1.2.840.113549.1.9.4  { OCTET STRING sha256(CodeDirectory) }
//	      CDHashes       1.2.840.113635.100.9.1 { OCTET STRING xml-plist }
//	        -- <dict><key>cdhashes</key><array><data>first 20 bytes of each
//	        --   CodeDirectory's hash</data>…</array></dict>
//	      CDHashes2      1.2.840.113635.100.9.2 { SEQUENCE { hash OID, OCTET STRING full hash } … } }
//	    signatureAlgorithm rsaEncryption | ecdsa-with-SHA256,
//	    signature over the DER of signedAttrs with tag SET (0x31) } } }
//
// Apple's verifier (and CMS) checks the messageDigest; the kernel compares
// the CDHashes attributes with the CodeDirectories it has.
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidCDHashes      = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 9, 1}
	oidCDHashes2     = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 9, 2}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSA           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0"` // [0] EXPLICIT: Bytes hold the inner TLV
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContent     encapContent
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type encapContent struct {
	ContentType asn1.ObjectIdentifier
}

type signerInfo struct {
	Version            int
	SID                issuerSerial
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

type issuerSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue // the SET of values, pre-encoded
}

type hashEntry struct {
	Algorithm asn1.ObjectIdentifier
	Digest    []byte
}

// cdHashesPlist is the XML plist of the CDHashes attribute: the cdhashes of
// the CodeDirectories, each truncated to 20 bytes, in slot order.
func cdHashesPlist(cdhashes [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n" +
		`<plist version="1.0">` + "\n<dict>\n\t<key>cdhashes</key>\n\t<array>\n")
	for _, h := range cdhashes {
		fmt.Fprintf(&b, "\t\t<data>\n\t\t%s\n\t\t</data>\n", base64.StdEncoding.EncodeToString(h[:20]))
	}
	b.WriteString("\t</array>\n</dict>\n</plist>\n")
	return b.Bytes()
}

// signCMS returns the DER ContentInfo signing the CodeDirectory cd.
func signCMS(cd []byte, signer crypto.Signer, chain []*x509.Certificate, signingTime time.Time, rnd io.Reader) ([]byte, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: no signing certificate", ErrInput)
	}
	leaf := chain[0]
	var sigAlg pkix.AlgorithmIdentifier
	switch signer.Public().(type) {
	case *rsa.PublicKey:
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidRSA, Parameters: asn1.NullRawValue}
	case *ecdsa.PublicKey:
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidECDSASHA256}
	default:
		return nil, fmt.Errorf("%w: %T keys cannot sign iOS code", ErrInput, signer.Public())
	}
	cdhash := sha256.Sum256(cd)

	attrs := [][]byte{
		mustAttr(oidContentType, oidData),
		mustAttr(oidSigningTime, signingTime.UTC()),
		mustAttr(oidMessageDigest, cdhash[:]),
		mustAttr(oidCDHashes, cdHashesPlist([][]byte{cdhash[:]})),
		mustAttr(oidCDHashes2, hashEntry{oidSHA256, cdhash[:]}),
	}
	slices.SortFunc(attrs, bytes.Compare) // DER: SET OF in ascending encoding order
	joined := bytes.Join(attrs, nil)
	attrSet := derTLV(0x31, joined)
	digest := sha256.Sum256(attrSet)
	sig, err := signer.Sign(rnd, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("codesign: signing the CodeDirectory: %w", err)
	}

	var certs []byte
	for _, c := range chain {
		certs = append(certs, c.Raw...)
	}
	sha256Alg := pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{sha256Alg},
		EncapContent:     encapContent{oidData},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs},
		SignerInfos: []signerInfo{{
			Version:            1,
			SID:                issuerSerial{asn1.RawValue{FullBytes: leaf.RawIssuer}, leaf.SerialNumber},
			DigestAlgorithm:    sha256Alg,
			SignedAttrs:        asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: joined},
			SignatureAlgorithm: sigAlg,
			Signature:          sig,
		}},
	}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("codesign: encoding SignedData: %w", err)
	}
	out, err := asn1.Marshal(contentInfo{oidSignedData, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
	if err != nil {
		return nil, fmt.Errorf("codesign: encoding ContentInfo: %w", err)
	}
	return out, nil
}

// mustAttr encodes an Attribute with one value; the values are ours and
// always encodable.
func mustAttr(oid asn1.ObjectIdentifier, v any) []byte {
	val, err := asn1.Marshal(v)
	if err != nil {
		panic("codesign: encoding attribute " + oid.String() + ": " + err.Error())
	}
	b, err := asn1.Marshal(attribute{oid, asn1.RawValue{FullBytes: derTLV(0x31, val)}})
	if err != nil {
		panic("codesign: encoding attribute " + oid.String() + ": " + err.Error())
	}
	return b
}
