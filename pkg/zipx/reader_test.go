package zipx

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// TestRealAppsAgreeWithStdlib parses every fixture and real app and checks the
// entry list against Go's archive/zip, an independent reader.
func TestRealAppsAgreeWithStdlib(t *testing.T) {
	for _, path := range testenv.AllAPKs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			std, err := zip.OpenReader(path)
			if err != nil {
				t.Fatal(err)
			}
			defer std.Close()
			if len(std.File) != len(f.Entries) {
				t.Fatalf("%d entries, archive/zip sees %d", len(f.Entries), len(std.File))
			}
			for i, sf := range std.File {
				e := f.Entries[i]
				if e.Name != sf.Name || e.CRC32 != sf.CRC32 || e.CompressedSize != sf.CompressedSize64 ||
					e.UncompressedSize != sf.UncompressedSize64 || e.Method != sf.Method {
					t.Errorf("entry %d: got %q crc %08x %d/%d m%d, archive/zip %q crc %08x %d/%d m%d", i,
						e.Name, e.CRC32, e.CompressedSize, e.UncompressedSize, e.Method,
						sf.Name, sf.CRC32, sf.CompressedSize64, sf.UncompressedSize64, sf.Method)
				}
				off, err := sf.DataOffset()
				if err != nil || off != e.DataOffset {
					t.Errorf("%s: data offset %d, archive/zip %d (%v)", e.Name, e.DataOffset, off, err)
				}
			}
			// Decompress everything: CRC and sizes must check out.
			for _, e := range f.Entries {
				if _, err := io.Copy(io.Discard, e.Open()); err != nil {
					t.Errorf("%s: %v", e.Name, err)
				}
			}
			// The ZIP64 reader reads an archive without ZIP64 alike.
			f64, err := OpenZip64(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f64.Close()
			if len(f64.Entries) != len(f.Entries) || f64.EOCD() != f.EOCD() || len(f64.Warnings) != len(f.Warnings) {
				t.Fatalf("ZIP64 reader: %d entries, end record %+v, %d warnings; strict reader %d, %+v, %d",
					len(f64.Entries), f64.EOCD(), len(f64.Warnings), len(f.Entries), f.EOCD(), len(f.Warnings))
			}
			for i, e := range f64.Entries {
				if s := f.Entries[i]; e.Name != s.Name || e.DataOffset != s.DataOffset || e.Span() != s.Span() {
					t.Errorf("ZIP64 reader: %s at %+v, strict reader %s at %+v", e.Name, e.Span(), s.Name, s.Span())
				}
			}
		})
	}
}

// TestSigningBlockLocated checks the APK Signing Block is found exactly where
// apksigner reports v2 signatures, and not in v1-only fixtures.
func TestSigningBlockLocated(t *testing.T) {
	for _, path := range testenv.AllAPKs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			out, _ := oracle(t, "apksigner", "verify", "-v", path)
			v2 := strings.Contains(out, "(APK Signature Scheme v2): true") ||
				strings.Contains(out, "(APK Signature Scheme v3): true")
			sb, ok := f.SigningBlock()
			if ok != v2 {
				t.Fatalf("signing block present=%v, apksigner v2/v3=%v\n%s", ok, v2, out)
			}
			if ok {
				raw := make([]byte, 16)
				f.ReaderAt().ReadAt(raw, sb.End()-16)
				if string(raw) != sigBlockMagic || sb.End() != f.CentralDirectory().Offset {
					t.Fatalf("block %+v does not end at the central directory %+v", sb, f.CentralDirectory())
				}
			}
		})
	}
}

// oracle runs an independent tool, returning its output and whether it
// exited 0.
func oracle(t *testing.T, name string, args ...string) (string, bool) {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, name), args...).CombinedOutput()
	return string(out), err == nil
}

// ---- crafted bad archives ----

type zipFile struct {
	name    string
	body    string
	method  uint16
	comment string
}

