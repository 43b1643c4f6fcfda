// Package zipx reads and writes APK-shaped ZIP archives strictly and without
// recompression.
//
// The reader parses the end of central directory record and the central
// directory, cross-checks every local header, and rejects the archive tricks
// that have been used against Android (duplicate names as in Janus, path
// traversal, local/central name mismatch, overlapping entries, lying sizes,
// data after the end record). It locates the APK Signing Block that sits
// between the last entry and the central directory.
//
// Android is the reference both ways: what it accepts is read, with a
// Warning carrying a stable code; what it refuses is refused.
//   - Bytes between entries: Android reads each entry at its central
//     directory offset and never walks the gaps, and the v2+ digests cover
//     them, so a gap is accepted. A zero-filled one is reported as
//     WarnZeroGap (except apksig's own < 4096-byte padding before the
//     signing block); any other as WarnHiddenData, which CheckNoHiddenData
//     turns into an error for callers that rewrite and sign the archive.
//     Nameless "virtual entries" (zipflinger padding) are entries, not gaps.
//   - Bytes before the first entry: refused, as Android's libziparchive
//     refuses an archive that does not start with a local file header.
//   - Compression method: the central directory's wins; a different local
//     method is WarnLocalMethod (neither apksig nor libziparchive reads it).
//     A central method other than STORED or DEFLATE is read as DEFLATE, as
//     apksig does, with WarnMethodAsDeflate; Writer.Copy writes it as
//     DEFLATE.
//   - A NUL byte in a name is refused, as libziparchive refuses it.
//   - A stored entry whose compressed and uncompressed sizes differ is
//     refused although Android accepts it: Android takes the uncompressed
//     size as its length, most ZIP tools the compressed one, so readers
//     would disagree on its content.
//
// The writer copies unchanged entries raw (compressed bytes untouched), adds
// new entries stored or deflated, aligns stored entries (4 bytes, 16 KiB for
// native libraries) with 0xD935 extra-field padding, and streams: memory use
// depends on the number of entries, not on their size.
//
// ZIP64: NewReader and Open refuse it (ErrZip64), because Android does not
// read ZIP64 APKs: its APK signature verifier and apksig stop at the ZIP64
// locator ("ZIP64 APK not supported"). NewReaderZip64 and OpenZip64 read it
// (the ZIP64 end record and locator, and the ZIP64 extended information
// extra field in central and local headers) with every other check
// unchanged, for archives that are not APKs, such as iOS .ipa files over
// 4 GiB. The writer switches to ZIP64 by itself when an offset, a size or
// the entry count needs it, so archives that do not need it are written as
// before.
package zipx

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
)

// FORMAT: ZIP application note (PKWARE APPNOTE.TXT 6.3.x), little endian.
//
//	local file header       central directory header      end of central directory
//	0  sig 0x04034b50       0  sig 0x02014b50             0  sig 0x06054b50
//	4  version needed       4  version made by            4  this disk
//	6  flags                6  version needed             6  disk with central directory
//	8  method               8  flags                      8  entries on this disk
//	10 mod time             10 method                     10 total entries
//	12 mod date             12 mod time                   12 central directory size
//	14 crc-32               14 mod date                   16 central directory offset
//	18 compressed size      16 crc-32                     20 comment length
//	22 uncompressed size    20 compressed size            22 comment
//	26 name length          24 uncompressed size
//	28 extra length         28 name length
//	30 name, extra, data    30 extra length
//	                        32 comment length
//	                        34 disk number start
//	                        36 internal attributes
//	                        38 external attributes
//	                        42 local header offset
//	                        46 name, extra, comment
const (
	localHeaderSig   = 0x04034b50
	centralHeaderSig = 0x02014b50
	eocdSig          = 0x06054b50
	zip64EOCDSig     = 0x06064b50
	zip64LocatorSig  = 0x07064b50
	dataDescSig      = 0x08074b50

	localHeaderLen   = 30
	centralHeaderLen = 46
	eocdLen          = 22
	zip64EOCDLen     = 56
	zip64LocatorLen  = 20
	maxCommentLen    = 0xffff

	// A 32-bit size or offset, or a 16-bit count, at its maximum says the
	// value is in a ZIP64 record.
	max32 = 0xffffffff
	max16 = 0xffff

	flagEncrypted      = 0x0001
	flagDataDescriptor = 0x0008

	zip64ExtraID = 0x0001
)

// Compression methods this package reads and writes.
const (
	Store   uint16 = 0
	Deflate uint16 = 8
)

// maxRatio is the largest uncompressed/compressed ratio accepted for a
// deflated entry. DEFLATE cannot exceed about 1032:1, so a larger declared
// ratio is either a lie or a bomb.
const maxRatio = 1032

// maxCentralDirectory caps the memory read for the central directory.
const maxCentralDirectory = 64 << 20

// APK Signing Block magic, the last 16 bytes of the block.
const sigBlockMagic = "APK Sig Block 42"

// Span is a byte range [Offset, Offset+Size) of the archive.
type Span struct {
	Offset int64
	Size   int64
}

// End returns Offset+Size.
func (s Span) End() int64 { return s.Offset + s.Size }

// Warning codes: stable identifiers of archive oddities Android accepts.
// Programs match the code; the message is for people. docs/inspect.md lists
// them.
const (
	// WarnZeroGap: zero bytes between entries (or before the signing
	// block) that no entry accounts for.
	WarnZeroGap = "ZIP_ZERO_GAP"
	// WarnHiddenData: non-zero bytes that no entry accounts for.
	WarnHiddenData = "ZIP_HIDDEN_DATA"
	// WarnLocalMethod: the local header's compression method differs from
	// the central directory's, which is the one used.
	WarnLocalMethod = "ZIP_LOCAL_METHOD_MISMATCH"
	// WarnMethodAsDeflate: a central directory method other than STORED
	// (0) or DEFLATE (8), read as DEFLATE.
	WarnMethodAsDeflate = "ZIP_METHOD_READ_AS_DEFLATE"
)

