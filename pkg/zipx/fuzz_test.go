package zipx

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// FuzzReader feeds arbitrary bytes to NewReader. Seeds: the fixtures. Whatever
// parses must decompress without panicking and survive a raw copy that parses
// again with the same entries.
func FuzzReader(f *testing.F) {
	for _, p := range testenv.Fixtures(f) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		z, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, e := range z.Entries {
			io.Copy(io.Discard, io.LimitReader(e.Open(), 1<<20))
		}
		var buf bytes.Buffer
		w := NewWriter(&buf, Options{})
		for _, e := range z.Entries {
			if err := w.Copy(e); err != nil {
				t.Fatalf("copy %q: %v", e.Name, err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		z2, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("copy does not parse: %v", err)
		}
		if len(z2.Entries) != len(z.Entries) {
			t.Fatalf("copy has %d entries, want %d", len(z2.Entries), len(z.Entries))
		}
	})
}
