// Package macho opens thin and fat (universal) Mach-O files for code signing
// and rewrites what signing changes: LC_CODE_SIGNATURE and __LINKEDIT, per
// architecture slice, and the fat header with its slice alignment.
//
// Load commands are decoded by the standard library's debug/macho; this
// package adds the checks a signer needs before it trusts the offsets
// (truncation, load commands past the header, fat slices that overlap or run
// past the file) and refuses FairPlay-encrypted slices. It knows nothing of
// bundles, profiles or keys: the signature blob comes from the caller's
// Signer (see File.Write), as in go-macho's SignerFunction.
//
// Slices are read through the io.ReaderAt given to NewReader; only headers
// and load commands are held in memory (at most maxCmdsSize per slice).
package macho

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"errors"
	"io"
)

// CPU types and subtypes of the slices iOS, watchOS and the simulator use
// (<mach/machine.h>).
const (
	CPUArm     macho.Cpu = 12
	CPUArm64   macho.Cpu = 12 | 0x01000000
	CPUArm6432 macho.Cpu = 12 | 0x02000000 // arm64_32: watchOS (ILP32 on arm64)
	CPUX86     macho.Cpu = 7
	CPUX8664   macho.Cpu = 7 | 0x01000000

	SubArmV7  uint32 = 9
	SubArmV7S uint32 = 11
	SubArmV7K uint32 = 12
	SubArm64  uint32 = 0
	SubArm64E uint32 = 2
	subMask   uint32 = 0x00ffffff // the high byte holds capability bits (arm64e ABI version)
)

// FORMAT: <mach-o/loader.h> and <mach-o/fat.h>.
const (
	magic32    = 0xfeedface
	magic64    = 0xfeedfacf
	fatMagic   = 0xcafebabe // big-endian; fat_arch is 20 bytes
	fatMagic64 = 0xcafebabf // big-endian; fat_arch_64 is 32 bytes
	hdrSize32  = 28         // mach_header
	hdrSize64  = 32         // mach_header_64 (adds reserved)

	lcSegment        = 0x1
	lcSegment64      = 0x19
	lcCodeSignature  = 0x1d // linkedit_data_command {cmd, cmdsize, dataoff, datasize}
	lcEncryption     = 0x21 // encryption_info_command {cmd, cmdsize, cryptoff, cryptsize, cryptid}
	lcEncryption64   = 0x2c // encryption_info_command_64 (+ pad)
	codeSigCmdSize   = 16
	maxFatArch       = 64       // Java class files share 0xcafebabe; real fat files hold a handful
	maxCmdsSize      = 16 << 20 // cap on sizeofcmds held in memory
	maxSignatureSize = 64 << 20 // cap on an existing signature read by Signature
)

// File is an opened Mach-O file: one slice if thin, one per fat_arch if fat.
type File struct {
	Fat    bool     // the file has a fat (universal) header
	Slices []*Slice // in file order
	r      io.ReaderAt
	size   int64
}

// Slice is one architecture of a file (the whole file if thin). Offsets in
// its fields are relative to the start of the slice, as a code signature's
// are.
type Slice struct {
	Offset int64  // start in the file
	Size   int64  // length in the file
	Align  uint32 // log2 alignment from the fat_arch (0 for a thin file)

	*macho.File         // decoded header and load commands
	Is64        bool    // 64-bit header (mach_header_64)
	ExecSegBase int64   // file offset of __TEXT (the executable segment)
	ExecSegSize int64   // file size of __TEXT
	linkedit    segment // __LINKEDIT
	codeSig     *linkeditData
	hdrSize     int64
	cmdsEnd     int64  // header + the load commands' sizes (at most sizeofcmds)
	firstData   int64  // smallest file offset of section data (end of header padding)
	segEnd      int64  // largest end of a segment's file range
	extra       []byte // load commands AddLink adds, written after cmdsEnd
	extraCount  uint32 // how many commands extra holds
	sr          *io.SectionReader
}

// segment is an LC_SEGMENT(_64) and where its command sits in the slice.
type segment struct {
	cmdOff          int64
	fileOff, fileSz uint64
	vmAddr, vmSz    uint64
	present, bits64 bool
}

// linkeditData is an LC_CODE_SIGNATURE and where its command sits.
type linkeditData struct {
	cmdOff            int64
	dataOff, dataSize uint32
}

