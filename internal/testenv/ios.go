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

var (
	machoOnce sync.Once
	machoOut  []byte
	machoErr  error
)

// RealMachO returns the paths of real Apple-linked, Apple-signed Mach-O
// binaries (scripts/fetch-real-apps.sh macho: fsevents.node from npm, a fat
// x86_64 + arm64 bundle), fetching them on first use.
func RealMachO(t testing.TB) []string {
	t.Helper()
	machoOnce.Do(func() {
		cmd := exec.Command(filepath.Join(Root(t), "scripts", "fetch-real-apps.sh"), "macho")
		cmd.Stderr = os.Stderr
		machoOut, machoErr = cmd.Output()
	})
	paths := strings.Fields(string(machoOut))
	if machoErr != nil || len(paths) == 0 {
		t.Fatalf("testenv: scripts/fetch-real-apps.sh macho: %v (output %q)", machoErr, machoOut)
	}
	return paths
}
