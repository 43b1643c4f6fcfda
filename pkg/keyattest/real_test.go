package keyattest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"

	. "github.com/trustfuse/trustfuse/pkg/keyattest"
)

// Real chains from google/android-key-attestation's test resources (see
// testdata/README.md). Their source states: attestation version 3, keymaster
// version 4, TrustedEnvironment for both levels, challenge "abc".
var (
	realInside = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)   // all certs valid
	realToday  = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) // 2016 root copy expired, intermediates valid
	realSigner = mustHex("301aa3cb081134501c45f1422abc66c24224fd5ded5fdc8f17e697176fd866aa")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func realPolicy() Policy {
	return Policy{
		Challenge:        []byte("abc"),
		Package:          "android",
		SignerDigests:    [][]byte{realSigner},
		MinSecurityLevel: TrustedEnvironment,
	}
}

func TestGoogleRoots(t *testing.T) {
	roots := GoogleRoots()
	if len(roots) != 5 {
		t.Fatalf("%d embedded roots, want 5", len(roots))
	}
	var rsaRoots, ecRoots int
	var rsaKey *rsa.PublicKey
	for _, r := range roots {
		if err := r.CheckSignatureFrom(r); err != nil {
			t.Errorf("root %s (serial %x) is not self-signed: %v", r.Subject, r.SerialNumber, err)
		}
		if !r.IsCA {
			t.Errorf("root %s is not a CA", r.Subject)
		}
		switch k := r.PublicKey.(type) {
		case *rsa.PublicKey:
			rsaRoots++
			if r.Subject.SerialNumber != "f92009e853b6b045" || k.N.BitLen() != 4096 {
				t.Errorf("RSA root subject %s, %d bits", r.Subject, k.N.BitLen())
			}
			if rsaKey != nil && !rsaKey.Equal(k) {
				t.Errorf("RSA root issues do not share one key")
			}
			rsaKey = k
		case *ecdsa.PublicKey:
			ecRoots++
			if k.Curve != elliptic.P384() || r.Subject.CommonName != "Key Attestation CA1" {
				t.Errorf("ECDSA root %s on %s", r.Subject, k.Curve.Params().Name)
			}
		}
	}
	if rsaRoots != 4 || ecRoots != 1 {
		t.Fatalf("%d RSA and %d ECDSA roots, want 4 and 1", rsaRoots, ecRoots)
	}
	// Independent: the SHA-256 fingerprint of the 2016 root as published by
	// SimpleWebAuthn (defaultRootCerts/android-key), and openssl's view of
	// each file.
	want2016 := "c1984a3ef45c1e2a918551de10603c86f7051b2249c4891cae3230eabd0c97d5"
	found := false
	for _, r := range roots {
		sum := sha256.Sum256(r.Raw)
		found = found || hex.EncodeToString(sum[:]) == want2016
	}
	if !found {
		t.Error("the 2016 Google root (fingerprint c1984a3e…) is not embedded")
	}
	files, _ := filepath.Glob("roots/*.pem")
	for _, f := range files {
		out := testenv.Run(t, "openssl", "verify", "-no_check_time", "-CAfile", f, f)
		if !strings.Contains(out, ": OK") {
			t.Errorf("openssl: %s is not a self-signed root: %s", f, out)
		}
	}
}

func realChain(t *testing.T, name string) []*x509.Certificate {
	t.Helper()
	certs := readPEMChain(t, filepath.Join("testdata", "real", name))
	if len(certs) != 4 {
		t.Fatalf("%s: %d certificates", name, len(certs))
	}
	return certs
}

