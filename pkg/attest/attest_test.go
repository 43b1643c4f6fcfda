package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var testMeasurement = Measurement{
	Package: "com.example.app", VersionCode: 42,
	SignerDigests: []string{strings.Repeat("ab", 32)},
	DexDigests:    map[string]string{"classes.dex": strings.Repeat("01", 32), "classes2.dex": strings.Repeat("02", 32)},
	RuntimeDigest: strings.Repeat("02", 32), ManifestDigest: strings.Repeat("03", 32),
}

var testAttestKey = bytes.Repeat([]byte{7}, 32)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type fixture struct {
	srv   *Server
	h     http.Handler
	reg   Registry
	clk   *clock
	key   *ecdsa.PrivateKey
	nonce []byte
}

func newFixture(t testing.TB, debug bool, replay ReplayCache, regPath string) *fixture {
	t.Helper()
	clk := &clock{t: time.Now().Truncate(time.Second)}
	if regPath == "" {
		regPath = filepath.Join(t.TempDir(), "registry.db")
	}
	reg, err := OpenRegistry(regPath, bytes.Repeat([]byte{9}, 32), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Add(Registration{Format: RegistrationFormat, Measurement: testMeasurement, AttestKey: testAttestKey}, Event{At: clk.t}); err != nil {
		t.Fatal(err)
	}
	return serverFixture(t, debug, replay, reg, clk, nil)
}

// serverFixture runs a Server on reg (replay nil: in memory; errLog nil:
// the standard logger) with the test nonce key, so fixtures accept each
// other's nonces.
func serverFixture(t testing.TB, debug bool, replay ReplayCache, reg Registry, clk *clock, errLog *log.Logger) *fixture {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if replay == nil {
		replay = NewMemoryReplay(1000, clk.now)
	}
	nk := bytes.Repeat([]byte{5}, 32)
	srv, err := NewServer(Config{Issuer: "https://attest.example", Audience: "api.example", TokenTTL: 5 * time.Minute,
		SigningKey: key, NonceKey: nk, Registry: reg, Replay: replay, Debug: debug, Now: clk.now, ErrorLog: errLog})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, h: srv.Handler(), reg: reg, clk: clk, key: key, nonce: nk}
}