// Warning is an oddity of an archive that Android accepts: the archive is
// read, and the warning says what was unusual and where.
type Warning struct {
	Code    string `json:"code"`
	Offset  int64  `json:"offset"`
	Entry   string `json:"entry,omitempty"`
	Message string `json:"message"`
}

func (w Warning) String() string {
	if w.Entry != "" {
		return fmt.Sprintf("%q: %s (at offset %d)", w.Entry, w.Message, w.Offset)
	}
	return fmt.Sprintf("%s (at offset %d)", w.Message, w.Offset)
}

// Entry is one archive member as described by the central directory and
// confirmed by its local header.
type Entry struct {
	Name             string
	CreatorVersion   uint16
	ReaderVersion    uint16
	Flags            uint16
	Method           uint16
	ModTime          uint16 // MS-DOS time
	ModDate          uint16 // MS-DOS date
	CRC32            uint32
	CompressedSize   uint64
	UncompressedSize uint64
	InternalAttrs    uint16
	ExternalAttrs    uint32
	Extra            []byte // central directory extra field
	LocalExtra       []byte // local header extra field
	Comment          []byte

	HeaderOffset int64 // offset of the local file header
	DataOffset   int64 // offset of the (compressed) data
	end          int64 // end of data and data descriptor
	ra           io.ReaderAt
}

// Stored reports whether the entry is stored uncompressed. Every other
// method is read as DEFLATE, as apksig does.
func (e *Entry) Stored() bool { return e.Method == Store }

// IsDir reports whether the entry names a directory.
func (e *Entry) IsDir() bool { return strings.HasSuffix(e.Name, "/") }

// Span returns the byte range of the entry: local header, data and data
// descriptor.
func (e *Entry) Span() Span { return Span{e.HeaderOffset, e.end - e.HeaderOffset} }

// OpenRaw returns the entry's compressed bytes exactly as stored.
func (e *Entry) OpenRaw() *io.SectionReader {
	return io.NewSectionReader(e.ra, e.DataOffset, int64(e.CompressedSize))
}

// Open returns the entry's uncompressed content. The reader fails with
// ErrSizeMismatch or ErrChecksum at the end if the data does not match the
// central directory.
func (e *Entry) Open() io.ReadCloser {
	raw := e.OpenRaw()
	var rc io.ReadCloser
	if e.Stored() {
		rc = io.NopCloser(raw)
	} else {
		// klauspost's inflater (the library Create deflates with) is
		// about 1.6× compress/flate's: it reads a *bufio.Reader without
		// an interface call per byte. A large buffer keeps reads to one
		// pread per 64 KiB instead of per 4 KiB.
		rc = flate.NewReader(bufio.NewReaderSize(raw, min(64<<10, int(e.CompressedSize)+16)))
	}
	return &checkedReader{e: e, rc: rc, crc: crc32.NewIEEE()}
}

// ReadAll returns the entry's uncompressed content, refusing entries larger
// than limit bytes.
func (e *Entry) ReadAll(limit int64) ([]byte, error) {
	if e.UncompressedSize > uint64(limit) {
		return nil, fmt.Errorf("zip: entry %q is %d bytes, over the %d byte limit: %w",
			e.Name, e.UncompressedSize, limit, ErrBomb)
	}
	rc := e.Open()
	defer rc.Close()
	buf := make([]byte, 0, e.UncompressedSize)
	w := bytes.NewBuffer(buf)
	if _, err := io.Copy(w, rc); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

type checkedReader struct {
	e   *Entry
	rc  io.ReadCloser
	crc interface {
		io.Writer
		Sum32() uint32
	}
	n   uint64
	err error
}

func (r *checkedReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.rc.Read(p)
	r.n += uint64(n)
	r.crc.Write(p[:n])
	if r.n > r.e.UncompressedSize {
		r.err = formatErr(r.e.DataOffset, r.e.Name, ErrSizeMismatch, "more than the declared %d bytes", r.e.UncompressedSize)
		return n, r.err
	}
	if err == io.EOF {
		r.finish()
		return n, r.err
	}
	if err != nil {
		r.err = fmt.Errorf("zip: %s: %w", r.e.Name, err)
		return n, r.err
	}
	return n, nil
}

// WriteTo hands the inflater's output straight to w when it can (klauspost's
// decompressor is an io.WriterTo: no copy through a caller's buffer, about
// 6 % of inflating and hashing an entry), with Read's checks.
func (r *checkedReader) WriteTo(w io.Writer) (int64, error) {
	wt, ok := r.rc.(io.WriterTo)
	if !ok || r.err != nil || r.n != 0 {
		return io.Copy(w, struct{ io.Reader }{r}) // Read, not WriteTo again
	}
	cw := &checkedWriter{r: r, w: w}
	_, err := wt.WriteTo(cw)
	switch {
	case r.err != nil: // too many bytes, or w failed
	case err != nil:
		r.err = fmt.Errorf("zip: %s: %w", r.e.Name, err)
	default:
		r.finish()
	}
	if r.err == io.EOF {
		return cw.written, nil
	}
	return cw.written, r.err
}

// finish checks the entry's size and CRC-32 once its data has ended: r.err
// becomes io.EOF when both match, the mismatch otherwise.
func (r *checkedReader) finish() {
	switch {
	case r.n != r.e.UncompressedSize:
		r.err = formatErr(r.e.DataOffset, r.e.Name, ErrSizeMismatch, "%d bytes, central directory says %d", r.n, r.e.UncompressedSize)
	case r.crc.Sum32() != r.e.CRC32:
		r.err = formatErr(r.e.DataOffset, r.e.Name, ErrChecksum, "")
	default:
		r.err = io.EOF
	}
}

// checkedWriter passes a checkedReader's content to w, counting it and
// updating its CRC-32; it fails once the content exceeds the declared size.
type checkedWriter struct {
	r       *checkedReader
	w       io.Writer
	written int64
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	r := c.r
	if r.n+uint64(len(p)) > r.e.UncompressedSize {
		r.err = formatErr(r.e.DataOffset, r.e.Name, ErrSizeMismatch, "more than the declared %d bytes", r.e.UncompressedSize)
		return 0, r.err
	}
	n, err := c.w.Write(p)
	r.n += uint64(n)
	c.written += int64(n)
	r.crc.Write(p[:n])
	if err != nil {
		r.err = err
	}
	return n, err
}

func (r *checkedReader) Close() error { return r.rc.Close() }

// Reader is a parsed archive.
type Reader struct {
	ra      io.ReaderAt
	size    int64
	Entries []*Entry // in central directory order
	Comment []byte
	// Warnings lists what Android accepts but is unusual: those of the
	// entries in central directory order, then the gaps in file order.
	Warnings []Warning

	zip64    bool // read ZIP64 records instead of refusing them
	byName   map[string]*Entry
	cd       Span
	eocd     Span
	sigBlock Span   // Size 0 if absent
	hidden   []Span // gaps holding non-zero bytes

	sumOnce sync.Once // FileSHA256, computed once
	sum     string
	sumErr  error
}

// NewReader parses the archive of the given size read from r. It refuses
// ZIP64 archives (ErrZip64), as Android refuses ZIP64 APKs.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	return newReader(r, size, false)
}

