package ipa

import (
	"archive/zip"
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/macho"
	"github.com/trustfuse/trustfuse/pkg/provision"
)

// fixedTime is the signing clock of the tests (the fixture PKI, made on
// 2026-12-06, and the profiles are valid then).
var fixedTime = time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	appDir    = "Payload/Demo.app/"
	appExec   = appDir + "Demo"
	kitDir    = appDir + "Frameworks/DemoKit.framework/"
	widgetDir = appDir + "PlugIns/DemoWidget.appex/"
	widgetID  = "com.example.demo.widget"
	watchDir  = appDir + "Watch/DemoWatch.app/"
	watchID   = "com.example.demo.watchkitapp"
)

// fixture is the signing identity and profiles of testdata/ios.
type fixture struct {
	signer *keys.Signer
	roots  *x509.CertPool
	app    []byte // app.mobileprovision
	widget []byte // widget.mobileprovision
	watch  []byte // watch.mobileprovision
}

func loadFixture(t testing.TB) fixture {
	t.Helper()
	k, err := keys.Load(testenv.IOSFixture(t, "pki/dist.p12"), []byte("fixture"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	pemRoot, err := os.ReadFile(testenv.IOSFixture(t, "pki/root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemRoot)
	root, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	return fixture{signer: k, roots: roots, app: readFixture(t, "app.mobileprovision"), widget: readFixture(t, "widget.mobileprovision"), watch: readFixture(t, "watch.mobileprovision")}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.IOSFixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// options signs Demo.ipa with the distribution identity and the app's and
// the widget's profiles.
func (f fixture) options() SignOptions {
	return SignOptions{
		Signer: f.signer.Key, Chain: f.signer.Chain, Roots: f.roots, Time: fixedTime,
		Profiles: map[string][]byte{"": f.app, widgetID: f.widget},
	}
}

// fullOptions is options plus the watch app's profile, for DemoFull.ipa.
func (f fixture) fullOptions() SignOptions {
	o := f.options()
	o.Profiles[watchID] = f.watch
	return o
}

// signFile signs the IPA at in with o into a new file and returns its path.
func signFile(t testing.TB, in string, o SignOptions) (string, *SignResult) {
	t.Helper()
	a, err := Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	out := filepath.Join(t.TempDir(), "signed.ipa")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Sign(f, a.IPA, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out, res
}

// verifyFile opens and verifies the IPA at path.
func verifyFile(t testing.TB, path string, o VerifyOptions) (*VerifyResult, error) {
	t.Helper()
	a, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	return Verify(a.IPA, o)
}

// TestOpen: the fixtures' code items, in signing order, with what
// Info.plist and the Mach-O headers say.
func TestOpen(t *testing.T) {
	type item struct {
		dir, id, exec string
		kind          Kind
		arches        []string
	}
	demo := []item{
		{kitDir, "com.example.demo.DemoKit", kitDir + "DemoKit", KindFramework, []string{"x86_64", "arm64"}},
		{appDir + "Frameworks/libdemo.dylib", "libdemo", appDir + "Frameworks/libdemo.dylib", KindDylib, []string{"arm64"}},
		{widgetDir, widgetID, widgetDir + "DemoWidget", KindAppExtension, []string{"arm64"}},
	}
	app := item{appDir, "com.example.demo", appExec, KindApp, []string{"arm64"}}
	for _, c := range []struct {
		ipa      string
		want     []item
		symlinks map[string]string
	}{
		{"Demo.ipa", append(slices.Clone(demo), app), map[string]string{}},
		{"DemoFull.ipa", append(slices.Clone(demo), item{watchDir, watchID, watchDir + "DemoWatch", KindWatchApp, []string{"arm64_32"}}, app),
			map[string]string{appDir + "hello.txt": "greeting.txt"}},
	} {
		t.Run(c.ipa, func(t *testing.T) {
			f, err := Open(testenv.IOSFixture(t, c.ipa))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if len(f.Bundles) != len(c.want) {
				t.Fatalf("%d bundles, want %d", len(f.Bundles), len(c.want))
			}
			for i, w := range c.want {
				b := f.Bundles[i]
				if b.Dir != w.dir || b.ID != w.id || b.Executable != w.exec || b.Kind != w.kind || !slices.Equal(b.Arches, w.arches) || b.Signed || b.Encrypted {
					t.Errorf("bundle %d: %+v, want %+v", i, b, w)
				}
			}
			if f.App != f.Bundles[len(f.Bundles)-1] || f.App.MinOS != "14.0" || f.App.Version != "1" || f.App.ShortVersion != "1.0" || f.App.Profile != nil {
				t.Errorf("app: %+v", f.App)
			}
			if !maps.Equal(f.App.symlinks, c.symlinks) {
				t.Errorf("symlinks %v, want %v", f.App.symlinks, c.symlinks)
			}
		})
	}
}

// TestOpenSigned: what Open reads of a signed IPA: team id, entitlements,
// signer and profile per bundle.
func TestOpenSigned(t *testing.T) {
	fx := loadFixture(t)
	signed, _ := signFile(t, testenv.IOSFixture(t, "DemoFull.ipa"), fx.fullOptions())
	f, err := Open(signed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, b := range f.Bundles {
		if !b.Signed || b.TeamID != "ABCDE12345" || b.Signer == nil || !b.Signer.Equal(fx.signer.Certificate) {
			t.Errorf("%s: signed %v team %q signer %v", b.Dir, b.Signed, b.TeamID, b.Signer)
		}
		withProfile := b.Kind == KindApp || b.Kind == KindAppExtension || b.Kind == KindWatchApp
		if withProfile != (b.Profile != nil) || withProfile != (b.Entitlements["application-identifier"] == "ABCDE12345."+b.ID) {
			t.Errorf("%s: profile %v entitlements %v", b.Dir, b.Profile != nil, b.Entitlements)
		}
	}
}

// machoEdit returns a copy of the Demo executable changed by edit.
func machoEdit(t *testing.T, name string, edit func(b []byte) []byte) []byte {
	t.Helper()
	return edit(bytes.Clone(readFixture(t, name)))
}

// TestOpenRefuses: each class of malformed IPA is a *FormatError naming
// what is wrong (exit 2); the Mach-O classes also wrap pkg/macho's sentinel.
func TestOpenRefuses(t *testing.T) {
	demo := testenv.IOSFixture(t, "Demo.ipa")
	all := testenv.ZipEntries(t, demo)
	without := func(names ...string) map[string][]byte {
		m := map[string][]byte{}
		for k, v := range all {
			if !slices.Contains(names, k) {
				m[k] = v
			}
		}
		return m
	}
	infoNoID := func() []byte {
		var m map[string]any
		if _, err := plist.Unmarshal(all[appDir+"Info.plist"], &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "CFBundleIdentifier")
		b, err := plist.Marshal(m, plist.BinaryFormat)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	fat := readFixture(t, "DemoKit.fat")
	overlap := bytes.Clone(fat)
	// fat_arch[1].offset = fat_arch[0].offset (big-endian, 20-byte entries).
	copy(overlap[8+20+8:8+20+12], overlap[8+8:8+12])
	for _, c := range []struct {
		name     string
		replace  map[string][]byte
		add      []testenv.ZipFile
		files    map[string][]byte // instead of replace/add: the whole archive
		sentinel error
		want     string
	}{
		{name: "no Payload", files: map[string][]byte{"Demo.app/Info.plist": all[appDir+"Info.plist"]}, want: "not an IPA"},
		{name: "two apps", add: []testenv.ZipFile{{Name: "Payload/Other.app/Info.plist", Data: all[appDir+"Info.plist"]}}, want: "2 app bundles"},
		{name: "file beside the app", add: []testenv.ZipFile{{Name: "Payload/readme.txt", Data: []byte("x")}}, want: "Payload/readme.txt"},
		{name: "no Info.plist", files: without(appDir + "Info.plist"), want: "Payload/Demo.app/: no Info.plist"},
		{name: "Info.plist unparsable", replace: map[string][]byte{appDir + "Info.plist": []byte("<plist><dict><key>x")}, want: "Info.plist: not a usable plist"},
		{name: "Info.plist nested too deep", replace: map[string][]byte{appDir + "Info.plist": []byte("<plist>" + strings.Repeat("<array>", 100000) + strings.Repeat("</array>", 100000) + "</plist>")}, want: "nested more than 128 levels"},
		{name: "no CFBundleIdentifier", replace: map[string][]byte{appDir + "Info.plist": infoNoID}, want: "no CFBundleIdentifier"},
		{name: "no executable", files: without(appExec), want: "CFBundleExecutable Demo is not in the bundle"},
		{name: "truncated Mach-O", replace: map[string][]byte{appExec: all[appExec][:len(all[appExec])-100]}, sentinel: macho.ErrTruncated, want: appExec},
		{name: "load commands past the header", replace: map[string][]byte{appExec: machoEdit(t, "Demo", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[20:], uint32(len(b))) // sizeofcmds
			return b
		})}, sentinel: macho.ErrLoadCmds, want: appExec},
		{name: "overlapping fat slices", replace: map[string][]byte{kitDir + "DemoKit": overlap}, sentinel: macho.ErrFatSlices, want: kitDir + "DemoKit"},
		{name: "not Mach-O", replace: map[string][]byte{appExec: []byte("#!/bin/sh\necho hi\n")}, sentinel: macho.ErrNotMachO, want: appExec},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.ipa")
			if c.files != nil {
				testenv.WriteZip(t, p, c.files)
			} else {
				testenv.RewriteZip(t, demo, p, c.replace, c.add...)
			}
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatal("opened")
			}
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v: not an ipa.FormatError", err)
			}
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Errorf("%v: does not wrap %v", err, c.sentinel)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: does not say %q", err, c.want)
			}
		})
	}
}

// withSymlink copies the ZIP src to dst with archive/zip and adds a Unix
// symlink entry name → target (testenv.RewriteZip writes regular files).
func withSymlink(t *testing.T, src, dst, name, target string) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	h := &zip.FileHeader{Name: name, Method: zip.Store}
	h.SetMode(os.ModeSymlink | 0o777)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write([]byte(target))
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = os.WriteFile(dst, buf.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenSymlinks: a symlink inside the app bundle opens; one whose
// target leaves the bundle is refused (a signed app could seal and read
// files outside itself).
func TestOpenSymlinks(t *testing.T) {
	for _, c := range []struct {
		name, target string
		ok           bool
	}{
		{appDir + "Frameworks/link.txt", "../greeting.txt", true},
		{appDir + "up.txt", "../../etc/passwd", false},
		{appDir + "abs.txt", "/etc/passwd", false},
		{widgetDir + "app.txt", "../../greeting.txt", true},
		{appDir + "sibling", "../Other.app/x", false},
	} {
		t.Run(c.target, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "link.ipa")
			withSymlink(t, testenv.IOSFixture(t, "Demo.ipa"), p, c.name, c.target)
			f, err := Open(p)
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if f.App.symlinks[c.name] != c.target {
					t.Errorf("symlinks %v", f.App.symlinks)
				}
				return
			}
			if err == nil {
				f.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), "leaves the app bundle") {
				t.Errorf("%v: want a FormatError naming %s", err, c.name)
			}
		})
	}
}

