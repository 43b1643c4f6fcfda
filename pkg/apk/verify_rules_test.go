package apk

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/axml"
)

// manifestWith returns the unsigned fixture's manifest with uses-sdk's
// targetSdkVersion and the root's android:targetSandboxVersion set (0: left
// as they are).
func manifestWith(t *testing.T, targetSDK, sandbox int32) []byte {
	t.Helper()
	src := filepath.Join(testenv.Root(t), "testdata", "apk", "unsigned.apk")
	d, err := axml.Decode(testenv.ZipEntry(t, src, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	root := d.Root()
	if targetSDK != 0 {
		if err := d.SetAndroidAttr(root.FindChild("uses-sdk"), axml.AttrTargetSdkVersion, axml.IntValue(targetSDK)); err != nil {
			t.Fatal(err)
		}
	}
	if sandbox != 0 {
		if err := d.SetAndroidAttr(root, axml.AttrTargetSandboxVersion, axml.IntValue(sandbox)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerifyManifestRules checks the refusals that depend on the manifest
// (apksig's MIN_SIG_SCHEME_FOR_TARGET_SDK_NOT_MET and
// NO_SIG_FOR_TARGET_SANDBOX_VERSION) against apksigner, with the options
// APK.VerifyOptions reads from the manifest. Inputs are the unsigned fixture
// with an edited manifest, signed by jarsigner (JAR signature only) or by
// apksigner (v1 and v2). Every input apksigner accepts is re-signed and
// fused by the trustfuse binary, and the outputs must pass apksigner.
func TestVerifyManifestRules(t *testing.T) {
	bin := testenv.Trustfuse(t)
	keys := filepath.Join(testenv.Root(t), "testdata", "keys")
	src := filepath.Join(testenv.Root(t), "testdata", "apk", "unsigned.apk")
	dir := t.TempDir()
	fixture := func(name string, targetSDK, sandbox int32, v2 bool) string {
		unsigned := filepath.Join(dir, name+"-unsigned.apk")
		testenv.RewriteZip(t, src, unsigned, map[string][]byte{ManifestName: manifestWith(t, targetSDK, sandbox)})
		out := filepath.Join(dir, name+".apk")
		if v2 {
			testenv.Run(t, "apksigner", "sign", "--ks", filepath.Join(keys, "rsa.jks"), "--ks-pass", "pass:fixture-pass",
				"--v3-signing-enabled", "false", "--out", out, unsigned)
		} else {
			testenv.Run(t, "jarsigner", "-keystore", filepath.Join(keys, "rsa.jks"), "-storepass", "fixture-pass",
				"-digestalg", "SHA-256", "-sigalg", "SHA256withRSA", "-signedjar", out, unsigned, "rsa")
		}
		return out
	}
	tests := []struct {
		name     string
		apk      string
		maxSDK   int
		verified bool
		code     string
	}{
		{"targetSdkVersion 29, JAR signature only", fixture("t29", 29, 0, false), 0, true, ""},
		{"targetSdkVersion 30, JAR signature only", fixture("t30", 30, 0, false), 0, false, "MIN_SIG_SCHEME_FOR_TARGET_SDK_NOT_MET"},
		{"targetSdkVersion 30, JAR signature only, verified up to API 29", fixture("t30max", 30, 0, false), 29, true, ""},
		{"targetSdkVersion 30, v1 and v2", fixture("t30v2", 30, 0, true), 0, true, ""},
		{"targetSandboxVersion 2, JAR signature only", fixture("sb2", 29, 2, false), 0, false, "NO_SIG_FOR_TARGET_SANDBOX_VERSION"},
		{"targetSandboxVersion 2, JAR signature only, verified up to API 25", fixture("sb2max", 29, 2, false), 25, true, ""},
		{"targetSandboxVersion 2, v1 and v2", fixture("sb2v2", 29, 2, true), 0, true, ""},
		{"targetSandboxVersion 1, JAR signature only", fixture("sb1", 29, 1, false), 0, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := Open(tc.apk)
			if err != nil {
				t.Fatal(err)
			}
			opts := a.VerifyOptions()
			opts.MaxSDK = tc.maxSDK
			res, err := apksig.Verify(a.Zip.Reader, opts)
			a.Close()
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"verify", "-v"}
			if tc.maxSDK > 0 {
				args = append(args, "--max-sdk-version", fmt.Sprint(tc.maxSDK))
			}
			out, err := exec.Command(testenv.Tool(t, "apksigner"), append(args, tc.apk)...).CombinedOutput()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			if res.Verified != (err == nil) || res.Verified != tc.verified {
				t.Fatalf("verified = %v (errors %q), apksigner %v, want %v:\n%s", res.Verified, res.AllErrors(), err == nil, tc.verified, out)
			}
			for _, e := range res.AllErrors() {
				if !strings.Contains(string(out), "ERROR: "+e.Message) {
					t.Errorf("error %q not printed by apksigner:\n%s", e.Message, out)
				}
			}
			if !tc.verified {
				var codes []string
				for _, e := range res.AllErrors() {
					codes = append(codes, e.Code)
				}
				if !slices.Contains(codes, tc.code) {
					t.Errorf("codes %q lack %s", codes, tc.code)
				}
				return
			}
			testenv.SignAndFuse(t, bin, tc.apk)
		})
	}
}
