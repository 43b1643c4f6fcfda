package iosrt_test

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gomacho "github.com/blacktop/go-macho"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/ipa"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

type codesig struct {
	TeamID   string
	CDHash   string
	HashType int
	CPUType  uint32
}

func readCodesig(t *testing.T, file string, cpu uint32) codesig {
	t.Helper()
	args := []string{"macho", file}
	if cpu != 0 {
		args = append(args, strconv.FormatUint(uint64(cpu), 10))
	}
	var cs codesig
	if err := json.Unmarshal([]byte(mustRun(t, args...)), &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// signDemo signs testdata/ios/DemoFull.ipa (arm64 executables, a fat
// x86_64+arm64 framework, an arm64_32 watch app, a dylib) as `trustfuse
// sign` does, with the fixture distribution identity and profiles, or ad
// hoc.
func signDemo(t *testing.T, adHoc bool) (string, *ipa.SignResult) {
	t.Helper()
	o := ipa.SignOptions{AdHoc: true, Time: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)}
	if !adHoc {
		k, err := keys.Load(testenv.IOSFixture(t, "pki/dist.p12"), []byte("fixture"), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		prof := func(name string) []byte {
			b, err := os.ReadFile(testenv.IOSFixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		o = ipa.SignOptions{Signer: k.Key, Chain: k.Chain, Time: o.Time, Profiles: map[string][]byte{"": prof("app.mobileprovision"),
			"com.example.demo.widget": prof("widget.mobileprovision"), "com.example.demo.watchkitapp": prof("watch.mobileprovision")}}
	}
	in, err := ipa.Open(testenv.IOSFixture(t, "DemoFull.ipa"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), "signed.ipa")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := ipa.Sign(f, in.IPA, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out, res
}

func isMachO(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	be, le := binary.BigEndian.Uint32(b), binary.LittleEndian.Uint32(b)
	return be == 0xcafebabe || le == 0xfeedfacf || le == 0xfeedface
}

// TestCodeSignatureReader: on every executable of a signed IPA, the core
// reads each slice's team id and cdhash as go-macho does (an independent
// Mach-O and code-signature parser), and for the slice a device runs (no
// cputype given) the cdhash and team id pkg/ipa reports for the bundle.
func TestCodeSignatureReader(t *testing.T) {
	for _, adHoc := range []bool{false, true} {
		t.Run("adhoc="+strconv.FormatBool(adHoc), func(t *testing.T) {
			signed, res := signDemo(t, adHoc)
			entries := testenv.ZipEntries(t, signed)
			dir := t.TempDir()
			checked := 0
			for _, sb := range res.Bundles {
				var exe string
				for name, b := range entries {
					inDir := strings.HasSuffix(sb.Dir, "/") && path.Dir(name)+"/" == sb.Dir
					if (name == sb.Dir || inDir) && isMachO(b) {
						exe = name
					}
				}
				if exe == "" {
					t.Fatalf("no executable for bundle %s", sb.Dir)
				}
				p := filepath.Join(dir, strings.ReplaceAll(exe, "/", "_"))
				if err := os.WriteFile(p, entries[exe], 0o600); err != nil {
					t.Fatal(err)
				}
				got := readCodesig(t, p, 0)
				if got.CDHash != sb.CDHash || got.TeamID != sb.TeamID || got.HashType != 2 {
					t.Errorf("%s: core %+v, pkg/ipa cdhash %s team %q", exe, got, sb.CDHash, sb.TeamID)
				}
				slices := goMachoSlices(t, p)
				for _, mf := range slices {
					cs := mf.CodeSignature()
					if cs == nil || len(cs.CodeDirectories) == 0 {
						t.Fatalf("%s: go-macho reads no signature", exe)
					}
					cd := cs.CodeDirectories[0]
					one := readCodesig(t, p, uint32(mf.CPU))
					if len(slices) == 1 {
						one = got
					}
					if one.CDHash != cd.CDHash[:40] || one.TeamID != cd.TeamID || one.CPUType != uint32(mf.CPU) {
						t.Errorf("%s %s: core %+v, go-macho cdhash %s team %q", exe, mf.CPU, one, cd.CDHash, cd.TeamID)
					}
					checked++
				}
			}
			if checked < 6 {
				t.Fatalf("checked %d slices, want the 6 of DemoFull.ipa", checked)
			}
		})
	}
}

func goMachoSlices(t *testing.T, p string) []*gomacho.File {
	t.Helper()
	if ff, err := gomacho.OpenFat(p); err == nil {
		t.Cleanup(func() { ff.Close() })
		var fs []*gomacho.File
		for _, a := range ff.Arches {
			fs = append(fs, a.File)
		}
		return fs
	}
	f, err := gomacho.Open(p)
	if err != nil {
		t.Fatalf("go-macho: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return []*gomacho.File{f}
}

// TestCodeSignatureHostile: unsigned binaries have no signature (exit 4);
// truncated or corrupted ones are malformed (exit 2), never a crash or an
// out-of-bounds read (the sanitized build runs every case).
func TestCodeSignatureHostile(t *testing.T) {
	signed, _ := signDemo(t, false)
	exe := testenv.ZipEntry(t, signed, "Payload/Demo.app/Demo")
	sigOff := codeSignatureOffset(t, exe)
	set := func(off int, v uint32, bigEndian bool) []byte {
		b := append([]byte(nil), exe...)
		if bigEndian {
			binary.BigEndian.PutUint32(b[off:], v)
		} else {
			binary.LittleEndian.PutUint32(b[off:], v)
		}
		return b
	}
	unsigned, err := os.ReadFile(testenv.IOSFixture(t, "Demo"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		file []byte
		code int
	}{
		{"unsigned", unsigned, 4},
		{"unsigned fat", mustRead(t, testenv.IOSFixture(t, "DemoKit.fat")), 4},
		{"empty", nil, 2},
		{"not Mach-O", []byte("hello, world, this is text"), 2},
		{"truncated header", exe[:20], 2},
		{"truncated signature", exe[:sigOff+20], 2},
		{"sizeofcmds too large", set(20, 0xffffff00, false), 2},
		{"SuperBlob bad magic", set(sigOff, 0xdeadbeef, true), 2},
		{"SuperBlob count too large", set(sigOff+8, 0x10000000, true), 2},
		{"blob offset out of range", set(sigOff+16, 0x7fffffff, true), 2},
		{"fat arch count too large", []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 200, 0, 0, 0, 0}, 2},
		{"fat slice out of range", append([]byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 1, 1, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 28, 0x7f, 0, 0, 0, 0, 0, 0, 14}, exe[:64]...), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, code := run(t, "macho", writeFile(t, "bin", c.file)); code != c.code {
				t.Fatalf("exit %d, want %d", code, c.code)
			}
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// codeSignatureOffset finds LC_CODE_SIGNATURE's dataoff with go-macho.
func codeSignatureOffset(t *testing.T, exe []byte) int {
	t.Helper()
	f, err := gomacho.Open(writeFile(t, "exe", exe))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cs := f.CodeSignature()
	if cs == nil {
		t.Fatal("no code signature")
	}
	for _, l := range f.Loads {
		if s, ok := l.(*gomacho.CodeSignature); ok {
			return int(s.Offset)
		}
	}
	t.Fatal("no LC_CODE_SIGNATURE")
	return 0
}
