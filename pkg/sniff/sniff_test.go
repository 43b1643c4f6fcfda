package sniff

import (
	"archive/zip"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

func archive(t *testing.T, names ...string) *zipx.Reader {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		if _, err := zw.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	z, err := zipx.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func fileArchive(t *testing.T, path string) *zipx.Reader {
	t.Helper()
	z, err := zipx.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })
	return z.Reader
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name string
		z    *zipx.Reader
		want Format
		err  string // "" for success, else a substring of the error
	}{
		{"APK fixture", fileArchive(t, testenv.Fixtures(t)[0]), APK, ""},
		{"bundle fixture", fileArchive(t, testenv.AABFixtures(t)[0]), AAB, ""},
		{"IPA", archive(t, "Payload/Demo.app/Info.plist", "Payload/Demo.app/Demo"), IPA, ""},
		{"APK wins over bundle", archive(t, "base/manifest/AndroidManifest.xml", "AndroidManifest.xml"), APK, ""},
		{"Payload without .app", archive(t, "Payload/readme.txt", "Payload/.app/x"), "", "found an archive holding Payload/"},
		{"bundle without base", archive(t, "BundleConfig.pb", "feature/manifest/AndroidManifest.xml"), AAB, ""},
		{"bundle config only", archive(t, "BundleConfig.pb"), AAB, ""},
		{"a module manifest only", archive(t, "x/manifest/AndroidManifest.xml"), AAB, ""},
		{"manifest folder at the root", archive(t, "manifest/AndroidManifest.xml"), "", "found an archive holding manifest/"},
		{"empty", archive(t), "", "found an empty archive"},
		{"many names", archive(t, "a", "b", "c", "d", "e", "f", "g", "h", "i", "j/k"), "", "a, b, c, d, e, f, g, h and 2 more"},
	} {
		got, err := Detect(tc.z)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		case tc.err != "" && (!errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: got %v, want ErrUnknown saying %q", tc.name, err, tc.err)
		}
	}
}

// TestCheckNames: a name promising another format than the content is
// refused, for the input and for the output, saying both; names without a
// package extension, and extensions in any case, pass when they agree.
func TestCheckNames(t *testing.T) {
	for _, tc := range []struct {
		name, in, out string
		f             Format
		err           string // "" for success, else a substring of the error
	}{
		{"agree", "app.apk", "out.apk", APK, ""},
		{"no package extension", "app.zip", "out", AAB, ""},
		{"upper case", "APP.AAB", "Out.Aab", AAB, ""},
		{"APK named .aab", "app.aab", "out.aab", APK, "app.aab is named as an Android App Bundle (base/manifest/AndroidManifest.xml), but it is an APK"},
		{"bundle named .apk", "dir.aab/bundle.apk", "out.zip", AAB, "dir.aab/bundle.apk is named as an APK (AndroidManifest.xml at the root), but it is an Android App Bundle"},
		{"bundle into .apk", "bundle.aab", "out.apk", AAB, "the output out.apk is named as an APK (AndroidManifest.xml at the root), but the input bundle.aab is an Android App Bundle"},
		{"IPA into .aab", "Demo.ipa", "out.aab", IPA, "the output out.aab is named as an Android App Bundle"},
	} {
		err := CheckNames(tc.in, tc.out, tc.f)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (!errors.Is(err, ErrNameMismatch) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: got %v, want ErrNameMismatch saying %q", tc.name, err, tc.err)
		}
	}
}
