package codesign

import (
	"encoding/binary"
	"fmt"
	"slices"
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

// CheckSpecialSlots compares every CodeDirectory's special slots (the
// primary's and each alternate's, each with its own hash type) with the
// blobs in the signature (requirements, entitlements) and the given
// Info.plist and CodeResources bytes (nil: the slot must be empty).
func (s *Signature) CheckSpecialSlots(infoPlist, codeResources []byte) error {
	for i, cd := range s.CodeDirectories {
		for _, c := range []struct {
			slot int
			data []byte
		}{
			{SlotInfo, infoPlist}, {SlotRequirements, s.Requirements}, {SlotResourceDir, codeResources},
			{SlotEntitlements, s.Entitlements}, {SlotEntitlementsDER, s.EntitlementsDER},
		} {
			if err := cd.CheckSpecial(c.slot, c.data); err != nil {
				return s.cdErr(i, err)
			}
		}
	}
	return nil
}

// CheckCode runs CheckCode of every CodeDirectory over code, the slice's
// bytes up to the code limit.
func (s *Signature) CheckCode(code []byte) error {
	for i, cd := range s.CodeDirectories {
		if err := cd.CheckCode(code); err != nil {
			return s.cdErr(i, err)
		}
	}
	return nil
}

// cdErr names CodeDirectory i and its hash in err when there are several.
func (s *Signature) cdErr(i int, err error) error {
	if len(s.CodeDirectories) == 1 {
		return err
	}
	return fmt.Errorf("CodeDirectory %d (%s): %w", i, s.CodeDirectories[i].Hash(), err)
}