// NewReaderZip64 is NewReader for archives that are not APKs: it also reads
// ZIP64 archives, with the same checks.
func NewReaderZip64(r io.ReaderAt, size int64) (*Reader, error) {
	return newReader(r, size, true)
}

func newReader(r io.ReaderAt, size int64, zip64 bool) (*Reader, error) {
	z := &Reader{ra: r, size: size, zip64: zip64}
	if err := z.readEOCD(); err != nil {
		return nil, err
	}
	if err := z.readCentralDirectory(); err != nil {
		return nil, err
	}
	if err := z.findSigningBlock(); err != nil {
		return nil, err
	}
	if err := z.checkLayout(); err != nil {
		return nil, err
	}
	return z, nil
}

// File is a Reader over an open file.
type File struct {
	*Reader
	f *os.File
}

// Open opens and parses the archive at path. It refuses ZIP64 archives
// (ErrZip64), as Android refuses ZIP64 APKs.
func Open(path string) (*File, error) { return open(path, false) }

// OpenZip64 is Open for archives that are not APKs: it also reads ZIP64
// archives, with the same checks.
func OpenZip64(path string) (*File, error) { return open(path, true) }

func open(path string, zip64 bool) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("zip: %s is not a regular file", path)
	}
	r, err := newReader(f, st.Size(), zip64)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{Reader: r, f: f}, nil
}

// Close closes the underlying file.
func (f *File) Close() error { return f.f.Close() }

// Size returns the archive size in bytes.
func (z *Reader) Size() int64 { return z.size }

// ReaderAt returns the reader the archive is read from.
func (z *Reader) ReaderAt() io.ReaderAt { return z.ra }

// CentralDirectory returns the byte range of the central directory.
func (z *Reader) CentralDirectory() Span { return z.cd }

// EOCD returns the byte range of the end of central directory record,
// including the archive comment and, in a ZIP64 archive, the ZIP64 end
// record and locator before it.
func (z *Reader) EOCD() Span { return z.eocd }

// SigningBlock returns the byte range of the APK Signing Block and true, or
// false if the archive has none.
func (z *Reader) SigningBlock() (Span, bool) { return z.sigBlock, z.sigBlock.Size > 0 }

// EntriesEnd returns the offset where the entries end: the start of the APK
// Signing Block if present, else of the central directory.
func (z *Reader) EntriesEnd() int64 {
	if z.sigBlock.Size > 0 {
		return z.sigBlock.Offset
	}
	return z.cd.Offset
}

// Entry returns the entry with the given name, or nil.
func (z *Reader) Entry(name string) *Entry { return z.byName[name] }

func (z *Reader) readAt(p []byte, off int64, what string) error {
	if off < 0 || off+int64(len(p)) > z.size {
		return formatErr(off, "", ErrTruncated, "%s runs past the end of the file", what)
	}
	n, err := z.ra.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == io.EOF || err == nil {
		return formatErr(off, "", ErrTruncated, "%s", what)
	}
	return fmt.Errorf("zip: reading %s at offset %d: %w", what, off, err)
}

