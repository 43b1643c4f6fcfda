package fusion

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/ipa"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/macho"
	"github.com/trustfuse/trustfuse/pkg/provision"
	"github.com/trustfuse/trustfuse/pkg/report"
	"github.com/trustfuse/trustfuse/pkg/vault"
)

const (
	iosTeam   = "ABCDE12345"
	iosApp    = "com.example.demo"
	iosAppDir = "Payload/Demo.app/"
	iosTFDir  = iosAppDir + "Frameworks/TrustFuse.framework/"
)

// iosClock is when the fixtures' certificates and profiles are checked:
// inside their validity (the build time, SOURCE_DATE_EPOCH, is before it).
var iosClock = time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)

// iosFixture is the fake Apple identity, profiles and root of testdata/ios.
type iosFixture struct {
	signer *keys.Signer
	opts   IOSOptions
}

func loadIOSFixture(t *testing.T) iosFixture {
	t.Helper()
	s, err := keys.Load(testenv.IOSFixture(t, "pki/dist.p12"), []byte("fixture"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(mustReadFile(t, testenv.IOSFixture(t, "pki/root.pem")))
	root, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	return iosFixture{signer: s, opts: IOSOptions{Roots: roots, Clock: iosClock,
		Profiles: map[string][]byte{"": mustReadFile(t, testenv.IOSFixture(t, "app.mobileprovision")),
			"com.example.demo.widget": mustReadFile(t, testenv.IOSFixture(t, "widget.mobileprovision"))}}}
}

func mustReadFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fuseIPA(t *testing.T, in, out string, fx iosFixture) (*Result, error) {
	t.Helper()
	return Fuse(Request{In: in, Out: out, FusionSet: demoFusionSet(t), Signer: fx.signer, Now: buildTime, ToolVersion: "trustfuse test", IOS: fx.opts})
}

// TestFuseIPA fuses Demo.ipa (thin arm64) and the same app with an armv7 +
// arm64 executable, and checks the output with oracles that share no code
// with the pipeline: llvm-objdump-14 (LC_LOAD_DYLIB and LC_RPATH in every
// slice), plistutil (the app's CodeResources seals the framework as nested
// code), openssl (file digests), our ipa.Verify re-run on the file; the
// vault opens for the contract's signer digest and for no other team; the
// report verifies; a second run is byte-identical.
func TestFuseIPA(t *testing.T) {
	bin := IOSRuntime()
	fx := loadIOSFixture(t)
	legacy := filepath.Join(t.TempDir(), "legacy.ipa")
	testenv.RewriteZip(t, testenv.IOSFixture(t, "Demo.ipa"), legacy, map[string][]byte{iosAppDir + "Demo": mustReadFile(t, testenv.IOSFixture(t, "Legacy.fat"))})
	for _, c := range []struct {
		name, in string
		slices   int
	}{
		{"Demo.ipa", testenv.IOSFixture(t, "Demo.ipa"), 1},
		{"armv7+arm64", legacy, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "app.secured.ipa")
			res, err := fuseIPA(t, c.in, out, fx)
			if err != nil {
				t.Fatal(err)
			}
			files := testenv.ZipEntries(t, out)

			// Structure: the framework's files as the contract names them.
			fs := demoFusionSet(t)
			rt := writeTemp(t, files[iosTFDir+"TrustFuse"])
			if syms := testenv.Run(t, "llvm-objdump-14", "--macho", "--exports-trie", rt); len(files[iosTFDir+"TrustFuse"]) <= len(bin) || !strings.Contains(syms, "_TrustFuseAcknowledge") {
				t.Errorf("runtime binary: %d bytes (checked-in build %d), exports:\n%s", len(files[iosTFDir+"TrustFuse"]), len(bin), syms)
			}
			if !bytes.Equal(files[iosTFDir+"key.bin"], androidrt.Pepper()) {
				t.Error("key.bin is not the pepper")
			}
			info := testenv.Run(t, "plistutil", "-i", writeTemp(t, files[iosTFDir+"Info.plist"]), "-f", "xml")
			for _, w := range []string{"<string>io.trustfuse.runtime</string>", "<string>TrustFuse</string>", "<string>FMWK</string>", "<string>14.0</string>"} {
				if !strings.Contains(info, w) {
					t.Errorf("framework Info.plist lacks %s", w)
				}
			}

			// llvm-objdump: the runtime linked in every slice.
			exe := writeTemp(t, files[iosAppDir+"Demo"])
			dump := testenv.Run(t, "llvm-objdump-14", "--macho", "--private-headers", "--arch=all", exe)
			if n := strings.Count(dump, "name "+iosRuntimeDylib+" (offset 24)"); n != c.slices {
				t.Errorf("llvm-objdump: LC_LOAD_DYLIB of the runtime in %d slices, want %d", n, c.slices)
			}
			if n := strings.Count(dump, "path "+iosRpath+" (offset 12)"); n != c.slices {
				t.Errorf("llvm-objdump: LC_RPATH %s %d times, want once per slice (%d)", iosRpath, n, c.slices)
			}

			// Nested code: the app's CodeResources seals every file of the
			// framework, its signed binary and its own CodeResources
			// included, as iOS seals nested bundles (Python's plistlib and
			// hashlib over the output's bytes); the binary is signed.
			seal := writeTemp(t, files[iosAppDir+"_CodeSignature/CodeResources"])
			for _, n := range []string{"TrustFuse", "Info.plist", "policy.bin", "vault.bin", "key.bin", "_CodeSignature/CodeResources"} {
				got := testenv.Run(t, "python3", "-c", "import plistlib,sys; print(plistlib.load(open(sys.argv[1],'rb'))['files2'][sys.argv[2]]['hash2'].hex())",
					seal, "Frameworks/TrustFuse.framework/"+n)
				if want := sha256.Sum256(files[iosTFDir+n]); strings.TrimSpace(got) != hex.EncodeToString(want[:]) {
					t.Errorf("the app seals %s as %s, the file's SHA-256 is %x", n, got, want)
				}
			}
			if !strings.Contains(testenv.Run(t, "llvm-objdump-14", "--macho", "--private-headers", rt), "cmd LC_CODE_SIGNATURE") {
				t.Error("the runtime binary is not signed")
			}
			var tf *report.Bundle
			for i, b := range res.Output.Bundles {
				if b.Dir == iosTFDir {
					tf = &res.Output.Bundles[i]
				}
				if len(b.CDHash) != 40 || b.TeamID != iosTeam {
					t.Errorf("output bundle %+v", b)
				}
			}
			if tf == nil || tf.Kind != "framework" || tf.ID != "io.trustfuse.runtime" {
				t.Fatalf("framework bundle %+v", tf)
			}
			app := res.Output.Bundles[len(res.Output.Bundles)-1]
			if app.Kind != "app" || app.Profile == nil || app.Profile.Name != "Demo" || app.Profile.Type == "" {
				t.Errorf("app bundle %+v", app)
			}

			// Our verifier, re-run on the file.
			f, err := ipa.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			vr, err := ipa.Verify(f.IPA, ipa.VerifyOptions{Roots: fx.opts.Roots, Now: iosClock})
			f.Close()
			if err != nil || !res.Verification.Verified {
				t.Fatalf("verify: %v (%+v)", err, vr)
			}

			// The vault opens for team + bundle id, not for another team.
			policy, blob := files[iosTFDir+"policy.bin"], files[iosTFDir+"vault.bin"]
			id, err := vault.Open(blob, androidrt.Pepper(), sha256.Sum256([]byte(iosTeam+"."+iosApp)), policy)
			if err != nil {
				t.Fatalf("vault does not open for %s.%s: %v", iosTeam, iosApp, err)
			}
			if !id.Chain[0].Equal(fs.ClientIdentity.Certificate) {
				t.Error("vault holds another client certificate")
			}
			if _, err := vault.Open(blob, androidrt.Pepper(), sha256.Sum256([]byte("ZZZZZ99999."+iosApp)), policy); err == nil {
				t.Error("vault opens for another team")
			}

			// The measurement, recomputed from the contract's definition
			// (Python's json with sorted keys, no spaces = RFC 8785 for
			// ASCII strings) and the verifier's cdhashes.
			m := res.IOSMeasurement
			var runtimeCD, appCD string
			for _, b := range vr.Bundles {
				switch b.Dir {
				case iosTFDir:
					runtimeCD = b.CDHash
				case iosAppDir:
					appCD = b.CDHash
				}
			}
			doc, _ := json.Marshal(map[string]string{"platform": "ios", "bundleId": iosApp, "teamId": iosTeam,
				"appCdhash": appCD, "runtimeCdhash": runtimeCD, "version": "1.0", "build": "1"})
			py := testenv.Run(t, "python3", "-c", "import json,sys,hashlib; d=json.loads(sys.argv[1]); "+
				"print(hashlib.sha256(json.dumps(d,sort_keys=True,separators=(',',':')).encode()).hexdigest())", string(doc))
			if m == nil || m.SHA256 != strings.TrimSpace(py) {
				t.Errorf("measurement %+v, python says %s", m, py)
			}

			// The report: signed by the Apple identity, verifies against the
			// output, validates against the schema.
			st := res.Statement(report.Build{Version: "test", Commit: "none"}, fs)
			data, err := report.Sign(st, fx.signer.Key, fx.signer.Chain)
			if err != nil {
				t.Fatal(err)
			}
			fileSHA := strings.Fields(testenv.Run(t, "openssl", "dgst", "-sha256", "-r", out))[0]
			leaf := sha256.Sum256(fx.signer.Chain[0].Raw)
			if _, err := report.Verify(data, report.Expect{Name: "app.secured.ipa", SHA256: fileSHA, Signers: []string{hex.EncodeToString(leaf[:])}}); err != nil {
				t.Fatalf("report does not verify: %v", err)
			}
			if st.Predicate.Attestation.IOS == nil || st.Predicate.Attestation.MeasurementSHA256 != m.SHA256 || st.Predicate.Output.Format != "ipa" {
				t.Errorf("report attestation %+v", st.Predicate.Attestation)
			}
			// docs/report.md's recomputation of the measurement with jq.
			jcsJSON := testenv.Run(t, "jq", "-cjS", `.predicate.attestation.ios | del(.sha256) + {platform:"ios"}`, writeTemp(t, payloadOf(t, data)))
			if got := sha256.Sum256([]byte(jcsJSON)); hex.EncodeToString(got[:]) != m.SHA256 {
				t.Errorf("jq's canonical measurement %s hashes to %x, the report says %s", jcsJSON, got, m.SHA256)
			}

			// The PDF renders (pdftotext reads the bundle id and the measurement).
			var pdf bytes.Buffer
			if err := report.RenderPDF(st, &pdf); err != nil {
				t.Fatalf("render PDF: %v", err)
			}
			text := testenv.Run(t, "pdftotext", writeTemp(t, pdf.Bytes()), "-")
			if !strings.Contains(text, iosApp) || !strings.Contains(text, m.SHA256[:16]) {
				t.Errorf("PDF text lacks the bundle id or the measurement:\n%s", text)
			}

			// Deterministic: a second run is byte-identical.
			again := filepath.Join(dir, "again.ipa")
			if _, err := fuseIPA(t, c.in, again, fx); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mustReadFile(t, out), mustReadFile(t, again)) {
				t.Error("two runs differ")
			}
		})
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// TestFuseIPARefuses: no header room, an encrypted executable, no profile,
// an IPA already fused: the error says why and nothing is written.
func TestFuseIPARefuses(t *testing.T) {
	fx := loadIOSFixture(t)
	dir := t.TempDir()
	demoIPA := testenv.IOSFixture(t, "Demo.ipa")
	demo := mustReadFile(t, testenv.IOSFixture(t, "Demo"))
	variant := func(name string, exe []byte) string {
		p := filepath.Join(dir, name+".ipa")
		testenv.RewriteZip(t, demoIPA, p, map[string][]byte{iosAppDir + "Demo": exe})
		return p
	}
	fused := filepath.Join(dir, "fused.ipa")
	if _, err := fuseIPA(t, demoIPA, fused, fx); err != nil {
		t.Fatal(err)
	}
	noProfile := fx
	noProfile.opts.Profiles = nil
	for _, c := range []struct {
		name string
		in   string
		fx   iosFixture
		want error
		msg  string
	}{
		{"no header room", variant("noroom", testenv.FillHeaderPadding(t, demo, 40)), fx, macho.ErrNoRoom, "-headerpad_max_install_names"},
		{"encrypted", variant("encrypted", testenv.SetCryptID(t, demo)), fx, macho.ErrEncrypted, "App Store"},
		{"no profile", demoIPA, noProfile, nil, "no embedded.mobileprovision"},
		{"already fused", fused, fx, ErrAlreadyFused, "already fused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(c.name, " ", "-")+".ipa")
			_, err := fuseIPA(t, c.in, out, c.fx)
			var pe *provision.ProfileError
			if c.want == nil && !errors.As(err, &pe) || c.want != nil && !errors.Is(err, c.want) || err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, c.want, c.msg)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output written: %v", err)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".") || strings.Contains(e.Name(), "tmp") {
					t.Errorf("temporary file left: %s", e.Name())
				}
			}
		})
	}
}

