// Package attest is the trustfuse attestation protocol and server (DESIGN
// §7): a fused app asks POST /v1/challenge for a one-time nonce, proves its
// measurement with POST /v1/attest, and receives a short-lived ES256 JWT
// that `trustfuse guard` (or any JOSE library reading /.well-known/jwks.json)
// verifies.
//
// The measurement proof is
//
//	proof = HMAC-SHA256(attestKey, nonceRaw || measurementSHA256)
//
// where nonceRaw is the base64url-decoded nonce (56 bytes), measurementSHA256
// is the 32-byte SHA-256 of the measurement's canonical JSON (RFC 8785, the
// same bytes as fusion.Measurement.Canonical), and attestKey is the
// per-release key sealed in the app's vault and registered for the server
// (see [DeriveAttestKey]). The proof travels base64url without padding.
package attest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/trustfuse/trustfuse/internal/jcs"
)

// Sentinel errors.
var (
	// ErrRegistry: the registry file cannot be opened, read or written.
	ErrRegistry = errors.New("attest: registry")
	// ErrRegistryKey: the server key cannot open a sealed release key (wrong
	// key or tampered record), or it is not 32 bytes.
	ErrRegistryKey = errors.New("attest: registry key")
	// ErrUnknownRelease: no release with that id.
	ErrUnknownRelease = errors.New("attest: unknown release")
	// ErrConfig: the server configuration is incomplete or invalid.
	ErrConfig = errors.New("attest: configuration")
	// ErrReplayCacheFull: the in-memory replay cache holds its maximum of
	// unexpired nonces; new challenges are refused until some expire.
	ErrReplayCacheFull = errors.New("attest: replay cache full")
)

// Measurement is what a release is registered with and what the app sends.
// Its canonical form is byte-identical to fusion.Measurement.Canonical.
type Measurement struct {
	Package        string            `json:"package"`
	VersionCode    int64             `json:"versionCode"`
	SignerDigests  []string          `json:"signerDigests"`
	DexDigests     map[string]string `json:"dexDigests"`
	RuntimeDigest  string            `json:"runtimeDigest"`
	ManifestDigest string            `json:"manifestDigest"`
}

// Canonical returns the RFC 8785 JSON of m (nil slices and maps as empty).
func (m Measurement) Canonical() []byte {
	dex := m.DexDigests
	if dex == nil {
		dex = map[string]string{}
	}
	signers := m.SignerDigests
	if signers == nil {
		signers = []string{}
	}
	b, err := jcs.Marshal(map[string]any{
		"dexDigests":     dex,
		"manifestDigest": m.ManifestDigest,
		"package":        m.Package,
		"runtimeDigest":  m.RuntimeDigest,
		"signerDigests":  signers,
		"versionCode":    m.VersionCode,
	})
	if err != nil { // strings, a string map and an int64 cannot fail
		panic(fmt.Sprintf("attest: measurement encoding: %v", err))
	}
	return b
}

// Sum returns the SHA-256 of Canonical().
func (m Measurement) Sum() [32]byte { return sha256.Sum256(m.Canonical()) }

// SHA256 returns the lowercase hex SHA-256 of Canonical(); it is also the
// release id.
func (m Measurement) SHA256() string {
	s := m.Sum()
	return hex.EncodeToString(s[:])
}

// attestKeyLabel prefixes the measurement in the key derivation.
const attestKeyLabel = "trustfuse attest key v1"

// DeriveAttestKey returns the per-release attestation key:
// HMAC-SHA256(key = the client private key's PKCS#8 DER, msg = "trustfuse
// attest key v1" || the 32-byte measurement SHA-256). It is deterministic
// (reproducible builds), secret to whoever holds the client key, and
// different for every release.
func DeriveAttestKey(clientKeyPKCS8 []byte, measurementSum [32]byte) []byte {
	h := hmac.New(sha256.New, clientKeyPKCS8)
	h.Write([]byte(attestKeyLabel))
	h.Write(measurementSum[:])
	return h.Sum(nil)
}

// Proof returns HMAC-SHA256(attestKey, nonceRaw || measurementSum), what the
// app sends (base64url) to prove it holds the release's key.
func Proof(attestKey, nonceRaw []byte, measurementSum [32]byte) []byte {
	h := hmac.New(sha256.New, attestKey)
	h.Write(nonceRaw)
	h.Write(measurementSum[:])
	return h.Sum(nil)
}
