package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// TestSignBundleJarsigner: bundles signed by `trustfuse sign` (RSA from a
// PKCS#12, EC from a JKS) pass `jarsigner -verify -strict -verbose`; with
// one byte changed in an entry, jarsigner fails and `trustfuse verify`
// exits 3.
func TestSignBundleJarsigner(t *testing.T) {
	keysDir := filepath.Join(testenv.Root(t), "testdata", "keys")
	in := filepath.Join(testenv.Root(t), "testdata", "aab", "bundle.aab")
	t.Setenv("SOURCE_DATE_EPOCH", sourceDateEpoch)
	t.Setenv("KS_PASS", "fixture-pass")
	for _, tc := range []struct{ kind, keystore string }{
		{"rsa", "rsa-keytool.p12"},
		{"ec", "ec.jks"},
	} {
		dir := t.TempDir()
		out := filepath.Join(dir, tc.kind+".aab")
		code, _, stderr := runCLI(t, "sign", "--in", in, "--out", out,
			"--keystore", filepath.Join(keysDir, tc.keystore), "--ks-pass", "env:KS_PASS")
		if code != 0 {
			t.Fatalf("%s: sign: exit %d\n%s", tc.kind, code, stderr)
		}
		if ok, msg := testenv.JarsignerVerify(t, out, tc.kind); !ok || !strings.Contains(msg, "Digest algorithm: SHA-256") {
			t.Fatalf("%s: jarsigner -verify -strict:\n%s", tc.kind, msg)
		}
		if code, stdout, stderr := runCLI(t, "verify", out); code != 0 {
			t.Fatalf("%s: verify: exit %d\n%s%s", tc.kind, code, stdout, stderr)
		}
		for _, name := range []string{"base/dex/classes.dex", "camera/manifest/AndroidManifest.xml", "textures/assets/textures/level1.txt"} {
			data := slices.Clone(testenv.ZipEntry(t, out, name))
			data[len(data)/2] ^= 0x20
			bad := filepath.Join(dir, "tampered.aab")
			testenv.RewriteZip(t, out, bad, map[string][]byte{name: data})
			if ok, msg := testenv.JarsignerVerify(t, bad, tc.kind); ok {
				t.Errorf("%s: %s changed, jarsigner still verifies:\n%s", tc.kind, name, msg)
			}
			code, stdout, _ := runCLI(t, "verify", bad)
			if code != exitVerify || !strings.Contains(stdout, "digest of "+name+" does not match") {
				t.Errorf("%s: %s changed: verify exit %d, want %d naming the entry:\n%s", tc.kind, name, code, exitVerify, stdout)
			}
		}
	}
}
