package codesign

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// sealCase is one file of the test bundle and where codesign's iOS rules
// put it: in the version 1 seal (files), the version 2 seal (files2), and
// whether optional there.
type sealCase struct {
	name    string
	path    string
	symlink string      // a symlink to this target instead of a file
	nested  *NestedCode // nested code (a directory when dir is set)
	dir     bool        // a nested code directory entry: no content
	v1, v2  bool
	opt     bool // optional in both seals
}

var sealCases = []sealCase{
	{name: "resource at the root", path: "icon.png", v1: true, v2: true},
	{name: "resource in a directory", path: "Assets/data.json", v1: true, v2: true},
	{name: "localization", path: "en.lproj/Main.strings", v1: true, v2: true, opt: true},
	{name: "non-ASCII localization", path: "ja.lproj/日本語.strings", v1: true, v2: true, opt: true},
	{name: "Base localization is not optional", path: "Base.lproj/Main.storyboardc/Info.plist", v1: true, v2: true},
	{name: "locversion.plist omitted", path: "fr.lproj/locversion.plist"},
	{name: "Info.plist in v1 only", path: "Info.plist", v1: true},
	{name: "PkgInfo in v1 only", path: "PkgInfo", v1: true},
	{name: "profile sealed", path: "embedded.mobileprovision", v1: true, v2: true},
	{name: ".DS_Store at the root in v1 only", path: ".DS_Store", v1: true},
	{name: ".DS_Store nested in v1 only", path: "Assets/.DS_Store", v1: true},
	{name: "version.plist", path: "version.plist", v1: true, v2: true},
	{name: "dSYM", path: "Demo.dSYM/Contents/Info.plist", v1: true, v2: true},
	{name: "framework directory: no entry of its own", path: "Frameworks/DemoKit.framework", dir: true, nested: &NestedCode{CDHash: bytes.Repeat([]byte{1}, 20)}},
	{name: "framework executable", path: "Frameworks/DemoKit.framework/DemoKit", v1: true, v2: true},
	{name: "framework Info.plist (not the root's)", path: "Frameworks/DemoKit.framework/Info.plist", v1: true, v2: true},
	{name: "framework seal", path: "Frameworks/DemoKit.framework/_CodeSignature/CodeResources", v1: true, v2: true},
	{name: "dylib nested code", path: "Frameworks/libswiftDemo.dylib", nested: &NestedCode{CDHash: bytes.Repeat([]byte{2}, 20)}, v1: true, v2: true},
	{name: "app extension executable", path: "PlugIns/Widget.appex/Widget", v1: true, v2: true},
	{name: "symlink in files2 only", path: "Assets/current", symlink: "data.json", v2: true},
	{name: "own seal ignored", path: "_CodeSignature/CodeResources"},
	{name: "legacy CodeResources link ignored", path: "CodeResources", symlink: "_CodeSignature/CodeResources"},
	{name: "XML special characters", path: "a&b<c>.txt", v1: true, v2: true},
	{name: "character beyond U+FFFF", path: "emoji-😀.png", v1: true, v2: true},
	{name: "character below U+FFFF after it in UTF-16", path: "emoji-！.png", v1: true, v2: true},
}

// resourceFile builds the ResourceFile of c with content derived from its
// path (and the variant, to make a changed copy).
func resourceFile(c sealCase, variant string) ResourceFile {
	f := ResourceFile{Path: c.path, Nested: c.nested}
	switch {
	case c.symlink != "":
		f.Symlink = c.symlink
	case !c.dir:
		content := []byte("content of " + c.path + variant)
		s1, s2 := sha1.Sum(content), sha256.Sum256(content)
		f.SHA1, f.SHA256 = s1[:], s2[:]
	}
	return f
}

func sealFiles() []ResourceFile {
	var files []ResourceFile
	for _, c := range sealCases {
		files = append(files, resourceFile(c, ""))
	}
	return files
}