func do(h http.Handler, method, path, ctype string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func (f *fixture) challenge(t testing.TB) string {
	t.Helper()
	w := do(f.h, "POST", "/v1/challenge", "", nil)
	if w.Code != 200 {
		t.Fatalf("challenge: %d %s", w.Code, w.Body)
	}
	var c ChallengeResponse
	if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	return c.Nonce
}

// request builds an attest request proving proveM with key over nonce,
// while claiming sendM.
func request(t testing.TB, nonce string, sendM, proveM Measurement, key []byte) []byte {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(AttestRequest{Nonce: nonce, Measurement: sendM,
		Proof:      base64.RawURLEncoding.EncodeToString(Proof(key, raw, proveM.Sum())),
		DeviceInfo: map[string]string{"id": "device-1", "model": "Pixel"}, Threats: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAttestVerdicts: every refusal named in the protocol is refused, with
// its reason in debug mode and with an unverifiable token of the same shape
// in opaque mode; the valid request gets a token signed by the JWKS key.
func TestAttestVerdicts(t *testing.T) {
	other := testMeasurement
	other.VersionCode = 43
	cases := []struct {
		name   string
		reason string // "" = accepted
		build  func(t *testing.T, f *fixture) []byte
	}{
		{"valid", "", func(t *testing.T, f *fixture) []byte {
			return request(t, f.challenge(t), testMeasurement, testMeasurement, testAttestKey)
		}},
		{"replayed nonce", reasonNonceReplay, func(t *testing.T, f *fixture) []byte {
			b := request(t, f.challenge(t), testMeasurement, testMeasurement, testAttestKey)
			if w := do(f.h, "POST", "/v1/attest", "application/json", b); w.Code != 200 {
				t.Fatalf("first use: %d", w.Code)
			}
			return b
		}},
		{"expired nonce", reasonNonceExpired, func(t *testing.T, f *fixture) []byte {
			b := request(t, f.challenge(t), testMeasurement, testMeasurement, testAttestKey)
			f.clk.t = f.clk.t.Add(3 * time.Minute)
			return b
		}},
		{"forged nonce", reasonNonceForged, func(t *testing.T, f *fixture) []byte {
			raw, _ := base64.RawURLEncoding.DecodeString(f.challenge(t))
			raw[0] ^= 1 // random part changed, MAC kept
			return request(t, base64.RawURLEncoding.EncodeToString(raw), testMeasurement, testMeasurement, testAttestKey)
		}},
		{"nonce from another server key", reasonNonceForged, func(t *testing.T, f *fixture) []byte {
			n, _ := NewNonces(bytes.Repeat([]byte{6}, 32), time.Minute, rand.Reader)
			s, _, _ := n.Issue(f.clk.t)
			return request(t, s, testMeasurement, testMeasurement, testAttestKey)
		}},
		{"wrong measurement proved", reasonProof, func(t *testing.T, f *fixture) []byte {
			return request(t, f.challenge(t), testMeasurement, other, testAttestKey)
		}},
		{"wrong key", reasonProof, func(t *testing.T, f *fixture) []byte {
			return request(t, f.challenge(t), testMeasurement, testMeasurement, bytes.Repeat([]byte{8}, 32))
		}},
		{"revoked release", reasonRevoked, func(t *testing.T, f *fixture) []byte {
			if _, _, err := f.reg.Revoke(testMeasurement.SHA256(), Event{At: f.clk.t}); err != nil {
				t.Fatal(err)
			}
			return request(t, f.challenge(t), testMeasurement, testMeasurement, testAttestKey)
		}},
		{"unknown release", reasonUnknown, func(t *testing.T, f *fixture) []byte {
			return request(t, f.challenge(t), other, other, testAttestKey)
		}},
	}
	for _, tc := range cases {
		for _, debug := range []bool{true, false} {
			name := tc.name + map[bool]string{true: "/debug", false: "/opaque"}[debug]
			t.Run(name, func(t *testing.T) {
				f := newFixture(t, debug, nil, "")
				w := do(f.h, "POST", "/v1/attest", "application/json", tc.build(t, f))
				if debug && tc.reason != "" {
					if w.Code != 403 || !strings.Contains(w.Body.String(), tc.reason) {
						t.Fatalf("got %d %s, want 403 %s", w.Code, w.Body, tc.reason)
					}
					return
				}
				if w.Code != 200 {
					t.Fatalf("got %d %s", w.Code, w.Body)
				}
				var resp AttestResponse
				if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
					t.Fatal(err)
				}
				hdr, claims, verified := checkToken(t, f, resp.Token)
				if verified != (tc.reason == "") {
					t.Fatalf("signature verifies with JWKS key: %v, want %v", verified, tc.reason == "")
				}
				if hdr["alg"] != "ES256" || hdr["typ"] != "JWT" || hdr["kid"] == "" {
					t.Errorf("header %v", hdr)
				}
				want := []string{"aud", "exp", "iat", "iss", "pkg", "rel", "sub", "thr", "ver"}
				var got []string
				for k := range claims {
					got = append(got, k)
				}
				if strings.Join(slices.Sorted(slices.Values(got)), ",") != strings.Join(want, ",") {
					t.Errorf("claims %v, want keys %v", claims, want)
				}
				if claims["exp"].(float64)-claims["iat"].(float64) != 300 {
					t.Errorf("ttl %v", claims["exp"].(float64)-claims["iat"].(float64))
				}
			})
		}
	}
}

// checkToken decodes a compact JWS by hand and verifies its ES256
// signature with openssl (r||s converted to DER) against the key of the
// server's JWKS its kid names; a kid the JWKS does not list is unverified.
func checkToken(t *testing.T, f *fixture, tok string) (hdr, claims map[string]any, verified bool) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	dec := func(s string, v any) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	dec(parts[0], &hdr)
	dec(parts[1], &claims)
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature %d bytes, %v", len(sig), err)
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	if err != nil {
		t.Fatal(err)
	}
	// The public key comes from the JWKS document, decoded by hand.
	var set struct {
		Keys []struct{ Kty, Crv, X, Y, Kid, Alg string }
	}
	if err := json.Unmarshal(do(f.h, "GET", "/.well-known/jwks.json", "", nil).Body.Bytes(), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks: %v %v", set, err)
	}
	i := slices.IndexFunc(set.Keys, func(k struct{ Kty, Crv, X, Y, Kid, Alg string }) bool { return k.Kid == hdr["kid"] })
	if i < 0 {
		return hdr, claims, false
	}
	k := set.Keys[i]
	if k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" {
		t.Fatalf("jwk %+v", k)
	}
	x, _ := base64.RawURLEncoding.DecodeString(k.X)
	y, _ := base64.RawURLEncoding.DecodeString(k.Y)
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pubPath := write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	sigPath := write("sig.der", der)
	inPath := write("in", []byte(parts[0]+"."+parts[1]))
	out, err := runOpenSSL(t, "dgst", "-sha256", "-verify", pubPath, "-signature", sigPath, inPath)
	return hdr, claims, err == nil && strings.Contains(out, "Verified OK")
}

// TestCanonicalMatchesGeneralPath: the direct encoder writes what
// encoding/json + internal/jcs write (the general path, which
// fusion/fusionset's canonical tests check against node's JSON.stringify),
// including member order by UTF-16 code units (U+E000 sorts after
// U+1F600's surrogates), escapes, and input with invalid UTF-8 (which takes
// the general path).
func TestCanonicalMatchesGeneralPath(t *testing.T) {
	for _, m := range []Measurement{
		{},
		testMeasurement,
		{Package: "a\"b\\c\x01\n\t\u2028é", VersionCode: -5, SignerDigests: []string{"b", "a"},
			DexDigests: map[string]string{"\ue000": "1", "\U0001F600": "2", "z": "3", "A": "\x7f"}},
		{Package: "bad\xff", DexDigests: map[string]string{"x\xfe": "y"}},
	} {
		if got, want := string(m.Canonical()), string(m.canonicalSlow()); got != want {
			t.Errorf("Canonical\n%s\nwant\n%s", got, want)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add("com.example", int64(1), "classes.dex", "ab", "rt", "mf", "sig")
	f.Fuzz(func(t *testing.T, pkg string, ver int64, dexName, dexDigest, rt, mf, signer string) {
		m := Measurement{Package: pkg, VersionCode: ver, DexDigests: map[string]string{dexName: dexDigest, "classes2.dex": rt},
			RuntimeDigest: rt, ManifestDigest: mf, SignerDigests: []string{signer, pkg}}
		if got, want := m.Canonical(), m.canonicalSlow(); !bytes.Equal(got, want) {
			t.Fatalf("Canonical %q, want %q", got, want)
		}
	})
}

// TestSigningKeyRotation: a server signing with a new key and publishing
// the previous one lists both in its JWKS, signing key first, so tokens the
// previous key signed still verify (openssl) until the old key is dropped.
func TestSigningKeyRotation(t *testing.T) {
	old := newFixture(t, false, nil, "")
	tokOld := attestToken(t, old)
	next := func(published ...*ecdsa.PublicKey) *fixture {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		srv, err := NewServer(Config{Issuer: "https://attest.example", Audience: "api.example", TokenTTL: 5 * time.Minute,
			SigningKey: key, PublishedKeys: published, NonceKey: old.nonce, Registry: old.reg,
			Replay: NewMemoryReplay(1000, old.clk.now), Now: old.clk.now})
		if err != nil {
			t.Fatal(err)
		}
		return &fixture{srv: srv, h: srv.Handler(), reg: old.reg, clk: old.clk, key: key, nonce: old.nonce}
	}
	rotated := next(&old.key.PublicKey, &old.key.PublicKey) // a repeated key is listed once
	var set struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(do(rotated.h, "GET", "/.well-known/jwks.json", "", nil).Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != rotated.srv.KeyID() || set.Keys[1].Kid != old.srv.KeyID() {
		t.Fatalf("jwks kids %v, want [%s %s]", set.Keys, rotated.srv.KeyID(), old.srv.KeyID())
	}
	if _, _, ok := checkToken(t, rotated, tokOld); !ok {
		t.Error("token of the previous key does not verify against the rotated JWKS")
	}
	if _, _, ok := checkToken(t, rotated, attestToken(t, rotated)); !ok {
		t.Error("token of the new key does not verify")
	}
	if _, _, ok := checkToken(t, next(), tokOld); ok {
		t.Error("token of a dropped key still verifies")
	}
	if _, err := NewServer(Config{Issuer: "i", Audience: "a", TokenTTL: time.Minute, SigningKey: old.key,
		PublishedKeys: []*ecdsa.PublicKey{nil}, NonceKey: old.nonce, Registry: old.reg, Replay: NewMemoryReplay(1, nil)}); err == nil {
		t.Error("nil published key accepted")
	}
}

// attestToken runs a challenge and a valid attestation on f and returns
// the token.
func attestToken(t *testing.T, f *fixture) string {
	t.Helper()
	w := do(f.h, "POST", "/v1/attest", "application/json", request(t, f.challenge(t), testMeasurement, testMeasurement, testAttestKey))
	var ar AttestResponse
	if err := json.Unmarshal(w.Body.Bytes(), &ar); err != nil || w.Code != 200 {
		t.Fatalf("attest: %d %s", w.Code, w.Body)
	}
	return ar.Token
}