// NewReader opens the Mach-O or fat file of the given size read from r.
// Every slice is checked (see the package doc); an encrypted slice fails with
// ErrEncrypted.
func NewReader(r io.ReaderAt, size int64) (*File, error) {
	var m [8]byte
	if size < 4 {
		return nil, formatErr(0, ErrTruncated, "%d bytes", size)
	}
	if _, err := r.ReadAt(m[:4], 0); err != nil {
		return nil, formatErr(0, ErrTruncated, "reading the magic: %v", err)
	}
	f := &File{r: r, size: size}
	switch be := binary.BigEndian.Uint32(m[:4]); {
	case be == fatMagic || be == fatMagic64:
		f.Fat = true
		if err := f.readFat(be == fatMagic64); err != nil {
			return nil, err
		}
	case be == magic32, be == magic64, binary.LittleEndian.Uint32(m[:4]) == magic32, binary.LittleEndian.Uint32(m[:4]) == magic64:
		s, err := openSlice(r, 0, size, 0)
		if err != nil {
			return nil, err
		}
		f.Slices = []*Slice{s}
	default:
		return nil, formatErr(0, ErrNotMachO, "magic %#08x", be)
	}
	return f, nil
}

// readFat reads the fat header and opens every slice.
//
// FORMAT: fat_header {magic, nfat_arch} then nfat_arch × fat_arch {cputype,
// cpusubtype, offset, size, align} (uint32 each) or fat_arch_64 {…, offset
// and size uint64, align, reserved}, all big-endian.
func (f *File) readFat(is64 bool) error {
	var h [8]byte
	if _, err := f.r.ReadAt(h[:], 0); err != nil || f.size < 8 {
		return formatErr(0, ErrTruncated, "fat header")
	}
	n := binary.BigEndian.Uint32(h[4:])
	if n == 0 || n > maxFatArch {
		return formatErr(4, ErrFatSlices, "%d architectures", n)
	}
	entry := int64(20)
	if is64 {
		entry = 32
	}
	tbl := make([]byte, int64(n)*entry)
	if 8+int64(len(tbl)) > f.size {
		return formatErr(8, ErrTruncated, "fat_arch table of %d entries", n)
	}
	if _, err := f.r.ReadAt(tbl, 8); err != nil {
		return formatErr(8, ErrTruncated, "fat_arch table: %v", err)
	}
	hdrEnd := 8 + int64(len(tbl))
	for i := int64(0); i < int64(n); i++ {
		e := tbl[i*entry:]
		var off, sz uint64
		var align uint32
		if is64 {
			off, sz, align = binary.BigEndian.Uint64(e[8:]), binary.BigEndian.Uint64(e[16:]), binary.BigEndian.Uint32(e[24:])
		} else {
			off, sz, align = uint64(binary.BigEndian.Uint32(e[8:])), uint64(binary.BigEndian.Uint32(e[12:])), binary.BigEndian.Uint32(e[16:])
		}
		at := 8 + i*entry
		switch {
		case align > 15:
			return formatErr(at, ErrFatSlices, "slice %d: alignment 2^%d", i, align)
		case off < uint64(hdrEnd) || sz == 0 || off > uint64(f.size) || sz > uint64(f.size)-off:
			return formatErr(at, ErrFatSlices, "slice %d [%d, +%d) outside the file (%d bytes, header %d)", i, off, sz, f.size, hdrEnd)
		}
		for j, p := range f.Slices {
			if off < uint64(p.Offset+p.Size) && uint64(p.Offset) < off+sz {
				return formatErr(at, ErrFatSlices, "slice %d [%d, +%d) overlaps slice %d [%d, +%d)", i, off, sz, j, p.Offset, p.Size)
			}
		}
		s, err := openSlice(f.r, int64(off), int64(sz), align)
		if err != nil {
			return err
		}
		cpu, sub := macho.Cpu(binary.BigEndian.Uint32(e)), binary.BigEndian.Uint32(e[4:])
		if cpu != s.Cpu || sub&subMask != s.SubCpu&subMask {
			return formatErr(at, ErrFatSlices, "slice %d: fat_arch says %s/%d, its header %s/%d", i, CPUName(cpu, sub), sub&subMask, CPUName(s.Cpu, s.SubCpu), s.SubCpu&subMask)
		}
		f.Slices = append(f.Slices, s)
	}
	return nil
}

