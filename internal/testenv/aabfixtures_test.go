package testenv

import (
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
	header := []string{"file", "modules", "signed by", "exists to test"}
	keyRE := regexp.MustCompile(`^jarsigner, (rsa|ec)\.jks, SHA256with(RSA|ECDSA)$`)
	fingerprintRE := regexp.MustCompile(`(?m)^\s*SHA256: ([0-9A-F:]{95})$`)
	var listed []string
	for _, r := range readHeadedTable(t, filepath.Join(dir, "README.md"), header) {
		cells := r.cells
		if !strings.HasSuffix(cells[0], ".aab") {
			t.Fatalf("malformed row %q", cells)
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
