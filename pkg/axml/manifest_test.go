package axml

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// TestParseManifestMatchesBadging compares ParseManifest with aapt dump
// badging on the real apps and the fixtures.
func TestParseManifestMatchesBadging(t *testing.T) {
	for _, apk := range append(testenv.RealApps(t), fixtureAPKs(t)...) {
		t.Run(filepath.Base(apk), func(t *testing.T) {
			want := testenv.AaptBadging(t, apk)
			m, err := ParseManifest(mustDecode(t, "manifest", testenv.ZipEntry(t, apk, "AndroidManifest.xml")))
			if err != nil {
				t.Fatal(err)
			}
			got := testenv.Badging{Package: m.Package, VersionName: m.VersionName, VersionCode: m.VersionCode,
				MinSDK: m.MinSDK, TargetSDK: m.TargetSDK, Permissions: m.Permissions, Launcher: m.LauncherActivity}
			if !reflect.DeepEqual(got, want) && !(len(got.Permissions) == 0 && len(want.Permissions) == 0) {
				t.Errorf("ParseManifest:\n %+v\naapt badging:\n %+v", got, want)
			}
			if want.Package == "" || (len(want.Permissions) == 0 && strings.Contains(apk, "real-apps")) {
				t.Errorf("badging parse found no package or permissions: %+v", want)
			}
		})
	}
}

// TestParseManifestApplication checks application/@android:name against the
// aapt2 tree dump, resolved against the package.
func TestParseManifestApplication(t *testing.T) {
	for _, apk := range testenv.RealApps(t) {
		t.Run(filepath.Base(apk), func(t *testing.T) {
			lines := dumpLines(t, "aapt2", "dump", "xmltree", "--file", "AndroidManifest.xml", apk)
			i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "E: application ") })
			if i < 0 {
				t.Fatal("aapt2: no <application>")
			}
			want := ""
			for _, l := range lines[i+1:] {
				l = strings.TrimSpace(l)
				if !strings.HasPrefix(l, "A: ") {
					break
				}
				if v, ok := strings.CutPrefix(l, `A: http://schemas.android.com/apk/res/android:name(0x01010003)="`); ok {
					want, _, _ = strings.Cut(v, `"`)
				}
			}
			m, err := ParseManifest(mustDecode(t, "manifest", testenv.ZipEntry(t, apk, "AndroidManifest.xml")))
			if err != nil {
				t.Fatal(err)
			}
			if want = ClassName(m.Package, want); m.Application != want {
				t.Errorf("Application = %q, aapt2 shows %q", m.Application, want)
			}
			t.Logf("application %q", m.Application)
		})
	}
}

// TestParseManifestValues covers values the real apps do not have:
// references, hex and string SDK versions, defaults, relative names.
func TestParseManifestValues(t *testing.T) {
	orig := testenv.ZipEntry(t, testenv.RealApp(t, "settings_apk-debug.apk"), "AndroidManifest.xml")
	tests := []struct {
		name  string
		edit  func(d *Document, root, sdk *Element) error
		check func(m *Manifest) bool
	}{
		{"versionName reference", func(d *Document, root, _ *Element) error {
			return d.SetAndroidAttr(root, AttrVersionName, RefValue(0x7f0b0001))
		}, func(m *Manifest) bool { return m.VersionName == "@0x7f0b0001" }},
		{"versionCode hex", func(d *Document, root, _ *Element) error {
			return d.SetAndroidAttr(root, AttrVersionCode, HexValue(0x10))
		}, func(m *Manifest) bool { return m.VersionCode == 16 }},
		{"minSdk string", func(d *Document, _, sdk *Element) error {
			return d.SetAndroidAttr(sdk, AttrMinSdkVersion, StringValue("21"))
		}, func(m *Manifest) bool { return m.MinSDK == 21 && m.TargetSDK == 35 }},
		{"minSdk codename", func(d *Document, _, sdk *Element) error {
			return d.SetAndroidAttr(sdk, AttrMinSdkVersion, StringValue("Baklava"))
		}, func(m *Manifest) bool { return m.MinSDK == devSDK }},
		{"package-relative application name", func(d *Document, root, _ *Element) error {
			return d.SetAndroidAttr(root.FindChild("application"), AttrName, StringValue(".App"))
		}, func(m *Manifest) bool { return m.Application == "io.appium.settings.App" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDecode(t, "manifest", orig)
			root := d.Root()
			if err := tt.edit(d, root, root.FindChild("uses-sdk")); err != nil {
				t.Fatal(err)
			}
			m, err := ParseManifest(mustDecode(t, "edited", mustEncode(t, "edited", d)))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(m) {
				t.Errorf("unexpected manifest %+v", m)
			}
		})
	}
}

func TestParseManifestNotManifest(t *testing.T) {
	apk := testenv.RealApp(t, "settings_apk-debug.apk")
	d := mustDecode(t, "layout", testenv.ZipEntry(t, apk, "res/layout/main.xml"))
	if _, err := ParseManifest(d); !errors.Is(err, ErrNotManifest) {
		t.Errorf("ParseManifest(layout) = %v, want ErrNotManifest", err)
	}
	if _, err := d.AddUsesPermission(permInternet); !errors.Is(err, ErrNotManifest) {
		t.Errorf("AddUsesPermission(layout) = %v, want ErrNotManifest", err)
	}
}

func TestClassName(t *testing.T) {
	tests := []struct{ pkg, name, want string }{
		{"com.example", ".Main", "com.example.Main"},
		{"com.example", ".ui.Main", "com.example.ui.Main"},
		{"com.example", "Main", "com.example.Main"},
		{"com.example", "org.other.Main", "org.other.Main"},
		{"com.example", "", ""},
		{"com.example", "@0x7f0b0001", "@0x7f0b0001"},
	}
	for _, tt := range tests {
		if got := ClassName(tt.pkg, tt.name); got != tt.want {
			t.Errorf("ClassName(%q, %q) = %q, want %q", tt.pkg, tt.name, got, tt.want)
		}
	}
}
