package testenv

import (
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
