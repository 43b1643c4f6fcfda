package fusion

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/vault"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

var buildTime = time.Unix(1700000000, 0).UTC()

func demoFusionSet(t testing.TB) *fusionset.FusionSet {
	t.Helper()
	fs, err := fusionset.Load(filepath.Join(testenv.Root(t), "fusion", "examples", "demo.json"), fusionset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func fixtureSigner(t testing.TB) *keys.Signer {
	t.Helper()
	s, err := keys.Load(filepath.Join(testenv.Root(t), "testdata", "keys", "rsa-keytool.p12"), []byte("fixture-pass"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fuse(t testing.TB, in, out string, fs *fusionset.FusionSet, s *keys.Signer) *Result {
	t.Helper()
	res, err := Fuse(Request{In: in, Out: out, FusionSet: fs, Signer: s, Now: buildTime, ToolVersion: "trustfuse test"})
	if err != nil {
		t.Fatalf("fuse %s: %v", filepath.Base(in), err)
	}
	return res
}

// TestFuseOracles fuses every fixture and real app and checks the output
// with apksigner, zipalign, the 16 KiB oracle, aapt, aapt2 and dexdump, and
// that every original entry is copied byte for byte.
func TestFuseOracles(t *testing.T) {
	fs := demoFusionSet(t)
	signer := fixtureSigner(t)
	for _, in := range testenv.AllAPKs(t) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "fused.apk")
			before := fileSum(t, in)
			res := fuse(t, in, out, fs, signer)
			if fileSum(t, in) != before {
				t.Fatal("input modified")
			}

			vout := testenv.Run(t, "apksigner", "verify", "-v", "--print-certs", out)
			want := apksig.CertDigest(signer.Certificate)
			if !strings.Contains(vout, "certificate SHA-256 digest: "+want) {
				t.Fatalf("apksigner does not name signer %s:\n%s", want, vout)
			}
			testenv.Run(t, "zipalign", "-c", "-p", "4", out)
			testenv.Run(t, "zipalign16", out)

			badging := testenv.Run(t, "aapt", "dump", "badging", out)
			if !strings.Contains(badging, "package: name='"+res.Input.Package+"'") {
				t.Errorf("package changed:\n%s", badging)
			}
			if !strings.Contains(badging, "uses-permission: name='android.permission.INTERNET'") {
				t.Error("INTERNET permission missing")
			}
			tree := testenv.Run(t, "aapt2", "dump", "xmltree", "--file", "AndroidManifest.xml", out)
			for _, s := range []string{
				`android:name(0x01010003)="io.trustfuse.runtime.Init"`,
				`android:authorities(0x01010018)="` + res.Input.Package + `.trustfuse"`,
				`android:exported(0x01010010)=false`,
				`android:initOrder(0x0101001a)=2147483647`,
			} {
				if !strings.Contains(tree, s) {
					t.Errorf("aapt2 xmltree lacks %s", s)
				}
			}

			z, err := zipx.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			var dexName string
			for _, inj := range res.Injected {
				if strings.HasSuffix(inj.Name, ".dex") {
					dexName = inj.Name
				}
			}
			dex, err := z.Entry(dexName).ReadAll(16 << 20)
			if err != nil || !bytes.Equal(dex, androidrt.Dex()) {
				t.Fatalf("%s is not the runtime dex: %v", dexName, err)
			}
			dexPath := filepath.Join(dir, "runtime.dex")
			os.WriteFile(dexPath, dex, 0o644)
			if d := testenv.Run(t, "dexdump", "-f", dexPath); !strings.Contains(d, "checksum") {
				t.Errorf("dexdump: %s", d)
			}

			assertRawCopies(t, in, z.Reader, "AndroidManifest.xml")

			// The vault unseals only for the output signer and this policy.
			pol, _ := z.Entry(androidrt.PolicyAsset).ReadAll(1 << 20)
			blob, _ := z.Entry(androidrt.VaultAsset).ReadAll(1 << 20)
			id, err := vault.Open(blob, androidrt.Pepper(), signer.CertSHA256(), pol)
			if err != nil || !id.Chain[0].Equal(fs.ClientCertificate()) {
				t.Fatalf("vault does not unseal to the client certificate: %v", err)
			}
			if _, err := vault.Open(blob, androidrt.Pepper(), sha256.Sum256([]byte("another signer")), pol); err == nil {
				t.Fatal("vault unseals for another signer")
			}
			if !res.Verification.Verified {
				t.Fatalf("self-verification: %+v", res.Verification)
			}
		})
	}
}

// assertRawCopies checks every entry of the input, except the manifest
// (entry manifest) and old JAR signature files, is in the output with
// identical compressed bytes.
func assertRawCopies(t *testing.T, in string, out *zipx.Reader, manifest string) {
	t.Helper()
	src, err := zipx.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, e := range src.Entries {
		if e.Name == manifest || strings.HasPrefix(e.Name, "META-INF/") && isSigFile(e.Name) {
			continue
		}
		o := out.Entry(e.Name)
		if o == nil {
			t.Fatalf("%s missing from the output", e.Name)
		}
		a, _ := io.ReadAll(e.OpenRaw())
		b, _ := io.ReadAll(o.OpenRaw())
		if o.Method != e.Method || !bytes.Equal(a, b) {
			t.Fatalf("%s: compressed bytes differ", e.Name)
		}
	}
}

func isSigFile(name string) bool {
	u := strings.ToUpper(name)
	for _, s := range []string{".SF", ".RSA", ".EC", ".DSA", "MANIFEST.MF"} {
		if strings.HasSuffix(u, s) {
			return true
		}
	}
	return strings.HasPrefix(u, "META-INF/SIG-")
}

func fileSum(t testing.TB, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestFuseDeterministic(t *testing.T) {
	fs := demoFusionSet(t)
	in := filepath.Join(testenv.Root(t), "testdata", "apk", "multidex.apk")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.apk"), filepath.Join(dir, "b.apk")
	ra := fuse(t, in, a, fs, keys.Demo())
	fuse(t, in, b, fs, keys.Demo())
	if fileSum(t, a) != fileSum(t, b) {
		t.Fatal("two fuses of the same input differ")
	}
	if !ra.DemoKey {
		t.Error("demo key not recorded")
	}
	for _, inj := range ra.Injected {
		if strings.HasSuffix(inj.Name, ".dex") && inj.Name != "classes3.dex" {
			t.Errorf("runtime dex named %s, want classes3.dex after classes2.dex", inj.Name)
		}
	}
}

func TestFuseRefusals(t *testing.T) {
	fs := demoFusionSet(t)
	dir := t.TempDir()
	fused := filepath.Join(dir, "fused.apk")
	fuse(t, filepath.Join(testenv.Root(t), "testdata", "apk", "v2-only.apk"), fused, fs, keys.Demo())

	again := filepath.Join(dir, "again.apk")
	_, err := Fuse(Request{In: fused, Out: again, FusionSet: fs, Signer: keys.Demo(), Now: buildTime})
	if !errors.Is(err, ErrAlreadyFused) {
		t.Fatalf("re-fuse: %v", err)
	}
	if _, err := os.Stat(again); !os.IsNotExist(err) {
		t.Fatal("re-fuse left an output")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}
