package macho

import (
	"bytes"
	"crypto/sha256"
	"debug/macho"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	gomacho "github.com/blacktop/go-macho"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// fixture reads testdata/ios/name.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.IOSFixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func open(t testing.TB, b []byte) *File {
	t.Helper()
	f, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestOpenFixtures(t *testing.T) {
	type slice struct {
		arch string
		typ  macho.Type
		is64 bool
	}
	for _, tc := range []struct {
		name   string
		fat    bool
		slices []slice
	}{
		{"Demo", false, []slice{{"arm64", macho.TypeExec, true}}},
		{"DemoWidget", false, []slice{{"arm64", macho.TypeExec, true}}},
		{"libdemo.dylib", false, []slice{{"arm64", macho.TypeDylib, true}}},
		{"DemoKit.fat", true, []slice{{"x86_64", macho.TypeDylib, true}, {"arm64", macho.TypeDylib, true}}},
		{"Legacy.fat", true, []slice{{"armv7", macho.TypeExec, false}, {"arm64", macho.TypeExec, true}}},
		{"DemoWatch", false, []slice{{"arm64_32", macho.TypeExec, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := open(t, fixture(t, tc.name))
			if f.Fat != tc.fat || len(f.Slices) != len(tc.slices) {
				t.Fatalf("fat %v, %d slices; want %v, %d", f.Fat, len(f.Slices), tc.fat, len(tc.slices))
			}
			for i, want := range tc.slices {
				s := f.Slices[i]
				if s.Arch() != want.arch || s.Type != want.typ || s.Is64 != want.is64 {
					t.Errorf("slice %d: %s %v 64=%v; want %s %v %v", i, s.Arch(), s.Type, s.Is64, want.arch, want.typ, want.is64)
				}
				if s.IsExecutable() != (want.typ == macho.TypeExec) || s.Signed() {
					t.Errorf("slice %d: executable %v signed %v", i, s.IsExecutable(), s.Signed())
				}
				text := s.Segment("__TEXT")
				if s.ExecSegBase != 0 || s.ExecSegSize != int64(text.Filesz) || s.ExecSegSize == 0 {
					t.Errorf("slice %d: exec segment [%d, +%d), __TEXT filesz %d", i, s.ExecSegBase, s.ExecSegSize, text.Filesz)
				}
				le := s.Segment("__LINKEDIT")
				if s.CodeLimit() != align(int64(le.Offset+le.Filesz), 16) {
					t.Errorf("slice %d: code limit %d, __LINKEDIT ends at %d", i, s.CodeLimit(), le.Offset+le.Filesz)
				}
			}
		})
	}
}

// testSigner reserves room for a CodeDirectory-sized blob and returns an
// empty SuperBlob (a valid one: go-macho parses it), remembering the hash
// of the code it was given per slice.
type testSigner struct {
	extra int
	code  map[string][32]byte
}

func (ts *testSigner) Size(s *Slice, limit int64) (int, error) {
	return 0x400 + ts.extra + int(limit+4095)/4096*32, nil
}

func (ts *testSigner) Sign(s *Slice, code *io.SectionReader) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, code); err != nil {
		return nil, err
	}
	ts.code[s.Arch()] = [32]byte(h.Sum(nil))
	blob := make([]byte, 12) // FORMAT: SuperBlob {magic, length, count} big-endian
	binary.BigEndian.PutUint32(blob, 0xfade0cc0)
	binary.BigEndian.PutUint32(blob[4:], 12)
	return blob, nil
}

// sign writes f signed by ts to a temporary file and returns its bytes,
// path and layout.
func sign(t *testing.T, in []byte, ts *testSigner) ([]byte, string, []Layout) {
	t.Helper()
	var out bytes.Buffer
	lay, err := open(t, in).Write(&out, ts)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signed")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), path, lay
}

// oracleSlice is what an independent reader says about a signed slice.
type oracleSlice struct {
	Offset, DataOff, DataSize, LEFileOff, LEFileSize, LEVMSize int64
}

