package apksig

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// signReuse signs src into dst with opts, the source archive given to Sign
// (digest reuse) when reuse is set, and returns the output's bytes.
func signReuse(t *testing.T, src, dst string, s *Signer, opts Options, reuse bool, change map[string][]byte) []byte {
	t.Helper()
	in, err := zipx.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if reuse {
		opts.Source = in.Reader
	}
	var inputs []Input
	for _, i := range InputsFrom(in.Reader) {
		if data, ok := change[i.Name]; ok {
			i = Input{Name: i.Name, Data: data, Method: zipx.Deflate}
		}
		inputs = append(inputs, i)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := Sign(out, inputs, s, opts); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignDigestReuseSameBytes re-signs every fixture and real app, as it
// comes and after signing it with v1, v2 and v3 (a v2-verified input whose
// manifest states SHA-1 or SHA-256 digests), with digest reuse on and off:
// the outputs must be byte for byte the same, and verify with apksigner for
// the API levels that check v1 and, for SHA-256 digests, with jarsigner
// -verify -strict.
func TestSignDigestReuseSameBytes(t *testing.T) {
	s := fixtureKeys(t)["rsa.jks"]
	when := time.Unix(1700000000, 0)
	for _, path := range testenv.AllAPKs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			dir := t.TempDir()
			signed := filepath.Join(dir, "signed.apk")
			signFile(t, path, signed, s, Options{V1: V1On, Modified: when})
			for _, src := range []string{path, signed} {
				in, err := zipx.Open(src)
				if err != nil {
					t.Fatal(err)
				}
				minSDK := minSDKOf(t, in.Reader)
				reusable := len(v1KnownDigests(in.Reader, v1SignAlg(minSDK)))
				in.Close()
				if src == signed && reusable == 0 {
					t.Fatalf("%s: no digest reusable from our own v1+v2+v3 output", filepath.Base(src))
				}
				opts := Options{V1: V1On, MinSDK: minSDK, Modified: when}
				on := signReuse(t, src, filepath.Join(dir, "on.apk"), s, opts, true, nil)
				off := signReuse(t, src, filepath.Join(dir, "off.apk"), s, opts, false, nil)
				if !bytes.Equal(on, off) {
					t.Fatalf("%s (%d digests reusable): output with digest reuse differs from the output without", filepath.Base(src), reusable)
				}
				out := filepath.Join(dir, "on.apk")
				if ok, text := apksignerV1(t, out, min(minSDK, MinSDKv2-1), MinSDKv2-1); !ok || !strings.Contains(text, "Verified using v1 scheme (JAR signing): true") {
					t.Fatalf("%s: apksigner verify (v1 checked) fails:\n%s", filepath.Base(src), text)
				}
				// jarsigner treats SHA-1 digests (minSdk < 18) as unsigned.
				if minSDK >= sdkJellyBeanMR2 {
					if ok, text := testenv.JarsignerVerify(t, out, "rsa"); !ok {
						t.Fatalf("%s: jarsigner -verify -strict fails:\n%.2000s", filepath.Base(src), text)
					}
				}
			}
		})
	}
}