// build makes a valid archive with Go's archive/zip.
func build(t *testing.T, files ...zipFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f.name, Method: f.method})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, f.body)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// buildRaw makes an archive whose entries are written raw with the given
// method, sizes and CRC, whatever they are.
func buildRaw(t *testing.T, hs []zip.FileHeader, bodies []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for i := range hs {
		fw, err := w.CreateRaw(&hs[i])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, bodies[i])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sigOffsets(b []byte, sig uint32) []int {
	var s [4]byte
	binary.LittleEndian.PutUint32(s[:], sig)
	var offs []int
	for i := 0; ; {
		j := bytes.Index(b[i:], s[:])
		if j < 0 {
			return offs
		}
		offs = append(offs, i+j)
		i += j + 4
	}
}

func patch16(b []byte, off int, v uint16) []byte {
	binary.LittleEndian.PutUint16(b[off:], v)
	return b
}

func patch32(b []byte, off int, v uint32) []byte {
	binary.LittleEndian.PutUint32(b[off:], v)
	return b
}

func TestBadArchives(t *testing.T) {
	two := func() []byte {
		return build(t, zipFile{name: "a.txt", body: "hello"}, zipFile{name: "b.txt", body: "world"})
	}
	cases := []struct {
		name string
		data func() []byte
		want error
	}{
		{"empty file", func() []byte { return nil }, ErrNotZip},
		{"not a zip", func() []byte { return []byte("\x7fELF\x02\x01\x01" + strings.Repeat("x", 200)) }, ErrNotZip},
		{"garbage", func() []byte {
			g := make([]byte, 4096)
			for i := range g {
				g[i] = byte(i*7 + i/13)
			}
			return g
		}, ErrNotZip},
		{"duplicate entry (Janus)", func() []byte {
			return build(t, zipFile{name: "classes.dex", body: "one"}, zipFile{name: "classes.dex", body: "two"})
		}, ErrDuplicateName},
		{"zip slip", func() []byte { return build(t, zipFile{name: "../../etc/passwd", body: "x"}) }, ErrUnsafeName},
		{"absolute name", func() []byte { return build(t, zipFile{name: "/data/evil", body: "x"}) }, ErrUnsafeName},
		{"backslash name", func() []byte { return build(t, zipFile{name: `lib\..\evil.so`, body: "x"}) }, ErrUnsafeName},
		{"local/central name mismatch", func() []byte {
			b := two()
			copy(b[localHeaderLen:], "x") // local header of a.txt now says x.txt
			return b
		}, ErrNameMismatch},
		{"truncated", func() []byte { b := two(); return b[:len(b)-30] }, ErrNotZip},
		{"truncated central directory", func() []byte {
			b := two()
			cd := sigOffsets(b, centralHeaderSig)[0]
			return append(b[:cd+10:cd+10], b[len(b)-eocdLen:]...)
		}, ErrCentralDirectory},
		{"lying uncompressed size", func() []byte {
			b := two()
			cd := sigOffsets(b, centralHeaderSig)[0]
			return patch32(b, cd+24, 6)
		}, ErrSizeMismatch},
		{"lying local size", func() []byte {
			b := build(t, zipFile{name: "a.txt", body: "hello", method: zip.Store})
			return patch32(b, 22, 9)
		}, ErrSizeMismatch},
		{"unknown method read as deflate, bomb ratio", func() []byte {
			return buildRaw(t, []zip.FileHeader{{Name: "a.bz2", Method: 12, CRC32: 1, CompressedSize64: 3, UncompressedSize64: 1 << 30}}, []string{"abc"})
		}, ErrBomb},
		{"NUL in name (libziparchive refuses it)", func() []byte { return build(t, zipFile{name: "assets/a\x00.txt", body: "x"}) }, ErrUnsafeName},
		{"encrypted", func() []byte {
			return buildRaw(t, []zip.FileHeader{{Name: "a", Method: zip.Store, Flags: 1, CRC32: crc32.ChecksumIEEE([]byte("abc")),
				CompressedSize64: 3, UncompressedSize64: 3}}, []string{"abc"})
		}, ErrEncrypted},
		{"overlapping entries", func() []byte {
			b := two()
			cd := sigOffsets(b, centralHeaderSig)
			return patch32(b, cd[1]+42, 0) // b.txt's header offset points at a.txt
		}, ErrNameMismatch},
		{"overlapping entries, same name", func() []byte {
			b := build(t, zipFile{name: "a", body: strings.Repeat("x", 100), method: zip.Store}, zipFile{name: "b", body: "y", method: zip.Store})
			// Second central record points into the first entry's data,
			// where a forged local header for "b" is planted.
			forged := buildRaw(t, []zip.FileHeader{{Name: "b", Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte("y")),
				CompressedSize64: 1, UncompressedSize64: 1}}, []string{"y"})
			copy(b[localHeaderLen+1+10:], forged[:localHeaderLen+1+1])
			cd := sigOffsets(b, centralHeaderSig)
			return patch32(b, cd[1]+42, uint32(localHeaderLen+1+10))
		}, ErrOverlap},
		{"zip64", func() []byte {
			b := two()
			eocd := len(b) - eocdLen
			loc := make([]byte, zip64LocatorLen)
			binary.LittleEndian.PutUint32(loc, zip64LocatorSig)
			out := append(append(append([]byte{}, b[:eocd]...), loc...), b[eocd:]...)
			return patch32(out, len(out)-eocdLen+16, uint32(eocd)) // central directory offset unchanged
		}, ErrZip64},
		{"zip64 sizes", func() []byte {
			b := two()
			return patch16(b, len(b)-eocdLen+10, 0xffff)
		}, ErrZip64},
		{"bomb ratio", func() []byte {
			b := build(t, zipFile{name: "bomb", body: strings.Repeat("\x00", 1000), method: zip.Deflate})
			cd := sigOffsets(b, centralHeaderSig)[0]
			patch32(b, cd+24, 1<<30)
			return patch32(b, 22, 1<<30)
		}, ErrBomb},
		{"comment hides an end record", func() []byte {
			b := two()
			comment := "PK\x05\x06" + strings.Repeat("\x00", 18)
			patch16(b, len(b)-2, uint16(len(comment)))
			return append(b, comment...)
		}, ErrComment},
		{"trailing data", func() []byte { return append(two(), "trailing"...) }, ErrTrailingData},
		{"data before the first entry", func() []byte {
			b := two()
			prefix := []byte("#!/bin/sh\necho polyglot\n")
			out := append(prefix, b...)
			for _, cd := range sigOffsets(out, centralHeaderSig) {
				patch32(out, cd+42, binary.LittleEndian.Uint32(out[cd+42:])+uint32(len(prefix)))
			}
			return patch32(out, len(out)-eocdLen+16, binary.LittleEndian.Uint32(out[len(out)-eocdLen+16:])+uint32(len(prefix)))
		}, ErrUnaccountedData},
		{"zero bytes before the first entry", func() []byte {
			return testenv.ZipInsert(t, two(), 0, make([]byte, 64))
		}, ErrUnaccountedData},
		{"fake signing block", func() []byte {
			b := two()
			cd := sigOffsets(b, centralHeaderSig)[0]
			block := make([]byte, 32)
			binary.LittleEndian.PutUint64(block[0:], 999) // header disagrees with footer
			binary.LittleEndian.PutUint64(block[8:], 24)
			copy(block[16:], sigBlockMagic)
			out := append(append(append([]byte{}, b[:cd]...), block...), b[cd:]...)
			return patch32(out, len(out)-eocdLen+16, uint32(cd+len(block)))
		}, ErrSigningBlock},
	}
	if len(cases) < 12 {
		t.Fatal("the issue asks for at least 12 crafted archives")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data()
			_, err := NewReader(bytes.NewReader(data), int64(len(data)))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("%v is not a *FormatError", err)
			}
			// Go's reader must not be stricter than we are about valid
			// archives, but every one of these should be suspicious.
			t.Log(err)
		})
	}
}

