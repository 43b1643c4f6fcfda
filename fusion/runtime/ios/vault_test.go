package iosrt_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/vault"
)

// certFor issues a certificate for key, signed by parent (self-signed when nil).
func certFor(t *testing.T, key crypto.Signer, cn string, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(len(cn))), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1900000000, 0), IsCA: parent == nil, BasicConstraintsValid: true}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sealedWorld is a vault sealed for team ABCDE12345 and bundle
// com.example.demo, with its policy and pepper on disk.
type sealedWorld struct {
	id                           vault.Identity
	blob, policy, pepper         []byte
	vaultPath, pepperPath, pPath string
}

func newSealed(t *testing.T, key crypto.Signer, attestKey []byte) *sealedWorld {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ca := certFor(t, caKey, "Demo CA", nil, nil)
	id := vault.Identity{Key: key, Chain: []*x509.Certificate{certFor(t, key, "client", ca, caKey), ca}, AttestKey: attestKey}
	pol := (&androidrt.Policy{FusionSetID: "fs", Package: "com.example.demo", SignerDigests: []string{hex.EncodeToString(make([]byte, 32))},
		MTLSHosts: []string{"api.example.com"}}).Encode()
	pepper := randBytes(t, vault.PepperSize)
	blob, err := vault.Seal(id, pepper, vault.IOSSignerDigest("ABCDE12345", "com.example.demo"), pol)
	if err != nil {
		t.Fatal(err)
	}
	return &sealedWorld{id: id, blob: blob, policy: pol, pepper: pepper, vaultPath: writeFile(t, "vault.bin", blob),
		pepperPath: writeFile(t, "key.bin", pepper), pPath: writeFile(t, "policy.bin", pol)}
}

// TestVaultUnseal: the core opens a vault written by pkg/vault.Seal for the
// right team id and bundle id and returns the exact PKCS#8 key (as
// x509.MarshalPKCS8PrivateKey writes it), certificate chain and attestation
// key; every other input is refused.
func TestVaultUnseal(t *testing.T) {
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]*sealedWorld{
		"ecdsa with attest key": newSealed(t, ek, randBytes(t, 32)),
		"rsa without":           newSealed(t, rk, nil),
	} {
		t.Run(name, func(t *testing.T) {
			out := mustRun(t, "unseal", w.vaultPath, w.pepperPath, "ABCDE12345", "com.example.demo", w.pPath)
			var got struct {
				Key, AttestKey string
				Chain          []string
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			wantKey, err := x509.MarshalPKCS8PrivateKey(w.id.Key)
			if err != nil {
				t.Fatal(err)
			}
			if got.Key != hex.EncodeToString(wantKey) || got.AttestKey != hex.EncodeToString(w.id.AttestKey) || len(got.Chain) != len(w.id.Chain) {
				t.Fatalf("unsealed identity differs: key %t attest %t chain %d", got.Key == hex.EncodeToString(wantKey),
					got.AttestKey == hex.EncodeToString(w.id.AttestKey), len(got.Chain))
			}
			for i, c := range w.id.Chain {
				if got.Chain[i] != hex.EncodeToString(c.Raw) {
					t.Fatalf("certificate %d differs", i)
				}
			}
		})
	}

	w := newSealed(t, ek, randBytes(t, 32))
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		return c
	}
	cases := []struct {
		name                  string
		vault, pepper, policy []byte
		team, bundle          string
		code                  int
	}{
		{"another team (re-signed copy)", w.blob, w.pepper, w.policy, "ZYXWV98765", "com.example.demo", 3},
		{"another bundle id", w.blob, w.pepper, w.policy, "ABCDE12345", "com.example.other", 3},
		{"another pepper", w.blob, randBytes(t, 32), w.policy, "ABCDE12345", "com.example.demo", 3},
		{"policy byte changed", w.blob, w.pepper, flip(w.policy, len(w.policy)/2), "ABCDE12345", "com.example.demo", 3},
		{"policy byte appended", w.blob, w.pepper, append(append([]byte(nil), w.policy...), '\n'), "ABCDE12345", "com.example.demo", 3},
		{"salt byte changed", flip(w.blob, 10), w.pepper, w.policy, "ABCDE12345", "com.example.demo", 3},
		{"nonce byte changed", flip(w.blob, 40), w.pepper, w.policy, "ABCDE12345", "com.example.demo", 3},
		{"ciphertext byte changed", flip(w.blob, 100), w.pepper, w.policy, "ABCDE12345", "com.example.demo", 3},
		{"tag byte changed", flip(w.blob, len(w.blob)-1), w.pepper, w.policy, "ABCDE12345", "com.example.demo", 3},
		{"bad magic", flip(w.blob, 0), w.pepper, w.policy, "ABCDE12345", "com.example.demo", 2},
		{"bad version", flip(w.blob, 4), w.pepper, w.policy, "ABCDE12345", "com.example.demo", 2},
		{"truncated header", w.blob[:60], w.pepper, w.policy, "ABCDE12345", "com.example.demo", 2},
		{"truncated tag", w.blob[:len(w.blob)-1], w.pepper, w.policy, "ABCDE12345", "com.example.demo", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := run(t, "unseal", writeFile(t, "v", c.vault), writeFile(t, "p", c.pepper), c.team, c.bundle, writeFile(t, "pol", c.policy))
			if code != c.code || out != "" {
				t.Fatalf("exit %d (want %d), output %q", code, c.code, out)
			}
		})
	}
}

