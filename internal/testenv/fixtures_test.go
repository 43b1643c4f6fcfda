package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fixtureRow is one line of the table in testdata/apk/README.md, which
// scripts/make-fixtures.sh writes from the same list it builds the fixtures from.
type fixtureRow struct {
	file    string   // e.g. "v1-only.apk"
	pkg     string   // manifest package
	minSDK  string   // android:minSdkVersion
	schemes []string // "v1", "v2", "v3" in order; nil when unsigned ("none")
	key     string   // "rsa" or "ec" (testdata/keys/<key>.x509.pem); "" when unsigned
}

// tableRow is one row of a Markdown table: its line number (from 1) and its
// cells, trimmed.
type tableRow struct {
	line  int
	cells []string
}

// readTable returns the rows of every Markdown table in the file at path,
// header rows included, separator rows (---) left out.
func readTable(t *testing.T, path string) []tableRow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read fixture table: %v", err)
	}
	var rows []tableRow
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if !strings.HasPrefix(cells[0], "---") {
			rows = append(rows, tableRow{n + 1, cells})
		}
	}
	return rows
}

// readHeadedTable returns the data rows of the one table in the file at
// path, failing the test unless its first row is header and every other row
// has as many cells.
func readHeadedTable(t *testing.T, path string, header []string) []tableRow {
	t.Helper()
	rows := readTable(t, path)
	if len(rows) == 0 {
		t.Fatalf("%s: no table", path)
	}
	if !slices.Equal(rows[0].cells, header) {
		t.Fatalf("%s:%d: table header %q, want %q", path, rows[0].line, rows[0].cells, header)
	}
	for _, r := range rows[1:] {
		if len(r.cells) != len(header) {
			t.Fatalf("%s:%d: %d cells, want %d: %q", path, r.line, len(r.cells), len(header), r.cells)
		}
	}
	return rows[1:]
}

// readFixtureTable parses testdata/apk/README.md, failing the test on any row
// it does not understand, so the README cannot drift into an unchecked shape.
func readFixtureTable(t *testing.T) []fixtureRow {
	t.Helper()
	path := filepath.Join(Root(t), "testdata", "apk", "README.md")
	header := []string{"file", "package", "minSdk", "schemes", "key", "exists to test"}
	schemeRE := regexp.MustCompile(`^v[1-3]$`)
	var rows []fixtureRow
	for _, tr := range readHeadedTable(t, path, header) {
		cells, line := tr.cells, strings.Join(tr.cells, " | ")
		r := fixtureRow{file: cells[0], pkg: cells[1], minSDK: cells[2]}
		if !strings.HasSuffix(r.file, ".apk") || r.pkg == "" || r.minSDK == "" {
			t.Fatalf("%s:%d: malformed row %q", path, tr.line, line)
		}
		if cells[3] != "none" {
			r.schemes = strings.Split(cells[3], "+")
			for _, s := range r.schemes {
				if !schemeRE.MatchString(s) {
					t.Fatalf("%s:%d: unknown scheme %q", path, tr.line, s)
				}
			}
		}
		if cells[4] != "-" {
			r.key, _, _ = strings.Cut(cells[4], " ")
		}
		if (r.key == "") != (r.schemes == nil) {
			t.Fatalf("%s:%d: a fixture has a key exactly when it is signed: %q", path, tr.line, line)
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no fixture rows", path)
	}
	return rows
}

// certSHA256 returns the hex SHA-256 of the DER certificate in a PEM file,
// the digest apksigner prints for a signer.
func certSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read certificate: %v", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM CERTIFICATE block", path)
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:])
}

// TestFixtureTableListsEveryFixture checks that the README table and the
// *.apk files in testdata/apk name exactly the same fixtures.
func TestFixtureTableListsEveryFixture(t *testing.T) {
	var listed []string
	for _, r := range readFixtureTable(t) {
		listed = append(listed, r.file)
	}
	var present []string
	for _, p := range Fixtures(t) {
		present = append(present, filepath.Base(p))
	}
	slices.Sort(listed)
	slices.Sort(present)
	if !slices.Equal(listed, present) {
		t.Errorf("README lists %q, testdata/apk holds %q", listed, present)
	}
}

