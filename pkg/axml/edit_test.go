package axml

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

const (
	providerName = "io.trustfuse.runtime.Init"
	permInternet = "android.permission.INTERNET"
	// permMissing is in neither real app's manifest.
	permMissing = "android.permission.USE_BIOMETRIC"
)

// addProvider makes the fuse pipeline's manifest edit: the init provider
// under <application> (attributes given out of ID order on purpose), then
// the permissions, each only if missing; it returns which it added.
func addProvider(t *testing.T, d *Document, pkg string, perms []string) map[string]bool {
	t.Helper()
	app := d.Root().FindChild("application")
	if app == nil {
		t.Fatal("no <application>")
	}
	prov, err := d.AddElement(app, "provider")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		id ResID
		v  Value
	}{
		{AttrName, StringValue(providerName)},
		{AttrAuthorities, StringValue(pkg + ".trustfuse")},
		{AttrInitOrder, IntValue(2147483647)},
		{AttrExported, BoolValue(false)},
	} {
		if err := d.SetAndroidAttr(prov, a.id, a.v); err != nil {
			t.Fatal(err)
		}
	}
	added := map[string]bool{}
	for _, p := range perms {
		if added[p], err = d.AddUsesPermission(p); err != nil {
			t.Fatal(err)
		}
	}
	return added
}

// TestEditManifest adds the TrustFuse provider, INTERNET and another
// permission to the manifest of each real app and fixture, with its pool as
// built and converted to the other encoding (the real apps' manifests are
// UTF-16, the utf8 fixture's UTF-8), puts it in a copy of the APK, and checks
// with the oracles that:
//   - aapt2 dump xmltree shows the provider with the framework attribute
//     names, resource IDs (read through our resource map), values, in ID order;
//   - a permission was added exactly when aapt badging did not list it before,
//     and aapt2 shows it;
//   - the rest of the tree dump is unchanged (every remapped index still right);
//   - aapt dump badging reports the package and lists each permission once.
func TestEditManifest(t *testing.T) {
	dir := t.TempDir()
	perms := []string{permInternet, permMissing}
	for _, apk := range append(testenv.RealApps(t), fixtureAPKs(t)...) {
		before := dumpLines(t, "aapt2", "dump", "xmltree", "--file", "AndroidManifest.xml", apk)
		badgingBefore := dumpLines(t, "aapt", "dump", "badging", apk)
		orig := testenv.ZipEntry(t, apk, "AndroidManifest.xml")
		for _, variant := range []string{"as-built", "converted"} {
			t.Run(filepath.Base(apk)+"/"+variant, func(t *testing.T) {
				d := mustDecode(t, "manifest", orig)
				if variant == "converted" {
					convertPool(t, d, !d.pool.isUTF8())
				}
				encoding := map[bool]string{true: "UTF-8", false: "UTF-16"}[d.pool.isUTF8()]
				m, err := ParseManifest(d)
				if err != nil {
					t.Fatal(err)
				}
				nStrings, nIDs := len(d.pool.strs), len(d.resMap.ids)
				added := addProvider(t, d, m.Package, perms)
				for _, p := range perms {
					if want := count(badgingBefore, "uses-permission: name='"+p+"'") == 0; added[p] != want {
						t.Errorf("AddUsesPermission(%s) added=%v, want %v (aapt badging before)", p, added[p], want)
					}
				}
				t.Logf("%s pool: %d → %d strings, resource map %d → %d IDs, added %v",
					encoding, nStrings, len(d.pool.strs), nIDs, len(d.resMap.ids), added)
				out := mustEncode(t, "manifest", d)
				again := mustEncode(t, "re-decoded", mustDecode(t, "edited", out))
				if !bytes.Equal(again, out) {
					t.Fatal("edited document does not round-trip")
				}
				copyAPK := filepath.Join(dir, fmt.Sprintf("%s-%s.apk", strings.TrimSuffix(filepath.Base(apk), ".apk"), variant))
				testenv.RewriteZip(t, apk, copyAPK, map[string][]byte{"AndroidManifest.xml": out})

				after := dumpLines(t, "aapt2", "dump", "xmltree", "--file", "AndroidManifest.xml", copyAPK)
				rest, prov := cutElement(after, "provider", `"`+providerName+`"`)
				if prov == nil {
					t.Fatalf("aapt2 dump shows no provider %s:\n%s", providerName, strings.Join(after, "\n"))
				}
				want := []string{
					`A: http://schemas.android.com/apk/res/android:name(0x01010003)="io.trustfuse.runtime.Init" (Raw: "io.trustfuse.runtime.Init")`,
					`A: http://schemas.android.com/apk/res/android:exported(0x01010010)=false`,
					`A: http://schemas.android.com/apk/res/android:authorities(0x01010018)="` + m.Package + `.trustfuse" (Raw: "` + m.Package + `.trustfuse")`,
					`A: http://schemas.android.com/apk/res/android:initOrder(0x0101001a)=2147483647`,
				}
				if !slices.Equal(prov[1:], want) {
					t.Errorf("provider attributes per aapt2:\n%s\nwant:\n%s", strings.Join(prov[1:], "\n"), strings.Join(want, "\n"))
				}
				for _, p := range perms {
					if !added[p] {
						continue
					}
					var perm []string
					rest, perm = cutElement(rest, "uses-permission", `"`+p+`"`)
					wantPerm := `A: http://schemas.android.com/apk/res/android:name(0x01010003)="` + p + `" (Raw: "` + p + `")`
					if len(perm) != 2 || perm[1] != wantPerm {
						t.Errorf("aapt2 dump of the added permission: %q, want element + %q", perm, wantPerm)
					}
				}
				if !slices.Equal(rest, before) {
					t.Errorf("aapt2 dump of the rest of the manifest changed:\n%s", diffLines(before, rest))
				}

				badging := dumpLines(t, "aapt", "dump", "badging", copyAPK)
				if !strings.HasPrefix(badging[0], "package: name='"+m.Package+"' ") {
					t.Errorf("aapt badging: %s, want package %s", badging[0], m.Package)
				}
				for _, p := range perms {
					if n := count(badging, "uses-permission: name='"+p+"'"); n != 1 {
						t.Errorf("aapt badging lists %s %d times, want 1", p, n)
					}
				}
			})
		}
	}
}

