package iosrt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

var measurements = map[string]attest.IOSMeasurement{
	"ascii": {Platform: attest.PlatformIOS, BundleID: "com.example.demo", TeamID: "ABCDE12345",
		AppCDHash: strings.Repeat("a1", 20), RuntimeCDHash: strings.Repeat("0f", 20), Version: "1.2.3", Build: "42"},
	"unicode and escapes": {Platform: attest.PlatformIOS, BundleID: "com.exämple.日本", TeamID: "T\"\\\x01",
		AppCDHash: strings.Repeat("00", 20), RuntimeCDHash: strings.Repeat("ff", 20), Version: "\t1\n", Build: "😀"},
	"invalid utf-8": {Platform: attest.PlatformIOS, BundleID: "a\xffb\xed\xa0\x80c\xe2\x82", TeamID: "X",
		AppCDHash: strings.Repeat("12", 20), RuntimeCDHash: strings.Repeat("34", 20), Version: "", Build: ""},
}

func measureArgs(m attest.IOSMeasurement) []string {
	return []string{m.BundleID, m.TeamID, m.AppCDHash, m.RuntimeCDHash, m.Version, m.Build}
}

// TestMeasurement: the core's canonical JSON and SHA-256 equal
// attest.IOSMeasurement's (what serve computes from the request and what the
// registry files the release under).
func TestMeasurement(t *testing.T) {
	for name, m := range measurements {
		t.Run(name, func(t *testing.T) {
			out := mustRun(t, append([]string{"measure"}, measureArgs(m)...)...)
			json, sum, _ := strings.Cut(out, "\n")
			if json != string(m.Canonical()) {
				t.Fatalf("core JSON\n %q\nGo\n %q", json, m.Canonical())
			}
			if sum != m.SHA256() {
				t.Fatalf("core SHA-256 %s, Go %s", sum, m.SHA256())
			}
		})
	}
}