// TestFixturesMatchTable checks every fixture in the README with the real
// oracles: apksigner must verify exactly the documented schemes with the
// documented test key (and refuse the unsigned one), and aapt must read the
// documented package and minSdk from the binary manifest.
func TestFixturesMatchTable(t *testing.T) {
	root := Root(t)
	verifiedRE := regexp.MustCompile(`(?m)^Verified using (v[1-4]) scheme [^:]*: (true|false)$`)
	digestRE := regexp.MustCompile(`(?m)^Signer #1 certificate SHA-256 digest: ([0-9a-f]{64})$`)
	for _, r := range readFixtureTable(t) {
		t.Run(strings.TrimSuffix(r.file, ".apk"), func(t *testing.T) {
			t.Parallel()
			apk := filepath.Join(root, "testdata", "apk", r.file)
			if _, err := os.Stat(apk); err != nil {
				t.Fatalf("listed fixture missing: %v", err)
			}

			out, err := exec.Command(Tool(t, "apksigner"), "verify", "-v", "--print-certs", apk).CombinedOutput()
			if r.schemes == nil {
				if err == nil || !strings.Contains(string(out), "DOES NOT VERIFY") {
					t.Errorf("apksigner verify of an unsigned fixture: err=%v\n%s", err, out)
				}
			} else {
				if err != nil {
					t.Fatalf("apksigner verify: %v\n%s", err, out)
				}
				var got []string
				seen := 0
				for _, m := range verifiedRE.FindAllStringSubmatch(string(out), -1) {
					seen++
					if m[2] == "true" {
						got = append(got, m[1])
					}
				}
				if seen != 4 {
					t.Fatalf("apksigner printed %d scheme lines, want 4:\n%s", seen, out)
				}
				if !slices.Equal(got, r.schemes) {
					t.Errorf("apksigner verified schemes %q, README says %q", got, r.schemes)
				}
				if !strings.Contains(string(out), "Number of signers: 1\n") {
					t.Errorf("want exactly one signer:\n%s", out)
				}
				want := certSHA256(t, filepath.Join(root, "testdata", "keys", r.key+".x509.pem"))
				got1 := "none"
				if m := digestRE.FindStringSubmatch(string(out)); m != nil {
					got1 = m[1]
				}
				if got1 != want {
					t.Errorf("signer certificate digest %s, want the %s test key's %s", got1, r.key, want)
				}
			}

			badging := Run(t, "aapt", "dump", "badging", apk)
			if !strings.Contains(badging, "package: name='"+r.pkg+"'") {
				t.Errorf("aapt: package is not %s:\n%s", r.pkg, badging)
			}
			if !strings.Contains(badging, "\nsdkVersion:'"+r.minSDK+"'\n") {
				t.Errorf("aapt: minSdk is not %s:\n%s", r.minSDK, badging)
			}
		})
	}
}

// TestZipalign16 gives the project's own 16 KiB alignment oracle teeth: it
// must accept a fixture whose stored .so files start on 16 KiB boundaries and
// refuse the one whose .so files are only 4-byte aligned, naming each.
func TestZipalign16(t *testing.T) {
	tool := Tool(t, "zipalign16")
	dir := filepath.Join(Root(t), "testdata", "apk")
	if out, err := exec.Command(tool, filepath.Join(dir, "native.apk")).CombinedOutput(); err != nil {
		t.Fatalf("zipalign16 refused native.apk: %v\n%s", err, out)
	}
	out, err := exec.Command(tool, filepath.Join(dir, "native-unaligned.apk")).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("zipalign16 on native-unaligned.apk: %v, want exit 1\n%s", err, out)
	}
	for _, lib := range []string{"lib/arm64-v8a/libhello.so", "lib/x86_64/libhello.so"} {
		if !strings.Contains(string(out), lib+": data at offset") {
			t.Errorf("zipalign16 does not name %s:\n%s", lib, out)
		}
	}
}
