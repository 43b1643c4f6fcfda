package axml

import (
	"archive/zip"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// xmlEntry is one binary XML entry of an APK.
type xmlEntry struct {
	name string
	data []byte
}

// binaryXMLs returns AndroidManifest.xml and every res/**/*.xml entry of the
// APK that is binary XML (starts with chunk type 0x0003), in archive order.
func binaryXMLs(t testing.TB, apk string) []xmlEntry {
	t.Helper()
	r, err := zip.OpenReader(apk)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []xmlEntry
	for _, f := range r.File {
		if f.Name != "AndroidManifest.xml" && !(strings.HasPrefix(f.Name, "res/") && strings.HasSuffix(f.Name, ".xml")) {
			continue
		}
		data := readEntry(t, f)
		if len(data) >= 2 && data[0] == 0x03 && data[1] == 0x00 {
			out = append(out, xmlEntry{f.Name, data})
		}
	}
	return out
}

func readEntry(t testing.TB, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	return data
}

// fixtureAPKs returns testdata/apk/*.apk, possibly none (the fixtures are
// built by scripts/make-fixtures.sh).
func fixtureAPKs(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(testenv.Root(t), "testdata", "apk", "*.apk"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// dumpLines runs an oracle and returns its output lines, right-trimmed.
func dumpLines(t testing.TB, tool string, args ...string) []string {
	t.Helper()
	return splitLines(testenv.Run(t, tool, args...))
}

// dumpStdout runs an oracle and returns its standard output lines,
// right-trimmed, without the warnings libandroidfw logs to standard error
// (which interleave with the dump mid-line); it fails the test if the
// command exits non-zero.
func dumpStdout(t testing.TB, tool string, args ...string) []string {
	t.Helper()
	var stderr strings.Builder
	cmd := exec.Command(testenv.Tool(t, tool), args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, stderr.String())
	}
	return splitLines(string(out))
}

// splitLines splits a tool's output into right-trimmed lines.
func splitLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		lines = append(lines, strings.TrimRight(l, " \r"))
	}
	return lines
}

// mustDecode decodes b or fails the test.
func mustDecode(t testing.TB, name string, b []byte) *Document {
	t.Helper()
	d, err := Decode(b)
	if err != nil {
		t.Fatalf("%s: Decode: %v", name, err)
	}
	return d
}

// mustEncode encodes d or fails the test.
func mustEncode(t testing.TB, name string, d *Document) []byte {
	t.Helper()
	b, err := d.Encode()
	if err != nil {
		t.Fatalf("%s: Encode: %v", name, err)
	}
	return b
}

// convertPool re-encodes every string of d's pool as UTF-8 (or UTF-16) and
// marks the pool edited, so it is written in the canonical layout.
func convertPool(t testing.TB, d *Document, toUTF8 bool) {
	t.Helper()
	p := d.pool
	if toUTF8 {
		p.flags |= poolUTF8
	} else {
		p.flags &^= poolUTF8
	}
	for i := range p.strs {
		raw, err := encodeString(p.strs[i].s, toUTF8)
		if err != nil {
			t.Fatalf("string %d: %v", i, err)
		}
		p.strs[i].raw = raw
	}
	p.edited()
}
