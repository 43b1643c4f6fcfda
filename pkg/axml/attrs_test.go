package axml

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

const frameworkRes = "/usr/share/android-framework-res/framework-res.apk"

// TestFrameworkAttrIDs checks every entry of the framework attribute table
// against the oracle: `aapt dump resources framework-res.apk` (Debian's
// android-framework-res), which lists "spec resource 0x01010003
// android:attr/name: …" lines.
func TestFrameworkAttrIDs(t *testing.T) {
	if _, err := os.Stat(frameworkRes); err != nil {
		t.Fatalf("oracle input missing (run scripts/install-deps.sh): %v", err)
	}
	out := dumpLines(t, "aapt", "dump", "resources", frameworkRes)
	spec := regexp.MustCompile(`^\s*spec resource 0x([0-9a-f]{8}) android:attr/(\w+):`)
	published := map[string]ResID{}
	for _, l := range out {
		if m := spec.FindStringSubmatch(l); m != nil {
			id, err := strconv.ParseUint(m[1], 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			published[m[2]] = ResID(id)
		}
	}
	if len(published) < 1000 {
		t.Fatalf("aapt dump resources listed only %d android:attr entries", len(published))
	}
	names, ids := map[string]bool{}, map[ResID]bool{}
	for _, a := range FrameworkAttrs() {
		if names[a.Name] || ids[a.ID] {
			t.Errorf("duplicate table entry %s %v", a.Name, a.ID)
		}
		names[a.Name], ids[a.ID] = true, true
		got, ok := published[a.Name]
		switch {
		case !ok:
			t.Errorf("android:attr/%s is not in framework-res.apk", a.Name)
		case got != a.ID:
			t.Errorf("android:attr/%s: table says %v, framework-res.apk says %v", a.Name, a.ID, got)
		}
	}
	// The IDs the brief and DESIGN §3 name explicitly.
	for name, id := range map[string]ResID{"name": 0x01010003, "authorities": 0x01010018, "exported": 0x01010010, "initOrder": 0x0101001a, "value": 0x01010024} {
		if published[name] != id {
			t.Errorf("framework-res.apk: android:attr/%s is %v, DESIGN expects %v", name, published[name], id)
		}
	}
}
