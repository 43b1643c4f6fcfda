package testenv

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestIOSFixtureTable checks testdata/ios/README.md against the files: every
// file is listed, the architectures column of each Mach-O is what
// `llvm-lipo-14 -archs` reads, and every profile verifies with
// `openssl cms -verify` against the fake Apple root.
func TestIOSFixtureTable(t *testing.T) {
	dir := filepath.Join(Root(t), "testdata", "ios")
	var listed []string
	for _, r := range readTable(t, filepath.Join(dir, "README.md")) {
		cells := r.cells
		if cells[0] == "file" {
			continue
		}
		for _, f := range strings.Split(cells[0], ", ") {
			listed = append(listed, f)
		}
		path := filepath.Join(dir, cells[0])
		switch {
		case len(cells) == 4 && cells[2] != "-":
			got := strings.Join(strings.Fields(Run(t, "llvm-lipo-14", "-archs", path)), ", ")
			if got != cells[2] {
				t.Errorf("%s: llvm-lipo-14 -archs says %q, the table %q", cells[0], got, cells[2])
			}
		case strings.HasSuffix(cells[0], ".mobileprovision"):
			Run(t, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", path,
				"-CAfile", filepath.Join(dir, "pki", "root.pem"), "-purpose", "any", "-out", os.DevNull)
		}
	}
	var files []string
	for _, sub := range []string{"", "pki"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !e.IsDir() && e.Name() != "README.md" {
				files = append(files, e.Name())
			}
		}
	}
	slices.Sort(listed)
	slices.Sort(files)
	if !slices.Equal(listed, files) {
		t.Errorf("table lists %q, testdata/ios holds %q", listed, files)
	}
}
