package zipx

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"time"
)

// Default alignments: stored entries on 4 bytes (mmap-able resources), stored
// native libraries on 16 KiB (the page size Android 15+ devices may use, and
// what Google Play requires of new uploads since November 2025).
const (
	DefaultAlign   = 4
	DefaultSoAlign = 16 << 10
)

// alignExtraID tags the extra field that pads a local header so the entry's
// data is aligned (the same field Android's zipalign and apksig write).
//
// FORMAT: uint16 0xD935, uint16 size, uint16 alignment, size-2 zero bytes.
const alignExtraID = 0xd935

// dosEpoch is the timestamp given to new entries when none is set: the first
// day every DOS date can express after 1980, so reproducible across zones.
var dosEpoch = time.Date(1981, 1, 1, 1, 1, 2, 0, time.UTC)

// Options control a Writer. Zero values select the defaults.
type Options struct {
	Align    int       // alignment of stored entries (DefaultAlign)
	SoAlign  int       // alignment of stored lib/**/*.so (DefaultSoAlign)
	Modified time.Time // timestamp of new entries (1981-01-01 01:01:02 UTC)
}

// Header describes a new entry given to Writer.Add.
type Header struct {
	Name   string
	Method uint16 // Store or Deflate
}

// Writer writes an archive in one streaming pass.
type Writer struct {
	bw      *bufio.Writer
	dst     io.Writer
	off     int64
	opts    Options
	dosTime uint16
	dosDate uint16
	names   map[string]bool
	central bytes.Buffer
	count   int
	closed  bool
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer, opts Options) *Writer {
	if opts.Align <= 0 {
		opts.Align = DefaultAlign
	}
	if opts.SoAlign <= 0 {
		opts.SoAlign = DefaultSoAlign
	}
	if opts.Modified.IsZero() {
		opts.Modified = dosEpoch
	}
	t, d := DOSTime(opts.Modified)
	return &Writer{
		bw:      bufio.NewWriterSize(w, 256<<10),
		dst:     w,
		opts:    opts,
		dosTime: t,
		dosDate: d,
		names:   make(map[string]bool),
	}
}

// DOSTime converts t to MS-DOS time and date fields, in UTC, clamped to the
// range the format can express (1980–2107).
func DOSTime(t time.Time) (dosTime, dosDate uint16) {
	t = t.UTC()
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	} else if t.Year() > 2107 {
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	dosTime = uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
	dosDate = uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	return dosTime, dosDate
}

// Offset returns the number of bytes written so far.
func (w *Writer) Offset() int64 { return w.off }

// record describes one entry for both headers.
type record struct {
	name           string
	creatorVersion uint16
	readerVersion  uint16
	flags          uint16
	method         uint16
	modTime        uint16
	modDate        uint16
	crc            uint32
	csize, usize   uint64
	localExtra     []byte
	centralExtra   []byte
	comment        []byte
	internalAttrs  uint16
	externalAttrs  uint32
}

// Copy writes e, read from its archive, with its compressed bytes unchanged.
// A data descriptor is folded into the local header; a stored entry is
// re-aligned. Both headers get the central directory's method, except that
// a method other than STORED or DEFLATE (WarnMethodAsDeflate) is written as
// DEFLATE: apksig reads the data as DEFLATE, and writing 8 lets every other
// Android reader (libziparchive, the resource loader, aapt, zipalign) read
// it the same way.
func (w *Writer) Copy(e *Entry) error {
	method, readerVersion := e.Method, e.ReaderVersion
	if !e.Stored() && method != Deflate {
		method, readerVersion = Deflate, 20
	}
	rec := &record{
		name:           e.Name,
		creatorVersion: e.CreatorVersion,
		readerVersion:  readerVersion,
		flags:          e.Flags &^ flagDataDescriptor,
		method:         method,
		modTime:        e.ModTime,
		modDate:        e.ModDate,
		crc:            e.CRC32,
		csize:          e.CompressedSize,
		usize:          e.UncompressedSize,
		localExtra:     e.LocalExtra,
		centralExtra:   e.Extra,
		comment:        e.Comment,
		internalAttrs:  e.InternalAttrs,
		externalAttrs:  e.ExternalAttrs,
	}
	return w.write(rec, e.OpenRaw(), e)
}

