package apk

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

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
			b := testenv.AaptBadging(t, path)
			if info.Package != b.Package || info.VersionCode != b.VersionCode || info.VersionName != b.VersionName ||
				info.MinSDK != b.MinSDK || info.TargetSDK != b.TargetSDK {
				t.Errorf("manifest: got %s %d %q sdk %d/%d; aapt: %+v",
					info.Package, info.VersionCode, info.VersionName, info.MinSDK, info.TargetSDK, b)
			}
			if !slices.Equal(info.Permissions, b.Permissions) && len(b.Permissions)+len(info.Permissions) > 0 {
				t.Errorf("permissions %q, aapt %q", info.Permissions, b.Permissions)
			}
			if info.LauncherActivity != b.Launcher {
				t.Errorf("launcher %q, aapt %q", info.LauncherActivity, b.Launcher)
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
		{"classes+5.dex", 0, false}, {"classes-3.dex", 0, false}, {"classes 2.dex", 0, false},
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
