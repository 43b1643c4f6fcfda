package iosrt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
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

	"github.com/trustfuse/trustfuse/pkg/attest"
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
	reg, err := attest.OpenRegistry(filepath.Join(t.TempDir(), "reg.db"), randBytes(t, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add(attest.Registration{Format: attest.RegistrationFormat, ID: m.SHA256(), IOS: &m, AttestKey: key}, time.Now()); err != nil {
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
			code, b := attestOnce(t, ts.URL, c.m, hex.EncodeToString(c.key), c.device, strconv.Itoa(c.threats))
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