// readPlist is CodeResources as Python's plistlib reads it: files and
// files2 entries with data as hex, and the rules; keys lists every
// dictionary's keys in file order; plistutilSame is whether plistutil's
// binary rendering of the file parses to the same value.
type readPlist struct {
	Files         map[string]map[string]any `json:"files"`
	Files2        map[string]map[string]any `json:"files2"`
	Rules         map[string]any            `json:"rules"`
	Rules2        map[string]any            `json:"rules2"`
	KeysInOrder   bool                      `json:"keys_in_order"`
	RealWeights   bool                      `json:"real_weights"`
	PlistutilSame bool                      `json:"plistutil_same"`
}

const readPlistPy = `
import json, plistlib, sys
xml = plistlib.load(open(sys.argv[1], 'rb'))
binary = plistlib.load(open(sys.argv[2], 'rb'))
def entry(v):
    if isinstance(v, bytes):
        return {'data': v.hex()}
    return {k: (x.hex() if isinstance(x, bytes) else x) for k, x in v.items()}
def ordered(d):
    keys = list(d)
    return keys == sorted(keys, key=lambda k: k.encode('utf-16-be')) and all(ordered(v) for v in d.values() if isinstance(v, dict))
weights = [r['weight'] for rs in (xml['rules'], xml['rules2']) for r in rs.values() if isinstance(r, dict)]
json.dump({
    'files': {k: entry(v) for k, v in xml['files'].items()},
    'files2': {k: entry(v) for k, v in xml['files2'].items()},
    'rules': xml['rules'], 'rules2': xml['rules2'],
    'keys_in_order': ordered(xml),
    'real_weights': all(isinstance(w, float) for w in weights),
    'plistutil_same': xml == binary,
}, sys.stdout)
`

// readWithOracles has plistutil convert b to a binary plist and Python's
// plistlib read both.
func readWithOracles(t *testing.T, b []byte) readPlist {
	t.Helper()
	dir := t.TempDir()
	xmlPath, binPath := filepath.Join(dir, "CodeResources"), filepath.Join(dir, "CodeResources.bin")
	if err := os.WriteFile(xmlPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "plistutil", "-i", xmlPath, "-o", binPath, "-f", "bin")
	out := testenv.Run(t, "python3", "-c", readPlistPy, xmlPath, binPath)
	var r readPlist
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	return r
}

