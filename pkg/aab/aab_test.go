package aab

import (
	"archive/zip"
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/protoxml"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

func fixture(t testing.TB, name string) string {
	t.Helper()
	for _, p := range testenv.AABFixtures(t) {
		if filepath.Base(p) == name {
			return p
		}
	}
	t.Fatalf("no fixture %s in testdata/aab", name)
	return ""
}

func open(t testing.TB, path string) *File {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestModules: every fixture reads as base + feature module + asset pack,
// with the content the fixture script put in each.
func TestModules(t *testing.T) {
	type mod struct {
		name     string
		typ      ModuleType
		delivery string
		dex      []string
		abis     []string
		assets   int
	}
	want := []mod{
		{"base", TypeBase, "", []string{"base/dex/classes.dex"}, []string{"arm64-v8a", "x86_64"}, 1},
		{"camera", TypeFeature, "on-demand", []string{"camera/dex/classes.dex"}, nil, 0},
		{"textures", TypeAssetPack, "install-time", nil, nil, 1},
	}
	for _, p := range testenv.AABFixtures(t) {
		b := open(t, p)
		var got []mod
		for _, m := range b.Modules {
			var dex []string
			for _, e := range m.Dex {
				dex = append(dex, e.Name)
			}
			got = append(got, mod{m.Name, m.Type, m.Delivery, dex, m.ABIs, m.Assets})
			if m.Manifest.Package != "io.trustfuse.fixture.bundle" {
				t.Errorf("%s: module %s: package %q", p, m.Name, m.Manifest.Package)
			}
		}
		if !slices.EqualFunc(got, want, func(a, b mod) bool {
			return a.name == b.name && a.typ == b.typ && a.delivery == b.delivery &&
				slices.Equal(a.dex, b.dex) && slices.Equal(a.abis, b.abis) && a.assets == b.assets
		}) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", filepath.Base(p), got, want)
		}
		if got := b.NextDexName(); got != "base/dex/classes2.dex" {
			t.Errorf("NextDexName = %s", got)
		}
		base := b.Base().Manifest
		if base.VersionCode != 7 || base.MinSDK != 24 || base.TargetSDK != 34 {
			t.Errorf("base manifest %+v", base)
		}
	}
}

// zipOf writes the named files (in order, deflated) as a ZIP with
// archive/zip, which lets a name appear twice.
func zipOf(t *testing.T, files ...[2]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f[0])
		if err == nil {
			_, err = w.Write([]byte(f[1]))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "in.aab")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// zip64Of writes the entries of the bundle at src again, each with a ZIP64
// local header (zipx.Writer.Create without a size bound, as for an entry
// that may pass 4 GiB), checks that archive/zip reads the same entries back
// (a valid ZIP64 bundle) and returns its path.
func zip64Of(t *testing.T, src string) string {
	t.Helper()
	entries := testenv.ZipEntries(t, src)
	p := filepath.Join(t.TempDir(), "zip64.aab")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zipx.NewWriter(f, zipx.Options{})
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		w, err := zw.Create(zipx.Header{Name: name, Method: zipx.Deflate})
		if err == nil {
			_, err = w.Write(entries[name])
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := testenv.ZipEntries(t, p); !maps.EqualFunc(got, entries, bytes.Equal) {
		t.Fatal("archive/zip does not read the ZIP64 bundle's entries back")
	}
	return p
}

// TestBad: inputs that are not usable bundles are refused with an error
// that says what was found.
func TestBad(t *testing.T) {
	unsigned := fixture(t, "bundle.aab")
	entries := testenv.ZipEntries(t, unsigned)
	manifest := string(entries["base/manifest/AndroidManifest.xml"])
	apkPath := testenv.Fixtures(t)[0]

	for _, tc := range []struct {
		name    string
		path    string
		want    error
		message string
	}{
		{"an APK", apkPath, ErrNotBundle, "found an APK (AndroidManifest.xml at the root)"},
		{"no base module", zipOf(t, [2]string{"BundleConfig.pb", ""},
			[2]string{"camera/manifest/AndroidManifest.xml", string(entries["camera/manifest/AndroidManifest.xml"])}),
			ErrNoBase, "found an archive holding BundleConfig.pb, camera/"},
		{"base without manifest", zipOf(t, [2]string{"BundleConfig.pb", ""}, [2]string{"base/dex/classes.dex", "x"}),
			ErrNoBase, "found an archive holding BundleConfig.pb, base/"},
		{"neither", zipOf(t, [2]string{"hello.txt", "hi"}), ErrNotBundle, "found an archive holding hello.txt"},
		{"APK and bundle", zipOf(t, [2]string{"AndroidManifest.xml", "x"}, [2]string{"base/manifest/AndroidManifest.xml", manifest}),
			ErrNotBundle, "ambiguous"},
		{"manifest does not decode", zipOf(t, [2]string{"base/manifest/AndroidManifest.xml", "\x0a\x7f\x00"}),
			ErrManifest, "base/manifest/AndroidManifest.xml"},
		{"binary XML manifest", zipOf(t, [2]string{"base/manifest/AndroidManifest.xml", string(testenv.ZipEntry(t, apkPath, "AndroidManifest.xml"))}),
			ErrManifest, "base/manifest/AndroidManifest.xml"},
		{"module without manifest", zipOf(t, [2]string{"base/manifest/AndroidManifest.xml", manifest}, [2]string{"extra/assets/a.txt", "a"}),
			ErrModule, "extra/: a module folder without manifest/AndroidManifest.xml"},
		{"duplicate entries", zipOf(t, [2]string{"base/manifest/AndroidManifest.xml", manifest}, [2]string{"base/dex/classes.dex", "a"}, [2]string{"base/dex/classes.dex", "b"}),
			zipx.ErrDuplicateName, "duplicate"},
		{"ZIP64", zip64Of(t, unsigned), ErrZip64, "found ZIP64 records (ZIP64 extra field in the local header), which a bundle needs only past 4 GiB"},
	} {
		_, err := Open(tc.path)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: got %v, want %v saying %q", tc.name, err, tc.want, tc.message)
		}
		var fe *FormatError
		var ze *zipx.FormatError
		if !errors.As(err, &fe) && !errors.As(err, &ze) {
			t.Errorf("%s: %T is neither an aab nor a zipx *FormatError", tc.name, err)
		}
	}
	// An undecodable manifest also carries protoxml's error and offset.
	_, err := Open(zipOf(t, [2]string{"base/manifest/AndroidManifest.xml", "\x0a\x7f\x00"}))
	var pe *protoxml.FormatError
	if !errors.As(err, &pe) || !errors.Is(err, protoxml.ErrMalformed) {
		t.Errorf("undecodable manifest: %v does not wrap a protoxml.FormatError", err)
	}
}

func loadSigner(t testing.TB, kind string) (*keys.Signer, *apksig.Signer) {
	t.Helper()
	s, err := keys.Load(filepath.Join(testenv.Root(t), "testdata", "keys", kind+".jks"), []byte("fixture-pass"), kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, &apksig.Signer{Key: s.Key, Certs: s.Chain}
}

func verify(t testing.TB, path string) *apksig.Result {
	t.Helper()
	res, err := open(t, path).Verify()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestVerifyFixtures: our JAR verifier agrees with jarsigner on the
// bundles jarsigner signed, and names the signer; an unsigned bundle does
// not verify.
func TestVerifyFixtures(t *testing.T) {
	for _, tc := range []struct {
		file, kind string
	}{{"bundle-rsa.aab", "rsa"}, {"bundle-ec.aab", "ec"}} {
		res := verify(t, fixture(t, tc.file))
		s, _ := loadSigner(t, tc.kind)
		if !res.Verified || !slices.Equal(res.SignerDigests(), []string{apksig.CertDigest(s.Certificate)}) {
			t.Errorf("%s: verified %v, signers %v, errors %v", tc.file, res.Verified, res.SignerDigests(), res.AllErrors())
		}
	}
	res := verify(t, fixture(t, "bundle.aab"))
	if res.Verified || len(res.Errors) == 0 || res.Errors[0].Code != "NO_SIGNATURES" {
		t.Errorf("unsigned bundle: verified %v, errors %v", res.Verified, res.AllErrors())
	}
}

// TestSignOracle: the unsigned and the jarsigner-signed bundles, signed by
// us with the RSA and the EC key, pass `jarsigner -verify -strict` and our
// verifier; every entry keeps its bytes; and one byte changed in an entry
// makes both fail.
func TestSignOracle(t *testing.T) {
	testenv.Tool(t, "jarsigner")
	dir := t.TempDir()
	for _, tc := range []struct {
		in, kind string
	}{{"bundle.aab", "rsa"}, {"bundle.aab", "ec"}, {"bundle-ec.aab", "rsa"}} {
		in := open(t, fixture(t, tc.in))
		ks, signer := loadSigner(t, tc.kind)
		out := filepath.Join(dir, tc.kind+"-"+tc.in)
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Sign(f, signer, apksig.JAROptions{SignerName: apksig.JARSignerName(ks.Alias), CreatedBy: "trustfuse test"}); err != nil {
			t.Fatal(err)
		}
		f.Close()

		if ok, msg := testenv.JarsignerVerify(t, out, tc.kind); !ok {
			t.Fatalf("%s signed with %s: jarsigner -verify -strict failed:\n%s", tc.in, tc.kind, msg)
		}
		if res := verify(t, out); !res.Verified {
			t.Fatalf("%s signed with %s: our verifier: %v", tc.in, tc.kind, res.AllErrors())
		}
		// jarsigner's layout: the signature files first, named after the alias.
		signed := open(t, out)
		ext := map[string]string{"rsa": ".RSA", "ec": ".EC"}[tc.kind]
		wantFirst := []string{"META-INF/MANIFEST.MF", "META-INF/" + strings.ToUpper(tc.kind) + ".SF", "META-INF/" + strings.ToUpper(tc.kind) + ext}
		var first []string
		for _, e := range signed.Zip.Entries[:3] {
			first = append(first, e.Name)
		}
		if !slices.Equal(first, wantFirst) {
			t.Errorf("first entries %v, want %v", first, wantFirst)
		}
		// Unchanged entries: same content, same compressed bytes.
		for _, e := range in.Zip.Entries {
			if strings.HasPrefix(e.Name, "META-INF/") {
				continue
			}
			o := signed.Zip.Entry(e.Name)
			if o == nil {
				t.Fatalf("%s lost in signing", e.Name)
			}
			if !bytes.Equal(readRaw(t, e), readRaw(t, o)) {
				t.Errorf("%s: compressed bytes changed", e.Name)
			}
		}
		if tc.in == "bundle.aab" {
			tamper(t, out, tc.kind)
		} else {
			// Re-signing a jarsigner-signed bundle: the same entries with
			// the same SHA-256 digests as jarsigner's manifest.
			theirs := manifestDigests(t, testenv.ZipEntry(t, fixture(t, tc.in), "META-INF/MANIFEST.MF"))
			ours := manifestDigests(t, testenv.ZipEntry(t, out, "META-INF/MANIFEST.MF"))
			content := 0
			for _, e := range in.Zip.Entries {
				if !strings.HasPrefix(e.Name, "META-INF/") {
					content++
				}
			}
			if !maps.Equal(theirs, ours) || len(ours) != content {
				t.Errorf("MANIFEST.MF digests differ from jarsigner's:\nours   %v\ntheirs %v", ours, theirs)
			}
		}
	}
}

// manifestDigests reads the per-entry sections of a JAR manifest: entry
// name → its SHA-256-Digest value (continuation lines joined).
func manifestDigests(t testing.TB, mf []byte) map[string]string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(string(mf), "\r\n", "\n"), "\n") {
		if strings.HasPrefix(l, " ") && len(lines) > 0 {
			lines[len(lines)-1] += l[1:]
		} else {
			lines = append(lines, l)
		}
	}
	out := map[string]string{}
	name := ""
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "Name: "):
			name = strings.TrimPrefix(l, "Name: ")
		case strings.HasPrefix(l, "SHA-256-Digest: ") && name != "":
			out[name] = strings.TrimPrefix(l, "SHA-256-Digest: ")
		case l == "":
			name = ""
		}
	}
	return out
}

