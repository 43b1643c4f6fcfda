package macho

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Signer makes the signature blob of one slice. Format code never sees keys:
// pkg/codesign implements it (CodeDirectory over the code pages, CMS, …).
type Signer interface {
	// Size returns how many bytes to reserve for the signature of s, whose
	// signed code will end at codeLimit (the number of code pages follows).
	Size(s *Slice, codeLimit int64) (int, error)
	// Sign returns the signature blob of s, computed over code: the slice's
	// bytes [0, code.Size()) exactly as Write emits them (LC_CODE_SIGNATURE
	// and __LINKEDIT already updated). The blob may be shorter than the
	// reserved size (the rest is zero padding), never longer.
	Sign(s *Slice, code *io.SectionReader) ([]byte, error)
}

// Layout is where Write puts a slice's signature, for the caller's checks.
type Layout struct {
	Offset    int64 // start of the slice in the output file
	Size      int64 // length of the slice in the output
	CodeLimit int64 // = the signature's offset in the slice (16-byte aligned)
	SigSize   int64 // bytes reserved for the signature (LC_CODE_SIGNATURE datasize)
}

// plan is the rewrite of one slice: a new header and load commands, the
// original bytes after them up to keepEnd, zeros up to sigOff, the blob.
type plan struct {
	s       *Slice
	hdr     []byte
	keepEnd int64
	sigOff  int64
	sigSize int64
}

func (p *plan) size() int64 { return p.sigOff + p.sigSize }

// Write writes f to w with a new code signature in every slice, made by sg,
// and returns where each slice and signature went. A thin file stays thin;
// a fat file keeps its slice order, each slice at a multiple of its
// alignment (2^align of the fat_arch, at least the page size: 16 KiB for
// arm64), the fat header rewritten (fat_arch_64 only when an offset passes
// 4 GiB). Every slice is planned (and sg.Size called) before the first byte
// is written, so layout errors write nothing; an error from sg.Sign or w
// leaves a partial output: write to a temporary file and rename it.
func (f *File) Write(w io.Writer, sg Signer) ([]Layout, error) {
	plans := make([]*plan, len(f.Slices))
	for i, s := range f.Slices {
		p, err := s.plan(sg)
		if err != nil {
			return nil, err
		}
		plans[i] = p
	}
	out := make([]Layout, len(plans))
	if !f.Fat {
		out[0] = Layout{Size: plans[0].size(), CodeLimit: plans[0].sigOff, SigSize: plans[0].sigSize}
		return out, plans[0].write(w, sg)
	}
	hdr, err := f.fatHeader(plans, out)
	if err != nil {
		return nil, err
	}
	cw := &countWriter{w: w}
	if _, err := cw.Write(hdr); err != nil {
		return nil, err
	}
	for i, p := range plans {
		if err := writeZeros(cw, out[i].Offset-cw.n); err != nil {
			return nil, err
		}
		if err := p.write(cw, sg); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fatHeader lays the slices out and encodes the fat header.
//
// FORMAT: see readFat; offsets are rounded up to 2^align.
func (f *File) fatHeader(plans []*plan, out []Layout) ([]byte, error) {
	layout := func(entry int64) bool {
		cur := 8 + entry*int64(len(plans))
		fits := true
		for i, p := range plans {
			a := int64(1) << sliceAlign(p.s)
			off := align(cur, a)
			out[i] = Layout{Offset: off, Size: p.size(), CodeLimit: p.sigOff, SigSize: p.sigSize}
			cur = off + p.size()
			fits = fits && off+p.size() <= math.MaxUint32
		}
		return fits
	}
	entry, magic := int64(20), uint32(fatMagic)
	if !layout(entry) {
		entry, magic = 32, fatMagic64
		layout(entry)
	}
	hdr := make([]byte, 8+entry*int64(len(plans)))
	binary.BigEndian.PutUint32(hdr, magic)
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(plans)))
	for i, p := range plans {
		e := hdr[8+int64(i)*entry:]
		binary.BigEndian.PutUint32(e, uint32(p.s.Cpu))
		binary.BigEndian.PutUint32(e[4:], p.s.SubCpu)
		if magic == fatMagic64 {
			binary.BigEndian.PutUint64(e[8:], uint64(out[i].Offset))
			binary.BigEndian.PutUint64(e[16:], uint64(out[i].Size))
			binary.BigEndian.PutUint32(e[24:], sliceAlign(p.s))
		} else {
			binary.BigEndian.PutUint32(e[8:], uint32(out[i].Offset))
			binary.BigEndian.PutUint32(e[12:], uint32(out[i].Size))
			binary.BigEndian.PutUint32(e[16:], sliceAlign(p.s))
		}
	}
	return hdr, nil
}

