package fusion

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	"github.com/trustfuse/trustfuse/internal/reporttest"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/report"
)

// fuseReport fuses in with fs and signer and returns the signed report
// and the result.
func fuseReport(t testing.TB, in, out string, fs *fusionset.FusionSet, s *keys.Signer) ([]byte, *Result) {
	t.Helper()
	res := fuse(t, in, out, fs, s)
	st := res.Statement(report.Build{Version: "test", Commit: "none",
		CI: map[string]string{"provider": "jenkins", "buildNumber": "1"}}, fs)
	data, err := report.Sign(st, s.Key, s.Chain)
	if err != nil {
		t.Fatalf("sign report: %v", err)
	}
	return data, res
}

// payloadOf returns the decoded payload of a report file, read as plain JSON.
func payloadOf(t testing.TB, data []byte) []byte {
	t.Helper()
	var f struct {
		DSSEEnvelope struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	p, err := base64.StdEncoding.DecodeString(f.DSSEEnvelope.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func hexSum(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// TestReportOracles fuses a fixture and a real app, and checks every
// checkable claim of the report against tools other than ours: openssl for
// the file digest and the client certificate, apksigner for the signer,
// aapt for package and version, archive/zip for the injected entries and
// the dex digests, Python's json module for the measurement's canonical
// encoding.
func TestReportOracles(t *testing.T) {
	fs := demoFusionSet(t)
	signer := fixtureSigner(t)
	apps := []string{filepath.Join(testenv.Root(t), "testdata", "apk", "multidex.apk"), testenv.RealApp(t, "ApiDemos-debug.apk")}
	for _, in := range apps {
		t.Run(filepath.Base(in), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "app.secured.apk")
			data, _ := fuseReport(t, in, out, fs, signer)
			payload := payloadOf(t, data)
			var st report.Statement
			if err := json.Unmarshal(payload, &st); err != nil {
				t.Fatal(err)
			}
			p := st.Predicate

			// Subject: the output's name and SHA-256 (openssl).
			dg := testenv.Run(t, "openssl", "dgst", "-sha256", "-r", out)
			fileSHA := strings.Fields(dg)[0]
			if st.Subject[0].Name != "app.secured.apk" || st.Subject[0].Digest["sha256"] != fileSHA || p.Output.SHA256 != fileSHA {
				t.Errorf("subject %+v, output sha %s; openssl says %s", st.Subject, p.Output.SHA256, fileSHA)
			}
			inDg := strings.Fields(testenv.Run(t, "openssl", "dgst", "-sha256", "-r", in))[0]
			if p.Input.SHA256 != inDg {
				t.Errorf("input sha256 %s, openssl says %s", p.Input.SHA256, inDg)
			}
			st2, _ := os.Stat(out)
			if p.Output.Size != st2.Size() {
				t.Errorf("output size %d, file has %d", p.Output.Size, st2.Size())
			}

			// Signer (apksigner), and the report verifies against it.
			certs := testenv.Run(t, "apksigner", "verify", "--print-certs", out)
			m := regexp.MustCompile(`Signer #1 certificate SHA-256 digest: ([0-9a-f]{64})`).FindStringSubmatch(certs)
			if m == nil {
				t.Fatalf("apksigner printed no signer:\n%s", certs)
			}
			if strings.Join(p.Output.Signers, ",") != m[1] {
				t.Errorf("output signers %v, apksigner says %s", p.Output.Signers, m[1])
			}
			if _, err := report.Verify(data, report.Expect{Name: "app.secured.apk", SHA256: fileSHA, Signers: []string{m[1]}}); err != nil {
				t.Errorf("report does not verify against the oracles' values: %v", err)
			}

			// Package and version (aapt).
			badging := testenv.Run(t, "aapt", "dump", "badging", out)
			bm := regexp.MustCompile(`package: name='([^']*)' versionCode='([^']*)' versionName='([^']*)'`).FindStringSubmatch(badging)
			if bm == nil || p.Output.Package != bm[1] || jsonInt(p.Output.VersionCode) != bm[2] || p.Output.VersionName != bm[3] {
				t.Errorf("output %s %d %s; aapt says %v", p.Output.Package, p.Output.VersionCode, p.Output.VersionName, bm)
			}

			// Injected entries and measurement digests (archive/zip).
			outEntries, inEntries := testenv.ZipEntries(t, out), testenv.ZipEntries(t, in)
			for _, inj := range p.Injected {
				b, ok := outEntries[inj.Name]
				if !ok || hexSum(b) != inj.SHA256 || len(b) != inj.Size {
					t.Errorf("injected %s: sha256 %s size %d; archive/zip reads %s size %d (present %v)", inj.Name, inj.SHA256, inj.Size, hexSum(b), len(b), ok)
				}
				if inj.Name == "AndroidManifest.xml" && hexSum(b) != p.Attestation.ManifestDigest {
					t.Errorf("manifestDigest %s, the output's manifest is %s", p.Attestation.ManifestDigest, hexSum(b))
				}
				if strings.HasSuffix(inj.Name, ".dex") && hexSum(b) != p.Attestation.RuntimeDigest {
					t.Errorf("runtimeDigest %s, the injected dex is %s", p.Attestation.RuntimeDigest, hexSum(b))
				}
			}
			for name, d := range p.Attestation.DexDigests {
				if hexSum(inEntries[name]) != d {
					t.Errorf("dexDigests[%s] = %s, the input's entry is %s", name, d, hexSum(inEntries[name]))
				}
			}
			if len(p.Attestation.DexDigests) == 0 || p.Attestation.Endpoint != fs.Attestation.Endpoint {
				t.Errorf("attestation %+v", p.Attestation)
			}

			// The measurement digest, recomputed by Python from the report.
			if got := pythonMeasurement(t, payload); got != p.Attestation.MeasurementSHA256 {
				t.Errorf("measurementSha256 %s, Python's canonical JSON gives %s", p.Attestation.MeasurementSHA256, got)
			}

			// Client certificate (openssl on the certificate file).
			pemPath := filepath.Join(testenv.Root(t), "fusion", "examples", "demo", "client.pem")
			x := testenv.Run(t, "openssl", "x509", "-in", pemPath, "-noout", "-fingerprint", "-sha256", "-serial", "-enddate")
			fp := regexp.MustCompile(`(?i)sha256 Fingerprint=([0-9A-F:]+)`).FindStringSubmatch(x)
			serial := regexp.MustCompile(`serial=([0-9A-F]+)`).FindStringSubmatch(x)
			if fp == nil || serial == nil || p.MTLS == nil {
				t.Fatalf("openssl: %s; mtls %+v", x, p.MTLS)
			}
			if p.MTLS.SHA256 != strings.ToLower(strings.ReplaceAll(fp[1], ":", "")) ||
				strings.TrimLeft(p.MTLS.Serial, "0") != strings.TrimLeft(strings.ToLower(serial[1]), "0") {
				t.Errorf("mtls sha256 %s serial %s; openssl says %s %s", p.MTLS.SHA256, p.MTLS.Serial, fp[1], serial[1])
			}
			if !strings.Contains(x, "notAfter="+p.MTLS.NotAfter.Format("Jan _2 15:04:05 2006 GMT")) {
				t.Errorf("mtls notAfter %s; openssl says %s", p.MTLS.NotAfter, x)
			}

			// Build and limits.
			if !p.Build.Time.Equal(buildTime) || p.Build.Tool != "trustfuse" || p.Build.CI["provider"] != "jenkins" {
				t.Errorf("build %+v", p.Build)
			}
			if !containsText(p.Limits, "No Android device or emulator ran") || !p.Verification.Verified {
				t.Errorf("limits %q, verification %+v", p.Limits, p.Verification)
			}
			for _, pr := range p.Protections {
				if pr.ID == "tamper" && (pr.Status != "applied" || !strings.Contains(pr.Evidence["signers"], m[1])) {
					t.Errorf("tamper protection %+v", pr)
				}
			}
		})
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func containsText(list []string, s string) bool {
	for _, l := range list {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// pythonMeasurement recomputes measurementSha256 from a statement with
// Python: the attestation object without endpoint and measurementSha256,
// as compact JSON with sorted keys and raw (non-ASCII-escaped) strings —
// RFC 8785 for these values — hashed with SHA-256.
func pythonMeasurement(t testing.TB, payload []byte) string {
	t.Helper()
	const prog = `import json, hashlib, sys
a = json.load(sys.stdin)["predicate"]["attestation"]
a.pop("endpoint", None); a.pop("measurementSha256")
print(hashlib.sha256(json.dumps(a, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest())`
	cmd := exec.Command(testenv.Tool(t, "python3"), "-c", prog)
	cmd.Stdin = bytes.NewReader(payload)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestMeasurementCanonical(t *testing.T) {
	m := Measurement{
		Package: "com.ex\"ample\\\n\x01é", VersionCode: -7,
		SignerDigests:  []string{"bb", "aa"},
		DexDigests:     map[string]string{"classes2.dex": "2", "classes.dex": "1", "\U0001F600": "s", "\uffff": "f"},
		RuntimeDigest:  "r",
		ManifestDigest: "m",
	}
	// U+1F600 (UTF-16 D83D DE00) sorts before U+FFFF in RFC 8785.
	const want = `{"dexDigests":{"classes.dex":"1","classes2.dex":"2","😀":"s","` + "\uffff" + `":"f"},"manifestDigest":"m",` +
		`"package":"com.ex\"ample\\\n\u0001é","runtimeDigest":"r","signerDigests":["bb","aa"],"versionCode":-7}`
	if got := string(m.Canonical()); got != want {
		t.Fatalf("Canonical =\n%s\nwant\n%s", got, want)
	}
	if got, want := m.SHA256(), hexSum([]byte(want)); got != want {
		t.Fatalf("SHA256 = %s, want %s", got, want)
	}
	var empty Measurement
	if got := string(empty.Canonical()); got != `{"dexDigests":{},"manifestDigest":"","package":"","runtimeDigest":"","signerDigests":[],"versionCode":0}` {
		t.Fatalf("empty: %s", got)
	}
}

// TestReportDeterministic fuses the same input twice with the same clock,
// with an RSA and an EC signing key: the reports are byte-identical.
func TestReportDeterministic(t *testing.T) {
	fs := demoFusionSet(t)
	in := filepath.Join(testenv.Root(t), "testdata", "apk", "v1v2v3.apk")
	ec, err := keys.Load(filepath.Join(testenv.Root(t), "testdata", "keys", "ec-keytool.p12"), []byte("fixture-pass"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*keys.Signer{fixtureSigner(t), ec} {
		t.Run(s.KeyDescription(), func(t *testing.T) {
			a, _ := fuseReport(t, in, filepath.Join(t.TempDir(), "out.apk"), fs, s)
			b, _ := fuseReport(t, in, filepath.Join(t.TempDir(), "out.apk"), fs, s)
			if !bytes.Equal(a, b) {
				t.Fatal("two reports of the same run differ")
			}
		})
	}
}

// TestReportNoSecrets greps the report — the file and its decoded payload
// — for the client identity's password and private key and for the
// signing key, in every encoding they could take: raw DER, PEM, base64,
// hex. It runs with the demo Fusion Set (password demo-pass) and with a
// generated identity under a custom password.
func TestReportNoSecrets(t *testing.T) {
	signer := fixtureSigner(t)
	in := filepath.Join(testenv.Root(t), "testdata", "apk", "v1v2v3.apk")
	const custom = "Rep0rt-Secret-Pa55!"
	dir := t.TempDir()
	testenv.WriteClientP12(t, filepath.Join(dir, "client.p12"), custom, testenv.ClientIdentity{})
	fsPath := filepath.Join(dir, "fs.json")
	if err := os.WriteFile(fsPath, []byte(`{"fusionSetId": "fs-secret", "name": "secret test", "version": 1,
  "mtls": {"clientCertificate": "file:client.p12", "password": "env:REPORT_P12_PASS", "hosts": ["api.example.com"]},
  "threats": {"tamper": {"mode": "defend"}},
  "threatEvents": {"enabled": true, "failSafeEnforce": false, "exitOnDefend": false}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	customFS, err := fusionset.Load(fsPath, fusionset.LoadOptions{LookupEnv: func(k string) (string, bool) {
		if k == "REPORT_P12_PASS" {
			return custom, true
		}
		return "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, password string
		fs             *fusionset.FusionSet
	}{{"demo", "demo-pass", demoFusionSet(t)}, {"custom", custom, customFS}} {
		t.Run(tc.name, func(t *testing.T) {
			data, _ := fuseReport(t, in, filepath.Join(t.TempDir(), "out.apk"), tc.fs, signer)
			haystacks := map[string][]byte{"file": data, "payload": payloadOf(t, data)}
			needles := map[string][]byte{"p12 password": []byte(tc.password)}
			for name, k := range map[string]any{"client key": tc.fs.ClientIdentity.Key, "signing key": signer.Key} {
				maps.Copy(needles, reporttest.KeyNeedles(t, name, k))
				needles[name+" scalar"] = privateScalar(t, k)
			}
			for hn, h := range haystacks {
				for nn, n := range needles {
					if bytes.Contains(h, n) || bytes.Contains(bytes.ToLower(h), bytes.ToLower(n)) {
						t.Errorf("report %s contains the %s", hn, nn)
					}
				}
			}
		})
	}
}

// privateScalar returns (part of) the hex of the private key's secret
// number (RSA D, EC D), the way a careless encoder would print it.
func privateScalar(t testing.TB, k any) []byte {
	t.Helper()
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		b, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return []byte(hex.EncodeToString(b))
	case *rsa.PrivateKey:
		return []byte(hex.EncodeToString(k.D.Bytes())[:64])
	}
	t.Fatalf("unexpected key type %T", k)
	return nil
}

// TestReportBundle: the report of a fused bundle matches the schema (Sign
// checks it), and its claims match other tools: openssl for the digests,
// keytool -printcert -jarfile for the signer, archive/zip for the injected
// entries and the base module's dex, Python for the measurement digest;
// the measurement has no manifest digest and names Play's signer; the PDF
// (pdftotext) names the format and the modules.
func TestReportBundle(t *testing.T) {
	fs := playFusionSet(t)
	in := filepath.Join(testenv.Root(t), "testdata", "aab", "bundle-ec.aab")
	dir := t.TempDir()
	out := filepath.Join(dir, "app.secured.aab")
	data, _ := fuseReport(t, in, out, fs, fixtureSigner(t))
	payload := payloadOf(t, data)
	var st report.Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	p := st.Predicate

	fileSHA := strings.Fields(testenv.Run(t, "openssl", "dgst", "-sha256", "-r", out))[0]
	inSHA := strings.Fields(testenv.Run(t, "openssl", "dgst", "-sha256", "-r", in))[0]
	if st.Subject[0].Name != "app.secured.aab" || st.Subject[0].Digest["sha256"] != fileSHA || p.Output.SHA256 != fileSHA || p.Input.SHA256 != inSHA {
		t.Errorf("subject %+v, output %s, input %s; openssl says %s, %s", st.Subject, p.Output.SHA256, p.Input.SHA256, fileSHA, inSHA)
	}
	certs := testenv.Run(t, "keytool", "-printcert", "-jarfile", out)
	m := regexp.MustCompile(`SHA256: ([0-9A-F:]{95})`).FindStringSubmatch(certs)
	if m == nil {
		t.Fatalf("keytool printed no signer:\n%s", certs)
	}
	signer := strings.ToLower(strings.ReplaceAll(m[1], ":", ""))
	if strings.Join(p.Output.Signers, ",") != signer {
		t.Errorf("output signers %v, keytool says %s", p.Output.Signers, signer)
	}
	if _, err := report.Verify(data, report.Expect{Name: "app.secured.aab", SHA256: fileSHA, Signers: []string{signer}}); err != nil {
		t.Errorf("report does not verify against the oracles' values: %v", err)
	}

	var mods []string
	for _, md := range p.Output.Modules {
		mods = append(mods, md.Name+":"+md.Type)
	}
	if p.Output.Format != "aab" || p.Input.Format != "aab" || strings.Join(mods, ",") != "base:base,camera:feature,textures:asset-pack" ||
		strings.Join(p.Output.Schemes, ",") != "jar" || strings.Join(p.Input.Schemes, ",") != "jar" {
		t.Errorf("output artifact %+v", p.Output)
	}
	outEntries, inEntries := testenv.ZipEntries(t, out), testenv.ZipEntries(t, in)
	for _, inj := range p.Injected {
		if b, ok := outEntries[inj.Name]; !ok || hexSum(b) != inj.SHA256 || len(b) != inj.Size {
			t.Errorf("injected %s: sha256 %s size %d; archive/zip reads %s size %d (present %v)", inj.Name, inj.SHA256, inj.Size, hexSum(b), len(b), ok)
		}
	}
	a := p.Attestation
	if a.ManifestDigest != "" || strings.Join(a.SignerDigests, ",") != testenv.PlaySigningDigest ||
		len(a.DexDigests) != 1 || a.DexDigests["classes.dex"] != hexSum(inEntries["base/dex/classes.dex"]) ||
		a.RuntimeDigest != hexSum(outEntries["base/dex/classes2.dex"]) {
		t.Errorf("attestation %+v", a)
	}
	if got := pythonMeasurement(t, payload); got != a.MeasurementSHA256 {
		t.Errorf("measurementSha256 %s, Python's canonical JSON gives %s", a.MeasurementSHA256, got)
	}
	if !containsText(p.Limits, "verified its JAR signature") || !containsText(p.Limits, "not the manifest") || !p.Verification.Verified {
		t.Errorf("limits %q, verification %+v", p.Limits, p.Verification)
	}

	pdf := filepath.Join(dir, "report.pdf")
	var buf bytes.Buffer
	if err := report.RenderPDF(&st, &buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pdf, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	text := testenv.Run(t, "pdftotext", "-layout", pdf, "-")
	for _, want := range []string{"Android App Bundle", "camera (feature", "textures (asset-pack", "JAR signature, digests of written entries"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF does not say %q:\n%s", want, text)
		}
	}
}
