package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

const fusionSetTmpl = `{
  "fusionSetId": "fs-test", "name": "test", "version": 1,
  "mtls": {"clientCertificate": "file:client.p12", "password": "env:TEST_P12_PASS",
           "hosts": ["api.example.com"], "pinServerCA": "file:server-ca.pem"},
  "threats": {"tamper": {"mode": "defend"}, "mitm": {"mode": "defend"}},
  "threatEvents": {"enabled": true, "failSafeEnforce": false, "exitOnDefend": false}
}`

// TestFuseBadInput runs `trustfuse fuse` on bad inputs: each must fail with
// the right exit code and a clear message, leave no output and no temporary
// file, and leave the input untouched.
func TestFuseBadInput(t *testing.T) {
	good := filepath.Join(testenv.Root(t), "testdata", "apk", "v1v2v3.apk")
	now := time.Now()
	cases := []struct {
		name     string
		setup    func(t *testing.T, dir string) (in, fusionSet string)
		pass     string
		wantCode int
		wantErr  string
	}{
		{"good (control)", func(t *testing.T, dir string) (string, string) {
			testenv.WriteClientP12(t, filepath.Join(dir, "client.p12"), "p12-pass", testenv.ClientIdentity{})
			return good, writeFile(t, dir, "fs.json", fusionSetTmpl)
		}, "p12-pass", 0, ""},
		{"wrong p12 password", func(t *testing.T, dir string) (string, string) {
			testenv.WriteClientP12(t, filepath.Join(dir, "client.p12"), "p12-pass", testenv.ClientIdentity{})
			return good, writeFile(t, dir, "fs.json", fusionSetTmpl)
		}, "not-the-password", 4, "wrong password"},
		{"expired client certificate", func(t *testing.T, dir string) (string, string) {
			testenv.WriteClientP12(t, filepath.Join(dir, "client.p12"), "p12-pass", testenv.ClientIdentity{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
			return good, writeFile(t, dir, "fs.json", fusionSetTmpl)
		}, "p12-pass", 2, "expired"},
		{"certificate without private key", func(t *testing.T, dir string) (string, string) {
			testenv.WriteClientP12(t, filepath.Join(dir, "client.p12"), "p12-pass", testenv.ClientIdentity{NoKey: true})
			return good, writeFile(t, dir, "fs.json", fusionSetTmpl)
		}, "p12-pass", 2, "private key"},
		{"unknown field in the Fusion Set", func(t *testing.T, dir string) (string, string) {
			testenv.WriteClientP12(t, filepath.Join(dir, "client.p12"), "p12-pass", testenv.ClientIdentity{})
			return good, writeFile(t, dir, "fs.json", strings.Replace(fusionSetTmpl, `"version": 1`, `"version": 1, "colour": "red"`, 1))
		}, "p12-pass", 2, "fs.json:2:"},
		{"bad threat mode", func(t *testing.T, dir string) (string, string) {
			testenv.WriteClientP12(t, filepath.Join(dir, "client.p12"), "p12-pass", testenv.ClientIdentity{})
			return good, writeFile(t, dir, "fs.json", strings.Replace(fusionSetTmpl, `"tamper": {"mode": "defend"}`, `"tamper": {"mode": "block"}`, 1))
		}, "p12-pass", 2, "$.threats.tamper.mode"},
		{"APK without manifest", func(t *testing.T, dir string) (string, string) {
			testenv.WriteClientP12(t, filepath.Join(dir, "client.p12"), "p12-pass", testenv.ClientIdentity{})
			return writeZip(t, dir, "classes.dex"), writeFile(t, dir, "fs.json", fusionSetTmpl)
		}, "p12-pass", 2, "no AndroidManifest.xml"},
		{"not an APK", func(t *testing.T, dir string) (string, string) {
			testenv.WriteClientP12(t, filepath.Join(dir, "client.p12"), "p12-pass", testenv.ClientIdentity{})
			return writeFile(t, dir, "in.apk", "hello"), writeFile(t, dir, "fs.json", fusionSetTmpl)
		}, "p12-pass", 2, "not a ZIP archive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in, fs := c.setup(t, dir)
			before := sumFile(t, in)
			outDir := t.TempDir()
			out := filepath.Join(outDir, "out.apk")
			t.Setenv("TEST_P12_PASS", c.pass)
			var stdout, stderr bytes.Buffer
			code := run([]string{"trustfuse", "fuse", "--in", in, "--fusion-set", fs, "--out", out}, &stdout, &stderr)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, c.wantCode, stderr.String())
			}
			if c.wantCode == 0 {
				testenv.Run(t, "apksigner", "verify", out)
				return
			}
			if !strings.Contains(stderr.String(), c.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", c.wantErr, stderr.String())
			}
			if strings.Contains(stderr.String(), c.pass) {
				t.Errorf("stderr shows the password")
			}
			if left, _ := os.ReadDir(outDir); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
			if sumFile(t, in) != before {
				t.Error("input modified")
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeZip(t *testing.T, dir string, names ...string) string {
	t.Helper()
	p := filepath.Join(dir, "in.apk")
	buf, err := makeZip(names...)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sumFile(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
