package zipx

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// Create starts a new entry with the writer's timestamp and returns the
// writer its uncompressed content goes to. The content is deflated (or
// stored) as it is written, its CRC-32 and sizes computed on the way: memory
// use does not depend on the entry's size. No other entry can be written
// until the returned writer is closed.
//
// Deflated entries use github.com/klauspost/compress/flate at level 2: on
// a 50 MB executable it is about twice as fast as compress/flate's
// BestSpeed for the same size; a large entry is compressed in chunks on
// all cores (see deflateChunk). The output depends only on the input (and
// the library version), so archives stay reproducible. Add keeps
// compress/flate's BestCompression, so the bytes of APKs and bundles do not
// change.
//
// Where the sizes go depends on the destination:
//   - If it implements io.WriterAt (an *os.File does), the local header is
//     written first with room for them and patched in place when the entry
//     is closed: the archive has no data descriptors. Unless h.MaxSize says
//     the entry is small (see Header.MaxSize), the room is a ZIP64 extra
//     field (the local header's 32-bit sizes are then 0xffffffff, version
//     needed 4.5), as the entry may pass 4 GiB; the central directory uses
//     ZIP64 only if the entry did.
//   - Otherwise the entry is written with a data descriptor (flag bit 3)
//     after its data. The local header holds a zero CRC and zero sizes if
//     h.MaxSize says the entry is small; if not, 0xffffffff sizes and a
//     ZIP64 extra field of zeros, and the descriptor's sizes are 8 bytes
//     each (APPNOTE 4.3.9.2), as Python's zipfile streams ZIP64 entries.
//
// Stored entries are aligned like Add's. If the entry fails (an I/O error,
// or more than h.MaxSize bytes written), its Close returns the error and
// the Writer refuses every later call: the archive is unusable.
func (w *Writer) Create(h Header) (io.WriteCloser, error) {
	rec, err := w.newRecord(h)
	if err != nil {
		return nil, err
	}
	wa, patch := w.dst.(io.WriterAt)
	rec.localZip64 = h.MaxSize <= 0 || h.MaxSize > smallLimit
	if !patch {
		rec.flags |= flagDataDescriptor
	}
	if err := w.begin(rec); err != nil {
		return nil, err
	}
	ew := &entryWriter{w: w, rec: rec, max: h.MaxSize, crc: crc32.NewIEEE(), dataOff: w.off}
	if patch {
		ew.wa = wa
	}
	if rec.method == Deflate {
		ew.fw = newParallelDeflater(dataWriter{ew})
	}
	w.open = ew
	return ew, nil
}

// entryWriter is the io.WriteCloser Create returns.
type entryWriter struct {
	w       *Writer
	rec     *record
	max     int64
	crc     hash.Hash32
	fw      *parallelDeflater // nil when stored
	wa      io.WriterAt       // nil: write a data descriptor
	dataOff int64
	n       uint64 // uncompressed bytes written
	err     error
}

// dataWriter passes the compressor's output to the archive.
type dataWriter struct{ ew *entryWriter }

func (d dataWriter) Write(p []byte) (int, error) { return d.ew.countData(p) }

// countData writes compressed bytes to the archive.
func (ew *entryWriter) countData(p []byte) (int, error) {
	n, err := ew.w.bw.Write(p)
	ew.w.off += int64(n)
	return n, err
}

func (ew *entryWriter) Write(p []byte) (int, error) {
	if ew.w.open != ew {
		return 0, fmt.Errorf("zip: write %q: entry is closed", ew.rec.name)
	}
	if ew.err != nil {
		return 0, ew.err
	}
	if ew.max > 0 && ew.n+uint64(len(p)) > uint64(ew.max) {
		ew.err = fmt.Errorf("zip: write %q: more than the declared maximum of %d bytes", ew.rec.name, ew.max)
		return 0, ew.err
	}
	ew.crc.Write(p)
	ew.n += uint64(len(p))
	var err error
	if ew.fw != nil {
		_, err = ew.fw.Write(p)
	} else {
		_, err = ew.countData(p)
	}
	if err != nil {
		ew.err = fmt.Errorf("zip: write %q: %w", ew.rec.name, err)
		return 0, ew.err
	}
	return len(p), nil
}

// Close finishes the entry: it flushes the compressor, then patches the
// local header or writes the data descriptor, and records the entry for the
// central directory. After a failure the Writer refuses every other call.
func (ew *entryWriter) Close() error {
	if ew.w.open != ew {
		return nil
	}
	ew.w.open = nil
	if err := ew.finish(); err != nil {
		ew.w.err = err
		return err
	}
	return nil
}

func (ew *entryWriter) finish() error {
	if ew.err != nil {
		return ew.err
	}
	if ew.fw != nil {
		if err := ew.fw.Close(); err != nil {
			return fmt.Errorf("zip: write %q: %w", ew.rec.name, err)
		}
	}
	rec := ew.rec
	rec.crc, rec.usize, rec.csize = ew.crc.Sum32(), ew.n, uint64(ew.w.off-ew.dataOff)
	if !rec.localZip64 && (rec.usize >= max32 || rec.csize >= max32) {
		return fmt.Errorf("zip: write %q: %d bytes compressed to %d do not fit the local header", rec.name, rec.usize, rec.csize)
	}
	var err error
	if ew.wa != nil {
		err = ew.patchLocal()
	} else {
		err = ew.writeDescriptor()
	}
	if err != nil {
		return fmt.Errorf("zip: write %q: %w", rec.name, err)
	}
	ew.w.addCentral(rec)
	return nil
}

// patchLocal writes the CRC-32 and the sizes into the local header, which
// is already in the destination. The archive may start further on in the
// destination (a file that already held data): a destination that is also
// an io.Seeker says where; any other is taken to start with the archive.
func (ew *entryWriter) patchLocal() error {
	rec := ew.rec
	if err := ew.w.bw.Flush(); err != nil {
		return err
	}
	header := rec.headerOff
	if s, ok := ew.w.dst.(io.Seeker); ok {
		pos, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		header += pos - ew.w.off
	}
	if _, err := ew.wa.WriteAt(rec.localHeader()[14:26], header+14); err != nil {
		return err
	}
	if !rec.localZip64 {
		return nil
	}
	// The ZIP64 field comes first in the extra data: begin appends it to
	// the stripped copy of an empty extra, before any alignment padding.
	var sizes [16]byte
	binary.LittleEndian.PutUint64(sizes[0:], rec.usize)
	binary.LittleEndian.PutUint64(sizes[8:], rec.csize)
	_, err := ew.wa.WriteAt(sizes[:], header+localHeaderLen+int64(len(rec.name))+4)
	return err
}

// writeDescriptor writes the data descriptor after the entry's data.
//
// FORMAT: see readDataDescriptor; the signature is always written.
func (ew *entryWriter) writeDescriptor() error {
	rec := ew.rec
	d := binary.LittleEndian.AppendUint32(nil, dataDescSig)
	d = binary.LittleEndian.AppendUint32(d, rec.crc)
	if rec.localZip64 {
		d = binary.LittleEndian.AppendUint64(d, rec.csize)
		d = binary.LittleEndian.AppendUint64(d, rec.usize)
	} else {
		d = binary.LittleEndian.AppendUint32(d, uint32(rec.csize))
		d = binary.LittleEndian.AppendUint32(d, uint32(rec.usize))
	}
	return ew.w.put(d)
}
