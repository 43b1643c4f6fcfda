package zipx

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// zip64Archive builds by hand a small archive of stored entries in full
// ZIP64 form: local headers with 0xffffffff sizes and a ZIP64 extra field,
// central records with 0xffffffff sizes and offset and a ZIP64 extra field,
// and a ZIP64 end record and locator before an end record whose counts,
// size and offset are at their maximum. gap is inserted after the first
// entry. TestZip64ReadOracles checks Python and Go read what it makes.
func zip64Archive(gap string, files ...zipFile) []byte {
	le := binary.LittleEndian
	var out, cd []byte
	for i, f := range files {
		off, crc, size := uint64(len(out)), crc32.ChecksumIEEE([]byte(f.body)), uint64(len(f.body))
		out = le.AppendUint32(out, localHeaderSig)
		out = append(out, 45, 0, 0, 0, 0, 0, 0, 0, 0x21, 0)
		out = le.AppendUint32(out, crc)
		out = le.AppendUint64(out, 1<<64-1)
		out = le.AppendUint16(out, uint16(len(f.name)))
		out = le.AppendUint16(out, 20)
		out = append(out, f.name...)
		out = append(out, zip64Extra(size, size)...)
		out = append(out, f.body...)
		if i == 0 {
			out = append(out, gap...)
		}

		cd = le.AppendUint32(cd, centralHeaderSig)
		cd = append(cd, 45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0x21, 0)
		cd = le.AppendUint32(cd, crc)
		cd = le.AppendUint64(cd, 1<<64-1)
		cd = le.AppendUint16(cd, uint16(len(f.name)))
		cd = le.AppendUint16(cd, 28)
		cd = append(cd, make([]byte, 2+2+2+4)...) // comment length, disk, attributes
		cd = le.AppendUint32(cd, max32)
		cd = append(cd, f.name...)
		cd = append(cd, zip64Extra(size, size, off)...)
	}
	cdOff, recOff := uint64(len(out)), uint64(len(out)+len(cd))
	out = append(out, cd...)
	out = le.AppendUint32(out, zip64EOCDSig)
	out = le.AppendUint64(out, zip64EOCDLen-12)
	out = append(out, 45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	out = le.AppendUint64(out, uint64(len(files)))
	out = le.AppendUint64(out, uint64(len(files)))
	out = le.AppendUint64(out, uint64(len(cd)))
	out = le.AppendUint64(out, cdOff)
	out = le.AppendUint32(out, zip64LocatorSig)
	out = le.AppendUint32(out, 0)
	out = le.AppendUint64(out, recOff)
	out = le.AppendUint32(out, 1)
	out = le.AppendUint32(out, eocdSig)
	out = append(out, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff)
	out = le.AppendUint64(out, 1<<64-1)
	return append(out, 0, 0)
}

func patch64(b []byte, off int, v uint64) []byte {
	binary.LittleEndian.PutUint64(b[off:], v)
	return b
}

// pythonZip runs a script with Debian's Python (its zipfile reads and writes
// ZIP64) on path.
func pythonZip(t *testing.T, path, script string) string {
	t.Helper()
	return testenv.Run(t, "/usr/bin/python3", "-c", "import sys, zipfile\n"+script, path)
}

// pythonTest has Python's zipfile read every entry of path (testzip checks
// each CRC) and returns "name size" lines.
func pythonTest(t *testing.T, path string) string {
	t.Helper()
	return pythonZip(t, path, `
with zipfile.ZipFile(sys.argv[1]) as z:
    bad = z.testzip()
    if bad is not None:
        sys.exit("bad entry %s" % bad)
    for i in z.infolist():
        print(i.filename, i.file_size)
`)
}

// stdEntries lists the archive with Go's archive/zip as "name size" lines,
// reading every entry (which checks its CRC).
func stdEntries(t *testing.T, path string) string {
	t.Helper()
	r, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var b strings.Builder
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("archive/zip: %s: %v", f.Name, err)
		}
		rc.Close()
		fmt.Fprintf(&b, "%s %d\n", f.Name, f.UncompressedSize64)
	}
	return b.String()
}

// ourEntries lists z as "name size" lines, reading every entry (which
// checks its size and CRC).
func ourEntries(t *testing.T, z *Reader) string {
	t.Helper()
	var b strings.Builder
	for _, e := range z.Entries {
		rc := e.Open()
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		rc.Close()
		fmt.Fprintf(&b, "%s %d\n", e.Name, e.UncompressedSize)
	}
	return b.String()
}