// macholibSlices reads path with Debian's python3 macholib.
func macholibSlices(t *testing.T, path string) []oracleSlice {
	const script = `
import json, sys
from macholib.MachO import MachO
from macholib.mach_o import LC_CODE_SIGNATURE, LC_SEGMENT, LC_SEGMENT_64
out = []
for h in MachO(sys.argv[1]).headers:
    o = {"Offset": h.offset}
    for lc, cmd, _ in h.commands:
        if lc.cmd == LC_CODE_SIGNATURE:
            o["DataOff"], o["DataSize"] = cmd.dataoff, cmd.datasize
        elif lc.cmd in (LC_SEGMENT, LC_SEGMENT_64) and cmd.segname.rstrip(b"\0") == b"__LINKEDIT":
            o["LEFileOff"], o["LEFileSize"], o["LEVMSize"] = cmd.fileoff, cmd.filesize, cmd.vmsize
    out.append(o)
print(json.dumps(out))
`
	var got []oracleSlice
	if err := json.Unmarshal([]byte(testenv.Run(t, "/usr/bin/python3", "-c", script, path)), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// objdumpSlices reads path with llvm-objdump-14 --macho --private-headers
// (every architecture, in file order) and --universal-headers for offsets.
func objdumpSlices(t *testing.T, path string, fat bool) []oracleSlice {
	var got []oracleSlice
	var cur *oracleSlice
	state := ""
	for _, line := range strings.Split(testenv.Run(t, "llvm-objdump-14", "--macho", "--private-headers", "--arch=all", path), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		n := func() int64 { v, _ := strconv.ParseInt(f[len(f)-1], 0, 64); return v }
		switch {
		case f[0] == "Mach" && len(f) > 1 && f[1] == "header":
			got = append(got, oracleSlice{})
			cur, state = &got[len(got)-1], ""
		case f[0] == "cmd":
			state = f[1]
		case state == "LC_CODE_SIGNATURE" && f[0] == "dataoff":
			cur.DataOff = n()
		case state == "LC_CODE_SIGNATURE" && f[0] == "datasize":
			cur.DataSize = n()
		case f[0] == "segname" && f[1] == "__LINKEDIT":
			state = "__LINKEDIT"
		case state == "__LINKEDIT" && f[0] == "vmsize":
			cur.LEVMSize = n()
		case state == "__LINKEDIT" && f[0] == "fileoff":
			cur.LEFileOff = n()
		case state == "__LINKEDIT" && f[0] == "filesize":
			cur.LEFileSize = n()
		}
	}
	if fat {
		i := 0
		for _, line := range strings.Split(testenv.Run(t, "llvm-objdump-14", "--macho", "--universal-headers", path), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "offset" && i < len(got) {
				got[i].Offset, _ = strconv.ParseInt(f[1], 10, 64)
				i++
			}
		}
	}
	return got
}

// TestWriteOracles signs every fixture (unsigned: LC_CODE_SIGNATURE added)
// and the real Apple-signed fsevents.node (its signature replaced), and has
// llvm-objdump-14, python3 macholib and go-macho read the output.
func TestWriteOracles(t *testing.T) {
	var paths []string
	for _, name := range []string{"Demo", "DemoWidget", "libdemo.dylib", "DemoKit.fat", "Legacy.fat", "DemoWatch"} {
		paths = append(paths, testenv.IOSFixture(t, name))
	}
	if !testing.Short() {
		paths = append(paths, testenv.RealMachO(t)...)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			src := open(t, in)
			ts := &testSigner{code: map[string][32]byte{}}
			out, path, lay := sign(t, in, ts)
			f := open(t, out)
			if f.Fat != src.Fat || len(f.Slices) != len(src.Slices) || len(lay) != len(f.Slices) {
				t.Fatalf("output: fat %v, %d slices, %d layouts", f.Fat, len(f.Slices), len(lay))
			}
			want := make([]oracleSlice, len(f.Slices))
			for i, s := range f.Slices {
				o, l := src.Slices[i], lay[i]
				le := s.Segment("__LINKEDIT")
				added := 1 // LC_CODE_SIGNATURE added, or replaced in a signed input
				if o.Signed() {
					added = 0
					if sig, err := o.Signature(); err != nil || len(sig) < 12 || binary.BigEndian.Uint32(sig) != 0xfade0cc0 {
						t.Errorf("%s: input signature %.12x, %v: want a SuperBlob", o.Arch(), sig, err)
					}
				}
				switch {
				case !s.Signed() || s.CodeLimit() != l.CodeLimit || l.CodeLimit%16 != 0:
					t.Errorf("%s: signed %v, code limit %d, layout %+v", s.Arch(), s.Signed(), s.CodeLimit(), l)
				case s.Offset != l.Offset || s.Size != l.Size || l.CodeLimit+l.SigSize != s.Size:
					t.Errorf("%s: slice [%d, +%d), layout %+v: signature must end the slice", s.Arch(), s.Offset, s.Size, l)
				case int64(le.Offset+le.Filesz) != s.Size || int64(le.Memsz) != align(int64(le.Filesz), s.PageSize()):
					t.Errorf("%s: __LINKEDIT [%d, +%d) vmsize %#x, slice size %d", s.Arch(), le.Offset, le.Filesz, le.Memsz, s.Size)
				case len(s.Loads) != len(o.Loads)+added || s.ExecSegSize != o.ExecSegSize:
					t.Errorf("%s: %d load commands (was %d), exec seg %d (was %d)", s.Arch(), len(s.Loads), len(o.Loads), s.ExecSegSize, o.ExecSegSize)
				case f.Fat && (s.Offset%(1<<sliceAlign(s)) != 0 || (s.Cpu == CPUArm64 && s.Offset%0x4000 != 0)):
					t.Errorf("%s: fat slice at %#x not aligned to 2^%d", s.Arch(), s.Offset, sliceAlign(s))
				}
				// The signer saw exactly the bytes written before the signature.
				if h := sha256.Sum256(out[s.Offset : s.Offset+l.CodeLimit]); h != ts.code[s.Arch()] {
					t.Errorf("%s: code given to the signer differs from the output", s.Arch())
				}
				// Section data and __LINKEDIT content are copied unchanged.
				oldEnd := o.CodeLimit()
				if !bytes.Equal(out[s.Offset+o.firstData:s.Offset+min(oldEnd, o.Size)], in[o.Offset+o.firstData:o.Offset+min(oldEnd, o.Size)]) {
					t.Errorf("%s: bytes after the load commands changed", s.Arch())
				}
				if st, dy := s.Symtab, o.Symtab; st == nil || dy == nil || st.Symoff != dy.Symoff || st.Stroff != dy.Stroff {
					t.Errorf("%s: symtab moved", s.Arch())
				}
				want[i] = oracleSlice{Offset: l.Offset, DataOff: l.CodeLimit, DataSize: l.SigSize, LEFileOff: int64(le.Offset), LEFileSize: int64(le.Filesz), LEVMSize: int64(le.Memsz)}
			}
			if !f.Fat {
				want[0].Offset = 0
			}
			checkLayoutOracles(t, path, f.Fat, want)
		})
	}
}

