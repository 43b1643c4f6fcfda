package ipa

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/macho"
)

const tfDir = appDir + "Frameworks/TrustFuse.framework/"

var tfLink = &macho.Link{Dylib: "@rpath/TrustFuse.framework/TrustFuse", Rpath: "@executable_path/Frameworks"}

// frameworkFiles is a TrustFuse.framework with a stand-in binary, as
// SignOptions.Add takes it.
func frameworkFiles(t *testing.T) map[string][]byte {
	info := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>CFBundleExecutable</key><string>TrustFuse</string>
<key>CFBundleIdentifier</key><string>io.trustfuse.runtime</string>
<key>CFBundlePackageType</key><string>FMWK</string>
<key>MinimumOSVersion</key><string>14.0</string>
</dict></plist>
`
	return map[string][]byte{
		"Frameworks/TrustFuse.framework/TrustFuse":  testenv.StandInDylib(t, tfLink.Dylib),
		"Frameworks/TrustFuse.framework/Info.plist": []byte(info),
		"Frameworks/TrustFuse.framework/policy.bin": []byte("policy"),
	}
}

// TestSignInject adds a framework and links it into the app's executable:
// every check of TestSignOracles holds, the framework is a nested code
// item signed before the app and sealed by it, llvm-objdump-14 reads the
// new LC_LOAD_DYLIB in every slice of the main executable (fat and thin),
// and Verify accepts the output.
func TestSignInject(t *testing.T) {
	fx := loadFixture(t)
	legacy := filepath.Join(t.TempDir(), "legacy.ipa")
	testenv.RewriteZip(t, testenv.IOSFixture(t, "Demo.ipa"), legacy, map[string][]byte{appExec: readFixture(t, "Legacy.fat")})
	add := frameworkFiles(t)
	for _, c := range []struct {
		name, in string
		slices   int
	}{
		{"thin app", testenv.IOSFixture(t, "Demo.ipa"), 1},
		{"armv7+arm64 app", legacy, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := fx.options()
			o.Add, o.Link = add, tfLink
			signed, res := signFile(t, c.in, o)
			want := []string{kitDir, tfDir, appDir + "Frameworks/libdemo.dylib", widgetDir, appDir}
			checkSigned(t, fx, c.in, signed, res, want)
			if res.Bundles[1].Kind != KindFramework || res.Bundles[1].ID != "io.trustfuse.runtime" {
				t.Errorf("added framework signed as %+v", res.Bundles[1])
			}
			files := testenv.ZipEntries(t, signed)
			for rel, b := range add {
				if rel != "Frameworks/TrustFuse.framework/TrustFuse" && string(files[appDir+rel]) != string(b) {
					t.Errorf("%s: not added as given", rel)
				}
			}
			exe := filepath.Join(t.TempDir(), "Demo")
			if err := os.WriteFile(exe, files[appExec], 0o644); err != nil {
				t.Fatal(err)
			}
			dump := testenv.Run(t, "llvm-objdump-14", "--macho", "--dylibs-used", "--arch=all", exe)
			if n := strings.Count(dump, tfLink.Dylib+" (compatibility version 1.0.0, current version 1.0.0)"); n != c.slices {
				t.Errorf("llvm-objdump --dylibs-used lists the framework in %d slices, want %d:\n%s", n, c.slices, dump)
			}
		})
	}
}

// TestSignInjectRefuses: an added path the app has, and a main executable
// without header room, fail before anything is written.
func TestSignInjectRefuses(t *testing.T) {
	fx := loadFixture(t)
	noRoom := filepath.Join(t.TempDir(), "noroom.ipa")
	// DemoKit.fat's x86_64 slice has 32 bytes of padding (lld's x86_64
	// layout): room for a signature, not for the framework.
	testenv.RewriteZip(t, testenv.IOSFixture(t, "Demo.ipa"), noRoom, map[string][]byte{appExec: readFixture(t, "DemoKit.fat")})
	for _, c := range []struct {
		name, in string
		add      map[string][]byte
		want     error
		msg      string
	}{
		{"existing path", testenv.IOSFixture(t, "Demo.ipa"), map[string][]byte{"Info.plist": nil}, ErrMalformed, "already has"},
		{"path outside the app", testenv.IOSFixture(t, "Demo.ipa"), map[string][]byte{"../evil": nil}, ErrMalformed, "not a clean path"},
		{"no header room", noRoom, frameworkFiles(t), macho.ErrNoRoom, "-headerpad_max_install_names"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := Open(c.in)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			o := fx.options()
			o.Add, o.Link = c.add, tfLink
			var out strings.Builder
			_, err = Sign(&out, a.IPA, o)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) || out.Len() != 0 {
				t.Fatalf("err = %v (wrote %d bytes), want %v containing %q", err, out.Len(), c.want, c.msg)
			}
		})
	}
}
