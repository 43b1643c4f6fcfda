package zipx

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// FuzzReader feeds arbitrary bytes to NewReaderZip64 and NewReader. Seeds:
// the fixtures and small ZIP64 archives. What the strict reader reads the
// ZIP64 reader reads alike; whatever parses must decompress without
// panicking and survive a raw copy that parses again with the same entries.
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
	f.Add(zip64Archive("", zipFile{name: "a.txt", body: "hello"}, zipFile{name: "dir/b", body: "world"}))
	f.Add(zip64Archive("\x00\x00", zipFile{name: "a", body: ""}))
	for _, method := range []uint16{Store, Deflate} {
		var buf bytes.Buffer
		w := NewWriter(onlyWriter{&buf}, Options{}) // ZIP64 local header, data descriptor
		ew, err := w.Create(Header{Name: "Payload/A.app/A", Method: method})
		if err != nil {
			f.Fatal(err)
		}
		io.WriteString(ew, "streamed streamed streamed")
		if err := ew.Close(); err != nil {
			f.Fatal(err)
		}
		if err := w.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		strict, serr := NewReader(bytes.NewReader(data), int64(len(data)))
		z, err := NewReaderZip64(bytes.NewReader(data), int64(len(data)))
		if serr == nil && (err != nil || len(z.Entries) != len(strict.Entries)) {
			t.Fatalf("the strict reader reads %d entries, the ZIP64 reader: %v", len(strict.Entries), err)
		}
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
		z2, err := NewReaderZip64(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("copy does not parse: %v", err)
		}
		if len(z2.Entries) != len(z.Entries) {
			t.Fatalf("copy has %d entries, want %d", len(z2.Entries), len(z.Entries))
		}
	})
}