func equalSlices(a, b []oracleSlice) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkLayoutOracles compares the layout want (slice offsets,
// LC_CODE_SIGNATURE, __LINKEDIT) with what Python's macholib, llvm-objdump
// and go-macho read of the file at path.
func checkLayoutOracles(t *testing.T, path string, fat bool, want []oracleSlice) {
	t.Helper()
	if got := macholibSlices(t, path); !equalSlices(got, want) {
		t.Errorf("macholib reads %+v, want %+v", got, want)
	}
	if got := objdumpSlices(t, path, fat); !equalSlices(got, want) {
		t.Errorf("llvm-objdump reads %+v, want %+v", got, want)
	}
	goMachoCheck(t, path, fat, want)
}

// goMachoCheck parses the output with github.com/blacktop/go-macho, which
// also reads and parses the embedded SuperBlob.
func goMachoCheck(t *testing.T, path string, fat bool, want []oracleSlice) {
	t.Helper()
	var files []*gomacho.File
	if fat {
		ff, err := gomacho.OpenFat(path)
		if err != nil {
			t.Fatalf("go-macho: %v", err)
		}
		defer ff.Close()
		for i, a := range ff.Arches {
			if int64(a.Offset) != want[i].Offset {
				t.Errorf("go-macho: slice %d at %d, want %d", i, a.Offset, want[i].Offset)
			}
			files = append(files, a.File)
		}
	} else {
		mf, err := gomacho.Open(path)
		if err != nil {
			t.Fatalf("go-macho: %v", err)
		}
		defer mf.Close()
		files = append(files, mf)
	}
	if len(files) != len(want) {
		t.Fatalf("go-macho: %d slices, want %d", len(files), len(want))
	}
	for i, mf := range files {
		cs := mf.CodeSignature()
		if cs == nil || int64(cs.Offset) != want[i].DataOff || int64(cs.Size) != want[i].DataSize {
			t.Errorf("go-macho: slice %d code signature %+v, want %+v", i, cs, want[i])
		}
	}
}

func TestResign(t *testing.T) {
	for _, name := range []string{"Demo", "DemoKit.fat", "Legacy.fat"} {
		t.Run(name, func(t *testing.T) {
			once, _, lay1 := sign(t, fixture(t, name), &testSigner{code: map[string][32]byte{}})
			// A bigger signature (another certificate chain) and a smaller one.
			for _, extra := range []int{0x2000, -0x300} {
				twice, path, lay2 := sign(t, once, &testSigner{extra: extra, code: map[string][32]byte{}})
				f, f1 := open(t, twice), open(t, once)
				for i, s := range f.Slices {
					if len(s.Loads) != len(f1.Slices[i].Loads) || lay2[i].CodeLimit != lay1[i].CodeLimit || lay2[i].SigSize != lay1[i].SigSize+int64(extra) {
						t.Errorf("%s: re-signed %d loads (was %d), layout %+v (was %+v)", s.Arch(), len(s.Loads), len(f1.Slices[i].Loads), lay2[i], lay1[i])
					}
				}
				want := make([]oracleSlice, len(lay2))
				for i, s := range f.Slices {
					le := s.Segment("__LINKEDIT")
					want[i] = oracleSlice{Offset: lay2[i].Offset, DataOff: lay2[i].CodeLimit, DataSize: lay2[i].SigSize, LEFileOff: int64(le.Offset), LEFileSize: int64(le.Filesz), LEVMSize: int64(le.Memsz)}
				}
				if got := macholibSlices(t, path); !equalSlices(got, want) {
					t.Errorf("macholib reads %+v, want %+v", got, want)
				}
			}
		})
	}
}

// patch returns a copy of b with f applied.
func patch(b []byte, f func(b []byte)) []byte {
	c := bytes.Clone(b)
	f(c)
	return c
}

// loadCmdOffset returns the offset of the first load command cmd in the
// thin 64-bit little-endian Mach-O b.
func loadCmdOffset(t testing.TB, b []byte, cmd uint32) int {
	t.Helper()
	off := hdrSize64
	for range binary.LittleEndian.Uint32(b[16:]) {
		if binary.LittleEndian.Uint32(b[off:]) == cmd {
			return off
		}
		off += int(binary.LittleEndian.Uint32(b[off+4:]))
	}
	t.Fatalf("no load command %#x", cmd)
	return 0
}

func TestBadInput(t *testing.T) {
	demo, kit := fixture(t, "Demo"), fixture(t, "DemoKit.fat")
	kitFat := open(t, kit)
	encrypted := func(b []byte) []byte {
		return patch(b, func(c []byte) { binary.LittleEndian.PutUint32(c[loadCmdOffset(t, c, lcEncryption64)+16:], 1) })
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrTruncated, ""},
		{"not Mach-O", []byte("PK\x03\x04 not a binary at all"), ErrNotMachO, ""},
		{"truncated header", demo[:20], ErrTruncated, ""},
		{"truncated after load commands", demo[:0x2000], ErrTruncated, ""},
		{"truncated linkedit", demo[:len(demo)-8], ErrTruncated, ""},
		{"sizeofcmds past the file", patch(demo, func(c []byte) { binary.LittleEndian.PutUint32(c[20:], uint32(len(demo))) }), ErrLoadCmds, "sizeofcmds"},
		{"load commands over section data", patch(demo, func(c []byte) { binary.LittleEndian.PutUint32(c[20:], 0x4000) }), ErrLoadCmds, ""},
		{"encrypted", encrypted(demo), ErrEncrypted, "not from the App Store"},
		{"encrypted fat slice", patch(kit, func(c []byte) {
			s := kitFat.Slices[1]
			copy(c[s.Offset:], encrypted(c[s.Offset:s.Offset+s.Size]))
		}), ErrEncrypted, "arm64"},
		{"fat slices overlap", patch(kit, func(c []byte) {
			binary.BigEndian.PutUint32(c[8+20+8:], binary.BigEndian.Uint32(c[8+8:])+0x1000)
		}), ErrFatSlices, "overlaps"},
		{"fat slice past the file", patch(kit, func(c []byte) {
			binary.BigEndian.PutUint32(c[8+20+12:], uint32(len(kit)))
		}), ErrFatSlices, "outside the file"},
		{"fat slice inside the header", patch(kit, func(c []byte) { binary.BigEndian.PutUint32(c[8+8:], 4) }), ErrFatSlices, ""},
		{"fat arch count", patch(kit, func(c []byte) { binary.BigEndian.PutUint32(c[4:], 1000) }), ErrFatSlices, ""},
		{"fat arch mismatch", patch(kit, func(c []byte) { binary.BigEndian.PutUint32(c[8:], uint32(CPUArm64)) }), ErrFatSlices, "header"},
		{"fat truncated", kit[:len(kit)-100], ErrFatSlices, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tc.in), int64(len(tc.in)))
			var fe *FormatError
			if !errors.Is(err, tc.want) || !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestWriteRefuses(t *testing.T) {
	widget := fixture(t, "DemoWidget")
	s := open(t, widget).Slices[0]
	room := s.firstData - s.cmdsEnd
	// Fill the header padding with one unknown load command, leaving 8 bytes.
	full := patch(widget, func(c []byte) {
		binary.LittleEndian.PutUint32(c[16:], uint32(len(s.Loads)+1))
		binary.LittleEndian.PutUint32(c[20:], uint32(s.cmdsEnd-hdrSize64+room-8))
		binary.LittleEndian.PutUint32(c[s.cmdsEnd:], 0x7ffffff0)
		binary.LittleEndian.PutUint32(c[s.cmdsEnd+4:], uint32(room-8))
	})
	trailing := append(bytes.Clone(widget), make([]byte, 64)...)
	signed, _, _ := sign(t, widget, &testSigner{code: map[string][32]byte{}})
	afterSig := patch(signed, func(c []byte) {
		at := loadCmdOffset(t, c, lcCodeSignature)
		binary.LittleEndian.PutUint32(c[at+12:], binary.LittleEndian.Uint32(c[at+12:])-32)
	})
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"no header padding", full, ErrNoRoom},
		{"data after __LINKEDIT", trailing, ErrLayout},
		{"data after the signature", afterSig, ErrLayout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := open(t, tc.in).Write(&out, &testSigner{code: map[string][32]byte{}})
			if !errors.Is(err, tc.want) || out.Len() != 0 {
				t.Fatalf("err = %v (wrote %d bytes), want %v and nothing written", err, out.Len(), tc.want)
			}
		})
	}
	if room < 24 {
		t.Fatalf("DemoWidget has %d bytes of header padding: the no-room case needs ≥ 24", room)
	}
}

