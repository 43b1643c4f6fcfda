package testenv

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// IOSFixture returns the path of testdata/ios/name (made by
// scripts/make-ios-fixtures.sh; the fake Apple PKI is under "pki/").
func IOSFixture(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Root(t), "testdata", "ios", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: %v: run scripts/make-ios-fixtures.sh", err)
	}
	return p
}

// fetched is one run of scripts/fetch-real-apps.sh: the paths it printed.
type fetched struct {
	once  sync.Once
	paths []string
	out   []byte
	err   error
}

var (
	fetchMu sync.Mutex
	fetches = map[string]*fetched{}
)

// fetchReal runs scripts/fetch-real-apps.sh with mode as its argument ("" for
// none) once per test binary and returns the absolute paths it printed, one
// per line.
func fetchReal(t testing.TB, mode string) []string {
	t.Helper()
	fetchMu.Lock()
	f := fetches[mode]
	if f == nil {
		f = &fetched{}
		fetches[mode] = f
	}
	fetchMu.Unlock()
	root := Root(t)
	f.once.Do(func() {
		args := []string{}
		if mode != "" {
			args = append(args, mode)
		}
		cmd := exec.Command(filepath.Join(root, "scripts", "fetch-real-apps.sh"), args...)
		cmd.Stderr = os.Stderr
		f.out, f.err = cmd.Output()
		for _, l := range strings.Split(string(f.out), "\n") {
			if l != "" {
				f.paths = append(f.paths, l)
			}
		}
	})
	if f.err != nil || len(f.paths) == 0 {
		t.Fatalf("testenv: scripts/fetch-real-apps.sh %s: %v (output %q)", mode, f.err, f.out)
	}
	return f.paths
}

// RealMachO returns the paths of real Apple-linked, Apple-signed Mach-O
// binaries (scripts/fetch-real-apps.sh macho: fsevents.node from npm, a fat
// x86_64 + arm64 bundle), fetching them on first use.
func RealMachO(t testing.TB) []string {
	t.Helper()
	return fetchReal(t, "macho")
}

// RealBundle is one real Xcode-built iOS bundle (a .framework or .app
// directory) fetched by scripts/fetch-real-apps.sh ios.
type RealBundle struct {
	Name string // the bundle's directory name, e.g. "TestApp.app"
	// ID is "<parent directory>/<Name>", unique among the bundles:
	// "node-ios-device@1.13.0/TestApp.app", "ios-arm64/TNSListView.framework".
	ID   string
	Dir  string // absolute path of the bundle directory
	Exec string // its main executable: Dir/<Name without the extension>
}

// RealIOS returns the real Xcode-built iOS bundles, fetching them on first
// use (scripts/fetch-real-apps.sh ios, whose header lists them: an app
// signed by an Apple-issued certificate with its provisioning profile,
// frameworks with ad hoc signed simulator slices and unsigned device slices,
// among them armv7, and an unsigned i386 simulator app). Names repeat; IDs
// do not.
func RealIOS(t testing.TB) []RealBundle {
	t.Helper()
	var bs []RealBundle
	for _, dir := range fetchReal(t, "ios") {
		name := filepath.Base(dir)
		exec := filepath.Join(dir, strings.TrimSuffix(name, filepath.Ext(name)))
		if _, err := os.Stat(exec); err != nil {
			t.Fatalf("testenv: real iOS bundle %s has no executable: %v", dir, err)
		}
		id := filepath.Base(filepath.Dir(dir)) + "/" + name
		bs = append(bs, RealBundle{Name: name, ID: id, Dir: dir, Exec: exec})
	}
	return bs
}

// StandInDylib builds a tiny arm64 iOS dylib with the given install name
// (clang-14 + ld64.lld-14 against a one-symbol libSystem .tbd, as
// scripts/make-ios-fixtures.sh links its fixtures), for tests that need
// a framework binary without its real content (the TrustFuse runtime's
// stand-in until it is checked in). It skips when the tools are missing.
func StandInDylib(t testing.TB, installName string) []byte {
	t.Helper()
	clang, ld := Tool(t, "clang-14"), Tool(t, "ld64.lld-14")
	dir := t.TempDir()
	tbd := "--- !tapi-tbd\ntbd-version: 4\ntargets: [ arm64-ios ]\ninstall-name: '/usr/lib/libSystem.B.dylib'\n" +
		"exports:\n  - targets: [ arm64-ios ]\n    symbols: [ dyld_stub_binder ]\n...\n"
	src := "int trustfuse_standin(void) { return 14; }\n"
	for name, b := range map[string]string{"libSystem.tbd": tbd, "s.c": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	obj, out := filepath.Join(dir, "s.o"), filepath.Join(dir, "standin")
	for _, cmd := range [][]string{
		{clang, "--target=arm64-apple-ios14.0", "-nostdinc", "-Os", "-c", filepath.Join(dir, "s.c"), "-o", obj},
		{ld, "-arch", "arm64", "-platform_version", "ios", "14.0", "16.0", "-dylib", "-install_name", installName,
			"-o", out, filepath.Join(dir, "libSystem.tbd"), obj},
	} {
		if b, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("testenv: %s: %v\n%s", filepath.Base(cmd[0]), err, b)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SetCryptID sets cryptid to 1 in the LC_ENCRYPTION_INFO_64 of the thin
// 64-bit little-endian Mach-O b, as an App Store download has it.
func SetCryptID(t testing.TB, b []byte) []byte {
	t.Helper()
	b = bytes.Clone(b)
	le := binary.LittleEndian
	ncmds, off := le.Uint32(b[16:]), 32
	for range ncmds {
		cmd, size := le.Uint32(b[off:]), int(le.Uint32(b[off+4:]))
		if cmd == 0x2c {
			le.PutUint32(b[off+16:], 1)
			return b
		}
		off += size
	}
	t.Fatal("testenv: no LC_ENCRYPTION_INFO_64")
	return nil
}

// FillHeaderPadding returns the thin 64-bit little-endian Mach-O b with
// its header padding (from the end of the load commands to the first
// section data, as debug/macho reads them) filled by one unknown load
// command, leaving leave bytes: an executable linked without
// -headerpad_max_install_names and little room.
func FillHeaderPadding(t testing.TB, b []byte, leave int64) []byte {
	t.Helper()
	f, err := macho.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	cmdsEnd := int64(32 + f.Cmdsz)
	first := int64(len(b))
	for _, s := range f.Sections {
		if s.Offset != 0 && s.Size != 0 {
			first = min(first, int64(s.Offset))
		}
	}
	room := first - cmdsEnd - leave
	if room < 8 {
		t.Fatalf("testenv: %d bytes of header padding, cannot leave %d", first-cmdsEnd, leave)
	}
	b = bytes.Clone(b)
	le.PutUint32(b[16:], f.Ncmd+1)
	le.PutUint32(b[20:], f.Cmdsz+uint32(room))
	le.PutUint32(b[cmdsEnd:], 0x7ffffff0)
	le.PutUint32(b[cmdsEnd+4:], uint32(room))
	return b
}
