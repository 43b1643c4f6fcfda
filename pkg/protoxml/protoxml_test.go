package protoxml

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/axml"
)

// moduleManifests returns every module manifest of every bundle fixture,
// keyed "fixture.aab:module".
func moduleManifests(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, aab := range testenv.AABFixtures(t) {
		for name, data := range testenv.ZipEntries(t, aab) {
			if mod, ok := strings.CutSuffix(name, "/manifest/AndroidManifest.xml"); ok {
				out[filepath.Base(aab)+":"+mod] = data
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no module manifests in the bundle fixtures")
	}
	return out
}

func mustDecode(t testing.TB, b []byte) *Document {
	t.Helper()
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustEncode(t testing.TB, d *Document) []byte {
	t.Helper()
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRoundTrip: every module manifest aapt2 wrote decodes and encodes back
// to the same bytes.
func TestRoundTrip(t *testing.T) {
	n := 0
	for name, b := range moduleManifests(t) {
		if out := mustEncode(t, mustDecode(t, b)); !bytes.Equal(out, b) {
			t.Errorf("%s: re-encoded differently", name)
		}
		n++
	}
	if n < 9 {
		t.Errorf("only %d module manifests round-tripped, want 3 fixtures × 3 modules", n)
	}
}

// withUnknown returns b (an XmlNode) with unknown fields added at the root
// node, inside the root element and inside its first attribute: a newer
// aapt2's additions that must survive decode, edit and encode.
func withUnknown(t *testing.T, b []byte) []byte {
	t.Helper()
	unknown := protowire.AppendTag(nil, 99, protowire.BytesType)
	unknown = protowire.AppendString(unknown, "future")
	unknown = protowire.AppendTag(unknown, 100, protowire.Fixed64Type)
	unknown = protowire.AppendFixed64(unknown, 0x0123456789abcdef)
	var out []byte
	for pos := 0; pos < len(b); {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		vn := protowire.ConsumeFieldValue(num, typ, b[pos+n:])
		if num == nodeElement {
			elem, _ := protowire.ConsumeBytes(b[pos+n:])
			var ne []byte
			attrDone := false
			for p := 0; p < len(elem); {
				en, et, m := protowire.ConsumeTag(elem[p:])
				ev := protowire.ConsumeFieldValue(en, et, elem[p+m:])
				if en == elemAttr && !attrDone {
					attr, _ := protowire.ConsumeBytes(elem[p+m:])
					ne = protowire.AppendTag(ne, elemAttr, protowire.BytesType)
					ne = protowire.AppendBytes(ne, append(slices.Clone(attr), unknown...))
					attrDone = true
				} else {
					ne = append(ne, elem[p:p+m+ev]...)
				}
				p += m + ev
			}
			ne = append(ne, unknown...)
			out = protowire.AppendTag(out, nodeElement, protowire.BytesType)
			out = protowire.AppendBytes(out, ne)
		} else {
			out = append(out, b[pos:pos+n+vn]...)
		}
		pos += n + vn
	}
	return append(out, unknown...)
}

// TestUnknownFieldsKept: unknown fields round-trip byte for byte, and are
// still there, unchanged, after an edit elsewhere in the document.
func TestUnknownFieldsKept(t *testing.T) {
	for name, b := range moduleManifests(t) {
		in := withUnknown(t, b)
		d := mustDecode(t, in)
		if out := mustEncode(t, d); !bytes.Equal(out, in) {
			t.Fatalf("%s: unknown fields not kept byte for byte", name)
		}
		if _, err := d.AddUsesPermission("android.permission.INTERNET"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := mustEncode(t, d)
		if got := bytes.Count(out, []byte("future")); got != 3 {
			t.Errorf("%s: %d of 3 unknown fields after an edit", name, got)
		}
		// The root element's first attribute was not edited: its bytes,
		// unknown fields included, are unchanged.
		first := mustDecode(t, in).Root().msg.sub(elemAttr).raw
		if !bytes.Contains(out, first) {
			t.Errorf("%s: unedited attribute re-encoded differently", name)
		}
	}
}

func TestParseManifest(t *testing.T) {
	mans := moduleManifests(t)
	m, err := ParseManifest(mustDecode(t, mans["bundle.aab:base"]))
	if err != nil {
		t.Fatal(err)
	}
	want := &axml.Manifest{
		Package: "io.trustfuse.fixture.bundle", VersionCode: 7, VersionName: "7.0", MinSDK: 24, TargetSDK: 34,
		Permissions:      []string{"android.permission.ACCESS_NETWORK_STATE"},
		LauncherActivity: "io.trustfuse.fixture.nativelib.NativeActivity",
	}
	if m.Package != want.Package || m.VersionCode != want.VersionCode || m.VersionName != want.VersionName ||
		m.MinSDK != want.MinSDK || m.TargetSDK != want.TargetSDK || !slices.Equal(m.Permissions, want.Permissions) ||
		m.LauncherActivity != want.LauncherActivity {
		t.Errorf("got %+v\nwant %+v", m, want)
	}
}

func TestReadModule(t *testing.T) {
	mans := moduleManifests(t)
	for _, tc := range []struct {
		module string
		ok     bool
		want   Module
	}{
		{"base", false, Module{}},
		{"camera", true, Module{Type: "", Delivery: "on-demand"}},
		{"textures", true, Module{Type: "asset-pack", Delivery: "install-time"}},
	} {
		got, ok, err := ReadModule(mustDecode(t, mans["bundle.aab:"+tc.module]))
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("%s: got %+v, %v, %v; want %+v, %v", tc.module, got, ok, err, tc.want, tc.ok)
		}
	}
}

// manifestEditor is what the fuse pipeline's manifest step needs of a
// manifest document. *axml.Document (binary XML) and *Document (protobuf
// XML) both have it, so the step can be written once for both encodings.
type manifestEditor[E interface {
	comparable
	FindChild(name string) E
}] interface {
	Root() E
	AddElement(parent E, name string) (E, error)
	SetAndroidAttr(el E, id axml.ResID, v axml.Value) error
	AddUsesPermission(perm string) (bool, error)
	Encode() ([]byte, error)
}

// fuseEdits applies the fuse pipeline's manifest edits (as fusion's
// manifestStep does for binary XML) through manifestEditor: INTERNET, and
// the init provider.
func fuseEdits[E interface {
	comparable
	FindChild(name string) E
}](t testing.TB, d manifestEditor[E], pkg string) (addedInternet bool) {
	t.Helper()
	added, err := d.AddUsesPermission("android.permission.INTERNET")
	if err != nil {
		t.Fatal(err)
	}
	var none E
	app := d.Root().FindChild("application")
	if app == none {
		if app, err = d.AddElement(d.Root(), "application"); err != nil {
			t.Fatal(err)
		}
	}
	prov, err := d.AddElement(app, "provider")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		id axml.ResID
		v  axml.Value
	}{
		{axml.AttrName, axml.StringValue("io.trustfuse.runtime.Init")},
		{axml.AttrAuthorities, axml.StringValue(pkg + ".trustfuse")},
		{axml.AttrExported, axml.BoolValue(false)},
		{axml.AttrInitOrder, axml.IntValue(2147483647)},
	} {
		if err := d.SetAndroidAttr(prov, a.id, a.v); err != nil {
			t.Fatal(err)
		}
	}
	return added
}

// TestSameEditsBothEncodings: the one generic edit function works on a
// binary XML manifest (an APK fixture) and a protobuf one (the bundle's
// base), and both read back with the same provider attributes.
func TestSameEditsBothEncodings(t *testing.T) {
	var apkPath string
	for _, p := range testenv.Fixtures(t) {
		if filepath.Base(p) == "native.apk" {
			apkPath = p
		}
	}
	bin, err := axml.Decode(testenv.ZipEntry(t, apkPath, "AndroidManifest.xml"))
	if err != nil {
		t.Fatal(err)
	}
	fuseEdits[*axml.Element](t, bin, "p")
	binOut, err := bin.Encode()
	if err != nil {
		t.Fatal(err)
	}
	bin, err = axml.Decode(binOut)
	if err != nil {
		t.Fatal(err)
	}
	proto := mustDecode(t, moduleManifests(t)["bundle.aab:base"])
	fuseEdits[*Element](t, proto, "p")
	proto = mustDecode(t, mustEncode(t, proto))

	for _, id := range []axml.ResID{axml.AttrName, axml.AttrAuthorities, axml.AttrExported, axml.AttrInitOrder} {
		b, okB := bin.Root().FindChild("application").FindChild("provider").AttrByID(id)
		p, okP := proto.Root().FindChild("application").FindChild("provider").AttrByID(id)
		if !okB || !okP || b.String() != p.String() || b.Type != p.Type {
			t.Errorf("%s: binary %v (%v), proto %v (%v)", id, b, okB, p, okP)
		}
	}
}

// TestEditOracle: the edited base manifest, laid out as aapt2 lays out a
// proto APK (AndroidManifest.xml + resources.pb at the root), is read by
// `aapt2 dump xmltree` with the provider's attributes by resource ID, and
// after `aapt2 convert --output-format binary` `aapt dump badging` sees
// INTERNET and `aapt dump xmltree` the provider.
func TestEditOracle(t *testing.T) {
	testenv.Tool(t, "aapt2")
	testenv.Tool(t, "aapt")
	var unsigned string
	for _, p := range testenv.AABFixtures(t) {
		if filepath.Base(p) == "bundle.aab" {
			unsigned = p
		}
	}
	entries := testenv.ZipEntries(t, unsigned)
	d := mustDecode(t, entries["base/manifest/AndroidManifest.xml"])
	if !fuseEdits[*Element](t, d, "io.trustfuse.fixture.bundle") {
		t.Fatal("INTERNET reported present in the fixture")
	}
	edited := mustEncode(t, d)

	// Our own reading of the result agrees.
	m, err := ParseManifest(mustDecode(t, edited))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.Permissions, "android.permission.INTERNET") {
		t.Errorf("re-decoded manifest lacks INTERNET: %v", m.Permissions)
	}
	if added, _ := mustDecode(t, edited).AddUsesPermission("android.permission.INTERNET"); added {
		t.Error("INTERNET added twice")
	}

	b := testenv.CheckFusedProtoManifest(t, t.TempDir(), edited, entries["base/resources.pb"], "io.trustfuse.fixture.bundle")
	if b.Package != "io.trustfuse.fixture.bundle" || b.VersionCode != 7 || b.VersionName != "7.0" ||
		!slices.Contains(b.Permissions, "android.permission.ACCESS_NETWORK_STATE") {
		t.Errorf("aapt dump badging after the edit: %+v", b)
	}
}

// TestSetAttrValues: each value type SetAttr writes reads back as written.
func TestSetAttrValues(t *testing.T) {
	d := mustDecode(t, moduleManifests(t)["bundle.aab:base"])
	el, err := d.AddElement(d.Root(), "meta-data")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []axml.Value{
		axml.StringValue("ü ✓ 🔐"), axml.IntValue(-5), axml.IntValue(2147483647), axml.HexValue(0xdeadbeef),
		axml.BoolValue(true), axml.BoolValue(false), axml.RefValue(0x7f010001),
		{Type: axml.TypeAttribute, Data: 0x01010000}, {Type: axml.TypeFloat, Data: 0x3fc00000},
		{Type: axml.TypeIntColorARGB8, Data: 0xff112233},
	} {
		if err := d.SetAndroidAttr(el, axml.AttrValue, v); err != nil {
			t.Fatal(err)
		}
		got, ok := mustDecode(t, mustEncode(t, d)).Root().FindChild("meta-data").AttrByID(axml.AttrValue)
		if !ok || got != v {
			t.Errorf("wrote %#v, read %#v (%v)", v, got, ok)
		}
		if n := len(el.Attrs()); n != 1 {
			t.Errorf("%d attributes after setting one attribute again, want 1", n)
		}
	}
	if err := d.SetAndroidAttr(el, 0x01019999, axml.IntValue(1)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown framework attribute: %v, want ErrUnsupported", err)
	}
	other := mustDecode(t, moduleManifests(t)["bundle.aab:base"])
	if _, err := d.AddElement(other.Root(), "x"); !errors.Is(err, ErrForeign) {
		t.Errorf("element of another document: %v, want ErrForeign", err)
	}
}

// TestBad: malformed documents are refused with the sentinel that names the
// problem, wrapped in a *FormatError.
func TestBad(t *testing.T) {
	base := moduleManifests(t)["bundle.aab:base"]
	deep := []byte{}
	for range maxDepth + 10 {
		// XmlNode{element: XmlElement{child: <deep>}}
		el := protowire.AppendBytes(protowire.AppendTag(nil, elemChild, protowire.BytesType), deep)
		deep = protowire.AppendBytes(protowire.AppendTag(nil, nodeElement, protowire.BytesType), el)
	}
	twoElements := append(slices.Clone(base), base[:len(base)]...)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"truncated", base[:len(base)/2], ErrMalformed},
		{"bad varint", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrMalformed},
		{"field number 0", []byte{0x00, 0x00}, ErrMalformed},
		{"length past the end", []byte{0x0a, 0x7f, 0x00}, ErrMalformed},
		{"nested too deeply", deep, ErrTooDeep},
		{"two root elements", twoElements, ErrAmbiguous},
	} {
		_, err := Decode(tc.in)
		var fe *FormatError
		if !errors.Is(err, tc.want) || !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want %v in a *FormatError", tc.name, err, tc.want)
		}
	}
	// Not a manifest: a text root, and an element that is not <manifest>.
	text := protowire.AppendString(protowire.AppendTag(nil, nodeText, protowire.BytesType), "hello")
	if _, err := ParseManifest(mustDecode(t, text)); !errors.Is(err, ErrNoRoot) {
		t.Errorf("text root: %v, want ErrNoRoot", err)
	}
	other := protowire.AppendBytes(protowire.AppendTag(nil, nodeElement, protowire.BytesType),
		protowire.AppendString(protowire.AppendTag(nil, elemName, protowire.BytesType), "resources"))
	if _, err := ParseManifest(mustDecode(t, other)); !errors.Is(err, axml.ErrNotManifest) {
		t.Errorf("<resources> root: %v, want axml.ErrNotManifest", err)
	}
	if _, err := mustDecode(t, other).AddUsesPermission("x"); !errors.Is(err, ErrNotManifest) {
		t.Errorf("<resources> root edit: %v, want ErrNotManifest", err)
	}
}

// FuzzDecode checks, on any input: Decode does not panic and fails only with
// a *FormatError; a decoded document encodes back to exactly its input; the
// fuse edits on a manifest do not panic and give a document that decodes
// and holds them. Seeds: every module manifest of the bundle fixtures.
func FuzzDecode(f *testing.F) {
	for _, b := range moduleManifests(f) {
		f.Add(b)
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
		if out := mustEncode(t, d); !bytes.Equal(out, in) {
			t.Fatal("decoded input re-encodes differently")
		}
		if root := d.Root(); root == nil || root.Name() != "manifest" {
			return
		}
		_, _ = ParseManifest(d)
		fuseEdits[*Element](t, d, "p")
		m, err := ParseManifest(mustDecode(t, mustEncode(t, d)))
		if err != nil || !slices.Contains(m.Permissions, "android.permission.INTERNET") {
			t.Fatalf("edited manifest: %v, %+v", err, m)
		}
	})
}
