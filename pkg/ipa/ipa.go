// Package ipa models an iOS app archive (.ipa) as TrustFuse needs it to
// inspect, re-sign and verify it: the strictly parsed archive (pkg/zipx),
// the app bundle under Payload/, its nested code and, per bundle, the
// Info.plist, the executable's Mach-O slices (pkg/macho), the current code
// signature (pkg/codesign) and the embedded provisioning profile
// (pkg/provision).
//
// FORMAT: an IPA is a ZIP archive holding exactly one app bundle:
//
//	Payload/<X>.app/Info.plist                   binary or XML plist
//	Payload/<X>.app/<CFBundleExecutable>         Mach-O, thin or fat
//	Payload/<X>.app/_CodeSignature/CodeResources the bundle's resource seal
//	Payload/<X>.app/embedded.mobileprovision     the profile it was signed with
//	Payload/<X>.app/Frameworks/<Y>.framework/    nested bundles (shallow: Info.plist at the root)
//	Payload/<X>.app/Frameworks/<y>.dylib         loose dylibs, signed as code of their own
//	Payload/<X>.app/PlugIns/<Z>.appex/           app extensions (own id and profile)
//	Payload/<X>.app/Watch/<W>.app/               a watch app (arm64_32), with its own nesting
//	Payload/<X>.app/AppClips/<C>.app/            an App Clip
//	SwiftSupport/, Symbols/, iTunesMetadata.plist, …  outside Payload/: kept as they are
//
// Nested bundles hold nested code of their own (an extension's Frameworks/);
// every code item is signed before the bundle that seals it, so Bundles is
// ordered deepest first, the app last.
//
// What is refused, and why (a *FormatError wrapping ErrMalformed, exit 2,
// naming the bundle): an archive without exactly one Payload/<X>.app/, or
// with anything else in Payload/ (the installer takes the one app); a bundle
// whose Info.plist is missing, larger than maxInfoPlist or unparsable, or
// has no CFBundleIdentifier or CFBundleExecutable; an executable that is
// missing or not Mach-O; a symlink whose target leaves the app bundle (a
// signed app could then read or seal files outside itself); an embedded
// profile that does not parse. Archive-level problems (overlaps, unsafe
// names, lying sizes) are pkg/zipx's *FormatError. A FairPlay-encrypted
// executable (an App Store download) opens, with Bundle.Encrypted set, so
// inspect can say so; Sign and Verify refuse it (macho.ErrEncrypted).
//
// Memory: Open holds the central directory, each Info.plist and profile,
// and the Mach-O load commands. A deflated executable is inflated once, to
// a temporary file (see spool) that Sign and Verify read again; Close
// deletes it.
package ipa

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/trustfuse/trustfuse/internal/cms"
	"github.com/trustfuse/trustfuse/internal/plistx"
	"github.com/trustfuse/trustfuse/pkg/codesign"
	"github.com/trustfuse/trustfuse/pkg/macho"
	"github.com/trustfuse/trustfuse/pkg/provision"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// Names inside a bundle.
const (
	payloadDir       = "Payload/"
	infoPlistName    = "Info.plist"
	profileName      = "embedded.mobileprovision"
	codeSignatureDir = "_CodeSignature/"
	codeResources    = codeSignatureDir + "CodeResources"
)

// Size caps for what is read into memory.
const (
	maxInfoPlist = 8 << 20  // Info.plist (large apps have ~100 KiB)
	maxProfile   = 1 << 20  // embedded.mobileprovision (~10 KiB)
	maxSymlink   = 4 << 10  // a symlink entry's target
	maxResources = 64 << 20 // an existing CodeResources
)

// Errors. Verification failures wrap ErrVerify (exit 3); malformed input is
// a *FormatError wrapping ErrMalformed (exit 2).
var (
	ErrMalformed = errors.New("ipa: malformed IPA")
	ErrVerify    = errors.New("ipa: signature does not verify")
	// ErrIdentity reports a signing identity that cannot sign iOS code
	// (no team id, not valid now).
	ErrIdentity = errors.New("ipa: signing identity cannot sign iOS code")
)