// TestVaultPlaintextStructure: plaintexts that authenticate but are not a
// well-formed identity are refused as malformed (sealed here with Go's
// AES-GCM under the vault's key schedule, as an attacker who knew every
// key part could).
func TestVaultPlaintextStructure(t *testing.T) {
	pepper := randBytes(t, 32)
	pol := []byte("policy")
	digest := vault.IOSSignerDigest("ABCDE12345", "com.example.demo")
	u32 := func(n int) []byte { return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} }
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	key, cert := []byte{0x30, 0x01, 0x00}, []byte{0x30, 0x00}
	cases := map[string][]byte{
		"well formed":         cat(u32(3), key, []byte{0, 1}, u32(2), cert, u32(0)),
		"no certificates":     cat(u32(3), key, []byte{0, 0}, u32(0)),
		"17 certificates":     cat(u32(3), key, []byte{0, 17}),
		"length past the end": cat(u32(300), key),
		"trailing byte":       cat(u32(3), key, []byte{0, 1}, u32(2), cert, u32(0), []byte{0}),
		"empty key":           cat(u32(0), []byte{0, 1}, u32(2), cert, u32(0)), // attested mode: the issuer CA chain only
	}
	for name, pt := range cases {
		t.Run(name, func(t *testing.T) {
			blob := sealRaw(t, pt, pepper, digest, pol)
			_, code := run(t, "unseal", writeFile(t, "v", blob), writeFile(t, "p", pepper), "ABCDE12345", "com.example.demo", writeFile(t, "pol", pol))
			want := 2
			if name == "well formed" || name == "empty key" {
				want = 0
			}
			if code != want {
				t.Fatalf("exit %d, want %d", code, want)
			}
		})
	}
}

// sealRaw seals pt with testenv.SealVault (the pkg/vault FORMAT written
// independently); vault.Open confirms the result authenticates (it fails in
// the plaintext, not in the decryption).
func sealRaw(t *testing.T, pt, pepper []byte, digest [32]byte, policy []byte) []byte {
	t.Helper()
	blob := testenv.SealVault(t, pt, pepper, digest, policy)
	var fe *vault.FormatError
	if _, err := vault.Open(blob, pepper, digest, policy); !errors.As(err, &fe) || !fe.InPlaintext {
		t.Fatalf("sealRaw: vault.Open says %v, want a plaintext format error", err)
	}
	return blob
}