// openSlice checks and decodes the Mach-O at [off, off+size) of r.
func openSlice(r io.ReaderAt, off, size int64, align uint32) (*Slice, error) {
	s := &Slice{Offset: off, Size: size, Align: align, sr: io.NewSectionReader(r, off, size)}
	var h [hdrSize64]byte
	if size < hdrSize32 {
		return nil, formatErr(off, ErrTruncated, "Mach-O header needs %d bytes, slice has %d", hdrSize32, size)
	}
	n, _ := s.sr.ReadAt(h[:], 0)
	var bo binary.ByteOrder = binary.LittleEndian
	if m := binary.BigEndian.Uint32(h[:]); m == magic32 || m == magic64 {
		bo = binary.BigEndian
	}
	switch bo.Uint32(h[:]) {
	case magic32:
		s.hdrSize = hdrSize32
	case magic64:
		s.hdrSize, s.Is64 = hdrSize64, true
	default:
		return nil, formatErr(off, ErrNotMachO, "slice magic %#08x", bo.Uint32(h[:]))
	}
	if int64(n) < s.hdrSize {
		return nil, formatErr(off, ErrTruncated, "Mach-O header needs %d bytes, slice has %d", s.hdrSize, size)
	}
	sizeofcmds := int64(bo.Uint32(h[20:]))
	s.cmdsEnd = s.hdrSize + sizeofcmds
	if sizeofcmds > maxCmdsSize || s.cmdsEnd > size {
		return nil, formatErr(off+20, ErrLoadCmds, "sizeofcmds %d past the slice end (%d bytes)", sizeofcmds, size)
	}
	mf, err := macho.NewFile(s.sr)
	if err != nil {
		kind := ErrMalformed
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			kind = ErrTruncated // a table (symbols, …) runs past the slice end
		}
		return nil, formatErr(off, kind, "debug/macho: %s", err.Error())
	}
	s.File = mf
	if err := s.scanLoads(bo); err != nil {
		return nil, err
	}
	return s, nil
}

// scanLoads records what signing needs from the load commands and checks it.
func (s *Slice) scanLoads(bo binary.ByteOrder) error {
	s.firstData = s.Size
	cmdOff := s.hdrSize
	var segs []segment
	for _, l := range s.Loads {
		raw := l.Raw()
		if len(raw) < 8 || cmdOff+int64(len(raw)) > s.cmdsEnd {
			return formatErr(s.Offset+cmdOff, ErrLoadCmds, "load command of %d bytes past sizeofcmds", len(raw))
		}
		at := s.Offset + cmdOff
		switch cmd := bo.Uint32(raw); cmd {
		case lcSegment, lcSegment64:
			seg, err := s.segmentAt(raw, bo, cmd == lcSegment64, cmdOff)
			if err != nil {
				return err
			}
			segs = append(segs, seg)
		case lcCodeSignature:
			if len(raw) < codeSigCmdSize || s.codeSig != nil {
				return formatErr(at, ErrMalformed, "bad or repeated LC_CODE_SIGNATURE")
			}
			s.codeSig = &linkeditData{cmdOff: cmdOff, dataOff: bo.Uint32(raw[8:]), dataSize: bo.Uint32(raw[12:])}
		case lcEncryption, lcEncryption64:
			if len(raw) < 20 {
				return formatErr(at, ErrMalformed, "LC_ENCRYPTION_INFO of %d bytes", len(raw))
			}
			if id := bo.Uint32(raw[16:]); id != 0 {
				return formatErr(at+16, ErrEncrypted, "%s slice, cryptid %d", CPUName(s.Cpu, s.SubCpu), id)
			}
		}
		cmdOff += int64(len(raw))
	}
	// The kernel walks ncmds commands within sizeofcmds and leaves bytes
	// after the last one unused (ld never writes any). Commands we add must
	// follow the last one, so from here on those bytes are header padding
	// and sizeofcmds is written as what the commands occupy.
	declaredEnd := s.cmdsEnd
	s.cmdsEnd = cmdOff
	for _, sec := range s.Sections {
		if sec.Offset != 0 && sec.Size != 0 && int64(sec.Offset) < s.firstData {
			s.firstData = int64(sec.Offset)
		}
	}
	for _, seg := range segs {
		s.segEnd = max(s.segEnd, int64(seg.fileOff+seg.fileSz))
		if seg.fileSz > 0 && seg.fileOff > 0 && int64(seg.fileOff) < s.firstData {
			s.firstData = int64(seg.fileOff)
		}
	}
	if declaredEnd > s.firstData {
		return formatErr(s.Offset+20, ErrLoadCmds, "load commands end at %d, past the first section data at %d", declaredEnd, s.firstData)
	}
	if text := s.Segment("__TEXT"); text != nil {
		s.ExecSegBase, s.ExecSegSize = int64(text.Offset), int64(text.Filesz)
	}
	return nil
}

