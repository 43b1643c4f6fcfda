package aab

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// FuzzNewReader checks, on any input: NewReader does not panic and fails
// only with an aab or zipx *FormatError; a bundle it accepts has a base
// module first, every module manifest re-encodes to its bytes, and Info and
// Verify do not fail. Seeds: the bundle fixtures.
func FuzzNewReader(f *testing.F) {
	for _, p := range testenv.AABFixtures(f) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := NewReader(bytes.NewReader(in), int64(len(in)))
		if err != nil {
			var fe *FormatError
			var ze *zipx.FormatError
			if !errors.As(err, &fe) && !errors.As(err, &ze) {
				t.Fatalf("error %v (%T) is neither an aab nor a zipx *FormatError", err, err)
			}
			return
		}
		if b.Base().Name != BaseModule {
			t.Fatalf("first module is %q", b.Base().Name)
		}
		for _, m := range b.Modules {
			raw, err := m.ManifestEntry.ReadAll(maxManifestSize)
			if err != nil {
				t.Fatal(err)
			}
			out, err := m.ManifestDoc.Encode()
			if err != nil || !bytes.Equal(out, raw) {
				t.Fatalf("%s: manifest does not re-encode to its bytes (%v)", m.Name, err)
			}
		}
		if _, err := b.Info("fuzz.aab"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Verify(); err != nil {
			t.Fatal(err)
		}
	})
}
