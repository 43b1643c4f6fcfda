package codesign

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gocs "github.com/blacktop/go-macho/pkg/codesign"

	"github.com/trustfuse/trustfuse/internal/cms"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/macho"
)

// realSlice is one architecture of a real bundle's executable: its bytes
// and its embedded signature (nil when the vendor shipped it unsigned).
type realSlice struct {
	arch string
	code []byte // the slice's bytes
	sig  []byte // LC_CODE_SIGNATURE's data, zero padding included
}

// realSlices reads every slice of b's executable with our Mach-O reader.
func realSlices(t *testing.T, b testenv.RealBundle) []realSlice {
	t.Helper()
	in, err := os.ReadFile(b.Exec)
	if err != nil {
		t.Fatal(err)
	}
	f, err := macho.NewReader(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		t.Fatalf("%s: %v", b.Exec, err)
	}
	var out []realSlice
	for _, s := range f.Slices {
		sig, err := s.Signature()
		if err != nil {
			t.Fatalf("%s %s: %v", b.Exec, s.Arch(), err)
		}
		code, err := io.ReadAll(s.Reader())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, realSlice{arch: s.Arch(), code: code, sig: sig})
	}
	return out
}

// hashFor hashes data with a CodeDirectory hash type (SHA-1 or SHA-256).
func hashFor(t *testing.T, hashType uint8, data []byte) []byte {
	t.Helper()
	switch hashType {
	case HashSHA1:
		h := sha1.Sum(data)
		return h[:]
	case HashSHA256:
		h := sha256.Sum256(data)
		return h[:]
	}
	t.Fatalf("hash type %d", hashType)
	return nil
}

