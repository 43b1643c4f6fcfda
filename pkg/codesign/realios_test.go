package codesign

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	gocs "github.com/blacktop/go-macho/pkg/codesign"

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
		"TNSWidgets.framework":                   {map[string]bool{"i386": true, "x86_64": true, "armv7": false, "arm64": false}, false},
		"ios-arm64_x86_64-simulator/TNSListView": {map[string]bool{"x86_64": true, "arm64": true}, true},
		"ios-arm64/TNSListView":                  {map[string]bool{"arm64": false}, false},
		"TestApp.app":                            {map[string]bool{"i386": false}, false},
	}
	nSigned := 0
	for _, b := range testenv.RealIOS(t) {
		key := b.Name
		if b.Name == "TNSListView.framework" {
			key = filepath.Base(filepath.Dir(b.Dir)) + "/TNSListView"
		}
		t.Run(key, func(t *testing.T) {
			e, ok := expect[key]
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
				checkRealSignature(t, rs, info, e.infoSealed, resources)
			}
		})
	}
	if nSigned == 0 {
		t.Fatal("no signed real slice was checked")
	}
}

// checkRealSignature compares Parse's reading of one real signature with
// go-macho's and checks it against the code and bundle files (info: the
// shipped Info.plist, which the signature seals if infoSealed).
func checkRealSignature(t *testing.T, rs realSlice, info []byte, infoSealed bool, resources []byte) {
	t.Helper()
	ours, err := Parse(rs.sig)
	if err != nil {
		t.Errorf("%s: Parse: %v", rs.arch, err)
		return
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
		if cd.Identifier != g.ID || cd.TeamID != g.TeamID || cd.Flags != uint32(h.Flags) || cd.Version != uint32(h.Version) ||
			cd.HashType != uint8(h.HashType) || cd.PageSize != 1<<h.PageSize || cd.CodeLimit != g.CodeLimit {
			t.Errorf("%s CD %d: ours %q team %q flags %#x version %#x hash %d page %d limit %d; go-macho %+v limit %d",
				rs.arch, i, cd.Identifier, cd.TeamID, cd.Flags, cd.Version, cd.HashType, cd.PageSize, cd.CodeLimit, h, g.CodeLimit)
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
		limit := int(cd.CodeLimit)
		for p := range cd.CodeHashes {
			page := rs.code[p*cd.PageSize : min((p+1)*cd.PageSize, limit)]
			if !bytes.Equal(cd.CodeHashes[p], hashFor(t, cd.HashType, page)) {
				t.Errorf("%s CD %d: page %d hash is not the page's", rs.arch, i, p)
			}
		}
		for slot, data := range map[int][]byte{SlotInfo: info, SlotRequirements: ours.Requirements, SlotResourceDir: resources} {
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
		for slot, data := range map[int][]byte{SlotInfo: info, SlotRequirements: ours.Requirements, SlotResourceDir: resources} {
			if data == nil {
				continue // the vendor did not ship _CodeSignature/
			}
			if err := cd.CheckSpecial(slot, data); (slot != SlotInfo || infoSealed) != (err == nil) {
				t.Errorf("%s CD %d: CheckSpecial(%d): %v", rs.arch, i, slot, err)
			}
			if err := cd.CheckSpecial(slot, append(bytes.Clone(data), '\n')); !errors.Is(err, ErrHashMismatch) {
				t.Errorf("%s CD %d: CheckSpecial(%d) of changed input: %v", rs.arch, i, slot, err)
			}
		}
	}

	// Ad hoc: CS_ADHOC, an empty requirement set, an empty BlobWrapper.
	if ours.CodeDirectories[0].Flags&FlagAdHoc == 0 || !ours.HasWrapper || len(ours.CMS) != 0 || len(theirs.CMSSignature) != 0 {
		t.Errorf("%s: flags %#x, wrapper %v with %d CMS bytes (go-macho %d): want an ad hoc signature", rs.arch,
			ours.CodeDirectories[0].Flags, ours.HasWrapper, len(ours.CMS), len(theirs.CMSSignature))
	}
	if !bytes.Equal(ours.Requirements, EmptyRequirements()) || len(theirs.Requirements) != 0 {
		t.Errorf("%s: requirements %x (go-macho %d): want the empty set", rs.arch, ours.Requirements, len(theirs.Requirements))
	}
	if _, err := ours.VerifyCMS(nil, time.Now()); !errors.Is(err, ErrSignature) {
		t.Errorf("%s: VerifyCMS of an ad hoc signature: %v", rs.arch, err)
	}
	// codesign reserves more than it writes; the rest is zeros.
	n := binary.BigEndian.Uint32(rs.sig[4:])
	if int(n) > len(rs.sig) || !bytes.Equal(rs.sig[n:], make([]byte, len(rs.sig)-int(n))) {
		t.Errorf("%s: SuperBlob of %d bytes in %d reserved, tail not zero", rs.arch, n, len(rs.sig))
	}
}