// reuseInput writes dst: the entries of src without its signatures, plus
// META-INF/MANIFEST.MF = mf and the extra files, signed with v2 and v3
// (minSdk 24) when v2 is set.
func reuseInput(t *testing.T, src, dst string, mf []byte, extra []v1File, v2 *Signer) {
	t.Helper()
	_, keep, _ := v1Inputs(t, src)
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := zipx.NewWriter(f, zipx.Options{})
	for _, e := range keep {
		if err := w.Copy(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range append([]v1File{{Name: v1ManifestName, Data: mf}}, extra...) {
		if err := w.Add(zipx.Header{Name: x.Name, Method: zipx.Deflate}, x.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if v2 != nil {
		if err := insertSigningBlock(f, w, v2, nil, Options{MinSDK: 24}); err != nil {
			t.Fatal(err)
		}
	}
}

// manifestDigest returns the alg digest MANIFEST.MF of the APK at path
// states for name.
func manifestDigest(t *testing.T, path, name string, alg v1Alg) string {
	t.Helper()
	z, err := zipx.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	mf, err := z.Entry(v1ManifestName).ReadAll(v1MaxMetaFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range v1ParseSections(mf) {
		if n, _ := sec.name(); n == name {
			v, _ := sec.get(alg.attr + "-Digest")
			return v
		}
	}
	t.Fatalf("%s: no manifest section for %s", filepath.Base(path), name)
	return ""
}

// TestSignDigestReuseConditions gives Sign inputs whose JAR manifest lies
// about one entry (states a digest other than its content's) under each
// condition of digest reuse. Where reuse applies (the input's v2/v3
// signature verifies and vouches for the manifest) the output keeps the
// lie, and apksigner confirms what that means: it verifies for API 24 and
// later (v2/v3, over the bytes actually written) and fails for the levels
// that check v1, as the input did (see v1reuse.go for why that is
// acceptable). Under every other condition the entry is digested from its
// content: the output states the true digest and verifies with v1 checked.
func TestSignDigestReuseConditions(t *testing.T) {
	src := filepath.Join(testenv.Root(t), "testdata", "apk", "v1v2v3.apk")
	s := fixtureKeys(t)["rsa-keytool.p12"]
	_, keep, entries := v1Inputs(t, src)
	var target *zipx.Entry // a deflated entry, so reuse saves inflating it
	for _, e := range keep {
		if !e.Stored() && !strings.HasPrefix(e.Name, "META-INF/") {
			target = e
			break
		}
	}
	if target == nil {
		t.Fatal("no deflated entry in the fixture")
	}
	content, err := target.ReadAll(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	// honest and lying manifests in SHA-256; the lie is a valid digest of
	// other content.
	sha256Files, err := signV1(entries, s, v1Config{MinSDK: 21})
	if err != nil {
		t.Fatal(err)
	}
	honest := sha256Files[0].Data
	trueB64 := base64.StdEncoding.EncodeToString(v1Hash(crypto.SHA256, content))
	lieB64 := base64.StdEncoding.EncodeToString(v1Hash(crypto.SHA256, append(content, 'x')))
	lie := bytes.Replace(honest, []byte(trueB64), []byte(lieB64), 1)
	if bytes.Equal(lie, honest) {
		t.Fatalf("digest of %s not found in the manifest", target.Name)
	}
	lieFiles, err := signV1(entries, s, v1Config{MinSDK: 21}) // the .SF and block of the v1-only input sign the lie
	if err != nil {
		t.Fatal(err)
	}
	lieFiles[0].Data = lie
	section := []byte("Name: " + target.Name + "\r\nSHA-256-Digest: " + lieB64 + "\r\n\r\n")
	twice := append(append([]byte(nil), lie...), section...)

	sha1B64 := base64.StdEncoding.EncodeToString(v1Hash(crypto.SHA1, content))
	tests := []struct {
		name     string
		mf       []byte
		extra    []v1File
		v2       bool
		tamper   bool // change a byte the v2/v3 content digest covers
		change   bool // the entry is replaced (same content, new input)
		minSDK   int
		wantLie  bool
		wantTrue string
	}{
		{name: "v2 verifies: reused, lie kept", mf: lie, v2: true, minSDK: 21, wantLie: true},
		{name: "no signature", mf: lie, minSDK: 21, wantTrue: trueB64},
		{name: "v1 only", mf: lie, extra: lieFiles[1:], minSDK: 21, wantTrue: trueB64},
		{name: "v2 does not verify", mf: lie, v2: true, tamper: true, minSDK: 21, wantTrue: trueB64},
		{name: "SHA-1 needed below API 18", mf: lie, v2: true, minSDK: 17, wantTrue: sha1B64},
		{name: "entry changed", mf: lie, v2: true, change: true, minSDK: 21, wantTrue: trueB64},
		{name: "two sections for the entry", mf: twice, v2: true, minSDK: 21, wantTrue: trueB64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.apk")
			var v2 *Signer
			if tc.v2 {
				v2 = s
			}
			reuseInput(t, src, in, tc.mf, tc.extra, v2)
			if tc.tamper {
				b, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				// The first entry's modification time, in its local header
				// only: the archive still reads, its v2/v3 digest breaks.
				b[10] ^= 1
				if err := os.WriteFile(in, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var change map[string][]byte
			if tc.change {
				change = map[string][]byte{target.Name: content}
			}
			out := filepath.Join(dir, "out.apk")
			signReuse(t, in, out, s, Options{V1: V1On, MinSDK: tc.minSDK}, true, change)
			alg := v1SignAlg(tc.minSDK)
			got := manifestDigest(t, out, target.Name, alg)
			ok24, text24 := apksignerV1(t, out, MinSDKv2, MinSDKv2)
			if !ok24 {
				t.Fatalf("apksigner verify for API 24 fails:\n%s", text24)
			}
			okV1, textV1 := apksignerV1(t, out, tc.minSDK, MinSDKv2-1)
			if tc.wantLie {
				if got != lieB64 {
					t.Fatalf("manifest digest of %s = %s, want the input's (reused) %s", target.Name, got, lieB64)
				}
				if okV1 || !strings.Contains(textV1, target.Name) {
					t.Fatalf("apksigner verify for API %d-23 should fail on %s's digest:\n%s", tc.minSDK, target.Name, textV1)
				}
				return
			}
			if got != tc.wantTrue {
				t.Fatalf("manifest digest of %s = %s, want its content's %s (fallback)", target.Name, got, tc.wantTrue)
			}
			if !okV1 {
				t.Fatalf("apksigner verify for API %d-23 fails:\n%s", tc.minSDK, textV1)
			}
		})
	}
}