// TestBuildCodeResources: plistutil and Python's plistlib read what we
// write; each class of file lands in files and files2 as codesign's iOS
// rules put it, with the right digests and optional flags; keys are in
// Apple's order; the same files in another order give the same bytes.
func TestBuildCodeResources(t *testing.T) {
	files := sealFiles()
	cr, err := BuildCodeResources(files)
	if err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(files)
	slices.Reverse(reversed)
	if again, err := BuildCodeResources(reversed); err != nil || !bytes.Equal(again, cr) {
		t.Errorf("input order changes the output (err %v)", err)
	}
	r := readWithOracles(t, cr)
	if !r.PlistutilSame {
		t.Error("plistutil's reading differs from plistlib's")
	}
	if !r.KeysInOrder {
		t.Error("dictionary keys are not in UTF-16 order")
	}
	if !r.RealWeights {
		t.Error("rule weights are not <real>")
	}
	for i, c := range sealCases {
		t.Run(c.name, func(t *testing.T) {
			f := files[i]
			v1, in1 := r.Files[c.path]
			switch {
			case in1 != c.v1:
				t.Errorf("in files: %v, want %v", in1, c.v1)
			case !c.v1:
			case c.opt && (v1["hash"] != hex.EncodeToString(f.SHA1) || v1["optional"] != true || len(v1) != 2):
				t.Errorf("files entry %v, want {hash: sha1, optional: true}", v1)
			case !c.opt && (v1["data"] != hex.EncodeToString(f.SHA1) || len(v1) != 1):
				t.Errorf("files entry %v, want the SHA-1 data", v1)
			}
			v2, in2 := r.Files2[c.path]
			want2 := map[string]any{"hash2": hex.EncodeToString(f.SHA256)}
			if c.symlink != "" {
				want2 = map[string]any{"symlink": c.symlink}
			}
			if c.opt {
				want2["optional"] = true
			}
			switch {
			case in2 != c.v2:
				t.Errorf("in files2: %v, want %v", in2, c.v2)
			case c.v2 && !mapsEqual(v2, want2):
				t.Errorf("files2 entry %v, want %v", v2, want2)
			}
		})
	}
	if len(r.Files) != countCases(func(c sealCase) bool { return c.v1 }) || len(r.Files2) != countCases(func(c sealCase) bool { return c.v2 }) {
		t.Errorf("%d files and %d files2 entries: entries the table does not expect", len(r.Files), len(r.Files2))
	}
	// The rules of a flat (iOS) bundle, transcribed from Security's
	// BundleDiskRep::defaultResourceRules (bundlediskrep.cpp, the branch
	// for bundles without a Resources directory).
	opt := func(w float64) map[string]any { return map[string]any{"optional": true, "weight": w} }
	omit := func(w float64) map[string]any { return map[string]any{"omit": true, "weight": w} }
	weight := func(w float64) map[string]any { return map[string]any{"weight": w} }
	wantRules := map[string]any{
		`^version.plist$`: true, `^.*`: true, `^.*\.lproj/`: opt(1000),
		`^Base\.lproj/`: weight(1010), `^.*\.lproj/locversion.plist$`: omit(1100),
	}
	wantRules2 := map[string]any{
		`^.*`: true, `.*\.dSYM($|/)`: weight(11), `^(.*/)?\.DS_Store$`: omit(2000),
		`^Info\.plist$`: omit(20), `^version\.plist$`: weight(20), `^embedded\.provisionprofile$`: weight(20),
		`^PkgInfo$`: omit(20), `^.*\.lproj/`: opt(1000), `^Base\.lproj/`: weight(1010),
		`^.*\.lproj/locversion.plist$`: omit(1100),
	}
	if !jsonEqual(r.Rules, wantRules) || !jsonEqual(r.Rules2, wantRules2) {
		t.Errorf("rules %v\nrules2 %v", r.Rules, r.Rules2)
	}
}

func countCases(f func(sealCase) bool) int {
	n := 0
	for _, c := range sealCases {
		if f(c) {
			n++
		}
	}
	return n
}

func mapsEqual(a, b map[string]any) bool { return jsonEqual(a, b) }

// jsonEqual compares two JSON-shaped values.
func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestBuildCodeResourcesEmpty: a bundle with no resources has empty files
// dictionaries, written as <dict/>, and still the rules.
func TestBuildCodeResourcesEmpty(t *testing.T) {
	cr, err := BuildCodeResources(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := readWithOracles(t, cr)
	if len(r.Files) != 0 || len(r.Files2) != 0 || len(r.Rules) != 5 || len(r.Rules2) != 10 || !r.PlistutilSame {
		t.Errorf("empty bundle: %+v", r)
	}
}

// TestBuildCodeResourcesBadInput: paths that cannot be bundle files and
// files without digests are refused with ErrInput.
func TestBuildCodeResourcesBadInput(t *testing.T) {
	good := resourceFile(sealCases[0], "")
	with := func(f func(*ResourceFile)) []ResourceFile {
		g := good
		f(&g)
		return []ResourceFile{g}
	}
	for _, c := range []struct {
		name  string
		files []ResourceFile
	}{
		{"empty path", with(func(f *ResourceFile) { f.Path = "" })},
		{"absolute path", with(func(f *ResourceFile) { f.Path = "/etc/passwd" })},
		{"dot-dot", with(func(f *ResourceFile) { f.Path = "Assets/../../x" })},
		{"empty component", with(func(f *ResourceFile) { f.Path = "Assets//x" })},
		{"trailing slash", with(func(f *ResourceFile) { f.Path = "Assets/" })},
		{"control character", with(func(f *ResourceFile) { f.Path = "a\x01b" })},
		{"invalid UTF-8", with(func(f *ResourceFile) { f.Path = "a\xffb" })},
		{"no digests", with(func(f *ResourceFile) { f.SHA1, f.SHA256 = nil, nil })},
		{"short digest", with(func(f *ResourceFile) { f.SHA256 = f.SHA256[:20] })},
		{"listed twice", []ResourceFile{good, good}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := BuildCodeResources(c.files); !errors.Is(err, ErrInput) {
				t.Errorf("err %v, want ErrInput", err)
			}
			if _, err := BuildCodeResources(c.files); c.name != "no digests" && c.name != "short digest" {
				// CheckCodeResources refuses the same paths.
				if err := CheckCodeResources(mustBuild(t, nil), c.files); !errors.Is(err, ErrInput) {
					t.Errorf("CheckCodeResources: %v, want ErrInput", err)
				}
			} else if err == nil {
				t.Error("accepted")
			}
		})
	}
}