func TestRealChains(t *testing.T) {
	for _, tc := range []struct {
		file string
		leaf string // public key algorithm
	}{{"ec-tee.pem", "ECDSA"}, {"rsa-tee.pem", "RSA"}} {
		t.Run(tc.file, func(t *testing.T) {
			certs := realChain(t, tc.file)
			if certs[0].PublicKeyAlgorithm.String() != tc.leaf {
				t.Fatalf("leaf key %s", certs[0].PublicKeyAlgorithm)
			}
			v, err := NewVerifier(GoogleRoots(), nil)
			if err != nil {
				t.Fatal(err)
			}
			chain := raws(certs...)
			var rec *Record
			for _, now := range []time.Time{realInside, realToday} {
				if rec, err = v.Verify(chain, realPolicy(), now); err != nil {
					t.Fatalf("at %s: %v", now.Format(time.DateOnly), err)
				}
			}
			// What the source says.
			if rec.AttestationVersion != 3 || rec.KeyMintVersion != 4 ||
				rec.AttestationSecurityLevel != TrustedEnvironment || rec.KeyMintSecurityLevel != TrustedEnvironment ||
				string(rec.Challenge) != "abc" {
				t.Fatalf("record %+v", rec)
			}
			// What the device says: an unlocked development device.
			if rt := rec.RootOfTrust; rt == nil || rt.VerifiedBootState != Unverified || rt.DeviceLocked || !rec.RootOfTrustHardwareEnforced() {
				t.Fatalf("root of trust %+v", rec.RootOfTrust)
			}
			if rec.OSPatchLevel != 201907 || rec.Application.Packages[0] != (PackageInfo{"android", 29}) {
				t.Fatalf("os patch %d, first package %+v", rec.OSPatchLevel, rec.Application.Packages[0])
			}

			// Independent decoding of the same extension by openssl.
			dir := t.TempDir()
			lines, args := opensslExtensionAt(t, dir, certs[0])
			checkAgainstOpenSSL(t, lines, rec)
			checkApplicationAgainstOpenSSL(t, lines, args, rec)

			// Independent chain check by openssl: the intermediates lead to the
			// 2016 Google root in 2020, and to its 2022 re-issue today.
			leaf := writePEM(t, dir, "leaf.pem", certs[0])
			inter := writePEM(t, dir, "inter.pem", certs[1], certs[2])
			for _, c := range []struct {
				root string
				at   time.Time
			}{{"roots/google-rsa-2016.pem", realInside}, {"roots/google-rsa-2022.pem", realToday}} {
				out := testenv.Run(t, "openssl", "verify", "-attime", strconv.FormatInt(c.at.Unix(), 10),
					"-CAfile", c.root, "-untrusted", inter, leaf)
				if !strings.Contains(out, "leaf.pem: OK") {
					t.Fatalf("openssl verify: %s", out)
				}
			}

			// Rules on real data.
			for _, bad := range []struct {
				name   string
				reason string
				mod    func(p *Policy, now *time.Time, chain *[][]byte)
			}{
				{"verified boot required", ReasonVerifiedBoot, func(p *Policy, _ *time.Time, _ *[][]byte) { p.RequireVerifiedBoot = true }},
				{"strongbox required", ReasonSecurityLevel, func(p *Policy, _ *time.Time, _ *[][]byte) { p.MinSecurityLevel = StrongBox }},
				{"other challenge", ReasonChallenge, func(p *Policy, _ *time.Time, _ *[][]byte) { p.Challenge = []byte("abd") }},
				{"other package", ReasonApplication, func(p *Policy, _ *time.Time, _ *[][]byte) { p.Package = "com.example" }},
				{"intermediates expired", ReasonChain, func(_ *Policy, now *time.Time, _ *[][]byte) { *now = time.Date(2028, 4, 1, 0, 0, 0, 0, time.UTC) }},
				{"chain without root", "", func(_ *Policy, _ *time.Time, c *[][]byte) { *c = (*c)[:3] }},
				{"leaf and root only", ReasonChain, func(_ *Policy, _ *time.Time, c *[][]byte) { *c = [][]byte{(*c)[0], (*c)[3]} }},
			} {
				p, now, c := realPolicy(), realToday, append([][]byte{}, chain...)
				bad.mod(&p, &now, &c)
				_, err := v.Verify(c, p, now)
				if bad.reason == "" && err != nil || bad.reason != "" && !isReason(err, bad.reason) {
					t.Errorf("%s: %v, want reason %q", bad.name, err, bad.reason)
				}
			}
		})
	}
}

// TestRealStrongBoxChains: the StrongBox sample chain ends at a root that is
// not Google's; it verifies only when that root is trusted. The EC StrongBox
// sample is mis-ordered at its source (the leaf's issuer is the third
// certificate, not the second): a real broken link.
func TestRealStrongBoxChains(t *testing.T) {
	certs := realChain(t, "rsa-strongbox.pem")
	p := realPolicy()
	p.MinSecurityLevel = StrongBox
	v, _ := NewVerifier(GoogleRoots(), nil)
	if _, err := v.Verify(raws(certs...), p, realInside); !isReason(err, ReasonRoot) {
		t.Fatalf("Verify = %v, want %s", err, ReasonRoot)
	}
	v, _ = NewVerifier(certs[3:], nil)
	rec, err := v.Verify(raws(certs...), p, realInside)
	if err != nil {
		t.Fatal(err)
	}
	if rec.AttestationSecurityLevel != StrongBox || rec.KeyMintSecurityLevel != StrongBox || string(rec.Challenge) != "abc" {
		t.Fatalf("record %+v", rec)
	}

	broken := realChain(t, "ec-strongbox.pem")
	v, _ = NewVerifier(broken[3:], nil)
	_, err = v.Verify(raws(broken...), p, realInside)
	if !isReason(err, ReasonChain) || !strings.Contains(err.Error(), "is not the subject") {
		t.Fatalf("Verify(mis-ordered chain) = %v, want %s", err, ReasonChain)
	}
	// openssl agrees that leaf → second certificate does not chain.
	dir := t.TempDir()
	root := writePEM(t, dir, "root.pem", broken[3])
	inter := writePEM(t, dir, "inter.pem", broken[1])
	leaf := writePEM(t, dir, "leaf.pem", broken[0])
	cmd := exec.Command(testenv.Tool(t, "openssl"), "verify", "-partial_chain", "-attime", strconv.FormatInt(realInside.Unix(), 10),
		"-CAfile", root, "-untrusted", inter, leaf)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("openssl accepted the mis-ordered chain: %s", out)
	}
}

// TestRealStatusList: Google's sample status.json (the published format)
// parses, and a listed intermediate serial revokes a real chain.
func TestRealStatusList(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "real", "google-test-status.json"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseRevocationList(data)
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 5 {
		t.Fatalf("%d entries, want 5", l.Len())
	}
	s, _ := new(big.Int).SetString("cc66e9a93713b6e643b26c15879786f7", 16)
	if st, ok := l.Revoked(s); !ok || st != "SUSPENDED" {
		t.Fatalf("Revoked = %q, %v", st, ok)
	}
	certs := realChain(t, "ec-tee.pem")
	v, _ := NewVerifier(GoogleRoots(), l)
	if _, err := v.Verify(raws(certs...), realPolicy(), realInside); err != nil {
		t.Fatalf("chain not on the list: %v", err)
	}
	revoked := `{"entries": {"` + certs[2].SerialNumber.Text(16) + `": {"status": "REVOKED", "reason": "KEY_COMPROMISE"}}}`
	l2, err := ParseRevocationList([]byte(revoked))
	if err != nil {
		t.Fatal(err)
	}
	v, _ = NewVerifier(GoogleRoots(), l2)
	if _, err := v.Verify(raws(certs...), realPolicy(), realInside); !isReason(err, ReasonRevoked) {
		t.Fatalf("Verify = %v, want %s", err, ReasonRevoked)
	}
}
