package axml_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/fusion"
	"github.com/trustfuse/trustfuse/fusion/fusionset"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/axml"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// apksignerVerify runs `apksigner verify`, with --min-sdk-version when
// minSDK > 0, and returns whether it verified and its output.
func apksignerVerify(t *testing.T, path string, minSDK int) (bool, string) {
	t.Helper()
	args := []string{"verify"}
	if minSDK > 0 {
		args = append(args, "--min-sdk-version", strconv.Itoa(minSDK))
	}
	out, err := exec.Command(testenv.Tool(t, "apksigner"), append(args, path)...).CombinedOutput()
	return err == nil, string(out)
}

// checkInspect opens path as `inspect` does and compares the manifest view
// with aapt's badging (aapt reads the manifest with ResXMLTree).
func checkInspect(t *testing.T, path string) (*apk.APK, testenv.Badging) {
	t.Helper()
	a, err := apk.Open(path)
	if err != nil {
		t.Fatalf("%s: aapt reads it, we refuse it: %v", filepath.Base(path), err)
	}
	t.Cleanup(func() { a.Close() })
	b := testenv.AaptBadging(t, path)
	m := a.Manifest
	if m.Package != b.Package || m.VersionCode != b.VersionCode || m.VersionName != b.VersionName ||
		m.MinSDK != b.MinSDK || m.TargetSDK != b.TargetSDK || !slices.Equal(m.Permissions, b.Permissions) {
		t.Errorf("%s: manifest %+v; aapt badging %+v", filepath.Base(path), m, b)
	}
	return a, b
}

// TestSetToShapesSignAndFuse carries each manifest shape that only the
// platform's parser reads (axml.SetToShapes) through the Android path: in a
// copy of the unsigned fixture, `inspect` must read what aapt badging reads;
// the copy signed as `trustfuse sign` does and the copy fused as `trustfuse
// fuse` does must pass `apksigner verify` and our verifier alike, and the
// fused manifest must still read, per aapt, as the app with INTERNET.
//
// apksigner is given --min-sdk-version (aapt's minSdkVersion): its own
// manifest parser (apksig's AndroidBinXmlParser) is not the platform's. It
// looks for a top-level chunk of type 0x0003 only, and refuses a second
// string pool or resource map anywhere and any string index past the pool,
// so for those shapes it cannot read minSdkVersion and stops before
// verifying anything. Given a broken string pool it throws even with
// --min-sdk-version (reading targetSandboxVersion), so that shape has no
// apksigner verdict. The test checks that apksigner fails so, and only so.
func TestSetToShapesSignAndFuse(t *testing.T) {
	// What apksig's parser says of each shape it cannot read.
	const crash = "IllegalArgumentException"
	apksigSays := map[string]string{
		"decoy string pool first":             "Multiple string pools not supported",
		"second string pool after the nodes":  "Multiple string pools not supported",
		"decoy resource map first":            "Multiple resource maps not supported",
		"broken decoy string pool first":      crash,
		"dangling optional string references": "Unsuported string index", // sic
	}
	root := testenv.Root(t)
	base := filepath.Join(root, "testdata", "apk", "unsigned.apk")
	signer, err := keys.Load(filepath.Join(root, "testdata", "keys", "rsa-keytool.p12"), []byte("fixture-pass"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := fusionset.Load(filepath.Join(root, "fusion", "examples", "demo.json"), fusionset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	orig := testenv.ZipEntry(t, base, apk.ManifestName)
	names, docs := axml.SetToShapes(t, orig)
	dir := t.TempDir()
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			shaped := filepath.Join(dir, fmt.Sprintf("shape%d.apk", i))
			testenv.RewriteZip(t, base, shaped, map[string][]byte{apk.ManifestName: docs[i]})
			a, badging := checkInspect(t, shaped)

			// trustfuse sign
			signed := filepath.Join(dir, fmt.Sprintf("shape%d-signed.apk", i))
			f, err := os.Create(signed)
			if err != nil {
				t.Fatal(err)
			}
			err = apksig.Sign(f, apksig.InputsFrom(a.Zip.Reader), &apksig.Signer{Key: signer.Key, Certs: signer.Chain},
				apksig.Options{MinSDK: a.Manifest.MinSDK})
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			// trustfuse fuse
			fused := filepath.Join(dir, fmt.Sprintf("shape%d-fused.apk", i))
			if _, err := fusion.Fuse(fusion.Request{In: shaped, Out: fused, FusionSet: fs, Signer: signer,
				Now: time.Unix(1700000000, 0).UTC(), ToolVersion: "trustfuse test"}); err != nil {
				t.Fatalf("fuse: %v", err)
			}

			says := apksigSays[name]
			if docs[i][0] != 3 || docs[i][1] != 0 {
				says = "No XML chunk in file"
			}
			for _, out := range []string{signed, fused} {
				v, b := checkInspect(t, out)
				res, err := apksig.Verify(v.Zip.Reader, apksig.VerifyOptions{MinSDK: v.Manifest.MinSDK})
				if err != nil {
					t.Fatal(err)
				}
				if !res.Verified {
					t.Errorf("%s: we do not verify it: %v", filepath.Base(out), res.AllErrors())
				}
				ok, msg := apksignerVerify(t, out, b.MinSDK)
				switch {
				case says == crash && (ok || !strings.Contains(msg, crash)):
					t.Errorf("%s: apksigner no longer throws on the broken pool (verified=%v): compare verdicts\n%s", filepath.Base(out), ok, msg)
				case says != crash && !ok:
					t.Errorf("%s: apksigner does not verify it:\n%s", filepath.Base(out), msg)
				}
				ok, msg = apksignerVerify(t, out, 0)
				if ok != (says == "") || !ok && !strings.Contains(msg, says) {
					t.Errorf("%s: apksigner without --min-sdk-version verified=%v, want its parser to say %q:\n%s", filepath.Base(out), ok, says, msg)
				}
			}
			fusedBadging := testenv.AaptBadging(t, fused)
			if fusedBadging.Package != badging.Package || !slices.Contains(fusedBadging.Permissions, "android.permission.INTERNET") {
				t.Errorf("fused manifest per aapt: %+v", fusedBadging)
			}
		})
	}
}
