package axml

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// TestRoundTrip decodes and re-encodes every binary XML entry of the real
// apps and of the fixtures (when built) and requires identical bytes. For the
// real apps it also requires that the string pool model, not a raw copy,
// produced them, and that the canonical layout the encoder uses after an edit
// is the one aapt/aapt2 wrote.
func TestRoundTrip(t *testing.T) {
	apks := append(testenv.RealApps(t), fixtureAPKs(t)...)
	real := map[string]bool{}
	for _, p := range testenv.RealApps(t) {
		real[p] = true
	}
	for _, apk := range apks {
		t.Run(filepath.Base(apk), func(t *testing.T) {
			entries := binaryXMLs(t, apk)
			if len(entries) == 0 {
				t.Fatal("no binary XML entries")
			}
			var utf8, utf16, rawPools int
			for _, e := range entries {
				d := mustDecode(t, e.name, e.data)
				got := mustEncode(t, e.name, d)
				if !bytes.Equal(got, e.data) {
					t.Errorf("%s: re-encoded %d bytes differ from the %d original bytes (first difference at %d)",
						e.name, len(got), len(e.data), firstDiff(got, e.data))
					continue
				}
				if d.pool.isUTF8() {
					utf8++
				} else {
					utf16++
				}
				if d.pool.raw != nil {
					rawPools++
					continue
				}
				d.pool.edited() // canonical layout: what an edited pool looks like
				if got := mustEncode(t, e.name, d); !bytes.Equal(got, e.data) {
					t.Errorf("%s: canonical pool layout differs from aapt's at byte %d", e.name, firstDiff(got, e.data))
				}
			}
			if real[apk] && rawPools > 0 {
				t.Errorf("%d string pools were kept raw: the model does not reproduce aapt's layout", rawPools)
			}
			t.Logf("%d binary XML documents round-trip byte-identical (%d UTF-8 pools, %d UTF-16 pools, %d kept raw)",
				len(entries), utf8, utf16, rawPools)
		})
	}
}

// TestDecodeDoesNotAlias checks that the document owns its bytes.
func TestDecodeDoesNotAlias(t *testing.T) {
	orig := testenv.ZipEntry(t, testenv.RealApp(t, "settings_apk-debug.apk"), "AndroidManifest.xml")
	in := bytes.Clone(orig)
	d := mustDecode(t, "manifest", in)
	for i := range in {
		in[i] = 0xAA
	}
	if got := mustEncode(t, "manifest", d); !bytes.Equal(got, orig) {
		t.Fatal("encoding changed after the input buffer was overwritten")
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// BenchmarkDecodeEncode measures a decode and encode of the ApiDemos manifest.
func BenchmarkDecodeEncode(b *testing.B) {
	data := testenv.ZipEntry(b, testenv.RealApp(b, "ApiDemos-debug.apk"), "AndroidManifest.xml")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRoundTripUnusual covers layouts aapt does not write but the format
// allows: an unknown chunk between nodes, bytes after the document's declared
// size, a short tail inside it, a second string pool. Each round-trips, and
// survives an edit untouched.
func TestRoundTripUnusual(t *testing.T) {
	base := testenv.ZipEntry(t, testenv.RealApp(t, "settings_apk-debug.apk"), "res/layout/main.xml")
	l := readLayout(t, base)
	elem := l.first(t, typeStartElement)
	pool := l.first(t, typeStringPool)
	poolBytes := base[pool : pool+int(le32(base[pool+4:]))]
	// Among the nodes the platform reads any chunk as a node: 16-byte header.
	unknown := le32Append(nil, 0x00100150, 20, 1, noIndex, 0xefbeadde)
	insert := func(at int, c []byte) []byte { return insertChunk(base, at, c) }
	tests := []struct {
		name string
		in   []byte
		keep []byte // bytes the edited document must still contain
	}{
		{"unknown chunk", insert(elem, unknown), unknown},
		{"bytes after the document", append(bytes.Clone(base), "TRAILER"...), []byte("TRAILER")},
		{"short tail inside the document", insert(len(base), []byte{1, 2, 3, 4, 5}), []byte{1, 2, 3, 4, 5}},
		{"second string pool", insert(elem, poolBytes), poolBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDecode(t, tt.name, tt.in)
			if out := mustEncode(t, tt.name, d); !bytes.Equal(out, tt.in) {
				t.Fatalf("does not round-trip (first difference at %d)", firstDiff(out, tt.in))
			}
			if err := d.SetAndroidAttr(d.Root(), AttrLabel, StringValue("edited")); err != nil {
				t.Fatal(err)
			}
			out := mustEncode(t, tt.name, d)
			if !bytes.Contains(out, tt.keep) {
				t.Error("edit lost the unusual bytes")
			}
			mustDecode(t, "edited", out)
		})
	}
}

// TestAddResourceMap removes the resource map from a real layout; adding a
// framework attribute must create one that aapt2 reads the ID from.
func TestAddResourceMap(t *testing.T) {
	const file = "res/layout/main.xml"
	apk := testenv.RealApp(t, "settings_apk-debug.apk")
	base := testenv.ZipEntry(t, apk, file)
	l := readLayout(t, base)
	m := l.first(t, typeResourceMap)
	size := int(le32(base[m+4:]))
	in := append(bytes.Clone(base[:m]), base[m+size:]...)
	put32(in, 4, uint32(len(in)))
	d := mustDecode(t, file, in)
	if d.resMap != nil {
		t.Fatal("resource map still there")
	}
	if err := d.SetAndroidAttr(d.Root(), AttrLabel, StringValue("mapped")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "nomap.apk")
	testenv.RewriteZip(t, apk, out, map[string][]byte{file: mustEncode(t, file, d)})
	got := testenv.Run(t, "aapt2", "dump", "xmltree", "--file", file, out)
	want := `A: http://schemas.android.com/apk/res/android:label(0x01010001)="mapped" (Raw: "mapped")`
	if !strings.Contains(got, want) {
		t.Errorf("aapt2 dump lacks %s:\n%s", want, got[:min(len(got), 600)])
	}
	// The other attributes lost their IDs with the map: aapt2 shows them bare.
	if !strings.Contains(got, "android:layout_width=") {
		t.Errorf("expected unmapped attributes in the dump:\n%s", got[:min(len(got), 600)])
	}
}
