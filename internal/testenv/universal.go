package testenv

import (
	"archive/zip"
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bundleDex matches a module's dex file; the group is its number ("" for
// classes.dex).
var bundleDex = regexp.MustCompile(`^dex/classes([2-9]|[1-9][0-9]+)?\.dex$`)

// bundleMetadata are the per-module files bundletool reads to plan the
// splits and that no APK carries.
var bundleMetadata = map[string]bool{"assets.pb": true, "native.pb": true, "apex.pb": true}

// UniversalAPK lays out the base module of the App Bundle at bundle as Play
// lays out a universal APK for a device, and writes it, unsigned, to out.
// bundletool cannot be installed here, so it does the steps itself, with
// archive/zip and aapt2 (no code shared with pkg/aab):
//
//   - the module's proto manifest, resources.pb and res/ become a proto
//     APK (AndroidManifest.xml and resources.pb at the root, as `aapt2 link
//     --proto-format` lays it out), which `aapt2 convert --output-format
//     binary` turns into the binary manifest, resources.arsc and res/;
//   - then dex/classesN.dex (in multidex order), assets/ and lib/ are added
//     under the same names at the root of the APK, and root/'s files at the
//     root itself: dex, assets and root files with the bundle's compressed
//     bytes unchanged, native libraries stored (uncompressed), as bundletool
//     writes them for Android 6.0 and later.
//
// Feature modules and asset packs are left out (a universal APK would
// merge the install-time ones; the fuse leaves them as they are). The
// output is neither aligned nor signed: sign it with pkg/apksig, which
// aligns stored entries (4 bytes, .so 16 KiB) as it writes.
func UniversalAPK(t testing.TB, bundle, out string) {
	t.Helper()
	zr, err := zip.OpenReader(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()

	type move struct {
		f    *zip.File
		name string // in the APK
	}
	var proto, dex, rest []move
	hasManifest := false
	for _, f := range zr.File {
		rel, ok := strings.CutPrefix(f.Name, "base/")
		if !ok || rel == "" || strings.HasSuffix(rel, "/") || bundleMetadata[rel] {
			continue
		}
		switch dir, _, _ := strings.Cut(rel, "/"); {
		case rel == "manifest/AndroidManifest.xml":
			proto = append(proto, move{f, "AndroidManifest.xml"})
			hasManifest = true
		case rel == "resources.pb" || dir == "res":
			proto = append(proto, move{f, rel})
		case bundleDex.MatchString(rel):
			dex = append(dex, move{f, strings.TrimPrefix(rel, "dex/")})
		case dir == "assets" || dir == "lib":
			rest = append(rest, move{f, rel})
		case dir == "root":
			rest = append(rest, move{f, strings.TrimPrefix(rel, "root/")})
		default:
			t.Fatalf("testenv: %s: %s is not part of a bundle module", bundle, f.Name)
		}
	}
	if !hasManifest {
		t.Fatalf("testenv: %s has no base/manifest/AndroidManifest.xml", bundle)
	}
	dexNumber := func(m move) int {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(m.name, "classes"), ".dex"))
		if err != nil {
			return 1 // classes.dex
		}
		return n
	}
	slices.SortFunc(dex, func(a, b move) int { return cmp.Compare(dexNumber(a), dexNumber(b)) })

	dir := t.TempDir()
	protoAPK, binAPK := filepath.Join(dir, "proto.apk"), filepath.Join(dir, "binary.apk")
	writeZipFile(t, protoAPK, func(zw *zip.Writer) {
		for _, m := range proto {
			copyRenamed(t, zw, m.f, m.name)
		}
	})
	Run(t, "aapt2", "convert", "--output-format", "binary", "-o", binAPK, protoAPK)

	br, err := zip.OpenReader(binAPK)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	writeZipFile(t, out, func(zw *zip.Writer) {
		for _, f := range br.File {
			if err := zw.Copy(f); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range append(dex, rest...) {
			if strings.HasPrefix(m.name, "lib/") && strings.HasSuffix(m.name, ".so") {
				w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: zip.Store, Modified: m.f.Modified})
				if err == nil {
					_, err = w.Write(readZipFile(t, m.f))
				}
				if err != nil {
					t.Fatal(err)
				}
				continue
			}
			copyRenamed(t, zw, m.f, m.name)
		}
	})
}

// copyRenamed copies the entry f into zw under name, its compressed bytes
// unchanged.
func copyRenamed(t testing.TB, zw *zip.Writer, f *zip.File, name string) {
	t.Helper()
	h := f.FileHeader
	h.Name = name
	h.Extra = nil
	w, err := zw.CreateRaw(&h)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.OpenRaw()
	if err == nil {
		_, err = io.Copy(w, r)
	}
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
}

// writeZipFile creates the ZIP file path with the entries fill writes.
func writeZipFile(t testing.TB, path string, fill func(*zip.Writer)) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	fill(zw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// PlayKey returns a stand-in for a Google Play app signing key: a new RSA
// 2048 key (what Play generates for an app by default) and a self-signed
// certificate naming cn, valid from an hour ago for a year.
func PlayKey(t testing.TB, cn string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"Android"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}
