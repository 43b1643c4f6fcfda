package iosrt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"howett.net/plist"

	iosrt "github.com/trustfuse/trustfuse/fusion/runtime/ios"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
)

const appDir = "Payload/Demo.app/"

// frameworkInfo is the framework's Info.plist as the contract states it.
const frameworkInfo = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CFBundleExecutable</key>
	<string>TrustFuse</string>
	<key>CFBundleIdentifier</key>
	<string>io.trustfuse.runtime</string>
	<key>CFBundlePackageType</key>
	<string>FMWK</string>
	<key>MinimumOSVersion</key>
	<string>14.0</string>
</dict>
</plist>
`

// TestSignedLayoutUnseals: Demo.ipa with TrustFuse.framework laid out as
// the fuse pipeline writes it (libdemo.dylib standing in for the runtime
// binary, which another part of the issue builds) and signed as `trustfuse
// sign` signs it: everything the runtime reads at launch comes from the
// signed archive (team id from the main executable's signature via the
// core, bundle id and versions from Info.plist), and the core unseals the
// exact identity and computes the measurement attest.IOSMeasurement gives
// for pkg/ipa's reported cdhashes. The same app re-signed ad hoc (another
// signer, no team) does not unseal.
func TestSignedLayoutUnseals(t *testing.T) {
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	w := newSealed(t, ek, randBytes(t, 32))
	unsigned := filepath.Join(t.TempDir(), "fused.ipa")
	testenv.RewriteZip(t, testenv.IOSFixture(t, "Demo.ipa"), unsigned, nil,
		testenv.ZipFile{Name: appDir + iosrt.Executable, Data: testenv.ZipEntry(t, testenv.IOSFixture(t, "Demo.ipa"), appDir+"Frameworks/libdemo.dylib")},
		testenv.ZipFile{Name: appDir + iosrt.FrameworkDir + "Info.plist", Data: []byte(frameworkInfo)},
		testenv.ZipFile{Name: appDir + iosrt.PolicyResource, Data: w.policy},
		testenv.ZipFile{Name: appDir + iosrt.VaultResource, Data: w.blob},
		testenv.ZipFile{Name: appDir + iosrt.PepperResource, Data: w.pepper})
	signed, res := signIPA(t, unsigned, false, false)
	resigned, _ := signIPA(t, signed, true, false)

	launch := func(t *testing.T, ipaPath string) (code int, m attest.IOSMeasurement, out string) {
		t.Helper()
		e := testenv.ZipEntries(t, ipaPath)
		var info struct {
			ID      string `plist:"CFBundleIdentifier"`
			Version string `plist:"CFBundleShortVersionString"`
			Build   string `plist:"CFBundleVersion"`
		}
		if _, err := plist.Unmarshal(e[appDir+"Info.plist"], &info); err != nil {
			t.Fatal(err)
		}
		app := readCodesig(t, writeFile(t, "Demo", e[appDir+"Demo"]), 0)
		rt := readCodesig(t, writeFile(t, "TrustFuse", e[appDir+iosrt.Executable]), 0)
		out, code = run(t, "unseal", writeFile(t, "vault.bin", e[appDir+iosrt.VaultResource]), writeFile(t, "key.bin", e[appDir+iosrt.PepperResource]),
			app.TeamID, info.ID, writeFile(t, "policy.bin", e[appDir+iosrt.PolicyResource]))
		m = attest.IOSMeasurement{Platform: attest.PlatformIOS, BundleID: info.ID, TeamID: app.TeamID, AppCDHash: app.CDHash,
			RuntimeCDHash: rt.CDHash, Version: info.Version, Build: info.Build}
		return code, m, out
	}

	code, m, out := launch(t, signed)
	if code != 0 {
		t.Fatalf("signed app: unseal exit %d", code)
	}
	var got struct {
		Key   string
		Chain []string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	wantKey, _ := x509.MarshalPKCS8PrivateKey(w.id.Key)
	if got.Key != hex.EncodeToString(wantKey) || len(got.Chain) != 2 || got.Chain[0] != hex.EncodeToString(w.id.Chain[0].Raw) ||
		got.Chain[1] != hex.EncodeToString(w.id.Chain[1].Raw) {
		t.Fatal("the identity unsealed from the signed app differs from the sealed one")
	}
	cd := map[string]string{}
	for _, sb := range res.Bundles {
		cd[sb.Dir] = sb.CDHash
	}
	want := attest.IOSMeasurement{Platform: attest.PlatformIOS, BundleID: "com.example.demo", TeamID: "ABCDE12345",
		AppCDHash: cd[appDir], RuntimeCDHash: cd[appDir+iosrt.FrameworkDir], Version: "1.0", Build: "1"}
	if m != want {
		t.Fatalf("launch measurement %+v\npkg/ipa says %+v", m, want)
	}
	sum := mustRun(t, append([]string{"measure"}, measureArgs(m)...)...)
	if !strings.HasSuffix(sum, "\n"+want.SHA256()) {
		t.Fatalf("core measurement %s, want release %s", sum, want.SHA256())
	}

	if code, m, _ := launch(t, resigned); code != 3 || m.TeamID != "" {
		t.Fatalf("re-signed app: unseal exit %d (want 3, refused), team %q", code, m.TeamID)
	}
}
