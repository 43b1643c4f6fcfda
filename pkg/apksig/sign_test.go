package apksig

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/axml"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

const fixturePass = "fixture-pass"

// fixtureKeys loads the checked-in test identities from each container kind.
func fixtureKeys(t testing.TB) map[string]*Signer {
	t.Helper()
	out := map[string]*Signer{}
	for _, name := range []string{"rsa-keytool.p12", "rsa-openssl.p12", "rsa.jks", "ec-openssl.p12", "ec.jks"} {
		s, err := keys.Load(filepath.Join(testenv.Root(t), "testdata", "keys", name), []byte(fixturePass), "", nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = &Signer{Key: s.Key, Certs: s.Chain}
	}
	return out
}

// minSDKOf reads minSdkVersion from the APK's manifest.
func minSDKOf(t testing.TB, z *zipx.Reader) int {
	t.Helper()
	b, err := z.Entry("AndroidManifest.xml").ReadAll(16 << 20)
	if err != nil {
		t.Fatal(err)
	}
	d, err := axml.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := axml.ParseManifest(d)
	if err != nil {
		t.Fatal(err)
	}
	return m.MinSDK
}

// signFile signs src into dst and returns the schemes produced.
func signFile(t testing.TB, src, dst string, s *Signer, opts Options) []Scheme {
	t.Helper()
	in, err := zipx.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if opts.MinSDK == 0 {
		opts.MinSDK = minSDKOf(t, in.Reader)
	}
	schemes, err := opts.Schemes(s)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := Sign(out, InputsFrom(in.Reader), s, opts); err != nil {
		t.Fatal(err)
	}
	return schemes
}

var (
	reVerified = regexp.MustCompile(`Verified using (v[0-9.]+) scheme[^:]*: (true|false)`)
	reDigest   = regexp.MustCompile(`Signer #\d+ certificate SHA-256 digest: ([0-9a-f]{64})`)
)

// apksigner runs `apksigner verify -v --print-certs` and returns whether it
// verified, the schemes it verified and the signer digests.
func apksigner(t testing.TB, path string, extra ...string) (bool, []string, []string, string) {
	t.Helper()
	args := append([]string{"verify", "-v", "--print-certs"}, extra...)
	out, err := exec.Command(testenv.Tool(t, "apksigner"), append(args, path)...).CombinedOutput()
	var schemes, digests []string
	for _, m := range reVerified.FindAllStringSubmatch(string(out), -1) {
		if m[2] == "true" {
			schemes = append(schemes, m[1])
		}
	}
	for _, m := range reDigest.FindAllStringSubmatch(string(out), -1) {
		digests = append(digests, m[1])
	}
	return err == nil, schemes, digests, string(out)
}

// TestSignOracles re-signs every fixture and real app with RSA and EC keys
// from PKCS#12 and JKS, and checks the output with apksigner, zipalign, the
// 16 KiB oracle and aapt.
func TestSignOracles(t *testing.T) {
	ks := fixtureKeys(t)
	for _, path := range testenv.AllAPKs(t) {
		for _, keyName := range []string{"rsa-keytool.p12", "rsa.jks", "ec-openssl.p12", "ec.jks"} {
			if testing.Short() && keyName != "rsa-keytool.p12" {
				continue
			}
			t.Run(filepath.Base(path)+"/"+keyName, func(t *testing.T) {
				s := ks[keyName]
				dst := filepath.Join(t.TempDir(), "signed.apk")
				in, _ := zipx.Open(path)
				min := minSDKOf(t, in.Reader)
				in.Close()
				opts := Options{}
				if s.isEC() && min < sdkJellyBeanMR2 {
					// EC keys cannot make v1 signatures for API < 18:
					// Schemes refuses, so sign v2+v3 for API 24+ only.
					if _, err := opts.Schemes(s); !errors.Is(err, ErrOptions) {
						t.Fatalf("EC v1 for minSdk %d: %v", min, err)
					}
					opts.MinSDK = sdkN
				}
				schemes := signFile(t, path, dst, s, opts)
				args := []string{}
				if opts.MinSDK != 0 {
					args = append(args, "--min-sdk-version", "24")
				}
				ok, verified, digests, out := apksigner(t, dst, args...)
				if !ok {
					t.Fatalf("apksigner:\n%s", out)
				}
				want := []string{CertDigest(s.Certs[0])}
				if !slices.Equal(digests, want) {
					t.Errorf("apksigner signers %v, want %v", digests, want)
				}
				for _, sc := range schemes {
					// apksigner skips v2 when v3 covers every SDK (min >= 28)
					// and v1 when min >= 24; everything else must verify.
					if !slices.Contains(verified, string(sc)) && !(sc == V1 && min >= sdkN) {
						t.Errorf("scheme %s not verified by apksigner (%v)", sc, verified)
					}
				}
				testenv.Run(t, "zipalign", "-c", "-p", "4", dst)
				testenv.Run(t, "zipalign16", dst)
				testenv.Run(t, "aapt", "dump", "badging", dst)

				// Our verifier agrees.
				z, err := zipx.Open(dst)
				if err != nil {
					t.Fatal(err)
				}
				defer z.Close()
				res, err := Verify(z.Reader, VerifyOptions{MinSDK: max(min, opts.MinSDK)})
				if err != nil || !res.Verified {
					t.Fatalf("our verifier: %v %+v", err, res.AllErrors())
				}
			})
		}
	}
}

func TestSignDeterministic(t *testing.T) {
	ks := fixtureKeys(t)
	src := filepath.Join(testenv.Root(t), "testdata", "apk", "v1v2v3.apk")
	when := time.Unix(1700000000, 0)
	for _, k := range []string{"rsa-keytool.p12", "ec-openssl.p12"} {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a.apk"), filepath.Join(dir, "b.apk")
		signFile(t, src, a, ks[k], Options{Modified: when})
		signFile(t, src, b, ks[k], Options{Modified: when})
		if fileSum(t, a) != fileSum(t, b) {
			t.Errorf("%s: two signatures of the same input differ", k)
		}
	}
}

func fileSum(t testing.TB, p string) [32]byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// failingOutput fails every write after limit bytes, like a full disk.
type failingOutput struct {
	buf   bytes.Buffer
	limit int
}

var errDiskFull = errors.New("no space left on device")

func (f *failingOutput) Write(p []byte) (int, error) {
	if f.buf.Len()+len(p) > f.limit {
		return 0, errDiskFull
	}
	return f.buf.Write(p)
}

func (f *failingOutput) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(f.buf.Bytes()).ReadAt(p, off)
}

