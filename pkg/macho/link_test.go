package macho

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	gomacho "github.com/blacktop/go-macho"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

var trustFuse = Link{Dylib: "@rpath/TrustFuse.framework/TrustFuse", Rpath: "@executable_path/Frameworks"}

// linked is what an oracle reads of a slice's dylibs and rpaths.
type linked struct {
	Dylibs []string
	Rpaths []string
}

// objdumpLinks reads every slice's LC_LOAD_DYLIB (name, versions) and
// LC_RPATH with llvm-objdump-14 --macho --private-headers --arch=all.
func objdumpLinks(t *testing.T, path string) []linked {
	t.Helper()
	var got []linked
	state := ""
	var dylib string
	for _, line := range strings.Split(testenv.Run(t, "llvm-objdump-14", "--macho", "--private-headers", "--arch=all", path), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "Mach" && len(f) > 1 && f[1] == "header":
			got = append(got, linked{})
		case f[0] == "cmd":
			state = f[1]
		case state == "LC_LOAD_DYLIB" && f[0] == "name":
			dylib = f[1]
		case state == "LC_LOAD_DYLIB" && f[0] == "time" && f[1] == "stamp":
			dylib += " stamp " + f[2]
		case state == "LC_LOAD_DYLIB" && f[0] == "current" && f[1] == "version":
			dylib += " current " + f[2]
		case state == "LC_LOAD_DYLIB" && f[0] == "compatibility":
			got[len(got)-1].Dylibs = append(got[len(got)-1].Dylibs, dylib+" compat "+f[2])
		case state == "LC_RPATH" && f[0] == "path":
			got[len(got)-1].Rpaths = append(got[len(got)-1].Rpaths, f[1])
		}
	}
	return got
}

