package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/report"
)

// listDir returns the names in dir, hidden ones (temporary files) included.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestFuseAllOutputsOrNone injects a failure into each output step of
// `fuse` (report file, report refused by the schema, PDF, registration
// export, registry) after the APK and its .idsig were made: the run must leave none of its outputs and no
// temporary file in any of the directories; without a failure, all appear.
func TestFuseAllOutputsOrNone(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", sourceDateEpoch)
	t.Setenv("KS_PASS", "fixture-pass")
	regKey := make([]byte, 32)
	rand.Read(regKey)
	t.Setenv("REG_KEY", hex.EncodeToString(regKey))
	blocker := writeFile(t, t.TempDir(), "blocker", "a file where a directory is needed")
	cases := []struct {
		name string
		// flags name the outputs besides --out (and its .idsig: --v4).
		flags func(rep, reg string) []string
		// edit, if set, changes the report statement before it is signed.
		edit     func(*report.Statement)
		wantCode int
		wantErr  string
		wantOut  []string // in the --out directory
		wantRep  []string // in the reports directory
		wantReg  []string // in the registration directory
	}{
		{"all written (export)", func(rep, reg string) []string {
			return []string{"--report", rep + "/app.json", "--report-pdf", rep + "/app.pdf", "--register", reg + "/release.json"}
		}, nil, 0, "", []string{"app.apk", "app.apk.idsig"}, []string{"app.json", "app.pdf"}, []string{"release.json"}},
		{"all written (registry)", func(rep, reg string) []string {
			return []string{"--report", rep + "/app.json", "--register", reg + "/releases.db", "--registry-key", "env:REG_KEY"}
		}, nil, 0, "", []string{"app.apk", "app.apk.idsig"}, []string{"app.json"}, []string{"releases.db"}},
		{"report cannot be written", func(rep, reg string) []string {
			return []string{"--report", blocker + "/app.json", "--report-pdf", rep + "/app.pdf", "--register", reg + "/release.json"}
		}, nil, 1, "not a directory (nothing was written", nil, nil, nil},
		{"PDF cannot be written", func(rep, reg string) []string {
			return []string{"--report", rep + "/app.json", "--report-pdf", blocker + "/app.pdf", "--register", reg + "/release.json"}
		}, nil, 1, "not a directory (nothing was written", nil, nil, nil},
		{"registration export cannot be written", func(rep, reg string) []string {
			return []string{"--report", rep + "/app.json", "--report-pdf", rep + "/app.pdf", "--register", blocker + "/release.json"}
		}, nil, 1, "not a directory (nothing was written", nil, nil, nil},
		{"report refused by the schema (a scheme it does not know)", func(rep, reg string) []string {
			return []string{"--report", rep + "/app.json", "--report-pdf", rep + "/app.pdf", "--register", reg + "/release.json"}
		}, func(st *report.Statement) { st.Predicate.Output.Schemes = append(st.Predicate.Output.Schemes, "v5") },
			2, "does not match the schema", nil, nil, nil},
		{"registry fails", func(rep, reg string) []string {
			return []string{"--report", rep + "/app.json", "--report-pdf", rep + "/app.pdf",
				"--register", reg + "/missing/releases.db", "--registry-key", "env:REG_KEY"}
		}, nil, 2, "the release was not registered, so nothing was written", nil, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outDir, repDir, regDir := t.TempDir(), t.TempDir(), t.TempDir()
			o := &fuseOptions{}
			o.report.editStatement = c.edit
			args := append([]string{"fuse", "--v4", "--in", fixtureAPK(t, "multidex.apk"), "--fusion-set", demoFS(t),
				"--out", filepath.Join(outDir, "app.apk"),
				"--keystore", filepath.Join(testenv.Root(t), "testdata", "keys", "rsa-keytool.p12"), "--ks-pass", "env:KS_PASS"},
				c.flags(repDir, regDir)...)
			var stdout, stderrBuf bytes.Buffer
			app := newApp(&stdout, &stderrBuf)
			for i, cmd := range app.Commands {
				if cmd.Name == "fuse" {
					app.Commands[i] = fuseCommandWith(o)
				}
			}
			code := execute(context.Background(), app, append([]string{appName}, args...), &stderrBuf, false)
			stderr := stderrBuf.String()
			if code != c.wantCode || !strings.Contains(stderr, c.wantErr) {
				t.Fatalf("exit %d, want %d with %q\n%s", code, c.wantCode, c.wantErr, stderr)
			}
			for _, d := range []struct {
				dir  string
				want []string
			}{{outDir, c.wantOut}, {repDir, c.wantRep}, {regDir, c.wantReg}} {
				if got := listDir(t, d.dir); !slices.Equal(got, append([]string{}, d.want...)) {
					t.Errorf("%s holds %v, want %v", d.dir, got, d.want)
				}
			}
			if code == 0 {
				if code, out, stderr := runCLI(t, "verify", "--report", filepath.Join(repDir, "app.json"), filepath.Join(outDir, "app.apk")); code != 0 {
					t.Errorf("verify --report: exit %d\n%s%s", code, out, stderr)
				}
			}
		})
	}
}

