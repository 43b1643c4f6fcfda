package codesign

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
)

// FORMAT: CodeDirectory, version 0x20400 (cs_blobs.h CS_CodeDirectory):
//
//	off  size
//	  0  4  magic 0xfade0c02
//	  4  4  length of the whole blob
//	  8  4  version 0x20400
//	 12  4  flags (CS_ADHOC 0x2 for ad-hoc signatures)
//	 16  4  hashOffset: offset of code slot 0 (special slots sit before it)
//	 20  4  identOffset: NUL-terminated identifier
//	 24  4  nSpecialSlots
//	 28  4  nCodeSlots = ceil(codeLimit / pageSize)
//	 32  4  codeLimit (0 and codeLimit64 set when ≥ 4 GiB)
//	 36  1  hashSize (32)        37  1  hashType (2 = SHA-256)
//	 38  1  platform (0)         39  1  pageSize as log2 (12 = 4 KiB)
//	 40  4  spare2 (0)
//	 44  4  scatterOffset (0: none)            -- since 0x20100
//	 48  4  teamOffset (0 when no team id)     -- since 0x20200
//	 52  4  spare3 (0)                         -- since 0x20300
//	 56  8  codeLimit64
//	 64  8  execSegBase                        -- since 0x20400
//	 72  8  execSegLimit
//	 80  8  execSegFlags (CS_EXECSEG_MAIN_BINARY 0x1 for a main executable)
//	 88     identifier\0, team id\0, special slot hashes (slot n at
//	        hashOffset − n×32, so in reverse order), code slot hashes.
//
// Each code slot is the SHA-256 of one 4 KiB page of the file from offset 0;
// the last page may be short. The cdhash is the SHA-256 of the whole blob.
// We write SHA-256 directories only; Parse also reads SHA-1 ones (hashType
// 1, hashSize 20), which codesign puts in slot 0, before a SHA-256
// alternate in slot 0x1000, for deployment targets below iOS 11, and alone
// in older signatures (version 0x20200 and earlier). Every hash of a
// directory, its cdhash included, uses the directory's own hash type.
const (
	cdVersion    = 0x20400
	cdHeaderSize = 88 // version 0x20400
	cdBaseSize   = 44 // the fields every version has
	hashSize     = sha256.Size
	pageShift    = 12
)

// codeDirectory builds the CodeDirectory blob for p with the given special
// slot hashes (index = slot number; nil = empty slot, written as zeros).
// Only a failing p.CodeReader makes it fail.
func codeDirectory(p *Params, special [maxSpecialSlot + 1][]byte) ([]byte, error) {
	nSpecial := 0
	for i := maxSpecialSlot; i > 0; i-- {
		if special[i] != nil {
			nSpecial = i
			break
		}
	}
	codeLen := p.codeLen()
	nCode := (codeLen + PageSize - 1) / PageSize
	identOff := cdHeaderSize
	teamOff := 0
	off := identOff + len(p.Identifier) + 1
	if p.TeamID != "" {
		teamOff = off
		off += len(p.TeamID) + 1
	}
	hashOff := off + nSpecial*hashSize
	total := hashOff + nCode*hashSize

	b := make([]byte, total)
	be := binary.BigEndian
	be.PutUint32(b[0:], MagicCodeDirectory)
	be.PutUint32(b[4:], uint32(total))
	be.PutUint32(b[8:], cdVersion)
	var flags uint32
	if p.AdHoc {
		flags |= FlagAdHoc
	}
	be.PutUint32(b[12:], flags)
	be.PutUint32(b[16:], uint32(hashOff))
	be.PutUint32(b[20:], uint32(identOff))
	be.PutUint32(b[24:], uint32(nSpecial))
	be.PutUint32(b[28:], uint32(nCode))
	if uint64(codeLen) < 1<<32 {
		be.PutUint32(b[32:], uint32(codeLen))
	} else {
		be.PutUint64(b[56:], uint64(codeLen))
	}
	b[36] = hashSize
	b[37] = HashSHA256
	b[39] = pageShift
	be.PutUint32(b[48:], uint32(teamOff))
	be.PutUint64(b[64:], p.ExecSegBase)
	be.PutUint64(b[72:], p.ExecSegLimit)
	be.PutUint64(b[80:], p.ExecSegFlags)
	copy(b[identOff:], p.Identifier)
	if teamOff != 0 {
		copy(b[teamOff:], p.TeamID)
	}
	for i := 1; i <= nSpecial; i++ {
		copy(b[hashOff-i*hashSize:], special[i])
	}
	page := make([]byte, PageSize)
	for i := 0; i < nCode; i++ {
		end := min((i+1)*PageSize, codeLen)
		var code []byte
		if p.CodeReader != nil {
			code = page[:end-i*PageSize]
			if _, err := p.CodeReader.ReadAt(code, int64(i*PageSize)); err != nil {
				return nil, fmt.Errorf("codesign: reading code page %d: %w", i, err)
			}
		} else {
			code = p.Code[i*PageSize : end]
		}
		h := sha256.Sum256(code)
		copy(b[hashOff+i*hashSize:], h[:])
	}
	return b, nil
}

