package keyattest_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kat "github.com/trustfuse/trustfuse/internal/keyattesttest"
	. "github.com/trustfuse/trustfuse/pkg/keyattest"
)

// fixture is a self-made chain shaped like a device's: root → intermediate
// (serialNumber + title=TEE) → KeyMint leaf with a KeyDescription.
type fixture struct {
	root, inter *kat.CA
	leaf        *x509.Certificate
	spec        kat.Spec
}

func newFixture(t *testing.T, rootKind string) *fixture {
	t.Helper()
	f := &fixture{spec: goodSpec()}
	f.root = kat.NewRoot(t, rootKind, "f00d"+rootKind)
	f.inter = kat.NewIntermediate(t, f.root, kat.IntermediateName("2dc58b2d1a241326"), time.Date(2028, 3, 18, 0, 0, 0, 0, time.UTC))
	f.leaf = f.leafWith(t, f.spec)
	return f
}

func (f *fixture) leafWith(t *testing.T, k kat.Spec) *x509.Certificate {
	return kat.NewLeaf(t, f.inter, nil, kat.KeyDescriptionExtension(kat.EncodeKeyDescription(t, k)))
}

// env is one Verify call.
type env struct {
	chain [][]byte
	roots []*x509.Certificate
	rev   *RevocationList
	p     Policy
	now   time.Time
}

func writeStatus(t *testing.T, entries map[string]string) *RevocationList {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`{"entries": {`)
	first := true
	for k, st := range entries {
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "%q: {\"status\": %q, \"reason\": \"KEY_COMPROMISE\"}", k, st)
	}
	b.WriteString("}}")
	p := filepath.Join(t.TempDir(), "status.json")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := LoadRevocationFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// wantDetail pins, for cases whose reason several rules share, the rule that
// must have fired.
var wantDetail = map[string]string{
	"bad signature":                         "signature by #1",
	"broken issuer/subject link":            "is not the subject",
	"expired intermediate":                  "certificate #1",
	"intermediate not yet valid":            "certificate #1",
	"expired root as trust anchor":          "trusted root",
	"expired root in chain":                 "trusted root",
	"extension on intermediate":             "not the leaf",
	"revoked intermediate":                  "certificate #1",
	"suspended root serial, upper-case key": "certificate #2",
	"wrong challenge":                       "differs",
	"unknown signer digest":                 "not an allowed signer",
	"one attested digest not allowed":       "not an allowed signer",
	"software keymint level, tee demanded":  "KeyMint",
}