func (z *Reader) readEOCD() error {
	if z.size < eocdLen {
		return formatErr(0, "", ErrNotZip, "file is %d bytes", z.size)
	}
	tailLen := int64(eocdLen + maxCommentLen)
	if tailLen > z.size {
		tailLen = z.size
	}
	tail := make([]byte, tailLen)
	base := z.size - tailLen
	if err := z.readAt(tail, base, "end of central directory"); err != nil {
		return err
	}
	// The record is the last signature whose comment length reaches the end
	// of the file. A second such signature further back means one record
	// hides inside the other's comment: readers could disagree, so refuse.
	found, sawSig := -1, false
	for i := len(tail) - eocdLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(tail[i:]) != eocdSig {
			continue
		}
		sawSig = true
		clen := int(binary.LittleEndian.Uint16(tail[i+20:]))
		if i+eocdLen+clen != len(tail) {
			continue
		}
		if found >= 0 {
			return formatErr(base+int64(i), "", ErrComment, "")
		}
		found = i
	}
	if found < 0 {
		if sawSig {
			return formatErr(base, "", ErrTrailingData, "no end of central directory record whose comment reaches the end of the file")
		}
		return formatErr(0, "", ErrNotZip, "")
	}
	rec := tail[found:]
	off := base + int64(found)
	comment := rec[eocdLen:]
	if bytes.Contains(comment, []byte{'P', 'K', 5, 6}) {
		return formatErr(off, "", ErrComment, "")
	}
	le := binary.LittleEndian
	end := endRecord{
		disk: uint32(le.Uint16(rec[4:])), cdDisk: uint32(le.Uint16(rec[6:])),
		onDisk: uint64(le.Uint16(rec[8:])), total: uint64(le.Uint16(rec[10:])),
		cdSize: uint64(le.Uint32(rec[12:])), cdOff: uint64(le.Uint32(rec[16:])),
	}
	start := off // of the end records: the central directory ends there
	hasLocator := false
	if off >= zip64LocatorLen {
		var loc [4]byte
		if err := z.readAt(loc[:], off-zip64LocatorLen, "ZIP64 locator"); err != nil {
			return err
		}
		hasLocator = le.Uint32(loc[:]) == zip64LocatorSig
	}
	switch {
	case hasLocator && !z.zip64:
		return formatErr(off-zip64LocatorLen, "", ErrZip64, "ZIP64 end of central directory locator")
	case hasLocator:
		var err error
		if start, err = z.readZip64End(off-zip64LocatorLen, &end); err != nil {
			return err
		}
	case !z.zip64 && (end.total == max16 || end.onDisk == max16 || end.cdSize == max32 || end.cdOff == max32):
		// Without a locator these are plain values in a ZIP64 reader.
		return formatErr(off, "", ErrZip64, "end record fields at their maximum")
	}
	if end.disk != 0 || end.cdDisk != 0 || end.onDisk != end.total {
		return formatErr(off, "", ErrMultiDisk, "disk %d, central directory on disk %d, %d of %d entries on this disk",
			end.disk, end.cdDisk, end.onDisk, end.total)
	}
	if end.cdOff > uint64(start) || end.cdSize != uint64(start)-end.cdOff {
		return formatErr(off, "", ErrCentralDirectory,
			"central directory [%d, +%d) does not end where the end record starts (%d)", end.cdOff, end.cdSize, start)
	}
	if end.cdSize > maxCentralDirectory {
		return formatErr(off, "", ErrCentralDirectory, "central directory of %d bytes is over the %d byte limit", end.cdSize, maxCentralDirectory)
	}
	if end.total > end.cdSize/centralHeaderLen {
		return formatErr(off, "", ErrCentralDirectory, "%d entries cannot fit in %d bytes", end.total, end.cdSize)
	}
	z.cd = Span{int64(end.cdOff), int64(end.cdSize)}
	z.eocd = Span{start, z.size - start}
	z.Comment = append([]byte(nil), comment...)
	z.Entries = make([]*Entry, 0, end.total)
	return nil
}

// endRecord holds the end of central directory fields, widened to their
// ZIP64 sizes.
type endRecord struct {
	disk, cdDisk  uint32
	onDisk, total uint64
	cdSize, cdOff uint64
}

