package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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

	"github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// TestKeyAttestation: a release's key attestation policy is enforced on
// the chain the app sends (made under a test root that mimics Google's
// structure; pkg/keyattest checks the rules one by one and against real
// Google chains): the challenge must be this attestation's nonce, the
// package and signer those of the release, the security level and boot
// state what the policy demands; the token names the proven level.
func TestKeyAttestation(t *testing.T) {
	dir := t.TempDir()
	root := keyattesttest.NewRoot(t, "ecdsa", "test-attestation-root")
	stranger := keyattesttest.NewRoot(t, "ecdsa", "not-trusted")
	revokedRoot := keyattesttest.NewRoot(t, "ecdsa", "revoked-root")
	status := filepath.Join(dir, "status.json")
	if err := os.WriteFile(status, []byte(fmt.Sprintf(`{"entries": {%q: {"status": "REVOKED", "reason": "KEY_COMPROMISE"}}}`,
		revokedRoot.Cert.SerialNumber.Text(16))), 0o600); err != nil {
		t.Fatal(err)
	}
	rl, err := keyattest.LoadRevocationFile(status)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := keyattest.NewVerifier([]*x509.Certificate{root.Cert, revokedRoot.Cert}, rl)
	if err != nil {
		t.Fatal(err)
	}

	reg, err := OpenRegistry(filepath.Join(dir, "reg.db"), bytes.Repeat([]byte{9}, 32), true)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	release := func(version int64, pol *KeyAttestationPolicy) Measurement {
		m := testMeasurement
		m.VersionCode = version
		if _, _, err := reg.Add(Registration{Format: RegistrationFormat, Measurement: m, AttestKey: testAttestKey, KeyAttestation: pol}, Event{At: now}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	required := release(1, &KeyAttestationPolicy{Mode: KeyAttestationRequired, MinSecurityLevel: "tee", RequireVerifiedBoot: true})
	optional := release(2, &KeyAttestationPolicy{Mode: KeyAttestationOptional, MinSecurityLevel: "software"})
	off := release(3, &KeyAttestationPolicy{Mode: KeyAttestationOff, MinSecurityLevel: "tee"})
	if _, _, err := reg.Add(Registration{Format: RegistrationFormat, Measurement: testMeasurement, AttestKey: testAttestKey,
		KeyAttestation: &KeyAttestationPolicy{Mode: "sometimes", MinSecurityLevel: "tee"}}, Event{At: now}); err == nil ||
		!strings.Contains(err.Error(), `mode "sometimes"`) {
		t.Fatalf("bad policy added: %v", err)
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv, err := NewServer(Config{Issuer: "https://attest.example", Audience: "api.example", TokenTTL: time.Minute,
		SigningKey: key, NonceKey: bytes.Repeat([]byte{5}, 32), Registry: reg, Replay: NewMemoryReplay(100, nil),
		KeyAttestation: verifier, Debug: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	signer, _ := hex.DecodeString(testMeasurement.SignerDigests[0])
	b64 := func(chain [][]byte) []string {
		var out []string
		for _, c := range chain {
			out = append(out, base64.StdEncoding.EncodeToString(c))
		}
		return out
	}
	good := func(nonce []byte) keyattesttest.Spec {
		return keyattesttest.GoodSpec(nonce, testMeasurement.Package, signer)
	}
	for _, tc := range []struct {
		name  string
		m     Measurement
		chain func(nonce []byte) []string
		want  string // reason, or "" for a token
		kat   string
	}{
		{"required, good chain", required, func(n []byte) []string { return b64(keyattesttest.Mint(t, root, nil, good(n))) }, "", "tee"},
		{"required, no chain", required, func([]byte) []string { return nil }, "key_attestation_missing", ""},
		{"required, another nonce", required, func([]byte) []string {
			return b64(keyattesttest.Mint(t, root, nil, good([]byte("an earlier nonce"))))
		}, "key_attestation_challenge_mismatch", ""},
		{"required, another app", required, func(n []byte) []string {
			s := good(n)
			s.Packages = []keyattest.PackageInfo{{Name: "com.evil.repackaged", Version: 1}}
			return b64(keyattesttest.Mint(t, root, nil, s))
		}, "key_attestation_application_mismatch", ""},
		{"required, another signer", required, func(n []byte) []string {
			s := good(n)
			s.SignatureDigests = [][]byte{bytes.Repeat([]byte{0xcd}, 32)}
			return b64(keyattesttest.Mint(t, root, nil, s))
		}, "key_attestation_application_mismatch", ""},
		{"required, software keystore", required, func(n []byte) []string {
			s := good(n)
			s.AttestationLevel, s.KeyMintLevel = keyattest.Software, keyattest.Software
			return b64(keyattesttest.Mint(t, root, nil, s))
		}, "key_attestation_security_level", ""},
		{"required, unlocked bootloader", required, func(n []byte) []string {
			s := good(n)
			s.DeviceLocked, s.BootState = false, keyattest.Unverified
			return b64(keyattesttest.Mint(t, root, nil, s))
		}, "key_attestation_verified_boot", ""},
		{"required, untrusted root", required, func(n []byte) []string { return b64(keyattesttest.Mint(t, stranger, nil, good(n))) },
			"key_attestation_root_untrusted", ""},
		{"required, revoked root", required, func(n []byte) []string { return b64(keyattesttest.Mint(t, revokedRoot, nil, good(n))) },
			"key_attestation_revoked", ""},
		{"required, not base64", required, func([]byte) []string { return []string{"%%%"} }, "key_attestation_malformed", ""},
		{"optional, no chain", optional, func([]byte) []string { return nil }, "", ""},
		{"optional, bad chain", optional, func(n []byte) []string { return b64(keyattesttest.Mint(t, stranger, nil, good(n))) },
			"key_attestation_root_untrusted", ""},
		{"optional, good software chain", optional, func(n []byte) []string {
			s := good(n)
			s.AttestationLevel, s.KeyMintLevel = keyattest.Software, keyattest.Software
			return b64(keyattesttest.Mint(t, root, nil, s))
		}, "", "software"},
		{"off, garbage chain ignored", off, func([]byte) []string { return []string{"%%%"} }, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(h, "POST", "/v1/challenge", "", nil)
			var ch ChallengeResponse
			if err := json.Unmarshal(w.Body.Bytes(), &ch); err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.RawURLEncoding.DecodeString(ch.Nonce)
			body, _ := json.Marshal(AttestRequest{Nonce: ch.Nonce, Measurement: tc.m,
				Proof:               base64.RawURLEncoding.EncodeToString(Proof(testAttestKey, raw, tc.m.Sum())),
				KeyAttestationChain: tc.chain(raw)})
			w = do(h, "POST", "/v1/attest", "application/json", body)
			if tc.want != "" {
				if w.Code != 403 || !strings.Contains(w.Body.String(), `"`+tc.want+`"`) {
					t.Fatalf("got %d %s, want 403 %s", w.Code, w.Body, tc.want)
				}
				return
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
			if c.KeyAttestation != tc.kat || c.Release != tc.m.SHA256() {
				t.Fatalf("kat %q rel %s, want %q %s", c.KeyAttestation, c.Release, tc.kat, tc.m.SHA256())
			}
		})
	}
}