// cutElement removes from an aapt2 xmltree dump the first element named
// name whose first attribute line contains attr, with its attributes and
// children, and returns the rest and the removed block (trimmed).
func cutElement(lines []string, name, attr string) (rest, block []string) {
	i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "E: "+name+" ") })
	for i >= 0 && i+1 < len(lines) && !strings.Contains(lines[i+1], attr) {
		j := slices.IndexFunc(lines[i+1:], func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "E: "+name+" ") })
		if j < 0 {
			return lines, nil
		}
		i += 1 + j
	}
	if i < 0 || i+1 >= len(lines) {
		return lines, nil
	}
	indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
	j := i + 1
	for j < len(lines) && len(lines[j])-len(strings.TrimLeft(lines[j], " ")) > indent {
		j++
	}
	for _, l := range lines[i:j] {
		block = append(block, strings.TrimSpace(l))
	}
	return append(slices.Clone(lines[:i]), lines[j:]...), block
}

func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if l == s {
			n++
		}
	}
	return n
}

// diffLines shows the first differing line of two dumps.
func diffLines(a, b []string) string {
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  before: %s\n  after:  %s", i+1, x, y)
		}
	}
	return "(same)"
}

// TestEditResXML edits a layout compiled by aapt2 (UTF-8 pool) as built and
// converted to UTF-16: a new element with framework attributes of each value
// kind, a non-ASCII string and one longer than 127 bytes (two-byte lengths),
// and an attribute without namespace or resource ID. aapt2 must show them and
// the rest of the tree unchanged.
func TestEditResXML(t *testing.T) {
	const file = "res/layout/main.xml"
	apk := testenv.RealApp(t, "settings_apk-debug.apk")
	before := dumpLines(t, "aapt2", "dump", "xmltree", "--file", file, apk)
	orig := testenv.ZipEntry(t, apk, file)
	long := strings.Repeat("trustfuse-", 20) + "ü"
	for _, pool := range []string{"utf8", "utf16"} {
		t.Run(pool, func(t *testing.T) {
			d := mustDecode(t, file, orig)
			if !d.pool.isUTF8() {
				t.Fatalf("%s has a UTF-16 pool; this test expects aapt2's UTF-8", file)
			}
			if pool == "utf16" {
				convertPool(t, d, false)
			}
			root := d.Root()
			el, err := d.AddElement(root, "meta-data")
			if err != nil {
				t.Fatal(err)
			}
			sets := []struct {
				ns, name string
				id       ResID
				v        Value
			}{
				{"", "note", 0, StringValue(long)},
				{NSAndroid, "value", AttrValue, StringValue("héllo 日本 🚀")},
				{NSAndroid, "name", AttrName, StringValue("io.trustfuse.meta")},
				{NSAndroid, "resource", AttrResource, RefValue(0x7f030000)},
				{NSAndroid, "enabled", AttrEnabled, BoolValue(true)},
				{NSAndroid, "initOrder", AttrInitOrder, HexValue(0x2a)},
			}
			for _, s := range sets {
				if err := d.SetAttr(el, s.ns, s.name, s.id, s.v); err != nil {
					t.Fatal(err)
				}
			}
			// A string over 0x7FFF characters: UTF-16 pools take it with the
			// two-unit length, UTF-8 pools cannot state its length.
			huge := strings.Repeat("x", 0x8000+5)
			err = d.SetAttr(el, "", "huge", 0, StringValue(huge))
			if pool == "utf8" {
				if !errors.Is(err, ErrTooLarge) {
					t.Errorf("SetAttr(%d-byte string) in a UTF-8 pool: %v, want ErrTooLarge", len(huge), err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			// Overwrite an existing attribute of the root (matched by ID).
			if err := d.SetAttr(root, NSAndroid, "layout_width", 0x010100f4, IntValue(-2)); err != nil {
				t.Fatal(err)
			}
			out := mustEncode(t, file, d)
			copyAPK := filepath.Join(t.TempDir(), "copy.apk")
			testenv.RewriteZip(t, apk, copyAPK, map[string][]byte{file: out})
			after := dumpLines(t, "aapt2", "dump", "xmltree", "--file", file, copyAPK)
			rest, got := cutElement(after, "meta-data", "android:name(0x01010003)")
			const a = "A: http://schemas.android.com/apk/res/android:"
			want := []string{
				a + `name(0x01010003)="io.trustfuse.meta" (Raw: "io.trustfuse.meta")`,
				a + `enabled(0x0101000e)=true`,
				a + `initOrder(0x0101001a)=0x0000002a`, // aapt2 prints TYPE_INT_HEX in hex
				a + `value(0x01010024)="héllo 日本 🚀" (Raw: "héllo 日本 🚀")`,
				a + `resource(0x01010025)=@0x7f030000`,
				`A: note="` + long + `" (Raw: "` + long + `")`,
			}
			if pool == "utf16" {
				want = append(want, `A: huge="`+huge+`" (Raw: "`+huge+`")`)
			}
			if len(got) == 0 || !slices.Equal(got[1:], want) {
				t.Fatalf("aapt2 dump of the new element:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			wantBefore := slices.Clone(before)
			for i, l := range wantBefore {
				if strings.HasSuffix(l, "android:layout_width(0x010100f4)=-1") {
					wantBefore[i] = strings.TrimSuffix(l, "-1") + "-2"
					break
				}
			}
			if !slices.Equal(rest, wantBefore) {
				t.Errorf("aapt2 dump of the rest changed:\n%s", diffLines(wantBefore, rest))
			}
		})
	}
}

// TestOddLayout rewrites a real layout with every field aapt leaves at its
// minimum enlarged (node headers of 20 bytes, a gap before the attributes,
// 24-byte attributes, bytes after each node), as the format allows. aapt2
// must read it as the same tree (so the fields mean what we think), it must
// round-trip exactly, and an attribute added to it must show in aapt2.
func TestOddLayout(t *testing.T) {
	const file = "res/layout/main.xml"
	apk := testenv.RealApp(t, "settings_apk-debug.apk")
	before := dumpLines(t, "aapt2", "dump", "xmltree", "--file", file, apk)
	d := mustDecode(t, file, testenv.ZipEntry(t, apk, file))
	for _, c := range d.chunks {
		var h *nodeHeader
		switch n := c.(type) {
		case *Element:
			h = &n.nodeHeader
			n.attrSize = attrSize + 4
			h.oddBytes().gap = []byte{1, 2, 3, 4}
			h.oddBytes().attrs = bytes.Repeat([]byte{0xEE}, 4*len(n.attrs))
		case *endNode:
			h = &n.nodeHeader
		case *namespaceNode:
			h = &n.nodeHeader
		default:
			continue
		}
		h.oddBytes().header = []byte{5, 6, 7, 8}
		h.oddBytes().tail = []byte{9, 10, 11, 12}
	}
	odd := mustEncode(t, "odd", d)
	d2 := mustDecode(t, "odd", odd)
	if again := mustEncode(t, "odd", d2); !bytes.Equal(again, odd) {
		t.Fatalf("odd layout does not round-trip (first difference at %d)", firstDiff(again, odd))
	}
	dir := t.TempDir()
	oddAPK := filepath.Join(dir, "odd.apk")
	testenv.RewriteZip(t, apk, oddAPK, map[string][]byte{file: odd})
	if got := dumpLines(t, "aapt2", "dump", "xmltree", "--file", file, oddAPK); !slices.Equal(got, before) {
		t.Fatalf("aapt2 reads the odd layout differently:\n%s", diffLines(before, got))
	}
	root := d2.Root()
	if err := d2.SetAndroidAttr(root, AttrLabel, StringValue("odd")); err != nil {
		t.Fatal(err)
	}
	editedAPK := filepath.Join(dir, "edited.apk")
	testenv.RewriteZip(t, apk, editedAPK, map[string][]byte{file: mustEncode(t, "edited", d2)})
	got := dumpLines(t, "aapt2", "dump", "xmltree", "--file", file, editedAPK)
	label := `    A: http://schemas.android.com/apk/res/android:label(0x01010001)="odd" (Raw: "odd")`
	i := slices.Index(got, label)
	if i < 0 {
		t.Fatalf("aapt2 does not show the added label:\n%s", strings.Join(got[:min(len(got), 10)], "\n"))
	}
	if got = slices.Delete(got, i, i+1); !slices.Equal(got, before) {
		t.Errorf("rest of the odd layout changed:\n%s", diffLines(before, got))
	}
}