// readZip64End reads the ZIP64 locator at locOff and the ZIP64 end record
// it points at, replaces the fields of end that are at their maximum with
// the record's, and returns the record's offset. The record must sit right
// before the locator, and the end record's other fields must agree with it.
//
// FORMAT: ZIP64 end of central directory record and locator (APPNOTE
// 4.3.14, 4.3.15), little endian, between the central directory and the end
// of central directory record:
//
//	ZIP64 end record                      ZIP64 locator
//	0  sig 0x06064b50                     0  sig 0x07064b50
//	4  uint64 record size - 12 (44)       4  disk with the ZIP64 end record
//	12 version made by                    8  uint64 ZIP64 end record offset
//	14 version needed                     16 total number of disks
//	16 uint32 this disk
//	20 uint32 disk with central directory
//	24 uint64 entries on this disk
//	32 uint64 total entries
//	40 uint64 central directory size
//	48 uint64 central directory offset
//	56 extensible data sector (refused: no writer of ours or others uses it)
func (z *Reader) readZip64End(locOff int64, end *endRecord) (int64, error) {
	le := binary.LittleEndian
	var loc [zip64LocatorLen]byte
	if err := z.readAt(loc[:], locOff, "ZIP64 locator"); err != nil {
		return 0, err
	}
	if le.Uint32(loc[4:]) != 0 || le.Uint32(loc[16:]) > 1 {
		return 0, formatErr(locOff, "", ErrMultiDisk, "ZIP64 locator: record on disk %d of %d", le.Uint32(loc[4:]), le.Uint32(loc[16:]))
	}
	recOff := le.Uint64(loc[8:])
	if recOff > uint64(locOff) || uint64(locOff)-recOff < zip64EOCDLen {
		return 0, formatErr(locOff, "", ErrZip64Format,
			"locator points at offset %d, which leaves no room for the %d-byte ZIP64 end record before the locator", recOff, zip64EOCDLen)
	}
	var rec [zip64EOCDLen]byte
	if err := z.readAt(rec[:], int64(recOff), "ZIP64 end record"); err != nil {
		return 0, err
	}
	if le.Uint32(rec[:]) != zip64EOCDSig {
		return 0, formatErr(int64(recOff), "", ErrZip64Format, "no ZIP64 end record signature where the locator points")
	}
	if n := le.Uint64(rec[4:]); n != zip64EOCDLen-12 {
		return 0, formatErr(int64(recOff), "", ErrZip64Format,
			"record size %d, want %d (extensible data sectors are not supported)", n, zip64EOCDLen-12)
	}
	if gap := uint64(locOff) - recOff - zip64EOCDLen; gap != 0 {
		return 0, formatErr(int64(recOff)+zip64EOCDLen, "", ErrZip64Format, "%d bytes between the ZIP64 end record and its locator", gap)
	}
	wide := endRecord{
		disk: le.Uint32(rec[16:]), cdDisk: le.Uint32(rec[20:]),
		onDisk: le.Uint64(rec[24:]), total: le.Uint64(rec[32:]),
		cdSize: le.Uint64(rec[40:]), cdOff: le.Uint64(rec[48:]),
	}
	for _, f := range []struct {
		what       string
		short, max uint64
		dst        *uint64
		wide       uint64
	}{
		{"entries on this disk", end.onDisk, max16, &end.onDisk, wide.onDisk},
		{"total entries", end.total, max16, &end.total, wide.total},
		{"central directory size", end.cdSize, max32, &end.cdSize, wide.cdSize},
		{"central directory offset", end.cdOff, max32, &end.cdOff, wide.cdOff},
		{"disk number", uint64(end.disk), max16, nil, uint64(wide.disk)},
		{"central directory disk", uint64(end.cdDisk), max16, nil, uint64(wide.cdDisk)},
	} {
		if f.short != f.max && f.short != f.wide {
			return 0, formatErr(int64(recOff), "", ErrZip64Format,
				"%s: end record says %d, ZIP64 end record %d", f.what, f.short, f.wide)
		}
		if f.dst != nil {
			*f.dst = f.wide
		}
	}
	end.disk, end.cdDisk = wide.disk, wide.cdDisk
	return int64(recOff), nil
}

func (z *Reader) readCentralDirectory() error {
	le := binary.LittleEndian
	cd := make([]byte, z.cd.Size)
	if err := z.readAt(cd, z.cd.Offset, "central directory"); err != nil {
		return err
	}
	want := cap(z.Entries)
	z.byName = make(map[string]*Entry, want)
	p := 0
	for len(z.Entries) < want {
		off := z.cd.Offset + int64(p)
		if len(cd)-p < centralHeaderLen || le.Uint32(cd[p:]) != centralHeaderSig {
			return formatErr(off, "", ErrCentralDirectory, "entry %d: no central directory header", len(z.Entries))
		}
		h := cd[p:]
		nameLen, extraLen, commentLen := int(le.Uint16(h[28:])), int(le.Uint16(h[30:])), int(le.Uint16(h[32:]))
		recLen := centralHeaderLen + nameLen + extraLen + commentLen
		if len(cd)-p < recLen {
			return formatErr(off, "", ErrCentralDirectory, "entry %d runs past the central directory", len(z.Entries))
		}
		e := &Entry{
			CreatorVersion:   le.Uint16(h[4:]),
			ReaderVersion:    le.Uint16(h[6:]),
			Flags:            le.Uint16(h[8:]),
			Method:           le.Uint16(h[10:]),
			ModTime:          le.Uint16(h[12:]),
			ModDate:          le.Uint16(h[14:]),
			CRC32:            le.Uint32(h[16:]),
			CompressedSize:   uint64(le.Uint32(h[20:])),
			UncompressedSize: uint64(le.Uint32(h[24:])),
			InternalAttrs:    le.Uint16(h[36:]),
			ExternalAttrs:    le.Uint32(h[38:]),
			HeaderOffset:     int64(le.Uint32(h[42:])),
			ra:               z.ra,
		}
		e.Name = string(h[centralHeaderLen : centralHeaderLen+nameLen])
		e.Extra = append([]byte(nil), h[centralHeaderLen+nameLen:centralHeaderLen+nameLen+extraLen]...)
		e.Comment = append([]byte(nil), h[centralHeaderLen+nameLen+extraLen:recLen]...)
		if err := z.checkEntry(e, off, le.Uint16(h[34:])); err != nil {
			return err
		}
		z.byName[e.Name] = e
		z.Entries = append(z.Entries, e)
		p += recLen
	}
	if p != len(cd) {
		return formatErr(z.cd.Offset+int64(p), "", ErrCentralDirectory,
			"%d unaccounted bytes after %d entries", len(cd)-p, want)
	}
	return nil
}