func mustBuild(t *testing.T, files []ResourceFile) []byte {
	t.Helper()
	b, err := BuildCodeResources(files)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCheckCodeResources: each change to a sealed bundle is reported at its
// path with its kind; omitted and optional files are tolerated.
func TestCheckCodeResources(t *testing.T) {
	cr := mustBuild(t, sealFiles())
	byPath := func(p string) sealCase {
		for _, c := range sealCases {
			if c.path == p {
				return c
			}
		}
		t.Fatalf("no case %s", p)
		return sealCase{}
	}
	edit := func(f func(files []ResourceFile) []ResourceFile) []ResourceFile { return f(sealFiles()) }
	replace := func(p string, g func(*ResourceFile)) []ResourceFile {
		return edit(func(files []ResourceFile) []ResourceFile {
			for i := range files {
				if files[i].Path == p {
					g(&files[i])
				}
			}
			return files
		})
	}
	changed := func(p string) []ResourceFile {
		return replace(p, func(f *ResourceFile) { *f = resourceFile(byPath(p), " changed") })
	}
	remove := func(p string) []ResourceFile {
		return edit(func(files []ResourceFile) []ResourceFile {
			return slices.DeleteFunc(files, func(f ResourceFile) bool { return f.Path == p })
		})
	}
	add := func(paths ...string) []ResourceFile {
		return edit(func(files []ResourceFile) []ResourceFile {
			for _, p := range paths {
				files = append(files, resourceFile(sealCase{path: p}, ""))
			}
			return files
		})
	}
	for _, c := range []struct {
		name    string
		files   []ResourceFile
		path    string // "" = no problem
		problem string
	}{
		{"unchanged", sealFiles(), "", ""},
		{"resource modified", changed("icon.png"), "icon.png", "modified"},
		{"profile modified", changed("embedded.mobileprovision"), "embedded.mobileprovision", "modified"},
		{"framework executable modified", changed("Frameworks/DemoKit.framework/DemoKit"), "Frameworks/DemoKit.framework/DemoKit", "nested code changed"},
		{"framework seal modified", changed("Frameworks/DemoKit.framework/_CodeSignature/CodeResources"), "Frameworks/DemoKit.framework/_CodeSignature/CodeResources", "nested code changed"},
		{"nested dylib modified", changed("Frameworks/libswiftDemo.dylib"), "Frameworks/libswiftDemo.dylib", "nested code changed"},
		{"file added", add("new.txt"), "new.txt", "added"},
		{"file added to a framework", add("Frameworks/DemoKit.framework/extra.bin"), "Frameworks/DemoKit.framework/extra.bin", "added"},
		{"resource missing", remove("icon.png"), "icon.png", "missing"},
		{"Base localization missing", remove("Base.lproj/Main.storyboardc/Info.plist"), "Base.lproj/Main.storyboardc/Info.plist", "missing"},
		{"optional localization missing", remove("en.lproj/Main.strings"), "", ""},
		{"localization modified", changed("en.lproj/Main.strings"), "en.lproj/Main.strings", "modified"},
		{"Info.plist modified (sealed by the CodeDirectory)", changed("Info.plist"), "", ""},
		{".DS_Store added", add("Frameworks/.DS_Store"), "", ""},
		{"locversion.plist added", add("de.lproj/locversion.plist"), "", ""},
		{"file added under _CodeSignature", add("_CodeSignature/extra"), "", ""},
		{"symlink retargeted", replace("Assets/current", func(f *ResourceFile) { f.Symlink = "other.json" }), "Assets/current", "symlink changed"},
		{"symlink replaced by a file", replace("Assets/current", func(f *ResourceFile) { *f = resourceFile(sealCase{path: f.Path}, "") }), "Assets/current", "changed kind (file, symlink or nested code)"},
		{"file replaced by a symlink", replace("icon.png", func(f *ResourceFile) { *f = ResourceFile{Path: f.Path, Symlink: "x"} }), "icon.png", "changed kind (file, symlink or nested code)"},
		{"first problem in key order", add("zzz", "aaa"), "aaa", "added"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckCodeResources(cr, c.files)
			if c.path == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			var re *ResourceError
			if !errors.As(err, &re) || !errors.Is(err, ErrHashMismatch) || re.Path != c.path || re.Problem != c.problem {
				t.Fatalf("err %v, want %s %s", err, c.path, c.problem)
			}
			if !strings.Contains(err.Error(), c.path) {
				t.Errorf("message %q does not name the path", err)
			}
		})
	}
}