func readRaw(t testing.TB, e *zipx.Entry) []byte {
	t.Helper()
	r := e.OpenRaw()
	b := make([]byte, r.Size())
	if _, err := r.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// tamper changes one byte of each entry of the signed bundle in turn: our
// verifier must fail every time, and jarsigner for one entry of each kind
// (a module file, a module manifest, MANIFEST.MF, the .SF file and the
// signature block).
func tamper(t *testing.T, signed, kind string) {
	entries := testenv.ZipEntries(t, signed)
	oracle := map[string]bool{
		"base/dex/classes.dex": true, "textures/manifest/AndroidManifest.xml": true, "META-INF/MANIFEST.MF": true,
		"META-INF/" + strings.ToUpper(kind) + ".SF": true,
	}
	n := 0
	for name, data := range entries {
		if len(data) == 0 {
			continue
		}
		changed := slices.Clone(data)
		// The last byte: inside a digest line of MANIFEST.MF / the .SF file
		// (before the final CRLF CRLF), the signature of the block.
		at := len(changed) - 1
		if strings.HasSuffix(name, ".MF") || strings.HasSuffix(name, ".SF") {
			at = len(changed) - 6
		}
		changed[at] ^= 0x01
		out := filepath.Join(t.TempDir(), "tampered.aab")
		testenv.RewriteZip(t, signed, out, map[string][]byte{name: changed})
		if res := verify(t, out); res.Verified {
			t.Errorf("%s: one byte changed in %s, our verifier still accepts it", kind, name)
		}
		isBlock := strings.HasPrefix(name, "META-INF/") && !strings.HasSuffix(name, ".MF") && !strings.HasSuffix(name, ".SF")
		if oracle[name] || isBlock {
			if ok, msg := testenv.JarsignerVerify(t, out, kind); ok {
				t.Errorf("%s: one byte changed in %s, jarsigner still verifies it:\n%s", kind, name, msg)
			}
		}
		n++
	}
	if n < 15 {
		t.Errorf("only %d entries tampered", n)
	}
}