// checkEntry validates the central record of e (found at off) and its local
// header, and fills in DataOffset, end and LocalExtra.
func (z *Reader) checkEntry(e *Entry, off int64, diskStart uint16) error {
	if _, dup := z.byName[e.Name]; dup {
		return formatErr(off, e.Name, ErrDuplicateName, "")
	}
	if why := unsafeName(e.Name); why != "" {
		return formatErr(off, e.Name, ErrUnsafeName, "%s", why)
	}
	if !z.zip64 {
		if _, ok := findExtra(e.Extra, zip64ExtraID); ok || e.CompressedSize == max32 ||
			e.UncompressedSize == max32 || e.HeaderOffset == max32 {
			return formatErr(off, e.Name, ErrZip64, "ZIP64 extra field or sizes")
		}
	} else {
		headerOff := uint64(e.HeaderOffset)
		if why := readZip64Extra(e.Extra, &e.UncompressedSize, &e.CompressedSize, &headerOff); why != "" {
			return formatErr(off, e.Name, ErrZip64Format, "central directory: %s", why)
		}
		if headerOff >= uint64(z.cd.Offset) {
			return formatErr(off, e.Name, ErrOverlap, "local header offset %d is not before the central directory", headerOff)
		}
		e.HeaderOffset = int64(headerOff)
	}
	if e.CompressedSize > uint64(z.cd.Offset) {
		return formatErr(off, e.Name, ErrOverlap, "compressed size %d is larger than the space before the central directory", e.CompressedSize)
	}
	if diskStart != 0 {
		return formatErr(off, e.Name, ErrMultiDisk, "")
	}
	if e.Flags&flagEncrypted != 0 {
		return formatErr(off, e.Name, ErrEncrypted, "")
	}
	switch {
	case e.Stored():
		// apksig and libziparchive take a stored entry's length from
		// its uncompressed size, other readers (and a raw copy) from its
		// compressed size: Android accepts the difference, but each
		// reader would see different data, so it is refused.
		if e.CompressedSize != e.UncompressedSize {
			return formatErr(off, e.Name, ErrSizeMismatch,
				"stored entry with compressed size %d and uncompressed size %d: readers disagree on where its data ends (Android uses the uncompressed size, most ZIP tools the compressed one)",
				e.CompressedSize, e.UncompressedSize)
		}
	case e.UncompressedSize > maxRatio*e.CompressedSize+1024:
		return formatErr(off, e.Name, ErrBomb,
			"%d bytes from %d compressed", e.UncompressedSize, e.CompressedSize)
	case e.Method != Deflate:
		z.warn(off, e.Name, WarnMethodAsDeflate,
			"central directory compression method %d read as DEFLATE, as apksigner does (Android's libziparchive extracts only methods 0 and 8; sign and fuse write it as 8)", e.Method)
	}

	le := binary.LittleEndian
	var lh [localHeaderLen]byte
	if e.HeaderOffset+localHeaderLen > z.cd.Offset {
		return formatErr(e.HeaderOffset, e.Name, ErrOverlap, "local header runs into the central directory")
	}
	if err := z.readAt(lh[:], e.HeaderOffset, "local header"); err != nil {
		return err
	}
	if le.Uint32(lh[:]) != localHeaderSig {
		return formatErr(e.HeaderOffset, e.Name, ErrHeaderMismatch, "no local file header signature")
	}
	nameLen, extraLen := int64(le.Uint16(lh[26:])), int64(le.Uint16(lh[28:]))
	varEnd := e.HeaderOffset + localHeaderLen + nameLen + extraLen
	if varEnd > z.cd.Offset {
		return formatErr(e.HeaderOffset, e.Name, ErrOverlap, "local header runs into the central directory")
	}
	vb := make([]byte, nameLen+extraLen)
	if err := z.readAt(vb, e.HeaderOffset+localHeaderLen, "local header"); err != nil {
		return err
	}
	if string(vb[:nameLen]) != e.Name {
		return formatErr(e.HeaderOffset, e.Name, ErrNameMismatch, "local header says %q", vb[:nameLen])
	}
	e.LocalExtra = vb[nameLen:]
	lcrc, lcsize, lusize := le.Uint32(lh[14:]), uint64(le.Uint32(lh[18:])), uint64(le.Uint32(lh[22:]))
	_, localZip64 := findExtra(e.LocalExtra, zip64ExtraID)
	switch {
	case localZip64 && !z.zip64:
		return formatErr(e.HeaderOffset, e.Name, ErrZip64, "ZIP64 extra field in the local header")
	case z.zip64:
		if why := readZip64Extra(e.LocalExtra, &lusize, &lcsize); why != "" {
			return formatErr(e.HeaderOffset, e.Name, ErrZip64Format, "local header: %s", why)
		}
	}
	lflags, lmethod := le.Uint16(lh[6:]), le.Uint16(lh[8:])
	if lmethod != e.Method {
		z.warn(e.HeaderOffset, e.Name, WarnLocalMethod,
			"local header says compression method %d, central directory %d: the central one is used, as Android and apksigner do", lmethod, e.Method)
	}
	if lflags&flagEncrypted != 0 {
		return formatErr(e.HeaderOffset, e.Name, ErrEncrypted, "")
	}
	e.DataOffset = varEnd
	e.end = e.DataOffset + int64(e.CompressedSize)
	if e.end > z.cd.Offset {
		return formatErr(e.DataOffset, e.Name, ErrOverlap, "data runs into the central directory")
	}
	if lflags&flagDataDescriptor != 0 {
		// Sizes follow the data, optionally behind a signature; the local
		// header may hold zeros or the real values.
		if !(lcrc == 0 && lcsize == 0 && lusize == 0) && !e.localAgrees(lcrc, lcsize, lusize) {
			return formatErr(e.HeaderOffset, e.Name, ErrSizeMismatch, "local header sizes differ from central directory")
		}
		return z.readDataDescriptor(e, localZip64)
	} else if !e.localAgrees(lcrc, lcsize, lusize) {
		return formatErr(e.HeaderOffset, e.Name, ErrSizeMismatch,
			"local header says crc %08x, %d/%d bytes; central directory says crc %08x, %d/%d bytes",
			lcrc, lcsize, lusize, e.CRC32, e.CompressedSize, e.UncompressedSize)
	}
	return nil
}

