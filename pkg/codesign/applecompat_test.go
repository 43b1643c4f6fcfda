package codesign

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/cms"
	"github.com/trustfuse/trustfuse/internal/testenv"
)

// TestAppleRoots pins the embedded Apple Root CA to the fingerprint Apple
// publishes (computed here and by openssl x509), checks it is the 2006
// self-signed root, that each call returns a fresh pool, and, with the real
// inputs, that it is byte for byte the root in a real Apple signature's CMS.
func TestAppleRoots(t *testing.T) {
	block, rest := pem.Decode([]byte(appleRootPEM))
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("embedded PEM: block %v, %d bytes after it", block != nil, len(rest))
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if fp := sha256.Sum256(root.Raw); hex.EncodeToString(fp[:]) != appleRootCA {
		t.Errorf("fingerprint %x, Apple publishes %s", fp, appleRootCA)
	}
	if root.Subject.CommonName != "Apple Root CA" || !root.IsCA ||
		!bytes.Equal(root.RawIssuer, root.RawSubject) || root.NotAfter.Year() != 2035 || root.NotBefore.Year() != 2006 {
		t.Errorf("root %q CA %v issuer %q valid %v…%v", root.Subject.CommonName, root.IsCA, root.Issuer.CommonName, root.NotBefore, root.NotAfter)
	}
	a, b := AppleRoots(), AppleRoots()
	want := x509.NewCertPool()
	want.AddCert(root)
	if !a.Equal(want) || !b.Equal(want) {
		t.Error("AppleRoots does not hold exactly the Apple Root CA")
	}
	a.AddCert(testenv.NewAppleIdentity(t, testTeam, fixedTime, fixedTime.AddDate(1, 0, 0)).Root)
	if a.Equal(b) || !AppleRoots().Equal(want) {
		t.Error("AppleRoots returns a shared pool")
	}
	if testing.Short() {
		return
	}
	path := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(path, []byte(appleRootPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	out := testenv.Run(t, "openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256")
	if got := strings.ReplaceAll(strings.TrimSpace(out[strings.IndexByte(out, '=')+1:]), ":", ""); !strings.EqualFold(got, appleRootCA) {
		t.Errorf("openssl fingerprint %s, want %s", got, appleRootCA)
	}
	sd := realAppleCMS(t)
	found := false
	for _, c := range sd.Certificates {
		found = found || bytes.Equal(c.Raw, root.Raw)
	}
	if !found {
		t.Error("the real Apple signature's CMS does not embed the same Apple Root CA")
	}
}

// realAppleSignature returns the parsed signature of the first slice of the
// real Apple-signed app (node-ios-device's TestApp.app, 2015, SHA-1 only).
func realAppleSignature(t *testing.T) (*Signature, realSlice) {
	t.Helper()
	for _, b := range testenv.RealIOS(t) {
		if b.ID != "node-ios-device@1.13.0/TestApp.app" {
			continue
		}
		rs := realSlices(t, b)[0]
		s, err := Parse(rs.sig)
		if err != nil {
			t.Fatal(err)
		}
		return s, rs
	}
	t.Fatal("no real Apple-signed app among the real iOS inputs")
	return nil, realSlice{}
}

func realAppleCMS(t *testing.T) *cms.Signed {
	t.Helper()
	s, _ := realAppleSignature(t)
	sd, err := cms.Parse(s.CMS)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// TestRealAppleCMS verifies a real Apple signature end to end with our
// verifier: its BER CMS normalises to exactly the DER openssl cms -cmsout
// writes, the signature over the SHA-1 CodeDirectory and its message digest
// verify without CDHashes attributes (a single CodeDirectory), and the
// chain to AppleRoots fails only because it is signed with SHA-1 (the
// leaf's critical iPhone Developer extension is handled). Each tamper is
// refused: a CodeDirectory byte, an alternate CodeDirectory that no
// CDHashes attribute binds.
func TestRealAppleCMS(t *testing.T) {
	if testing.Short() {
		t.Skip("real iOS inputs are fetched with npm")
	}
	s, rs := realAppleSignature(t)
	cd := s.CodeDirectories[0]
	if len(s.CodeDirectories) != 1 || cd.Hash().String() != "SHA-1" || cd.Version != 0x20200 {
		t.Fatalf("%s: %d CodeDirectories, first %v version %#x: not the 2015 SHA-1 signature", rs.arch, len(s.CodeDirectories), cd.Hash(), cd.Version)
	}
	dir := t.TempDir()
	berPath, derPath := filepath.Join(dir, "sig.ber"), filepath.Join(dir, "sig.der")
	if err := os.WriteFile(berPath, s.CMS, 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "openssl", "cms", "-cmsout", "-inform", "DER", "-in", berPath, "-outform", "DER", "-out", derPath)
	opensslDER, err := os.ReadFile(derPath)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := cms.BERToDER(s.CMS)
	if err != nil || !bytes.Equal(ours, opensslDER) {
		t.Errorf("BERToDER: %d bytes (%v), openssl's DER %d bytes, equal %v", len(ours), err, len(opensslDER), bytes.Equal(ours, opensslDER))
	}
	if bytes.Equal(s.CMS, opensslDER) {
		t.Error("the real CMS is DER already: the test needs Apple's BER")
	}

	sd, err := cms.Parse(s.CMS)
	if err != nil {
		t.Fatal(err)
	}
	at, _ := sd.SigningTime()
	if _, ok := sd.Attribute(oidCDHashes); ok {
		t.Fatal("the 2015 signature has a CDHashes attribute: the test needs one without")
	}
	_, err = s.VerifyCMS(AppleRoots(), at)
	if !errors.Is(err, ErrSignature) || !errors.Is(err, cms.ErrSHA1Chain) || strings.Contains(err.Error(), "critical") {
		t.Errorf("VerifyCMS of the real 2015 chain to AppleRoots: %v; want ErrSHA1Chain and nothing else", err)
	}
	t.Logf("%s: %v", rs.arch, err)
	if !strings.Contains(err.Error(), sd.Signer.Subject.CommonName) {
		t.Errorf("the SHA-1 error does not name the certificate: %v", err)
	}

	bad := *s
	bad.CodeDirectories = []*CodeDirectory{{Raw: append(bytes.Clone(cd.Raw[:len(cd.Raw)-1]), cd.Raw[len(cd.Raw)-1]^1), HashType: cd.HashType}}
	if _, err := bad.VerifyCMS(AppleRoots(), at); !errors.Is(err, cms.ErrSignature) || errors.Is(err, cms.ErrSHA1Chain) {
		t.Errorf("changed CodeDirectory: %v", err)
	}
	two := *s
	two.CodeDirectories = []*CodeDirectory{cd, cd}
	if _, err := two.VerifyCMS(AppleRoots(), at); !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "no CDHashes attribute") {
		t.Errorf("two CodeDirectories, no CDHashes: %v", err)
	}
}

// TestRealDualCodeDirectories checks that verification covers both
// CodeDirectories of a real dual-hash signature (Xcode's SHA-1 primary and
// SHA-256 alternate): each check passes on the real inputs and each fails,
// naming the alternate, when only the alternate's page or special slot
// hash is changed in the signature bytes.
func TestRealDualCodeDirectories(t *testing.T) {
	if testing.Short() {
		t.Skip("real iOS inputs are fetched with npm")
	}
	n := 0
	for _, b := range testenv.RealIOS(t) {
		if b.ID != "ios-arm64_x86_64-simulator/TNSListView.framework" {
			continue
		}
		info := readOptional(t, filepath.Join(b.Dir, "Info.plist"))
		resources := readOptional(t, filepath.Join(b.Dir, "_CodeSignature", "CodeResources"))
		for _, rs := range realSlices(t, b) {
			s, err := Parse(rs.sig)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.CodeDirectories) != 2 || s.CodeDirectories[0].HashType != HashSHA1 || s.CodeDirectories[1].HashType != HashSHA256 {
				t.Fatalf("%s: want a SHA-1 primary and a SHA-256 alternate", rs.arch)
			}
			alt := s.CodeDirectories[1]
			code := rs.code[:alt.CodeLimit]
			if err := s.CheckCode(code); err != nil {
				t.Errorf("%s: CheckCode: %v", rs.arch, err)
			}
			if err := s.CheckSpecialSlots(info, resources); err != nil {
				t.Errorf("%s: CheckSpecialSlots: %v", rs.arch, err)
			}
			// The alternate's position in the signature bytes.
			altOff := bytes.Index(rs.sig, alt.Raw)
			hashOff := altOff + int(binary.BigEndian.Uint32(alt.Raw[16:]))
			for _, tc := range []struct {
				name string
				at   int
				err  func(error) bool
			}{
				{"page 0", hashOff, func(err error) bool {
					var pe *PageError
					return errors.As(err, &pe) && pe.Page == 0 && s.CheckSpecialSlots(info, resources) == nil
				}},
				{"special slot 1", hashOff - sha256.Size, func(err error) bool {
					var se *SlotError
					return errors.As(err, &se) && se.Slot == SlotInfo
				}},
			} {
				sig := bytes.Clone(rs.sig)
				sig[tc.at] ^= 1
				ts, err := Parse(sig)
				if err != nil {
					t.Fatal(err)
				}
				err = ts.CheckCode(code)
				if tc.name != "page 0" {
					if err != nil {
						t.Errorf("%s %s: CheckCode: %v", rs.arch, tc.name, err)
					}
					err = ts.CheckSpecialSlots(info, resources)
				}
				if !tc.err(err) || !strings.Contains(err.Error(), "CodeDirectory 1 (SHA-256)") {
					t.Errorf("%s %s changed in the alternate: %v", rs.arch, tc.name, err)
				}
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no dual-hash real signature checked")
	}
}

// TestVerifyCMSCDHashes: one case per shape of the CDHashes attributes,
// signed by the test identity (whose leaf extension is critical, as
// Apple's).
func TestVerifyCMSCDHashes(t *testing.T) {
	id := testenv.NewAppleIdentity(t, testTeam, fixedTime.AddDate(0, -1, 0), fixedTime.AddDate(1, 0, 0))
	roots := x509.NewCertPool()
	roots.AddCert(id.Root)
	primary, alt := testDirectory(t, "com.example.app"), testDirectory(t, "com.example.other")
	h1, h2 := primary.CDHash(), alt.CDHash()
	plistAttr := func(hs ...[]byte) cms.Attribute {
		a, err := cms.NewAttribute(oidCDHashes, cdHashesPlist(hs))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	entry := func(oid asn1.ObjectIdentifier, h []byte) cms.Attribute {
		a, err := cms.NewAttribute(oidCDHashes2, hashEntry{oid, h})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// Apple's CDHashes2 has one value per CodeDirectory.
	entries := func(a, b cms.Attribute) cms.Attribute {
		return cms.Attribute{Type: oidCDHashes2, Value: append(bytes.Clone(a.Value), b.Value...)}
	}
	for _, tc := range []struct {
		name  string
		cds   []*CodeDirectory
		attrs []cms.Attribute
		err   string // "" = verifies
	}{
		{"none, one directory (pre-2016 codesign)", []*CodeDirectory{primary}, nil, ""},
		{"both, one directory", []*CodeDirectory{primary}, []cms.Attribute{plistAttr(h1), entry(cms.OIDSHA256, h1)}, ""},
		{"plist only, two directories", []*CodeDirectory{primary, alt}, []cms.Attribute{plistAttr(h1, h2)}, ""},
		{"both, two directories", []*CodeDirectory{primary, alt}, []cms.Attribute{plistAttr(h1, h2), entries(entry(cms.OIDSHA256, h1), entry(cms.OIDSHA256, h2))}, ""},
		{"CDHashes2 second value wrong", []*CodeDirectory{primary, alt}, []cms.Attribute{plistAttr(h1, h2), entries(entry(cms.OIDSHA256, h1), entry(cms.OIDSHA256, h1[:31]))}, "CDHashes2 entry 1"},
		{"none, two directories", []*CodeDirectory{primary, alt}, nil, "no CDHashes attribute binds the 1 alternate"},
		{"CDHashes2 only, two directories", []*CodeDirectory{primary, alt}, []cms.Attribute{entry(cms.OIDSHA256, h1)}, "no CDHashes attribute binds"},
		{"plist misses the alternate", []*CodeDirectory{primary, alt}, []cms.Attribute{plistAttr(h1)}, "lists 1 hashes for 2"},
		{"plist wrong order", []*CodeDirectory{primary, alt}, []cms.Attribute{plistAttr(h2, h1)}, "entry 0 is not"},
		{"CDHashes2 of another directory", []*CodeDirectory{primary}, []cms.Attribute{plistAttr(h1), entry(cms.OIDSHA256, h2)}, "CDHashes2 entry 0"},
		{"CDHashes2 with the wrong algorithm", []*CodeDirectory{primary}, []cms.Attribute{plistAttr(h1), entry(cms.OIDSHA1, h1)}, "CDHashes2 entry 0"},
		{"CDHashes2 truncated", []*CodeDirectory{primary}, []cms.Attribute{plistAttr(h1), entry(cms.OIDSHA256, h1[:20])}, "CDHashes2 entry 0"},
	} {
		der, err := cms.SignDetached(tc.cds[0].Raw, id.LeafKey, []*x509.Certificate{id.Leaf, id.WWDR}, fixedTime, tc.attrs, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s := &Signature{CodeDirectories: tc.cds, CMS: der, HasWrapper: true}
		_, err = s.VerifyCMS(roots, fixedTime)
		if tc.err == "" && err != nil || tc.err != "" && (!errors.Is(err, ErrSignature) || !strings.Contains(fmtErr(err), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// testDirectory is the parsed CodeDirectory of an ad hoc signature of
// test code for identifier.
func testDirectory(t *testing.T, identifier string) *CodeDirectory {
	t.Helper()
	sig, err := Sign(&Params{Code: testCode(5000), Identifier: identifier, AdHoc: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(sig)
	if err != nil {
		t.Fatal(err)
	}
	return s.CodeDirectories[0]
}
