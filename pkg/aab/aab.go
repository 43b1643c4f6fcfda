// Package aab models an Android App Bundle (.aab) as TrustFuse needs it: the
// strictly parsed archive (pkg/zipx, with every check it makes of an APK:
// duplicate names, traversal, overlaps, lying sizes), its modules with their
// protobuf manifests (pkg/protoxml), dex files, native ABIs and assets, and
// its JAR signature (pkg/apksig's JAR signer and verifier).
//
// What is refused, and why: an archive that is not a bundle (an APK is named
// as such), a bundle without base/manifest/AndroidManifest.xml (bundletool
// and Play refuse it), a module folder without a manifest, and a manifest
// that does not decode or whose root is not <manifest>. ZIP64 is refused
// (ErrZip64): pkg/zipx's strict reader, the one APKs go through, refuses
// it, and a bundle needs ZIP64 only past 4 GiB or 65,535 entries, which
// the bundles TrustFuse fuses do not reach; such bundles cannot be read
// yet.
//
// FORMAT: bundletool's bundle layout
// (https://developer.android.com/guide/app-bundle/app-bundle-format):
//
//	BundleConfig.pb                  bundletool's BundleConfig (protobuf; not read)
//	BUNDLE-METADATA/<namespace>/…    tool metadata (proguard maps, …; not read)
//	META-INF/                        the JAR signature (MANIFEST.MF, *.SF, *.RSA|*.EC)
//	<module>/manifest/AndroidManifest.xml  aapt2 protobuf XML (XmlNode)
//	<module>/dex/classes*.dex        code
//	<module>/lib/<abi>/*.so          native libraries
//	<module>/assets/…  res/…  root/…  resources.pb  assets.pb  native.pb
//
// "base" is the base module; every other top-level folder is a dynamic
// feature module or an asset pack, told apart as bundletool does by the
// manifest's <dist:module dist:type="…"> ("asset-pack", "ml-pack"; absent:
// a feature module).
package aab

import (
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/axml"
	"github.com/trustfuse/trustfuse/pkg/protoxml"
	"github.com/trustfuse/trustfuse/pkg/sniff"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// Names of the bundle's fixed entries and folders.
const (
	BaseModule   = "base"
	ManifestPath = "manifest/AndroidManifest.xml" // inside a module
	ConfigName   = "BundleConfig.pb"
	metadataDir  = "BUNDLE-METADATA"
	metaInfDir   = "META-INF"
)

// maxManifestSize caps a module manifest read into memory.
const maxManifestSize = 16 << 20

// Sentinel errors, wrapped in a *FormatError.
var (
	ErrNotBundle = errors.New("aab: not an Android App Bundle")
	ErrNoBase    = errors.New("aab: bundle has no base module (no base/manifest/AndroidManifest.xml)")
	ErrModule    = errors.New("aab: malformed module")
	ErrManifest  = errors.New("aab: module manifest does not decode")
	ErrZip64     = errors.New("aab: ZIP64 bundle: TrustFuse does not read ZIP64 bundles yet")
)

// FormatError reports a bundle that cannot be used: the entry (if any), its
// offset in the archive, the kind (a sentinel above) and the cause (such as
// the protoxml error of a manifest), both reachable with errors.Is and
// errors.As.
type FormatError struct {
	Offset int64  // byte offset in the archive (the entry's local header), -1 if none
	Entry  string // entry name, "" for bundle-level problems
	Detail string // human-readable detail, may be ""
	Err    error  // one of the Err* sentinels
	Cause  error  // the underlying error, may be nil
}

// Error formats the kind, entry, detail, cause and offset.
func (e *FormatError) Error() string {
	msg := e.Err.Error()
	if e.Entry != "" {
		msg += ": " + e.Entry
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" (entry at offset %d)", e.Offset)
	}
	return msg
}

