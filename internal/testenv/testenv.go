// Package testenv gives tests the repository's fixtures, the real third-party
// apps fetched by scripts/fetch-real-apps.sh, and the independent oracle tools
// (apksigner, aapt2, …). A missing oracle or app fails the test with the
// command that installs it: tests never skip the independent check silently.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Root returns the repository root (the directory holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// RealApps returns the absolute paths of the real third-party APKs
// (ApiDemos-debug.apk, settings_apk-debug.apk), fetching them on first use.
func RealApps(t testing.TB) []string {
	t.Helper()
	return fetchReal(t, "")
}

// RealApp returns the path of the real app whose file name is base.
func RealApp(t testing.TB, base string) string {
	t.Helper()
	for _, p := range RealApps(t) {
		if filepath.Base(p) == base {
			return p
		}
	}
	t.Fatalf("testenv: real app %s not fetched", base)
	return ""
}

// Fixtures returns the APK fixtures in testdata/apk (made by scripts/make-fixtures.sh).
func Fixtures(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(Root(t), "testdata", "apk", "*.apk"))
	if err != nil || len(m) == 0 {
		t.Fatalf("testenv: no fixtures in testdata/apk: run scripts/make-fixtures.sh (%v)", err)
	}
	return m
}

// AABFixtures returns the Android App Bundle fixtures in testdata/aab (made
// by scripts/make-aab-fixtures.sh).
func AABFixtures(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(Root(t), "testdata", "aab", "*.aab"))
	if err != nil || len(m) == 0 {
		t.Fatalf("testenv: no fixtures in testdata/aab: run scripts/make-aab-fixtures.sh (%v)", err)
	}
	return m
}

// AllAPKs returns the fixtures followed by the real apps.
func AllAPKs(t testing.TB) []string {
	t.Helper()
	return append(Fixtures(t), RealApps(t)...)
}

// Tool returns the path of an oracle command, failing the test if it is not
// installed (scripts/install-deps.sh installs every one). In -short mode
// (the race-detector pass of scripts/test.sh, after the full run) tests that
// need an oracle are skipped: the full run has checked them.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("testenv: %s not run in -short mode", name)
	}
	if name == "zipalign16" {
		// The project's own 16 KiB alignment checker (Python's zipfile, no
		// code shared with pkg/zipx): Debian's zipalign has no -P.
		return filepath.Join(Root(t), "scripts", "zipalign16")
	}
	p, err := exec.LookPath(name)
	if err != nil {
		// Daemons (nginx) live in sbin, which a non-login PATH may lack.
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if st, serr := os.Stat(filepath.Join(dir, name)); serr == nil && st.Mode()&0o111 != 0 {
				return filepath.Join(dir, name)
			}
		}
		t.Fatalf("testenv: oracle %s not installed: run scripts/install-deps.sh", name)
	}
	return p
}

// Run runs an oracle and returns its combined output; it fails the test if the
// command exits non-zero.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(Tool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// RunStatus runs an oracle and returns its combined output and its error
// (non-nil when it exits non-zero), for tests that expect it to refuse.
func RunStatus(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(Tool(t, name), args...).CombinedOutput()
	return string(out), err
}