// TestFuseSignedInputs fuses and re-signs inputs that apksigner signed with
// extras that do not survive re-signing, and checks each output with
// apksigner: a v4 signature (.idsig beside the input; the output gets a new
// one with --v4, none otherwise, and a stale one from an earlier run is
// removed) and a SourceStamp (its stamp-cert-sha256 entry must go with it).
func TestFuseSignedInputs(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", sourceDateEpoch)
	t.Setenv("KS_PASS", "fixture-pass")
	keys := filepath.Join(testenv.Root(t), "testdata", "keys")
	stampDir := t.TempDir()
	stampKey, stampCert := filepath.Join(stampDir, "stamp.pk8"), filepath.Join(stampDir, "stamp.pem")
	testenv.Run(t, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", filepath.Join(stampDir, "stamp.key"),
		"-subj", "/CN=stamp", "-days", "3650", "-out", stampCert)
	testenv.Run(t, "openssl", "pkcs8", "-topk8", "-nocrypt", "-in", filepath.Join(stampDir, "stamp.key"), "-outform", "DER", "-out", stampKey)

	cases := []struct {
		name       string
		apksigner  []string // extra `apksigner sign` flags for the input
		command    string   // sign or fuse
		v4         bool     // --v4
		staleIdsig bool     // an .idsig from an earlier run sits at the output path
	}{
		{"v4 input, fuse", []string{"--v4-signing-enabled", "true"}, "fuse", false, false},
		{"v4 input, fuse --v4", []string{"--v4-signing-enabled", "true"}, "fuse", true, false},
		{"v4 input, fuse over a stale .idsig", []string{"--v4-signing-enabled", "true"}, "fuse", false, true},
		{"v4 input, fuse --v4 over a stale .idsig", []string{"--v4-signing-enabled", "true"}, "fuse", true, true},
		{"v4 input, sign", []string{"--v4-signing-enabled", "true"}, "sign", false, true},
		{"v4 input, sign --v4", []string{"--v4-signing-enabled", "true"}, "sign", true, true},
		{"SourceStamp input, sign", []string{"--stamp-signer", "--key", stampKey, "--cert", stampCert, "--v4-signing-enabled", "false"}, "sign", false, false},
		{"SourceStamp input, fuse", []string{"--stamp-signer", "--key", stampKey, "--cert", stampCert, "--v4-signing-enabled", "false"}, "fuse", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.apk")
			testenv.Run(t, "apksigner", append(append([]string{"sign", "--key", filepath.Join(keys, "rsa.pk8"), "--cert", filepath.Join(keys, "rsa.x509.pem")},
				c.apksigner...), "--out", in, fixtureAPK(t, "unsigned.apk"))...)
			inV4 := slices.Contains(c.apksigner, "true")
			var inIdsig [32]byte
			if inV4 {
				inIdsig = sumFile(t, in+".idsig")
			}
			out := filepath.Join(dir, "out.apk")
			if c.staleIdsig {
				stale, _ := os.ReadFile(in + ".idsig")
				os.WriteFile(out+".idsig", stale, 0o644)
			}
			args := []string{c.command, "--in", in, "--out", out,
				"--keystore", filepath.Join(keys, "rsa-keytool.p12"), "--ks-pass", "env:KS_PASS"}
			if c.command == "fuse" {
				args = append(args, "--fusion-set", demoFS(t), "--report", filepath.Join(dir, "report.json"))
			}
			if c.v4 {
				args = append(args, "--v4")
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s%s", c.command, code, stdout, stderr)
			}
			if inV4 && sumFile(t, in+".idsig") != inIdsig {
				t.Error("the input's .idsig changed")
			}
			if c.staleIdsig && !c.v4 && !strings.Contains(stderr, "removed "+out+".idsig") {
				t.Errorf("the stale .idsig's removal is not reported:\n%s", stderr)
			}
			_, err := os.Stat(out + ".idsig")
			if hasIdsig := err == nil; hasIdsig != c.v4 {
				t.Fatalf("output .idsig present: %v, want %v", hasIdsig, c.v4)
			}
			verifyArgs := []string{"verify", "-v"}
			if c.v4 {
				verifyArgs = append(verifyArgs, "--v4-signature-file", out+".idsig")
			}
			oracle := testenv.Run(t, "apksigner", append(verifyArgs, out)...)
			if c.v4 != strings.Contains(oracle, "Verified using v4 scheme (APK Signature Scheme v4): true") || strings.Contains(oracle, "WARNING") {
				t.Errorf("apksigner:\n%s", oracle)
			}
			if _, ok := testenv.ZipEntries(t, out)["stamp-cert-sha256"]; ok {
				t.Error("stamp-cert-sha256 kept without its stamp")
			}
			// inspect claims v4 exactly when the output has a matching .idsig.
			code, stdout, _ = runCLI(t, "inspect", "--json", out)
			if code != 0 || strings.Contains(stdout, `"v4"`) != c.v4 || strings.Contains(stdout, "V4_SIGNATURE") {
				t.Errorf("inspect (v4 %v):\n%s", c.v4, stdout)
			}
			if c.command != "fuse" {
				return
			}
			if code, o, e := runCLI(t, "verify", "--report", filepath.Join(dir, "report.json"), out); code != 0 {
				t.Fatalf("verify --report: exit %d\n%s%s", code, o, e)
			}
			data, _ := os.ReadFile(filepath.Join(dir, "report.json"))
			r, err := report.Open(data)
			if err != nil {
				t.Fatal(err)
			}
			p := r.Statement.Predicate
			if slices.Contains(p.Input.Schemes, "v4") != inV4 || slices.Contains(p.Output.Schemes, "v4") != c.v4 {
				t.Errorf("report schemes: input %v, output %v", p.Input.Schemes, p.Output.Schemes)
			}
			limit := slices.ContainsFunc(p.Limits, func(l string) bool { return strings.Contains(l, "v4 file (.idsig) signs the input only") })
			if limit != (inV4 && !c.v4) {
				t.Errorf("report limits (v4 note %v): %q", limit, p.Limits)
			}
		})
	}
}
