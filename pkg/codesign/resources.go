package codesign

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// FORMAT: _CodeSignature/CodeResources, the resource seal of a bundle
// (Apple's Security sources, libsecurity_codesigning: resources.cpp,
// signer.cpp Signer::buildResources, bundlediskrep.cpp; TN2206). An XML
// plist:
//
//	files   dict  path → <data>SHA-1</data>, or { hash: data, optional: true }
//	files2  dict  path → { [hash: data SHA-1,] hash2: data SHA-256 [, optional: true] }
//	              | <data>SHA-1</data> (short form of { hash })
//	              | { symlink: string target }
//	              | { cdhash: data, requirement: string }  (nested code; macOS)
//	rules   dict  pattern → true | false (omit) | { omit|optional|nested: true, weight: real }
//	rules2  dict  the same, for files2
//
// Paths are relative to the bundle root, '/'-separated. Every file takes
// the matching rule of highest weight (default 1; POSIX extended regular
// expressions over the path); an omitted file is not sealed, an optional
// one may be missing. The bundle's _CodeSignature/ and _MASReceipt/, a
// root CodeResources link and the main executable are never sealed (the
// executable is covered by its own CodeDirectory).
//
// What codesign writes for an iOS bundle (a "flat" bundle, without
// Contents/Resources; BundleDiskRep::defaultResourceRules):
//   - the rule sets below, identical for every iOS bundle;
//   - nested bundles (Frameworks/*.framework, PlugIns/*.appex, Watch/*.app)
//     are sealed file by file, their _CodeSignature/CodeResources and
//     executables included: flat bundles have no "nested" rule ("Embedded
//     … currently does not support them"), so no { cdhash, requirement }
//     entries appear (those are macOS's);
//   - files2 carries hash2 only when the signature is SHA-256 only (ours,
//     and codesign's for deployment targets of iOS 11 and later); files
//     keeps SHA-1, the plain <data> form unless the rule is optional;
//   - symlinks appear in files2 only (v1 seals regular files only).
//
// Dictionary keys are in ascending order, as Apple's XML plist writer
// sorts them; data is base64 on its own line. testdata/realseal holds a
// seal codesign wrote for a real iOS framework, which BuildCodeResources
// reproduces byte for byte.

// MaxCodeResourcesSize caps the CodeResources plist CheckCodeResources
// accepts: the file comes from untrusted input.
const MaxCodeResourcesSize = 64 << 20

// Bounds on the rules2 of an untrusted CodeResources: every file is matched
// against every rule. codesign writes ten.
const (
	maxResourceRules = 256
	maxRulePattern   = 1024
)

// maxSealEntries bounds the files2 entries CheckCodeResources keeps (about
// 100 bytes each): far more files than any app ships.
const maxSealEntries = 1 << 20

// ResourceFile is one file of a bundle as _CodeSignature/CodeResources
// records it.
type ResourceFile struct {
	// Path is relative to the bundle root, '/'-separated
	// ("en.lproj/Main.strings", "Frameworks/DemoKit.framework").
	Path string
	// SHA1 and SHA256 are the content digests of a regular file (nil for
	// symlinks and nested code directories).
	SHA1   []byte
	SHA256 []byte
	// Symlink is the link target, when the entry is a symlink.
	Symlink string
	// Nested is set when Path is nested code signed before this bundle (a
	// .framework/.appex/.app/.xpc directory, or a Mach-O file such as
	// Frameworks/libx.dylib, for which SHA1/SHA256 are set too). iOS seals
	// nested code through its files, so a nested directory entry adds
	// nothing to the plist; CheckCodeResources reports a change to any file
	// inside it as "nested code changed".
	Nested *NestedCode
}

// NestedCode is what the outer bundle seals of a nested code item.
type NestedCode struct {
	// CDHash is the nested code's cdhash (20 bytes: its CodeDirectory's
	// SHA-256, truncated).
	CDHash []byte
	// Requirement is its designated requirement in text form.
	Requirement string
}

// ResourceError is a bundle's content that does not match its
// CodeResources. It unwraps to ErrHashMismatch.
type ResourceError struct {
	Path    string // the first offending path, relative to the bundle root
	Problem string // "added", "missing", "modified", "nested code changed", "symlink changed"
}

func (e *ResourceError) Error() string {
	return fmt.Sprintf("%s: resource %q %s", ErrHashMismatch.Error(), e.Path, e.Problem)
}

