package codesign

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	"howett.net/plist"

	"github.com/trustfuse/trustfuse/internal/cms"
)

// FORMAT: the signature slot (0x10000) is a BlobWrapper (magic 0xfade0b01)
// around a DER CMS ContentInfo (RFC 5652; internal/cms) holding a detached
// SHA-256 SignedData over the bytes of the CodeDirectory in slot 0, with the
// signer's certificate and its intermediates, and the signed attributes
//
//	contentType    1.2.840.113549.1.9.3   { id-data }
//	signingTime    1.2.840.113549.1.9.5   { UTCTime }
//	messageDigest  1.2.840.113549.1.9.4   { OCTET STRING sha256(CodeDirectory) }
//	CDHashes       1.2.840.113635.100.9.1 { OCTET STRING xml-plist }
//	  -- <dict><key>cdhashes</key><array><data>the first 20 bytes of each
//	  --   CodeDirectory's hash</data>…</array></dict>
//	CDHashes2      1.2.840.113635.100.9.2 { SEQUENCE { hash OID, OCTET STRING full hash } … }
//
// The kernel compares the CDHashes attributes with the CodeDirectories it
// has, so an alternate CodeDirectory cannot be swapped in unsigned. We
// write this form. Apple's older signatures differ, and VerifyCMS reads
// them: BER with indefinite lengths, a SHA-1 digest and messageDigest over
// a SHA-1 CodeDirectory, and, before alternate CodeDirectories existed,
// only the first three attributes.
var (
	oidCDHashes  = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 9, 1}
	oidCDHashes2 = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 9, 2}
)

// maxCDHashesPlist bounds the CDHashes attribute's plist we read.
const maxCDHashesPlist = 64 << 10

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
	cdhash := sha256.Sum256(cd)
	a1, err := cms.NewAttribute(oidCDHashes, cdHashesPlist([][]byte{cdhash[:]}))
	if err != nil {
		return nil, err
	}
	a2, err := cms.NewAttribute(oidCDHashes2, hashEntry{cms.OIDSHA256, cdhash[:]})
	if err != nil {
		return nil, err
	}
	out, err := cms.SignDetached(cd, signer, chain, signingTime, []cms.Attribute{a1, a2}, rnd)
	if err != nil {
		return nil, fmt.Errorf("codesign: CMS signature: %w", err)
	}
	return out, nil
}

// SignerInfo is what VerifyCMS found.
type SignerInfo struct {
	Leaf        *x509.Certificate
	Chain       [][]*x509.Certificate
	SigningTime time.Time
	// CDHashes are the CDHashes plist attribute's entries (20 bytes each),
	// nil when the signature has none (older codesign, one CodeDirectory).
	CDHashes [][]byte
}

// VerifyCMS checks the CMS signature over the CodeDirectories: the
// signature over the signed attributes, the message digest (of the primary
// CodeDirectory), the CDHashes attributes and the signer's chain to roots,
// at the signing time (at now when none is recorded). iOS anchors at
// Apple's root (AppleRoots); callers pass the pool they trust.
//
// The CDHashes plist must list every CodeDirectory's truncated cdhash, in
// order, and each CDHashes2 entry must be the full cdhash of a
// CodeDirectory of its hash type. codesign wrote neither attribute before
// it wrote alternate CodeDirectories (a 2015 signature has contentType,
// signingTime and messageDigest only): their absence is accepted when the
// signature has a single CodeDirectory, which the message digest binds,
// and refused when there are several, as nothing would bind the
// alternates.
func (s *Signature) VerifyCMS(roots *x509.CertPool, now time.Time) (*SignerInfo, error) {
	if len(s.CMS) == 0 {
		return nil, fmt.Errorf("%w: no CMS signature (ad-hoc)", ErrSignature)
	}
	sd, err := cms.Parse(s.CMS)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if err := sd.VerifySignature(s.CodeDirectories[0].Raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	info := &SignerInfo{Leaf: sd.Signer}
	info.SigningTime, _ = sd.SigningTime()
	if info.CDHashes, err = s.checkCDHashes(sd); err != nil {
		return nil, err
	}
	if err := s.checkCDHashes2(sd); err != nil {
		return nil, err
	}
	at := info.SigningTime
	if at.IsZero() {
		at = now
	}
	if info.Chain, err = sd.VerifyChain(roots, at); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return info, nil
}

// checkCDHashes checks the CDHashes plist attribute, if any (required with
// several CodeDirectories), and returns its entries.
func (s *Signature) checkCDHashes(sd *cms.Signed) ([][]byte, error) {
	raw, ok := sd.Attribute(oidCDHashes)
	if !ok {
		if _, present := sd.AttributeValues(oidCDHashes); present {
			return nil, fmt.Errorf("%w: CDHashes attribute does not hold one value", ErrSignature)
		}
		if len(s.CodeDirectories) > 1 {
			return nil, fmt.Errorf("%w: no CDHashes attribute binds the %d alternate CodeDirectories", ErrSignature, len(s.CodeDirectories)-1)
		}
		return nil, nil
	}
	var xml []byte
	if _, err := asn1.Unmarshal(raw, &xml); err != nil {
		return nil, fmt.Errorf("%w: CDHashes attribute is not an OCTET STRING: %w", ErrSignature, err)
	}
	// A few hashes; the bound keeps the recursive plist decoder's stack
	// small whatever the signature holds.
	if len(xml) > maxCDHashesPlist {
		return nil, fmt.Errorf("%w: CDHashes plist of %d bytes exceeds %d", ErrSignature, len(xml), maxCDHashesPlist)
	}
	var p struct {
		CDHashes [][]byte `plist:"cdhashes"`
	}
	if _, err := plist.Unmarshal(xml, &p); err != nil {
		return nil, fmt.Errorf("%w: CDHashes plist: %w", ErrSignature, err)
	}
	if len(p.CDHashes) != len(s.CodeDirectories) {
		return nil, fmt.Errorf("%w: CDHashes attribute lists %d hashes for %d CodeDirectories", ErrSignature, len(p.CDHashes), len(s.CodeDirectories))
	}
	for i, cd := range s.CodeDirectories {
		if !bytes.Equal(p.CDHashes[i], cd.CDHash()[:20]) {
			return nil, fmt.Errorf("%w: CDHashes entry %d is not CodeDirectory %d's hash", ErrSignature, i, i)
		}
	}
	return p.CDHashes, nil
}

// checkCDHashes2 checks that each value of the CDHashes2 attribute, if
// any, is the full cdhash of a CodeDirectory of its hash type.
func (s *Signature) checkCDHashes2(sd *cms.Signed) error {
	values, _ := sd.AttributeValues(oidCDHashes2)
	for i, v := range values {
		var e hashEntry
		if rest, err := asn1.Unmarshal(v, &e); err != nil || len(rest) != 0 {
			return fmt.Errorf("%w: CDHashes2 entry %d is not a SEQUENCE { OID, OCTET STRING }", ErrSignature, i)
		}
		found := false
		for _, cd := range s.CodeDirectories {
			if oid := hashOID(cd.Hash()); oid.Equal(e.Algorithm) && bytes.Equal(e.Digest, cd.CDHash()) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%w: CDHashes2 entry %d (%s) is no CodeDirectory's hash", ErrSignature, i, e.Algorithm)
		}
	}
	return nil
}

// hashOID is the digest algorithm identifier of h (SHA-1 or SHA-256).
func hashOID(h crypto.Hash) asn1.ObjectIdentifier {
	if h == crypto.SHA1 {
		return cms.OIDSHA1
	}
	return cms.OIDSHA256
}