// copyAll raw-copies every entry of z into a new archive at path.
func copyAll(t *testing.T, z *Reader, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f, Options{})
	for _, e := range z.Entries {
		if err := w.Copy(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// Python scripts writing the same three entries to sys.argv[1] in the
// ZIP64 forms Python's zipfile can make.
const pyEntries = `
entries = [("a.txt", b"x" * 100, zipfile.ZIP_STORED),
           ("dir/b.bin", bytes(range(256)) * 40, zipfile.ZIP_DEFLATED),
           ("c.txt", b"hello", zipfile.ZIP_DEFLATED)]
`

// TestZip64ReadOracles reads small ZIP64 archives made by Python's zipfile
// in each of its ZIP64 forms, and by zip64Archive: the strict reader refuses
// them as Android does, NewReaderZip64 lists and reads the same entries as
// Python's zipfile and Go's archive/zip, at the offsets archive/zip finds,
// and a raw copy (which needs no ZIP64) reads back the same in both.
func TestZip64ReadOracles(t *testing.T) {
	cases := []struct {
		name       string
		end64      bool   // has a ZIP64 end record
		descriptor bool   // has data descriptors
		python     string // script writing sys.argv[1], or "" for zip64Archive
	}{
		{"hand-made, every field in ZIP64 form", true, false, ""},
		{"python force_zip64: ZIP64 local headers only", false, false, pyEntries + `
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name, data, method in entries:
        zi = zipfile.ZipInfo(name)
        zi.compress_type = method
        with z.open(zi, "w", force_zip64=True) as f:
            f.write(data)
`},
		{"python with lowered limits: ZIP64 central records and end record", true, false, pyEntries + `
zipfile.ZIP64_LIMIT = 64
zipfile.ZIP_FILECOUNT_LIMIT = 1
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name, data, method in entries:
        z.writestr(name, data, compress_type=method)
`},
		{"python streaming: ZIP64 data descriptors", false, true, pyEntries + `
class Stream:
    def __init__(self, f): self.f = f
    def write(self, b): return self.f.write(b)
    def flush(self): self.f.flush()
with open(sys.argv[1], "wb") as out, zipfile.ZipFile(Stream(out), "w") as z:
    for name, data, method in entries:
        zi = zipfile.ZipInfo(name)
        zi.compress_type = method
        with z.open(zi, "w", force_zip64=True) as f:
            f.write(data)
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in.zip")
			if c.python == "" {
				b := zip64Archive("", zipFile{name: "a.txt", body: strings.Repeat("x", 100)}, zipFile{name: "dir/b.bin", body: "binary\x00data"})
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				pythonZip(t, path, c.python)
			}
			want := pythonTest(t, path)
			if std := stdEntries(t, path); std != want {
				t.Fatalf("archive/zip lists\n%s\nPython\n%s", std, want)
			}
			if _, err := Open(path); !errors.Is(err, ErrZip64) {
				t.Fatalf("strict Open: %v, want ErrZip64", err)
			}
			z, err := OpenZip64(path)
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			if got := ourEntries(t, z.Reader); got != want {
				t.Fatalf("we list\n%s\nPython\n%s", got, want)
			}
			std, err := zip.OpenReader(path)
			if err != nil {
				t.Fatal(err)
			}
			defer std.Close()
			for i, f := range std.File {
				e := z.Entries[i]
				off, err := f.DataOffset()
				if err != nil || off != e.DataOffset || f.CRC32 != e.CRC32 || f.CompressedSize64 != e.CompressedSize {
					t.Errorf("%s: data at %d crc %08x size %d; archive/zip %d crc %08x size %d (%v)",
						e.Name, e.DataOffset, e.CRC32, e.CompressedSize, off, f.CRC32, f.CompressedSize64, err)
				}
			}
			if len(z.Warnings) > 0 {
				t.Errorf("warnings: %v", z.Warnings)
			}
			if end64 := z.EOCD().Size > eocdLen; end64 != c.end64 {
				t.Errorf("ZIP64 end record %v, want %v", end64, c.end64)
			}
			if desc := z.Entries[0].Flags&flagDataDescriptor != 0; desc != c.descriptor {
				t.Errorf("data descriptor %v, want %v", desc, c.descriptor)
			}
			out := filepath.Join(t.TempDir(), "copy.zip")
			copyAll(t, z.Reader, out)
			if got := pythonTest(t, out); got != want {
				t.Fatalf("copy: Python lists\n%s\nwant\n%s", got, want)
			}
			cz, err := Open(out)
			if err != nil {
				t.Fatalf("copy needs no ZIP64, strict Open: %v", err)
			}
			defer cz.Close()
			if got := ourEntries(t, cz.Reader); got != want {
				t.Fatalf("copy: we list\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestZip64Malformed: each malformed ZIP64 archive, and each archive trick
// the reader refuses, in ZIP64 form, is a *FormatError of the right kind.
func TestZip64Malformed(t *testing.T) {
	two := func() []byte {
		return zip64Archive("", zipFile{name: "a.txt", body: "hello"}, zipFile{name: "b.txt", body: "world"})
	}
	loc := func(b []byte) int { return sigOffsets(b, zip64LocatorSig)[0] }
	rec := func(b []byte) int { return sigOffsets(b, zip64EOCDSig)[0] }
	// central returns the offset of entry i's ZIP64 extra field in the
	// central directory (names are 5 bytes).
	central := func(b []byte, i int) int { return sigOffsets(b, centralHeaderSig)[i] + centralHeaderLen + 5 }
	const localExtra = localHeaderLen + 5
	cases := []struct {
		name string
		data func() []byte
		want error
	}{
		{"locator points past the end of the file", func() []byte { b := two(); return patch64(b, loc(b)+8, 1<<40) }, ErrZip64Format},
		{"locator points at a local header", func() []byte { b := two(); return patch64(b, loc(b)+8, 0) }, ErrZip64Format},
		{"locator on another disk", func() []byte { b := two(); return patch32(b, loc(b)+4, 1) }, ErrMultiDisk},
		{"record too short", func() []byte { b := two(); return patch64(b, rec(b)+4, 40) }, ErrZip64Format},
		{"record with an extensible data sector", func() []byte { b := two(); return patch64(b, rec(b)+4, 52) }, ErrZip64Format},
		{"end record count disagrees with the ZIP64 record", func() []byte { b := two(); return patch16(b, len(b)-eocdLen+10, 1) }, ErrZip64Format},
		{"end record offset disagrees with the ZIP64 record", func() []byte { b := two(); return patch32(b, len(b)-eocdLen+16, 1) }, ErrZip64Format},
		{"ZIP64 counts disagree", func() []byte { b := two(); return patch64(b, rec(b)+24, 1) }, ErrMultiDisk},
		{"more entries than fit", func() []byte {
			b := two()
			return patch64(patch64(b, rec(b)+24, 1<<40), rec(b)+32, 1<<40)
		}, ErrCentralDirectory},
		{"ZIP64 central directory offset wrong", func() []byte {
			b := two()
			return patch64(b, rec(b)+48, binary.LittleEndian.Uint64(b[rec(b)+48:])+1)
		}, ErrCentralDirectory},
		{"bytes between the central directory and the ZIP64 record", func() []byte {
			b := two()
			r := rec(b)
			b = append(b[:r:r], append(make([]byte, 8), b[r:]...)...)
			return patch64(b, loc(b)+8, uint64(r+8))
		}, ErrCentralDirectory},
		{"central ZIP64 extra field too short", func() []byte { b := two(); return patch16(b, central(b, 0)+2, 16) }, ErrZip64Format},
		{"central sizes at 0xffffffff without a ZIP64 extra field", func() []byte { b := two(); return patch16(b, central(b, 0), 0x000a) }, ErrZip64Format},
		{"local ZIP64 extra field too short", func() []byte { b := two(); return patch16(b, localExtra+2, 8) }, ErrZip64Format},
		{"local ZIP64 size disagrees with the central one", func() []byte { b := two(); return patch64(b, localExtra+4, 6) }, ErrSizeMismatch},
		{"ZIP64 header offset past the central directory", func() []byte { b := two(); return patch64(b, central(b, 1)+20, 1<<40) }, ErrOverlap},
		{"ZIP64 compressed size past the central directory", func() []byte { b := two(); return patch64(b, central(b, 0)+12, 1<<40) }, ErrOverlap},
		{"ZIP64 entries overlap", func() []byte { b := two(); return patch64(b, central(b, 1)+20, 0) }, ErrNameMismatch},
		{"duplicate entry (Janus)", func() []byte {
			return zip64Archive("", zipFile{name: "a.dex", body: "one"}, zipFile{name: "a.dex", body: "two"})
		}, ErrDuplicateName},
		{"zip slip", func() []byte { return zip64Archive("", zipFile{name: "../../x", body: "x"}) }, ErrUnsafeName},
		{"trailing data", func() []byte { return append(two(), "trailing"...) }, ErrTrailingData},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data()
			_, err := NewReaderZip64(bytes.NewReader(data), int64(len(data)))
			var fe *FormatError
			if !errors.Is(err, c.want) || !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FormatError wrapping %v", err, c.want)
			}
			t.Log(err)
		})
	}
	// The valid base reads.
	b := two()
	if _, err := NewReaderZip64(bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

// TestZip64Gaps: bytes between the entries of a ZIP64 archive are sorted as
// in any other (WarnZeroGap, WarnHiddenData and CheckNoHiddenData).
func TestZip64Gaps(t *testing.T) {
	for _, c := range []struct {
		gap    string
		code   string
		hidden bool
	}{
		{strings.Repeat("\x00", 100), WarnZeroGap, false},
		{"#!/bin/sh\necho hidden\n", WarnHiddenData, true},
	} {
		b := zip64Archive(c.gap, zipFile{name: "a.txt", body: "hello"}, zipFile{name: "b.txt", body: "world"})
		z, err := NewReaderZip64(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if len(z.Warnings) != 1 || z.Warnings[0].Code != c.code {
			t.Fatalf("gap %q: warnings %v, want %s", c.gap, z.Warnings, c.code)
		}
		if err := z.CheckNoHiddenData(); (err != nil) != c.hidden {
			t.Fatalf("gap %q: CheckNoHiddenData %v", c.gap, err)
		}
	}
}