// Add writes a new entry with the given content, compressed as h.Method says,
// with the writer's timestamp.
func (w *Writer) Add(h Header, data []byte) error {
	rec := &record{
		name:           h.Name,
		creatorVersion: 20, // MS-DOS, spec 2.0: like Android's tools
		readerVersion:  20,
		method:         h.Method,
		modTime:        w.dosTime,
		modDate:        w.dosDate,
		crc:            crc32.ChecksumIEEE(data),
		usize:          uint64(len(data)),
	}
	payload := data
	switch h.Method {
	case Store:
		rec.readerVersion = 10
	case Deflate:
		var buf bytes.Buffer
		fw, err := flate.NewWriter(&buf, flate.BestCompression)
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
		if err := fw.Close(); err != nil {
			return err
		}
		payload = buf.Bytes()
	default:
		return fmt.Errorf("zip: add %q: %w: method %d", h.Name, ErrUnsupportedMethod, h.Method)
	}
	rec.csize = uint64(len(payload))
	return w.write(rec, bytes.NewReader(payload), nil)
}

// write writes one entry whose compressed bytes data yields; src is the
// entry they are copied from, if any.
func (w *Writer) write(rec *record, data io.Reader, src *Entry) error {
	if w.closed {
		return fmt.Errorf("zip: write %q: writer is closed", rec.name)
	}
	if why := unsafeName(rec.name); why != "" {
		return &FormatError{Offset: w.off, Entry: rec.name, Detail: why, Err: ErrUnsafeName}
	}
	if w.names[rec.name] {
		return &FormatError{Offset: w.off, Entry: rec.name, Err: ErrDuplicateName}
	}
	if w.off > 0xfffffffe || rec.csize > 0xfffffffe || rec.usize > 0xfffffffe || w.count == 0xfffe {
		return &FormatError{Offset: w.off, Entry: rec.name, Err: ErrZip64}
	}
	w.names[rec.name] = true
	w.count++
	headerOff := w.off

	if rec.method == Store {
		rec.localExtra = w.alignExtra(rec.localExtra, headerOff, len(rec.name), w.alignmentFor(rec.name))
	}

	le := binary.LittleEndian
	var lh [localHeaderLen]byte
	le.PutUint32(lh[0:], localHeaderSig)
	le.PutUint16(lh[4:], rec.readerVersion)
	le.PutUint16(lh[6:], rec.flags)
	le.PutUint16(lh[8:], rec.method)
	le.PutUint16(lh[10:], rec.modTime)
	le.PutUint16(lh[12:], rec.modDate)
	le.PutUint32(lh[14:], rec.crc)
	le.PutUint32(lh[18:], uint32(rec.csize))
	le.PutUint32(lh[22:], uint32(rec.usize))
	le.PutUint16(lh[26:], uint16(len(rec.name)))
	le.PutUint16(lh[28:], uint16(len(rec.localExtra)))
	if err := w.put(lh[:], []byte(rec.name), rec.localExtra); err != nil {
		return err
	}
	n, err := w.copyData(data, src, int64(rec.csize))
	w.off += n
	if err != nil {
		return fmt.Errorf("zip: write %q: %w", rec.name, err)
	}

	var ch [centralHeaderLen]byte
	le.PutUint32(ch[0:], centralHeaderSig)
	le.PutUint16(ch[4:], rec.creatorVersion)
	le.PutUint16(ch[6:], rec.readerVersion)
	le.PutUint16(ch[8:], rec.flags)
	le.PutUint16(ch[10:], rec.method)
	le.PutUint16(ch[12:], rec.modTime)
	le.PutUint16(ch[14:], rec.modDate)
	le.PutUint32(ch[16:], rec.crc)
	le.PutUint32(ch[20:], uint32(rec.csize))
	le.PutUint32(ch[24:], uint32(rec.usize))
	le.PutUint16(ch[28:], uint16(len(rec.name)))
	le.PutUint16(ch[30:], uint16(len(rec.centralExtra)))
	le.PutUint16(ch[32:], uint16(len(rec.comment)))
	le.PutUint16(ch[36:], rec.internalAttrs)
	le.PutUint32(ch[38:], rec.externalAttrs)
	le.PutUint32(ch[42:], uint32(headerOff))
	w.central.Write(ch[:])
	w.central.WriteString(rec.name)
	w.central.Write(rec.centralExtra)
	w.central.Write(rec.comment)
	return nil
}