// TestFuseAppAttest: attestation.appAttest reaches the runtime's policy
// (attest.appAttest, absent when off) and the --register export
// (appAttest with the new signature's team id, read back as JSON the way
// `trustfuse releases add` reads it); an Android package with App Attest
// on is refused (exit 2) and nothing is written.
func TestFuseAppAttest(t *testing.T) {
	fx := loadIOSFixture(t)
	dir := t.TempDir()
	apkIn := filepath.Join(testenv.Root(t), "testdata", "apk", "v2-only.apk")
	for _, c := range []struct {
		name, in string
		mode     fusionset.KeyAttestationMode
		dev      bool
		policy   string // the attest.appAttest line, "" for none
		export   string // the registration's appAttest JSON, "" for none
		err      string
	}{
		{"ipa required", testenv.IOSFixture(t, "Demo.ipa"), fusionset.KeyAttestationRequired, false,
			"attest.appAttest=required", `{"mode":"required","teamId":"ABCDE12345"}`, ""},
		{"ipa optional, development", testenv.IOSFixture(t, "Demo.ipa"), fusionset.KeyAttestationOptional, true,
			"attest.appAttest=optional", `{"mode":"optional","teamId":"ABCDE12345","allowDevelopment":true}`, ""},
		{"ipa off", testenv.IOSFixture(t, "Demo.ipa"), fusionset.KeyAttestationOff, true, "", "", ""},
		{"apk required", apkIn, fusionset.KeyAttestationRequired, false, "", "", "App Attest is iOS-only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := demoFusionSet(t)
			fs.Attestation.AppAttest = fusionset.AppAttest{Mode: c.mode, AllowDevelopment: c.dev}
			out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+filepath.Ext(c.in))
			req := Request{In: c.in, Out: out, FusionSet: fs, Signer: fx.signer, Now: buildTime, ToolVersion: "trustfuse test", IOS: fx.opts}
			if c.err != "" {
				req.Signer = keys.Demo()
			}
			res, err := Fuse(req)
			if c.err != "" {
				if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "v2-only.apk") {
					t.Fatalf("err = %v, want ErrFormat naming the file, containing %q", err, c.err)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("output written: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			policy := string(testenv.ZipEntries(t, out)[iosTFDir+"policy.bin"])
			if got := lineWithPrefix(policy, "attest.appAttest="); got != c.policy {
				t.Errorf("policy line %q, want %q", got, c.policy)
			}
			b, err := json.Marshal(res.Registration)
			if err != nil {
				t.Fatal(err)
			}
			var back struct {
				AppAttest json.RawMessage `json:"appAttest"`
			}
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if string(back.AppAttest) != c.export {
				t.Errorf("export appAttest = %s, want %s", back.AppAttest, c.export)
			}
			// The report says the same, and nothing of Android Key
			// Attestation; it passes the report schema.
			st := res.Statement(report.Build{}, fs)
			payload, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			if err := report.ValidateStatement(payload); err != nil {
				t.Fatalf("report: %v", err)
			}
			got, want := st.Predicate.Attestation.AppAttest, res.Registration.AppAttest
			if (got == nil) != (want == nil) || got != nil && (got.Mode != want.Mode || got.TeamID != want.TeamID || got.AllowDevelopment != want.AllowDevelopment) ||
				st.Predicate.Attestation.KeyAttestation != nil {
				t.Errorf("report appAttest %+v (keyAttestation %v), registration %+v", got, st.Predicate.Attestation.KeyAttestation, want)
			}
		})
	}
}

// lineWithPrefix returns the first line of s starting with prefix, or "".
func lineWithPrefix(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
