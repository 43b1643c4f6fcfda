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

// Header describes a new entry given to Writer.Add or Writer.Create.
type Header struct {
	Name   string
	Method uint16 // Store or Deflate
	// MaxSize, for Create, is an upper bound of the uncompressed size when
	// the caller knows one, or 0 if it does not. Up to 4 GiB − 4 MiB it
	// lets Create write a plain local header; otherwise the local header is
	// written in ZIP64 form, sizes in its ZIP64 extra field, in case the
	// entry passes 4 GiB. Writing more than MaxSize bytes is an error. Add
	// ignores it.
	MaxSize int64
}

// smallLimit is the largest MaxSize for which Create writes a plain local
// header. Deflate grows incompressible data by 5 bytes per stored block,
// under 0.1% for the block sizes compressors use, so the compressed size
// stays below 0xffffffff too (Create's Close checks it).
const smallLimit = 0xffffffff - 0xffffffff>>10

// zip64Version is the version needed to extract an entry with ZIP64 fields
// (APPNOTE 4.4.3.2: 4.5).
const zip64Version = 45

// createLevel is Create's deflate level: klauspost/compress's level 2
// compresses a 50 MB executable as small as compress/flate's BestSpeed,
// twice as fast (see Create).
const createLevel = 2

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
	end     []byte // after Close: the records after the central directory
	cdOff   int64  // after Close: where the central directory starts
	count   int
	closed  bool
	open    *entryWriter // the entry Create returned, until it is closed
	err     error        // why an entry Create returned failed
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
	headerOff      int64
	localZip64     bool // local header in ZIP64 form (sizes in its extra field)
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

// newRecord returns the record of a new entry with the writer's timestamp.
func (w *Writer) newRecord(h Header) (*record, error) {
	rec := &record{
		name:           h.Name,
		creatorVersion: 20, // MS-DOS, spec 2.0: like Android's tools
		readerVersion:  20,
		method:         h.Method,
		modTime:        w.dosTime,
		modDate:        w.dosDate,
	}
	switch h.Method {
	case Store:
		rec.readerVersion = 10
	case Deflate:
	default:
		return nil, fmt.Errorf("zip: new entry %q: %w: method %d", h.Name, ErrUnsupportedMethod, h.Method)
	}
	return rec, nil
}

// Add writes a new entry with the given content, compressed as h.Method says
// (DEFLATE at compress/flate's BestCompression), with the writer's
// timestamp.
func (w *Writer) Add(h Header, data []byte) error {
	rec, err := w.newRecord(h)
	if err != nil {
		return err
	}
	rec.crc, rec.usize = crc32.ChecksumIEEE(data), uint64(len(data))
	payload := data
	if h.Method == Deflate {
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
	}
	rec.csize = uint64(len(payload))
	return w.write(rec, bytes.NewReader(payload), nil)
}

// write writes one entry whose compressed bytes data yields; src is the
// entry they are copied from, if any.
func (w *Writer) write(rec *record, data io.Reader, src *Entry) error {
	rec.localZip64 = rec.csize >= max32 || rec.usize >= max32
	if err := w.begin(rec); err != nil {
		return err
	}
	n, err := w.copyData(data, src, int64(rec.csize))
	w.off += n
	if err != nil {
		return fmt.Errorf("zip: write %q: %w", rec.name, err)
	}
	w.addCentral(rec)
	return nil
}

// begin checks that a new entry may be written and writes its local header.
func (w *Writer) begin(rec *record) error {
	switch {
	case w.closed:
		return fmt.Errorf("zip: write %q: writer is closed", rec.name)
	case w.open != nil:
		return fmt.Errorf("zip: write %q: entry %q is still open", rec.name, w.open.rec.name)
	case w.err != nil:
		return w.err
	}
	if why := unsafeName(rec.name); why != "" {
		return &FormatError{Offset: w.off, Entry: rec.name, Detail: why, Err: ErrUnsafeName}
	}
	if w.names[rec.name] {
		return &FormatError{Offset: w.off, Entry: rec.name, Err: ErrDuplicateName}
	}
	w.names[rec.name] = true
	w.count++
	rec.headerOff = w.off
	if rec.localZip64 || rec.headerOff >= max32 {
		rec.readerVersion = max(rec.readerVersion, zip64Version)
	}

	rec.localExtra = stripExtra(rec.localExtra, zip64ExtraID)
	if rec.localZip64 {
		rec.localExtra = append(rec.localExtra, zip64Extra(rec.usize, rec.csize)...)
	}
	if rec.method == Store {
		rec.localExtra = w.alignExtra(rec.localExtra, rec.headerOff, len(rec.name), w.alignmentFor(rec.name))
	}
	return w.put(rec.localHeader(), []byte(rec.name), rec.localExtra)
}

// localHeader returns the fixed part of rec's local header.
func (rec *record) localHeader() []byte {
	csize, usize := uint32(rec.csize), uint32(rec.usize)
	if rec.localZip64 {
		csize, usize = max32, max32
	}
	le := binary.LittleEndian
	lh := make([]byte, localHeaderLen)
	le.PutUint32(lh[0:], localHeaderSig)
	le.PutUint16(lh[4:], rec.readerVersion)
	le.PutUint16(lh[6:], rec.flags)
	le.PutUint16(lh[8:], rec.method)
	le.PutUint16(lh[10:], rec.modTime)
	le.PutUint16(lh[12:], rec.modDate)
	le.PutUint32(lh[14:], rec.crc)
	le.PutUint32(lh[18:], csize)
	le.PutUint32(lh[22:], usize)
	le.PutUint16(lh[26:], uint16(len(rec.name)))
	le.PutUint16(lh[28:], uint16(len(rec.localExtra)))
	return lh
}