func TestVerifyRules(t *testing.T) {
	for _, kind := range []string{"rsa", "p384"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, kind)
			other := kat.NewRoot(t, kind, "0ther")

			withSpec := func(mod func(*kat.Spec)) func(*testing.T, *env) {
				return func(t *testing.T, e *env) {
					k := goodSpec()
					mod(&k)
					e.chain[0] = f.leafWith(t, k).Raw
				}
			}
			cases := []struct {
				name   string
				reason string // "" = accepted
				mod    func(*testing.T, *env)
			}{
				{"good", "", nil},
				{"good without root in chain", "", func(t *testing.T, e *env) { e.chain = e.chain[:2] }},
				{"good with revocation list not naming us", "", func(t *testing.T, e *env) {
					e.rev = writeStatus(t, map[string]string{"abcdef": "REVOKED"})
				}},
				{"software level accepted when policy allows", "", func(t *testing.T, e *env) {
					withSpec(func(k *kat.Spec) {
						k.AttestationLevel, k.KeyMintLevel, k.RootOfTrustInSoftware = Software, Software, true
					})(t, e)
					e.p.MinSecurityLevel, e.p.RequireVerifiedBoot = Software, false
				}},
				{"unlocked accepted without RequireVerifiedBoot", "", func(t *testing.T, e *env) {
					withSpec(func(k *kat.Spec) { k.DeviceLocked = false; k.BootState = Unverified })(t, e)
					e.p.RequireVerifiedBoot = false
				}},
				{"expired leaf dates are ignored", "", func(t *testing.T, e *env) {
					k := kat.NewKey(t, "p256")
					leaf := kat.Issue(t, kat.CertOpts{Subject: pkix.Name{CommonName: "Android Keystore Key"}, Serial: 1,
						NotBefore: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
						Exts: []pkix.Extension{kat.KeyDescriptionExtension(kat.EncodeKeyDescription(t, goodSpec()))}}, k.Public(), f.inter, nil)
					e.chain[0] = leaf.Raw
				}},

				{"wrong challenge", ReasonChallenge, func(t *testing.T, e *env) { e.p.Challenge = []byte("nonce-0123456789abcdeX") }},
				{"empty policy challenge", ReasonChallenge, func(t *testing.T, e *env) { e.p.Challenge = nil }},
				{"wrong package", ReasonApplication, func(t *testing.T, e *env) { e.p.Package = "com.example.evil" }},
				{"empty policy package", ReasonApplication, func(t *testing.T, e *env) { e.p.Package = "" }},
				{"unknown signer digest", ReasonApplication, func(t *testing.T, e *env) {
					d := sha256.Sum256([]byte("someone else"))
					e.p.SignerDigests = [][]byte{d[:]}
				}},
				{"one attested digest not allowed", ReasonApplication, withSpec(func(k *kat.Spec) {
					d := sha256.Sum256([]byte("extra signer"))
					k.SignatureDigests = append(k.SignatureDigests, d[:])
				})},
				{"no attested digest", ReasonApplication, withSpec(func(k *kat.Spec) { k.SignatureDigests = nil })},
				{"software attestation level, tee demanded", ReasonSecurityLevel, withSpec(func(k *kat.Spec) { k.AttestationLevel = Software })},
				{"software keymint level, tee demanded", ReasonSecurityLevel, withSpec(func(k *kat.Spec) { k.KeyMintLevel = Software })},
				{"tee, strongbox demanded", ReasonSecurityLevel, func(t *testing.T, e *env) { e.p.MinSecurityLevel = StrongBox }},
				{"rootOfTrust only software-enforced", ReasonSecurityLevel, withSpec(func(k *kat.Spec) { k.RootOfTrustInSoftware = true })},
				{"unverified boot", ReasonVerifiedBoot, withSpec(func(k *kat.Spec) { k.BootState = Unverified })},
				{"self-signed boot", ReasonVerifiedBoot, withSpec(func(k *kat.Spec) { k.BootState = SelfSigned })},
				{"unlocked bootloader", ReasonVerifiedBoot, withSpec(func(k *kat.Spec) { k.DeviceLocked = false })},
				{"revoked intermediate", ReasonRevoked, func(t *testing.T, e *env) {
					e.rev = writeStatus(t, map[string]string{"00" + f.inter.Cert.SerialNumber.Text(16): "REVOKED"})
				}},
				{"suspended root serial, upper-case key", ReasonRevoked, func(t *testing.T, e *env) {
					e.rev = writeStatus(t, map[string]string{fmt.Sprintf("%X", f.root.Cert.SerialNumber): "SUSPENDED"})
				}},
				{"bad signature", ReasonChain, func(t *testing.T, e *env) {
					// Same subject as the real intermediate, different key.
					forger := kat.NewIntermediate(t, f.root, kat.IntermediateName("2dc58b2d1a241326"), f.inter.Cert.NotAfter)
					e.chain[0] = kat.NewLeaf(t, forger, nil, kat.KeyDescriptionExtension(kat.EncodeKeyDescription(t, goodSpec()))).Raw
				}},
				{"broken issuer/subject link", ReasonChain, func(t *testing.T, e *env) {
					renamed := &kat.CA{Cert: kat.Issue(t, kat.CertOpts{Subject: kat.IntermediateName("ffffffffffffffff"), IsCA: true,
						NotBefore: f.inter.Cert.NotBefore, NotAfter: f.inter.Cert.NotAfter}, f.inter.Key.Public(), f.root, nil), Key: f.inter.Key}
					e.chain[0] = kat.NewLeaf(t, renamed, nil, kat.KeyDescriptionExtension(kat.EncodeKeyDescription(t, goodSpec()))).Raw
				}},
				{"root not trusted", ReasonRoot, func(t *testing.T, e *env) { e.roots = []*x509.Certificate{other.Cert} }},
				{"root not trusted, chain without root", ReasonRoot, func(t *testing.T, e *env) {
					e.chain, e.roots = e.chain[:2], []*x509.Certificate{other.Cert}
				}},
				{"google roots do not trust a self-made chain", ReasonRoot, func(t *testing.T, e *env) { e.roots = GoogleRoots() }},
				{"expired intermediate", ReasonChain, func(t *testing.T, e *env) { e.now = time.Date(2028, 3, 19, 0, 0, 0, 0, time.UTC) }},
				{"intermediate not yet valid", ReasonChain, func(t *testing.T, e *env) { e.now = time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC) }},
				{"expired root as trust anchor", ReasonChain, func(t *testing.T, e *env) {
					k := kat.NewKey(t, kind)
					short := kat.Issue(t, kat.CertOpts{Subject: pkix.Name{SerialNumber: "5h0rt"}, IsCA: true,
						NotBefore: time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 5, 24, 0, 0, 0, 0, time.UTC)}, k.Public(), nil, k)
					in := kat.NewIntermediate(t, &kat.CA{Cert: short, Key: k}, kat.IntermediateName("1"), time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC))
					e.chain = raws(kat.NewLeaf(t, in, nil, kat.KeyDescriptionExtension(kat.EncodeKeyDescription(t, goodSpec()))), in.Cert)
					e.roots = []*x509.Certificate{short}
					e.now = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
				}},
				{"expired root in chain", ReasonChain, func(t *testing.T, e *env) {
					k := kat.NewKey(t, kind)
					short := kat.Issue(t, kat.CertOpts{Subject: pkix.Name{SerialNumber: "5h0rt"}, IsCA: true,
						NotBefore: time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 5, 24, 0, 0, 0, 0, time.UTC)}, k.Public(), nil, k)
					in := kat.NewIntermediate(t, &kat.CA{Cert: short, Key: k}, kat.IntermediateName("1"), time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC))
					e.chain = raws(kat.NewLeaf(t, in, nil, kat.KeyDescriptionExtension(kat.EncodeKeyDescription(t, goodSpec()))), in.Cert, short)
					e.roots = []*x509.Certificate{short}
					e.now = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
				}},
				{"extension on intermediate", ReasonMalformed, func(t *testing.T, e *env) {
					bad := kat.NewIntermediate(t, f.root, kat.IntermediateName("2dc58b2d1a241326"), f.inter.Cert.NotAfter,
						kat.KeyDescriptionExtension(kat.EncodeKeyDescription(t, goodSpec())))
					e.chain[0] = kat.NewLeaf(t, bad, nil, kat.KeyDescriptionExtension(kat.EncodeKeyDescription(t, goodSpec()))).Raw
					e.chain[1] = bad.Cert.Raw
				}},
				{"leaf without extension", ReasonMalformed, func(t *testing.T, e *env) { e.chain[0] = kat.NewLeaf(t, f.inter, nil).Raw }},
				{"undecodable extension", ReasonMalformed, func(t *testing.T, e *env) {
					e.chain[0] = kat.NewLeaf(t, f.inter, nil, kat.KeyDescriptionExtension([]byte{0x30, 0x03, 0x02, 0x01})).Raw
				}},
				{"garbage DER", ReasonMalformed, func(t *testing.T, e *env) { e.chain[0] = []byte("not a certificate at all") }},
				{"too long chain", ReasonMalformed, func(t *testing.T, e *env) {
					for len(e.chain) <= MaxChain {
						e.chain = append(e.chain, e.chain[len(e.chain)-1])
					}
				}},
				{"single certificate", ReasonMalformed, func(t *testing.T, e *env) { e.chain = e.chain[:1] }},
				{"oversized certificate", ReasonMalformed, func(t *testing.T, e *env) {
					e.chain[0] = kat.NewLeaf(t, f.inter, nil, kat.KeyDescriptionExtension(kat.EncodeKeyDescription(t, goodSpec())),
						pkix.Extension{Id: []int{1, 2, 3, 4}, Value: make([]byte, MaxCert)}).Raw
				}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					e := &env{
						chain: raws(f.leaf, f.inter.Cert, f.root.Cert),
						roots: []*x509.Certificate{f.root.Cert},
						p:     goodPolicy(f.spec),
						now:   testNow,
					}
					if tc.mod != nil {
						tc.mod(t, e)
					}
					v, err := NewVerifier(e.roots, e.rev)
					if err != nil {
						t.Fatal(err)
					}
					rec, err := v.Verify(e.chain, e.p, e.now)
					if tc.reason == "" {
						if err != nil {
							t.Fatalf("Verify: %v", err)
						}
						if !bytes.Equal(rec.Challenge, e.p.Challenge) || rec.Application == nil ||
							rec.Application.Packages[0] != (PackageInfo{"com.example.app", 42}) {
							t.Fatalf("record %+v", rec)
						}
						return
					}
					var ke *Error
					if !errors.As(err, &ke) {
						t.Fatalf("Verify = %v, want *Error with reason %s", err, tc.reason)
					}
					if ke.Reason != tc.reason {
						t.Fatalf("reason %s (%v), want %s", ke.Reason, err, tc.reason)
					}
					if d, ok := wantDetail[tc.name]; ok && !strings.Contains(err.Error(), d) {
						t.Fatalf("%v: want detail %q (the rule under test)", err, d)
					}
					if rec != nil {
						t.Fatal("record returned with an error")
					}
					want := "keyattest: " + tc.reason + ": "
					if msg := err.Error(); len(msg) <= len(want) || msg[:len(want)] != want {
						t.Fatalf("message %q does not start with %q", msg, want)
					}
				})
			}
		})
	}
}

