package codesign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gocs "github.com/blacktop/go-macho/pkg/codesign"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

const (
	testTeam = "ABCDE12345"
	testID   = "com.example.app"
)

var (
	fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	testEntitlements = []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>application-identifier</key>
	<string>ABCDE12345.com.example.app</string>
	<key>com.apple.developer.team-identifier</key>
	<string>ABCDE12345</string>
	<key>get-task-allow</key>
	<false/>
	<key>keychain-access-groups</key>
	<array>
		<string>ABCDE12345.*</string>
	</array>
	<key>com.example.count</key>
	<integer>42</integer>
	<key>com.example.nested</key>
	<dict><key>b</key><true/><key>a</key><string>x</string></dict>
</dict>
</plist>
`)
	testInfoPlist     = []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>CFBundleIdentifier</key><string>com.example.app</string></dict></plist>`)
	testCodeResources = []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>files</key><dict/></dict></plist>`)
)

// testCode is pseudo-random code of n bytes.
func testCode(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

// distParams is a full distribution signature's inputs.
func distParams(t *testing.T, id *testenv.AppleIdentity, code []byte) *Params {
	t.Helper()
	der, err := EntitlementsDER(testEntitlements)
	if err != nil {
		t.Fatal(err)
	}
	return &Params{
		Code: code, Identifier: testID, TeamID: testTeam,
		ExecSegBase: 0, ExecSegLimit: 0x4000, ExecSegFlags: ExecSegMainBinary,
		InfoPlist: testInfoPlist, CodeResources: testCodeResources,
		Entitlements: testEntitlements, EntitlementsDER: der,
		Requirements: DesignatedRequirement(testID, id.Leaf),
		Signer:       id.LeafKey, Chain: []*x509.Certificate{id.Leaf, id.WWDR},
		SigningTime: fixedTime, Rand: rand.Reader,
	}
}

func pageHashes(code []byte) [][]byte {
	var out [][]byte
	for i := 0; i < len(code); i += PageSize {
		h := sha256.Sum256(code[i:min(i+PageSize, len(code))])
		out = append(out, h[:])
	}
	return out
}

func sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// TestSignDistribution signs with a distribution identity and checks the
// result with independent readers: go-macho (SuperBlob, CodeDirectory,
// requirements decompiled to text, entitlements), openssl cms -verify (the
// CMS over the CodeDirectory, to the test root), openssl asn1parse (the
// CDHashes and CDHashes2 attributes, the DER entitlements), python's
// plistlib (the CDHashes plist) and plistutil (the entitlements XML).
func TestSignDistribution(t *testing.T) {
	id := testenv.NewAppleIdentity(t, testTeam, fixedTime.AddDate(0, -1, 0), fixedTime.AddDate(1, 0, 0))
	for _, n := range []int{0, 1, PageSize, 3*PageSize + 123} {
		code := testCode(n)
		p := distParams(t, id, code)
		sig, err := Sign(p)
		if err != nil {
			t.Fatal(err)
		}
		if est := Estimate(p); len(sig) > est || est-len(sig) > cmsReserve+64 {
			t.Errorf("code %d: signature %d bytes, estimate %d", n, len(sig), est)
		}

		// go-macho, with the signature padded as it sits in a Mach-O.
		cs, err := gocs.ParseCodeSignature(append(sig, make([]byte, 64)...))
		if err != nil {
			t.Fatalf("code %d: go-macho: %v", n, err)
		}
		if len(cs.CodeDirectories) != 1 {
			t.Fatalf("go-macho sees %d CodeDirectories", len(cs.CodeDirectories))
		}
		cd := cs.CodeDirectories[0]
		if cd.ID != testID || cd.TeamID != testTeam || cd.Header.Version != cdVersion || cd.Header.ExecSegFlags != ExecSegMainBinary || cd.Header.ExecSegLimit != 0x4000 || cd.Header.PageSize != 12 || cd.Header.Flags != 0 {
			t.Errorf("code %d: go-macho CodeDirectory fields %+v", n, cd.Header)
		}
		want := pageHashes(code)
		if len(cd.CodeSlots) != len(want) {
			t.Fatalf("code %d: %d code slots, want %d", n, len(cd.CodeSlots), len(want))
		}
		for i, s := range cd.CodeSlots {
			if !bytes.Equal(s.Hash, want[i]) {
				t.Errorf("code %d: page %d hash differs", n, i)
			}
		}
		ours, err := Parse(sig)
		if err != nil {
			t.Fatal(err)
		}
		wantSpecial := map[uint32][]byte{
			SlotInfo: sum(testInfoPlist), SlotRequirements: sum(ours.Requirements), SlotResourceDir: sum(testCodeResources),
			SlotApplication: make([]byte, 32), SlotEntitlements: sum(ours.Entitlements), 6: make([]byte, 32), SlotEntitlementsDER: sum(ours.EntitlementsDER),
		}
		if len(cd.SpecialSlots) != 7 {
			t.Errorf("%d special slots, want 7", len(cd.SpecialSlots))
		}
		for _, s := range cd.SpecialSlots {
			if !bytes.Equal(s.Hash, wantSpecial[s.Index]) {
				t.Errorf("special slot %d: %x, want %x", s.Index, s.Hash, wantSpecial[s.Index])
			}
		}
		// go-macho decompiles the requirement (its text has doubled spaces).
		if len(cs.Requirements) != 1 || strings.Join(strings.Fields(cs.Requirements[0].Detail), " ") != DesignatedRequirementText(testID, id.Leaf, nil) {
			t.Errorf("go-macho requirements: %+v", cs.Requirements)
		}
		if cs.Entitlements != string(testEntitlements) || !bytes.Equal(cs.EntitlementsDER, ours.EntitlementsDER[8:]) {
			t.Errorf("go-macho entitlements differ")
		}
		if n != 3*PageSize+123 {
			continue
		}

		// Our own verifier agrees.
		if err := ours.CodeDirectories[0].CheckCode(code); err != nil {
			t.Error(err)
		}
		if err := ours.CheckSpecialSlots(testInfoPlist, testCodeResources); err != nil {
			t.Error(err)
		}
		roots := x509.NewCertPool()
		roots.AddCert(id.Root)
		info, err := ours.VerifyCMS(roots, fixedTime)
		if err != nil {
			t.Fatal(err)
		}
		if !info.SigningTime.Equal(fixedTime) || info.Leaf.SerialNumber.Cmp(id.Leaf.SerialNumber) != 0 {
			t.Errorf("signer info %+v", info)
		}
		if _, err := ours.VerifyCMS(x509.NewCertPool(), fixedTime); !errors.Is(err, ErrSignature) {
			t.Errorf("VerifyCMS with another root: %v", err)
		}
		// A code page hash changed inside the signed CodeDirectory.
		bad := bytes.Clone(sig)
		cdStart := bytes.Index(bad, ours.CodeDirectories[0].Raw)
		bad[cdStart+len(ours.CodeDirectories[0].Raw)-1] ^= 1
		if badSig, err := Parse(bad); err != nil {
			t.Fatal(err)
		} else if _, err := badSig.VerifyCMS(roots, fixedTime); !errors.Is(err, ErrSignature) {
			t.Errorf("VerifyCMS of a changed CodeDirectory: %v", err)
		}
		checkOpenSSL(t, id, ours)
	}
}

// checkOpenSSL verifies the CMS with openssl and reads its Apple attributes.
func checkOpenSSL(t *testing.T, id *testenv.AppleIdentity, s *Signature) {
	dir := t.TempDir()
	cd := s.CodeDirectories[0]
	cmsPath, cdPath := filepath.Join(dir, "sig.cms"), filepath.Join(dir, "cd.bin")
	os.WriteFile(cmsPath, s.CMS, 0o600)
	os.WriteFile(cdPath, cd.Raw, 0o600)
	testenv.Run(t, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", cmsPath, "-content", cdPath,
		"-CAfile", filepath.Join(id.Dir, "root.pem"), "-purpose", "any", "-ignore_critical", "-attime", itoa64(fixedTime.Unix()), "-out", os.DevNull)
	// A CodeDirectory that differs by one byte is refused.
	bad := bytes.Clone(cd.Raw)
	bad[len(bad)-1] ^= 1
	os.WriteFile(cdPath, bad, 0o600)
	if out, err := testenv.RunStatus(t, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", cmsPath, "-content", cdPath,
		"-CAfile", filepath.Join(id.Dir, "root.pem"), "-purpose", "any", "-ignore_critical", "-attime", itoa64(fixedTime.Unix()), "-out", os.DevNull); err == nil {
		t.Errorf("openssl accepted a tampered CodeDirectory: %s", out)
	}

	dump := testenv.Run(t, "openssl", "asn1parse", "-inform", "DER", "-in", cmsPath)
	cdhash := strings.ToUpper(hex.EncodeToString(cd.CDHash()))
	// CDHashes: the OCTET STRING after the OID holds an XML plist; openssl
	// locates it (offset, header and content length), python reads it.
	m := regexp.MustCompile(`:1\.2\.840\.113635\.100\.9\.1\n.*\n\s*(\d+):d=\d+\s+hl=(\d+) l=\s*(\d+) prim: OCTET STRING`).FindStringSubmatch(dump)
	if m == nil {
		t.Fatalf("no CDHashes attribute in:\n%s", dump)
	}
	off, _ := strconv.Atoi(m[1])
	hl, _ := strconv.Atoi(m[2])
	l, _ := strconv.Atoi(m[3])
	plistPath := filepath.Join(dir, "cdhashes.plist")
	os.WriteFile(plistPath, s.CMS[off+hl:off+hl+l], 0o600)
	py := testenv.Run(t, "python3", "-c", "import plistlib,sys; print(plistlib.load(open(sys.argv[1],'rb'))['cdhashes'][0].hex().upper())", plistPath)
	if strings.TrimSpace(py) != cdhash[:40] {
		t.Errorf("CDHashes plist holds %s, want %s", py, cdhash[:40])
	}
	// CDHashes2: SEQUENCE { sha256, OCTET STRING full hash }.
	m = regexp.MustCompile(`:1\.2\.840\.113635\.100\.9\.2\n.*\n.*SEQUENCE\s*\n.*OBJECT\s+:sha256\n.*OCTET STRING\s+\[HEX DUMP\]:([0-9A-F]+)`).FindStringSubmatch(dump)
	if m == nil || m[1] != cdhash {
		t.Errorf("CDHashes2 attribute %v, want %s in:\n%s", m, cdhash, dump)
	}
	if !strings.Contains(dump, ":signingTime") || !strings.Contains(dump, "UTCTIME           :260102030405Z") {
		t.Errorf("signing time missing from:\n%s", dump)
	}

	// The entitlements: plistutil reads the XML, openssl the DER.
	entPath := filepath.Join(dir, "ent.plist")
	os.WriteFile(entPath, s.Entitlements[8:], 0o600)
	testenv.Run(t, "plistutil", "-i", entPath, "-o", filepath.Join(dir, "ent.bin"), "-f", "bin")
	derPath := filepath.Join(dir, "ent.der")
	os.WriteFile(derPath, s.EntitlementsDER[8:], 0o600)
	der := testenv.Run(t, "openssl", "asn1parse", "-inform", "DER", "-i", "-in", derPath)
	for _, want := range []string{
		"appl [ 16 ]", "INTEGER           :01", "cont [ 16 ]",
		":application-identifier", ":ABCDE12345.com.example.app",
		"BOOLEAN           :0", "INTEGER           :2A", "SET", ":ABCDE12345.*",
	} {
		if !strings.Contains(der, want) {
			t.Errorf("DER entitlements lack %q:\n%s", want, der)
		}
	}
	// Keys ascend: application-identifier < com.apple… < com.example.count < … < keychain-access-groups.
	keys := regexp.MustCompile(`(?m)d=2 .*SEQUENCE\s*\n.*d=3 .*UTF8STRING\s+:(.*)$`).FindAllStringSubmatch(der, -1)
	var got []string
	for _, k := range keys {
		got = append(got, k[1])
	}
	if strings.Join(got, ",") != "application-identifier,com.apple.developer.team-identifier,com.example.count,com.example.nested,get-task-allow,keychain-access-groups" {
		t.Errorf("top-level DER keys %v", got)
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// TestSignAdHoc: what `codesign -s -` writes: CS_ADHOC, the empty
// requirement set, an empty BlobWrapper; go-macho reads it.
func TestSignAdHoc(t *testing.T) {
	code := testCode(2*PageSize + 5)
	p := &Params{Code: code, Identifier: "com.example.adhoc", AdHoc: true, InfoPlist: testInfoPlist}
	sig, err := Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := gocs.ParseCodeSignature(sig)
	if err != nil {
		t.Fatal(err)
	}
	cd := cs.CodeDirectories[0]
	if cd.Header.Flags != FlagAdHoc || cd.TeamID != "" || len(cs.CMSSignature) != 0 || len(cd.SpecialSlots) != 2 {
		t.Errorf("ad-hoc: flags %v team %q cms %d special %d", cd.Header.Flags, cd.TeamID, len(cs.CMSSignature), len(cd.SpecialSlots))
	}
	s, err := Parse(sig)
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasWrapper || len(s.CMS) != 0 || !bytes.Equal(s.Requirements, []byte{0xfa, 0xde, 0x0c, 0x01, 0, 0, 0, 12, 0, 0, 0, 0}) {
		t.Errorf("ad-hoc wrapper %v %x, requirements %x", s.HasWrapper, s.CMS, s.Requirements)
	}
	if err := s.CheckSpecialSlots(testInfoPlist, nil); err != nil {
		t.Error(err)
	}
	// Read the SuperBlob index by hand: codesign -s - writes the
	// CodeDirectory, the empty requirement set and an 8-byte BlobWrapper
	// (Security's signer: "a null signer generates a null signature blob").
	be := binary.BigEndian
	blobs := map[uint32][]byte{}
	for i := range int(be.Uint32(sig[8:])) {
		slot, off := be.Uint32(sig[12+8*i:]), be.Uint32(sig[16+8*i:])
		blobs[slot] = sig[off : off+be.Uint32(sig[off+4:])]
	}
	if len(blobs) != 3 || !bytes.Equal(blobs[SlotSignature], []byte{0xfa, 0xde, 0x0b, 0x01, 0, 0, 0, 8}) || !bytes.Equal(blobs[SlotRequirements], EmptyRequirements()) {
		t.Errorf("ad-hoc SuperBlob slots %x", blobs)
	}
	if _, err := s.VerifyCMS(nil, fixedTime); !errors.Is(err, ErrSignature) {
		t.Errorf("VerifyCMS of ad-hoc: %v", err)
	}
	if len(sig) > Estimate(p) {
		t.Errorf("ad-hoc %d > estimate %d", len(sig), Estimate(p))
	}
}

// TestSignDeterministic: the same inputs and clock give the same bytes (RSA
// PKCS#1 v1.5 signatures are deterministic).
func TestSignDeterministic(t *testing.T) {
	id := testenv.NewAppleIdentity(t, testTeam, fixedTime.AddDate(0, -1, 0), fixedTime.AddDate(1, 0, 0))
	a, err := Sign(distParams(t, id, testCode(9000)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Sign(distParams(t, id, testCode(9000)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two signatures of the same input differ")
	}
	p := distParams(t, id, testCode(9000))
	p.SigningTime = fixedTime.Add(time.Second)
	c, _ := Sign(p)
	if bytes.Equal(a, c) {
		t.Error("signing time does not reach the signature")
	}
}

// TestSignCodeReader: code read page by page through CodeReader signs to the
// same bytes as the code in memory; setting both is refused.
func TestSignCodeReader(t *testing.T) {
	id := testenv.NewAppleIdentity(t, testTeam, fixedTime.AddDate(0, -1, 0), fixedTime.AddDate(1, 0, 0))
	code := testCode(3*PageSize + 123)
	want, err := Sign(distParams(t, id, code))
	if err != nil {
		t.Fatal(err)
	}
	p := distParams(t, id, nil)
	p.CodeReader = io.NewSectionReader(bytes.NewReader(code), 0, int64(len(code)))
	if est := Estimate(p); est != Estimate(distParams(t, id, code)) {
		t.Errorf("Estimate with CodeReader %d, with Code %d", est, Estimate(distParams(t, id, code)))
	}
	got, err := Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("signature over CodeReader differs from the one over Code")
	}
	p.Code = code
	if _, err := Sign(p); !errors.Is(err, ErrInput) {
		t.Errorf("Code and CodeReader both set: %v, want ErrInput", err)
	}
}

// TestEstimate: the estimate bounds the signature for each key type and
// input shape.
func TestEstimate(t *testing.T) {
	id := testenv.NewAppleIdentity(t, testTeam, fixedTime.AddDate(0, -1, 0), fixedTime.AddDate(1, 0, 0))
	ec, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	for _, tc := range []struct {
		name string
		edit func(*Params)
	}{
		{"rsa full", func(*Params) {}},
		{"ecdsa p521, default rand", func(p *Params) { p.Signer, p.Rand = ec, nil }},
		{"no entitlements", func(p *Params) { p.Entitlements, p.EntitlementsDER = nil, nil }},
		{"no resources", func(p *Params) { p.Entitlements, p.EntitlementsDER, p.CodeResources, p.InfoPlist = nil, nil, nil, nil }},
		{"large code", func(p *Params) { p.Code = testCode(5<<20 + 1) }},
		{"long identifier", func(p *Params) { p.Identifier = strings.Repeat("x", 300) }},
		{"leaf only", func(p *Params) { p.Chain = p.Chain[:1] }},
	} {
		p := distParams(t, id, testCode(20000))
		tc.edit(p)
		sig, err := Sign(p)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if est := Estimate(p); len(sig) > est || est%16 != 0 {
			t.Errorf("%s: %d bytes, estimate %d", tc.name, len(sig), est)
		}
		if _, err := Parse(sig); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestTamper: our verifier names what changed.
func TestTamper(t *testing.T) {
	code := testCode(4*PageSize + 10)
	sig, err := Sign(&Params{Code: code, Identifier: testID, AdHoc: true, InfoPlist: testInfoPlist, CodeResources: testCodeResources})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(sig)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(code)
	bad[2*PageSize+7] ^= 0x80
	var pe *PageError
	if err := s.CodeDirectories[0].CheckCode(bad); !errors.As(err, &pe) || pe.Page != 2 || !errors.Is(err, ErrHashMismatch) {
		t.Errorf("tampered page: %v", err)
	}
	if err := s.CodeDirectories[0].CheckCode(code[:len(code)-1]); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("truncated code: %v", err)
	}
	var se *SlotError
	if err := s.CheckSpecialSlots(append(bytes.Clone(testInfoPlist), ' '), testCodeResources); !errors.As(err, &se) || se.Slot != SlotInfo {
		t.Errorf("tampered Info.plist: %v", err)
	}
	if err := s.CheckSpecialSlots(testInfoPlist, []byte("x")); !errors.As(err, &se) || se.Slot != SlotResourceDir {
		t.Errorf("tampered CodeResources: %v", err)
	}
	if err := s.CheckSpecialSlots(nil, testCodeResources); !errors.As(err, &se) || se.Slot != SlotInfo {
		t.Errorf("missing Info.plist: %v", err)
	}
}

// TestEntitlementsDERVectors: the empty-dictionary and boolean vectors are
// the ones rcodesign's tests give for Apple's encoding; the others follow
// the same rules by hand; and refused value types.
func TestEntitlementsDERVectors(t *testing.T) {
	wrap := func(body string) []byte {
		return []byte(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0">` + body + `</plist>`)
	}
	for _, tc := range []struct {
		name, plist string
		want        []byte
		err         bool
	}{
		{"empty dict", `<dict/>`, []byte{0x70, 5, 2, 1, 1, 0xb0, 0}, false},
		{"bool false", `<dict><key>key</key><false/></dict>`, []byte{0x70, 15, 2, 1, 1, 0xb0, 10, 0x30, 8, 0x0c, 3, 'k', 'e', 'y', 1, 1, 0}, false},
		{"bool true", `<dict><key>key</key><true/></dict>`, []byte{0x70, 15, 2, 1, 1, 0xb0, 10, 0x30, 8, 0x0c, 3, 'k', 'e', 'y', 1, 1, 0xff}, false},
		{"string array", `<dict><key>k</key><array><string>a</string></array></dict>`, []byte{0x70, 15, 2, 1, 1, 0xb0, 10, 0x30, 8, 0x0c, 1, 'k', 0x30, 3, 0x0c, 1, 'a'}, false},
		{"nested dict", `<dict><key>k</key><dict><key>a</key><integer>1</integer></dict></dict>`, []byte{0x70, 20, 2, 1, 1, 0xb0, 15, 0x30, 13, 0x0c, 1, 'k', 0x31, 8, 0x30, 6, 0x0c, 1, 'a', 2, 1, 1}, false},
		{"data refused", `<dict><key>k</key><data>AA==</data></dict>`, nil, true},
		{"real refused", `<dict><key>k</key><real>1.5</real></dict>`, nil, true},
		{"not a dict", `<array/>`, nil, true},
		{"not a plist", `<dict>`, nil, true},
	} {
		got, err := EntitlementsDER(wrap(tc.plist))
		if tc.err {
			if !errors.Is(err, ErrInput) {
				t.Errorf("%s: err %v, want ErrInput", tc.name, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: % x (%v), want % x", tc.name, got, err, tc.want)
		}
	}
}

// TestParseMalformed: one case per class of bad SuperBlob.
func TestParseMalformed(t *testing.T) {
	good, err := Sign(&Params{Code: testCode(5000), Identifier: testID, AdHoc: true})
	if err != nil {
		t.Fatal(err)
	}
	put := func(off int, v uint32) []byte {
		b := bytes.Clone(good)
		b[off], b[off+1], b[off+2], b[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		return b
	}
	cdOff := superBlobHeaderSize + 3*superBlobIndexEntrySize
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short", good[:8]},
		{"bad magic", put(0, 0xfade0c02)},
		{"length past end", put(4, uint32(len(good)+1))},
		{"too many entries", put(8, 1000)},
		{"offset past end", put(16, uint32(len(good)))},
		{"blob length past end", put(cdOff+4, 1<<20)},
		{"wrong magic in slot 0", put(cdOff, MagicRequirements)},
		{"code slots exceed blob", put(cdOff+28, 1000)},
		{"ident offset outside", put(cdOff+20, 1<<20)},
		{"sha-384 directory", put(cdOff+36, 0x30040000|uint32(good[cdOff+38])<<8|12)},
		{"sha1 type with 32-byte hashes", put(cdOff+36, 0x20010000|uint32(good[cdOff+38])<<8|12)},
		{"no code directory", put(12, SlotRequirements+0x100)},
	} {
		if _, err := Parse(tc.b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	sig, _ := Sign(&Params{Code: testCode(5000), Identifier: testID, AdHoc: true, InfoPlist: testInfoPlist})
	f.Add(sig)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		cd := s.CodeDirectories[0]
		_ = cd.CheckCode(make([]byte, min(cd.CodeLimit, 1<<20)))
		_ = s.CheckSpecialSlots(nil, nil)
	})
}