// FormatError reports an IPA that cannot be used: the bundle or entry, what
// is wrong, and the cause (a pkg/zipx, pkg/macho, pkg/provision or plist
// error, reachable with errors.Is and errors.As).
type FormatError struct {
	Path   string // bundle dir or entry name, "" for archive-level problems
	Detail string
	Err    error // the cause, may be nil
}

// Error formats the path, the detail and the cause.
func (e *FormatError) Error() string {
	msg := ErrMalformed.Error()
	if e.Path != "" {
		msg += ": " + e.Path
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns ErrMalformed and the cause.
func (e *FormatError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrMalformed}
	}
	return []error{ErrMalformed, e.Err}
}

func formatErr(p string, cause error, format string, args ...any) *FormatError {
	return &FormatError{Path: p, Detail: fmt.Sprintf(format, args...), Err: cause}
}

// Kind is what a code item is.
type Kind int

// Kinds of code items.
const (
	KindApp          Kind = iota // Payload/<X>.app
	KindFramework                // Frameworks/<Y>.framework
	KindDylib                    // Frameworks/<y>.dylib (a loose Mach-O, no Info.plist)
	KindAppExtension             // PlugIns/<Z>.appex
	KindWatchApp                 // Watch/<W>.app
	KindAppClip                  // AppClips/<C>.app
)

var kindNames = [...]string{"app", "framework", "dylib", "appex", "watch-app", "app-clip"}

// String is the kind's JSON name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// MarshalText encodes the kind as its String, for JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// nestedDirs are where a bundle holds nested code, and what each holds.
var nestedDirs = []struct {
	dir, ext string
	kind     Kind
}{
	{"Frameworks/", ".framework", KindFramework},
	{"Frameworks/", ".dylib", KindDylib},
	{"PlugIns/", ".appex", KindAppExtension},
	{"Watch/", ".app", KindWatchApp},
	{"AppClips/", ".app", KindAppClip},
}

// IPA is an opened app archive.
type IPA struct {
	Zip *zipx.Reader
	App *Bundle // Payload/<X>.app
	// Bundles holds every code item in signing order: deepest first, App
	// last.
	Bundles []*Bundle

	digests *digestJob        // the app's files, digested in the background
	known   map[string]digest // digests known before opening, by entry name (withAdded)
}

// Bundle is one code item: a bundle directory or a loose dylib.
type Bundle struct {
	Dir  string // "Payload/Demo.app/Frameworks/DemoKit.framework/"; a loose dylib: its entry name
	Kind Kind
	// From Info.plist (a dylib: ID is its file name without extension, as
	// codesign names it; the rest is empty).
	ID           string // CFBundleIdentifier
	Name         string // CFBundleName
	Version      string // CFBundleVersion
	ShortVersion string // CFBundleShortVersionString
	MinOS        string // MinimumOSVersion
	Executable   string // entry name of the executable
	Arches       []string
	Encrypted    bool // a FairPlay-encrypted slice (cryptid ≠ 0)
	Signed       bool // every slice has LC_CODE_SIGNATURE
	// From the current signature's first slice, if any.
	TeamID       string
	Entitlements map[string]any
	Signer       *x509.Certificate  // CMS signer leaf (nil: unsigned or ad hoc)
	Profile      *provision.Profile // embedded.mobileprovision, if any

	parent     *Bundle       // the bundle sealing this one (nil for the app)
	info       []byte        // Info.plist bytes
	profileDER []byte        // embedded.mobileprovision bytes
	files      []*zipx.Entry // every file under Dir, nested code's included (iOS seals them file by file)
	exec       *zipx.Entry
	symlinks   map[string]string // entry name → target
	src        io.ReaderAt       // the executable's content: in place if stored, else spool
	spool      *spool
}

// Loose reports whether b is a loose Mach-O (a dylib) rather than a bundle
// directory.
func (b *Bundle) Loose() bool { return b.Kind == KindDylib }

// entry returns the bundle's file at rel, or nil.
func (b *Bundle) entry(rel string) *zipx.Entry {
	for _, e := range b.files {
		if e.Name == b.Dir+rel {
			return e
		}
	}
	return nil
}