// TestSubtypes covers the cpu subtypes lld cannot make: arm64e (with its
// capability byte), armv7s.
func TestSubtypes(t *testing.T) {
	for _, tc := range []struct {
		name, fixture string
		sub           uint32
		want          string
	}{
		{"arm64e", "Demo", SubArm64E | 0x80000000, "arm64e"},
		{"armv7s", "Legacy.fat", SubArmV7S, "armv7s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := fixture(t, tc.fixture)
			f := open(t, in)
			in = patch(in, func(c []byte) {
				s := f.Slices[0]
				binary.LittleEndian.PutUint32(c[s.Offset+8:], tc.sub)
				if f.Fat {
					binary.BigEndian.PutUint32(c[8+4:], tc.sub)
				}
			})
			if got := open(t, in).Slices[0].Arch(); got != tc.want {
				t.Fatalf("arch %s, want %s", got, tc.want)
			}
			out, _, _ := sign(t, in, &testSigner{code: map[string][32]byte{}})
			if s := open(t, out).Slices[0]; s.SubCpu != tc.sub || !s.Signed() {
				t.Fatalf("signed slice subtype %#x signed %v, want %#x", s.SubCpu, s.Signed(), tc.sub)
			}
		})
	}
}

func FuzzNewReader(f *testing.F) {
	for _, name := range []string{"Demo", "libdemo.dylib", "DemoKit.fat", "Legacy.fat", "DemoWatch"} {
		f.Add(fixture(f, name))
	}
	f.Add([]byte("\xcf\xfa\xed\xfe")) // a tiny seed: the engine mutates 64 KiB seeds slowly
	f.Add(unusedCmdSpace(f, fixture(f, "Demo")))
	f.Fuzz(func(t *testing.T, b []byte) {
		mf, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		var out bytes.Buffer
		if _, err := mf.Write(&out, &testSigner{code: map[string][32]byte{}}); err != nil {
			return
		}
		// What we write, we must read back, signed.
		back, err := NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("reading our output: %v", err)
		}
		for _, s := range back.Slices {
			if !s.Signed() {
				t.Fatalf("%s slice unsigned after Write", s.Arch())
			}
		}
	})
}

