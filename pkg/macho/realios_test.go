package macho

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gomacho "github.com/blacktop/go-macho"
	"howett.net/plist"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/codesign"
)

// objdumpArchs lists the architectures llvm-objdump-14 names in a fat
// file's private headers ("path (architecture armv7):"), in file order.
func objdumpArchs(t *testing.T, path string) []string {
	t.Helper()
	var archs []string
	for _, line := range strings.Split(testenv.Run(t, "llvm-objdump-14", "--macho", "--private-headers", "--arch=all", path), "\n") {
		if i := strings.LastIndex(line, "(architecture "); i >= 0 && strings.HasSuffix(line, "):") {
			archs = append(archs, strings.TrimSuffix(line[i+len("(architecture "):], "):"))
		}
	}
	return archs
}

// goMachoFiles opens path with go-macho: one *gomacho.File per slice.
func goMachoFiles(t *testing.T, path string, fat bool) []*gomacho.File {
	t.Helper()
	if !fat {
		mf, err := gomacho.Open(path)
		if err != nil {
			t.Fatalf("go-macho: %v", err)
		}
		t.Cleanup(func() { mf.Close() })
		return []*gomacho.File{mf}
	}
	ff, err := gomacho.OpenFat(path)
	if err != nil {
		t.Fatalf("go-macho: %v", err)
	}
	t.Cleanup(func() { ff.Close() })
	var files []*gomacho.File
	for _, a := range ff.Arches {
		files = append(files, a.File)
	}
	return files
}

// TestRealIOSRead opens the executables of real Xcode-built iOS bundles
// (scripts/fetch-real-apps.sh ios: fat i386/x86_64/armv7/arm64, fat
// simulator x86_64/arm64, thin arm64, thin i386; signed and unsigned) and
// compares every slice with llvm-objdump-14, python3 macholib and go-macho:
// architectures, slice offsets, __LINKEDIT, LC_CODE_SIGNATURE.
func TestRealIOSRead(t *testing.T) {
	if testing.Short() {
		t.Skip("real iOS inputs are fetched with npm")
	}
	archs := map[string]bool{}
	for _, b := range testenv.RealIOS(t) {
		t.Run(b.ID, func(t *testing.T) {
			in, err := os.ReadFile(b.Exec)
			if err != nil {
				t.Fatal(err)
			}
			f := open(t, in)
			want := make([]oracleSlice, len(f.Slices))
			var ours []string
			for i, s := range f.Slices {
				archs[s.Arch()] = true
				ours = append(ours, s.Arch())
				le := s.Segment("__LINKEDIT")
				if le == nil {
					t.Fatalf("%s: no __LINKEDIT", s.Arch())
				}
				want[i] = oracleSlice{Offset: s.Offset, LEFileOff: int64(le.Offset), LEFileSize: int64(le.Filesz), LEVMSize: int64(le.Memsz)}
				if s.Signed() {
					sig, err := s.Signature()
					if err != nil {
						t.Fatal(err)
					}
					want[i].DataOff, want[i].DataSize = s.CodeLimit(), int64(len(sig))
				}
				if f.Fat && s.Offset%(1<<s.Align) != 0 {
					t.Errorf("%s: slice at %#x, align 2^%d", s.Arch(), s.Offset, s.Align)
				}
			}
			if got := macholibSlices(t, b.Exec); !equalSlices(got, want) {
				t.Errorf("macholib reads %+v, want %+v", got, want)
			}
			if got := objdumpSlices(t, b.Exec, f.Fat); !equalSlices(got, want) {
				t.Errorf("llvm-objdump reads %+v, want %+v", got, want)
			}
			if f.Fat {
				if got := objdumpArchs(t, b.Exec); strings.Join(got, ",") != strings.Join(ours, ",") {
					t.Errorf("llvm-objdump architectures %v, ours %v", got, ours)
				}
			}
			files := goMachoFiles(t, b.Exec, f.Fat)
			if len(files) != len(f.Slices) {
				t.Fatalf("go-macho: %d slices, ours %d", len(files), len(f.Slices))
			}
			for i, mf := range files {
				s := f.Slices[i]
				if uint32(mf.CPU) != uint32(s.Cpu) || uint32(mf.SubCPU)&subMask != s.SubCpu&subMask {
					t.Errorf("slice %d: go-macho cpu %v/%d, ours %s", i, mf.CPU, mf.SubCPU, s.Arch())
				}
				cs := mf.CodeSignature()
				switch {
				case (cs != nil) != s.Signed():
					t.Errorf("%s: go-macho signature %v, ours signed %v", s.Arch(), cs != nil, s.Signed())
				case cs != nil && (int64(cs.Offset) != want[i].DataOff || int64(cs.Size) != want[i].DataSize):
					t.Errorf("%s: go-macho LC_CODE_SIGNATURE %d+%d, want %+v", s.Arch(), cs.Offset, cs.Size, want[i])
				case cs != nil && (want[i].DataOff+want[i].DataSize != s.Size || want[i].LEFileOff+want[i].LEFileSize != s.Size):
					t.Errorf("%s: the real signature does not end __LINKEDIT and the slice: %+v, slice %d bytes", s.Arch(), want[i], s.Size)
				}
				if cs == nil {
					continue
				}
				// What Apple's codesign recorded agrees with our reading of
				// the load commands: the code limit and, from CodeDirectory
				// version 0x20400, the executable segment.
				for _, cd := range cs.CodeDirectories {
					h := cd.Header
					if int64(h.CodeLimit) != s.CodeLimit() {
						t.Errorf("%s: codesign's code limit %d, ours %d", s.Arch(), h.CodeLimit, s.CodeLimit())
					}
					if h.Version >= 0x20400 && (int64(h.ExecSegBase) != s.ExecSegBase || int64(h.ExecSegLimit) != s.ExecSegSize ||
						uint64(h.ExecSegFlags)&codesign.ExecSegMainBinary != 0 != s.IsExecutable()) {
						t.Errorf("%s: codesign's exec segment %#x+%#x flags %#x, ours %#x+%#x executable %v", s.Arch(),
							h.ExecSegBase, h.ExecSegLimit, uint64(h.ExecSegFlags), s.ExecSegBase, s.ExecSegSize, s.IsExecutable())
					}
				}
			}
		})
	}
	for _, a := range []string{"armv7", "arm64", "x86_64", "i386"} {
		if !archs[a] {
			t.Errorf("no real %s slice was read", a)
		}
	}
}

