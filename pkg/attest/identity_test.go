package attest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// TestDeriveAttestKeyFromSigner checks the attested-mode key derivation
// against OpenSSL's HMAC-SHA256 of the same key and message, and that it
// differs from the embedded-mode derivation of the same inputs.
func TestDeriveAttestKeyFromSigner(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	sum := testMeasurement.Sum()
	got := DeriveAttestKeyFromSigner(der, sum)
	msg := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(msg, append([]byte("trustfuse attest key v1 attested"), sum[:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	out := testenv.Run(t, "openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString(der), "-r", msg)
	if want := strings.Fields(out)[0]; hex.EncodeToString(got) != want {
		t.Fatalf("DeriveAttestKeyFromSigner = %x, openssl says %s", got, want)
	}
	if hex.EncodeToString(got) == hex.EncodeToString(DeriveAttestKey(der, sum)) {
		t.Fatal("attested and embedded derivations agree: the label is not mixed in")
	}
	other := sha256.Sum256([]byte("another release"))
	if hex.EncodeToString(got) == hex.EncodeToString(DeriveAttestKeyFromSigner(der, other)) {
		t.Fatal("two releases share an attestation key")
	}
}

// TestRegistrationIdentity checks that Add refuses each class of bad
// identity policy and copies a good one into the release.
func TestRegistrationIdentity(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	reg, err := OpenRegistry(filepath.Join(t.TempDir(), "r.db"), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	good := IdentityPolicy{Mode: IdentityAttested, ValiditySeconds: 86400, MinSecurityLevel: "tee", RequireVerifiedBoot: true}
	for _, tc := range []struct {
		name string
		edit func(*IdentityPolicy)
		want string
	}{
		{"mode", func(p *IdentityPolicy) { p.Mode = "embedded" }, `identity mode "embedded"`},
		{"validity zero", func(p *IdentityPolicy) { p.ValiditySeconds = 0 }, "identity validity 0 s"},
		{"validity above 7 days", func(p *IdentityPolicy) { p.ValiditySeconds = MaxIdentityValidity + 1 }, "identity validity 604801 s"},
		{"security level", func(p *IdentityPolicy) { p.MinSecurityLevel = "TEE" }, `unknown security level "TEE"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.edit(&p)
			_, err := reg.Add(Registration{Format: RegistrationFormat, Measurement: testMeasurement, AttestKey: testAttestKey, Identity: &p}, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Add = %v, want %q", err, tc.want)
			}
		})
	}
	p := good
	p.Mode = IdentityAttestedOrEmbedded
	rel, err := reg.Add(Registration{Format: RegistrationFormat, Measurement: testMeasurement, AttestKey: testAttestKey, Identity: &p}, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := reg.Lookup(rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity == nil || *got.Identity != p {
		t.Fatalf("stored identity %+v, want %+v", got.Identity, p)
	}
}