// rel returns name relative to the bundle dir.
func (b *Bundle) rel(name string) string { return strings.TrimPrefix(name, b.Dir) }

// Close stops the background digesting of the app's files (see
// digestJob) and deletes the temporary files holding inflated executables
// (see spool). The archive's reader is the caller's to close.
func (a *IPA) Close() error {
	a.stopDigests()
	var errs []error
	for _, b := range a.Bundles {
		if b.spool != nil {
			errs = append(errs, b.spool.close())
		}
	}
	return errors.Join(errs...)
}

// File is an IPA opened from a file; Close closes it.
type File struct {
	*IPA
	f *zipx.File
}

// Close deletes the IPA's temporary files and closes the archive.
func (f *File) Close() error { return errors.Join(f.IPA.Close(), f.f.Close()) }

// Open opens and parses the IPA at path (ZIP64 allowed: large games pass
// 4 GiB).
func Open(name string) (*File, error) {
	zf, err := zipx.OpenZip64(name)
	if err != nil {
		return nil, err
	}
	a, err := FromZip(zf.Reader)
	if err != nil {
		zf.Close()
		return nil, err
	}
	return &File{IPA: a, f: zf}, nil
}

// FromZip finds the app bundle in z (opened with zipx.NewReaderZip64 to
// allow ZIP64) and parses it with its nested code. Close the IPA when done.
func FromZip(z *zipx.Reader) (*IPA, error) { return fromZip(z, nil) }

// fromZip is FromZip with the digests of entries already known by name
// (their content is the same): the background job hashes only the others.
func fromZip(z *zipx.Reader, known map[string]digest) (*IPA, error) {
	var apps []string
	for _, e := range z.Entries {
		rest, ok := strings.CutPrefix(e.Name, payloadDir)
		if !ok || rest == "" {
			continue
		}
		first, _, isDir := strings.Cut(rest, "/")
		if !isDir || !strings.HasSuffix(first, ".app") {
			return nil, formatErr(e.Name, nil, "not inside the app bundle: Payload/ holds exactly one <name>.app/ folder")
		}
		if !slices.Contains(apps, first) {
			apps = append(apps, first)
		}
	}
	switch len(apps) {
	case 0:
		return nil, formatErr("", nil, "no Payload/<name>.app/ folder: not an IPA")
	case 1:
	default:
		return nil, formatErr(payloadDir, nil, "%d app bundles (%s): an IPA holds exactly one", len(apps), strings.Join(apps, ", "))
	}
	a := &IPA{Zip: z, known: known}
	app, err := a.scan(payloadDir+apps[0]+"/", KindApp, nil)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.App = app
	return a, nil
}

// infoPlist holds the Info.plist keys read.
type infoPlist struct {
	ID           string `plist:"CFBundleIdentifier"`
	Name         string `plist:"CFBundleName"`
	Executable   string `plist:"CFBundleExecutable"`
	Version      string `plist:"CFBundleVersion"`
	ShortVersion string `plist:"CFBundleShortVersionString"`
	MinOS        string `plist:"MinimumOSVersion"`
}