// copyData copies size bytes of data to the output. A large entry copied
// from a file into a file goes through the destination's ReadFrom, which on
// Linux is copy_file_range: the kernel moves the bytes without a trip
// through user space.
func (w *Writer) copyData(data io.Reader, src *Entry, size int64) (int64, error) {
	rf, ok := w.dst.(io.ReaderFrom)
	f, isFile := (*os.File)(nil), false
	if src != nil {
		f, isFile = src.ra.(*os.File)
	}
	if !ok || !isFile || size < 1<<20 {
		return io.CopyN(w.bw, data, size)
	}
	if err := w.bw.Flush(); err != nil {
		return 0, err
	}
	// ReadAt users of f do not depend on its offset, so moving it is safe.
	if _, err := f.Seek(src.DataOffset, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := rf.ReadFrom(io.LimitReader(f, size))
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (w *Writer) put(parts ...[]byte) error {
	for _, p := range parts {
		n, err := w.bw.Write(p)
		w.off += int64(n)
		if err != nil {
			return fmt.Errorf("zip: write: %w", err)
		}
	}
	return nil
}

func (w *Writer) alignmentFor(name string) int {
	if strings.HasPrefix(name, "lib/") && strings.HasSuffix(name, ".so") {
		return w.opts.SoAlign
	}
	return w.opts.Align
}

// alignExtra returns extra without any previous alignment field, plus a new
// one sized so the data of an entry whose local header starts at headerOff
// begins on a multiple of align.
func (w *Writer) alignExtra(extra []byte, headerOff int64, nameLen, align int) []byte {
	kept := stripExtra(extra, alignExtraID)
	dataOff := headerOff + localHeaderLen + int64(nameLen) + int64(len(kept))
	pad := int((int64(align) - dataOff%int64(align)) % int64(align))
	if pad == 0 {
		return kept
	}
	for pad < 6 { // the field needs 6 bytes: id, size, alignment
		pad += align
	}
	field := make([]byte, pad)
	binary.LittleEndian.PutUint16(field[0:], alignExtraID)
	binary.LittleEndian.PutUint16(field[2:], uint16(pad-4))
	binary.LittleEndian.PutUint16(field[4:], uint16(align))
	return append(kept, field...)
}

// stripExtra removes every field with the given id. Extra data that is not a
// well-formed sequence of fields is kept as it is.
func stripExtra(extra []byte, id uint16) []byte {
	out := make([]byte, 0, len(extra))
	rest := extra
	for len(rest) >= 4 {
		tag, n := binary.LittleEndian.Uint16(rest), int(binary.LittleEndian.Uint16(rest[2:]))
		if 4+n > len(rest) {
			break
		}
		if tag != id {
			out = append(out, rest[:4+n]...)
		}
		rest = rest[4+n:]
	}
	return append(out, rest...)
}

// Close writes the central directory and the end record, and flushes. It does
// not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	cdOff := w.off
	cdSize := int64(w.central.Len())
	if cdOff+cdSize > 0xfffffffe {
		return &FormatError{Offset: cdOff, Err: ErrZip64}
	}
	le := binary.LittleEndian
	var eocd [eocdLen]byte
	le.PutUint32(eocd[0:], eocdSig)
	le.PutUint16(eocd[8:], uint16(w.count))
	le.PutUint16(eocd[10:], uint16(w.count))
	le.PutUint32(eocd[12:], uint32(cdSize))
	le.PutUint32(eocd[16:], uint32(cdOff))
	if err := w.put(w.central.Bytes(), eocd[:]); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("zip: write: %w", err)
	}
	return nil
}