func (f *failingOutput) WriteAt(p []byte, off int64) (int, error) { return 0, errDiskFull }

func TestSignWriteFailure(t *testing.T) {
	ks := fixtureKeys(t)
	src := testenv.RealApp(t, "ApiDemos-debug.apk")
	before := fileSum(t, src)
	in, err := zipx.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for _, limit := range []int{0, 1 << 20, 6 << 20} {
		out := &failingOutput{limit: limit}
		err := Sign(out, InputsFrom(in.Reader), ks["rsa-keytool.p12"], Options{MinSDK: 17})
		if !errors.Is(err, errDiskFull) {
			t.Errorf("limit %d: got %v, want the write error", limit, err)
		}
	}
	if fileSum(t, src) != before {
		t.Fatal("input modified")
	}
}

// TestSignSkipsOldSignature checks re-signing drops the old JAR signature
// files and keeps every other entry's bytes.
func TestSignSkipsOldSignature(t *testing.T) {
	ks := fixtureKeys(t)
	src := testenv.RealApp(t, "ApiDemos-debug.apk")
	dst := filepath.Join(t.TempDir(), "out.apk")
	signFile(t, src, dst, ks["rsa-keytool.p12"], Options{})
	a, _ := zipx.Open(src)
	defer a.Close()
	b, _ := zipx.Open(dst)
	defer b.Close()
	for _, e := range a.Entries {
		if isV1SignatureFile(e.Name) {
			continue
		}
		o := b.Entry(e.Name)
		if o == nil || o.CRC32 != e.CRC32 || o.CompressedSize != e.CompressedSize {
			t.Fatalf("%s changed", e.Name)
		}
	}
	var sigFiles []string
	for _, e := range b.Entries {
		if isV1SignatureFile(e.Name) {
			sigFiles = append(sigFiles, e.Name)
		}
	}
	if strings.Join(sigFiles, " ") != "META-INF/MANIFEST.MF META-INF/CERT.SF META-INF/CERT.RSA" {
		t.Fatalf("signature files %v", sigFiles)
	}
}

func BenchmarkContentDigest(b *testing.B) {
	src := testenv.RealApp(b, "ApiDemos-debug.apk")
	z, err := zipx.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer z.Close()
	cd, eocd, err := archiveSections(z.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(z.Size())
	for b.Loop() {
		if _, err := contentDigest(z.ReaderAt(), z.EntriesEnd(), cd, eocd, crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSignRefusesForeignKey: a signer whose key is not its certificate's is
// refused before anything is written, also without v1 (whose CMS
// self-check would otherwise be the only place to notice): the v2/v3
// signatures would not verify.
func TestSignRefusesForeignKey(t *testing.T) {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	mixed := &Signer{Key: other, Certs: fixtureKeys(t)["rsa-keytool.p12"].Certs}
	in, err := zipx.Open(testenv.RealApp(t, "settings_apk-debug.apk"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for _, v1 := range []V1Mode{V1Off, V1On} {
		out := &failingOutput{limit: 1 << 30}
		err := Sign(out, InputsFrom(in.Reader), mixed, Options{MinSDK: 26, V1: v1})
		if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "does not belong to certificate") {
			t.Errorf("v1 %s: got %v, want ErrOptions (key does not belong to the certificate)", v1, err)
		}
		if out.buf.Len() != 0 {
			t.Errorf("v1 %s: %d bytes written before the refusal", v1, out.buf.Len())
		}
	}
}