// segmentAt decodes the segment command raw at cmdOff and checks that its
// file range lies in the slice; it remembers __LINKEDIT.
//
// FORMAT: segment_command_64 {cmd, cmdsize, segname[16], vmaddr@24,
// vmsize@32, fileoff@40, filesize@48 (uint64), …}; segment_command has
// uint32 vmaddr@24, vmsize@28, fileoff@32, filesize@36.
func (s *Slice) segmentAt(raw []byte, bo binary.ByteOrder, is64 bool, cmdOff int64) (segment, error) {
	seg := segment{cmdOff: cmdOff, bits64: is64, present: true}
	if is64 && len(raw) >= 56 {
		seg.vmAddr, seg.vmSz, seg.fileOff, seg.fileSz = bo.Uint64(raw[24:]), bo.Uint64(raw[32:]), bo.Uint64(raw[40:]), bo.Uint64(raw[48:])
	} else if !is64 && len(raw) >= 40 {
		seg.vmAddr, seg.vmSz = uint64(bo.Uint32(raw[24:])), uint64(bo.Uint32(raw[28:]))
		seg.fileOff, seg.fileSz = uint64(bo.Uint32(raw[32:])), uint64(bo.Uint32(raw[36:]))
	} else {
		return seg, formatErr(s.Offset+cmdOff, ErrMalformed, "segment command of %d bytes", len(raw))
	}
	name := string(bytes.TrimRight(raw[8:24], "\x00"))
	if seg.fileOff > uint64(s.Size) || seg.fileSz > uint64(s.Size)-seg.fileOff {
		return seg, formatErr(s.Offset+cmdOff, ErrTruncated, "segment %s [%d, +%d) past the slice end (%d bytes)", name, seg.fileOff, seg.fileSz, s.Size)
	}
	if name == "__LINKEDIT" {
		s.linkedit = seg
	}
	return seg, nil
}

// IsExecutable reports whether the slice is a main executable (MH_EXECUTE),
// for the CodeDirectory's main-binary exec-segment flag.
func (s *Slice) IsExecutable() bool { return s.Type == macho.TypeExec }

// Signed reports whether the slice has an LC_CODE_SIGNATURE.
func (s *Slice) Signed() bool { return s.codeSig != nil }

// CodeLimit is where the code a signature covers ends: the offset of the
// existing signature (for verifying it), or, if unsigned, of the one Write
// would add (the end of __LINKEDIT rounded up to 16 bytes). Write's Layout
// gives the limit of the signature it writes.
func (s *Slice) CodeLimit() int64 {
	if s.codeSig != nil {
		return int64(s.codeSig.dataOff)
	}
	return align(int64(s.linkedit.fileOff+s.linkedit.fileSz), 16)
}

// Signature returns the slice's embedded signature blob (nil if unsigned).
func (s *Slice) Signature() ([]byte, error) {
	cs := s.codeSig
	if cs == nil {
		return nil, nil
	}
	end := int64(cs.dataOff) + int64(cs.dataSize)
	if cs.dataSize > maxSignatureSize || end > s.Size {
		return nil, formatErr(s.Offset+cs.cmdOff, ErrTruncated, "code signature [%d, +%d) past the slice end (%d bytes)", cs.dataOff, cs.dataSize, s.Size)
	}
	b := make([]byte, cs.dataSize)
	if _, err := s.sr.ReadAt(b, int64(cs.dataOff)); err != nil {
		return nil, formatErr(s.Offset+int64(cs.dataOff), ErrTruncated, "code signature: %v", err)
	}
	return b, nil
}

// Reader returns the bytes of the slice as they are in the file.
func (s *Slice) Reader() *io.SectionReader { return io.NewSectionReader(s.sr, 0, s.Size) }

// PageSize is the VM page size of the slice's architecture: 16 KiB for
// arm64 and arm64_32, 4 KiB otherwise (armv7, x86_64 simulator).
func (s *Slice) PageSize() int64 {
	if s.Cpu == CPUArm64 || s.Cpu == CPUArm6432 {
		return 0x4000
	}
	return 0x1000
}

// CPUName names a cpu type and subtype as lipo does (arm64e, armv7s, …).
func CPUName(cpu macho.Cpu, sub uint32) string {
	sub &= subMask
	switch cpu {
	case CPUArm64:
		if sub == SubArm64E {
			return "arm64e"
		}
		return "arm64"
	case CPUArm6432:
		return "arm64_32"
	case CPUArm:
		switch sub {
		case SubArmV7:
			return "armv7"
		case SubArmV7S:
			return "armv7s"
		case SubArmV7K:
			return "armv7k"
		}
		return "arm"
	case CPUX8664:
		return "x86_64"
	case CPUX86:
		return "i386"
	}
	return cpu.String()
}

// Arch is the slice's architecture name (see CPUName).
func (s *Slice) Arch() string { return CPUName(s.Cpu, s.SubCpu) }

func align(n, a int64) int64 { return (n + a - 1) &^ (a - 1) }