// macholibLinks reads every slice's dylibs and rpaths with Debian's
// python3 macholib.
func macholibLinks(t *testing.T, path string) []linked {
	t.Helper()
	const script = `
import json, sys
from macholib.MachO import MachO
from macholib.mach_o import LC_LOAD_DYLIB, LC_RPATH
out = []
for h in MachO(sys.argv[1]).headers:
    o = {"Dylibs": [], "Rpaths": []}
    for lc, cmd, data in h.commands:
        if lc.cmd == LC_LOAD_DYLIB:
            o["Dylibs"].append(data.rstrip(b"\0").decode())
        elif lc.cmd == LC_RPATH:
            o["Rpaths"].append(data.rstrip(b"\0").decode())
    out.append(o)
print(json.dumps(out))
`
	var got []linked
	if err := json.Unmarshal([]byte(testenv.Run(t, "/usr/bin/python3", "-c", script, path)), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// goMachoLinks reads every slice's dylibs and rpaths with go-macho.
func goMachoLinks(t *testing.T, path string, fat bool) []linked {
	t.Helper()
	var got []linked
	for _, mf := range goMachoFiles(t, path, fat) {
		var l linked
		for _, lc := range mf.Loads {
			switch c := lc.(type) {
			case *gomacho.LoadDylib:
				l.Dylibs = append(l.Dylibs, c.Name)
			case *gomacho.Rpath:
				l.Rpaths = append(l.Rpaths, c.Path)
			}
		}
		if mf.CodeSignature() == nil {
			t.Errorf("go-macho: no code signature")
		}
		got = append(got, l)
	}
	return got
}

// TestAddLink adds the TrustFuse framework to thin and fat executables and
// a dylib, signs them, and has llvm-objdump-14, macholib and go-macho read
// the new commands in every slice; the bytes after the header padding are
// unchanged, and a second AddLink on the output adds nothing.
func TestAddLink(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fat       bool
		addsRpath bool // the input has no LC_RPATH @executable_path/Frameworks
	}{
		{"Demo", false, false},      // thin, already has the rpath
		{"DemoWidget", false, true}, // thin, lld's default padding, another rpath
		{"Legacy.fat", true, true},  // fat: 32-bit armv7 (4-byte command padding) + arm64
		{"DemoWatch", false, true},  // arm64_32
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := fixture(t, tc.name)
			src := open(t, in)
			f := open(t, in)
			if err := f.AddLink(trustFuse); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := f.Write(&buf, &testSigner{code: map[string][32]byte{}}); err != nil {
				t.Fatal(err)
			}
			out := buf.Bytes()
			path := t.TempDir() + "/linked"
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			got := open(t, out)
			added := 1 // LC_LOAD_DYLIB
			if tc.addsRpath {
				added++
			}
			for i, s := range got.Slices {
				o := src.Slices[i]
				if len(s.Loads) != len(o.Loads)+added+1 { // + LC_CODE_SIGNATURE
					t.Errorf("%s: %d load commands, was %d", s.Arch(), len(s.Loads), len(o.Loads))
				}
				// Everything from the first section data to the old end of
				// __LINKEDIT is copied unchanged.
				end := min(o.CodeLimit(), o.Size)
				if !bytes.Equal(out[s.Offset+o.firstData:s.Offset+end], in[o.Offset+o.firstData:o.Offset+end]) {
					t.Errorf("%s: bytes after the header padding changed", s.Arch())
				}
				if pad := out[s.Offset+s.cmdsEnd : s.Offset+o.firstData]; len(bytes.Trim(pad, "\x00")) != 0 {
					t.Errorf("%s: header padding after the new commands is not zero", s.Arch())
				}
			}
			wantDylib := "@rpath/TrustFuse.framework/TrustFuse stamp 2 current 1.0.0 compat 1.0.0"
			for i, l := range objdumpLinks(t, path) {
				if len(l.Dylibs) == 0 || l.Dylibs[len(l.Dylibs)-1] != wantDylib {
					t.Errorf("llvm-objdump: slice %d dylibs %q, want last %q", i, l.Dylibs, wantDylib)
				}
				if !contains(l.Rpaths, trustFuse.Rpath) {
					t.Errorf("llvm-objdump: slice %d rpaths %q", i, l.Rpaths)
				}
			}
			ml, gm := macholibLinks(t, path), goMachoLinks(t, path, tc.fat)
			if len(ml) != len(src.Slices) || len(gm) != len(src.Slices) {
				t.Fatalf("macholib reads %d slices, go-macho %d, want %d", len(ml), len(gm), len(src.Slices))
			}
			for i := range ml {
				for who, l := range map[string]linked{"macholib": ml[i], "go-macho": gm[i]} {
					if !contains(l.Dylibs, trustFuse.Dylib) || !contains(l.Rpaths, trustFuse.Rpath) {
						t.Errorf("%s: slice %d reads %+v", who, i, l)
					}
					if n := count(l.Rpaths, trustFuse.Rpath); n != 1 {
						t.Errorf("%s: slice %d has the rpath %d times", who, i, n)
					}
				}
			}
			// Idempotent: the output already links the framework.
			again := open(t, out)
			if err := again.AddLink(trustFuse); err != nil {
				t.Fatal(err)
			}
			for _, s := range again.Slices {
				if len(s.extra) != 0 {
					t.Errorf("%s: AddLink on a linked file adds %d bytes", s.Arch(), len(s.extra))
				}
			}
		})
	}
}

// TestAddLinkNoRoom: without room for the new commands and the signature,
// AddLink fails naming -headerpad_max_install_names and changes no slice.
// DemoKit.fat's x86_64 slice (lld's x86_64 layout) has 32 bytes of
// padding: room for a signature, not for the framework.
func TestAddLinkNoRoom(t *testing.T) {
	widget := fixture(t, "DemoWidget")
	// LC_LOAD_DYLIB (64) + LC_RPATH (40) + LC_CODE_SIGNATURE (16) = 120.
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"room for the signature only", testenv.FillHeaderPadding(t, widget, 16), false},
		{"one byte short", testenv.FillHeaderPadding(t, widget, 119), false},
		{"exactly enough", testenv.FillHeaderPadding(t, widget, 120), true},
		{"fat, one slice without room", fixture(t, "DemoKit.fat"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := open(t, tc.in)
			err := f.AddLink(trustFuse)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if _, err := f.Write(&buf, &testSigner{code: map[string][32]byte{}}); err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FormatError
			if !errors.Is(err, ErrNoRoom) || !errors.As(err, &fe) || !strings.Contains(err.Error(), "-headerpad_max_install_names") {
				t.Fatalf("err = %v, want ErrNoRoom naming -headerpad_max_install_names", err)
			}
			for _, s := range f.Slices {
				if len(s.extra) != 0 {
					t.Fatalf("a refused AddLink changed the %s slice", s.Arch())
				}
			}
		})
	}
}

func contains(s []string, v string) bool { return count(s, v) > 0 }

func count(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
