package codesign

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"time"
)

// Params are the inputs of one slice's signature.
type Params struct {
	// Code is the slice's bytes from offset 0 up to the code limit: the file
	// offset where the signature will start (LC_CODE_SIGNATURE dataoff),
	// with the load commands already describing the final signature size.
	Code []byte
	// CodeReader, when set, replaces Code (which must then be nil): the
	// code is read from it one page at a time, so a large executable need
	// not be in memory. Its Size is the code limit.
	CodeReader *io.SectionReader
	// Identifier is the bundle identifier (or, for a dylib, its name).
	Identifier string
	// TeamID is the signing certificate's OU; "" for ad-hoc signatures.
	TeamID string
	// ExecSegBase and ExecSegLimit are the file offset and size of the
	// __TEXT segment; ExecSegFlags has ExecSegMainBinary for a main
	// executable.
	ExecSegBase, ExecSegLimit, ExecSegFlags uint64

	// Special-slot inputs; nil leaves the slot empty.
	InfoPlist     []byte // the bundle's Info.plist file bytes (slot 1)
	CodeResources []byte // the bundle's _CodeSignature/CodeResources bytes (slot 3)
	Entitlements  []byte // entitlements XML plist (blob in slot 5)
	// EntitlementsDER is the DER form (EntitlementsDER) of Entitlements
	// (blob in slot 7); required by iOS 15+ when Entitlements is set.
	EntitlementsDER []byte
	// Requirements is a requirement set (DesignatedRequirement); nil writes
	// the empty set, as codesign does for ad-hoc signatures.
	Requirements []byte

	// AdHoc signs without a CMS signature (CS_ADHOC; an empty BlobWrapper
	// takes the signature slot, as `codesign -s -` writes).
	AdHoc bool
	// Signer and Chain (leaf first, then the WWDR intermediate when known)
	// make the CMS signature; unused when AdHoc.
	Signer crypto.Signer
	Chain  []*x509.Certificate
	// SigningTime is the CMS signing-time (from SOURCE_DATE_EPOCH or the
	// caller's clock); Rand feeds the signer (ECDSA; nil: crypto/rand).
	SigningTime time.Time
	Rand        io.Reader
}

// codeLen is the length of the code: Code's, or CodeReader's size.
func (p *Params) codeLen() int {
	if p.CodeReader != nil {
		return int(p.CodeReader.Size())
	}
	return len(p.Code)
}

// slotBlob is one SuperBlob entry.
type slotBlob struct {
	slot uint32
	blob []byte
}

// cmsReserve bounds the CMS encoding beyond the certificates and the
// signature: ContentInfo, SignedData and SignerInfo headers, the issuer name
// (counted with the certificates), five signed attributes and the CDHashes
// plist.
const cmsReserve = 2048

// Estimate returns the number of bytes to reserve for p's signature: an
// upper bound of len(Sign(p)), rounded up to 16 bytes. It depends only on
// the lengths of the inputs and the certificates, so the caller can lay out
// the Mach-O before the code bytes are final (Code need only have its final
// length).
func Estimate(p *Params) int {
	blobs := fixedBlobs(p)
	n := superBlobHeaderSize + superBlobIndexEntrySize*(len(blobs)+2)
	for _, b := range blobs {
		n += len(b.blob)
	}
	n += codeDirectorySize(p, nSpecialSlots(p)) + blobHeaderSize
	if !p.AdHoc {
		n += cmsReserve
		for _, c := range p.Chain {
			n += len(c.Raw) + len(c.RawIssuer)
		}
		if p.Signer != nil {
			n += signatureBound(p.Signer.Public())
		}
	}
	return (n + 15) &^ 15
}

// signatureBound is the largest DER signature a key makes.
func signatureBound(pub crypto.PublicKey) int {
	if k, ok := pub.(interface{ Size() int }); ok { // *rsa.PublicKey
		return k.Size()
	}
	return 150 // ECDSA up to P-521: SEQUENCE of two 66-byte INTEGERs
}

