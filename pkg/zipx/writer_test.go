package zipx

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// copyArchive rewrites src into dst entry by entry with Copy.
func copyArchive(t testing.TB, src, dst string, opts Options) {
	t.Helper()
	in, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := NewWriter(out, opts)
	for _, e := range in.Entries {
		if err := w.Copy(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCopyRealApps copies every fixture and real app unchanged and checks the
// result with zipalign, the 16 KiB oracle, and apksigner after signing.
func TestCopyRealApps(t *testing.T) {
	key := filepath.Join(testenv.Root(t), "testdata", "keys", "rsa-keytool.p12")
	for _, path := range testenv.AllAPKs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "copy.apk")
			copyArchive(t, path, dst, Options{})

			testenv.Run(t, "zipalign", "-c", "-p", "4", dst)
			testenv.Run(t, "zipalign16", dst)
			assertRawIdentical(t, path, dst)

			signed := filepath.Join(dir, "signed.apk")
			testenv.Run(t, "apksigner", "sign", "--ks", key, "--ks-pass", "pass:fixture-pass",
				"--in", dst, "--out", signed, "--v4-signing-enabled", "false")
			testenv.Run(t, "apksigner", "verify", signed)
		})
	}
}

// assertRawIdentical checks every entry of dst has the same name, order and
// compressed bytes as in src.
func assertRawIdentical(t *testing.T, src, dst string) {
	t.Helper()
	a, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if len(a.Entries) != len(b.Entries) {
		t.Fatalf("%d entries, want %d", len(b.Entries), len(a.Entries))
	}
	for i, ea := range a.Entries {
		eb := b.Entries[i]
		if ea.Name != eb.Name || ea.CRC32 != eb.CRC32 || ea.Method != eb.Method || ea.ExternalAttrs != eb.ExternalAttrs {
			t.Fatalf("entry %d: %q differs from %q", i, eb.Name, ea.Name)
		}
		if rawDigest(t, ea) != rawDigest(t, eb) {
			t.Fatalf("%s: compressed bytes differ", ea.Name)
		}
	}
}

func rawDigest(t *testing.T, e *Entry) [32]byte {
	h := sha256.New()
	if _, err := io.Copy(h, e.OpenRaw()); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func TestAddAlignsAndIsDeterministic(t *testing.T) {
	write := func() []byte {
		var buf bytes.Buffer
		w := NewWriter(&buf, Options{Modified: time.Unix(1700000000, 0)})
		for _, add := range []struct {
			h    Header
			data string
		}{
			{Header{Name: "AndroidManifest.xml", Method: Deflate}, "manifest manifest manifest"},
			{Header{Name: "a", Method: Store}, "x"},
			{Header{Name: "resources.arsc", Method: Store}, "arsc"},
			{Header{Name: "lib/arm64-v8a/libx.so", Method: Store}, "\x7fELF so"},
			{Header{Name: "lib/x86_64/liby.so", Method: Store}, "\x7fELF so 2"},
			{Header{Name: "lib/x86_64/libz.so", Method: Deflate}, "\x7fELF deflated"},
		} {
			if err := w.Add(add.h, []byte(add.data)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b := write(), write()
	if !bytes.Equal(a, b) {
		t.Fatal("two writes of the same entries differ")
	}
	path := filepath.Join(t.TempDir(), "new.zip")
	if err := os.WriteFile(path, a, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "zipalign", "-c", "-p", "4", path)
	testenv.Run(t, "zipalign16", path)
	z, err := NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	so := z.Entry("lib/arm64-v8a/libx.so")
	if so.DataOffset%DefaultSoAlign != 0 {
		t.Fatalf(".so data at %d", so.DataOffset)
	}
	got, err := so.ReadAll(100)
	if err != nil || string(got) != "\x7fELF so" {
		t.Fatalf("read back %q, %v", got, err)
	}
	if tm, d := DOSTime(time.Unix(1700000000, 0)); so.ModTime != tm || so.ModDate != d {
		t.Fatal("timestamp not applied")
	}
}

func TestWriterRejects(t *testing.T) {
	w := NewWriter(io.Discard, Options{})
	if err := w.Add(Header{Name: "a"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		h    Header
		want error
	}{
		{Header{Name: "a"}, ErrDuplicateName},
		{Header{Name: "../a"}, ErrUnsafeName},
		{Header{Name: "b", Method: 12}, ErrUnsupportedMethod},
	} {
		if err := w.Add(c.h, []byte("x")); !errors.Is(err, c.want) {
			t.Errorf("%+v: got %v, want %v", c.h, err, c.want)
		}
	}
}

// TestWriteErrorSurfaces checks an error from the underlying writer is
// returned, not swallowed by buffering.
func TestWriteErrorSurfaces(t *testing.T) {
	w := NewWriter(failingWriter{}, Options{})
	w.Add(Header{Name: "a", Method: Store}, bytes.Repeat([]byte("x"), 1<<20))
	if err := w.Close(); err == nil {
		t.Fatal("Close succeeded on a failing writer")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func BenchmarkCopy(b *testing.B) {
	src := testenv.RealApp(b, "ApiDemos-debug.apk")
	dst := filepath.Join(b.TempDir(), "copy.apk")
	st, _ := os.Stat(src)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		copyArchive(b, src, dst, Options{})
	}
}
