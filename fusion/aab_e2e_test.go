package fusion

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/aab"
	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/apksig"
)

// fixtureBundle is the unsigned App Bundle fixture (base with dex, assets
// and native libraries for two ABIs, a feature module, an asset pack).
func fixtureBundle(t testing.TB) string {
	t.Helper()
	return filepath.Join(testenv.Root(t), "testdata", "aab", "bundle.aab")
}

// playSign signs the unsigned APK at in with key and cert, standing in for
// Google Play signing the APKs it makes from a bundle, and writes it to
// out: pkg/apksig aligns it and signs the schemes its minSdkVersion needs.
func playSign(t testing.TB, in, out string, key crypto.Signer, cert *x509.Certificate) {
	t.Helper()
	a, err := apk.Open(in)
	if err != nil {
		t.Fatalf("universal APK: %v", err)
	}
	defer a.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	err = apksig.Sign(f, apksig.InputsFrom(a.Zip.Reader), &apksig.Signer{Key: key, Certs: []*x509.Certificate{cert}},
		apksig.Options{MinSDK: a.Manifest.MinSDK, Modified: buildTime})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("sign %s: %v", filepath.Base(out), err)
	}
}

// TestUniversalAPKFromBundle checks the end-to-end test's stand-in for
// Play on the unfused fixture: the bundle's base module laid out as a
// universal APK (testenv.UniversalAPK: aapt2 convert of the proto manifest
// and resources, dex, assets and native libraries added) and signed by a
// stand-in Play key is an APK Android's tools accept: apksigner verifies
// it and names the Play certificate, aapt reads the package, versions and
// SDKs our bundle reader reads from the proto manifest, every dex and
// asset is the bundle's byte for byte and dexdump reads the dex, and the
// stored native libraries are 16 KiB aligned.
func TestUniversalAPKFromBundle(t *testing.T) {
	bundle := fixtureBundle(t)
	dir := t.TempDir()
	unsigned, signed := filepath.Join(dir, "universal-unsigned.apk"), filepath.Join(dir, "universal.apk")
	testenv.UniversalAPK(t, bundle, unsigned)
	key, cert := testenv.PlayKey(t, "Play app signing (stand-in)")
	playSign(t, unsigned, signed, key, cert)

	out := testenv.Run(t, "apksigner", "verify", "-v", "--print-certs", signed)
	if want := "certificate SHA-256 digest: " + apksig.CertDigest(cert); !strings.Contains(out, want) {
		t.Fatalf("apksigner does not name the Play certificate (%s):\n%s", want, out)
	}
	testenv.Run(t, "zipalign", "-c", "-p", "4", signed)
	testenv.Run(t, "zipalign16", signed)

	b, err := aab.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m := b.Base().Manifest
	badging := testenv.AaptBadging(t, signed)
	if badging.Package != m.Package || badging.VersionCode != m.VersionCode || badging.VersionName != m.VersionName ||
		badging.MinSDK != m.MinSDK || badging.TargetSDK != m.TargetSDK || !slices.Equal(badging.Permissions, m.Permissions) {
		t.Errorf("aapt dump badging: %+v; the bundle's proto manifest: %s %d %q min %d target %d permissions %v",
			badging, m.Package, m.VersionCode, m.VersionName, m.MinSDK, m.TargetSDK, m.Permissions)
	}

	bundleEntries, apkEntries := testenv.ZipEntries(t, bundle), testenv.ZipEntries(t, signed)
	moved := 0
	for name, data := range bundleEntries {
		var at string
		switch rel, _ := strings.CutPrefix(name, "base/"); {
		case !strings.HasPrefix(name, "base/"):
			continue
		case strings.HasPrefix(rel, "dex/"):
			at = strings.TrimPrefix(rel, "dex/")
		case strings.HasPrefix(rel, "assets/"), strings.HasPrefix(rel, "lib/"):
			at = rel
		case strings.HasPrefix(rel, "root/"):
			at = strings.TrimPrefix(rel, "root/")
		default:
			continue
		}
		moved++
		if got, ok := apkEntries[at]; !ok || !bytes.Equal(got, data) {
			t.Errorf("%s: not in the APK as %s, or not the same bytes", name, at)
		}
		if strings.HasSuffix(at, ".dex") {
			p := filepath.Join(dir, at)
			if err := os.WriteFile(p, apkEntries[at], 0o644); err != nil {
				t.Fatal(err)
			}
			if d := testenv.Run(t, "dexdump", "-c", p); !strings.Contains(d, "Checksum verified") {
				t.Errorf("dexdump -c %s:\n%s", at, d)
			}
		}
	}
	// classes.dex, greeting.txt, two libhello.so.
	if moved != 4 {
		t.Errorf("%d entries of base/ moved into the APK, want 4", moved)
	}
}