// codeDirectorySize is len(codeDirectory(p, …)) for nSpecial special slots.
func codeDirectorySize(p *Params, nSpecial int) int {
	n := cdHeaderSize + len(p.Identifier) + 1 + nSpecial*hashSize
	if p.TeamID != "" {
		n += len(p.TeamID) + 1
	}
	return n + (p.codeLen()+PageSize-1)/PageSize*hashSize
}

// CodeDirectory is a parsed CodeDirectory blob.
type CodeDirectory struct {
	Raw          []byte // the whole blob, as hashed for the cdhash
	Version      uint32
	Flags        uint32
	Identifier   string
	TeamID       string
	HashType     uint8
	PageSize     int // bytes; 0 means one page for the whole code
	CodeLimit    uint64
	ExecSegBase  uint64
	ExecSegLimit uint64
	ExecSegFlags uint64
	Special      [][]byte // Special[n-1] is slot n's hash (n = 1 … nSpecialSlots)
	CodeHashes   [][]byte
}

// CDHash is the hash of the CodeDirectory blob with the directory's own
// hash type: 20 bytes for SHA-1, 32 for SHA-256.
func (cd *CodeDirectory) CDHash() []byte {
	return cd.sum(cd.Raw)
}

// Hash is the directory's hash function: crypto.SHA1 or crypto.SHA256 (the
// only types Parse accepts).
func (cd *CodeDirectory) Hash() crypto.Hash {
	if cd.HashType == HashSHA1 {
		return crypto.SHA1
	}
	return crypto.SHA256
}

// sum hashes b with the directory's hash type.
func (cd *CodeDirectory) sum(b []byte) []byte {
	h := cd.Hash().New()
	h.Write(b)
	return h.Sum(nil)
}

// SpecialSlot returns the hash recorded in special slot n, or nil when the
// directory has fewer slots.
func (cd *CodeDirectory) SpecialSlot(n int) []byte {
	if n < 1 || n > len(cd.Special) {
		return nil
	}
	return cd.Special[n-1]
}

// CheckSpecial reports whether special slot n holds the hash of data: for
// slots 1 and 3 the file bytes, for 2, 5 and 7 the whole blob. A nil data
// expects an empty (all-zero or absent) slot.
func (cd *CodeDirectory) CheckSpecial(n int, data []byte) error {
	got := cd.SpecialSlot(n)
	if data == nil {
		if got == nil || bytes.Equal(got, make([]byte, len(got))) {
			return nil
		}
		return &SlotError{Slot: n, Err: ErrHashMismatch, Detail: "slot set but its input is absent"}
	}
	if !bytes.Equal(got, cd.sum(data)) {
		return &SlotError{Slot: n, Err: ErrHashMismatch, Detail: "hash differs from its input"}
	}
	return nil
}

// CheckCode recomputes every page hash over code (the slice's bytes up to
// the code limit) and reports the first page that differs.
func (cd *CodeDirectory) CheckCode(code []byte) error {
	if uint64(len(code)) != cd.CodeLimit {
		return &SlotError{Slot: -1, Err: ErrHashMismatch, Detail: "code length differs from the code limit"}
	}
	for i, want := range cd.CodeHashes {
		end := min((i+1)*cd.PageSize, len(code))
		if !bytes.Equal(cd.sum(code[i*cd.PageSize:end]), want) {
			return &PageError{Page: i, Offset: int64(i * cd.PageSize)}
		}
	}
	return nil
}

// SlotError names a special slot whose hash does not match (Slot −1: the
// code limit).
type SlotError struct {
	Slot   int
	Detail string
	Err    error
}

func (e *SlotError) Error() string {
	return e.Err.Error() + ": special slot " + slotName(e.Slot) + ": " + e.Detail
}

func (e *SlotError) Unwrap() error { return e.Err }

// PageError names the first code page whose hash does not match.
type PageError struct {
	Page   int
	Offset int64
}

func (e *PageError) Error() string {
	return fmt.Sprintf("%s: code page %d (file offset %d)", ErrHashMismatch.Error(), e.Page, e.Offset)
}

func (e *PageError) Unwrap() error { return ErrHashMismatch }

