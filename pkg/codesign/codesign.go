// Package codesign builds and parses Apple's embedded code signature: the
// SuperBlob that LC_CODE_SIGNATURE points at in a Mach-O slice.
//
// It works on bytes only and knows nothing of bundles or load commands: the
// caller (pkg/macho, pkg/ipa) hands it the slice's bytes up to the code
// limit (the file offset where the signature will start), the identifier,
// team id, executable segment and the special-slot inputs (Info.plist,
// CodeResources, entitlements), and a crypto.Signer with its certificate
// chain. Keys never enter this package other than as a crypto.Signer.
//
// Because the Mach-O header must record the signature's size before the code
// is hashed, Estimate returns an upper bound computed from the inputs alone;
// Sign's result is never longer, and the caller pads it with zeros.
//
// We write a single SHA-256 CodeDirectory (no SHA-1 alternate): codesign
// does the same for deployment targets of iOS 11 and later, SHA-1-only
// verifiers predate iOS 11 and Xcode no longer builds for them.
//
// Parse reads a SuperBlob back (for our verifier and the tests), including
// what real Apple signatures hold that we do not write: a SHA-1
// CodeDirectory in slot 0 (alone, or before a SHA-256 alternate), a BER
// CMS without CDHashes attributes. Verification (CheckCode,
// CheckSpecialSlots, VerifyCMS) covers every CodeDirectory, each with its
// own hash. AppleRoots is Apple's root for VerifyCMS. Parse's allocations
// are bounded by the input's length.
//
// For bundles it builds and checks _CodeSignature/CodeResources
// (BuildCodeResources, CheckCodeResources) from a list of the bundle's
// files and their digests, which the caller reads; and it writes the
// designated requirement codesign makes for an Apple-issued iOS identity
// (DesignatedRequirement), in binary and text form.
package codesign

import (
	"errors"
	"fmt"
)

// FORMAT: Apple xnu osfmk/kern/cs_blobs.h. Every integer is big-endian.
// A blob starts with { magic uint32, length uint32 } (length includes the
// header). The embedded signature is a SuperBlob:
//
//	magic 0xfade0cc0, length, count uint32,
//	count × { type uint32 (slot), offset uint32 (from the SuperBlob start) },
//	then the blobs, in slot order.
const (
	MagicEmbeddedSignature  = 0xfade0cc0 // CSMAGIC_EMBEDDED_SIGNATURE
	MagicCodeDirectory      = 0xfade0c02 // CSMAGIC_CODEDIRECTORY
	MagicRequirements       = 0xfade0c01 // CSMAGIC_REQUIREMENTS (a set)
	MagicRequirement        = 0xfade0c00 // CSMAGIC_REQUIREMENT (one expression)
	MagicEntitlements       = 0xfade7171 // CSMAGIC_EMBEDDED_ENTITLEMENTS (XML plist)
	MagicEntitlementsDER    = 0xfade7172 // CSMAGIC_EMBEDDED_DER_ENTITLEMENTS
	MagicBlobWrapper        = 0xfade0b01 // CSMAGIC_BLOBWRAPPER (CMS signature)
	blobHeaderSize          = 8
	superBlobHeaderSize     = 12
	superBlobIndexEntrySize = 8
)

// Slot indices: the SuperBlob index types, and (1…7) the special slots of
// the CodeDirectory, whose hashes sit at negative indices before the code
// hashes (slot n at hashOffset − n×hashSize).
const (
	SlotCodeDirectory   = 0       // CSSLOT_CODEDIRECTORY
	SlotInfo            = 1       // CSSLOT_INFOSLOT: Info.plist bytes
	SlotRequirements    = 2       // CSSLOT_REQUIREMENTS: the Requirements blob
	SlotResourceDir     = 3       // CSSLOT_RESOURCEDIR: _CodeSignature/CodeResources bytes
	SlotApplication     = 4       // CSSLOT_APPLICATION: unused on iOS (zero)
	SlotEntitlements    = 5       // CSSLOT_ENTITLEMENTS: the XML entitlements blob
	SlotEntitlementsDER = 7       // CSSLOT_DER_ENTITLEMENTS: the DER entitlements blob
	SlotAlternateCD     = 0x1000  // CSSLOT_ALTERNATE_CODEDIRECTORIES (first)
	SlotSignature       = 0x10000 // CSSLOT_SIGNATURESLOT: the CMS BlobWrapper
	maxSpecialSlot      = 7
)

// Code signing flags (CodeDirectory.flags) and exec segment flags.
const (
	FlagAdHoc         = 0x2 // CS_ADHOC: no CMS signature
	ExecSegMainBinary = 0x1 // CS_EXECSEG_MAIN_BINARY: the executable segment of a main binary
)

// Hash types (CodeDirectory.hashType).
const (
	HashSHA1   = 1 // CS_HASHTYPE_SHA1
	HashSHA256 = 2 // CS_HASHTYPE_SHA256
)

// PageSize is the code page size we hash: 4 KiB, as codesign uses for iOS.
const PageSize = 4096

// Errors. Parse failures are *FormatError wrapping ErrMalformed; a page or
// slot hash that does not match wraps ErrHashMismatch; a bad CMS signature
// wraps ErrSignature.
var (
	ErrMalformed    = errors.New("codesign: malformed code signature")
	ErrHashMismatch = errors.New("codesign: hash mismatch")
	ErrSignature    = errors.New("codesign: CMS signature invalid")
	ErrInput        = errors.New("codesign: invalid signing input")
)

// FormatError reports malformed signature bytes at an offset in the blob.
type FormatError struct {
	Offset int64  // byte offset in the SuperBlob; −1 for a CodeResources plist
	Detail string // what is wrong
	Err    error  // ErrMalformed
}

func (e *FormatError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("%s: %s", e.Err.Error(), e.Detail)
	}
	return fmt.Sprintf("%s: %s (at offset %d)", e.Err.Error(), e.Detail, e.Offset)
}

func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(off int, format string, args ...any) error {
	return &FormatError{Offset: int64(off), Detail: fmt.Sprintf(format, args...), Err: ErrMalformed}
}