// TestUnusedLoadCommandSpace: a slice whose sizeofcmds counts bytes after
// its last load command (which the kernel allows and ld never writes; the
// fuzzer found it) is signed with LC_CODE_SIGNATURE right after the last
// command and sizeofcmds set to what the commands occupy, so that
// llvm-objdump, macholib and go-macho walk every command to the new one
// (before the fix, the new command was written after the unused bytes and
// a reader walking ncmds commands met zeros).
func TestUnusedLoadCommandSpace(t *testing.T) {
	src := open(t, fixture(t, "Demo")).Slices[0]
	used := uint32(src.cmdsEnd - src.hdrSize)
	in := unusedCmdSpace(t, fixture(t, "Demo"))
	ts := &testSigner{code: map[string][32]byte{}}
	out, path, lay := sign(t, in, ts)
	s := open(t, out).Slices[0]
	le := s.Segment("__LINKEDIT")
	if got := binary.LittleEndian.Uint32(out[20:]); got != used+codeSigCmdSize || !s.Signed() || len(s.Loads) != len(src.Loads)+1 {
		t.Fatalf("sizeofcmds %d (want %d), signed %v, %d load commands (was %d)", got, used+codeSigCmdSize, s.Signed(), len(s.Loads), len(src.Loads))
	}
	checkLayoutOracles(t, path, false, []oracleSlice{{DataOff: lay[0].CodeLimit, DataSize: lay[0].SigSize,
		LEFileOff: int64(le.Offset), LEFileSize: int64(le.Filesz), LEVMSize: int64(le.Memsz)}})
}

// unusedCmdSpace returns the thin slice b with sizeofcmds counting 32
// bytes of garbage after its last load command.
func unusedCmdSpace(t testing.TB, b []byte) []byte {
	s := open(t, b).Slices[0]
	return patch(b, func(c []byte) {
		binary.LittleEndian.PutUint32(c[20:], uint32(s.cmdsEnd-s.hdrSize)+32)
		copy(c[s.cmdsEnd:s.cmdsEnd+32], bytes.Repeat([]byte{0xa5}, 32))
	})
}