func (e *ResourceError) Unwrap() error { return ErrHashMismatch }

// Problems a ResourceError names.
const (
	problemAdded       = "added"
	problemMissing     = "missing"
	problemModified    = "modified"
	problemNested      = "nested code changed"
	problemSymlink     = "symlink changed"
	problemKindChanged = "changed kind (file, symlink or nested code)"
)

// resourceRule is one entry of a rules dictionary.
type resourceRule struct {
	pattern  string
	re       *regexp.Regexp
	weight   float64 // 0: written as <true/> (codesign's default weight 1, no flags)
	omit     bool
	optional bool
	nested   bool
}

func rule(pattern string, weight float64, omit, optional bool) resourceRule {
	return resourceRule{pattern: pattern, re: regexp.MustCompile(pattern), weight: weight, omit: omit, optional: optional}
}

// The default iOS rule sets, as codesign writes them for every iOS bundle.
var (
	iosRules = []resourceRule{
		rule(`^.*`, 0, false, false),
		rule(`^.*\.lproj/`, 1000, false, true),
		rule(`^.*\.lproj/locversion.plist$`, 1100, true, false),
		rule(`^Base\.lproj/`, 1010, false, false),
		rule(`^version.plist$`, 0, false, false),
	}
	iosRules2 = []resourceRule{
		rule(`^.*`, 0, false, false),
		rule(`.*\.dSYM($|/)`, 11, false, false),
		rule(`^(.*/)?\.DS_Store$`, 2000, true, false),
		rule(`^.*\.lproj/`, 1000, false, true),
		rule(`^.*\.lproj/locversion.plist$`, 1100, true, false),
		rule(`^Base\.lproj/`, 1010, false, false),
		rule(`^Info\.plist$`, 20, true, false),
		rule(`^PkgInfo$`, 20, true, false),
		rule(`^embedded\.provisionprofile$`, 20, false, false),
		rule(`^version\.plist$`, 20, false, false),
	}
)

// match returns the rule of highest weight matching path, or nil. Of
// equal weights an omitting rule wins, else the first: Security breaks
// ties that way on watchOS and by dictionary order elsewhere, and the
// seals it writes agree (older iOS rules2 have `^` and `^Info\.plist$`
// omit both at weight 20, and Info.plist is never in their files2).
func match(rules []resourceRule, path string) *resourceRule {
	var best *resourceRule
	for i := range rules {
		r := &rules[i]
		if !r.re.MatchString(path) {
			continue
		}
		if best == nil || weightOf(r) > weightOf(best) || weightOf(r) == weightOf(best) && r.omit && !best.omit {
			best = r
		}
	}
	return best
}

func weightOf(r *resourceRule) float64 {
	if r.weight == 0 {
		return 1
	}
	return r.weight
}

// structural reports whether path is never sealed whatever the rules say:
// codesign's exclusions for a bundle (BundleDiskRep::adjustResources): its
// _CodeSignature and _MASReceipt directories and the legacy CodeResources
// link at the root.
func structural(path string) bool {
	dir, _, _ := strings.Cut(path, "/")
	return dir == "_CodeSignature" || dir == "_MASReceipt" || path == "CodeResources"
}

// nestedDir reports whether f is a nested code directory entry (no content
// of its own in the seal).
func nestedDir(f *ResourceFile) bool {
	return f.Nested != nil && f.SHA256 == nil && f.Symlink == ""
}

// checkPath refuses paths that cannot be a bundle-relative file name.
func checkPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || !utf8.ValidString(p) {
		return fmt.Errorf("%w: resource path %q is not a relative file path", ErrInput, p)
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == 0xfffe || c == 0xffff {
			return fmt.Errorf("%w: resource path %q has a control character", ErrInput, p)
		}
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("%w: resource path %q has an empty, . or .. component", ErrInput, p)
		}
	}
	return nil
}