// sliceAlign is the log2 alignment of a slice in a fat file: the fat_arch's,
// at least the architecture's page size.
func sliceAlign(s *Slice) uint32 {
	a := uint32(12)
	if s.PageSize() == 0x4000 {
		a = 14
	}
	return max(a, s.Align)
}

// plan decides where the signature goes and encodes the new load commands.
func (s *Slice) plan(sg Signer) (*plan, error) {
	le := s.linkedit
	if !le.present {
		return nil, formatErr(s.Offset, ErrLayout, "%s slice has no __LINKEDIT segment", s.Arch())
	}
	leEnd := int64(le.fileOff + le.fileSz)
	if leEnd != s.segEnd {
		return nil, formatErr(s.Offset+le.cmdOff, ErrLayout, "__LINKEDIT ends at %d but a segment ends at %d: it must be last", leEnd, s.segEnd)
	}
	if s.Size > leEnd {
		return nil, formatErr(s.Offset+leEnd, ErrLayout, "%d bytes after __LINKEDIT, outside every segment", s.Size-leEnd)
	}
	p := &plan{s: s, keepEnd: leEnd}
	if cs := s.codeSig; cs != nil {
		if int64(cs.dataOff) < int64(le.fileOff) || int64(cs.dataOff)+int64(cs.dataSize) > leEnd {
			return nil, formatErr(s.Offset+cs.cmdOff, ErrLayout, "LC_CODE_SIGNATURE [%d, +%d) not inside __LINKEDIT [%d, %d)", cs.dataOff, cs.dataSize, le.fileOff, leEnd)
		}
		if end := align(int64(cs.dataOff)+int64(cs.dataSize), 16); end < leEnd {
			return nil, formatErr(s.Offset+cs.cmdOff, ErrLayout, "%d bytes of __LINKEDIT after the code signature would be lost", leEnd-end)
		}
		p.keepEnd = int64(cs.dataOff)
	} else if end := s.cmdsEnd + int64(len(s.extra)); end+codeSigCmdSize > s.firstData {
		return nil, formatErr(s.Offset+end, ErrNoRoom, "LC_CODE_SIGNATURE needs %d bytes, %d left before the first section data at %d (relink with -headerpad)", codeSigCmdSize, s.firstData-end, s.firstData)
	}
	p.sigOff = align(p.keepEnd, 16)
	n, err := sg.Size(s, p.sigOff)
	if err != nil {
		return nil, fmt.Errorf("macho: %s slice: signature size: %w", s.Arch(), err)
	}
	p.sigSize = int64(n)
	if n < 0 || p.size() > math.MaxUint32 {
		return nil, formatErr(s.Offset, ErrTooLarge, "%s slice: signature of %d bytes at %d", s.Arch(), n, p.sigOff)
	}
	return p, p.encodeHeader()
}

