package fusion

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/fusion/runtime/android/harness"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/aab"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/sniff"
	"github.com/trustfuse/trustfuse/pkg/vault"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// playFusionSet is the demo Fusion Set with the stand-in Play App Signing
// digest (testenv.PlayFusionSet).
func playFusionSet(t testing.TB) *fusionset.FusionSet {
	t.Helper()
	fs, err := fusionset.Load(testenv.PlayFusionSet(t), fusionset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func digestBytes(t testing.TB, h string) [32]byte {
	t.Helper()
	var d [32]byte
	if _, err := hex.Decode(d[:], []byte(h)); err != nil {
		t.Fatal(err)
	}
	return d
}

func readEntry(t testing.TB, z *zipx.Reader, name string) []byte {
	t.Helper()
	e := z.Entry(name)
	if e == nil {
		t.Fatalf("%s missing", name)
	}
	b, err := e.ReadAll(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFuseBundle fuses every fixture bundle for Play App Signing, with an
// RSA upload key (Play key the stand-in ec) and with an EC one (Play key
// the rsa test key), and checks the output with jarsigner -verify -strict,
// aapt2/aapt on the base manifest, our verifier, the raw copies of every
// other entry, the vault (unseals for Play's key only) and the measurement
// (what survives Play).
func TestFuseBundle(t *testing.T) {
	testenv.Tool(t, "jarsigner")
	testenv.Tool(t, "aapt2")
	testenv.Tool(t, "aapt")
	rsaKey := fixtureSigner(t)
	ecKey, err := keys.Load(filepath.Join(testenv.Root(t), "testdata", "keys", "ec-keytool.p12"), []byte("fixture-pass"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		fixture, upload string // upload: the test key kind (rsa, ec) fuse signs with
	}{
		{"bundle.aab", "rsa"},
		{"bundle-rsa.aab", "ec"},
		{"bundle-ec.aab", "rsa"},
	}
	if n := len(testenv.AABFixtures(t)); n != len(cases) {
		t.Fatalf("%d bundle fixtures, %d cases: give every fixture a case", n, len(cases))
	}
	for _, tc := range cases {
		in := filepath.Join(testenv.Root(t), "testdata", "aab", tc.fixture)
		t.Run(tc.fixture+"/upload-"+tc.upload, func(t *testing.T) {
			upload, playHex := rsaKey, testenv.PlaySigningDigest
			if tc.upload == "ec" {
				upload, playHex = ecKey, apksig.CertDigest(rsaKey.Certificate)
			}
			fs := playFusionSet(t)
			fs.Attestation.PlaySigningCertDigests = []string{playHex}
			play := digestBytes(t, playHex)
			dir := t.TempDir()
			out := filepath.Join(dir, "fused.aab")
			before := fileSum(t, in)
			res := fuse(t, in, out, fs, upload)
			if fileSum(t, in) != before {
				t.Fatal("input modified")
			}
			if ok, msg := testenv.JarsignerVerify(t, out, tc.upload); !ok {
				t.Fatalf("jarsigner -verify -strict:\n%s", msg)
			}
			b, err := aab.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			v, err := b.Verify()
			if err != nil || !v.Verified || !slices.Equal(v.SignerDigests(), []string{apksig.CertDigest(upload.Certificate)}) {
				t.Fatalf("our verifier: %v %+v", err, v)
			}
			manifest := aab.BaseModule + "/" + aab.ManifestPath
			assertRawCopies(t, in, b.Zip, manifest)

			testenv.CheckFusedProtoManifest(t, dir, readEntry(t, b.Zip, manifest),
				readEntry(t, b.Zip, "base/resources.pb"), res.Input.Package)

			if got := readEntry(t, b.Zip, "base/dex/classes2.dex"); !bytes.Equal(got, androidrt.Dex()) {
				t.Fatal("base/dex/classes2.dex is not the runtime")
			}
			pol := readEntry(t, b.Zip, "base/assets/trustfuse/policy.bin")
			blob := readEntry(t, b.Zip, "base/assets/trustfuse/vault.bin")
			if _, err := vault.Open(blob, androidrt.Pepper(), play, pol); err != nil {
				t.Fatalf("the vault does not unseal for the Play App Signing key: %v", err)
			}
			if _, err := vault.Open(blob, androidrt.Pepper(), upload.CertSHA256(), pol); err == nil {
				t.Fatal("the vault unseals for the upload key, which no device sees")
			}
			for _, e := range b.Zip.Entries {
				if strings.HasPrefix(e.Name, "base/assets/trustfuse/vault") && e.Name != "base/assets/trustfuse/vault.bin" {
					t.Errorf("extra vault %s: sealed to a key other than Play's", e.Name)
				}
			}

			// The measurement rests on what survives Play: installed dex
			// names, Play's signer, no manifest digest.
			classes := sha256.Sum256(readEntry(t, b.Zip, "base/dex/classes.dex"))
			m := res.Measurement
			if m.ManifestDigest != "" || !slices.Equal(m.SignerDigests, []string{playHex}) ||
				len(m.DexDigests) != 1 || m.DexDigests["classes.dex"] != hex.EncodeToString(classes[:]) ||
				m.RuntimeDigest != sha256Bytes(androidrt.Dex()) || m.Package != "io.trustfuse.fixture.bundle" || m.VersionCode != 7 {
				t.Errorf("measurement: %+v", m)
			}
			for _, line := range []string{"attest.skipManifest=true", "attest.runtimeDex=classes2.dex",
				"signers=" + playHex, "dex=classes.dex\\:" + hex.EncodeToString(classes[:])} {
				if !bytes.Contains(pol, []byte("\n"+line+"\n")) {
					t.Errorf("policy lacks %s:\n%s", line, pol)
				}
			}
			if !strings.Contains(string(pol), `"manifestDigest"\:""`) {
				t.Errorf("policy measurement has a manifest digest:\n%s", pol)
			}

			o, outSum := res.Output, fileSum(t, out)
			var mods []string
			for _, md := range o.Modules {
				mods = append(mods, md.Name+":"+md.Type)
			}
			if o.Format != "aab" || !slices.Equal(o.Schemes, []string{aab.SchemeJAR}) ||
				!slices.Equal(mods, []string{"base:base", "camera:feature", "textures:asset-pack"}) ||
				o.SHA256 != hex.EncodeToString(outSum[:]) {
				t.Errorf("output record: %+v", o)
			}
			if !res.Verification.Verified || !slices.Equal(res.Verification.Schemes, []string{aab.SchemeJAR}) {
				t.Errorf("self-verification: %+v", res.Verification)
			}

			// One byte changed in a raw-copied feature module entry or in an
			// injected one: neither jarsigner nor our verifier accepts it.
			for _, name := range []string{"camera/dex/classes.dex", "base/assets/trustfuse/policy.bin"} {
				data := readEntry(t, b.Zip, name)
				data[len(data)/2] ^= 0x01
				bad := filepath.Join(dir, "tampered.aab")
				testenv.RewriteZip(t, out, bad, map[string][]byte{name: data})
				if ok, _ := testenv.JarsignerVerify(t, bad, tc.upload); ok {
					t.Errorf("%s changed: jarsigner accepts it", name)
				}
				tb, err := aab.Open(bad)
				if err != nil {
					t.Fatal(err)
				}
				if v, err := tb.Verify(); err != nil || v.Verified {
					t.Errorf("%s changed: our verifier accepts it (%v)", name, err)
				}
				tb.Close()
			}
		})
	}
}

// TestFuseBundleUploadKey: with DistributeWithUploadKey the identity is
// also sealed to the upload key (the default vault) and the measurement
// names both signers.
func TestFuseBundleUploadKey(t *testing.T) {
	upload := fixtureSigner(t)
	out := filepath.Join(t.TempDir(), "fused.aab")
	in := filepath.Join(testenv.Root(t), "testdata", "aab", "bundle-rsa.aab")
	res, err := Fuse(Request{In: in, Out: out, FusionSet: playFusionSet(t), Signer: upload, Now: buildTime, DistributeWithUploadKey: true})
	if err != nil {
		t.Fatal(err)
	}
	uploadHex := apksig.CertDigest(upload.Certificate)
	if !slices.Equal(res.Measurement.SignerDigests, []string{uploadHex, testenv.PlaySigningDigest}) {
		t.Fatalf("signers %v", res.Measurement.SignerDigests)
	}
	z, err := zipx.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	pol := readEntry(t, z.Reader, "base/assets/trustfuse/policy.bin")
	play := digestBytes(t, testenv.PlaySigningDigest)
	for name, d := range map[string][32]byte{
		"base/assets/trustfuse/vault.bin":       upload.CertSHA256(),
		"base/" + androidrt.VaultAssetFor(play): play,
	} {
		if _, err := vault.Open(readEntry(t, z.Reader, name), androidrt.Pepper(), d, pol); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestFuseBundleDeterministic: same inputs and build time, same bytes.
func TestFuseBundleDeterministic(t *testing.T) {
	fs := playFusionSet(t)
	in := filepath.Join(testenv.Root(t), "testdata", "aab", "bundle.aab")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.aab"), filepath.Join(dir, "b.aab")
	fuse(t, in, a, fs, fixtureSigner(t))
	fuse(t, in, b, fs, fixtureSigner(t))
	if fileSum(t, a) != fileSum(t, b) {
		t.Fatal("two fuses of the same bundle differ")
	}
}

// TestFuseBundleRefusals: each class of bad input or impossible request
// fails with its error, saying what was found, and writes nothing.
func TestFuseBundleRefusals(t *testing.T) {
	root := testenv.Root(t)
	bundle := filepath.Join(root, "testdata", "aab", "bundle.aab")
	apkIn := filepath.Join(root, "testdata", "apk", "multidex.apk")
	src := t.TempDir()
	craft := func(name string, files map[string][]byte) string {
		p := filepath.Join(src, name)
		testenv.WriteZip(t, p, files)
		return p
	}
	cp := func(from, name string) string {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	baseManifest := testenv.ZipEntry(t, bundle, "base/manifest/AndroidManifest.xml")
	dup := filepath.Join(src, "dup.aab")
	testenv.RewriteZip(t, bundle, dup, nil, testenv.ZipFile{Name: "base/dex/classes.dex", Data: []byte("dex\n035\x00")})
	fused := filepath.Join(src, "fused.aab")
	fuse(t, bundle, fused, playFusionSet(t), fixtureSigner(t))

	noPlay := demoFusionSet(t)
	for _, tc := range []struct {
		name    string
		in, out string
		fs      *fusionset.FusionSet
		v4      bool
		is      error
		as      any
		says    string
	}{
		{name: "no base module", in: craft("nobase.aab", map[string][]byte{"BundleConfig.pb": nil, "feature/manifest/AndroidManifest.xml": baseManifest}),
			is: aab.ErrNoBase, says: "found an archive holding BundleConfig.pb, feature/"},
		{name: "manifest does not decode", in: craft("badmanifest.aab", map[string][]byte{"base/manifest/AndroidManifest.xml": []byte("<manifest/>")}),
			is: aab.ErrManifest, says: "base/manifest/AndroidManifest.xml"},
		{name: "duplicate entries", in: dup, as: new(*zipx.FormatError), says: `duplicate entry name "base/dex/classes.dex"`},
		{name: "APK named .aab", in: cp(apkIn, "app.aab"), is: sniff.ErrNameMismatch,
			says: "app.aab is named as an Android App Bundle (base/manifest/AndroidManifest.xml), but it is an APK (AndroidManifest.xml at the root)"},
		{name: "bundle named .apk", in: cp(bundle, "bundle.apk"), is: sniff.ErrNameMismatch, says: "is an Android App Bundle"},
		{name: "bundle to an .apk output", in: bundle, out: "out.apk", is: sniff.ErrNameMismatch, says: "out.apk is named as an APK (AndroidManifest.xml at the root), but the input " + bundle + " is an Android App Bundle"},
		{name: "no Play digest, no flag", in: bundle, fs: noPlay, is: ErrPlaySigning,
			says: "attestation.playSigningCertDigests"},
		{name: "v4 for a bundle", in: bundle, v4: true, is: apksig.ErrOptions, says: "v4 (--v4) is for APKs"},
		{name: "already fused", in: fused, is: ErrAlreadyFused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, cmp.Or(tc.out, "out.aab"))
			fs := tc.fs
			if fs == nil {
				fs = playFusionSet(t)
			}
			_, err := Fuse(Request{In: tc.in, Out: out, FusionSet: fs, Signer: fixtureSigner(t), Now: buildTime, V4: tc.v4})
			switch {
			case err == nil:
				t.Fatal("fused")
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Fatalf("error %v, want %v", err, tc.is)
			case tc.as != nil && !errors.As(err, tc.as):
				t.Fatalf("error %v (%T), want a %T", err, err, tc.as)
			case !strings.Contains(err.Error(), tc.says):
				t.Fatalf("error %q does not say %q", err, tc.says)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("written: %v", left)
			}
		})
	}
}

// TestAttestBundle: the runtime of a fused bundle, installed as Play
// installs it (the base module turned into a base APK with its manifest
// re-encoded to binary XML by aapt2, signed by the stand-in Play key),
// reproduces the registered measurement, passes its tamper checks and gets
// a token from serve on the JVM harness; the same APK signed by the upload
// key cannot unseal its vault and gets none.
func TestAttestBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts JVMs")
	}
	serverCert, demoCA := demoTLS(t)
	_, reg, serve := startServe(t, serverCert, demoCA, nil)

	fs := playFusionSet(t)
	fs.Attestation.Endpoint = serve.URL
	upload := fixtureSigner(t)
	dir := t.TempDir()
	fused := filepath.Join(dir, "fused.aab")
	res := fuse(t, filepath.Join(testenv.Root(t), "testdata", "aab", "bundle.aab"), fused, fs, upload)
	rel, _, err := reg.Add(*res.Registration, attest.Event{At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	baseAPK := filepath.Join(dir, "base.apk")
	testenv.BaseAPKFromBundle(t, fused, baseAPK)
	if bytes.Equal(testenv.ZipEntry(t, baseAPK, "AndroidManifest.xml"), testenv.ZipEntry(t, fused, "base/manifest/AndroidManifest.xml")) {
		t.Fatal("the base APK's manifest was not re-encoded")
	}
	playCert, err := os.ReadFile(filepath.Join(testenv.Root(t), "testdata", "keys", "ec.x509.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(playCert)
	if blk == nil {
		t.Fatal("ec.x509.pem: no PEM block")
	}
	pkg := res.Output.Package

	r := harness.RunWith(t, harness.Options{APK: baseAPK, Package: pkg, SignerDER: blk.Bytes, URL: serve.URL + "/healthz", Attest: true})
	if r.Token == "" || r.AttestError != "" {
		t.Fatalf("Play-signed base APK: no token: %q\n%s", r.AttestError, r.Stderr)
	}
	if c := tokenClaims(t, r.Token); c.Release != rel.ID || c.Package != pkg {
		t.Errorf("claims %+v, want release %s", c, rel.ID)
	}
	if r.Status != 200 {
		t.Errorf("mTLS request to serve: status %d error %q", r.Status, r.Error)
	}
	// The tamper checks (signer, dex digests by installed name) pass too.
	if len(r.Events) != 0 {
		t.Errorf("a clean Play-installed run raised %v", r.Events)
	}

	r = harness.RunWith(t, harness.Options{APK: baseAPK, Package: pkg, SignerDER: upload.Certificate.Raw, URL: serve.URL + "/healthz", Attest: true})
	if r.Token != "" || !strings.Contains(r.AttestError, "attestation unavailable") {
		t.Fatalf("upload-key-signed base APK: token %q error %q", r.Token, r.AttestError)
	}
}
