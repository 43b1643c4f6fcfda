package ipa

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trustfuse/trustfuse/internal/cms"
	"github.com/trustfuse/trustfuse/pkg/codesign"
	"github.com/trustfuse/trustfuse/pkg/macho"
	"github.com/trustfuse/trustfuse/pkg/provision"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// VerifyOptions are the inputs of Verify.
type VerifyOptions struct {
	// Roots anchor the CMS signatures and the profiles (Apple's root in
	// production, a test root in tests). nil: signatures are checked
	// against the certificates they carry, their origin is not
	// (BundleVerdict.ChainVerified false).
	Roots *x509.CertPool
	Now   time.Time // the profiles' validity clock (zero: time.Now())
}

// VerifyResult holds one verdict per code item, in signing order.
type VerifyResult struct {
	Bundles []BundleVerdict `json:"bundles"`
}

// BundleVerdict is what Verify found of one code item.
type BundleVerdict struct {
	Dir           string            `json:"dir"`
	ID            string            `json:"id"`
	Kind          Kind              `json:"kind"`
	OK            bool              `json:"ok"`
	AdHoc         bool              `json:"adhoc,omitempty"`
	TeamID        string            `json:"teamId,omitempty"`
	Signer        string            `json:"signer,omitempty"` // leaf subject
	Leaf          *x509.Certificate `json:"-"`                // the CMS signer certificate (nil: ad hoc or unsigned)
	ChainVerified bool              `json:"chainVerified"`
	CDHash        string            `json:"cdhash,omitempty"` // hex, of the sealed slice (see SignedBundle)
	Problems      []string          `json:"problems,omitempty"`
}

// verified is what the verification of a code item leaves for the bundles
// sealing it.
type verified struct {
	cdhash []byte
	leaf   *x509.Certificate
}

