package ipa

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"howett.net/plist"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/macho"
)

// The npm oracles of DESIGN §5, run by testenv.RunNode (versions pinned in
// scripts/npm-oracles). They share no code with ours: their own Mach-O
// parsers (npm macho + fatmacho), ZIP reader (yauzl) and plist parsers
// (plist, bplist-parser). ipa-metadata, which DESIGN §5 also names, does
// not load on Node ≥ 12 and runs macOS codesign; app-info-parser reads the
// same fields.

// entitlementsJS prints, for each Mach-O path argument, in order:
// macho-entitlements' reading of the file (parseFile, which reads the first
// slice of a fat file) and, for each slice fatmacho finds, whether npm macho
// sees LC_CODE_SIGNATURE and macho-entitlements' reading of that slice.
// Each reading is the entitlements blob parsed by npm's plist, or null.
const entitlementsJS = `
const fs = require("fs"), fat = require("fatmacho"), macho = require("macho"),
  me = require("macho-entitlements"), plist = require("plist");
const read = b => b === null ? null : plist.parse(b.toString("utf8"));
const out = process.argv.slice(1).map(p => {
  const data = fs.readFileSync(p);
  let slices;
  try { slices = fat.parse(data).map(s => s.data); } catch (e) { slices = [data]; }
  return {
    file: read(me.parseFile(p)),
    slices: slices.map(s => ({
      signed: macho.parse(s).cmds.some(c => c.type === "code_signature"),
      entitlements: read(me.parse(s)),
    })),
  };
});
console.log(JSON.stringify(out));`

// encryptedJS prints macho-is-encrypted's verdict for each Mach-O path
// argument, as a JSON array.
const encryptedJS = `
const mie = require("macho-is-encrypted");
console.log(JSON.stringify(process.argv.slice(1).map(p => mie.path(p))));`

// ipaInfoJS prints what app-info-parser reads of the IPA at argv[1]: the
// main app's Info.plist and its embedded.mobileprovision (app-info-parser
// takes the first entry matching Payload/*.app/embedded.mobileprovision in
// archive order; Sign writes the app's own before the nested bundles').
const ipaInfoJS = `
const AppInfoParser = require("app-info-parser");
new AppInfoParser(process.argv[1]).parse().then(r => {
  const p = r.mobileProvision;
  console.log(JSON.stringify({
    id: r.CFBundleIdentifier, name: r.CFBundleName, exec: r.CFBundleExecutable,
    version: r.CFBundleVersion, shortVersion: r.CFBundleShortVersionString, minOS: r.MinimumOSVersion,
    profile: {uuid: p.UUID, name: p.Name, team: (p.TeamIdentifier || [])[0], entitlements: p.Entitlements},
  }));
}, e => { console.error(e); process.exit(1); });`

// jsonValue returns v as encoding/json decodes its JSON encoding: the form
// in which the node oracles' values arrive.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// profileEntitlements returns the Entitlements of a .mobileprovision, its
// content taken out of the CMS by openssl, in JSON form.
func profileEntitlements(t *testing.T, profile []byte) any {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "profile"), filepath.Join(dir, "profile.plist")
	if err := os.WriteFile(in, profile, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "openssl", "cms", "-verify", "-noverify", "-binary", "-inform", "DER", "-in", in, "-out", out)
	var p struct {
		Entitlements map[string]any `plist:"Entitlements"`
	}
	if _, err := plist.Unmarshal(mustRead(t, out), &p); err != nil || len(p.Entitlements) == 0 {
		t.Fatalf("profile content: entitlements %v (%v)", p.Entitlements, err)
	}
	return jsonValue(t, p.Entitlements)
}