// TestLyingContent checks Open catches data that does not match the central
// directory even when the headers agree with each other.
func TestLyingContent(t *testing.T) {
	b := build(t, zipFile{name: "a.txt", body: "hello", method: zip.Store})
	b[localHeaderLen+len("a.txt")] = 'j' // "jello": CRC no longer matches
	z, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(z.Entries[0].Open())
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v, want ErrChecksum", err)
	}
}

func TestDataDescriptor(t *testing.T) {
	// archive/zip writes deflated entries with data descriptors.
	b := build(t, zipFile{name: "a.txt", body: strings.Repeat("hello ", 100), method: zip.Deflate},
		zipFile{name: "b.txt", body: "world", method: zip.Deflate})
	z, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if z.Entries[0].Flags&flagDataDescriptor == 0 {
		t.Fatal("expected archive/zip to use a data descriptor")
	}
	got, err := z.Entries[0].ReadAll(1 << 20)
	if err != nil || string(got) != strings.Repeat("hello ", 100) {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := z.Entries[0].ReadAll(10); !errors.Is(err, ErrBomb) {
		t.Fatalf("ReadAll over limit: %v", err)
	}
}

func TestOpenNotRegular(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil {
		t.Fatal("opening a directory succeeded")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.apk")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestAcceptedOddities covers the layouts Android accepts that the reader
// reads with a warning: each case names the warning codes it must raise,
// whether CheckNoHiddenData refuses it, and every entry must still read
// back its content. cmd/trustfuse's TestZipOdditiesAgreeWithApksigner
// checks the same classes against apksigner.
func TestAcceptedOddities(t *testing.T) {
	body := strings.Repeat("hello, android ", 40)
	three := func() []byte {
		return build(t, zipFile{name: "a.txt", body: body, method: zip.Deflate},
			zipFile{name: "b.txt", body: body, method: zip.Store},
			zipFile{name: "c.txt", body: body, method: zip.Deflate})
	}
	before := func(b []byte, name string) int64 { return testenv.ZipEntryOffset(t, b, name) }
	cd := func(b []byte) int64 { return int64(binary.LittleEndian.Uint32(b[len(b)-eocdLen+16:])) }
	cases := []struct {
		name   string
		data   func() []byte
		codes  []string
		hidden bool
	}{
		{"plain", three, nil, false},
		{"1 zero byte between entries", func() []byte { b := three(); return testenv.ZipInsert(t, b, before(b, "b.txt"), []byte{0}) },
			[]string{WarnZeroGap}, false},
		{"5000 zero bytes between entries", func() []byte {
			b := three()
			return testenv.ZipInsert(t, b, before(b, "c.txt"), make([]byte, 5000))
		}, []string{WarnZeroGap}, false},
		{"zero gaps between every entry", func() []byte {
			b := three()
			b = testenv.ZipInsert(t, b, before(b, "c.txt"), make([]byte, 7))
			return testenv.ZipInsert(t, b, before(b, "b.txt"), make([]byte, 300))
		}, []string{WarnZeroGap, WarnZeroGap}, false},
		{"zero bytes before the central directory", func() []byte { b := three(); return testenv.ZipInsert(t, b, cd(b), make([]byte, 4097)) },
			[]string{WarnZeroGap}, false},
		{"non-zero gap between entries", func() []byte {
			b := three()
			return testenv.ZipInsert(t, b, before(b, "b.txt"), []byte("#!/bin/sh\necho hidden\n"))
		}, []string{WarnHiddenData}, true},
		{"forged local header in a gap", func() []byte {
			b := three()
			forged := build(t, zipFile{name: "classes.dex", body: "dex\n", method: zip.Store})
			return testenv.ZipInsert(t, b, before(b, "c.txt"), forged[:sigOffsets(forged, centralHeaderSig)[0]])
		}, []string{WarnHiddenData}, true},
		{"local method stored, central deflate", func() []byte { return testenv.ZipSetMethod(t, three(), "a.txt", int(Store), -1) },
			[]string{WarnLocalMethod}, false},
		{"local method deflate, central stored", func() []byte { return testenv.ZipSetMethod(t, three(), "b.txt", int(Deflate), -1) },
			[]string{WarnLocalMethod}, false},
		{"method 12 holding deflate data", func() []byte { return testenv.ZipSetMethod(t, three(), "c.txt", 12, 12) },
			[]string{WarnMethodAsDeflate}, false},
		{"central method 99, local 8", func() []byte { return testenv.ZipSetMethod(t, three(), "a.txt", -1, 99) },
			[]string{WarnMethodAsDeflate, WarnLocalMethod}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data()
			z, err := NewReader(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, w := range z.Warnings {
				codes = append(codes, w.Code)
				t.Log(w)
			}
			if strings.Join(codes, ",") != strings.Join(c.codes, ",") {
				t.Fatalf("warnings %q, want %q", codes, c.codes)
			}
			err = z.CheckNoHiddenData()
			if c.hidden != (err != nil) || (err != nil && !errors.Is(err, ErrUnaccountedData)) {
				t.Fatalf("CheckNoHiddenData: %v, want refusal %v", err, c.hidden)
			}
			for _, e := range z.Entries {
				if got, err := e.ReadAll(1 << 20); err != nil || string(got) != body {
					t.Fatalf("%s: %q, %v", e.Name, got, err)
				}
			}
			// A raw copy drops the gaps and writes one method, 0 or 8,
			// in both headers: it reads back without any warning.
			var buf bytes.Buffer
			w := NewWriter(&buf, Options{})
			for _, e := range z.Entries {
				if err := w.Copy(e); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			out, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil || len(out.Warnings) > 0 {
				t.Fatalf("copy: %v, warnings %v", err, out.Warnings)
			}
			for i, e := range out.Entries {
				if e.Method != Store && e.Method != Deflate || e.Stored() != z.Entries[i].Stored() {
					t.Fatalf("copy of %s has method %d (source %d)", e.Name, e.Method, z.Entries[i].Method)
				}
			}
		})
	}
}

// TestLyingDeflatedContent checks that a deflated entry whose data does not
// match its headers fails the same way whether it is read with Read (a
// buffer loop) or io.Copy (checkedReader.WriteTo, straight from the
// inflater), and that an honest one reads back the same both ways.
func TestLyingDeflatedContent(t *testing.T) {
	body := strings.Repeat("hello, deflate ", 5000)
	honest := func() []byte {
		var buf bytes.Buffer
		w := NewWriter(&buf, Options{})
		if err := w.Add(Header{Name: "a.txt", Method: Deflate}, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	// both patches the local (offset off) and the central (off+2) field.
	both := func(b []byte, off int, v uint32) []byte {
		cd := sigOffsets(b, centralHeaderSig)[0]
		return patch32(patch32(b, off, v), cd+off+2, v)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"honest", honest(), nil},
		{"wrong CRC-32", both(honest(), 14, 1), ErrChecksum},
		{"declared size too small", both(honest(), 22, uint32(len(body)-1)), ErrSizeMismatch},
		{"declared size too large", both(honest(), 22, uint32(len(body)+1)), ErrSizeMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z, err := NewReader(bytes.NewReader(tc.data), int64(len(tc.data)))
			if err != nil {
				t.Fatal(err)
			}
			e := z.Entries[0]
			var viaRead, viaWriteTo bytes.Buffer
			_, errRead := io.CopyBuffer(struct{ io.Writer }{&viaRead}, struct{ io.Reader }{e.Open()}, make([]byte, 4096))
			_, errWriteTo := io.Copy(&viaWriteTo, e.Open())
			for _, err := range []error{errRead, errWriteTo} {
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("Read: %v, WriteTo: %v; want %v", errRead, errWriteTo, tc.want)
				}
			}
			if tc.want == nil && (viaRead.String() != body || viaWriteTo.String() != body) {
				t.Fatal("content read back differs from what was written")
			}
		})
	}
}