// TestReissuedRoot: chains carrying an expired copy of a root stay valid
// while a re-issue with the same key is trusted and valid (Google's 2016 RSA
// root expired in May 2026; the 2019/2021/2022 re-issues share its key).
func TestReissuedRoot(t *testing.T) {
	k := kat.NewKey(t, "p384")
	name := pkix.Name{SerialNumber: "f92009e853b6b045"}
	old := kat.Issue(t, kat.CertOpts{Subject: name, IsCA: true, NotBefore: time.Date(2016, 5, 26, 0, 0, 0, 0, time.UTC),
		NotAfter: time.Date(2026, 5, 24, 0, 0, 0, 0, time.UTC)}, k.Public(), nil, k)
	reissued := kat.Issue(t, kat.CertOpts{Subject: name, IsCA: true, NotBefore: time.Date(2022, 3, 20, 0, 0, 0, 0, time.UTC),
		NotAfter: time.Date(2042, 3, 15, 0, 0, 0, 0, time.UTC)}, k.Public(), nil, k)
	inter := kat.NewIntermediate(t, &kat.CA{Cert: old, Key: k}, kat.IntermediateName("2960cb9aebd505f4"), time.Date(2028, 3, 18, 0, 0, 0, 0, time.UTC))
	leaf := kat.NewLeaf(t, inter, nil, kat.KeyDescriptionExtension(kat.EncodeKeyDescription(t, goodSpec())))
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	chain := raws(leaf, inter.Cert, old)
	p := goodPolicy(goodSpec())

	v, _ := NewVerifier([]*x509.Certificate{reissued}, nil)
	if _, err := v.Verify(chain, p, now); err != nil {
		t.Fatalf("expired copy of a re-issued root: %v", err)
	}
	v, _ = NewVerifier([]*x509.Certificate{old}, nil)
	if _, err := v.Verify(chain, p, now); !isReason(err, ReasonChain) {
		t.Fatalf("only the expired issue trusted: %v, want %s", err, ReasonChain)
	}
	if _, err := v.Verify(chain, p, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
}

func isReason(err error, reason string) bool {
	var ke *Error
	return errors.As(err, &ke) && ke.Reason == reason
}

func TestNewVerifierRejects(t *testing.T) {
	if _, err := NewVerifier(nil, nil); err == nil {
		t.Fatal("no roots accepted")
	}
	if _, err := NewVerifier([]*x509.Certificate{nil}, nil); err == nil {
		t.Fatal("nil root accepted")
	}
}

func TestSecurityLevelStrings(t *testing.T) {
	for _, l := range []SecurityLevel{Software, TrustedEnvironment, StrongBox} {
		got, err := ParseSecurityLevel(l.String())
		if err != nil || got != l {
			t.Fatalf("ParseSecurityLevel(%q) = %v, %v", l.String(), got, err)
		}
	}
	if TrustedEnvironment.String() != "tee" || StrongBox.String() != "strongbox" || Software.String() != "software" {
		t.Fatal("names")
	}
	if _, err := ParseSecurityLevel("TEE"); err == nil {
		t.Fatal("ParseSecurityLevel accepted TEE")
	}
	if Verified.String() != "verified" || Failed.String() != "failed" {
		t.Fatal("boot state names")
	}
}