// TestCheckCodeResourcesNestedCDHash: a macOS-style seal that records
// nested code by cdhash (written here by hand, as codesign writes it for
// a bundle whose rules2 has a nested rule) is checked against the nested
// code's cdhash.
func TestCheckCodeResourcesNestedCDHash(t *testing.T) {
	h := bytes.Repeat([]byte{7}, 20)
	cr := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>files</key><dict/>
<key>files2</key><dict>
<key>Frameworks/Kit.framework</key><dict><key>cdhash</key><data>BwcHBwcHBwcHBwcHBwcHBwcHBwc=</data><key>requirement</key><string>cdhash H"0707070707070707070707070707070707070707"</string></dict>
</dict>
<key>rules</key><dict/>
<key>rules2</key><dict><key>^.*</key><true/><key>^Frameworks/</key><dict><key>nested</key><true/><key>weight</key><real>10</real></dict></dict>
</dict></plist>`)
	dir := func(cd []byte) []ResourceFile {
		return []ResourceFile{{Path: "Frameworks/Kit.framework", Nested: &NestedCode{CDHash: cd}}}
	}
	for _, c := range []struct {
		name    string
		files   []ResourceFile
		problem string
	}{
		{"same cdhash", dir(h), ""},
		{"other cdhash", dir(bytes.Repeat([]byte{8}, 20)), "nested code changed"},
		{"nested code missing", nil, "missing"},
		{"a file where nested code was", []ResourceFile{resourceFile(sealCase{path: "Frameworks/Kit.framework"}, "")}, "changed kind (file, symlink or nested code)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckCodeResources(cr, c.files)
			var re *ResourceError
			switch {
			case c.problem == "" && err != nil:
				t.Fatalf("unexpected %v", err)
			case c.problem != "" && (!errors.As(err, &re) || re.Problem != c.problem || re.Path != "Frameworks/Kit.framework"):
				t.Fatalf("err %v, want %s", err, c.problem)
			}
		})
	}
}

// TestCheckCodeResourcesMalformed: an unparsable, oversized or ill-typed
// CodeResources is a *FormatError wrapping ErrMalformed, never a panic.
func TestCheckCodeResourcesMalformed(t *testing.T) {
	wrap := func(files2, rules2 string) []byte {
		return []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>files2</key>` + files2 + `<key>rules2</key>` + rules2 + `</dict></plist>`)
	}
	manyRules := "<dict>" + strings.Repeat("", 0)
	for i := range maxResourceRules + 1 {
		manyRules += "<key>^r" + strings.Repeat("x", i%7) + hex.EncodeToString([]byte{byte(i >> 8), byte(i)}) + "$</key><true/>"
	}
	manyRules += "</dict>"
	for _, c := range []struct {
		name string
		cr   []byte
	}{
		{"not a plist", []byte("garbage")},
		{"an array", []byte(`<?xml version="1.0"?><plist version="1.0"><array/></plist>`)},
		{"version 1 seal only", []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>files</key><dict/><key>rules</key><dict/></dict></plist>`)},
		{"entry a string", wrap(`<dict><key>a</key><string>x</string></dict>`, `<dict/>`)},
		{"hash2 a string", wrap(`<dict><key>a</key><dict><key>hash2</key><string>x</string></dict></dict>`, `<dict/>`)},
		{"optional an integer", wrap(`<dict><key>a</key><dict><key>hash2</key><data>AA==</data><key>optional</key><integer>1</integer></dict></dict>`, `<dict/>`)},
		{"entry without hash", wrap(`<dict><key>a</key><dict><key>optional</key><true/></dict></dict>`, `<dict/>`)},
		{"bad pattern", wrap(`<dict/>`, `<dict><key>(</key><true/></dict>`)},
		{"weight a string", wrap(`<dict/>`, `<dict><key>^.*</key><dict><key>weight</key><string>x</string></dict></dict>`)},
		{"rule a string", wrap(`<dict/>`, `<dict><key>^.*</key><string>x</string></dict>`)},
		{"too many rules", wrap(`<dict/>`, manyRules)},
		{"pattern too long", wrap(`<dict/>`, `<dict><key>`+strings.Repeat("a", maxRulePattern+1)+`</key><true/></dict>`)},
		{"too large", append(wrap(`<dict/>`, `<dict/>`), make([]byte, MaxCodeResourcesSize)...)},
		{"binary plist", []byte("bplist00\xd0\x08\x00\x00\x00\x00\x00\x00\x01\x01")},
		{"OpenStep text", []byte(`{ files2 = { a = <00>; }; rules2 = {}; }`)},
		{"text beside the elements", wrap(`<dict/>`, `<dict/>x`)},
		{"files2 key given twice", wrap(`<dict><key>a</key><data>AA==</data><key>a</key><data>AA==</data></dict>`, `<dict/>`)},
		{"top-level key given twice", wrap(`<dict/><key>files2</key><dict/>`, `<dict/>`)},
		{"an array in files2", wrap(`<dict><key>a</key><array><data>AA==</data></array></dict>`, `<dict/>`)},
		{"bad base64", wrap(`<dict><key>a</key><data>!!</data></dict>`, `<dict/>`)},
		{"unclosed", []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>files2</key><dict>`)},
		// A million nested elements under a key we do not read are passed
		// over without recursion; the seal still lacks files2.
		{"deep nesting", []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>files</key>` + strings.Repeat("<array>", 1<<20) + strings.Repeat("</array>", 1<<20) + `</dict></plist>`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckCodeResources(c.cr, nil)
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "CodeResources") {
				t.Fatalf("err %v, want a CodeResources *FormatError", err)
			}
		})
	}
}

// FuzzCheckCodeResources: any bytes are a FormatError, an ErrInput-free
// result, or a ResourceError; never a panic.
func FuzzCheckCodeResources(f *testing.F) {
	f.Add(mustBuildF(f, sealFiles()))
	f.Add([]byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>files2</key><dict/><key>rules2</key><dict/></dict></plist>`))
	files := sealFiles()
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckCodeResources(b, files)
		var fe *FormatError
		var re *ResourceError
		if err != nil && !errors.As(err, &fe) && !errors.As(err, &re) {
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
	})
}

