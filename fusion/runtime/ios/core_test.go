package iosrt_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// core is the host build of core/ with the hosttest driver: bin by
// clang-14, asan by gcc with AddressSanitizer and UndefinedBehaviorSanitizer
// (Debian's clang-14 ships no sanitizer runtime).
var core struct {
	once      sync.Once
	dir       string
	bin, asan string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if core.dir != "" {
		os.RemoveAll(core.dir)
	}
	os.Exit(code)
}

// coreSources lists core/*.c.
func coreSources(t testing.TB) []string {
	t.Helper()
	srcs, err := filepath.Glob(filepath.Join(testenv.Root(t), "fusion", "runtime", "ios", "core", "*.c"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("core sources: %v", err)
	}
	return srcs
}

// strictC are the flags every host build uses.
var strictC = []string{"-std=c11", "-pedantic", "-Wall", "-Wextra", "-Wconversion", "-Werror", "-O1", "-g"}

// hostCore compiles the core and the driver twice, once per test binary.
func hostCore(t testing.TB) (string, string) {
	t.Helper()
	clang, gcc := testenv.Tool(t, "clang-14"), testenv.Tool(t, "gcc")
	core.once.Do(func() {
		if core.dir, core.err = os.MkdirTemp("", "trustfuse-ioscore-"); core.err != nil {
			return
		}
		core.bin, core.asan = filepath.Join(core.dir, "hosttest"), filepath.Join(core.dir, "hosttest-asan")
		srcs := append([]string{filepath.Join(testenv.Root(t), "fusion", "runtime", "ios", "core", "hosttest", "main.c")}, coreSources(t)...)
		for _, b := range []struct {
			cc, out string
			extra   []string
		}{
			{clang, core.bin, nil},
			{gcc, core.asan, []string{"-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"}},
		} {
			args := append(append(append([]string{}, strictC...), b.extra...), "-o", b.out)
			out, err := exec.Command(b.cc, append(args, srcs...)...).CombinedOutput()
			if err != nil {
				core.err = fmt.Errorf("%s: %w\n%s", filepath.Base(b.cc), err, out)
				return
			}
		}
	})
	if core.err != nil {
		t.Fatalf("building the core: %v", core.err)
	}
	return core.bin, core.asan
}

// run runs the clang build of the driver and then the sanitized gcc build,
// which must agree (stdout and exit code) and report nothing. It returns
// stdout (trimmed) and the exit code.
func run(t testing.TB, args ...string) (string, int) {
	t.Helper()
	bin, asan := hostCore(t)
	var outs [2]string
	var codes [2]int
	for i, b := range []string{bin, asan} {
		cmd := exec.Command(b, args...)
		cmd.Env = append(os.Environ(), "ASAN_OPTIONS=detect_leaks=0")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			codes[i] = ee.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		if strings.Contains(stderr.String(), "Sanitizer") || strings.Contains(stderr.String(), "runtime error") {
			t.Fatalf("hosttest %s: sanitizer:\n%s", args[0], stderr.String())
		}
		outs[i] = strings.TrimSpace(stdout.String())
	}
	if outs[0] != outs[1] || codes[0] != codes[1] {
		t.Fatalf("hosttest %s: clang build says %q (exit %d), gcc build %q (exit %d)", args[0], outs[0], codes[0], outs[1], codes[1])
	}
	return outs[0], codes[0]
}

// mustRun runs the driver and fails the test unless it exits 0.
func mustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, code := run(t, args...)
	if code != 0 {
		t.Fatalf("hosttest %s: exit %d", args[0], code)
	}
	return out
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// libcSurface is every C library function the core calls: the Apple
// build's libSystem stub must export them, and nothing else is allowed.
const libcSurface = `#include <stddef.h>
void *memcpy(void *, const void *, size_t);
void *memset(void *, int, size_t);
int memcmp(const void *, const void *, size_t);
size_t strlen(const char *);
int strcmp(const char *, const char *);
char *strchr(const char *, int);
`

// TestCoreIsPortableC: the core includes only <stddef.h>, <stdint.h> and
// <string.h>, allocates nothing, and compiles as strict C11 for
// arm64-apple-ios14.0 against clang's freestanding headers plus a string.h
// declaring only libcSurface.
func TestCoreIsPortableC(t *testing.T) {
	allowed := map[string]bool{"<stddef.h>": true, "<stdint.h>": true, "<string.h>": true,
		`"trustfuse_core.h"`: true, `"tf_internal.h"`: true}
	files, _ := filepath.Glob(filepath.Join(testenv.Root(t), "fusion", "runtime", "ios", "core", "*.[ch]"))
	inc := regexp.MustCompile(`(?m)^\s*#\s*include\s+(\S+)`)
	alloc := regexp.MustCompile(`\b(malloc|calloc|realloc|free|alloca)\s*\(`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range inc.FindAllStringSubmatch(string(b), -1) {
			if !allowed[m[1]] {
				t.Errorf("%s includes %s", filepath.Base(f), m[1])
			}
		}
		if alloc.Match(b) {
			t.Errorf("%s allocates memory", filepath.Base(f))
		}
	}
	clang := testenv.Tool(t, "clang-14")
	inc0 := t.TempDir()
	if err := os.WriteFile(filepath.Join(inc0, "string.h"), []byte(libcSurface), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range coreSources(t) {
		out, err := exec.Command(clang, "--target=arm64-apple-ios14.0", "-std=c11", "-pedantic", "-Wall", "-Wextra",
			"-Wconversion", "-Werror", "-ffreestanding", "-nostdlibinc", "-isystem", inc0, "-fsyntax-only", src).CombinedOutput()
		if err != nil {
			t.Errorf("%s for arm64-apple-ios14.0: %v\n%s", filepath.Base(src), err, out)
		}
	}
}