// writeEntries writes the named entries of the IPA at ipaPath to files in
// a new directory and returns their paths, in order.
func writeEntries(t *testing.T, ipaPath string, names []string) []string {
	t.Helper()
	dir, files := t.TempDir(), testenv.ZipEntries(t, ipaPath)
	var paths []string
	for i, name := range names {
		b, ok := files[name]
		if !ok {
			t.Fatalf("%s: no entry %s", ipaPath, name)
		}
		p := filepath.Join(dir, strings.Repeat("_", i)+path.Base(name))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// signedExecutables returns the entry name of each executable res signed
// in the IPA at signed, in res's order.
func signedExecutables(t *testing.T, signed string, res *SignResult) []string {
	t.Helper()
	var exes []string
	for _, sb := range res.Bundles {
		exe := sb.Dir // a loose dylib
		if sb.Kind != KindDylib {
			exe += bundleExec(t, testenv.ZipEntry(t, signed, sb.Dir+"Info.plist"))
		}
		exes = append(exes, exe)
	}
	return exes
}

// openBundles opens the IPA at p and returns its bundles by executable
// entry name.
func openBundles(t *testing.T, p string) map[string]*Bundle {
	t.Helper()
	a, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	bs := map[string]*Bundle{}
	for _, b := range a.Bundles {
		bs[b.Executable] = b
	}
	return bs
}

// TestNPMEntitlements: npm's macho-entitlements reads back, from every
// signed executable, the entitlements it was signed with (its profile's,
// or those SignOptions.Entitlements gives the app), from the file and from
// each slice of a fat one; from frameworks and dylibs, signed as well, it
// reads none.
func TestNPMEntitlements(t *testing.T) {
	testenv.Tool(t, "node") // skips under -short before signing
	fx := loadFixture(t)
	legacy := filepath.Join(t.TempDir(), "legacy.ipa")
	testenv.RewriteZip(t, testenv.IOSFixture(t, "Demo.ipa"), legacy, map[string][]byte{appExec: readFixture(t, "Legacy.fat")})
	appEnts := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>application-identifier</key>
	<string>ABCDE12345.com.example.demo</string>
	<key>com.apple.developer.team-identifier</key>
	<string>ABCDE12345</string>
</dict>
</plist>
`)
	withEnts := fx.fullOptions()
	withEnts.Entitlements = appEnts
	profiles := map[string][]byte{"com.example.demo": fx.app, widgetID: fx.widget, watchID: fx.watch}

	for _, c := range []struct {
		name    string
		in      string
		o       SignOptions
		appEnts []byte // the app's entitlements (nil: its profile's)
	}{
		{"DemoFull, profiles' entitlements", testenv.IOSFixture(t, "DemoFull.ipa"), fx.fullOptions(), nil},
		{"DemoFull, the app's entitlements given", testenv.IOSFixture(t, "DemoFull.ipa"), withEnts, appEnts},
		{"fat armv7+arm64 app", legacy, fx.options(), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			signed, res := signFile(t, c.in, c.o)
			bundles := openBundles(t, signed)
			exes := signedExecutables(t, signed, res)
			var got []struct {
				File   any `json:"file"`
				Slices []struct {
					Signed       bool `json:"signed"`
					Entitlements any  `json:"entitlements"`
				} `json:"slices"`
			}
			if err := json.Unmarshal([]byte(testenv.RunNode(t, entitlementsJS, writeEntries(t, signed, exes)...)), &got); err != nil || len(got) != len(exes) {
				t.Fatalf("macho-entitlements: %d readings of %d executables (%v)", len(got), len(exes), err)
			}
			for i, sb := range res.Bundles {
				var want any // frameworks and dylibs: none
				switch {
				case sb.Kind == KindApp && c.appEnts != nil:
					var e map[string]any
					if _, err := plist.Unmarshal(c.appEnts, &e); err != nil {
						t.Fatal(err)
					}
					want = jsonValue(t, e)
				case sb.Kind == KindApp || sb.Kind == KindAppExtension || sb.Kind == KindWatchApp:
					want = profileEntitlements(t, profiles[sb.ID])
				}
				g := got[i]
				if !reflect.DeepEqual(g.File, want) {
					t.Errorf("%s: macho-entitlements reads %v, signed with %v", exes[i], g.File, want)
				}
				if n := len(bundles[exes[i]].Arches); len(g.Slices) != n {
					t.Errorf("%s: fatmacho finds %d slices, Open %d", exes[i], len(g.Slices), n)
				}
				for j, s := range g.Slices {
					if !s.Signed || !reflect.DeepEqual(s.Entitlements, want) {
						t.Errorf("%s slice %d: LC_CODE_SIGNATURE %v, entitlements %v, signed with %v", exes[i], j, s.Signed, s.Entitlements, want)
					}
				}
			}
		})
	}
}

// TestNPMIsEncrypted: npm's macho-is-encrypted and Open agree on every
// executable: the signed outputs and the unsigned fixture are not
// encrypted, the Demo executable with cryptid 1 is, and Sign refuses
// exactly the IPA holding an encrypted one (macho.ErrEncrypted).
func TestNPMIsEncrypted(t *testing.T) {
	testenv.Tool(t, "node") // skips under -short before signing
	fx := loadFixture(t)
	demo := testenv.IOSFixture(t, "Demo.ipa")
	encrypted := filepath.Join(t.TempDir(), "encrypted.ipa")
	testenv.RewriteZip(t, demo, encrypted, map[string][]byte{appExec: machoEdit(t, "Demo", func(b []byte) []byte { return testenv.SetCryptID(t, b) })})
	signed, res := signFile(t, testenv.IOSFixture(t, "DemoFull.ipa"), fx.fullOptions())

	type item struct {
		name, ipa, exec string
		want            bool
	}
	items := []item{
		{"unsigned Demo", demo, appExec, false},
		{"Demo with cryptid 1", encrypted, appExec, true},
	}
	for _, exe := range signedExecutables(t, signed, res) {
		items = append(items, item{"signed " + exe, signed, exe, false})
	}
	var paths []string
	for _, it := range items {
		paths = append(paths, writeEntries(t, it.ipa, []string{it.exec})[0])
	}
	var got []bool
	if err := json.Unmarshal([]byte(testenv.RunNode(t, encryptedJS, paths...)), &got); err != nil || len(got) != len(items) {
		t.Fatalf("macho-is-encrypted: %v (%v)", got, err)
	}
	refuse := map[string]bool{}
	for i, it := range items {
		if got[i] != it.want {
			t.Errorf("%s: macho-is-encrypted says %v", it.name, got[i])
		}
		if b := openBundles(t, it.ipa)[it.exec]; b == nil || b.Encrypted != got[i] {
			t.Errorf("%s: Open's bundle %+v, macho-is-encrypted says %v", it.name, b, got[i])
		}
		refuse[it.ipa] = refuse[it.ipa] || got[i]
	}
	for in, want := range refuse {
		a, err := Open(in)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		o := fx.options()
		if in == signed {
			o = fx.fullOptions()
		}
		_, err = Sign(&out, a.IPA, o)
		a.Close()
		if errors.Is(err, macho.ErrEncrypted) != want || (!want && err != nil) {
			t.Errorf("%s: Sign: %v; macho-is-encrypted says encrypted: %v", filepath.Base(in), err, want)
		}
	}
}

// TestNPMIPAInfo: what app-info-parser reads of an IPA (the app's
// Info.plist, binary or XML, and its embedded.mobileprovision) is what Open
// reports (inspect's source) and, for a signed IPA, what Sign reports it
// embedded; the profile's entitlements are those of the app's signature.
func TestNPMIPAInfo(t *testing.T) {
	testenv.Tool(t, "node") // skips under -short before signing
	fx := loadFixture(t)
	for _, c := range []struct {
		name, in string
		sign     bool // false: read the input as it is
		o        SignOptions
	}{
		{"unsigned Demo", testenv.IOSFixture(t, "Demo.ipa"), false, SignOptions{}},
		{"signed Demo", testenv.IOSFixture(t, "Demo.ipa"), true, fx.options()},
		{"signed DemoFull", testenv.IOSFixture(t, "DemoFull.ipa"), true, fx.fullOptions()},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, res := c.in, (*SignResult)(nil)
			if c.sign {
				in, res = signFile(t, c.in, c.o)
			}
			var got struct {
				ID, Name, Exec, Version, ShortVersion, MinOS string
				Profile                                      struct {
					UUID, Name, Team string
					Entitlements     any
				}
			}
			if err := json.Unmarshal([]byte(testenv.RunNode(t, ipaInfoJS, in)), &got); err != nil {
				t.Fatalf("app-info-parser: %v", err)
			}
			a, err := Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			app := a.App
			if got.ID != app.ID || got.Name != app.Name || appDir+got.Exec != app.Executable || got.Version != app.Version ||
				got.ShortVersion != app.ShortVersion || got.MinOS != app.MinOS || got.ID != "com.example.demo" {
				t.Errorf("app-info-parser reads %+v; Open: %+v", got, app)
			}
			if !c.sign {
				if app.Profile != nil || got.Profile.UUID != "" || got.Profile.Entitlements != nil {
					t.Errorf("unsigned: app-info-parser reads profile %+v, Open %v", got.Profile, app.Profile)
				}
				return
			}
			p, sb := app.Profile, res.Bundles[len(res.Bundles)-1]
			if p == nil || sb.Dir != appDir {
				t.Fatalf("Open reads no profile, or the app is not signed last (%s)", sb.Dir)
			}
			if got.Profile.UUID != p.UUID || got.Profile.Name != p.Name || got.Profile.Team != p.TeamID ||
				got.Profile.UUID != sb.ProfileUUID || got.Profile.Name != sb.ProfileName || got.Profile.Team != app.TeamID || got.Profile.Team != "ABCDE12345" {
				t.Errorf("app-info-parser reads profile %+v; Open: %s %q team %s (signature's team %s); Sign: %s %q",
					got.Profile, p.UUID, p.Name, p.TeamID, app.TeamID, sb.ProfileUUID, sb.ProfileName)
			}
			if want := jsonValue(t, app.Entitlements); !reflect.DeepEqual(got.Profile.Entitlements, want) {
				t.Errorf("app-info-parser reads profile entitlements %v; the app's signature has %v", got.Profile.Entitlements, want)
			}
		})
	}
}