// Verify checks every code item, deepest first: each slice's code pages
// against its CodeDirectory, the special slots (Info.plist, requirements,
// CodeResources, entitlements), the bundle's files against its
// CodeResources, the CMS signature over the CodeDirectory (to o.Roots when
// given; ad-hoc signatures are reported as such) and the embedded profile
// against the signer, bundle id, entitlements and o.Now. It returns every
// verdict, and an error wrapping ErrVerify naming the first failing
// bundle and reason when any check failed. An encrypted executable is a
// *FormatError.
//
// Memory: executables are read from Open's temporary files; resources
// are hashed as they stream.
func Verify(in *IPA, o VerifyOptions) (*VerifyResult, error) {
	for _, b := range in.Bundles {
		if b.Encrypted {
			return nil, formatErr(b.Executable, macho.ErrEncrypted, "cannot verify")
		}
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	var todo []*zipx.Entry
	for _, e := range in.App.files {
		if _, link := in.App.symlinks[e.Name]; !link && e != in.App.exec {
			todo = append(todo, e)
		}
	}
	hashes, err := in.digestsOf(todo)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{}
	done := map[*Bundle]verified{}
	var first error
	for _, b := range in.Bundles {
		v, got := verifyBundle(b, o, hashes, done)
		done[b] = got
		v.OK = len(v.Problems) == 0
		if !v.OK && first == nil {
			first = fmt.Errorf("%w: %s: %s", ErrVerify, b.Dir, v.Problems[0])
		}
		res.Bundles = append(res.Bundles, v)
	}
	return res, first
}

// verifyBundle checks one code item.
func verifyBundle(b *Bundle, o VerifyOptions, hashes map[*zipx.Entry]digest, done map[*Bundle]verified) (BundleVerdict, verified) {
	v := BundleVerdict{Dir: b.Dir, ID: b.ID, Kind: b.Kind}
	problem := func(format string, args ...any) { v.Problems = append(v.Problems, fmt.Sprintf(format, args...)) }
	var codeRes []byte
	if !b.Loose() {
		e := b.entry(codeResources)
		if e == nil {
			problem("no %s (bundle not sealed)", codeResources)
		} else if data, err := e.ReadAll(codesign.MaxCodeResourcesSize); err != nil {
			problem("%s: %v", codeResources, err)
		} else {
			codeRes = data
		}
	}
	got, sig := verifyExecutable(b, o, codeRes, problem, &v)
	if codeRes != nil {
		if err := codesign.CheckCodeResources(codeRes, b.currentFiles(hashes, done)); err != nil {
			problem("%s: %v", codeResources, err)
		}
	}
	if sig == nil || v.AdHoc || !signsWithProfile(b) {
		return v, got
	}
	if b.Profile == nil {
		problem("no %s", profileName)
		return v, got
	}
	if _, err := b.Profile.Check(provision.CheckOptions{BundleID: b.ID, Certificate: got.leaf, Entitlements: b.Entitlements, Now: o.Now, Roots: o.Roots}); err != nil {
		problem("%s: %v", profileName, err)
	}
	return v, got
}

// verifyExecutable checks every slice's signature; it returns the sealed
// slice's cdhash and signer, and the first slice's parsed signature (nil
// if none parsed).
func verifyExecutable(b *Bundle, o VerifyOptions, codeRes []byte, problem func(string, ...any), v *BundleVerdict) (verified, *codesign.Signature) {
	var got verified
	mf, err := macho.NewReader(b.src, int64(b.exec.UncompressedSize))
	if err != nil {
		problem("executable: %v", err)
		return got, nil
	}
	var first *codesign.Signature
	sealed := sealedSlice(mf)
	for i, sl := range mf.Slices {
		arch := sl.Arch()
		if !sl.Signed() {
			problem("%s slice: not signed", arch)
			continue
		}
		pages, err := pageHashes(sl.Reader(), sl.CodeLimit(), codesign.PageSize, crypto.SHA256)
		if err != nil {
			problem("%s slice: reading code: %v", arch, err)
			continue
		}
		raw, err := sl.Signature()
		var sig *codesign.Signature
		if err == nil {
			sig, err = codesign.Parse(raw)
		}
		if err != nil {
			problem("%s slice: code signature: %v", arch, err)
			continue
		}
		if first == nil {
			first = sig
		}
		for n, cd := range sig.CodeDirectories {
			if err := checkPages(cd, sl, pages); err != nil {
				problem("%s slice: CodeDirectory %d: %v", arch, n, err)
			}
		}
		info := b.info
		if b.Loose() {
			info = nil
		}
		if err := sig.CheckSpecialSlots(info, codeRes); err != nil {
			problem("%s slice: %v", arch, err)
		}
		leaf, adhoc, chained, err := checkCMS(sig, o)
		switch {
		case err != nil:
			problem("%s slice: %v", arch, err)
		case adhoc:
			v.AdHoc = true
		default:
			v.Signer, v.Leaf, v.ChainVerified = leaf.Subject.String(), leaf, chained
			if cd := sig.CodeDirectories[0]; len(leaf.Subject.OrganizationalUnit) == 0 || cd.TeamID != leaf.Subject.OrganizationalUnit[0] {
				problem("%s slice: team id %q is not the signing certificate's OU %v", arch, cd.TeamID, leaf.Subject.OrganizationalUnit)
			}
		}
		v.TeamID = sig.CodeDirectories[0].TeamID
		if i == sealed {
			got.cdhash, got.leaf = sig.CodeDirectories[0].CDHash()[:20], leaf
			v.CDHash = fmt.Sprintf("%x", got.cdhash)
		}
	}
	return got, first
}

// checkCMS verifies the CMS signature: to o.Roots, or, without roots, to
// the certificates it carries (chained false).
func checkCMS(sig *codesign.Signature, o VerifyOptions) (leaf *x509.Certificate, adhoc, chained bool, err error) {
	cd := sig.CodeDirectories[0]
	if len(sig.CMS) == 0 {
		if cd.Flags&codesign.FlagAdHoc == 0 {
			return nil, false, false, errors.New("no CMS signature, and the CodeDirectory is not flagged ad hoc")
		}
		return nil, true, false, nil
	}
	roots := o.Roots
	if roots == nil {
		sd, err := cms.Parse(sig.CMS)
		if err != nil {
			return nil, false, false, fmt.Errorf("CMS signature: %w", err)
		}
		roots = x509.NewCertPool()
		for _, c := range sd.Certificates {
			roots.AddCert(c)
		}
	}
	si, err := sig.VerifyCMS(roots, o.Now)
	if err != nil {
		return nil, false, false, err
	}
	return si.Leaf, false, o.Roots != nil, nil
}

// pageHashes reads code [0, limit) forward and returns the hash of each
// pageSize page.
func pageHashes(r io.ReaderAt, limit, pageSize int64, hash crypto.Hash) ([][]byte, error) {
	var out [][]byte
	buf := make([]byte, pageSize)
	h := hash.New()
	for off := int64(0); off < limit; off += pageSize {
		n := min(pageSize, limit-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			return nil, err
		}
		h.Reset()
		h.Write(buf[:n])
		out = append(out, h.Sum(nil))
	}
	return out, nil
}

// checkPages compares cd's code limit and page hashes with the slice;
// pages are the slice's SHA-256 hashes of 4 KiB pages, recomputed here when
// cd uses another page size or hash (SHA-1 in signatures for iOS < 11).
func checkPages(cd *codesign.CodeDirectory, sl *macho.Slice, pages [][]byte) error {
	if int64(cd.CodeLimit) != sl.CodeLimit() {
		return fmt.Errorf("code limit %d, but the signature starts at %d", cd.CodeLimit, sl.CodeLimit())
	}
	if int64(cd.PageSize) != codesign.PageSize || cd.Hash() != crypto.SHA256 {
		size := int64(cd.PageSize)
		if size == 0 {
			size = int64(cd.CodeLimit)
		}
		var err error
		if pages, err = pageHashes(sl.Reader(), sl.CodeLimit(), max(size, 1), cd.Hash()); err != nil {
			return err
		}
	}
	if len(pages) != len(cd.CodeHashes) {
		return fmt.Errorf("%d page hashes for %d pages", len(cd.CodeHashes), len(pages))
	}
	for i, want := range cd.CodeHashes {
		if !bytes.Equal(pages[i], want) {
			return fmt.Errorf("code page %d (offset %d) modified", i, int64(i)*int64(max(cd.PageSize, 1)))
		}
	}
	return nil
}

// currentFiles lists b's files as they are, for CheckCodeResources: every
// file under the bundle but its executable and _CodeSignature/, nested code
// marked with the cdhash and requirement of its current signature.
func (b *Bundle) currentFiles(hashes map[*zipx.Entry]digest, done map[*Bundle]verified) []codesign.ResourceFile {
	var files []codesign.ResourceFile
	nestedDylib := map[string]*codesign.NestedCode{}
	for n, got := range done {
		if !strings.HasPrefix(n.Dir, b.Dir) || n == b {
			continue
		}
		nc := &codesign.NestedCode{CDHash: got.cdhash, Requirement: codesign.DesignatedRequirementText(n.ID, got.leaf, got.cdhash)}
		if n.Loose() {
			nestedDylib[n.Dir] = nc
			continue
		}
		files = append(files, codesign.ResourceFile{Path: strings.TrimSuffix(b.rel(n.Dir), "/"), Nested: nc})
	}
	for _, e := range b.files {
		if e == b.exec || strings.HasPrefix(e.Name, b.Dir+codeSignatureDir) {
			continue
		}
		rf := codesign.ResourceFile{Path: b.rel(e.Name), Nested: nestedDylib[e.Name]}
		if t, ok := b.symlinks[e.Name]; ok {
			rf.Symlink = t
		} else {
			dg := hashes[e]
			rf.SHA1, rf.SHA256 = dg.sha1, dg.sha256
		}
		files = append(files, rf)
	}
	return files
}
