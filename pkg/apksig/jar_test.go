package apksig

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// TestVerifyJARCopies checks what VerifyJARCopies leaves out and what it
// still checks: the digest of an entry reported as a copy is not recomputed,
// but the entry must be listed in MANIFEST.MF, and every other entry's digest
// and the signature are checked as VerifyJAR checks them.
func TestVerifyJARCopies(t *testing.T) {
	s := fixtureKeys(t)["rsa.jks"]
	var signed bytesBuffer
	inputs := []Input{
		{Name: "base/dex/classes.dex", Data: []byte("dex\n035\x00 written by fuse"), Method: zipx.Deflate},
		{Name: "camera/dex/classes.dex", Data: []byte("a feature module, copied raw"), Method: zipx.Store},
	}
	if err := SignJAR(&signed, inputs, s, JAROptions{}); err != nil {
		t.Fatal(err)
	}
	// Change one byte of the stored entry's content (CRC and digest left as
	// they were), so only a digest check (or the CRC at the end of a full
	// read) can notice.
	tampered := bytes.Clone(signed)
	i := bytes.Index(tampered, []byte("copied raw"))
	if i < 0 {
		t.Fatal("stored entry not found")
	}
	tampered[i] = 'C'
	// An entry added after signing, which MANIFEST.MF does not list.
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "signed.aab"), filepath.Join(dir, "unlisted.aab")
	if err := os.WriteFile(src, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.RewriteZip(t, src, dst, nil, testenv.ZipFile{Name: "camera/assets/added.bin", Data: []byte("added"), Stored: true})
	unlisted, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}

	isCopy := func(e *zipx.Entry) bool { return strings.HasPrefix(e.Name, "camera/") }
	for _, tc := range []struct {
		name     string
		archive  []byte
		copied   func(*zipx.Entry) bool
		verified bool
		codes    []string
	}{
		{"intact, every digest", signed, nil, true, nil},
		{"intact, copies skipped", signed, isCopy, true, nil},
		{"copy tampered, every digest", tampered, nil, false, []string{"V1_MALFORMED_ENTRY"}},
		{"copy tampered, copies skipped", tampered, isCopy, true, nil},
		{"written entry tampered is still caught", tampered, func(*zipx.Entry) bool { return false }, false, []string{"V1_MALFORMED_ENTRY"}},
		{"copy not listed in MANIFEST.MF", unlisted, isCopy, false, []string{"V1_ENTRY_NOT_IN_MANIFEST"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, err := zipx.NewReader(bytes.NewReader(tc.archive), int64(len(tc.archive)))
			if err != nil {
				t.Fatal(err)
			}
			res, err := VerifyJARCopies(z, tc.copied)
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, is := range res.AllErrors() {
				codes = append(codes, is.Code)
			}
			if res.Verified != tc.verified {
				t.Fatalf("verified = %t, want %t (%v)", res.Verified, tc.verified, res.AllErrors())
			}
			for _, want := range tc.codes {
				if !slices.Contains(codes, want) {
					t.Errorf("errors %v lack %s", codes, want)
				}
			}
		})
	}
}