// readDataDescriptor checks the data descriptor after e's data against the
// central directory and moves e.end past it. Its sizes are 8 bytes each when
// the local header has a ZIP64 extra field (APPNOTE 4.3.9.2) or the entry's
// sizes need ZIP64 (as Go's and Java's writers decide).
//
// FORMAT: data descriptor (APPNOTE 4.3.9): [sig 0x08074b50] crc-32,
// compressed size, uncompressed size (uint32 each, uint64 in ZIP64).
func (z *Reader) readDataDescriptor(e *Entry, localZip64 bool) error {
	le := binary.LittleEndian
	sizeLen := int64(4)
	if localZip64 || e.CompressedSize >= max32 || e.UncompressedSize >= max32 {
		sizeLen = 8
	}
	var dd [4 + 4 + 8 + 8]byte
	n := min(4+4+2*sizeLen, z.cd.Offset-e.end)
	if n < 4+2*sizeLen {
		return formatErr(e.end, e.Name, ErrTruncated, "data descriptor")
	}
	if err := z.readAt(dd[:n], e.end, "data descriptor"); err != nil {
		return err
	}
	d := dd[:n]
	if le.Uint32(d) == dataDescSig && n == 4+4+2*sizeLen {
		d = d[4:]
	}
	crc := le.Uint32(d)
	csize, usize := uint64(le.Uint32(d[4:])), uint64(le.Uint32(d[8:]))
	if sizeLen == 8 {
		csize, usize = le.Uint64(d[4:]), le.Uint64(d[12:])
	}
	if !e.localAgrees(crc, csize, usize) {
		return formatErr(e.end, e.Name, ErrSizeMismatch, "data descriptor differs from central directory")
	}
	e.end += n - int64(len(d)) + 4 + 2*sizeLen
	return nil
}

func (e *Entry) localAgrees(crc uint32, csize, usize uint64) bool {
	return crc == e.CRC32 && csize == e.CompressedSize && usize == e.UncompressedSize
}

// readZip64Extra replaces each value that is at its 32-bit maximum with the
// next 8-byte value of the ZIP64 extended information extra field, in the
// order given (APPNOTE 4.5.3: uncompressed size, compressed size, local
// header offset). It returns why the field cannot supply them, or "".
//
// FORMAT: extra field 0x0001: uint16 id, uint16 size, then only the uint64
// values whose header fields are 0xffffffff, in that order (and a uint32
// disk number when the 16-bit one is 0xffff, which is refused as multi-disk
// before it matters).
func readZip64Extra(extra []byte, vals ...*uint64) string {
	need := 0
	for _, v := range vals {
		if *v == max32 {
			need++
		}
	}
	if need == 0 {
		return ""
	}
	field, ok := findExtra(extra, zip64ExtraID)
	switch {
	case !ok:
		return fmt.Sprintf("%d fields are 0xffffffff but there is no ZIP64 extra field", need)
	case len(field) < 8*need:
		return fmt.Sprintf("ZIP64 extra field of %d bytes is too short for the %d values at 0xffffffff", len(field), need)
	}
	for _, v := range vals {
		if *v == max32 {
			*v = binary.LittleEndian.Uint64(field)
			field = field[8:]
		}
	}
	return ""
}

// unsafeName says why a name must not be used, or "" if it is fine.
func unsafeName(name string) string {
	switch {
	case name == "":
		return "empty name"
	case strings.ContainsRune(name, 0):
		return "NUL byte in name, which Android's libziparchive refuses (apksigner's v2 verifier does not check it)"
	case strings.ContainsRune(name, '\\'):
		return "backslash in name"
	case strings.HasPrefix(name, "/"):
		return "absolute path"
	case len(name) >= 2 && name[1] == ':':
		return "drive letter"
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "parent directory component"
		}
	}
	return ""
}

// findExtra returns the data of the first extra field with the given id. A
// field whose size runs past the end is found, with the data that is there.
func findExtra(extra []byte, id uint16) ([]byte, bool) {
	for len(extra) >= 4 {
		tag, n := binary.LittleEndian.Uint16(extra), int(binary.LittleEndian.Uint16(extra[2:]))
		if tag == id {
			return extra[4:min(4+n, len(extra))], true
		}
		if 4+n > len(extra) {
			return nil, false
		}
		extra = extra[4+n:]
	}
	return nil, false
}

// FORMAT: APK Signing Block (APK Signature Scheme v2), immediately before the
// central directory:
//
//	uint64  size of block in bytes, excluding this field
//	        ID-value pairs: uint64 length, uint32 ID, value (length-4 bytes)
//	uint64  size of block in bytes (same as the first field)
//	[16]byte magic "APK Sig Block 42"
func (z *Reader) findSigningBlock() error {
	if z.cd.Offset < 32 {
		return nil
	}
	var foot [24]byte
	if err := z.readAt(foot[:], z.cd.Offset-24, "APK Signing Block footer"); err != nil {
		return err
	}
	if string(foot[8:]) != sigBlockMagic {
		return nil
	}
	size := binary.LittleEndian.Uint64(foot[:8])
	if size < 24 || size > uint64(z.cd.Offset-8) {
		return formatErr(z.cd.Offset-24, "", ErrSigningBlock, "block size %d", size)
	}
	start := z.cd.Offset - int64(size) - 8
	var head [8]byte
	if err := z.readAt(head[:], start, "APK Signing Block header"); err != nil {
		return err
	}
	if binary.LittleEndian.Uint64(head[:]) != size {
		return formatErr(start, "", ErrSigningBlock, "header size %d differs from footer size %d",
			binary.LittleEndian.Uint64(head[:]), size)
	}
	z.sigBlock = Span{start, int64(size) + 8}
	return nil
}

