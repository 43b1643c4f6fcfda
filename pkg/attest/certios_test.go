package attest

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/guardtest"
	"github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// iosCertFixture is a certFixture whose server also trusts App Attest
// objects minted under a test root shaped like Apple's, with iOS releases:
// attested (App Attest required for /v1/attest: a certificate request's
// object, over the identity key, must still pass), embedded (no identity
// policy) and revoked.
type iosCertFixture struct {
	*certFixture
	aaMid                              *keyattesttest.CA
	aaKey                              *ecdsa.PrivateKey
	iosAttested, iosEmbedded, iosRevok IOSMeasurement
}

func newIOSCertFixture(t testing.TB, debug bool) *iosCertFixture {
	t.Helper()
	f := &iosCertFixture{certFixture: newCertFixture(t, debug)}
	root, mid := keyattesttest.NewAppAttestCA(t)
	f.aaMid, f.aaKey = mid, keyattesttest.NewKey(t, "p256").(*ecdsa.PrivateKey)
	aa, err := keyattest.NewAppAttestVerifier([]*x509.Certificate{root.Cert})
	if err != nil {
		t.Fatal(err)
	}
	identity := &IdentityPolicy{Mode: IdentityAttested, ValiditySeconds: int64(certValidity / time.Second), MinSecurityLevel: "tee"}
	add := func(build string, pol *IdentityPolicy) IOSMeasurement {
		m := testIOS
		m.Build = build
		if _, _, err := f.reg.Add(Registration{Format: RegistrationFormat, IOS: &m, AttestKey: testAttestKey, Identity: pol,
			AppAttest: &AppAttestPolicy{Mode: KeyAttestationRequired, TeamID: m.TeamID}}, Event{At: f.clk.t}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	f.iosAttested, f.iosEmbedded, f.iosRevok = add("100", identity), add("101", nil), add("102", identity)
	if _, _, err := f.reg.Revoke(f.iosRevok.SHA256(), Event{At: f.clk.t, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	f.serve(t, Config{AppAttest: aa, Debug: debug})
	return f
}

// iosCertRequest is what an iOS app sends: the measurement m, the proof,
// the identity key's SPKI and an App Attest object; a nil object leaves
// out the key id and object. chain, if any, is an Android key attestation
// chain sent along.
type iosCertRequest struct {
	m      IOSMeasurement
	spki   []byte
	object []byte
	chain  [][]byte
}

func (f *iosCertFixture) body(t testing.TB, nonce string, r iosCertRequest) []byte {
	t.Helper()
	raw, _ := base64.RawURLEncoding.DecodeString(nonce)
	m := r.m
	req := AttestRequest{Nonce: nonce, IOS: &m, Proof: base64.RawURLEncoding.EncodeToString(Proof(testAttestKey, raw, m.Sum())),
		DeviceInfo: map[string]string{"id": "device-1"}, IdentityPublicKey: base64.StdEncoding.EncodeToString(r.spki)}
	if r.object != nil {
		req.AppAttestKeyID = base64.StdEncoding.EncodeToString(keyattesttest.AppAttestKeyID(t, f.aaKey))
		req.AppAttestation = base64.StdEncoding.EncodeToString(r.object)
	}
	for _, c := range r.chain {
		req.KeyAttestationChain = append(req.KeyAttestationChain, base64.StdEncoding.EncodeToString(c))
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// object is an App Attest object for team.bundle over clientDataHash
// SHA-256(nonce || spki), as the iOS runtime asks DCAppAttestService.
func (f *iosCertFixture) object(t testing.TB, nonce, spki []byte, team, bundle string) []byte {
	t.Helper()
	h := sha256.New()
	h.Write(nonce)
	h.Write(spki)
	return keyattesttest.MintAppAttest(t, f.aaMid, f.aaKey, keyattesttest.AppAttestSpec{TeamID: team, BundleID: bundle,
		ClientDataHash: h.Sum(nil), NotBefore: f.clk.t.Add(-time.Minute)})
}

func spkiOf(t testing.TB, pub any) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCertificateIOS: through the HTTP handler, an iOS release's request
// with an App Attest object over SHA-256(nonce || identity SPKI) gets a
// certificate that openssl verifies against the client CA, whose public
// key (openssl's SPKI DER) is the identity key and whose URI SAN hashes it,
// with a token whose aat is the App Attest environment; each class of bad
// request is refused with its reason in debug mode, and in opaque mode
// gets an answer of the same shape openssl refuses.
func TestCertificateIOS(t *testing.T) {
	identity, other := guardtest.Key(t), guardtest.Key(t)
	cases := []struct {
		name, reason string
		req          func(f *iosCertFixture, nonce []byte) iosCertRequest
	}{
		{"accepted", "", func(f *iosCertFixture, n []byte) iosCertRequest {
			spki := spkiOf(t, identity.Public())
			return iosCertRequest{m: f.iosAttested, spki: spki, object: f.object(t, n, spki, testIOS.TeamID, testIOS.BundleID)}
		}},
		{"no App Attest object", "certificate_app_attest_missing", func(f *iosCertFixture, _ []byte) iosCertRequest {
			return iosCertRequest{m: f.iosAttested, spki: spkiOf(t, identity.Public())}
		}},
		{"another identity key than the one hashed", "certificate_app_attest_challenge_mismatch", func(f *iosCertFixture, n []byte) iosCertRequest {
			return iosCertRequest{m: f.iosAttested, spki: spkiOf(t, other.Public()),
				object: f.object(t, n, spkiOf(t, identity.Public()), testIOS.TeamID, testIOS.BundleID)}
		}},
		{"object for another nonce", "certificate_app_attest_challenge_mismatch", func(f *iosCertFixture, _ []byte) iosCertRequest {
			spki := spkiOf(t, identity.Public())
			otherNonce, _ := base64.RawURLEncoding.DecodeString(f.challenge(t))
			return iosCertRequest{m: f.iosAttested, spki: spki, object: f.object(t, otherNonce, spki, testIOS.TeamID, testIOS.BundleID)}
		}},
		{"a /v1/attest object (SHA-256 of the nonce alone)", "certificate_app_attest_challenge_mismatch", func(f *iosCertFixture, n []byte) iosCertRequest {
			return iosCertRequest{m: f.iosAttested, spki: spkiOf(t, identity.Public()), object: f.object(t, nil, n, testIOS.TeamID, testIOS.BundleID)}
		}},
		{"app id of another team", "certificate_app_attest_application_mismatch", func(f *iosCertFixture, n []byte) iosCertRequest {
			spki := spkiOf(t, identity.Public())
			return iosCertRequest{m: f.iosAttested, spki: spki, object: f.object(t, n, spki, "ZZZZZ99999", testIOS.BundleID)}
		}},
		{"Android-style request (key attestation chain) against an iOS release", "certificate_app_attest_missing",
			func(f *iosCertFixture, n []byte) iosCertRequest {
				return iosCertRequest{m: f.iosAttested, chain: keyattesttest.Mint(t, f.root, identity.Public(), goodSpec(n))}
			}},
		{"revoked release", "release_revoked", func(f *iosCertFixture, n []byte) iosCertRequest {
			spki := spkiOf(t, identity.Public())
			return iosCertRequest{m: f.iosRevok, spki: spki, object: f.object(t, n, spki, testIOS.TeamID, testIOS.BundleID)}
		}},
		{"release without identity policy", "identity_not_attested", func(f *iosCertFixture, n []byte) iosCertRequest {
			spki := spkiOf(t, identity.Public())
			return iosCertRequest{m: f.iosEmbedded, spki: spki, object: f.object(t, n, spki, testIOS.TeamID, testIOS.BundleID)}
		}},
	}
	for _, debug := range []bool{true, false} {
		f := newIOSCertFixture(t, debug)
		for _, tc := range cases {
			t.Run(fmt.Sprintf("debug=%v/%s", debug, tc.name), func(t *testing.T) {
				nonce := f.challenge(t)
				raw, _ := base64.RawURLEncoding.DecodeString(nonce)
				r := tc.req(f, raw)
				w := do(f.h, "POST", "/v1/certificate", "application/json", f.body(t, nonce, r))
				if debug && tc.reason != "" {
					if w.Code != 403 || w.Body.String() != `{"error":"`+tc.reason+`"}`+"\n" {
						t.Fatalf("got %d %s, want 403 %s", w.Code, w.Body, tc.reason)
					}
					return
				}
				var cr CertificateResponse
				if err := json.Unmarshal(w.Body.Bytes(), &cr); w.Code != 200 || err != nil || cr.Token == "" || len(cr.Chain) != 1 {
					t.Fatalf("got %d %s", w.Code, w.Body)
				}
				der, _ := base64.StdEncoding.DecodeString(cr.Certificate)
				certFile := writePEM(t, t.TempDir(), "issued.pem", "CERTIFICATE", der)
				out, err := runOpenSSL(t, "verify", "-CAfile", f.caFile, "-purpose", "sslclient", certFile)
				if tc.reason != "" { // opaque refusal
					if err == nil || !strings.Contains(out, "signature failure") {
						t.Fatalf("openssl verify accepted an opaque refusal's certificate (or failed otherwise): %v\n%s", err, out)
					}
					if k := sentKey(&AttestRequest{IdentityPublicKey: base64.StdEncoding.EncodeToString(r.spki)}); k != nil {
						if c, _ := x509.ParseCertificate(der); c == nil || !k.Equal(c.PublicKey) {
							t.Fatal("opaque certificate is not for the key sent")
						}
					}
					if _, err := joseVerify(cr.Token, &f.key.PublicKey); err == nil {
						t.Fatal("opaque refusal's token is signed by the JWKS key")
					}
					return
				}
				if err != nil || !strings.Contains(out, ": OK") {
					t.Fatalf("openssl verify: %v\n%s", err, out)
				}
				// openssl's view of the issued key is the identity key's SPKI,
				// and the URI SAN names the release and that SPKI's hash.
				spkiFile := filepath.Join(t.TempDir(), "pub.der")
				pem, err := runOpenSSL(t, "x509", "-in", certFile, "-noout", "-pubkey")
				if err != nil {
					t.Fatal(err)
				}
				pemFile := filepath.Join(t.TempDir(), "pub.pem")
				if err := os.WriteFile(pemFile, []byte(pem), 0o600); err != nil {
					t.Fatal(err)
				}
				if out, err := runOpenSSL(t, "pkey", "-pubin", "-in", pemFile, "-outform", "DER", "-out", spkiFile); err != nil {
					t.Fatalf("openssl pkey: %v\n%s", err, out)
				}
				got, err := os.ReadFile(spkiFile)
				if err != nil || string(got) != string(r.spki) {
					t.Fatalf("issued key %x, identity key %x (%v)", got, r.spki, err)
				}
				text, _ := runOpenSSL(t, "x509", "-in", certFile, "-noout", "-ext", "subjectAltName")
				sum := sha256.Sum256(r.spki)
				if want := "URI:" + ReleaseURIPrefix + f.iosAttested.SHA256() + ":key:" + hex.EncodeToString(sum[:]); !strings.Contains(text, want) {
					t.Fatalf("SAN %q, want %q", text, want)
				}
				c := verifyToken(t, cr.Token, &f.key.PublicKey)
				d := sha256.Sum256(der)
				if c.Confirm["x5t#S256"] != base64.RawURLEncoding.EncodeToString(d[:]) || c.Release != f.iosAttested.SHA256() ||
					c.AppAttest != keyattest.EnvironmentProduction || c.KeyAttestation != "" || c.Package != testIOS.BundleID {
					t.Fatalf("claims %+v", c)
				}
			})
		}
	}
}
