package codesign

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"howett.net/plist"
)

// Signature is a parsed embedded signature SuperBlob. Byte fields alias
// the input.
type Signature struct {
	// CodeDirectories holds slot 0's directory first, then the alternates.
	CodeDirectories []*CodeDirectory
	Requirements    []byte // the whole requirement set blob (nil if absent)
	Entitlements    []byte // the whole XML entitlements blob
	EntitlementsDER []byte // the whole DER entitlements blob
	// CMS is the BlobWrapper's payload: empty for ad-hoc signatures.
	CMS []byte
	// HasWrapper tells a missing signature slot from an empty one.
	HasWrapper bool
}

// Parse decodes an embedded signature SuperBlob. Trailing zero padding after
// the SuperBlob's length is allowed, as the Mach-O reserves more than it
// needs.
func Parse(b []byte) (*Signature, error) {
	be := binary.BigEndian
	if len(b) < superBlobHeaderSize {
		return nil, formatErr(0, "%d bytes is shorter than a SuperBlob header", len(b))
	}
	if m := be.Uint32(b); m != MagicEmbeddedSignature {
		return nil, formatErr(0, "magic %#x is not an embedded signature (%#x)", m, MagicEmbeddedSignature)
	}
	total := int(be.Uint32(b[4:]))
	if total < superBlobHeaderSize || total > len(b) {
		return nil, formatErr(4, "SuperBlob length %d outside 12…%d", total, len(b))
	}
	b = b[:total]
	count := int(be.Uint32(b[8:]))
	if count > (total-superBlobHeaderSize)/superBlobIndexEntrySize {
		return nil, formatErr(8, "%d index entries do not fit in %d bytes", count, total)
	}
	s := &Signature{}
	seen := map[uint32]bool{}
	for i := range count {
		at := superBlobHeaderSize + i*superBlobIndexEntrySize
		slot, off := be.Uint32(b[at:]), int(be.Uint32(b[at+4:]))
		if seen[slot] {
			return nil, formatErr(at, "slot %#x listed twice", slot)
		}
		seen[slot] = true
		if off < superBlobHeaderSize || off > total-blobHeaderSize {
			return nil, formatErr(at+4, "slot %#x blob offset %d outside the SuperBlob", slot, off)
		}
		n := int(be.Uint32(b[off+4:]))
		if n < blobHeaderSize || n > total-off {
			return nil, formatErr(off+4, "slot %#x blob length %d exceeds the SuperBlob", slot, n)
		}
		blob := b[off : off+n]
		magic := be.Uint32(blob)
		want := map[uint32]uint32{
			SlotCodeDirectory: MagicCodeDirectory, SlotRequirements: MagicRequirements,
			SlotEntitlements: MagicEntitlements, SlotEntitlementsDER: MagicEntitlementsDER,
			SlotSignature: MagicBlobWrapper,
		}[slot]
		if slot >= SlotAlternateCD && slot < SlotAlternateCD+5 {
			want = MagicCodeDirectory
		}
		if want != 0 && magic != want {
			return nil, formatErr(off, "slot %#x has magic %#x, want %#x", slot, magic, want)
		}
		switch {
		case want == MagicCodeDirectory:
			cd, err := parseCodeDirectory(blob, off)
			if err != nil {
				return nil, err
			}
			if slot == SlotCodeDirectory {
				s.CodeDirectories = slices.Insert(s.CodeDirectories, 0, cd)
			} else {
				s.CodeDirectories = append(s.CodeDirectories, cd)
			}
		case slot == SlotRequirements:
			s.Requirements = blob
		case slot == SlotEntitlements:
			s.Entitlements = blob
		case slot == SlotEntitlementsDER:
			s.EntitlementsDER = blob
		case slot == SlotSignature:
			s.CMS, s.HasWrapper = blob[blobHeaderSize:], true
		}
	}
	if !seen[SlotCodeDirectory] {
		return nil, formatErr(8, "no CodeDirectory in slot 0")
	}
	return s, nil
}

