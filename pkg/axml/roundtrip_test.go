package axml

import (
	"bytes"
	"path/filepath"
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
	orig := apkEntry(t, testenv.RealApp(t, "settings_apk-debug.apk"), "AndroidManifest.xml")
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
	data := apkEntry(b, testenv.RealApp(b, "ApiDemos-debug.apk"), "AndroidManifest.xml")
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
