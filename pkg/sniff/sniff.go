// Package sniff tells the package formats TrustFuse handles apart (DESIGN
// §5): an APK, an Android App Bundle or an iOS app archive, all of them ZIP
// files. It is the one place that decides, so every command and the fuse
// pipeline agree on what an input is and say the same about what it is not.
package sniff

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// Format is a package format.
type Format string

// The formats, by what marks them:
const (
	APK Format = "apk" // AndroidManifest.xml (binary XML) at the root
	AAB Format = "aab" // BundleConfig.pb or <module>/manifest/AndroidManifest.xml (protobuf XML)
	IPA Format = "ipa" // Payload/<name>.app/
)

// ErrUnknown reports a ZIP archive that is none of the formats; the error
// names what the archive holds.
var ErrUnknown = errors.New("sniff: not an APK (no AndroidManifest.xml), an Android App Bundle or an IPA")

// ErrNameMismatch reports an input or output whose name (.apk, .aab, .ipa)
// promises another format than the input's content; the error says both.
var ErrNameMismatch = errors.New("sniff: name and content disagree")

// ByName returns the format a file name's extension (.apk, .aab, .ipa, in
// any case) promises, if any.
func ByName(p string) (Format, bool) {
	switch strings.ToLower(path.Ext(p)) {
	case ".apk":
		return APK, true
	case ".aab":
		return AAB, true
	case ".ipa":
		return IPA, true
	}
	return "", false
}

// CheckNames refuses (ErrNameMismatch) an input in whose content is of
// format f but whose name promises another format, or an output out named
// as another format than f, saying what each name promises and what was
// found: an APK is not signed or fused into a file named .aab, nor a bundle
// into one named .apk.
func CheckNames(in, out string, f Format) error {
	if want, ok := ByName(in); ok && want != f {
		return fmt.Errorf("%w: %s is named as %s, but it is %s", ErrNameMismatch, in, Describe(want), Describe(f))
	}
	if want, ok := ByName(out); ok && want != f {
		return fmt.Errorf("%w: the output %s is named as %s, but the input %s is %s", ErrNameMismatch, out, Describe(want), in, Describe(f))
	}
	return nil
}

// Detect returns the format of the archive z. An archive with both an APK's
// and a bundle's manifest is an APK, as Android would install it. A bundle
// is recognised by any of its marks, so that pkg/aab, not this package,
// says what is wrong with a broken one (such as a missing base module).
func Detect(z *zipx.Reader) (Format, error) {
	switch {
	case z.Entry("AndroidManifest.xml") != nil:
		return APK, nil
	case BundleMarks(z):
		return AAB, nil
	}
	for _, e := range z.Entries {
		if app, ok := strings.CutPrefix(e.Name, "Payload/"); ok {
			if dir, _, ok := strings.Cut(app, "/"); ok && strings.HasSuffix(dir, ".app") && len(dir) > len(".app") {
				return IPA, nil
			}
		}
	}
	return "", fmt.Errorf("%w: found %s", ErrUnknown, TopLevel(z))
}

// BundleMarks reports whether z holds a mark of an App Bundle:
// BundleConfig.pb, or a module manifest <module>/manifest/AndroidManifest.xml.
func BundleMarks(z *zipx.Reader) bool {
	if z.Entry("BundleConfig.pb") != nil {
		return true
	}
	for _, e := range z.Entries {
		if dir, rest, ok := strings.Cut(e.Name, "/"); ok && dir != "" && rest == "manifest/AndroidManifest.xml" {
			return true
		}
	}
	return false
}

// Describe says what marks an archive of format f, for messages such as
// "expected an Android App Bundle, found an APK (AndroidManifest.xml at the
// root)".
func Describe(f Format) string {
	switch f {
	case APK:
		return "an APK (AndroidManifest.xml at the root)"
	case AAB:
		return "an Android App Bundle (base/manifest/AndroidManifest.xml)"
	case IPA:
		return "an iOS app archive (Payload/*.app/)"
	}
	return "an unknown format"
}

// TopLevel summarises the top of the archive's tree: up to eight names
// (folders with a trailing slash), sorted, or "an empty archive".
func TopLevel(z *zipx.Reader) string {
	seen := map[string]bool{}
	for _, e := range z.Entries {
		name := e.Name
		if dir, _, ok := strings.Cut(name, "/"); ok {
			name = dir + "/"
		}
		seen[name] = true
	}
	if len(seen) == 0 {
		return "an empty archive"
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	more := ""
	if len(names) > 8 {
		more = fmt.Sprintf(" and %d more", len(names)-8)
		names = names[:8]
	}
	return "an archive holding " + strings.Join(names, ", ") + more
}