// zip64Extra returns a ZIP64 extended information extra field holding vals
// (see readZip64Extra for the format).
func zip64Extra(vals ...uint64) []byte {
	f := make([]byte, 4, 4+8*len(vals))
	binary.LittleEndian.PutUint16(f, zip64ExtraID)
	binary.LittleEndian.PutUint16(f[2:], uint16(8*len(vals)))
	for _, v := range vals {
		f = binary.LittleEndian.AppendUint64(f, v)
	}
	return f
}

// addCentral appends rec's central directory header, with a ZIP64 extra
// field holding the sizes and offset that do not fit in 32 bits.
func (w *Writer) addCentral(rec *record) {
	extra := stripExtra(rec.centralExtra, zip64ExtraID)
	var wide []uint64
	csize, usize, off := uint32(rec.csize), uint32(rec.usize), uint32(rec.headerOff)
	if rec.usize >= max32 {
		wide, usize = append(wide, rec.usize), max32
	}
	if rec.csize >= max32 {
		wide, csize = append(wide, rec.csize), max32
	}
	if rec.headerOff >= max32 {
		wide, off = append(wide, uint64(rec.headerOff)), max32
	}
	if len(wide) > 0 {
		extra = append(extra, zip64Extra(wide...)...)
		rec.readerVersion = max(rec.readerVersion, zip64Version)
	}
	le := binary.LittleEndian
	var ch [centralHeaderLen]byte
	le.PutUint32(ch[0:], centralHeaderSig)
	le.PutUint16(ch[4:], rec.creatorVersion)
	le.PutUint16(ch[6:], rec.readerVersion)
	le.PutUint16(ch[8:], rec.flags)
	le.PutUint16(ch[10:], rec.method)
	le.PutUint16(ch[12:], rec.modTime)
	le.PutUint16(ch[14:], rec.modDate)
	le.PutUint32(ch[16:], rec.crc)
	le.PutUint32(ch[20:], csize)
	le.PutUint32(ch[24:], usize)
	le.PutUint16(ch[28:], uint16(len(rec.name)))
	le.PutUint16(ch[30:], uint16(len(extra)))
	le.PutUint16(ch[32:], uint16(len(rec.comment)))
	le.PutUint16(ch[36:], rec.internalAttrs)
	le.PutUint32(ch[38:], rec.externalAttrs)
	le.PutUint32(ch[42:], off)
	w.central.Write(ch[:])
	w.central.WriteString(rec.name)
	w.central.Write(extra)
	w.central.Write(rec.comment)
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
// not close the underlying writer. When the entry count reaches 0xffff or
// the central directory's offset or size 0xffffffff, a ZIP64 end record
// and locator come before the end record, whose overflowing fields are set
// to their maximum.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	if w.open != nil {
		return fmt.Errorf("zip: close: entry %q is still open", w.open.rec.name)
	}
	if w.err != nil {
		return w.err
	}
	w.closed = true
	cdOff := w.off
	cdSize := int64(w.central.Len())
	if err := w.put(w.central.Bytes()); err != nil {
		return err
	}
	count, size, off := uint16(w.count), uint32(cdSize), uint32(cdOff)
	le := binary.LittleEndian
	if w.count >= max16 || cdSize >= max32 || cdOff >= max32 {
		// FORMAT: see readZip64End.
		var rec [zip64EOCDLen + zip64LocatorLen]byte
		le.PutUint32(rec[0:], zip64EOCDSig)
		le.PutUint64(rec[4:], zip64EOCDLen-12)
		le.PutUint16(rec[12:], zip64Version)
		le.PutUint16(rec[14:], zip64Version)
		le.PutUint64(rec[24:], uint64(w.count))
		le.PutUint64(rec[32:], uint64(w.count))
		le.PutUint64(rec[40:], uint64(cdSize))
		le.PutUint64(rec[48:], uint64(cdOff))
		loc := rec[zip64EOCDLen:]
		le.PutUint32(loc[0:], zip64LocatorSig)
		le.PutUint64(loc[8:], uint64(w.off))
		le.PutUint32(loc[16:], 1)
		w.end = append(w.end, rec[:]...)
		if w.count >= max16 {
			count = max16
		}
		if cdSize >= max32 {
			size = max32
		}
		if cdOff >= max32 {
			off = max32
		}
	}
	var eocd [eocdLen]byte
	le.PutUint32(eocd[0:], eocdSig)
	le.PutUint16(eocd[8:], count)
	le.PutUint16(eocd[10:], count)
	le.PutUint32(eocd[12:], size)
	le.PutUint32(eocd[16:], off)
	w.end = append(w.end, eocd[:]...)
	if err := w.put(w.end); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("zip: write: %w", err)
	}
	w.cdOff = cdOff
	return nil
}

// CentralDirectory returns, after Close, the offset of the central directory
// and the bytes written from there: the central directory, and the end
// records (in a ZIP64 archive, the ZIP64 end record and locator, then the
// end of central directory record), as Reader.CentralDirectory and
// Reader.EOCD would find them. A signer patching the archive's tail needs
// them without reading the archive back.
func (w *Writer) CentralDirectory() (off int64, cd, end []byte) {
	return w.cdOff, w.central.Bytes(), w.end
}