// BuildCodeResources returns the CodeResources XML plist sealing files
// with the iOS rules. files may come in any order; the caller passes every
// file of the bundle (nested bundles' files included, their
// _CodeSignature/CodeResources too) except the bundle's own
// _CodeSignature/* (ignored if passed) and its main executable. Same input
// ⇒ same bytes.
func BuildCodeResources(files []ResourceFile) ([]byte, error) {
	sorted, err := sortedFiles(files)
	if err != nil {
		return nil, err
	}
	var v1, v2 bytes.Buffer
	for _, f := range sorted {
		if structural(f.Path) || nestedDir(f) {
			continue
		}
		if f.Symlink == "" && (len(f.SHA1) != 20 || len(f.SHA256) != 32) {
			return nil, fmt.Errorf("%w: resource %q needs a SHA-1 and a SHA-256 digest", ErrInput, f.Path)
		}
		if r := match(iosRules, f.Path); r != nil && !r.omit && f.Symlink == "" {
			writeKey(&v1, 2, f.Path)
			if r.optional {
				v1.WriteString("\t\t<dict>\n")
				writeData(&v1, 3, "hash", f.SHA1)
				v1.WriteString("\t\t\t<key>optional</key>\n\t\t\t<true/>\n\t\t</dict>\n")
			} else {
				writeDataValue(&v1, 2, f.SHA1)
			}
		}
		r := match(iosRules2, f.Path)
		if r == nil || r.omit {
			continue
		}
		writeKey(&v2, 2, f.Path)
		v2.WriteString("\t\t<dict>\n")
		if f.Symlink != "" {
			writeKey(&v2, 3, "symlink")
			fmt.Fprintf(&v2, "\t\t\t<string>%s</string>\n", xmlEscape(f.Symlink))
		} else {
			writeData(&v2, 3, "hash2", f.SHA256)
			if r.optional {
				v2.WriteString("\t\t\t<key>optional</key>\n\t\t\t<true/>\n")
			}
		}
		v2.WriteString("\t\t</dict>\n")
	}

	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n" +
		`<plist version="1.0">` + "\n<dict>\n")
	writeDict(&b, "files", v1.Bytes())
	writeDict(&b, "files2", v2.Bytes())
	writeDict(&b, "rules", rulesXML(iosRules))
	writeDict(&b, "rules2", rulesXML(iosRules2))
	b.WriteString("</dict>\n</plist>\n")
	return b.Bytes(), nil
}

// sortedFiles checks files' paths and returns them in ascending path order.
func sortedFiles(files []ResourceFile) ([]*ResourceFile, error) {
	out := make([]*ResourceFile, len(files))
	for i := range files {
		if err := checkPath(files[i].Path); err != nil {
			return nil, err
		}
		out[i] = &files[i]
	}
	slices.SortFunc(out, func(a, b *ResourceFile) int { return compareKeys(a.Path, b.Path) })
	for i := 1; i < len(out); i++ {
		if out[i].Path == out[i-1].Path {
			return nil, fmt.Errorf("%w: resource %q listed twice", ErrInput, out[i].Path)
		}
	}
	return out, nil
}

