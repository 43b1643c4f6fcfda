package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/reporttest"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/report"
)

// runCLI runs the app in process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(append([]string{appName}, args...), &o, &e)
	return code, o.String(), e.String()
}

// fuseWithReport fuses in into dir/app.secured.apk with the RSA fixture
// keystore and fs, asking for both reports in dir.
func fuseWithReport(t *testing.T, in, fs, dir string) (apk, reportJSON, reportPDF string) {
	t.Helper()
	t.Setenv("SOURCE_DATE_EPOCH", sourceDateEpoch)
	t.Setenv("KS_PASS", "fixture-pass")
	apk = filepath.Join(dir, "app.secured.apk")
	code, _, stderr := runCLI(t, "fuse", "--in", in, "--fusion-set", fs, "--out", apk,
		"--keystore", filepath.Join(testenv.Root(t), "testdata", "keys", "rsa-keytool.p12"), "--ks-pass", "env:KS_PASS",
		"--report-dir", dir)
	if code != 0 {
		t.Fatalf("fuse: exit %d\n%s", code, stderr)
	}
	return apk, filepath.Join(dir, "app.secured.report.json"), filepath.Join(dir, "app.secured.report.pdf")
}

func demoFS(t *testing.T) string {
	return filepath.Join(testenv.Root(t), "fusion", "examples", "demo.json")
}

func fixtureAPK(t *testing.T, name string) string {
	return filepath.Join(testenv.Root(t), "testdata", "apk", name)
}

