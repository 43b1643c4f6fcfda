package ipa

import (
	"bufio"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"howett.net/plist"

	"github.com/trustfuse/trustfuse/internal/plistx"
	"github.com/trustfuse/trustfuse/pkg/codesign"
	"github.com/trustfuse/trustfuse/pkg/macho"
	"github.com/trustfuse/trustfuse/pkg/provision"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// SignOptions are the inputs of Sign.
type SignOptions struct {
	// Signer and Chain (leaf first, then the WWDR intermediate when known,
	// as keys.Signer.Chain) make the CMS signatures; nil with AdHoc.
	Signer crypto.Signer
	Chain  []*x509.Certificate
	// AdHoc signs without CMS, requirements or profile (simulators, tests).
	AdHoc bool
	// Profiles maps a bundle id to the profile DER to embed; key "" is the
	// main app's. A bundle without one keeps its embedded profile if that
	// allows the new signer, else Sign fails with a *provision.ProfileError.
	Profiles map[string][]byte
	// Entitlements is an XML plist replacing the main app's entitlements;
	// nil: each bundle gets its profile's Entitlements, as zsign and
	// fastlane resign do.
	Entitlements []byte
	// Roots checks the profiles' chains (nil: unchecked, as reported by
	// provision.Result).
	Roots *x509.CertPool
	// Time is the signing time written into the CMS signatures and the
	// archive's new entries (SOURCE_DATE_EPOCH); zero: time.Now().
	Time time.Time
	// Now is the clock the profiles' validity is checked at; zero:
	// time.Now(). It is not Time: a device checks the profile when it
	// installs the app, whatever date a reproducible build stamps.
	Now time.Time
	// Add holds files to add to the app before signing, keyed by path
	// relative to the app directory (Frameworks/X.framework/X,
	// Frameworks/X.framework/Info.plist, …). The code items they form are
	// signed like the input's, deepest first: a framework as nested code
	// the app seals. A path the app already has is refused.
	Add map[string][]byte
	// Link, if set, adds a dynamic library to every slice of the app's
	// main executable before it is signed (macho.File.AddLink): a
	// *FormatError wrapping macho.ErrNoRoom when its header padding is
	// too small.
	Link *macho.Link
}

// SignResult says what Sign did, per code item in signing order.
type SignResult struct {
	// SigningTime is the time written into the CMS signatures: Time, moved
	// into the signing certificate's validity when it lies outside it.
	SigningTime time.Time      `json:"signingTime"`
	Bundles     []SignedBundle `json:"bundles"`
}

// SignedBundle is one signed code item.
type SignedBundle struct {
	Dir          string   `json:"dir"`
	ID           string   `json:"id"`
	Kind         Kind     `json:"kind"`
	CDHash       string   `json:"cdhash"` // hex; the sealed slice's (sealedSlice) truncated cdhash
	TeamID       string   `json:"teamId,omitempty"`
	ProfileUUID  string   `json:"profileUuid,omitempty"`
	ProfileName  string   `json:"profileName,omitempty"`
	Entitlements []string `json:"entitlements,omitempty"` // keys
}

// reasonNoProfile is the ProfileError reason of a bundle Sign has no
// profile for.
const reasonNoProfile provision.Reason = "no-profile"

// newEntry is an entry Sign writes that is not a raw copy: a signed
// executable (spooled to a temporary file) or a small generated file.
type newEntry struct {
	name   string
	method uint16
	data   []byte   // CodeResources, embedded.mobileprovision
	file   *os.File // a signed executable
	size   int64
	dg     digest
}

// job is the signing of one code item.
type job struct {
	b          *Bundle
	profileDER []byte // nil: no profile embedded (dylibs, frameworks, ad hoc)
	profile    *provision.Profile
	ents       []byte // entitlements XML (nil: none)
	entsDER    []byte
	entKeys    []string
	out        []*newEntry // written at the executable's place: executable, CodeResources, profile
	cdhash     []byte
	req        string // designated requirement text
}

// signing is one Sign call.
type signing struct {
	in      *IPA
	o       SignOptions
	leaf    *x509.Certificate
	team    string
	jobs    []*job
	dropped map[string]bool // input entries not copied: executables, old seals, replaced profiles
	hashes  map[*zipx.Entry]digest
	tmp     string
}

// Sign writes in, re-signed, to out: every code item deepest first (its
// executable's slices get a new embedded signature; a bundle gets a new
// _CodeSignature/CodeResources and, unless ad hoc, its profile as
// embedded.mobileprovision), the app last. Entries that do not change are
// copied raw, in their order; new entries take the place of the
// executable they belong to. Profiles, entitlements and encryption are
// checked for every bundle before the first byte is written; a later error
// leaves out partial (write to a temporary file and rename it, as
// internal/atomicfile does).
//
// Memory: resources are hashed as they stream out of the archive (SHA-1
// and SHA-256 in one pass, on all cores, while the executables finish
// inflating to Open's temporary files); a Mach-O is signed from its file
// page by page (codesign.Params.CodeReader) into another temporary file
// that streams into the archive. Only load commands, CodeResources and
// signatures are held.
func Sign(out io.Writer, in *IPA, o SignOptions) (*SignResult, error) {
	if len(o.Add) > 0 {
		dir, err := os.MkdirTemp("", "trustfuse-ipa-add-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		added, err := withAdded(in, o.Add, o, dir)
		if err != nil {
			return nil, err
		}
		defer added.Close()
		o.Add = nil
		in = added.IPA
	}
	s, err := newSigning(in, o)
	if err != nil {
		return nil, err
	}
	s.tmp, err = os.MkdirTemp("", "trustfuse-ipa-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(s.tmp)
	defer s.closeFiles()

	hashed := make(chan error, 1)
	go func() { hashed <- s.hashResources() }()
	inflateErr := s.inflateExecutables()
	if err := <-hashed; err != nil {
		return nil, err
	}
	if inflateErr != nil {
		return nil, inflateErr
	}
	for _, j := range s.jobs {
		if err := s.signJob(j); err != nil {
			return nil, err
		}
	}
	if err := s.write(out); err != nil {
		return nil, err
	}
	res := &SignResult{SigningTime: s.o.Time.UTC()}
	for _, j := range s.jobs {
		sb := SignedBundle{Dir: j.b.Dir, ID: j.b.ID, Kind: j.b.Kind, CDHash: hex.EncodeToString(j.cdhash), TeamID: s.team, Entitlements: j.entKeys}
		if j.profile != nil {
			sb.ProfileUUID, sb.ProfileName = j.profile.UUID, j.profile.Name
		}
		res.Bundles = append(res.Bundles, sb)
	}
	return res, nil
}

// newSigning checks the options and, per bundle, encryption, the profile
// and the entitlements: everything that can refuse the input before a
// byte is written.
func newSigning(in *IPA, o SignOptions) (*signing, error) {
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	s := &signing{in: in, o: o, dropped: map[string]bool{}}
	if !o.AdHoc {
		if o.Signer == nil || len(o.Chain) == 0 {
			return nil, errors.New("ipa: sign: a signer and its certificate chain are required unless ad hoc")
		}
		s.leaf = o.Chain[0]
		if len(s.leaf.Subject.OrganizationalUnit) == 0 {
			return nil, fmt.Errorf("%w: certificate %q has no OU (team id): not an Apple signing certificate", ErrIdentity, s.leaf.Subject.CommonName)
		}
		s.team = s.leaf.Subject.OrganizationalUnit[0]
		if o.Now.After(s.leaf.NotAfter) || o.Now.Before(s.leaf.NotBefore) {
			return nil, fmt.Errorf("%w: certificate %q is valid from %s to %s, not now (%s), as codesign also refuses",
				ErrIdentity, s.leaf.Subject.CommonName, s.leaf.NotBefore.UTC().Format(time.RFC3339), s.leaf.NotAfter.UTC().Format(time.RFC3339), o.Now.UTC().Format(time.RFC3339))
		}
		// A signing time outside the certificate's validity makes a
		// signature no verifier accepts; a reproducible build's
		// SOURCE_DATE_EPOCH often predates the certificate, so the
		// signing time moves to the nearest moment the certificate
		// covers (still a function of the inputs alone).
		switch {
		case o.Time.Before(s.leaf.NotBefore):
			s.o.Time = s.leaf.NotBefore
		case o.Time.After(s.leaf.NotAfter):
			s.o.Time = s.leaf.NotAfter
		}
	}
	for _, b := range in.Bundles {
		if b.Encrypted {
			return nil, formatErr(b.Executable, macho.ErrEncrypted, "cannot re-sign")
		}
	}
	used := map[string]bool{}
	for _, b := range in.Bundles {
		j := &job{b: b}
		if err := s.pickProfile(j, used); err != nil {
			return nil, err
		}
		if err := s.pickEntitlements(j); err != nil {
			return nil, err
		}
		s.jobs = append(s.jobs, j)
		s.dropped[b.Executable] = true
		if !b.Loose() {
			for _, e := range b.files {
				if strings.HasPrefix(e.Name, b.Dir+codeSignatureDir) {
					s.dropped[e.Name] = true
				}
			}
			if j.profileDER != nil {
				s.dropped[b.Dir+profileName] = true
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(o.Profiles)) {
		switch {
		case o.AdHoc || used[id]:
		case id == "":
			return nil, &provision.ProfileError{Bundle: in.App.ID, Reason: provision.ReasonBundleID, Detail: "two profiles for the app: the default one and one given for its bundle id"}
		default:
			return nil, &provision.ProfileError{Bundle: id, Reason: provision.ReasonBundleID, Detail: "a profile was given for this bundle id, but no bundle in the IPA has it"}
		}
	}
	return s, nil
}

// signsWithProfile reports whether b's kind carries a profile and
// entitlements (executables that run as apps or extensions).
func signsWithProfile(b *Bundle) bool {
	return b.Kind == KindApp || b.Kind == KindAppExtension || b.Kind == KindWatchApp || b.Kind == KindAppClip
}

// pickProfile chooses j's profile: the one given for its bundle id (""
// for the app), else the embedded one.
func (s *signing) pickProfile(j *job, used map[string]bool) error {
	b := j.b
	if s.o.AdHoc || !signsWithProfile(b) {
		return nil
	}
	der, ok := s.o.Profiles[b.ID]
	if ok {
		used[b.ID] = true
	} else if b == s.in.App {
		if der, ok = s.o.Profiles[""]; ok {
			used[""] = true
		}
	}
	switch {
	case ok:
		p, err := provision.Parse(der)
		if err != nil {
			return fmt.Errorf("ipa: %s: profile for %s: %w", b.Dir, b.ID, err)
		}
		j.profile, j.profileDER = p, der
	case b.Profile != nil:
		j.profile, j.profileDER = b.Profile, b.profileDER
	default:
		return &provision.ProfileError{Bundle: b.ID, Reason: reasonNoProfile, Detail: fmt.Sprintf("%s has no embedded.mobileprovision and none was given for %s", b.Dir, b.ID)}
	}
	return nil
}

// pickEntitlements sets j's entitlements (the app: SignOptions.Entitlements
// when given; else the profile's) and checks them against the profile.
func (s *signing) pickEntitlements(j *job) error {
	b := j.b
	var ents map[string]any
	switch {
	case !signsWithProfile(b):
		return nil
	case b == s.in.App && s.o.Entitlements != nil:
		if err := plistx.Unmarshal(s.o.Entitlements, &ents, codesign.MaxEntitlementsSize); err != nil {
			return &FormatError{Path: b.Dir, Detail: "entitlements plist", Err: err}
		}
		j.ents = s.o.Entitlements
	case j.profile != nil:
		ents = j.profile.Entitlements
		xml, err := plist.MarshalIndent(ents, plist.XMLFormat, "\t")
		if err != nil {
			return fmt.Errorf("ipa: %s: profile entitlements: %w", b.Dir, err)
		}
		j.ents = xml
	default:
		return nil
	}
	der, err := codesign.EntitlementsDER(j.ents)
	if err != nil {
		return &FormatError{Path: b.Dir, Detail: "entitlements", Err: err}
	}
	j.entsDER = der
	j.entKeys = slices.Sorted(maps.Keys(ents))
	if j.profile == nil {
		return nil
	}
	if _, err := j.profile.Check(provision.CheckOptions{BundleID: b.ID, Certificate: s.leaf, Entitlements: ents, Now: s.o.Now, Roots: s.o.Roots}); err != nil {
		return fmt.Errorf("ipa: %s: %w", b.Dir, err)
	}
	return nil
}

// hashResources computes the digests of every input entry a
// CodeResources seals and Sign copies unchanged.
func (s *signing) hashResources() error {
	var todo []*zipx.Entry
	for _, e := range s.in.App.files {
		if _, link := s.in.App.symlinks[e.Name]; !link && !s.dropped[e.Name] {
			todo = append(todo, e)
		}
	}
	var err error
	s.hashes, err = s.in.digestsOf(todo)
	return err
}

// inflateExecutables finishes inflating every deflated executable to its
// temporary file (Open has inflated what the Mach-O headers needed).
func (s *signing) inflateExecutables() error {
	for _, j := range s.jobs {
		if sp := j.b.spool; sp != nil {
			sp.mu.Lock()
			err := sp.fill(int64(j.b.exec.UncompressedSize))
			sp.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// closeFiles closes the signed executables' temporary files (RemoveAll
// deletes them).
func (s *signing) closeFiles() {
	for _, j := range s.jobs {
		for _, ne := range j.out {
			if ne.file != nil {
				ne.file.Close()
			}
		}
	}
}

// signJob seals j's bundle (CodeResources over its files, nested code
// already signed) and signs its executable.
func (s *signing) signJob(j *job) error {
	b := j.b
	var codeRes []byte
	if !b.Loose() {
		var err error
		if codeRes, err = codesign.BuildCodeResources(s.resources(j)); err != nil {
			return fmt.Errorf("ipa: %s: CodeResources: %w", b.Dir, err)
		}
	}
	exe, err := s.signExecutable(j, codeRes)
	if err != nil {
		return err
	}
	j.out = append(j.out, exe)
	if codeRes != nil {
		j.out = append(j.out, smallEntry(b.Dir+codeResources, codeRes))
	}
	if j.profileDER != nil {
		j.out = append(j.out, smallEntry(b.Dir+profileName, j.profileDER))
	}
	j.req = codesign.DesignatedRequirementText(b.ID, s.leaf, j.cdhash)
	return nil
}

func smallEntry(name string, data []byte) *newEntry {
	h1, h2 := sha1.Sum(data), sha256.Sum256(data)
	return &newEntry{name: name, method: zipx.Deflate, data: data, size: int64(len(data)), dg: digest{h1[:], h2[:]}}
}

// resources lists what j's CodeResources seals: every file under the
// bundle except its own executable and _CodeSignature/, with the new bytes
// of nested code (signed before j) and of j's profile.
func (s *signing) resources(j *job) []codesign.ResourceFile {
	b := j.b
	var files []codesign.ResourceFile
	for _, e := range b.files {
		if s.dropped[e.Name] {
			continue
		}
		rf := codesign.ResourceFile{Path: b.rel(e.Name)}
		if t, ok := b.symlinks[e.Name]; ok {
			rf.Symlink = t
		} else {
			dg := s.hashes[e]
			rf.SHA1, rf.SHA256 = dg.sha1, dg.sha256
		}
		files = append(files, rf)
	}
	for _, n := range s.jobs {
		if n == j || !strings.HasPrefix(n.b.Dir, b.Dir) {
			continue
		}
		nested := &codesign.NestedCode{CDHash: n.cdhash, Requirement: n.req}
		if !n.b.Loose() {
			files = append(files, codesign.ResourceFile{Path: strings.TrimSuffix(b.rel(n.b.Dir), "/"), Nested: nested})
		}
		for _, ne := range n.out {
			rf := codesign.ResourceFile{Path: b.rel(ne.name), SHA1: ne.dg.sha1, SHA256: ne.dg.sha256}
			if n.b.Loose() {
				rf.Nested = nested
			}
			files = append(files, rf)
		}
	}
	if j.profileDER != nil {
		h1, h2 := sha1.Sum(j.profileDER), sha256.Sum256(j.profileDER)
		files = append(files, codesign.ResourceFile{Path: profileName, SHA1: h1[:], SHA256: h2[:]})
	}
	return files
}

// signExecutable writes j's executable with a new signature in every slice
// to a temporary file, hashing it for the outer bundle's CodeResources.
func (s *signing) signExecutable(j *job, codeRes []byte) (*newEntry, error) {
	b := j.b
	mf, err := macho.NewReader(b.src, int64(b.exec.UncompressedSize))
	if err != nil {
		return nil, formatErr(b.Executable, err, "executable")
	}
	if b == s.in.App && s.o.Link != nil {
		if err := mf.AddLink(*s.o.Link); err != nil {
			return nil, formatErr(b.Executable, err, "main executable")
		}
	}
	f, err := os.CreateTemp(s.tmp, "out-")
	if err != nil {
		return nil, err
	}
	ne := &newEntry{name: b.Executable, method: b.exec.Method, file: f}
	var hs []hash.Hash
	w := io.Writer(f)
	if b != s.in.App { // the app's executable is sealed by its own CodeDirectory only
		hs = []hash.Hash{sha1.New(), sha256.New()}
		w = io.MultiWriter(f, hs[0], hs[1])
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	sg := &sliceSigner{s: s, j: j, codeRes: codeRes}
	if _, err := mf.Write(bw, sg); err != nil {
		return nil, fmt.Errorf("ipa: %s: %w", b.Executable, err)
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if ne.size, err = f.Seek(0, io.SeekCurrent); err != nil {
		return nil, err
	}
	if hs != nil {
		ne.dg = digest{hs[0].Sum(nil), hs[1].Sum(nil)}
	}
	j.cdhash = sg.cdhashes[sealedSlice(mf)]
	return ne, nil
}

// sealedSlice is the slice whose cdhash stands for a file (in SignResult
// and in nested-code seals): the first arm64 slice, as a device picks it,
// else arm64_32 (watch), else the first.
func sealedSlice(f *macho.File) int {
	for _, cpu := range []uint32{uint32(macho.CPUArm64), uint32(macho.CPUArm6432)} {
		for i, sl := range f.Slices {
			if uint32(sl.Cpu) == cpu {
				return i
			}
		}
	}
	return 0
}

// sliceSigner is the macho.Signer of one executable.
type sliceSigner struct {
	s        *signing
	j        *job
	codeRes  []byte
	cdhashes [][]byte // per slice, in file order
}

func (g *sliceSigner) params(sl *macho.Slice, code *io.SectionReader) *codesign.Params {
	s, b := g.s, g.j.b
	p := &codesign.Params{
		CodeReader: code, Identifier: b.ID, TeamID: s.team,
		ExecSegBase: uint64(sl.ExecSegBase), ExecSegLimit: uint64(sl.ExecSegSize),
		InfoPlist: b.info, CodeResources: g.codeRes,
		Entitlements: g.j.ents, EntitlementsDER: g.j.entsDER,
		AdHoc: s.o.AdHoc, Signer: s.o.Signer, Chain: s.o.Chain, SigningTime: s.o.Time,
	}
	if sl.IsExecutable() {
		p.ExecSegFlags = codesign.ExecSegMainBinary
	}
	if !s.o.AdHoc {
		p.Requirements = codesign.DesignatedRequirement(b.ID, s.leaf)
	}
	return p
}

// Size implements macho.Signer.
func (g *sliceSigner) Size(sl *macho.Slice, codeLimit int64) (int, error) {
	return codesign.Estimate(g.params(sl, io.NewSectionReader(nil, 0, codeLimit))), nil
}

// Sign implements macho.Signer.
func (g *sliceSigner) Sign(sl *macho.Slice, code *io.SectionReader) ([]byte, error) {
	blob, err := codesign.Sign(g.params(sl, code))
	if err != nil {
		return nil, err
	}
	sig, err := codesign.Parse(blob)
	if err != nil {
		return nil, err
	}
	g.cdhashes = append(g.cdhashes, sig.CodeDirectories[0].CDHash()[:20])
	return blob, nil
}

// write emits the archive: input entries raw in their order, each
// executable's place taken by its code item's new entries, dropped
// entries left out.
func (s *signing) write(out io.Writer) error {
	zw := zipx.NewWriter(out, zipx.Options{Align: 1, SoAlign: 1, Modified: s.o.Time})
	byExec := map[string]*job{}
	for _, j := range s.jobs {
		byExec[j.b.Executable] = j
	}
	for _, e := range s.in.Zip.Entries {
		if j := byExec[e.Name]; j != nil {
			for _, ne := range j.out {
				if err := writeNew(zw, ne); err != nil {
					return err
				}
			}
			continue
		}
		if s.dropped[e.Name] {
			continue
		}
		if err := zw.Copy(e); err != nil {
			return err
		}
	}
	return zw.Close()
}

// writeNew adds ne to the archive; a signed executable streams from its
// temporary file.
func writeNew(zw *zipx.Writer, ne *newEntry) error {
	if ne.file == nil {
		return zw.Add(zipx.Header{Name: ne.name, Method: ne.method}, ne.data)
	}
	w, err := zw.Create(zipx.Header{Name: ne.name, Method: ne.method, MaxSize: ne.size})
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, io.NewSectionReader(ne.file, 0, ne.size)); err != nil {
		return err
	}
	return w.Close()
}