// readOptional returns the bytes of path, nil if it does not exist.
func readOptional(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRealIOSSignatures reads the signatures Xcode's codesign left in real
// iOS frameworks (scripts/fetch-real-apps.sh ios) with Parse and compares
// every CodeDirectory with go-macho's reading: identifier, team id, flags,
// version, hash type, exec segment, page hashes, cdhash, special slots,
// requirements and the CMS slot. Our CheckCode and CheckSpecial must accept
// the real code, Info.plist and CodeResources, whose hashes the test also
// recomputes itself, and reject a changed code page.
func TestRealIOSSignatures(t *testing.T) {
	if testing.Short() {
		t.Skip("real iOS inputs are fetched with npm")
	}
	// Which slices the vendors signed (the simulator ones, ad hoc), and
	// whether the shipped Info.plist is the one they sealed: TNSWidgets is
	// a lipo of a device and a simulator build that ships the device
	// build's Info.plist, so its simulator slices' slot 1 must not match.
	expect := map[string]struct {
		signed     map[string]bool
		infoSealed bool
	}{
		"node-ios-device@1.13.0/TestApp.app":                  {map[string]bool{"armv7": true, "arm64": true}, true},
		"tns-core-modules-widgets@6.2.1/TNSWidgets.framework": {map[string]bool{"i386": true, "x86_64": true, "armv7": false, "arm64": false}, false},
		"ios-arm64_x86_64-simulator/TNSListView.framework":    {map[string]bool{"x86_64": true, "arm64": true}, true},
		"ios-arm64/TNSListView.framework":                     {map[string]bool{"arm64": false}, false},
		"ios-test-app@1.0.1/TestApp.app":                      {map[string]bool{"i386": false}, false},
	}
	nSigned, nCMS := 0, 0
	for _, b := range testenv.RealIOS(t) {
		t.Run(b.ID, func(t *testing.T) {
			e, ok := expect[b.ID]
			want := e.signed
			if !ok {
				t.Fatalf("no expectation for real bundle %s", b.Dir)
			}
			info := readOptional(t, filepath.Join(b.Dir, "Info.plist"))
			resources := readOptional(t, filepath.Join(b.Dir, "_CodeSignature", "CodeResources"))
			slices := realSlices(t, b)
			if len(slices) != len(want) {
				t.Fatalf("%d slices, want %d", len(slices), len(want))
			}
			for _, rs := range slices {
				isSigned, ok := want[rs.arch]
				if !ok || isSigned != (rs.sig != nil) {
					t.Errorf("%s: signed %v, want %v (known arch %v)", rs.arch, rs.sig != nil, isSigned, ok)
					continue
				}
				if rs.sig == nil {
					continue
				}
				nSigned++
				if checkRealSignature(t, rs, info, e.infoSealed, resources) {
					nCMS++
				}
			}
		})
	}
	if nSigned == 0 || nCMS == 0 {
		t.Fatalf("%d signed real slices checked, %d with a CMS signature", nSigned, nCMS)
	}
}

// checkRealSignature compares Parse's reading of one real signature with
// go-macho's and checks it against the code and bundle files (info: the
// shipped Info.plist, which the signature seals if infoSealed). It reports
// whether the signature has a CMS (then checked by checkRealCMS).
func checkRealSignature(t *testing.T, rs realSlice, info []byte, infoSealed bool, resources []byte) bool {
	t.Helper()
	ours, err := Parse(rs.sig)
	if err != nil {
		t.Errorf("%s: Parse: %v", rs.arch, err)
		return false
	}
	theirs, err := gocs.ParseCodeSignature(rs.sig)
	if err != nil {
		t.Fatalf("%s: go-macho: %v", rs.arch, err)
	}
	if len(ours.CodeDirectories) != len(theirs.CodeDirectories) {
		t.Fatalf("%s: %d CodeDirectories, go-macho sees %d", rs.arch, len(ours.CodeDirectories), len(theirs.CodeDirectories))
	}
	for i, cd := range ours.CodeDirectories {
		g := theirs.CodeDirectories[i]
		h := g.Header
		limit := g.CodeLimit // go-macho fills it from version 0x20300 on
		if limit == 0 {
			limit = uint64(h.CodeLimit)
		}
		if cd.Identifier != g.ID || cd.TeamID != g.TeamID || cd.Flags != uint32(h.Flags) || cd.Version != uint32(h.Version) ||
			cd.HashType != uint8(h.HashType) || cd.PageSize != 1<<h.PageSize || cd.CodeLimit != limit {
			t.Errorf("%s CD %d: ours %q team %q flags %#x version %#x hash %d page %d limit %d; go-macho %+v limit %d",
				rs.arch, i, cd.Identifier, cd.TeamID, cd.Flags, cd.Version, cd.HashType, cd.PageSize, cd.CodeLimit, h, limit)
		}
		if cd.ExecSegBase != h.ExecSegBase || cd.ExecSegLimit != h.ExecSegLimit || cd.ExecSegFlags != uint64(h.ExecSegFlags) {
			t.Errorf("%s CD %d: exec seg %#x+%#x flags %#x; go-macho %#x+%#x flags %#x", rs.arch, i,
				cd.ExecSegBase, cd.ExecSegLimit, cd.ExecSegFlags, h.ExecSegBase, h.ExecSegLimit, uint64(h.ExecSegFlags))
		}
		if got := hex.EncodeToString(cd.CDHash()); got != g.CDHash {
			t.Errorf("%s CD %d: cdhash %s, go-macho %s", rs.arch, i, got, g.CDHash)
		}
		if len(cd.CodeHashes) != len(g.CodeSlots) || len(cd.CodeHashes) != int(h.NCodeSlots) {
			t.Errorf("%s CD %d: %d pages, go-macho %d (header %d)", rs.arch, i, len(cd.CodeHashes), len(g.CodeSlots), h.NCodeSlots)
		} else {
			for p, s := range g.CodeSlots {
				if !bytes.Equal(cd.CodeHashes[p], s.Hash) {
					t.Errorf("%s CD %d: page %d hash differs from go-macho's", rs.arch, i, p)
				}
			}
		}
		if len(cd.Special) != len(g.SpecialSlots) {
			t.Errorf("%s CD %d: %d special slots, go-macho %d", rs.arch, i, len(cd.Special), len(g.SpecialSlots))
		}
		for _, s := range g.SpecialSlots {
			if !bytes.Equal(cd.SpecialSlot(int(s.Index)), s.Hash) {
				t.Errorf("%s CD %d: special slot %d %x, go-macho %x", rs.arch, i, s.Index, cd.SpecialSlot(int(s.Index)), s.Hash)
			}
		}

		// The test's own hashes of the real inputs.
		for p := range cd.CodeHashes {
			page := rs.code[p*cd.PageSize : min((p+1)*cd.PageSize, int(limit))]
			if !bytes.Equal(cd.CodeHashes[p], hashFor(t, cd.HashType, page)) {
				t.Errorf("%s CD %d: page %d hash is not the page's", rs.arch, i, p)
			}
		}
		for slot, data := range map[int][]byte{SlotInfo: info, SlotRequirements: ours.Requirements, SlotResourceDir: resources, SlotEntitlements: ours.Entitlements} {
			sealed := data != nil && (slot != SlotInfo || infoSealed)
			if data != nil && sealed != bytes.Equal(cd.SpecialSlot(slot), hashFor(t, cd.HashType, data)) {
				t.Errorf("%s CD %d: special slot %d matches its input: %v, want %v", rs.arch, i, slot, !sealed, sealed)
			}
		}

		// Our verifier accepts the real code and files, and rejects a change.
		if err := cd.CheckCode(rs.code[:limit]); err != nil {
			t.Errorf("%s CD %d: CheckCode: %v", rs.arch, i, err)
		}
		bad := bytes.Clone(rs.code[:limit])
		bad[limit-1] ^= 1
		var pe *PageError
		if err := cd.CheckCode(bad); !errors.As(err, &pe) || pe.Page != len(cd.CodeHashes)-1 {
			t.Errorf("%s CD %d: CheckCode of a changed last page: %v", rs.arch, i, err)
		}
		for slot, data := range map[int][]byte{SlotInfo: info, SlotRequirements: ours.Requirements, SlotResourceDir: resources, SlotEntitlements: ours.Entitlements} {
			if data == nil {
				continue // no entitlements, or the vendor did not ship _CodeSignature/
			}
			if err := cd.CheckSpecial(slot, data); (slot != SlotInfo || infoSealed) != (err == nil) {
				t.Errorf("%s CD %d: CheckSpecial(%d): %v", rs.arch, i, slot, err)
			}
			if err := cd.CheckSpecial(slot, append(bytes.Clone(data), '\n')); !errors.Is(err, ErrHashMismatch) {
				t.Errorf("%s CD %d: CheckSpecial(%d) of changed input: %v", rs.arch, i, slot, err)
			}
		}
	}

	// codesign reserves more than it writes; the rest is zeros.
	n := binary.BigEndian.Uint32(rs.sig[4:])
	if int(n) > len(rs.sig) || !bytes.Equal(rs.sig[n:], make([]byte, len(rs.sig)-int(n))) {
		t.Errorf("%s: SuperBlob of %d bytes in %d reserved, tail not zero", rs.arch, n, len(rs.sig))
	}
	if ours.CodeDirectories[0].Flags&FlagAdHoc == 0 {
		checkRealCMS(t, rs.arch, ours, theirs)
		return true
	}
	// Ad hoc: CS_ADHOC, an empty requirement set, an empty BlobWrapper.
	if !ours.HasWrapper || len(ours.CMS) != 0 || len(theirs.CMSSignature) != 0 {
		t.Errorf("%s: ad hoc, wrapper %v with %d CMS bytes (go-macho %d)", rs.arch, ours.HasWrapper, len(ours.CMS), len(theirs.CMSSignature))
	}
	if !bytes.Equal(ours.Requirements, EmptyRequirements()) || len(theirs.Requirements) != 0 {
		t.Errorf("%s: requirements %x (go-macho %d): want the empty set", rs.arch, ours.Requirements, len(theirs.Requirements))
	}
	if _, err := ours.VerifyCMS(nil, time.Now()); !errors.Is(err, ErrSignature) {
		t.Errorf("%s: VerifyCMS of an ad hoc signature: %v", rs.arch, err)
	}
	return false
}

// appleRootCA is the SHA-256 fingerprint Apple publishes for "Apple Root
// CA" (2006–2035), the anchor of iOS code signing certificates.
const appleRootCA = "b0b1730ecbc7ff4505142c49f1295e6eda6bcaed7e2c68c5be91b5a11001f024"

// checkRealCMS checks a real Apple-issued signature: the CMS bytes and the
// designated requirement as go-macho reads them, the signature over the
// CodeDirectory (internal/cms), and, with openssl cms -verify at the
// signing time, the chain to the Apple Root CA the CMS embeds, which the
// test accepts only with Apple's published fingerprint.
func checkRealCMS(t *testing.T, arch string, ours *Signature, theirs *gocs.CodeSignature) {
	t.Helper()
	cd := ours.CodeDirectories[0]
	if !bytes.Equal(ours.CMS, theirs.CMSSignature) || cd.TeamID == "" {
		t.Errorf("%s: CMS %d bytes, go-macho %d; team %q", arch, len(ours.CMS), len(theirs.CMSSignature), cd.TeamID)
	}
	if ours.Entitlements == nil || string(ours.Entitlements[8:]) != theirs.Entitlements {
		t.Errorf("%s: entitlements blob differs from go-macho's", arch)
	}
	dir := t.TempDir()
	berPath, derPath := filepath.Join(dir, "sig.ber"), filepath.Join(dir, "sig.der")
	if err := os.WriteFile(berPath, ours.CMS, 0o600); err != nil {
		t.Fatal(err)
	}
	// Apple's CMS encoder writes BER (indefinite lengths): our CMS parser
	// must read it, as inspect and verify read the input's signature.
	if _, err := cms.Parse(ours.CMS); err != nil {
		t.Errorf("%s: cms.Parse of Apple's BER CMS: %v", arch, err)
	}
	// openssl re-encodes it as DER (the signature covers only the signed
	// attributes, DER already), for our parser's other checks.
	testenv.Run(t, "openssl", "cms", "-cmsout", "-inform", "DER", "-in", berPath, "-outform", "DER", "-out", derPath)
	der, err := os.ReadFile(derPath)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(der)
	if err != nil {
		t.Fatalf("%s: %v", arch, err)
	}
	if err := sd.VerifySignature(cd.Raw); err != nil {
		t.Errorf("%s: CMS signature over the CodeDirectory: %v", arch, err)
	}
	if err := sd.VerifySignature(append(bytes.Clone(cd.Raw), 0)); !errors.Is(err, cms.ErrSignature) {
		t.Errorf("%s: CMS signature over a changed CodeDirectory: %v", arch, err)
	}
	// The designated requirement names the signer's certificate.
	wantDR := `identifier "` + cd.Identifier + `" and anchor apple generic and certificate leaf[subject.CN] = "` +
		sd.Signer.Subject.CommonName + `" and certificate 1[field.1.2.840.113635.100.6.2.1] /* exists */`
	if len(theirs.Requirements) != 1 || strings.Join(strings.Fields(theirs.Requirements[0].Detail), " ") != wantDR {
		t.Errorf("%s: go-macho requirements %+v, want %s", arch, theirs.Requirements, wantDR)
	}
	if sd.Signer.Subject.OrganizationalUnit[0] != cd.TeamID {
		t.Errorf("%s: signer OU %v, team %q", arch, sd.Signer.Subject.OrganizationalUnit, cd.TeamID)
	}
	var root *x509.Certificate
	for _, c := range sd.Certificates {
		t.Logf("%s: CMS certificate %q issued by %q", arch, c.Subject.CommonName, c.Issuer.CommonName)
		if fp := sha256.Sum256(c.Raw); hex.EncodeToString(fp[:]) == appleRootCA {
			root = c
		}
	}
	at, ok := sd.SigningTime()
	if root == nil || !ok {
		t.Fatalf("%s: no Apple Root CA in the CMS (signing time %v)", arch, at)
	}
	files := map[string][]byte{
		"cd.bin": cd.Raw, "bad.bin": append(bytes.Clone(cd.Raw), 0),
		"root.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(content string) (string, error) {
		// Apple marks its leaf extensions critical; openssl knows them not.
		return testenv.RunStatus(t, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", berPath,
			"-content", filepath.Join(dir, content), "-CAfile", filepath.Join(dir, "root.pem"), "-purpose", "any",
			"-ignore_critical", "-attime", strconv.FormatInt(at.Unix(), 10), "-out", os.DevNull)
	}
	if out, err := verify("cd.bin"); err != nil {
		t.Errorf("%s: openssl cms -verify to Apple Root CA: %v\n%s", arch, err, out)
	}
	if _, err := verify("bad.bin"); err == nil {
		t.Errorf("%s: openssl verified a changed CodeDirectory", arch)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	withDER := *ours
	withDER.CMS = der
	// Go's x509 verifies no SHA-1 certificate signature, and this chain
	// (2015) is SHA-1 throughout: all else must pass, and VerifyCMS must
	// say so (openssl above verified the chain itself).
	if _, err = withDER.VerifyCMS(roots, at); !errors.Is(err, cms.ErrSHA1Chain) {
		t.Errorf("%s: VerifyCMS (DER) to Apple Root CA at %v: %v, want ErrSHA1Chain", arch, at, err)
	}
}