// Unwrap returns the kind and the cause.
func (e *FormatError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// ModuleType is the kind of a bundle module.
type ModuleType string

// Module types, as bundletool names them in manifests (base is implied by
// the folder name).
const (
	TypeBase      ModuleType = "base"
	TypeFeature   ModuleType = "feature"
	TypeAssetPack ModuleType = "asset-pack"
	TypeMLPack    ModuleType = "ml-pack"
)

// Module is one module of a bundle.
type Module struct {
	Name string
	Type ModuleType
	// Delivery is how Play delivers it: "install-time", "on-demand",
	// "fast-follow", or "" when the manifest does not say (the base module:
	// install-time).
	Delivery string
	// ManifestEntry is <name>/manifest/AndroidManifest.xml.
	ManifestEntry *zipx.Entry
	// ManifestDoc is the decoded manifest, Manifest its summary.
	ManifestDoc *protoxml.Document
	Manifest    *axml.Manifest
	// Dex lists <name>/dex/classes*.dex in load order.
	Dex []*zipx.Entry
	// ABIs lists the ABIs of <name>/lib/<abi>/*.so, sorted.
	ABIs []string
	// Assets counts the files under <name>/assets/.
	Assets int
}

// Bundle is an opened App Bundle.
type Bundle struct {
	Zip     *zipx.Reader
	Modules []*Module // base first, then the others by name
}

// Base returns the base module.
func (b *Bundle) Base() *Module { return b.Modules[0] }

// Module returns the module called name, or nil.
func (b *Bundle) Module(name string) *Module {
	for _, m := range b.Modules {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// NextDexName returns the entry name of the next free classesN.dex of the
// base module (base/dex/classes2.dex after base/dex/classes.dex).
func (b *Bundle) NextDexName() string {
	last := 0
	for _, e := range b.Base().Dex {
		last, _ = apk.DexIndex(strings.TrimPrefix(e.Name, BaseModule+"/dex/"))
	}
	if last == 0 {
		return BaseModule + "/dex/classes.dex"
	}
	return fmt.Sprintf("%s/dex/classes%d.dex", BaseModule, last+1)
}

// NewReader parses the bundle of the given size read from r.
func NewReader(r io.ReaderAt, size int64) (*Bundle, error) {
	z, err := zipx.NewReader(r, size)
	if err != nil {
		return nil, ZipError(err)
	}
	return FromZip(z)
}

// ZipError returns err, an error of pkg/zipx's strict open of a bundle,
// with its ZIP64 refusal (which gives Android's reason for APKs) turned
// into a bundle's *FormatError (ErrZip64): what was found and what to do.
// Other errors are returned unchanged.
func ZipError(err error) error {
	var ze *zipx.FormatError
	if !errors.Is(err, zipx.ErrZip64) || !errors.As(err, &ze) {
		return err
	}
	return &FormatError{Offset: ze.Offset, Entry: ze.Entry, Err: ErrZip64,
		Detail: "found ZIP64 records (" + ze.Detail + "), which a bundle needs only past 4 GiB or 65,535 entries: " +
			"write it without them"}
}

// FromZip reads the bundle held by an already parsed archive.
func FromZip(z *zipx.Reader) (*Bundle, error) {
	f, err := sniff.Detect(z)
	switch {
	case err != nil:
		return nil, &FormatError{Offset: -1, Err: ErrNotBundle, Detail: err.Error()}
	case f == sniff.APK && sniff.BundleMarks(z):
		return nil, &FormatError{Offset: -1, Err: ErrNotBundle,
			Detail: "found both AndroidManifest.xml at the root (an APK) and a bundle's modules: ambiguous, refused"}
	case f != sniff.AAB:
		return nil, &FormatError{Offset: -1, Err: ErrNotBundle, Detail: "found " + sniff.Describe(f)}
	case z.Entry(BaseModule+"/"+ManifestPath) == nil:
		return nil, &FormatError{Offset: -1, Err: ErrNoBase, Detail: "found " + sniff.TopLevel(z)}
	}

	names := moduleNames(z)
	b := &Bundle{Zip: z}
	for _, name := range names {
		m, err := readModule(z, name)
		if err != nil {
			return nil, err
		}
		b.Modules = append(b.Modules, m)
	}
	collectContent(b)
	return b, nil
}

// moduleNames returns the top-level folders that are modules: base first,
// then the others sorted.
func moduleNames(z *zipx.Reader) []string {
	seen := map[string]bool{}
	for _, e := range z.Entries {
		dir, _, ok := strings.Cut(e.Name, "/")
		if !ok || dir == metadataDir || dir == metaInfDir {
			continue
		}
		seen[dir] = true
	}
	var names []string
	for n := range seen {
		if n != BaseModule {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if seen[BaseModule] {
		names = append([]string{BaseModule}, names...)
	}
	return names
}

// readModule reads module name's manifest and classifies it.
func readModule(z *zipx.Reader, name string) (*Module, error) {
	e := z.Entry(name + "/" + ManifestPath)
	if e == nil {
		return nil, &FormatError{Offset: -1, Entry: name + "/", Err: ErrModule,
			Detail: "a module folder without " + ManifestPath + " (bundletool refuses it)"}
	}
	bad := func(err error) error {
		return &FormatError{Offset: e.HeaderOffset, Entry: e.Name, Err: ErrManifest, Cause: err}
	}
	data, err := e.ReadAll(maxManifestSize)
	if err != nil {
		return nil, bad(err)
	}
	doc, err := protoxml.Decode(data)
	if err != nil {
		return nil, bad(err)
	}
	man, err := protoxml.ParseManifest(doc)
	if err != nil {
		return nil, bad(err)
	}
	m := &Module{Name: name, Type: TypeBase, ManifestEntry: e, ManifestDoc: doc, Manifest: man}
	dist, _, err := protoxml.ReadModule(doc)
	if err != nil {
		return nil, bad(err)
	}
	m.Delivery = dist.Delivery
	if name != BaseModule {
		switch dist.Type {
		case "", string(TypeFeature):
			m.Type = TypeFeature
		default:
			m.Type = ModuleType(dist.Type)
		}
	}
	return m, nil
}

// collectContent fills every module's dex list, ABIs and asset count.
func collectContent(b *Bundle) {
	abis := map[*Module]map[string]bool{}
	for _, e := range b.Zip.Entries {
		mod, rest, ok := strings.Cut(e.Name, "/")
		m := b.Module(mod)
		if !ok || m == nil || strings.HasSuffix(rest, "/") {
			continue
		}
		switch {
		case strings.HasPrefix(rest, "dex/"):
			if _, ok := apk.DexIndex(strings.TrimPrefix(rest, "dex/")); ok {
				m.Dex = append(m.Dex, e)
			}
		case strings.HasPrefix(rest, "lib/") && strings.HasSuffix(rest, ".so"):
			if parts := strings.Split(rest, "/"); len(parts) == 3 {
				if abis[m] == nil {
					abis[m] = map[string]bool{}
				}
				abis[m][parts[1]] = true
			}
		case strings.HasPrefix(rest, "assets/"):
			m.Assets++
		}
	}
	for _, m := range b.Modules {
		sort.SliceStable(m.Dex, func(i, j int) bool {
			x, _ := apk.DexIndex(path.Base(m.Dex[i].Name))
			y, _ := apk.DexIndex(path.Base(m.Dex[j].Name))
			return x < y
		})
		for abi := range abis[m] {
			m.ABIs = append(m.ABIs, abi)
		}
		sort.Strings(m.ABIs)
	}
}

// File is a Bundle read from a file. Close it when done.
type File struct {
	*Bundle
	Path string
	f    *zipx.File
}

// Open opens and parses the bundle at path.
func Open(path string) (*File, error) {
	z, err := zipx.Open(path)
	if err != nil {
		return nil, ZipError(err)
	}
	b, err := FromZip(z.Reader)
	if err != nil {
		z.Close()
		return nil, err
	}
	return &File{Bundle: b, Path: path, f: z}, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// FileSHA256 returns the hex SHA-256 of the whole file.
func (b *Bundle) FileSHA256() (string, error) { return b.Zip.FileSHA256() }
