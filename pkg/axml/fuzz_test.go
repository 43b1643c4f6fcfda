package axml

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// FuzzDecode checks, on any input: Decode does not panic and fails only with
// a *FormatError; a decoded document encodes back to exactly its input, and
// that re-decodes and re-encodes identically; the pipeline's edits on it do
// not panic and produce a document that decodes, holds the edit, and is
// stable under decode/encode.
//
// Seeds: the settings app's manifest (UTF-16 pool) and two small aapt2 res
// XMLs (UTF-8 pools), each shape of that manifest that only the platform's
// parser reads (setToShapes: other outer types, decoy pools and maps, unknown
// chunks, trailing bytes), plus the utf8 fixture's manifest (CESU-8 strings)
// when the fixtures are built.
func FuzzDecode(f *testing.F) {
	settings := testenv.RealApp(f, "settings_apk-debug.apk")
	for _, name := range []string{"AndroidManifest.xml", "res/xml/method.xml", "res/color/common_google_signin_btn_tint.xml"} {
		f.Add(testenv.ZipEntry(f, settings, name))
	}
	manifest := testenv.ZipEntry(f, settings, "AndroidManifest.xml")
	for _, s := range setToShapes() {
		f.Add(s.make(f, bytes.Clone(manifest)))
	}
	for _, apk := range fixtureAPKs(f) {
		if filepath.Base(apk) == "utf8.apk" {
			f.Add(testenv.ZipEntry(f, apk, "AndroidManifest.xml"))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := Decode(in)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			return
		}
		out := mustEncode(t, "input", d)
		if !bytes.Equal(out, in) {
			t.Fatalf("decoded input re-encodes differently (first difference at %d)", firstDiff(out, in))
		}
		if again := mustEncode(t, "re-decoded", mustDecode(t, "encoded", out)); !bytes.Equal(again, out) {
			t.Fatal("decode(encode(x)) re-encodes differently")
		}

		root := d.Root()
		if root == nil {
			return
		}
		_, _ = ParseManifest(d)
		el, err := d.AddElement(root, "provider")
		if errors.Is(err, ErrNoEndTag) || errors.Is(err, ErrTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("AddElement: %v", err)
		}
		for _, a := range []struct {
			id ResID
			v  Value
		}{{AttrName, StringValue("fuzz.Provider")}, {AttrInitOrder, IntValue(7)}} {
			if err := d.SetAndroidAttr(el, a.id, a.v); err != nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("SetAndroidAttr(%v): %v", a.id, err)
			}
		}
		edited := mustEncode(t, "edited", d)
		d2, err := Decode(edited)
		if err != nil {
			t.Fatalf("edited document does not decode: %v", err)
		}
		if again := mustEncode(t, "edited, re-decoded", d2); !bytes.Equal(again, edited) {
			t.Fatal("edited document is not stable under decode/encode")
		}
		kids := d2.Root().FindChildren("provider")
		if len(kids) == 0 {
			t.Fatal("added element not found after re-decoding")
		}
		last := kids[len(kids)-1]
		if v, ok := last.AttrByID(AttrName); ok && v.String() != "fuzz.Provider" {
			t.Fatalf("added android:name reads back as %q", v.String())
		}
	})
}
