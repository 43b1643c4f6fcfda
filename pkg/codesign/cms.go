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
// has, so an alternate CodeDirectory cannot be swapped in unsigned.
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
	CDHashes    [][]byte // the CDHashes plist attribute's entries (20 bytes each)
}

// VerifyCMS checks the CMS signature over the primary CodeDirectory: the
// signature over the signed attributes, the message digest, the CDHashes
// attribute (each CodeDirectory's truncated cdhash, in order) and the
// signer's chain to roots, at the signing time (at now when none is
// recorded). iOS anchors at Apple's root; callers pass the pool they trust.
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
	raw, ok := sd.Attribute(oidCDHashes)
	var xml []byte
	if ok {
		_, err = asn1.Unmarshal(raw, &xml)
	}
	if !ok || err != nil {
		return nil, fmt.Errorf("%w: no CDHashes attribute", ErrSignature)
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
	info.CDHashes = p.CDHashes
	if len(info.CDHashes) != len(s.CodeDirectories) {
		return nil, fmt.Errorf("%w: CDHashes attribute lists %d hashes for %d CodeDirectories", ErrSignature, len(info.CDHashes), len(s.CodeDirectories))
	}
	for i, cd := range s.CodeDirectories {
		if !bytes.Equal(info.CDHashes[i], cd.CDHash()[:20]) {
			return nil, fmt.Errorf("%w: CDHashes entry %d is not CodeDirectory %d's hash", ErrSignature, i, i)
		}
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