// TestAttestRequestGetsToken: the body the core builds for a challenge
// from a running serve (attest.Server over HTTP, the iOS release
// registered as `trustfuse fuse --register` would) gets a token signed by
// serve's key, for this release, listing the threats sent; a body built
// with another key or for another executable gets a refusal.
func TestAttestRequestGetsToken(t *testing.T) {
	m := measurements["ascii"]
	key := randBytes(t, 32)
	reg, err := attest.OpenRegistry(filepath.Join(t.TempDir(), "reg.db"), randBytes(t, 32), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Add(attest.Registration{Format: attest.RegistrationFormat, ID: m.SHA256(), IOS: &m, AttestKey: key}, attest.Event{At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv, err := attest.NewServer(attest.Config{Issuer: "https://attest.example", Audience: "api", TokenTTL: time.Minute, SigningKey: sk,
		NonceKey: randBytes(t, 32), Registry: reg, Replay: attest.NewMemoryReplay(100, nil), Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	other := m
	other.AppCDHash = strings.Repeat("b2", 20)
	cases := []struct {
		name    string
		m       attest.IOSMeasurement
		key     []byte
		device  string
		threats int
		code    int
		reason  string
	}{
		{"valid, two threats", m, key, "device-1", 1<<0 | 1<<4, 200, ""},
		{"valid, no device id, no threats", m, key, "", 0, 200, ""},
		{"another attestation key", m, randBytes(t, 32), "d", 0, 403, "proof_mismatch"},
		{"another executable", other, key, "d", 0, 403, "unknown_release"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b, _ := attestOnce(t, ts.URL, c.m, hex.EncodeToString(c.key), c.device, strconv.Itoa(c.threats), nil)
			if code != c.code {
				t.Fatalf("attest: %d %s", code, b)
			}
			if c.code != 200 {
				if !strings.Contains(string(b), c.reason) {
					t.Fatalf("refusal %s, want %s", b, c.reason)
				}
				return
			}
			var resp attest.AttestResponse
			if err := json.Unmarshal(b, &resp); err != nil {
				t.Fatal(err)
			}
			claims := verifyES256(t, resp.Token, &sk.PublicKey)
			wantThreats := []string{}
			if c.threats != 0 {
				wantThreats = []string{"tamper", "hooking"}
			}
			d := sha256.Sum256([]byte(c.device))
			if claims.Release != m.SHA256() || claims.Package != m.BundleID || strings.Join(claims.Threats, ",") != strings.Join(wantThreats, ",") ||
				claims.Subject != hex.EncodeToString(d[:]) {
				t.Fatalf("claims %+v", claims)
			}
		})
	}
}

// verifyES256 checks a compact JWS signed by pub (r‖s over the signing
// input, RFC 7518 §3.4) and returns its claims.
func verifyES256(t *testing.T, tok string, pub *ecdsa.PublicKey) attest.Claims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %v", err)
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("token not signed by serve's key")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c attest.Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAttestRequestAppAttest: the body the core builds with an App Attest
// key id and attestation object (standard base64, as DCAppAttestService
// gives them; minted under a test root shaped like Apple's for
// clientDataHash = SHA-256 of the challenge's raw nonce, as the glue
// computes it) parses in a real serve and gets a token naming the
// environment; without them a release whose registration requires App
// Attest is refused with app_attest_missing and an optional one is
// accepted; an object made for another nonce is refused.
func TestAttestRequestAppAttest(t *testing.T) {
	now := time.Now()
	root, mid := keyattesttest.NewAppAttestCA(t)
	verifier, err := keyattest.NewAppAttestVerifier([]*x509.Certificate{root.Cert})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := attest.OpenRegistry(filepath.Join(t.TempDir(), "reg.db"), randBytes(t, 32), true)
	if err != nil {
		t.Fatal(err)
	}
	key := randBytes(t, 32)
	release := func(build string, pol *attest.AppAttestPolicy) attest.IOSMeasurement {
		m := measurements["ascii"]
		m.Build = build
		if _, _, err := reg.Add(attest.Registration{Format: attest.RegistrationFormat, ID: m.SHA256(), IOS: &m, AttestKey: key,
			AppAttest: pol}, attest.Event{At: now}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	required := release("1", &attest.AppAttestPolicy{Mode: attest.KeyAttestationRequired, TeamID: "ABCDE12345"})
	optional := release("2", &attest.AppAttestPolicy{Mode: attest.KeyAttestationOptional, TeamID: "ABCDE12345"})
	sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv, err := attest.NewServer(attest.Config{Issuer: "https://attest.example", Audience: "api", TokenTTL: time.Minute, SigningKey: sk,
		NonceKey: randBytes(t, 32), Registry: reg, Replay: attest.NewMemoryReplay(100, nil), AppAttest: verifier, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	aaKey := keyattesttest.NewKey(t, "p256").(*ecdsa.PrivateKey)
	keyID := base64.StdEncoding.EncodeToString(keyattesttest.AppAttestKeyID(t, aaKey))
	object := func(cdh []byte) string {
		return base64.StdEncoding.EncodeToString(keyattesttest.MintAppAttest(t, mid, aaKey, keyattesttest.AppAttestSpec{
			TeamID: "ABCDE12345", BundleID: required.BundleID, ClientDataHash: cdh, NotBefore: now.Add(-time.Minute)}))
	}
	forNonce := func(raw []byte) (string, string) {
		h := sha256.Sum256(raw)
		return keyID, object(h[:])
	}
	none := func([]byte) (string, string) { return "", "" }
	stale := func([]byte) (string, string) {
		h := sha256.Sum256([]byte("an earlier nonce"))
		return keyID, object(h[:])
	}
	for _, c := range []struct {
		name   string
		m      attest.IOSMeasurement
		app    func(raw []byte) (keyID, object string)
		code   int
		reason string // in a refusal
		aat    string // the token's App Attest environment
	}{
		{"required, attested", required, forNonce, 200, "", "production"},
		{"required, none sent", required, none, 403, "app_attest_missing", ""},
		{"required, another nonce", required, stale, 403, "app_attest_challenge_mismatch", ""},
		{"optional, none sent", optional, none, 200, "", ""},
		{"optional, attested", optional, forNonce, 200, "", "production"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var kid, obj string
			code, b, body := attestOnce(t, ts.URL, c.m, hex.EncodeToString(key), "device-1", "0", func(raw []byte) (string, string) {
				kid, obj = c.app(raw)
				return kid, obj
			})
			// What serve parses: the fields are present exactly when sent.
			var req attest.AttestRequest
			if err := json.Unmarshal([]byte(body), &req); err != nil || req.AppAttestKeyID != kid || req.AppAttestation != obj {
				t.Fatalf("body %s: %v", body, err)
			}
			if code != c.code || c.code != 200 && !strings.Contains(string(b), c.reason) {
				t.Fatalf("attest: %d %s, want %d %s", code, b, c.code, c.reason)
			}
			if c.code != 200 {
				return
			}
			var ar attest.AttestResponse
			if err := json.Unmarshal(b, &ar); err != nil {
				t.Fatal(err)
			}
			if claims := verifyES256(t, ar.Token, &sk.PublicKey); claims.AppAttest != c.aat || claims.Release != c.m.SHA256() {
				t.Fatalf("claims aat %q rel %s, want %q %s", claims.AppAttest, claims.Release, c.aat, c.m.SHA256())
			}
		})
	}
}
