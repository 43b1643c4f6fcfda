package fusion

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/fusion/runtime/android/harness"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/aab"
	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// playSigner is the stand-in for Google Play's app signing key: the ec
// test key, whose digest testenv.PlayFusionSet puts in
// playSigningCertDigests.
func playSigner(t testing.TB) *keys.Signer {
	t.Helper()
	s, err := keys.Load(filepath.Join(testenv.Root(t), "testdata", "keys", "ec-keytool.p12"), []byte("fixture-pass"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := apksig.CertDigest(s.Certificate); d != testenv.PlaySigningDigest {
		t.Fatalf("ec-keytool.p12's certificate digest %s is not testenv.PlaySigningDigest", d)
	}
	return s
}

// playSign signs the unsigned APK at in with s, standing in for Google
// Play signing the APKs it makes from a bundle, and writes it to out:
// pkg/apksig aligns it and signs the schemes its minSdkVersion needs.
func playSign(t testing.TB, in, out string, s *keys.Signer) {
	t.Helper()
	a, err := apk.Open(in)
	if err != nil {
		t.Fatalf("base APK: %v", err)
	}
	defer a.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	err = apksig.Sign(f, apksig.InputsFrom(a.Zip.Reader), &apksig.Signer{Key: s.Key, Certs: s.Chain},
		apksig.Options{MinSDK: a.Manifest.MinSDK, Modified: buildTime})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("sign %s: %v", filepath.Base(out), err)
	}
}

// TestBaseAPKFromBundle checks the end-to-end test's stand-in for Play on
// the unfused fixture bundle: its base module laid out as the APK Play
// builds (testenv.BaseAPKFromBundle: aapt2 convert of the proto manifest
// and resources, dex, assets and native libraries added) and signed by the
// stand-in Play key is an APK Android's tools accept: apksigner verifies
// it and names the Play certificate, zipalign and the 16 KiB check pass
// (the native libraries stored), aapt reads the package, versions, SDKs
// and permissions our bundle reader reads from the proto manifest, every
// dex and asset is the bundle's byte for byte and dexdump verifies the
// dex.
func TestBaseAPKFromBundle(t *testing.T) {
	bundle := filepath.Join(testenv.Root(t), "testdata", "aab", "bundle.aab")
	dir := t.TempDir()
	unsigned, signed := filepath.Join(dir, "base-unsigned.apk"), filepath.Join(dir, "base.apk")
	testenv.BaseAPKFromBundle(t, bundle, unsigned)
	playSign(t, unsigned, signed, playSigner(t))

	out := testenv.Run(t, "apksigner", "verify", "-v", "--print-certs", signed)
	if want := "certificate SHA-256 digest: " + testenv.PlaySigningDigest; !strings.Contains(out, want) {
		t.Fatalf("apksigner does not name the Play certificate (%s):\n%s", want, out)
	}
	testenv.Run(t, "zipalign", "-c", "-p", "4", signed)
	testenv.Run(t, "zipalign16", signed)
	// The native libraries are stored (the fixture says
	// extractNativeLibs="false"), so zipalign16 checked their 16 KiB
	// alignment.
	zr, err := zip.OpenReader(signed)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	libs := 0
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "lib/") && strings.HasSuffix(f.Name, ".so") {
			libs++
			if f.Method != zip.Store {
				t.Errorf("%s: compression method %d, want stored", f.Name, f.Method)
			}
		}
	}
	if libs != 2 {
		t.Errorf("%d native libraries in the APK, want 2 (arm64-v8a, x86_64)", libs)
	}

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

	apkEntries := testenv.ZipEntries(t, signed)
	moved := 0
	for name, data := range testenv.ZipEntries(t, bundle) {
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

// TestFusedBundleHandshake is the end-to-end proof of fuse on an App Bundle
// under Play App Signing: the fixture bundle fused with the upload key and
// a Fusion Set whose playSigningCertDigests names the stand-in Play key;
// its base module turned into the APK Play builds, signed by that key:
// apksigner verifies it, and the runtime, run on a JVM over that APK,
// makes the request to a server requiring the client certificate (200).
// The same APK signed by a key not in the list (the upload key itself, or
// a repackager's) is refused with a tamper Threat-Event: the vault is
// sealed to the Play key only. With DistributeWithUploadKey (the user
// runs bundletool with the upload key), the upload-key-signed APK
// connects too.
func TestFusedBundleHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("starts JVMs")
	}
	play, upload, other := playSigner(t), fixtureSigner(t), keys.Demo()
	srv := demoServer(t)
	url := srv.URL + "/api"
	dir := t.TempDir()

	// baseAPK fuses the fixture bundle and returns the unsigned base APK
	// and its package.
	type base struct{ path, pkg string }
	baseAPK := func(name string, uploadDistribution bool) base {
		t.Helper()
		fused := filepath.Join(dir, name+".aab")
		res, err := Fuse(Request{In: filepath.Join(testenv.Root(t), "testdata", "aab", "bundle.aab"), Out: fused,
			FusionSet: playFusionSet(t), Signer: upload, DistributeWithUploadKey: uploadDistribution,
			Now: buildTime, ToolVersion: "trustfuse test"})
		if err != nil {
			t.Fatalf("fuse: %v", err)
		}
		// The upload key's JAR signature, as Play checks it on upload.
		if ok, out := testenv.JarsignerVerify(t, fused, "rsa"); !ok {
			t.Fatalf("jarsigner -verify -strict:\n%s", out)
		}
		path := filepath.Join(dir, name+"-base-unsigned.apk")
		testenv.BaseAPKFromBundle(t, fused, path)
		badging := testenv.AaptBadging(t, path)
		if badging.Package != res.Input.Package || !slices.Contains(badging.Permissions, internetPermission) {
			t.Fatalf("base APK: package %s (fused %s), permissions %v", badging.Package, res.Input.Package, badging.Permissions)
		}
		runtimeDex := false
		for _, data := range testenv.ZipEntries(t, path) {
			runtimeDex = runtimeDex || bytes.Equal(data, androidrt.Dex())
		}
		if !runtimeDex {
			t.Fatal("the base APK does not carry the runtime dex")
		}
		return base{path, badging.Package}
	}
	bases := map[bool]base{false: baseAPK("play", false), true: baseAPK("upload", true)}

	for _, tc := range []struct {
		name               string
		uploadDistribution bool
		signer             *keys.Signer
		connects           bool
	}{
		{"Play key, in playSigningCertDigests", false, play, true},
		{"upload key, not in the list", false, upload, false},
		{"repackager key", false, other, false},
		{"upload key, DistributeWithUploadKey", true, upload, true},
		{"repackager key, DistributeWithUploadKey", true, other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bases[tc.uploadDistribution]
			signed := filepath.Join(t.TempDir(), "base.apk")
			playSign(t, b.path, signed, tc.signer)
			out := testenv.Run(t, "apksigner", "verify", "-v", "--print-certs", signed)
			if want := "certificate SHA-256 digest: " + apksig.CertDigest(tc.signer.Certificate); !strings.Contains(out, want) {
				t.Fatalf("apksigner does not name the signer (%s):\n%s", want, out)
			}
			r := harness.Run(t, signed, b.pkg, tc.signer.Certificate.Raw, url)
			if tc.connects {
				if r.Status != 200 || !strings.Contains(r.Body, "TrustFuse DEMO client") {
					t.Fatalf("status %d body %q error %q\n%s", r.Status, r.Body, r.Error, r.Stderr)
				}
				if len(r.Events) != 0 {
					t.Errorf("a clean run raised %v", r.Events)
				}
				return
			}
			if r.Status == 200 {
				t.Fatal("an APK signed by a key the vault is not sealed to connected")
			}
			if len(r.Events) == 0 {
				t.Fatalf("no Threat-Event recorded:\n%s", r.Stderr)
			}
			if ev := r.Events[0]; ev["threatCode"] != "tamper" || ev["reasonCode"] != "SIGNER_MISMATCH" {
				t.Errorf("event %v, want threatCode tamper, reasonCode SIGNER_MISMATCH", ev)
			}
		})
	}
}
