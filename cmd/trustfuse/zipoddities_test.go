package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// TestZipOdditiesAgreeWithApksigner crafts one APK per class of unusual ZIP
// layout (gaps, prefixes, compression methods, names), has apksigner sign it
// (v1 + v2 + v3: apksigner keeps the layout, and its v2 digest covers the
// gaps), and checks that `trustfuse verify` reaches apksigner's verdict with
// the expected warning codes in `verify --json` and `inspect --json`. Where
// we refuse what apksigner accepts, either Android's libziparchive refuses
// it too or readers would disagree on the content, and the refusal must say
// which (the case's why). For every class both accept, `trustfuse sign` and
// `trustfuse fuse` must write an APK that apksigner, zipalign -c -p 4 and
// aapt accept, and that reads back without warnings; for hidden data they
// must refuse with exit 2 and write nothing.
func TestZipOdditiesAgreeWithApksigner(t *testing.T) {
	ks := filepath.Join(testenv.Root(t), "testdata", "keys", "rsa-keytool.p12")
	orig, err := os.ReadFile(fixtureAPK(t, "unsigned.apk")) // minSdk 21
	if err != nil {
		t.Fatal(err)
	}
	at := func(b []byte, name string) int64 { return testenv.ZipEntryOffset(t, b, name) }
	cdOffset := func(b []byte) int64 { return int64(binary.LittleEndian.Uint32(b[len(b)-22+16:])) }
	const (
		accepted = 0 // verify exit code: verifies
		refused  = 2 // malformed: the archive is refused
	)
	cases := []struct {
		name      string
		craft     func(b []byte) []byte // applied to unsigned.apk before apksigner signs it
		apksigner bool                  // apksigner's verdict
		verify    int                   // our verify exit code
		codes     []string              // warning codes of verify --json and inspect --json
		rewrite   int                   // exit code of sign and fuse
		why       string                // substring of the refusal
		v2Only    bool                  // sign and verify for API 24+ only: no v1
	}{
		{name: "plain (control)", craft: func(b []byte) []byte { return b },
			apksigner: true, verify: accepted},
		{name: "1 zero byte between entries", craft: func(b []byte) []byte {
			return testenv.ZipInsert(t, b, at(b, "resources.arsc"), []byte{0})
		}, apksigner: true, verify: accepted, codes: []string{zipx.WarnZeroGap}},
		{name: "100 zero bytes between entries", craft: func(b []byte) []byte {
			return testenv.ZipInsert(t, b, at(b, "classes.dex"), make([]byte, 100))
		}, apksigner: true, verify: accepted, codes: []string{zipx.WarnZeroGap}},
		{name: "5000 zero bytes between entries", craft: func(b []byte) []byte {
			return testenv.ZipInsert(t, b, at(b, "classes.dex"), make([]byte, 5000))
		}, apksigner: true, verify: accepted, codes: []string{zipx.WarnZeroGap}},
		{name: "5000 zero bytes before the signing block", craft: func(b []byte) []byte {
			return testenv.ZipInsert(t, b, cdOffset(b), make([]byte, 5000))
		}, apksigner: true, verify: accepted, codes: []string{zipx.WarnZeroGap}},
		{name: "non-zero gap between entries", craft: func(b []byte) []byte {
			return testenv.ZipInsert(t, b, at(b, "classes.dex"), []byte("#!/bin/sh\necho not in any entry\n"))
		}, apksigner: true, verify: accepted, codes: []string{zipx.WarnHiddenData}, rewrite: refused, why: "non-zero bytes no entry accounts for"},
		{name: "zero bytes before the first entry", craft: func(b []byte) []byte {
			return testenv.ZipInsert(t, b, 0, make([]byte, 64))
		}, apksigner: true, verify: refused, rewrite: refused, why: "libziparchive"},
		{name: "non-zero bytes before the first entry", craft: func(b []byte) []byte {
			return testenv.ZipInsert(t, b, 0, []byte("#!/bin/sh\nexit 0\n"))
		}, apksigner: true, verify: refused, rewrite: refused, why: "libziparchive"},
		{name: "local method stored, central deflate", craft: func(b []byte) []byte {
			return testenv.ZipSetMethod(t, b, "classes.dex", int(zipx.Store), -1)
		}, apksigner: true, verify: accepted, codes: []string{zipx.WarnLocalMethod}},
		{name: "local method deflate, central stored", craft: func(b []byte) []byte {
			return testenv.ZipSetMethod(t, b, "resources.arsc", int(zipx.Deflate), -1)
		}, apksigner: true, verify: accepted, codes: []string{zipx.WarnLocalMethod}},
		{name: "method 12 on classes.dex (deflate data)", craft: func(b []byte) []byte {
			return testenv.ZipSetMethod(t, b, "classes.dex", 12, 12)
		}, apksigner: true, verify: accepted, codes: []string{zipx.WarnMethodAsDeflate}},
		{name: "central method 99 on the manifest, local 8", craft: func(b []byte) []byte {
			return testenv.ZipSetMethod(t, b, "AndroidManifest.xml", -1, 99)
		}, apksigner: true, verify: accepted, codes: []string{zipx.WarnMethodAsDeflate, zipx.WarnLocalMethod}},
		{name: "stored entry whose compressed size is smaller", craft: func(b []byte) []byte {
			return testenv.ZipPatch(t, b, "resources.arsc", func(local, central []byte) {
				le := binary.LittleEndian
				le.PutUint32(local[18:], le.Uint32(local[18:])-16)
				le.PutUint32(central[20:], le.Uint32(central[20:])-16)
			})
		}, apksigner: true, verify: refused, rewrite: refused, why: "readers disagree"},
		// Current Android is stricter here than Debian's apksigner: the
		// v2 verifier of apksigner 31 accepts a NUL in a name, but
		// libziparchive's entry name check refuses the archive, so the
		// package does not install; we refuse it as Android does.
		{name: "NUL in an entry name", craft: func(b []byte) []byte {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "src.apk"), filepath.Join(dir, "dst.apk")
			if err := os.WriteFile(src, b, 0o644); err != nil {
				t.Fatal(err)
			}
			testenv.RewriteZip(t, src, dst, nil, testenv.ZipFile{Name: "assets/a\x00.txt", Data: []byte("hidden after NUL")})
			out, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, apksigner: true, verify: refused, rewrite: refused, why: "NUL byte in name, which Android's libziparchive refuses", v2Only: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "crafted.apk")
			if err := os.WriteFile(in, c.craft(orig), 0o644); err != nil {
				t.Fatal(err)
			}
			signed := filepath.Join(dir, "signed.apk")
			signArgs := []string{"sign", "--ks", ks, "--ks-pass", "pass:fixture-pass", "--v4-signing-enabled", "false"}
			verifyArgs := []string{"verify", "-v"}
			if c.v2Only {
				// apksigner's JAR signer refuses a NUL in a name.
				signArgs = append(signArgs, "--min-sdk-version", "24", "--v1-signing-enabled", "false")
				verifyArgs = append(verifyArgs, "--min-sdk-version", "24")
			}
			testenv.Run(t, "apksigner", append(signArgs, "--in", in, "--out", signed)...)
			out, err := exec.Command(testenv.Tool(t, "apksigner"), append(verifyArgs, signed)...).CombinedOutput()
			if theirs := err == nil; theirs != c.apksigner {
				t.Fatalf("apksigner verify: %v, the case expects %v:\n%s", theirs, c.apksigner, out)
			}

			code, stdout, stderr := runCLI(t, "verify", "--json", signed)
			if code != c.verify {
				t.Fatalf("verify: exit %d, want %d (apksigner verifies: %v)\n%s%s", code, c.verify, c.apksigner, stdout, stderr)
			}
			if code == refused {
				if !strings.Contains(stderr, c.why) {
					t.Fatalf("verify refusal does not say %q:\n%s", c.why, stderr)
				}
			} else {
				if got := warningCodes(t, stdout); !slices.Equal(got, c.codes) {
					t.Fatalf("verify --json warnings %q, want %q\n%s", got, c.codes, stdout)
				}
				code, stdout, stderr = runCLI(t, "inspect", "--json", signed)
				if got := warningCodes(t, stdout); code != 0 || !slices.Equal(got, c.codes) {
					t.Fatalf("inspect --json: exit %d, warnings %q, want %q\n%s", code, got, c.codes, stderr)
				}
				if _, human, _ := runCLI(t, "verify", signed); len(c.codes) > 0 && !strings.Contains(human, "WARNING: ") {
					t.Fatalf("human verify output has no WARNING line:\n%s", human)
				}
			}

			t.Setenv("SOURCE_DATE_EPOCH", sourceDateEpoch)
			t.Setenv("KS_PASS", "fixture-pass")
			keyFlags := []string{"--keystore", ks, "--ks-pass", "env:KS_PASS"}
			for _, run := range []struct {
				cmd  string
				args []string
			}{
				{"sign", []string{"sign", "--in", signed}},
				{"fuse", []string{"fuse", "--in", signed, "--fusion-set", demoFS(t)}},
			} {
				res := filepath.Join(dir, run.cmd+".apk")
				code, _, stderr := runCLI(t, append(append(run.args, "--out", res), keyFlags...)...)
				if code != c.rewrite {
					t.Fatalf("%s: exit %d, want %d\n%s", run.cmd, code, c.rewrite, stderr)
				}
				if code != 0 {
					if !strings.Contains(stderr, c.why) {
						t.Fatalf("%s refusal does not say %q:\n%s", run.cmd, c.why, stderr)
					}
					if _, err := os.Stat(res); !os.IsNotExist(err) {
						t.Fatalf("%s wrote %s on failure (%v)", run.cmd, res, err)
					}
					continue
				}
				testenv.Run(t, "apksigner", "verify", res)
				testenv.Run(t, "zipalign", "-c", "-p", "4", res)
				testenv.AaptBadging(t, res)
				code, stdout, stderr := runCLI(t, "verify", "--json", res)
				if got := warningCodes(t, stdout); code != 0 || len(got) > 0 {
					t.Fatalf("%s output: verify exit %d, warnings %q\n%s", run.cmd, code, got, stderr)
				}
			}
		})
	}
}

// warningCodes returns the codes of the top-level "warnings" of a
// verify --json or inspect --json document.
func warningCodes(t *testing.T, doc string) []string {
	t.Helper()
	var v struct {
		Warnings []struct{ Code string } `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("%v:\n%s", err, doc)
	}
	var codes []string
	for _, w := range v.Warnings {
		codes = append(codes, w.Code)
	}
	return codes
}