// CheckSpecialSlots compares the primary CodeDirectory's special slots with
// the blobs in the signature (requirements, entitlements) and the given
// Info.plist and CodeResources bytes (nil: the slot must be empty).
func (s *Signature) CheckSpecialSlots(infoPlist, codeResources []byte) error {
	cd := s.CodeDirectories[0]
	for _, c := range []struct {
		slot int
		data []byte
	}{
		{SlotInfo, infoPlist}, {SlotRequirements, s.Requirements}, {SlotResourceDir, codeResources},
		{SlotEntitlements, s.Entitlements}, {SlotEntitlementsDER, s.EntitlementsDER},
	} {
		if err := cd.CheckSpecial(c.slot, c.data); err != nil {
			return err
		}
	}
	return nil
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
// attribute (each CodeDirectory's truncated cdhash, in order), and the
// signer's chain to roots (certificate validity at the signing time, or at
// now when none is recorded). iOS anchors at Apple's root; callers pass the
// pool they trust.
func (s *Signature) VerifyCMS(roots *x509.CertPool, now time.Time) (*SignerInfo, error) {
	if len(s.CMS) == 0 {
		return nil, fmt.Errorf("%w: no CMS signature (ad-hoc)", ErrSignature)
	}
	var ci contentInfo
	if rest, err := asn1.Unmarshal(s.CMS, &ci); err != nil || len(rest) != 0 || !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("%w: not a CMS SignedData ContentInfo", ErrSignature)
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("%w: SignedData: %w", ErrSignature, err)
	}
	if len(sd.SignerInfos) != 1 {
		return nil, fmt.Errorf("%w: %d signers, want 1", ErrSignature, len(sd.SignerInfos))
	}
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("%w: certificates: %v", ErrSignature, err)
	}
	si := sd.SignerInfos[0]
	var leaf *x509.Certificate
	for _, c := range certs {
		if bytes.Equal(c.RawIssuer, si.SID.Issuer.FullBytes) && c.SerialNumber.Cmp(si.SID.Serial) == 0 {
			leaf = c
		}
	}
	if leaf == nil {
		return nil, fmt.Errorf("%w: the signer's certificate is not in the signature", ErrSignature)
	}
	if !si.DigestAlgorithm.Algorithm.Equal(oidSHA256) {
		return nil, fmt.Errorf("%w: digest algorithm %s, want SHA-256", ErrSignature, si.DigestAlgorithm.Algorithm)
	}
	attrSet := derTLV(0x31, si.SignedAttrs.Bytes)
	algo := x509.SHA256WithRSA
	if si.SignatureAlgorithm.Algorithm.Equal(oidECDSASHA256) {
		algo = x509.ECDSAWithSHA256
	}
	if err := leaf.CheckSignature(algo, attrSet, si.Signature); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	info := &SignerInfo{Leaf: leaf}
	var attrs []attribute
	if _, err := asn1.UnmarshalWithParams(attrSet, &attrs, "set"); err != nil {
		return nil, fmt.Errorf("%w: signed attributes: %w", ErrSignature, err)
	}
	cdhash := s.CodeDirectories[0].CDHash()
	var digestOK bool
	for _, a := range attrs {
		var v asn1.RawValue
		if _, err := asn1.Unmarshal(a.Values.Bytes, &v); err != nil {
			return nil, fmt.Errorf("%w: attribute %s: %w", ErrSignature, a.Type, err)
		}
		switch {
		case a.Type.Equal(oidMessageDigest):
			digestOK = bytes.Equal(v.Bytes, cdhash)
		case a.Type.Equal(oidSigningTime):
			if _, err := asn1.Unmarshal(v.FullBytes, &info.SigningTime); err != nil {
				return nil, fmt.Errorf("%w: signing time: %w", ErrSignature, err)
			}
		case a.Type.Equal(oidCDHashes):
			var p struct {
				CDHashes [][]byte `plist:"cdhashes"`
			}
			if _, err := plist.Unmarshal(v.Bytes, &p); err != nil {
				return nil, fmt.Errorf("%w: CDHashes plist: %w", ErrSignature, err)
			}
			info.CDHashes = p.CDHashes
		}
	}
	if !digestOK {
		return nil, fmt.Errorf("%w: message digest is not the CodeDirectory's hash", ErrSignature)
	}
	if len(info.CDHashes) != len(s.CodeDirectories) {
		return nil, fmt.Errorf("%w: CDHashes attribute lists %d hashes for %d CodeDirectories", ErrSignature, len(info.CDHashes), len(s.CodeDirectories))
	}
	for i, cd := range s.CodeDirectories {
		if !bytes.Equal(info.CDHashes[i], cd.CDHash()[:20]) {
			return nil, fmt.Errorf("%w: CDHashes entry %d differs from CodeDirectory %d", ErrSignature, i, i)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range certs {
		if c != leaf {
			inter.AddCert(c)
		}
	}
	at := info.SigningTime
	if at.IsZero() {
		at = now
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, fmt.Errorf("%w: signer certificate: %w", ErrSignature, err)
	}
	info.Chain = chains
	return info, nil
}