// nSpecialSlots is the highest special slot p fills.
func nSpecialSlots(p *Params) int {
	switch {
	case p.EntitlementsDER != nil:
		return SlotEntitlementsDER
	case p.Entitlements != nil:
		return SlotEntitlements
	case p.CodeResources != nil:
		return SlotResourceDir
	}
	return SlotRequirements
}

// fixedBlobs returns the requirements and entitlements blobs, in slot order.
func fixedBlobs(p *Params) []slotBlob {
	reqs := p.Requirements
	if reqs == nil {
		reqs = EmptyRequirements()
	}
	blobs := []slotBlob{{SlotRequirements, reqs}}
	if p.Entitlements != nil {
		blobs = append(blobs, slotBlob{SlotEntitlements, EntitlementsBlob(p.Entitlements)})
	}
	if p.EntitlementsDER != nil {
		blobs = append(blobs, slotBlob{SlotEntitlementsDER, wrapBlob(MagicEntitlementsDER, p.EntitlementsDER)})
	}
	return blobs
}

// Sign builds the embedded signature SuperBlob for p. Its length is at most
// Estimate(p); the caller pads it with zeros to the reserved size.
func Sign(p *Params) ([]byte, error) {
	if p.Identifier == "" {
		return nil, fmt.Errorf("%w: empty identifier", ErrInput)
	}
	if !p.AdHoc && (p.Signer == nil || len(p.Chain) == 0) {
		return nil, fmt.Errorf("%w: a signer and its certificate are required unless ad-hoc", ErrInput)
	}
	if p.Code != nil && p.CodeReader != nil {
		return nil, fmt.Errorf("%w: both Code and CodeReader set", ErrInput)
	}
	if p.Entitlements != nil && p.EntitlementsDER == nil {
		return nil, fmt.Errorf("%w: entitlements without their DER form (iOS 15+ refuses them)", ErrInput)
	}
	var special [maxSpecialSlot + 1][]byte
	blobs := fixedBlobs(p)
	hash := func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
	if p.InfoPlist != nil {
		special[SlotInfo] = hash(p.InfoPlist)
	}
	if p.CodeResources != nil {
		special[SlotResourceDir] = hash(p.CodeResources)
	}
	for _, b := range blobs {
		special[b.slot] = hash(b.blob)
	}
	// Empty slots below the highest one are written as zeros.
	for i := 1; i <= nSpecialSlots(p); i++ {
		if special[i] == nil {
			special[i] = make([]byte, hashSize)
		}
	}
	cd, err := codeDirectory(p, special)
	if err != nil {
		return nil, err
	}

	wrapper := wrapBlob(MagicBlobWrapper, nil)
	if !p.AdHoc {
		rnd := p.Rand
		if rnd == nil {
			rnd = rand.Reader
		}
		cms, err := signCMS(cd, p.Signer, p.Chain, p.SigningTime, rnd)
		if err != nil {
			return nil, err
		}
		wrapper = wrapBlob(MagicBlobWrapper, cms)
	}
	all := append([]slotBlob{{SlotCodeDirectory, cd}}, blobs...)
	all = append(all, slotBlob{SlotSignature, wrapper})
	out := superBlob(all)
	if est := Estimate(p); len(out) > est {
		return nil, fmt.Errorf("codesign: signature of %d bytes exceeds its estimate of %d (a bug)", len(out), est)
	}
	return out, nil
}

// superBlob assembles blobs (in slot order) behind the SuperBlob index.
func superBlob(blobs []slotBlob) []byte {
	off := superBlobHeaderSize + superBlobIndexEntrySize*len(blobs)
	total := off
	for _, b := range blobs {
		total += len(b.blob)
	}
	out := make([]byte, 0, total)
	out = be32(out, MagicEmbeddedSignature)
	out = be32(out, uint32(total))
	out = be32(out, uint32(len(blobs)))
	for _, b := range blobs {
		out = be32(out, b.slot)
		out = be32(out, uint32(off))
		off += len(b.blob)
	}
	for _, b := range blobs {
		out = append(out, b.blob...)
	}
	return out
}