// TestSignRefuses: inputs Sign must refuse before writing anything, each
// with its exit class: a FormatError (2) or a ProfileError (4) naming the
// bundle and the rule.
func TestSignRefuses(t *testing.T) {
	fx := loadFixture(t)
	demo := testenv.IOSFixture(t, "Demo.ipa")
	encrypted := filepath.Join(t.TempDir(), "encrypted.ipa")
	testenv.RewriteZip(t, demo, encrypted, map[string][]byte{appExec: machoEdit(t, "Demo", func(b []byte) []byte { return testenv.SetCryptID(t, b) })})
	with := func(edit func(o *SignOptions)) SignOptions {
		o := fx.options()
		o.Profiles = map[string][]byte{"": fx.app, widgetID: fx.widget}
		edit(&o)
		return o
	}
	for _, c := range []struct {
		name   string
		in     string
		o      SignOptions
		reason provision.Reason // "" : a FormatError wrapping macho.ErrEncrypted
		bundle string
	}{
		{"encrypted binary", encrypted, fx.options(), "", appExec},
		{"missing profile", demo, with(func(o *SignOptions) { delete(o.Profiles, widgetID) }), reasonNoProfile, widgetID},
		{"expired profile", demo, with(func(o *SignOptions) { o.Profiles[""] = readFixture(t, "expired.mobileprovision") }), provision.ReasonExpired, "com.example.demo"},
		{"certificate not in profile", demo, with(func(o *SignOptions) { o.Profiles[""] = readFixture(t, "othercert.mobileprovision") }), provision.ReasonCertificate, "com.example.demo"},
		{"bundle id mismatch", demo, with(func(o *SignOptions) { o.Profiles[widgetID] = fx.app }), provision.ReasonBundleID, widgetID},
		{"profile for no bundle", demo, with(func(o *SignOptions) { o.Profiles["com.example.nothere"] = fx.widget }), provision.ReasonBundleID, "com.example.nothere"},
		{"two profiles for the app", demo, with(func(o *SignOptions) { o.Profiles["com.example.demo"] = fx.app }), provision.ReasonBundleID, "two profiles for the app"},
		{"entitlement not allowed", demo, with(func(o *SignOptions) {
			o.Entitlements = []byte(`<plist version="1.0"><dict><key>get-task-allow</key><true/></dict></plist>`)
		}), provision.ReasonEntitlement, "com.example.demo"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := Open(c.in)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			var out bytes.Buffer
			_, err = Sign(&out, a.IPA, c.o)
			if err == nil {
				t.Fatal("signed")
			}
			if out.Len() != 0 {
				t.Errorf("%d bytes written before failing", out.Len())
			}
			if c.reason == "" {
				var fe *FormatError
				if !errors.As(err, &fe) || !errors.Is(err, macho.ErrEncrypted) || !strings.Contains(err.Error(), "not from the App Store") {
					t.Errorf("%v: want an ipa.FormatError wrapping macho.ErrEncrypted", err)
				}
			} else {
				var pe *provision.ProfileError
				if !errors.As(err, &pe) || pe.Reason != c.reason {
					t.Fatalf("%v: want a ProfileError %s", err, c.reason)
				}
			}
			if !strings.Contains(err.Error(), c.bundle) {
				t.Errorf("%v: does not name %s", err, c.bundle)
			}
		})
	}
}