// compareKeys orders dictionary keys as Apple's plist writer does
// (CFStringCompare without options: by UTF-16 code units, which differs
// from byte order only for characters beyond U+FFFF).
func compareKeys(a, b string) int {
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

// sortRules puts rules in key order, the order they are written in.
func sortRules(rules []resourceRule) {
	slices.SortFunc(rules, func(a, b resourceRule) int { return compareKeys(a.pattern, b.pattern) })
}

// rulesXML renders a rule set's entries, sorted by pattern.
func rulesXML(rules []resourceRule) []byte {
	sorted := slices.Clone(rules)
	sortRules(sorted)
	var b bytes.Buffer
	for _, r := range sorted {
		writeKey(&b, 2, r.pattern)
		if r.weight == 0 {
			b.WriteString("\t\t<true/>\n")
			continue
		}
		b.WriteString("\t\t<dict>\n")
		if r.omit {
			b.WriteString("\t\t\t<key>omit</key>\n\t\t\t<true/>\n")
		}
		if r.optional {
			b.WriteString("\t\t\t<key>optional</key>\n\t\t\t<true/>\n")
		}
		writeKey(&b, 3, "weight")
		fmt.Fprintf(&b, "\t\t\t<real>%s</real>\n", strconv.FormatFloat(r.weight, 'f', -1, 64))
		b.WriteString("\t\t</dict>\n")
	}
	return b.Bytes()
}

// writeDict writes a top-level key and its dictionary body (<dict/> when
// empty).
func writeDict(b *bytes.Buffer, key string, body []byte) {
	writeKey(b, 1, key)
	if len(body) == 0 {
		b.WriteString("\t<dict/>\n")
		return
	}
	b.WriteString("\t<dict>\n")
	b.Write(body)
	b.WriteString("\t</dict>\n")
}

func writeKey(b *bytes.Buffer, depth int, k string) {
	fmt.Fprintf(b, "%s<key>%s</key>\n", strings.Repeat("\t", depth), xmlEscape(k))
}

func writeData(b *bytes.Buffer, depth int, key string, d []byte) {
	writeKey(b, depth, key)
	writeDataValue(b, depth, d)
}

func writeDataValue(b *bytes.Buffer, depth int, d []byte) {
	ind := strings.Repeat("\t", depth)
	fmt.Fprintf(b, "%s<data>\n%s%s\n%s</data>\n", ind, ind, base64.StdEncoding.EncodeToString(d), ind)
}

// xmlEscape escapes the three characters Apple's plist writer escapes.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// sealEntry is one parsed files2 entry, kept small: a seal may list a
// million files.
type sealEntry struct {
	kind     sealKind
	optional bool
	digest   []byte // the SHA-256 (hash2), else the SHA-1 (hash), or the cdhash
	symlink  string
}

// sealKind is what a files2 entry seals.
type sealKind uint8

const (
	sealSHA1    sealKind = iota + 1 // { hash } or the short <data> form
	sealSHA256                      // { hash2 } with or without hash
	sealCDHash                      // { cdhash, requirement }: nested code
	sealSymlink                     // { symlink }
)

// CheckCodeResources checks a bundle's actual files (as for
// BuildCodeResources) against the CodeResources bytes, with the rules2 the
// plist itself records, as Security's validator does: a file its rules omit
// is ignored, a sealed file that is absent is "missing" unless optional. It
// returns the problem at the first path in key order as a *ResourceError
// (unwrapping ErrHashMismatch); an unparsable or oversized plist is a
// *FormatError wrapping ErrMalformed.
func CheckCodeResources(codeResources []byte, files []ResourceFile) error {
	seal, rules, err := parseCodeResources(codeResources)
	if err != nil {
		return err
	}
	sorted, err := sortedFiles(files)
	if err != nil {
		return err
	}
	var nestedDirs []string
	for _, f := range sorted {
		if nestedDir(f) {
			nestedDirs = append(nestedDirs, f.Path+"/")
		}
	}
	var first *ResourceError
	note := func(path, problem string) {
		if first == nil || compareKeys(path, first.Path) < 0 {
			first = &ResourceError{Path: path, Problem: problem}
		}
	}
	seen := make(map[string]bool, len(seal))
	for _, f := range sorted {
		e, sealed := seal[f.Path]
		if structural(f.Path) || nestedDir(f) && !sealed {
			continue
		}
		if r := match(rules, f.Path); !nestedDir(f) && (r == nil || r.omit) {
			continue
		}
		if !sealed {
			note(f.Path, problemAdded)
			continue
		}
		seen[f.Path] = true
		if p := compareSeal(e, f, nestedDirs); p != "" {
			note(f.Path, p)
		}
	}
	for p, e := range seal {
		if !seen[p] && !e.optional {
			note(p, problemMissing)
		}
	}
	if first != nil {
		return first
	}
	return nil
}

// compareSeal returns the problem of file f against its seal entry e, or
// "". A content change inside nested code (a file under a nested directory,
// or a nested Mach-O file) is "nested code changed".
func compareSeal(e sealEntry, f *ResourceFile, nestedDirs []string) string {
	nested := f.Nested != nil || slices.ContainsFunc(nestedDirs, func(d string) bool { return strings.HasPrefix(f.Path, d) })
	switch e.kind {
	case sealCDHash:
		if f.Nested == nil {
			return problemKindChanged
		}
		if !bytes.Equal(e.digest, f.Nested.CDHash) {
			return problemNested
		}
		return ""
	case sealSymlink:
		if f.Symlink == "" {
			return problemKindChanged
		}
		if e.symlink != f.Symlink {
			return problemSymlink
		}
		return ""
	}
	if f.Symlink != "" || nestedDir(f) {
		return problemKindChanged
	}
	want := f.SHA256
	if e.kind == sealSHA1 {
		want = f.SHA1
	}
	if !bytes.Equal(e.digest, want) {
		if nested {
			return problemNested
		}
		return problemModified
	}
	return ""
}

// resourceFormatErr reports a malformed CodeResources plist.
func resourceFormatErr(format string, args ...any) error {
	return &FormatError{Offset: -1, Detail: "CodeResources: " + fmt.Sprintf(format, args...), Err: ErrMalformed}
}