// encodeHeader copies the header and load commands with AddLink's
// commands appended, LC_CODE_SIGNATURE added or replaced and __LINKEDIT
// grown to hold the signature.
//
// FORMAT: mach_header ncmds@16, sizeofcmds@20; linkedit_data_command
// {cmd, cmdsize=16, dataoff, datasize}; segment fields as in segmentAt.
func (p *plan) encodeHeader() error {
	s := p.s
	bo := s.ByteOrder
	csOff := s.cmdsEnd + int64(len(s.extra))
	n := csOff
	if s.codeSig == nil {
		n += codeSigCmdSize
	}
	p.hdr = make([]byte, n)
	if _, err := s.sr.ReadAt(p.hdr[:s.cmdsEnd], 0); err != nil {
		return formatErr(s.Offset, ErrTruncated, "load commands: %v", err)
	}
	copy(p.hdr[s.cmdsEnd:], s.extra)
	bo.PutUint32(p.hdr[16:], bo.Uint32(p.hdr[16:])+s.extraCount)
	bo.PutUint32(p.hdr[20:], uint32(s.cmdsEnd-s.hdrSize)+uint32(len(s.extra)))
	if s.codeSig != nil {
		csOff = s.codeSig.cmdOff
	} else {
		bo.PutUint32(p.hdr[16:], bo.Uint32(p.hdr[16:])+1)
		bo.PutUint32(p.hdr[20:], bo.Uint32(p.hdr[20:])+codeSigCmdSize)
		bo.PutUint32(p.hdr[csOff:], lcCodeSignature)
		bo.PutUint32(p.hdr[csOff+4:], codeSigCmdSize)
	}
	bo.PutUint32(p.hdr[csOff+8:], uint32(p.sigOff))
	bo.PutUint32(p.hdr[csOff+12:], uint32(p.sigSize))

	le := s.linkedit
	fileSz := uint64(p.size()) - le.fileOff
	vmSz := uint64(align(int64(fileSz), s.PageSize()))
	c := p.hdr[le.cmdOff:]
	if le.bits64 {
		bo.PutUint64(c[32:], vmSz)
		bo.PutUint64(c[48:], fileSz)
	} else {
		if le.vmAddr+vmSz > math.MaxUint32 {
			return formatErr(s.Offset+le.cmdOff, ErrTooLarge, "__LINKEDIT vmsize %d past 4 GiB", vmSz)
		}
		bo.PutUint32(c[28:], uint32(vmSz))
		bo.PutUint32(c[36:], uint32(fileSz))
	}
	return nil
}

// write emits the slice: new header, kept bytes, padding, signature.
func (p *plan) write(w io.Writer, sg Signer) error {
	code := io.NewSectionReader(&codeReader{p: p}, 0, p.sigOff)
	if _, err := io.Copy(w, code); err != nil {
		return fmt.Errorf("macho: writing %s slice: %w", p.s.Arch(), err)
	}
	blob, err := sg.Sign(p.s, io.NewSectionReader(&codeReader{p: p}, 0, p.sigOff))
	if err != nil {
		return fmt.Errorf("macho: signing %s slice: %w", p.s.Arch(), err)
	}
	if int64(len(blob)) > p.sigSize {
		return fmt.Errorf("%w: %s slice: %d bytes, %d reserved", ErrSignerSize, p.s.Arch(), len(blob), p.sigSize)
	}
	if _, err := w.Write(blob); err != nil {
		return fmt.Errorf("macho: writing %s signature: %w", p.s.Arch(), err)
	}
	return writeZeros(w, p.sigSize-int64(len(blob)))
}

// codeReader reads a slice's code as Write emits it: the new header and
// load commands, then the original bytes up to keepEnd, then zeros.
type codeReader struct{ p *plan }

// ReadAt implements io.ReaderAt over [0, sigOff).
func (c *codeReader) ReadAt(b []byte, off int64) (int, error) {
	p := c.p
	n := 0
	for n < len(b) {
		at := off + int64(n)
		switch {
		case at >= p.sigOff:
			return n, io.EOF
		case at < int64(len(p.hdr)):
			n += copy(b[n:], p.hdr[at:])
		case at < p.keepEnd:
			m, err := p.s.sr.ReadAt(b[n:min(len(b), n+int(p.keepEnd-at))], at)
			n += m
			if err != nil && err != io.EOF {
				return n, err
			}
			if m == 0 {
				return n, io.ErrUnexpectedEOF
			}
		default:
			z := b[n:min(len(b), n+int(p.sigOff-at))]
			clear(z)
			n += len(z)
		}
	}
	return n, nil
}

var zeros [32 << 10]byte

func writeZeros(w io.Writer, n int64) error {
	for n > 0 {
		k, err := w.Write(zeros[:min(n, int64(len(zeros)))])
		if err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