// scan parses the code item at dir (a bundle dir ending in "/", or a dylib
// entry name), then its nested code, and appends them to a.Bundles deepest
// first.
func (a *IPA) scan(dir string, kind Kind, parent *Bundle) (_ *Bundle, err error) {
	b := &Bundle{Dir: dir, Kind: kind, parent: parent, symlinks: map[string]string{}}
	defer func() {
		if err != nil && b.spool != nil { // not in a.Bundles yet: Close would miss it
			b.spool.close()
		}
	}()
	if kind == KindDylib {
		b.ID = strings.TrimSuffix(path.Base(dir), path.Ext(dir))
		b.exec = a.Zip.Entry(dir)
		if err := b.readExecutable(); err != nil {
			return nil, err
		}
		a.Bundles = append(a.Bundles, b)
		return b, nil
	}
	if err := b.readInfo(a.Zip); err != nil {
		return nil, err
	}
	type item struct {
		dir  string
		kind Kind
	}
	var nested []item
	for _, e := range a.Zip.Entries {
		rel, ok := strings.CutPrefix(e.Name, dir)
		if !ok || rel == "" {
			continue
		}
		if n, k, ok := nestedItem(rel); ok && !slices.Contains(nested, item{dir + n, k}) {
			nested = append(nested, item{dir + n, k})
		}
		if e.IsDir() {
			continue
		}
		if isSymlink(e) {
			target, err := e.ReadAll(maxSymlink)
			if err != nil {
				return nil, formatErr(e.Name, err, "symlink")
			}
			t := string(target)
			if path.IsAbs(t) || !strings.HasPrefix(path.Join(path.Dir(e.Name), t)+"/", a.appDir(b)) {
				return nil, formatErr(e.Name, nil, "symlink to %q leaves the app bundle", t)
			}
			b.symlinks[e.Name] = t
		}
		b.files = append(b.files, e)
	}
	if kind == KindApp {
		// Every file of the app but its executable, nested code's included.
		a.startDigests(slices.DeleteFunc(slices.Clone(b.files), func(e *zipx.Entry) bool { return e == b.exec }))
	}
	slices.SortFunc(nested, func(x, y item) int {
		if x.kind != y.kind {
			return int(x.kind) - int(y.kind)
		}
		return strings.Compare(x.dir, y.dir)
	})
	for _, n := range nested {
		if _, err := a.scan(n.dir, n.kind, b); err != nil {
			return nil, err
		}
	}
	if err := b.readExecutable(); err != nil {
		return nil, err
	}
	if e := a.Zip.Entry(dir + profileName); e != nil {
		der, err := e.ReadAll(maxProfile)
		if err == nil {
			b.Profile, err = provision.Parse(der)
		}
		if err != nil {
			return nil, formatErr(e.Name, err, "embedded profile")
		}
		b.profileDER = der
	}
	a.Bundles = append(a.Bundles, b)
	return b, nil
}

// appDir is the app bundle's dir, the root symlinks must stay in.
func (a *IPA) appDir(b *Bundle) string {
	for b.parent != nil {
		b = b.parent
	}
	return b.Dir
}

// nestedItem reports whether rel (relative to a bundle dir) lies in nested
// code, and returns that item's path relative to the bundle ("Frameworks/
// X.framework/" or "Frameworks/x.dylib") and kind.
func nestedItem(rel string) (string, Kind, bool) {
	for _, d := range nestedDirs {
		rest, ok := strings.CutPrefix(rel, d.dir)
		if !ok {
			continue
		}
		name, _, isDir := strings.Cut(rest, "/")
		if !strings.HasSuffix(name, d.ext) || len(name) == len(d.ext) {
			continue
		}
		if d.kind == KindDylib {
			if !isDir {
				return d.dir + name, d.kind, true
			}
			continue
		}
		if isDir {
			return d.dir + name + "/", d.kind, true
		}
	}
	return "", 0, false
}

// isSymlink reports whether e is a Unix symlink (S_IFLNK in the external
// attributes' high half, made on Unix).
func isSymlink(e *zipx.Entry) bool {
	return e.CreatorVersion>>8 == 3 && (e.ExternalAttrs>>16)&0o170000 == 0o120000
}

// readInfo reads and parses the bundle's Info.plist.
func (b *Bundle) readInfo(z *zipx.Reader) error {
	e := z.Entry(b.Dir + infoPlistName)
	if e == nil {
		return formatErr(b.Dir, nil, "no Info.plist")
	}
	data, err := e.ReadAll(maxInfoPlist)
	if err != nil {
		return formatErr(e.Name, err, "reading")
	}
	var p infoPlist
	if err := plistx.Unmarshal(data, &p, maxInfoPlist); err != nil {
		return formatErr(e.Name, err, "not a usable plist")
	}
	switch {
	case p.ID == "":
		return formatErr(e.Name, nil, "no CFBundleIdentifier")
	case p.Executable == "":
		return formatErr(e.Name, nil, "no CFBundleExecutable")
	case strings.Contains(p.Executable, "/") || p.Executable == "." || p.Executable == "..":
		return formatErr(e.Name, nil, "CFBundleExecutable %q is not a file name", p.Executable)
	}
	b.info = data
	b.ID, b.Name, b.Version, b.ShortVersion, b.MinOS = p.ID, p.Name, p.Version, p.ShortVersion, p.MinOS
	b.Executable = b.Dir + p.Executable
	if b.exec = z.Entry(b.Executable); b.exec == nil {
		return formatErr(b.Dir, nil, "CFBundleExecutable %s is not in the bundle", p.Executable)
	}
	return nil
}

