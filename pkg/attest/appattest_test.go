package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// appAttestServer returns a Debug server over a fresh registry at now
// whose App Attest verifier trusts roots.
func appAttestServer(t *testing.T, now time.Time, roots []*x509.Certificate) (*Server, Registry) {
	t.Helper()
	reg, err := OpenRegistry(filepath.Join(t.TempDir(), "reg.db"), bytes.Repeat([]byte{9}, 32), true)
	if err != nil {
		t.Fatal(err)
	}
	v, err := keyattest.NewAppAttestVerifier(roots)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv, err := NewServer(Config{Issuer: "https://attest.example", Audience: "api.example", TokenTTL: time.Minute,
		SigningKey: key, NonceKey: bytes.Repeat([]byte{5}, 32), Registry: reg, Replay: NewMemoryReplay(100, nil),
		AppAttest: v, Debug: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return srv, reg
}

// attestWith runs challenge + attest for m, letting fill add the App Attest
// fields for the raw nonce, and returns the refusal reason or the token's
// claims.
func attestWith(t *testing.T, h *Server, m Measurement, fill func(raw []byte, req *AttestRequest)) (string, *Claims) {
	t.Helper()
	w := do(h.Handler(), "POST", "/v1/challenge", "", nil)
	var ch ChallengeResponse
	if err := json.Unmarshal(w.Body.Bytes(), &ch); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(ch.Nonce)
	req := AttestRequest{Nonce: ch.Nonce, Measurement: m,
		Proof: base64.RawURLEncoding.EncodeToString(Proof(testAttestKey, raw, m.Sum()))}
	fill(raw, &req)
	body, _ := json.Marshal(req)
	w = do(h.Handler(), "POST", "/v1/attest", "application/json", body)
	if w.Code == 403 {
		var e map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		return e["error"], nil
	}
	var ar AttestResponse
	if err := json.Unmarshal(w.Body.Bytes(), &ar); w.Code != 200 || err != nil {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(ar.Token, ".")[1])
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return "", &c
}

// TestAppAttest: a release's App Attest policy is enforced on the
// attestation object an iOS app sends (minted under a test root shaped like
// Apple's; pkg/keyattest checks each rule and real Apple objects): the
// clientDataHash must be SHA-256 of this attestation's nonce, the app id the
// release's team and bundle; the token names the environment proved.
func TestAppAttest(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	root, mid := keyattesttest.NewAppAttestCA(t)
	_, strangerCA := keyattesttest.NewAppAttestCA(t)
	srv, reg := appAttestServer(t, now, []*x509.Certificate{root.Cert})
	release := func(version int64, pol *AppAttestPolicy) Measurement {
		m := testMeasurement
		m.VersionCode = version
		if _, _, err := reg.Add(Registration{Format: RegistrationFormat, Measurement: m, AttestKey: testAttestKey, AppAttest: pol}, Event{At: now}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	required := release(1, &AppAttestPolicy{Mode: KeyAttestationRequired, TeamID: "ABCDE12345"})
	optional := release(2, &AppAttestPolicy{Mode: KeyAttestationOptional, TeamID: "ABCDE12345", AllowDevelopment: true})
	off := release(3, &AppAttestPolicy{Mode: KeyAttestationOff})
	for _, bad := range []*AppAttestPolicy{{Mode: "sometimes", TeamID: "ABCDE12345"}, {Mode: KeyAttestationRequired, TeamID: "abc"}} {
		if _, _, err := reg.Add(Registration{Format: RegistrationFormat, Measurement: testMeasurement, AttestKey: testAttestKey,
			AppAttest: bad}, Event{At: now}); err == nil || !strings.Contains(err.Error(), "App Attest") {
			t.Fatalf("bad policy %+v added: %v", bad, err)
		}
	}

	key := keyattesttest.NewKey(t, "p256").(*ecdsa.PrivateKey)
	keyID := base64.StdEncoding.EncodeToString(keyattesttest.AppAttestKeyID(t, key))
	spec := func(raw []byte) keyattesttest.AppAttestSpec {
		cdh := sha256.Sum256(raw)
		return keyattesttest.AppAttestSpec{TeamID: "ABCDE12345", BundleID: testMeasurement.Package, ClientDataHash: cdh[:],
			NotBefore: now.Add(-time.Minute)}
	}
	send := func(ca *keyattesttest.CA, edit func(*keyattesttest.AppAttestSpec)) func([]byte, *AttestRequest) {
		return func(raw []byte, req *AttestRequest) {
			s := spec(raw)
			if edit != nil {
				edit(&s)
			}
			req.AppAttestKeyID = keyID
			req.AppAttestation = base64.StdEncoding.EncodeToString(keyattesttest.MintAppAttest(t, ca, key, s))
		}
	}
	none := func([]byte, *AttestRequest) {}
	for _, tc := range []struct {
		name string
		m    Measurement
		fill func([]byte, *AttestRequest)
		want string // reason, or "" for a token
		aat  string
	}{
		{"required, good", required, send(mid, nil), "", "production"},
		{"required, missing", required, none, "app_attest_missing", ""},
		{"required, another nonce", required, send(mid, func(s *keyattesttest.AppAttestSpec) {
			h := sha256.Sum256([]byte("an earlier nonce"))
			s.ClientDataHash = h[:]
		}), "app_attest_challenge_mismatch", ""},
		{"required, another team", required, send(mid, func(s *keyattesttest.AppAttestSpec) { s.TeamID = "ZZZZZ99999" }),
			"app_attest_application_mismatch", ""},
		{"required, development not allowed", required, send(mid, func(s *keyattesttest.AppAttestSpec) {
			s.AAGUID = []byte("appattestdevelop")
		}), "app_attest_environment", ""},
		{"required, used key", required, send(mid, func(s *keyattesttest.AppAttestSpec) { s.Counter = 3 }), "app_attest_counter", ""},
		{"required, untrusted root", required, send(strangerCA, nil), "app_attest_root_untrusted", ""},
		{"required, wrong key id", required, func(raw []byte, req *AttestRequest) {
			send(mid, nil)(raw, req)
			req.AppAttestKeyID = base64.StdEncoding.EncodeToString(make([]byte, 32))
		}, "app_attest_key_id_mismatch", ""},
		{"required, not base64", required, func(_ []byte, req *AttestRequest) { req.AppAttestation = "%%%" },
			"app_attest_malformed", ""},
		{"optional, none", optional, none, "", ""},
		{"optional, development", optional, send(mid, func(s *keyattesttest.AppAttestSpec) {
			s.AAGUID = []byte("appattestdevelop")
		}), "", "development"},
		{"off, garbage ignored", off, func(_ []byte, req *AttestRequest) { req.AppAttestation = "%%%" }, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, c := attestWith(t, srv, tc.m, tc.fill)
			if reason != tc.want {
				t.Fatalf("refusal %q, want %q", reason, tc.want)
			}
			if c != nil && (c.AppAttest != tc.aat || c.Release != tc.m.SHA256()) {
				t.Fatalf("aat %q rel %s, want %q %s", c.AppAttest, c.Release, tc.aat, tc.m.SHA256())
			}
		})
	}
}

// TestAppAttestRealObject sends a real attestation object (iOS 14.4, see
// pkg/keyattest/testdata/README.md) to serve with Apple's root, at the time
// it was made: it passes the chain, and is refused for its nonce — it was
// made for another server's challenge, as a replayed object would be.
func TestAppAttestRealObject(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "keyattest", "testdata", "appattest", "veehaitch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		TeamID      string    `json:"teamId"`
		BundleID    string    `json:"bundleId"`
		Received    time.Time `json:"received"`
		KeyID       []byte    `json:"keyId"`
		Attestation []byte    `json:"attestation"`
	}
	if err := json.Unmarshal(data, &vs); err != nil || len(vs) == 0 {
		t.Fatalf("vectors: %v", err)
	}
	vec := vs[len(vs)-1]
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"when made", vec.Received, "app_attest_challenge_mismatch"},
		{"after the credential certificate expired", vec.Received.Add(4 * 24 * time.Hour), "app_attest_chain_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, reg := appAttestServer(t, tc.at, keyattest.AppleAppAttestRoots())
			m := testMeasurement
			m.Package = vec.BundleID
			if _, _, err := reg.Add(Registration{Format: RegistrationFormat, Measurement: m, AttestKey: testAttestKey,
				AppAttest: &AppAttestPolicy{Mode: KeyAttestationRequired, TeamID: vec.TeamID, AllowDevelopment: true}}, Event{At: tc.at}); err != nil {
				t.Fatal(err)
			}
			reason, _ := attestWith(t, srv, m, func(_ []byte, req *AttestRequest) {
				req.AppAttestKeyID = base64.StdEncoding.EncodeToString(vec.KeyID)
				req.AppAttestation = base64.StdEncoding.EncodeToString(vec.Attestation)
			})
			if reason != tc.want {
				t.Fatalf("refusal %q, want %q", reason, tc.want)
			}
		})
	}
}