// bundleSigner is a Signer backed by pkg/codesign, as the IPA signer uses
// it: the template's identity and bundle inputs, the slice's exec segment.
type bundleSigner struct{ tmpl codesign.Params }

func (bs *bundleSigner) params(s *Slice, code []byte) *codesign.Params {
	p := bs.tmpl
	p.Code = code
	p.ExecSegBase, p.ExecSegLimit = uint64(s.ExecSegBase), uint64(s.ExecSegSize)
	if s.IsExecutable() {
		p.ExecSegFlags = codesign.ExecSegMainBinary
	}
	return &p
}

func (bs *bundleSigner) Size(s *Slice, limit int64) (int, error) {
	return codesign.Estimate(bs.params(s, make([]byte, limit))), nil
}

func (bs *bundleSigner) Sign(s *Slice, code *io.SectionReader) ([]byte, error) {
	b, err := io.ReadAll(code)
	if err != nil {
		return nil, err
	}
	return codesign.Sign(bs.params(s, b))
}

// TestRealIOSResign re-signs the executables of real iOS bundles through
// File.Write and codesign.Sign, ad hoc and with a distribution identity
// (the fake Apple PKI), replacing Xcode's and Apple's signatures and adding
// missing ones, with the bundle's Info.plist, its CodeResources and the
// entitlements of its old signature (as go-macho reads them). llvm-objdump-14,
// python3 macholib and go-macho read every output; go-macho's page hashes
// equal the test's SHA-256 of the output pages, its special slots the
// hashes of Info.plist, CodeResources and the entitlements blobs, its
// entitlements the old ones; openssl cms -verify checks the CMS over the
// CodeDirectory to the test root; the same inputs and signing time give
// the same bytes.
func TestRealIOSResign(t *testing.T) {
	if testing.Short() {
		t.Skip("real iOS inputs are fetched with npm")
	}
	const team = "ABCDE12345"
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id := testenv.NewAppleIdentity(t, team, at.AddDate(0, -1, 0), at.AddDate(1, 0, 0))
	roots := x509.NewCertPool()
	roots.AddCert(id.Root)
	nEnt, nRes := 0, 0
	for _, b := range testenv.RealIOS(t) {
		info, err := os.ReadFile(filepath.Join(b.Dir, "Info.plist"))
		if err != nil {
			t.Fatal(err)
		}
		var ip struct {
			ID string `plist:"CFBundleIdentifier"`
		}
		if _, err := plist.Unmarshal(info, &ip); err != nil || ip.ID == "" {
			t.Fatalf("%s: Info.plist: %v", b.Dir, err)
		}
		resources, err := os.ReadFile(filepath.Join(b.Dir, "_CodeSignature", "CodeResources"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		in := bundleInputs{info: info, resources: resources}
		if resources != nil {
			nRes++
		}
		if cs := goMachoFiles(t, b.Exec, open(t, mustRead(t, b.Exec)).Fat)[0].CodeSignature(); cs != nil && cs.Entitlements != "" {
			in.entitlements = []byte(cs.Entitlements)
			if in.entitlementsDER, err = codesign.EntitlementsDER(in.entitlements); err != nil {
				t.Fatal(err)
			}
			nEnt++
		}
		for _, adhoc := range []bool{true, false} {
			t.Run(b.ID+map[bool]string{true: "/adhoc", false: "/dist"}[adhoc], func(t *testing.T) {
				tmpl := codesign.Params{Identifier: ip.ID, InfoPlist: info, CodeResources: resources, AdHoc: adhoc, SigningTime: at,
					Entitlements: in.entitlements, EntitlementsDER: in.entitlementsDER}
				if !adhoc {
					tmpl.TeamID, tmpl.Requirements = team, codesign.DesignatedRequirement(ip.ID, id.Leaf)
					tmpl.Signer, tmpl.Chain = id.LeafKey, []*x509.Certificate{id.Leaf, id.WWDR}
				}
				exe := mustRead(t, b.Exec)
				src := open(t, exe)
				var out bytes.Buffer
				lay, err := src.Write(&out, &bundleSigner{tmpl})
				if err != nil {
					t.Fatal(err)
				}
				var again bytes.Buffer
				if _, err := open(t, exe).Write(&again, &bundleSigner{tmpl}); err != nil || !bytes.Equal(again.Bytes(), out.Bytes()) {
					t.Errorf("a second signing differs (%v)", err)
				}
				path := filepath.Join(t.TempDir(), filepath.Base(b.Exec))
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				f := open(t, out.Bytes())
				want := make([]oracleSlice, len(f.Slices))
				for i, s := range f.Slices {
					le := s.Segment("__LINKEDIT")
					want[i] = oracleSlice{Offset: lay[i].Offset, DataOff: lay[i].CodeLimit, DataSize: lay[i].SigSize, LEFileOff: int64(le.Offset), LEFileSize: int64(le.Filesz), LEVMSize: int64(le.Memsz)}
					if s.Arch() != src.Slices[i].Arch() || !s.Signed() || int64(le.Offset+le.Filesz) != s.Size {
						t.Errorf("slice %d: %s signed %v, __LINKEDIT ends at %d of %d", i, s.Arch(), s.Signed(), le.Offset+le.Filesz, s.Size)
					}
				}
				if !f.Fat {
					want[0].Offset = 0
				}
				checkLayoutOracles(t, path, f.Fat, want)
				for i, mf := range goMachoFiles(t, path, f.Fat) {
					checkResigned(t, f.Slices[i], out.Bytes(), mf, in, adhoc, id, roots, at)
				}
			})
		}
	}
	if nEnt == 0 || nRes == 0 {
		t.Errorf("%d real bundles re-signed with entitlements, %d with CodeResources: want some of each", nEnt, nRes)
	}
}

// bundleInputs are the bundle files and entitlements a slice is signed with.
type bundleInputs struct {
	info, resources, entitlements, entitlementsDER []byte
}

// mustRead returns the bytes of path.
func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkResigned compares go-macho's reading of one re-signed slice with
// hashes the test computes, and has our parser and openssl check the CMS.
func checkResigned(t *testing.T, s *Slice, out []byte, mf *gomacho.File, in bundleInputs, adhoc bool, id *testenv.AppleIdentity, roots *x509.CertPool, at time.Time) {
	t.Helper()
	cs := mf.CodeSignature()
	if cs == nil || len(cs.CodeDirectories) != 1 {
		t.Fatalf("%s: go-macho signature %+v", s.Arch(), cs)
	}
	cd := cs.CodeDirectories[0]
	code := out[s.Offset : s.Offset+s.CodeLimit()]
	if int64(cd.CodeLimit) != s.CodeLimit() || len(cd.CodeSlots) != int((s.CodeLimit()+4095)/4096) {
		t.Fatalf("%s: go-macho code limit %d, %d slots; code limit %d", s.Arch(), cd.CodeLimit, len(cd.CodeSlots), s.CodeLimit())
	}
	for p, slot := range cd.CodeSlots {
		h := sha256.Sum256(code[p*4096 : min((p+1)*4096, len(code))])
		if !bytes.Equal(slot.Hash, h[:]) {
			t.Errorf("%s: go-macho page %d hash differs from the page's SHA-256", s.Arch(), p)
		}
	}
	want := map[uint32][]byte{codesign.SlotInfo: in.info, codesign.SlotResourceDir: in.resources}
	if in.entitlements != nil {
		want[codesign.SlotEntitlements] = codesign.EntitlementsBlob(in.entitlements)
		want[codesign.SlotEntitlementsDER] = append([]byte{0xfa, 0xde, 0x71, 0x72, 0, 0, 0, 0}, in.entitlementsDER...)
		binary.BigEndian.PutUint32(want[codesign.SlotEntitlementsDER][4:], uint32(8+len(in.entitlementsDER)))
	}
	got := map[uint32][]byte{}
	for _, sp := range cd.SpecialSlots {
		got[sp.Index] = sp.Hash
	}
	for slot, data := range want {
		if h := sha256.Sum256(data); data != nil && !bytes.Equal(got[slot], h[:]) {
			t.Errorf("%s: go-macho special slot %d %x, want its input's hash %x", s.Arch(), slot, got[slot], h)
		}
	}
	if cs.Entitlements != string(in.entitlements) || !bytes.Equal(cs.EntitlementsDER, in.entitlementsDER) {
		t.Errorf("%s: go-macho entitlements %q (DER %x), want the old signature's", s.Arch(), cs.Entitlements, cs.EntitlementsDER)
	}
	wantExec := uint64(0)
	if s.IsExecutable() {
		wantExec = codesign.ExecSegMainBinary
	}
	if cd.Header.ExecSegLimit != uint64(s.ExecSegSize) || uint64(cd.Header.ExecSegFlags) != wantExec || (cd.TeamID == "") != adhoc {
		t.Errorf("%s: go-macho exec seg limit %#x flags %#x team %q", s.Arch(), cd.Header.ExecSegLimit, uint64(cd.Header.ExecSegFlags), cd.TeamID)
	}
	sig, err := s.Signature()
	if err != nil {
		t.Fatal(err)
	}
	ours, err := codesign.Parse(sig)
	if err != nil {
		t.Fatalf("%s: %v", s.Arch(), err)
	}
	if err := ours.CodeDirectories[0].CheckCode(code); err != nil {
		t.Errorf("%s: %v", s.Arch(), err)
	}
	if err := ours.CheckSpecialSlots(in.info, in.resources); err != nil {
		t.Errorf("%s: %v", s.Arch(), err)
	}
	if adhoc {
		if len(cs.CMSSignature) != 0 || !ours.HasWrapper || len(ours.CMS) != 0 {
			t.Errorf("%s: ad hoc signature carries %d CMS bytes", s.Arch(), len(cs.CMSSignature))
		}
		return
	}
	if _, err := ours.VerifyCMS(roots, at); err != nil {
		t.Errorf("%s: VerifyCMS: %v", s.Arch(), err)
	}
	dir := t.TempDir()
	cmsPath, cdPath := filepath.Join(dir, "sig.cms"), filepath.Join(dir, "cd.bin")
	if err := os.WriteFile(cmsPath, cs.CMSSignature, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cdPath, ours.CodeDirectories[0].Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", cmsPath, "-content", cdPath,
		"-CAfile", filepath.Join(id.Dir, "root.pem"), "-purpose", "any", "-ignore_critical", "-attime", strconv.FormatInt(at.Unix(), 10), "-out", os.DevNull)
}