// readExecutable reads the executable's Mach-O headers and current
// signature. An encrypted executable only sets Encrypted.
func (b *Bundle) readExecutable() error {
	if b.Loose() {
		b.Executable = b.Dir
	}
	if b.exec == nil || b.exec.IsDir() {
		return formatErr(b.Dir, nil, "no executable")
	}
	if b.exec.Stored() {
		b.src = b.exec.OpenRaw()
	} else {
		b.spool = &spool{e: b.exec}
		b.src = b.spool
	}
	f, err := macho.NewReader(b.src, int64(b.exec.UncompressedSize))
	if errors.Is(err, macho.ErrEncrypted) {
		b.Encrypted = true
		return nil
	}
	if err != nil {
		return formatErr(b.Executable, err, "executable")
	}
	b.Signed = true
	for _, s := range f.Slices {
		b.Arches = append(b.Arches, s.Arch())
		b.Signed = b.Signed && s.Signed()
	}
	if !f.Slices[0].Signed() {
		return nil
	}
	b.readSignature(f.Slices[0])
	return nil
}

// readSignature fills TeamID, Entitlements and Signer from the slice's
// current signature. What it cannot read (a SHA-1-only signature of an
// older app, a damaged blob) stays empty: Sign replaces the signature
// anyway, and Verify reports the problem.
func (b *Bundle) readSignature(s *macho.Slice) {
	raw, err := s.Signature()
	if err != nil {
		return
	}
	sig, err := codesign.Parse(raw)
	if err != nil {
		return
	}
	b.TeamID = sig.CodeDirectories[0].TeamID
	if len(sig.Entitlements) > 8 {
		var ents map[string]any
		if err := plistx.Unmarshal(sig.Entitlements[8:], &ents, codesign.MaxEntitlementsSize); err == nil {
			b.Entitlements = ents
		}
	}
	if len(sig.CMS) > 0 {
		if sd, err := cms.Parse(sig.CMS); err == nil {
			b.Signer = sd.Signer
		}
	}
}

// spool makes a deflated ZIP entry readable at any offset: the inflated
// bytes are appended to a temporary file as reads reach them, so an
// executable is inflated once however often and in whatever order it is
// read (debug/macho reads the symbol table at the end, signing and
// verifying read from the start). It holds one inflater, never the entry.
type spool struct {
	e  *zipx.Entry
	mu sync.Mutex
	f  *os.File
	rc io.ReadCloser
	n  int64 // bytes in f
}

// ReadAt implements io.ReaderAt.
func (s *spool) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	err := s.fill(off + int64(len(p)))
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return s.f.ReadAt(p, off)
}

// fill inflates the entry into the file up to end (at least 1 MiB more
// per call, to keep writes large), and checks its CRC-32 once all is in.
func (s *spool) fill(end int64) error {
	size := int64(s.e.UncompressedSize)
	end = min(max(end, s.n+1<<20), size)
	if s.n >= end {
		return nil
	}
	if s.f == nil {
		f, err := os.CreateTemp("", "trustfuse-ipa-")
		if err != nil {
			return err
		}
		s.f, s.rc = f, s.e.Open()
	}
	m, err := io.CopyN(s.f, s.rc, end-s.n)
	s.n += m
	if err == nil && s.n == size {
		_, err = io.Copy(io.Discard, s.rc) // reads the end: size and CRC-32 checks
	}
	if err != nil {
		return fmt.Errorf("ipa: %s: %w", s.e.Name, err)
	}
	return nil
}

// close releases the inflater and deletes the file.
func (s *spool) close() error {
	if s.f == nil {
		return nil
	}
	s.rc.Close()
	err := s.f.Close()
	if rerr := os.Remove(s.f.Name()); err == nil {
		err = rerr
	}
	s.f = nil
	return err
}