func slotName(n int) string {
	switch n {
	case -1:
		return "code limit"
	case SlotInfo:
		return "1 (Info.plist)"
	case SlotRequirements:
		return "2 (requirements)"
	case SlotResourceDir:
		return "3 (CodeResources)"
	case SlotEntitlements:
		return "5 (entitlements)"
	case SlotEntitlementsDER:
		return "7 (DER entitlements)"
	}
	return strconv.Itoa(n)
}

// parseCodeDirectory decodes a CodeDirectory blob b (already bounded by its
// index entry) found at offset off in the SuperBlob.
func parseCodeDirectory(b []byte, off int) (*CodeDirectory, error) {
	be := binary.BigEndian
	if len(b) < cdBaseSize {
		return nil, formatErr(off, "CodeDirectory of %d bytes is shorter than its header", len(b))
	}
	cd := &CodeDirectory{Raw: b, Version: be.Uint32(b[8:]), Flags: be.Uint32(b[12:])}
	hashOff := int(be.Uint32(b[16:]))
	identOff := int(be.Uint32(b[20:]))
	nSpecial := int(be.Uint32(b[24:]))
	nCode := int(be.Uint32(b[28:]))
	cd.CodeLimit = uint64(be.Uint32(b[32:]))
	hs := int(b[36])
	cd.HashType = b[37]
	if !(cd.HashType == HashSHA1 && hs == sha1.Size || cd.HashType == HashSHA256 && hs == sha256.Size) {
		return nil, formatErr(off+36, "hash type %d with %d-byte hashes: only SHA-1 (type 1, 20 bytes) and SHA-256 (type 2, 32 bytes) are supported", cd.HashType, hs)
	}
	if b[39] > 30 {
		return nil, formatErr(off+39, "page size 2^%d", b[39])
	}
	if b[39] != 0 {
		cd.PageSize = 1 << b[39]
	}
	need := cdBaseSize
	switch {
	case cd.Version >= 0x20400:
		need = cdHeaderSize
	case cd.Version >= 0x20300:
		need = 64
	case cd.Version >= 0x20200:
		need = 52
	case cd.Version >= 0x20100:
		need = 48
	}
	if len(b) < need {
		return nil, formatErr(off, "CodeDirectory version %#x needs %d header bytes, blob has %d", cd.Version, need, len(b))
	}
	if cd.Version >= 0x20200 {
		if t := int(be.Uint32(b[48:])); t != 0 {
			s, err := cString(b, t, off)
			if err != nil {
				return nil, err
			}
			cd.TeamID = s
		}
	}
	if cd.Version >= 0x20300 {
		if l := be.Uint64(b[56:]); l != 0 {
			cd.CodeLimit = l
		}
	}
	if cd.Version >= 0x20400 {
		cd.ExecSegBase = be.Uint64(b[64:])
		cd.ExecSegLimit = be.Uint64(b[72:])
		cd.ExecSegFlags = be.Uint64(b[80:])
	}
	s, err := cString(b, identOff, off)
	if err != nil {
		return nil, err
	}
	cd.Identifier = s
	if hashOff > len(b) || nSpecial > hashOff/hs || nCode > (len(b)-hashOff)/hs {
		return nil, formatErr(off+16, "hash slots (offset %d, %d special, %d code) exceed the %d-byte blob", hashOff, nSpecial, nCode, len(b))
	}
	if cd.PageSize == 0 {
		if nCode > 1 {
			return nil, formatErr(off+39, "%d code slots with an infinite page size", nCode)
		}
		cd.PageSize = int(min(cd.CodeLimit, 1<<62))
	} else if want := (cd.CodeLimit + uint64(cd.PageSize) - 1) / uint64(cd.PageSize); want != uint64(nCode) {
		return nil, formatErr(off+28, "%d code slots for a code limit of %d bytes (want %d)", nCode, cd.CodeLimit, want)
	}
	for i := 1; i <= nSpecial; i++ {
		cd.Special = append(cd.Special, b[hashOff-i*hs:hashOff-(i-1)*hs])
	}
	for i := range nCode {
		cd.CodeHashes = append(cd.CodeHashes, b[hashOff+i*hs:hashOff+(i+1)*hs])
	}
	return cd, nil
}

// cString reads a NUL-terminated string at i in b.
func cString(b []byte, i, off int) (string, error) {
	if i < cdBaseSize || i >= len(b) {
		return "", formatErr(off+i, "string offset %d outside the %d-byte CodeDirectory", i, len(b))
	}
	n := bytes.IndexByte(b[i:], 0)
	if n < 0 {
		return "", formatErr(off+i, "string not NUL-terminated")
	}
	return string(b[i : i+n]), nil
}
