package testenv

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestAABFixtureTable checks testdata/aab/README.md (written by
// scripts/make-aab-fixtures.sh) against the files: the same fixtures, and
// each signed by the key its row names, as `keytool -printcert -jarfile`
// (an independent reader of JAR signatures) sees it; the unsigned one is
// not a signed JAR to keytool.
func TestAABFixtureTable(t *testing.T) {
	dir := filepath.Join(Root(t), "testdata", "aab")
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	header := []string{"file", "modules", "signed by", "exists to test"}
	keyRE := regexp.MustCompile(`^jarsigner, (rsa|ec)\.jks, SHA256with(RSA|ECDSA)$`)
	fingerprintRE := regexp.MustCompile(`(?m)^\s*SHA256: ([0-9A-F:]{95})$`)
	var listed []string
	sawHeader := false
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !sawHeader:
			if !slices.Equal(cells, header) {
				t.Fatalf("table header %q, want %q", cells, header)
			}
			sawHeader = true
			continue
		case strings.HasPrefix(cells[0], "---"):
			continue
		case len(cells) != len(header) || !strings.HasSuffix(cells[0], ".aab"):
			t.Fatalf("malformed row %q", line)
		}
		listed = append(listed, cells[0])
		out, _ := RunStatus(t, "keytool", "-printcert", "-jarfile", filepath.Join(dir, cells[0]))
		if cells[2] == "unsigned" {
			if !strings.Contains(out, "Not a signed jar file") {
				t.Errorf("%s: documented unsigned, keytool says:\n%s", cells[0], out)
			}
			continue
		}
		m := keyRE.FindStringSubmatch(cells[2])
		if m == nil {
			t.Fatalf("%s: signed by %q: not a known test key", cells[0], cells[2])
		}
		want := certSHA256(t, filepath.Join(Root(t), "testdata", "keys", m[1]+".x509.pem"))
		got := fingerprintRE.FindStringSubmatch(out)
		if got == nil || strings.ToLower(strings.ReplaceAll(got[1], ":", "")) != want {
			t.Errorf("%s: keytool sees signer %v, want the %s test key %s:\n%s", cells[0], got, m[1], want, out)
		}
	}
	var present []string
	for _, p := range AABFixtures(t) {
		present = append(present, filepath.Base(p))
	}
	slices.Sort(listed)
	slices.Sort(present)
	if !slices.Equal(listed, present) {
		t.Errorf("README lists %q, testdata/aab holds %q", listed, present)
	}
}
