package ipa

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/codesign"
)

// The real Xcode-built bundles of scripts/fetch-real-apps.sh ios: an app
// signed in 2015 by Xcode's codesign with an Apple-issued "iPhone
// Developer" certificate and its Apple-signed profile, and frameworks as
// CocoaPods and NativeScript ship them. No real IPA, watch app or app
// extension is reachable from npm, Debian or the Go proxy: the app with
// embedded frameworks below is assembled from these real parts.
const (
	realAppID     = "node-ios-device@1.13.0/TestApp.app"
	realWidgets   = "tns-core-modules-widgets@6.2.1/TNSWidgets.framework"
	realListView  = "ios-arm64/TNSListView.framework"
	realBundleID  = "com.appcelerator.TestApp"
	realTeam      = "WP4952RUHJ"
	realSigner    = "iPhone Developer: Chris Barber (C3BQXYL2H7)"
	realProfileID = "62047099-01c0-42cb-ab62-848adad1dc3c"
)

// realBundle returns the real bundle with the given testenv ID.
func realBundle(t *testing.T, id string) testenv.RealBundle {
	t.Helper()
	for _, b := range testenv.RealIOS(t) {
		if b.ID == id {
			return b
		}
	}
	t.Fatalf("no real bundle %s (scripts/fetch-real-apps.sh ios)", id)
	return testenv.RealBundle{}
}

// zipBundles writes an IPA holding each directory dirs[name] under the
// entry name prefix name (e.g. "Payload/TestApp.app/").
func zipBundles(t *testing.T, dirs map[string]string) string {
	t.Helper()
	files := map[string][]byte{}
	for prefix, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			files[prefix+filepath.ToSlash(rel)] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "real.ipa")
	testenv.WriteZip(t, out, files)
	return out
}

// TestRealAppleSignedApp: the real app, zipped as it is, opens with the
// identity Apple's codesign recorded, and our verifier finds Apple's
// signature sound in everything but what time has broken since 2015: its
// code pages (SHA-1 CodeDirectories, armv7 and arm64), special slots and
// CodeResources verify, while the chain to Apple Root CA (SHA-1
// certificates, which Go no longer verifies) and the profile (expired in
// 2016) are reported. A changed resource is then named.
func TestRealAppleSignedApp(t *testing.T) {
	app := realBundle(t, realAppID)
	in := zipBundles(t, map[string]string{"Payload/TestApp.app/": app.Dir})
	a, err := Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := a.App
	if b.ID != realBundleID || !b.Signed || b.TeamID != realTeam || b.Signer == nil || b.Signer.Subject.CommonName != realSigner ||
		b.Profile == nil || b.Profile.UUID != realProfileID || !slices.Equal(b.Arches, []string{"armv7", "arm64"}) {
		t.Fatalf("opened as %+v", b)
	}

	res, err := Verify(a.IPA, VerifyOptions{Roots: codesign.AppleRoots(), Now: time.Date(2015, 9, 1, 0, 0, 0, 0, time.UTC)})
	if err == nil || len(res.Bundles) != 1 {
		t.Fatalf("Verify = %v, %+v; want the SHA-1 chain reported", err, res)
	}
	for _, p := range res.Bundles[0].Problems {
		if !strings.Contains(p, "SHA-1") {
			t.Errorf("a problem other than the SHA-1 chain: %s", p)
		}
	}
	if len(res.Bundles[0].Problems) != 3 { // the two slices' CMS, the profile's CMS
		t.Errorf("problems: %q", res.Bundles[0].Problems)
	}

	tampered := filepath.Join(t.TempDir(), "tampered.ipa")
	png := "Payload/TestApp.app/LaunchImage-700-568h@2x.png"
	data := testenv.ZipEntry(t, in, png)
	data[len(data)/2] ^= 1
	testenv.RewriteZip(t, in, tampered, map[string][]byte{png: data})
	res, err = verifyFile(t, tampered, VerifyOptions{Roots: codesign.AppleRoots()})
	if err == nil || !slices.ContainsFunc(res.Bundles[0].Problems, func(p string) bool {
		return strings.Contains(p, `"LaunchImage-700-568h@2x.png" modified`)
	}) {
		t.Errorf("a changed resource of Apple's seal: %v", err)
	}
}

// realProfile makes a profile for the real app's bundle id listing the
// fixture distribution certificate, signed by the fixture's WWDR key as
// scripts/make-ios-fixtures.sh signs its profiles.
func realProfile(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	certDER := filepath.Join(dir, "dist.der")
	testenv.Run(t, "openssl", "x509", "-in", testenv.IOSFixture(t, "pki/dist.pem"), "-outform", "DER", "-out", certDER)
	pl := map[string]any{
		"Name": "Real App", "UUID": "0b8e9c1a-5f0e-4d7a-9d55-3f0f1c2b7a10", "TeamIdentifier": []string{"ABCDE12345"},
		"TeamName": "Example Corp", "ApplicationIdentifierPrefix": []string{"ABCDE12345"}, "Platform": []string{"iOS"},
		"Entitlements": map[string]any{
			"application-identifier":              "ABCDE12345." + realBundleID,
			"com.apple.developer.team-identifier": "ABCDE12345",
			"get-task-allow":                      false,
		},
		"CreationDate": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "ExpirationDate": time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
		"DeveloperCertificates": [][]byte{mustRead(t, certDER)}, "ProvisionsAllDevices": true,
	}
	xml, err := plist.MarshalIndent(pl, plist.XMLFormat, "\t")
	if err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "profile.plist"), filepath.Join(dir, "real.mobileprovision")
	if err := os.WriteFile(in, xml, 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "openssl", "cms", "-sign", "-nodetach", "-binary", "-noattr", "-outform", "DER", "-md", "sha256",
		"-in", in, "-out", out, "-signer", testenv.IOSFixture(t, "pki/wwdr.pem"), "-inkey", testenv.IOSFixture(t, "pki/wwdr.key"),
		"-certfile", testenv.IOSFixture(t, "pki/root.pem"))
	return mustRead(t, out)
}

// TestResignRealBundles re-signs the real app with real frameworks
// embedded (fat i386/x86_64/armv7/arm64 with ad hoc simulator slices; a
// device-only arm64 framework) with the fixture identity, and reads the
// result with the oracles of TestSignOracles.
func TestResignRealBundles(t *testing.T) {
	fx := loadFixture(t)
	in := zipBundles(t, map[string]string{
		"Payload/TestApp.app/":                                  realBundle(t, realAppID).Dir,
		"Payload/TestApp.app/Frameworks/TNSWidgets.framework/":  realBundle(t, realWidgets).Dir,
		"Payload/TestApp.app/Frameworks/TNSListView.framework/": realBundle(t, realListView).Dir,
	})
	o := fx.options()
	o.Profiles = map[string][]byte{"": realProfile(t)}
	signed, res := signFile(t, in, o)
	checkSigned(t, fx, in, signed, res, []string{
		"Payload/TestApp.app/Frameworks/TNSListView.framework/",
		"Payload/TestApp.app/Frameworks/TNSWidgets.framework/",
		"Payload/TestApp.app/",
	})
}
