package testenv

import (
	"archive/zip"
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// WriteZip writes files to a new ZIP at path with the standard library's
// writer (deflated, names sorted).
func WriteZip(t testing.TB, path string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(name)
		if err == nil {
			_, err = w.Write(files[name])
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// JarsignerVerify runs `jarsigner -verify -strict -verbose` on path,
// trusting the test key kind's keystore (testdata/keys/<kind>.jks; -strict
// makes a self-signed chain an error otherwise), and reports whether it
// passed, with jarsigner's output.
func JarsignerVerify(t testing.TB, path, kind string) (bool, string) {
	t.Helper()
	out, err := RunStatus(t, "jarsigner", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC",
		"-verify", "-strict", "-verbose", "-keystore", filepath.Join(Root(t), "testdata", "keys", kind+".jks"),
		"-storepass", "fixture-pass", path)
	return err == nil && strings.Contains(out, "jar verified."), out
}

// CheckFusedProtoManifest lays out a fused protobuf manifest (a bundle
// module's) as `aapt2 link --proto-format` lays out a proto APK
// (AndroidManifest.xml and resources.pb at the root) in dir and checks with
// the Android tools that it carries fuse's edits for package pkg:
// `aapt2 dump xmltree` shows INTERNET (before <application>) and the init
// provider with its attributes by resource id; after `aapt2 convert
// --output-format binary`, `aapt2 dump badging` and `aapt dump badging`
// show INTERNET and `aapt dump xmltree` the provider. It returns aapt's
// badging of the converted APK.
func CheckFusedProtoManifest(t testing.TB, dir string, manifest, resourcesPB []byte, pkg string) Badging {
	t.Helper()
	protoAPK := filepath.Join(dir, "proto.apk")
	WriteZip(t, protoAPK, map[string][]byte{"AndroidManifest.xml": manifest, "resources.pb": resourcesPB})
	tree := Run(t, "aapt2", "dump", "xmltree", "--file", "AndroidManifest.xml", protoAPK)
	for _, want := range []string{
		`E: uses-permission`,
		`A: http://schemas.android.com/apk/res/android:name(0x01010003)="android.permission.INTERNET"`,
		`E: provider`,
		`A: http://schemas.android.com/apk/res/android:name(0x01010003)="io.trustfuse.runtime.Init"`,
		`A: http://schemas.android.com/apk/res/android:authorities(0x01010018)="` + pkg + `.trustfuse"`,
		`A: http://schemas.android.com/apk/res/android:exported(0x01010010)=false`,
		`A: http://schemas.android.com/apk/res/android:initOrder(0x0101001a)=2147483647`,
	} {
		if !strings.Contains(tree, want) {
			t.Errorf("aapt2 dump xmltree lacks %s:\n%s", want, tree)
		}
	}
	// uses-permission comes before <application>, as aapt2 would place it.
	if strings.Index(tree, "E: uses-permission") > strings.Index(tree, "E: application") {
		t.Errorf("uses-permission after application:\n%s", tree)
	}

	binAPK := filepath.Join(dir, "binary.apk")
	Run(t, "aapt2", "convert", "--output-format", "binary", "-o", binAPK, protoAPK)
	if b2 := Run(t, "aapt2", "dump", "badging", binAPK); !strings.Contains(b2, "uses-permission: name='android.permission.INTERNET'") {
		t.Errorf("aapt2 dump badging lacks INTERNET:\n%s", b2)
	}
	badging := AaptBadging(t, binAPK)
	if !slices.Contains(badging.Permissions, "android.permission.INTERNET") {
		t.Errorf("aapt dump badging lacks INTERNET: %v", badging.Permissions)
	}
	xt := Run(t, "aapt", "dump", "xmltree", binAPK, "AndroidManifest.xml")
	for _, re := range []string{
		`E: provider`,
		`A: android:name\(0x01010003\)="io.trustfuse.runtime.Init"`,
		`A: android:authorities\(0x01010018\)="` + regexp.QuoteMeta(pkg) + `.trustfuse"`,
		`A: android:exported\(0x01010010\)=\(type 0x12\)0x0`,
		`A: android:initOrder\(0x0101001a\)=\(type 0x10\)0x7fffffff`,
	} {
		if !regexp.MustCompile(re).MatchString(xt) {
			t.Errorf("aapt dump xmltree (binary) lacks %s:\n%s", re, xt)
		}
	}
	return badging
}

// BaseAPKFromBundle lays out the base module of the bundle at bundle as
// the base APK Play (bundletool) builds from it, as far as the tools here
// can: base/manifest/AndroidManifest.xml and base/resources.pb (with
// base/res/) converted to binary by `aapt2 convert --output-format
// binary`, then base/dex/X at the root as X, base/assets/, base/lib/ and
// base/root/X (as X) copied. Native libraries are stored (uncompressed),
// as bundletool writes them for Android 6.0 and later: with
// android:extractNativeLibs="false" (the fixture's) Android maps them from
// the APK and installs it only if they are stored and page aligned. The
// APK is unsigned and unaligned (pkg/apksig aligns stored entries, .so on
// 16 KiB, as it signs); it is written to out.
func BaseAPKFromBundle(t testing.TB, bundle, out string) {
	t.Helper()
	entries := ZipEntries(t, bundle)
	proto := map[string][]byte{}
	var rest []ZipFile
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		rel, ok := strings.CutPrefix(name, "base/")
		if !ok || strings.HasSuffix(name, "/") {
			continue
		}
		switch dir, file, _ := strings.Cut(rel, "/"); {
		case rel == "manifest/AndroidManifest.xml":
			proto["AndroidManifest.xml"] = entries[name]
		case rel == "resources.pb" || dir == "res":
			proto[rel] = entries[name]
		case dir == "dex" || dir == "root":
			rest = append(rest, ZipFile{Name: file, Data: entries[name]})
		case dir == "assets" || dir == "lib":
			rest = append(rest, ZipFile{Name: rel, Data: entries[name], Stored: dir == "lib" && strings.HasSuffix(rel, ".so")})
		}
	}
	tmp := t.TempDir()
	protoAPK, binAPK := filepath.Join(tmp, "proto.apk"), filepath.Join(tmp, "binary.apk")
	WriteZip(t, protoAPK, proto)
	Run(t, "aapt2", "convert", "--output-format", "binary", "-o", binAPK, protoAPK)
	RewriteZip(t, binAPK, out, nil, rest...)
}