// flipStoredByte copies apk to dir (same file name) with one byte changed
// inside the data of a stored entry, so the archive still reads but its
// signatures and digest no longer match.
func flipStoredByte(t *testing.T, apk, dir string) string {
	t.Helper()
	data, err := os.ReadFile(apk)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Method == zip.Store && f.UncompressedSize64 > 16 {
			off, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			data[off+8] ^= 0xff
			p := filepath.Join(dir, filepath.Base(apk))
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatal("no stored entry to change")
	return ""
}

// TestVerifyReportTamper runs `trustfuse verify --report` on a good pair
// and on every kind of tampering: each must exit 3 (2 for a report that
// cannot be read) and name the field that differs.
func TestVerifyReportTamper(t *testing.T) {
	root := t.TempDir()
	mk := func(name string) string {
		d := filepath.Join(root, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	apk, rep, _ := fuseWithReport(t, fixtureAPK(t, "multidex.apk"), demoFS(t), mk("a"))
	_, otherRep, _ := fuseWithReport(t, fixtureAPK(t, "v1v2v3.apk"), demoFS(t), mk("b"))
	good, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	tampered := flipStoredByte(t, apk, mk("tampered"))

	// The same claims, signed by another key with its own certificate.
	opened, err := report.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	ecDir := filepath.Join(testenv.Root(t), "testdata", "keys")
	ecKey, _ := os.ReadFile(filepath.Join(ecDir, "ec.key.pem"))
	ecCert, _ := os.ReadFile(filepath.Join(ecDir, "ec.x509.pem"))
	ec, err := keys.LoadPEM(ecKey, ecCert)
	if err != nil {
		t.Fatal(err)
	}
	resigned, err := report.Sign(opened.Statement, ec.Key, ec.Chain)
	if err != nil {
		t.Fatal(err)
	}
	dir := mk("reports")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	versionCode := write("versioncode.json", reporttest.EditPayload(t, good, func(st map[string]any) {
		st["predicate"].(map[string]any)["output"].(map[string]any)["versionCode"] = 43
	}))

	tests := []struct {
		name     string
		apk, rep string
		code     int
		want     []string // in stdout
	}{
		{"good", apk, rep, 0, []string{"Report " + rep + ": verifies", "Report subject.digest.sha256: ", "Report signing certificate: the APK's signer"}},
		{"artifact byte changed", tampered, rep, 3, []string{"DOES NOT VERIFY", "ERROR: report subject.digest.sha256: the artifact has "}},
		{"versionCode changed in the report", apk, versionCode, 3, []string{"ERROR: report signature: "}},
		{"report re-signed with another key", apk, write("resigned.json", resigned), 3,
			[]string{"ERROR: report signing certificate: the artifact has signer sha256 e1c2fcfc", "the report has a signature by sha256 6b04f695"}},
		{"report of another APK", apk, otherRep, 3, []string{"ERROR: report subject.digest.sha256: ", "ERROR: report predicate.output.sha256: "}},
		{"malformed report", apk, write("malformed.json", good[:len(good)/2]), 2, []string{"ERROR: report: malformed report: not JSON"}},
		{"report of another shape", apk, write("shape.json", []byte(`{"payloadType":"x"}`)), 2, []string{"does not match the schema"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "verify", "--report", tt.rep, tt.apk)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if tt.code != 0 && !strings.Contains(stderr, tt.rep) {
				t.Errorf("stderr does not name the report:\n%s", stderr)
			}
		})
	}

	// --json carries the same verdict, with the mismatches as data.
	code, stdout, _ := runCLI(t, "verify", "--json", "--report", otherRep, apk)
	var out struct {
		Verified bool `json:"verified"`
		Report   struct {
			Verified   bool                    `json:"verified"`
			Mismatches []*report.MismatchError `json:"mismatches"`
		} `json:"report"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || code != 3 || !out.Verified || out.Report.Verified ||
		len(out.Report.Mismatches) != 2 || out.Report.Mismatches[0].Field != report.FieldSubjectDigest {
		t.Fatalf("verify --json: exit %d, %v, %+v\n%s", code, err, out, stdout)
	}
}

// TestFuseReportDeterministic fuses twice with SOURCE_DATE_EPOCH: the
// reports (JSON and PDF) are byte-identical.
func TestFuseReportDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	_, j1, p1 := fuseWithReport(t, fixtureAPK(t, "v1v2v3.apk"), demoFS(t), a)
	_, j2, p2 := fuseWithReport(t, fixtureAPK(t, "v1v2v3.apk"), demoFS(t), b)
	for _, pair := range [][2]string{{j1, j2}, {p1, p2}} {
		if sumFile(t, pair[0]) != sumFile(t, pair[1]) {
			t.Errorf("%s differs between two runs", filepath.Base(pair[0]))
		}
	}
}

// TestFuseReportNoSecrets fuses with a generated client identity under a
// custom password, and with the demo Fusion Set (password demo-pass), and
// greps the report JSON, its decoded payload and the PDF's text
// (pdftotext) for the passwords and for the client and signing keys.
func TestFuseReportNoSecrets(t *testing.T) {
	const custom = "Cust0m-P12-Pa55word"
	dir := t.TempDir()
	clientKey := testenv.WriteClientP12(t, filepath.Join(dir, "client.p12"), custom, testenv.ClientIdentity{})
	fsPath := writeFile(t, dir, "fs.json", fusionSetTmpl)
	t.Setenv("TEST_P12_PASS", custom)
	signing, err := keys.Load(filepath.Join(testenv.Root(t), "testdata", "keys", "rsa-keytool.p12"), []byte("fixture-pass"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	demoPEM, err := os.ReadFile(filepath.Join(testenv.Root(t), "fusion", "examples", "demo", "client.p12"))
	if err != nil {
		t.Fatal(err)
	}
	demoID, err := keys.Parse(demoPEM, "client.p12", []byte("demo-pass"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, fs, password string
		clientKey          any
	}{
		{"custom", fsPath, custom, clientKey},
		{"demo", demoFS(t), "demo-pass", demoID.Key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			_, j, p := fuseWithReport(t, fixtureAPK(t, "v1v2v3.apk"), tc.fs, out)
			data, err := os.ReadFile(j)
			if err != nil {
				t.Fatal(err)
			}
			r, err := report.Open(data)
			if err != nil {
				t.Fatal(err)
			}
			text := testenv.Run(t, "pdftotext", "-layout", p, "-")
			if !strings.Contains(text, "io.trustfuse.fixture") {
				t.Fatalf("pdftotext found no package name; the check below would prove nothing:\n%s", text)
			}
			hay := map[string][]byte{"report file": data, "payload": r.Payload, "PDF text": []byte(text)}
			needles := map[string][]byte{"p12 password": []byte(tc.password), "keystore password": []byte("fixture-pass")}
			for name, k := range map[string]any{"client key": tc.clientKey, "signing key": signing.Key} {
				maps.Copy(needles, reporttest.KeyNeedles(t, name, k))
			}
			for hn, h := range hay {
				for nn, n := range needles {
					if bytes.Contains(bytes.ToLower(h), bytes.ToLower(n)) {
						t.Errorf("%s contains the %s", hn, nn)
					}
				}
			}
		})
	}
}

// TestReportRender renders a good report (the PDF's text names the
// package and the output digest, per pdftotext) and refuses a tampered
// one with exit 3, writing nothing.
func TestReportRender(t *testing.T) {
	dir := t.TempDir()
	_, rep, _ := fuseWithReport(t, fixtureAPK(t, "multidex.apk"), demoFS(t), dir)
	out := filepath.Join(dir, "rendered.pdf")
	code, stdout, stderr := runCLI(t, "report", "render", "--pdf", out, rep)
	if code != 0 {
		t.Fatalf("render: exit %d\n%s", code, stderr)
	}
	data, _ := os.ReadFile(rep)
	r, err := report.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, r.KeyID) {
		t.Errorf("stdout does not name the signer:\n%s", stdout)
	}
	text := testenv.Run(t, "pdftotext", out, "-")
	if !strings.Contains(text, "io.trustfuse.fixture.multidex") {
		t.Errorf("PDF text lacks the package:\n%s", text)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, reporttest.EditPayload(t, data, func(st map[string]any) {
		st["predicate"].(map[string]any)["limits"] = []any{"none"}
	}), 0o644); err != nil {
		t.Fatal(err)
	}
	badOut := filepath.Join(dir, "bad.pdf")
	code, _, stderr = runCLI(t, "report", "render", "--pdf", badOut, bad)
	if code != 3 || !strings.Contains(stderr, "signature does not match") {
		t.Fatalf("tampered render: exit %d, want 3\n%s", code, stderr)
	}
	if _, err := os.Stat(badOut); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a PDF was written for a tampered report")
	}
}

func TestReportExitCodes(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{&report.MismatchError{Field: report.FieldSignature}, exitVerify},
		{fmt.Errorf("r.json: %w", errors.Join(&report.MismatchError{}, &report.MismatchError{})), exitVerify},
		{&report.FormatError{Offset: 3}, exitUsage},
		{errors.Join(fmt.Errorf("app.apk: %w", errVerifyFailed), &report.FormatError{}), exitVerify},
		{fmt.Errorf("x: %w", report.ErrSigningKey), exitCredential},
	} {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestReportOpenSSLFromCLI checks a report written by `fuse` with
// openssl alone, the way docs/report.md tells users to: jq-free, with the
// PAE built by hand.
func TestReportOpenSSLFromCLI(t *testing.T) {
	dir := t.TempDir()
	_, rep, _ := fuseWithReport(t, fixtureAPK(t, "multidex.apk"), demoFS(t), dir)
	data, _ := os.ReadFile(rep)
	var f struct {
		DSSEEnvelope struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
			Signatures  []struct {
				Sig string `json:"sig"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
		CertificateChain []string `json:"certificateChain"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.StdEncoding.DecodeString(f.DSSEEnvelope.Payload)
	sig, _ := base64.StdEncoding.DecodeString(f.DSSEEnvelope.Signatures[0].Sig)
	der, _ := base64.StdEncoding.DecodeString(f.CertificateChain[0])
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(f.DSSEEnvelope.PayloadType), f.DSSEEnvelope.PayloadType, len(payload), payload)
	files := map[string][]byte{"cert.der": der, "sig.bin": sig, "pae.bin": []byte(pae)}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pub := testenv.Run(t, "openssl", "x509", "-inform", "DER", "-in", filepath.Join(dir, "cert.der"), "-pubkey", "-noout")
	if err := os.WriteFile(filepath.Join(dir, "pub.pem"), []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Tool(t, "openssl"), "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "pae.bin")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("openssl dgst -verify: %v\n%s", err, out)
	}
}