// checkLayout requires the entries to follow each other from offset 0 to
// the signing block (or central directory) without overlaps, and sorts the
// gaps between them (checkGap).
func (z *Reader) checkLayout() error {
	sorted := make([]*Entry, len(z.Entries))
	copy(sorted, z.Entries)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].HeaderOffset < sorted[j].HeaderOffset })
	if len(sorted) > 0 && sorted[0].HeaderOffset > 0 && !z.localHeaderAt(0) {
		// libziparchive's ParseZipArchive checks this (Android bug
		// 64211847): a file with a prefix is not installed.
		return formatErr(0, "", ErrUnaccountedData,
			"%d bytes before the first entry, and no local file header at offset 0: Android (libziparchive) refuses such an archive",
			sorted[0].HeaderOffset)
	}
	pos := int64(0)
	for _, e := range sorted {
		switch {
		case e.HeaderOffset < pos:
			return formatErr(e.HeaderOffset, e.Name, ErrOverlap, "starts inside the previous entry, which ends at %d", pos)
		case e.HeaderOffset > pos:
			if err := z.checkGap(pos, e.HeaderOffset, false); err != nil {
				return err
			}
		}
		pos = e.end
	}
	end := z.EntriesEnd()
	switch {
	case pos > end:
		return formatErr(pos, "", ErrOverlap, "entries run into the APK Signing Block")
	case pos < end:
		return z.checkGap(pos, end, z.sigBlock.Size > 0)
	}
	return nil
}

// localHeaderAt reports whether a local file header signature is at off.
func (z *Reader) localHeaderAt(off int64) bool {
	var sig [4]byte
	return z.readAt(sig[:], off, "local header") == nil && binary.LittleEndian.Uint32(sig[:]) == localHeaderSig
}

// checkGap sorts the bytes [pos, end) that no entry of the central directory
// covers. Nameless "virtual entries" come first: stored local headers
// without a central record, which the Android Gradle Plugin's zipflinger
// leaves as padding (ApiDemos-debug.apk starts with one). The rest is a gap:
// Android never reads it, so it is accepted with a warning, zero-filled or
// not; non-zero gaps are remembered for CheckNoHiddenData. beforeBlock says
// the gap ends at the APK Signing Block, where apksig pads with fewer than
// 4096 zero bytes (so the block starts on a 4096-byte boundary, for
// fs-verity): that padding is normal and not reported.
func (z *Reader) checkGap(pos, end int64, beforeBlock bool) error {
	pos, err := z.skipVirtualEntries(pos, end)
	if err != nil || pos == end {
		return err
	}
	zero, err := z.zeros(pos, end)
	switch {
	case err != nil:
		return err
	case zero && beforeBlock && end-pos < 4096:
	case zero:
		z.warn(pos, "", WarnZeroGap, "%d zero bytes outside any entry", end-pos)
	default:
		z.hidden = append(z.hidden, Span{pos, end - pos})
		z.warn(pos, "", WarnHiddenData, "%d bytes of data outside any entry (Android never reads them)", end-pos)
	}
	return nil
}

// skipVirtualEntries returns the offset after the virtual entries that
// start at pos and end by end.
func (z *Reader) skipVirtualEntries(pos, end int64) (int64, error) {
	le := binary.LittleEndian
	for end-pos >= localHeaderLen {
		var lh [localHeaderLen]byte
		if err := z.readAt(lh[:], pos, "virtual entry"); err != nil {
			return 0, err
		}
		nameLen, extraLen := le.Uint16(lh[26:]), int64(le.Uint16(lh[28:]))
		csize, usize := int64(le.Uint32(lh[18:])), int64(le.Uint32(lh[22:]))
		next := pos + localHeaderLen + extraLen + csize
		if le.Uint32(lh[:]) != localHeaderSig || nameLen != 0 || le.Uint16(lh[8:]) != Store ||
			csize != usize || le.Uint16(lh[6:])&flagDataDescriptor != 0 || next > end {
			break
		}
		pos = next
	}
	return pos, nil
}

// zeros reports whether [pos, end) holds only zero bytes.
func (z *Reader) zeros(pos, end int64) (bool, error) {
	buf := make([]byte, min(end-pos, 64<<10))
	for pos < end {
		b := buf[:min(end-pos, int64(len(buf)))]
		if err := z.readAt(b, pos, "gap"); err != nil {
			return false, err
		}
		for _, c := range b {
			if c != 0 {
				return false, nil
			}
		}
		pos += int64(len(b))
	}
	return true, nil
}

func (z *Reader) warn(off int64, entry, code, format string, args ...any) {
	z.Warnings = append(z.Warnings, Warning{Code: code, Offset: off, Entry: entry, Message: fmt.Sprintf(format, args...)})
}

// CheckNoHiddenData refuses an archive with non-zero bytes outside every
// entry (WarnHiddenData). Android accepts it, and Verify gives apksigner's
// verdict on it, but sign and fuse refuse it: bytes no entry accounts for
// are the shape of polyglot and parser-confusion files (a reader that walks
// local headers or streams the file sees content Android does not), and
// signing would put the signer's key over data nobody can account for.
// Zero-filled gaps are accepted: the writer lays entries out afresh, so
// they are simply not copied.
func (z *Reader) CheckNoHiddenData() error {
	if len(z.hidden) == 0 {
		return nil
	}
	h := z.hidden[0]
	return formatErr(h.Offset, "", ErrUnaccountedData,
		"%d non-zero bytes no entry accounts for (gap 1 of %d): a reader walking local headers or streaming the file would see content Android does not, "+
			"so sign and fuse do not put a signature over them; remove them (zero-filled gaps are accepted)", h.Size, len(z.hidden))
}
