package testenv

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"testing"
)

// ZipFile is an entry for RewriteZip to append: deflated, or stored
// (uncompressed) if Stored.
type ZipFile struct {
	Name   string
	Data   []byte
	Stored bool
}

// ZipEntries reads every entry of the ZIP file at path with the standard
// library's archive/zip (not our reader).
func ZipEntries(t testing.TB, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	m := make(map[string][]byte, len(zr.File))
	for _, f := range zr.File {
		m[f.Name] = readZipFile(t, f)
	}
	return m
}

// ZipEntry reads the entry name of the ZIP file at path with archive/zip;
// a missing entry fails the test.
func ZipEntry(t testing.TB, path, name string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name == name {
			return readZipFile(t, f)
		}
	}
	t.Fatalf("%s: no entry %s", path, name)
	return nil
}

func readZipFile(t testing.TB, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	return b
}

// RewriteZip copies the ZIP file src to dst with archive/zip: entries named
// in replace (each must exist) get that content (deflated) in their place,
// the others are copied raw, then add is appended in order. Nothing is signed
// or aligned: the result is what someone editing a package by hand makes.
func RewriteZip(t testing.TB, src, dst string, replace map[string][]byte, add ...ZipFile) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	write := func(name string, data []byte, method uint16) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err == nil {
			_, err = w.Write(data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	replaced := 0
	for _, e := range zr.File {
		if data, ok := replace[e.Name]; ok {
			write(e.Name, data, zip.Deflate)
			replaced++
		} else if err := zw.Copy(e); err != nil {
			t.Fatal(err)
		}
	}
	if replaced != len(replace) {
		t.Fatalf("%s: %d of the %d entries to replace are not in it", src, len(replace)-replaced, len(replace))
	}
	for _, e := range add {
		method := zip.Deflate
		if e.Stored {
			method = zip.Store
		}
		write(e.Name, e.Data, method)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// centralRecords locates the end record of the ZIP archive b (which must have
// no comment) and returns its offset and the offsets of the central
// directory records, in order.
func centralRecords(t testing.TB, b []byte) (eocd int, recs []int) {
	t.Helper()
	le := binary.LittleEndian
	eocd = len(b) - 22
	if eocd < 0 || le.Uint32(b[eocd:]) != 0x06054b50 {
		t.Fatal("testenv: no end of central directory record at the end (archive comment?)")
	}
	p := int(le.Uint32(b[eocd+16:]))
	for i := 0; i < int(le.Uint16(b[eocd+10:])); i++ {
		if le.Uint32(b[p:]) != 0x02014b50 {
			t.Fatalf("testenv: no central directory record at %d", p)
		}
		recs = append(recs, p)
		p += 46 + int(le.Uint16(b[p+28:])) + int(le.Uint16(b[p+30:])) + int(le.Uint16(b[p+32:]))
	}
	return eocd, recs
}

// ZipInsert returns a copy of the ZIP archive b with data inserted at
// offset off, moving every local header offset and the central directory
// offset that lie at or after it: placed between entries or before the
// central directory, data becomes bytes no entry accounts for. Signatures
// covering the layout (v2+) no longer match; sign afterwards if needed.
func ZipInsert(t testing.TB, b []byte, off int64, data []byte) []byte {
	t.Helper()
	le := binary.LittleEndian
	eocd, recs := centralRecords(t, b)
	shift := func(p int) int {
		if int64(p) >= off {
			return p + len(data)
		}
		return p
	}
	out := append(append(append([]byte{}, b[:off]...), data...), b[off:]...)
	eocd = shift(eocd)
	for _, r := range recs {
		r = shift(r)
		if o := le.Uint32(out[r+42:]); int64(o) >= off {
			le.PutUint32(out[r+42:], o+uint32(len(data)))
		}
	}
	if o := le.Uint32(out[eocd+16:]); int64(o) >= off {
		le.PutUint32(out[eocd+16:], o+uint32(len(data)))
	}
	return out
}

// ZipEntryOffset returns the local header offset of the entry name in the
// ZIP archive b.
func ZipEntryOffset(t testing.TB, b []byte, name string) int64 {
	t.Helper()
	le := binary.LittleEndian
	_, recs := centralRecords(t, b)
	for _, r := range recs {
		if string(b[r+46:r+46+int(le.Uint16(b[r+28:]))]) == name {
			return int64(le.Uint32(b[r+42:]))
		}
	}
	t.Fatalf("testenv: no entry %q", name)
	return 0
}

// ZipPatch returns a copy of the ZIP archive b in which patch has edited
// the headers of entry name: local is its local file header (30 bytes), and
// central its central directory record (46 bytes), both little endian as
// in the ZIP application note. The data is left as it is.
func ZipPatch(t testing.TB, b []byte, name string, patch func(local, central []byte)) []byte {
	t.Helper()
	le := binary.LittleEndian
	out := bytes.Clone(b)
	_, recs := centralRecords(t, out)
	for _, r := range recs {
		if string(out[r+46:r+46+int(le.Uint16(out[r+28:]))]) == name {
			lh := le.Uint32(out[r+42:])
			patch(out[lh:lh+30], out[r:r+46])
			return out
		}
	}
	t.Fatalf("testenv: no entry %q", name)
	return nil
}

// ZipSetMethod returns a copy of the ZIP archive b with the compression
// method of entry name patched: in its local header unless local < 0, in its
// central directory record unless central < 0. The data is left as it is.
func ZipSetMethod(t testing.TB, b []byte, name string, local, central int) []byte {
	t.Helper()
	return ZipPatch(t, b, name, func(lh, cd []byte) {
		if local >= 0 {
			binary.LittleEndian.PutUint16(lh[8:], uint16(local))
		}
		if central >= 0 {
			binary.LittleEndian.PutUint16(cd[10:], uint16(central))
		}
	})
}