func mustBuildF(f *testing.F, files []ResourceFile) []byte {
	b, err := BuildCodeResources(files)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// readManifest reads a testdata/realseal manifest: the bundle's files with
// their digests.
func readManifest(t *testing.T, dir string) []ResourceFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var files []ResourceFile
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		fields := strings.SplitN(line, " ", 3)
		s1, err1 := hex.DecodeString(fields[0])
		s2, err2 := hex.DecodeString(fields[1])
		if len(fields) != 3 || err1 != nil || err2 != nil {
			t.Fatalf("%s: bad manifest line %q", dir, line)
		}
		files = append(files, ResourceFile{Path: fields[2], SHA1: s1, SHA256: s2})
	}
	return files
}

// TestRealSeals: seals Apple's codesign wrote for real iOS bundles
// (testdata/realseal/README.md). For the framework signed with today's iOS
// rules BuildCodeResources reproduces Apple's bytes exactly; both seals
// (the app's with older rules, hash and hash2) check against the bundle's
// files, and each change is caught at its path.
func TestRealSeals(t *testing.T) {
	framework, app := filepath.Join("testdata", "realseal", "framework"), filepath.Join("testdata", "realseal", "app")
	apple, err := os.ReadFile(filepath.Join(framework, "CodeResources"))
	if err != nil {
		t.Fatal(err)
	}
	if ours := mustBuild(t, readManifest(t, framework)); !bytes.Equal(ours, apple) {
		t.Errorf("BuildCodeResources differs from codesign's CodeResources:\n%s", ours)
	}
	edit := func(dir string, f func([]ResourceFile) []ResourceFile) []ResourceFile { return f(readManifest(t, dir)) }
	modify := func(dir, p string) []ResourceFile {
		return edit(dir, func(files []ResourceFile) []ResourceFile {
			for i := range files {
				if files[i].Path == p {
					files[i].SHA1, files[i].SHA256 = bytes.Repeat([]byte{1}, 20), bytes.Repeat([]byte{1}, 32)
				}
			}
			return files
		})
	}
	remove := func(dir, p string) []ResourceFile {
		return edit(dir, func(files []ResourceFile) []ResourceFile {
			return slices.DeleteFunc(files, func(f ResourceFile) bool { return f.Path == p })
		})
	}
	added := func(dir, p string) []ResourceFile {
		return edit(dir, func(files []ResourceFile) []ResourceFile {
			return append(files, resourceFile(sealCase{path: p}, ""))
		})
	}
	for _, c := range []struct {
		name, dir string
		files     []ResourceFile
		path      string
		problem   string
	}{
		{"framework as signed", framework, readManifest(t, framework), "", ""},
		{"framework module modified", framework, modify(framework, "Modules/CredentialsValidator2.swiftmodule/arm64-apple-ios-simulator.swiftmodule"), "Modules/CredentialsValidator2.swiftmodule/arm64-apple-ios-simulator.swiftmodule", "modified"},
		{"framework Info.plist modified (sealed by the CodeDirectory)", framework, modify(framework, "Info.plist"), "", ""},
		{"app as signed", app, readManifest(t, app), "", ""},
		{"app bundle script modified", app, modify(app, "main.jsbundle"), "main.jsbundle", "modified"},
		{"app asset catalog missing", app, remove(app, "Assets.car"), "Assets.car", "missing"},
		{"app file added", app, added(app, "payload.dylib"), "payload.dylib", "added"},
		{"app Info.plist modified (omit wins the tie at weight 20)", app, modify(app, "Info.plist"), "", ""},
		{"app PkgInfo modified", app, modify(app, "PkgInfo"), "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			seal, err := os.ReadFile(filepath.Join(c.dir, "CodeResources"))
			if err != nil {
				t.Fatal(err)
			}
			err = CheckCodeResources(seal, c.files)
			var re *ResourceError
			switch {
			case c.path == "" && err != nil:
				t.Fatalf("unexpected %v", err)
			case c.path != "" && (!errors.As(err, &re) || re.Path != c.path || re.Problem != c.problem):
				t.Fatalf("err %v, want %s %s", err, c.path, c.problem)
			}
		})
	}
}
