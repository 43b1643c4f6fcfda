package apk

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// badging is what `aapt dump badging` says about an APK.
type badging struct {
	pkg, versionName string
	versionCode      int64
	minSDK, target   int
	permissions      []string
	launcher         string
}

var (
	rePackage  = regexp.MustCompile(`^package: name='([^']*)' versionCode='([^']*)' versionName='([^']*)'`)
	reSDK      = regexp.MustCompile(`^sdkVersion:'(\d+)'`)
	reTarget   = regexp.MustCompile(`^targetSdkVersion:'(\d+)'`)
	rePerm     = regexp.MustCompile(`^uses-permission: name='([^']*)'`)
	reImplied  = regexp.MustCompile(`^uses-implied-permission: name='([^']*)'`)
	reLauncher = regexp.MustCompile(`^launchable-activity: name='([^']*)'`)
)

func aaptBadging(t *testing.T, path string) badging {
	t.Helper()
	var b badging
	for _, line := range strings.Split(testenv.Run(t, "aapt", "dump", "badging", path), "\n") {
		if m := rePackage.FindStringSubmatch(line); m != nil {
			b.pkg, b.versionName = m[1], m[3]
			b.versionCode, _ = strconv.ParseInt(m[2], 10, 64)
		} else if m := reSDK.FindStringSubmatch(line); m != nil {
			b.minSDK, _ = strconv.Atoi(m[1])
		} else if m := reTarget.FindStringSubmatch(line); m != nil {
			b.target, _ = strconv.Atoi(m[1])
		} else if m := rePerm.FindStringSubmatch(line); m != nil {
			b.permissions = append(b.permissions, m[1])
		} else if m := reImplied.FindStringSubmatch(line); m != nil && len(b.permissions) > 0 &&
			b.permissions[len(b.permissions)-1] == m[1] {
			// aapt prints an implied permission as uses-permission too, right
			// before saying it is implied; it is not in the manifest.
			b.permissions = b.permissions[:len(b.permissions)-1]
		} else if m := reLauncher.FindStringSubmatch(line); m != nil && b.launcher == "" {
			b.launcher = m[1]
		}
	}
	return b
}

var (
	reSchemeLine = regexp.MustCompile(`Verified using (v[0-9.]+) scheme[^:]*: (true|false)`)
	reSignerLine = regexp.MustCompile(`Signer #\d+ certificate SHA-256 digest: ([0-9a-f]{64})`)
)

// apksignerVerdict runs `apksigner verify -v --print-certs`.
func apksignerVerdict(t *testing.T, path string) (ok bool, schemes, signers []string) {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, "apksigner"), "verify", "-v", "--print-certs", path).CombinedOutput()
	for _, m := range reSchemeLine.FindAllStringSubmatch(string(out), -1) {
		if m[2] == "true" {
			schemes = append(schemes, m[1])
		}
	}
	for _, m := range reSignerLine.FindAllStringSubmatch(string(out), -1) {
		signers = append(signers, m[1])
	}
	return err == nil, schemes, signers
}

// TestInfoAgreesWithOracles compares Info with aapt (manifest) and apksigner
// (signatures) on every fixture and real app.
func TestInfoAgreesWithOracles(t *testing.T) {
	for _, path := range testenv.AllAPKs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			a, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			info, err := a.Info()
			if err != nil {
				t.Fatal(err)
			}
			b := aaptBadging(t, path)
			if info.Package != b.pkg || info.VersionCode != b.versionCode || info.VersionName != b.versionName ||
				info.MinSDK != b.minSDK || info.TargetSDK != b.target {
				t.Errorf("manifest: got %s %d %q sdk %d/%d; aapt: %s %d %q sdk %d/%d",
					info.Package, info.VersionCode, info.VersionName, info.MinSDK, info.TargetSDK,
					b.pkg, b.versionCode, b.versionName, b.minSDK, b.target)
			}
			if !slices.Equal(info.Permissions, b.permissions) {
				t.Errorf("permissions %q, aapt %q", info.Permissions, b.permissions)
			}
			if info.LauncherActivity != b.launcher {
				t.Errorf("launcher %q, aapt %q", info.LauncherActivity, b.launcher)
			}

			ok, schemes, signers := apksignerVerdict(t, path)
			if ok {
				// apksigner lists the schemes it verified; ours lists those
				// present, which include schemes it skipped for the SDK range.
				for _, s := range schemes {
					if !slices.Contains(info.Signing.Schemes, s) {
						t.Errorf("apksigner verified %s; schemes present %v", s, info.Signing.Schemes)
					}
				}
				if !slices.Equal(info.Signing.Signers, signers) {
					t.Errorf("signers %v, apksigner %v", info.Signing.Signers, signers)
				}
			}
		})
	}
}

// TestNativeAlignment checks the 16 KiB verdicts against the zipalign16 oracle.
func TestNativeAlignment(t *testing.T) {
	for _, name := range []string{"native.apk", "native-unaligned.apk", "v1v2v3.apk"} {
		path := filepath.Join(testenv.Root(t), "testdata", "apk", name)
		a, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		info, err := a.Info()
		a.Close()
		if err != nil {
			t.Fatal(err)
		}
		err = exec.Command(testenv.Tool(t, "zipalign16"), path).Run()
		if info.ZipAligned16K != (err == nil) {
			t.Errorf("%s: zipAligned16k=%v, zipalign16 says %v", name, info.ZipAligned16K, err)
		}
		if name != "v1v2v3.apk" && (len(info.NativeLibs) == 0 || !slices.Equal(info.ABIs, []string{"arm64-v8a", "x86_64"})) {
			t.Errorf("%s: libs %+v abis %v", name, info.NativeLibs, info.ABIs)
		}
	}
}

func TestDexNames(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int
		ok   bool
	}{
		{"classes.dex", 1, true}, {"classes2.dex", 2, true}, {"classes10.dex", 10, true},
		{"classes1.dex", 0, false}, {"classes02.dex", 0, false}, {"lib/classes.dex", 0, false}, {"classesx.dex", 0, false},
	} {
		n, ok := DexIndex(c.name)
		if n != c.n || ok != c.ok {
			t.Errorf("DexIndex(%q) = %d, %v", c.name, n, ok)
		}
	}
	a, err := Open(filepath.Join(testenv.Root(t), "testdata", "apk", "multidex.apk"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := a.NextDexName(); got != "classes3.dex" {
		t.Errorf("NextDexName = %s", got)
	}
}

func BenchmarkInspect(b *testing.B) {
	path := testenv.RealApp(b, "ApiDemos-debug.apk")
	b.ReportAllocs()
	for b.Loop() {
		a, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Info(); err != nil {
			b.Fatal(err)
		}
		a.Close()
	}
}
