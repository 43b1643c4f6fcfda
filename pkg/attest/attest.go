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
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/trustfuse/trustfuse/internal/jcs"
)

// Sentinel errors.
var (
	// ErrRegistry: the registry (file or database) cannot be opened, read
	// or written, or a release export or transition is invalid.
	ErrRegistry = errors.New("attest: registry")
	// ErrRegistryKey: the registry key does not match the registry's key
	// check value, cannot open a sealed release key (wrong key or tampered
	// record), or is not 32 bytes.
	ErrRegistryKey = errors.New("attest: registry key")
	// ErrNoRegistry: the registry named does not exist (only adding a
	// release creates one).
	ErrNoRegistry = errors.New("attest: no registry")
	// ErrRevoked: the release is revoked; adding it again does not
	// re-activate it (Reinstate does).
	ErrRevoked = errors.New("attest: release revoked")
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

// Canonical returns the RFC 8785 JSON of m (nil slices and maps as empty):
//
//	{"dexDigests":{name:hex,…},"manifestDigest":hex,"package":name,
//	 "runtimeDigest":hex,"signerDigests":[hex,…],"versionCode":n}
//
// keys sorted by UTF-16 code units, no whitespace, strings escaped as
// JSON.stringify does (each byte of invalid UTF-8 becomes U+FFFD, as
// encoding/json writes it), signerDigests in the order given, versionCode a
// decimal integer. It is written directly (it runs on every attestation);
// input with invalid UTF-8 goes through encoding/json and internal/jcs, the
// general path, so both agree byte for byte.
func (m Measurement) Canonical() []byte {
	if !m.validUTF8() {
		return m.canonicalSlow()
	}
	names := make([]string, 0, len(m.DexDigests))
	size := 160 + len(m.Package) + len(m.RuntimeDigest) + len(m.ManifestDigest)
	for name, d := range m.DexDigests {
		names = append(names, name)
		size += len(name) + len(d) + 6
	}
	slices.SortFunc(names, jcs.CompareKeys)
	for _, d := range m.SignerDigests {
		size += len(d) + 3
	}
	b := make([]byte, 0, size)
	b = append(b, `{"dexDigests":{`...)
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = jcs.AppendString(b, name)
		b = append(b, ':')
		b = jcs.AppendString(b, m.DexDigests[name])
	}
	b = append(b, `},"manifestDigest":`...)
	b = jcs.AppendString(b, m.ManifestDigest)
	b = append(b, `,"package":`...)
	b = jcs.AppendString(b, m.Package)
	b = append(b, `,"runtimeDigest":`...)
	b = jcs.AppendString(b, m.RuntimeDigest)
	b = append(b, `,"signerDigests":[`...)
	for i, d := range m.SignerDigests {
		if i > 0 {
			b = append(b, ',')
		}
		b = jcs.AppendString(b, d)
	}
	b = append(b, `],"versionCode":`...)
	b = strconv.AppendInt(b, m.VersionCode, 10)
	return append(b, '}')
}

func (m Measurement) validUTF8() bool {
	ok := utf8.ValidString(m.Package) && utf8.ValidString(m.RuntimeDigest) && utf8.ValidString(m.ManifestDigest)
	for _, d := range m.SignerDigests {
		ok = ok && utf8.ValidString(d)
	}
	for name, d := range m.DexDigests {
		ok = ok && utf8.ValidString(name) && utf8.ValidString(d)
	}
	return ok
}

// canonicalSlow is Canonical through encoding/json and internal/jcs.
func (m Measurement) canonicalSlow() []byte {
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
	return deriveKey(clientKeyPKCS8, attestKeyLabel, measurementSum)
}

// deriveKey is HMAC-SHA256(key, label || measurementSum).
func deriveKey(key []byte, label string, measurementSum [32]byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	h.Write(measurementSum[:])
	return h.Sum(nil)
}

// attestKeyAttestedLabel prefixes the measurement in the derivation of an
// attested-identity release's key.
const attestKeyAttestedLabel = "trustfuse attest key v1 attested"

// DeriveAttestKeyFromSigner returns the attestation key of a release in
// attested identity mode, whose package holds no client key:
// HMAC-SHA256(key = the package signing private key's PKCS#8 DER (the APK
// signer, or a bundle's upload key), msg = "trustfuse attest key v1
// attested" || the 32-byte measurement SHA-256). Like DeriveAttestKey it is
// deterministic and secret to whoever builds the release; the label keeps
// it apart from DeriveAttestKey's even for the same key bytes.
func DeriveAttestKeyFromSigner(signerPKCS8 []byte, measurementSum [32]byte) []byte {
	return deriveKey(signerPKCS8, attestKeyAttestedLabel, measurementSum)
}

// Proof returns HMAC-SHA256(attestKey, nonceRaw || measurementSum), what the
// app sends (base64url) to prove it holds the release's key.
func Proof(attestKey, nonceRaw []byte, measurementSum [32]byte) []byte {
	if len(nonceRaw) != NonceLen {
		h := hmac.New(sha256.New, attestKey)
		h.Write(nonceRaw)
		h.Write(measurementSum[:])
		return h.Sum(nil)
	}
	p := proofOf(attestKey, (*[NonceLen]byte)(nonceRaw), measurementSum)
	return p[:]
}

// proofOf is Proof for a nonce of NonceLen bytes, HMAC-SHA256 (RFC 2104)
// written out over arrays on the stack: serve checks one per attestation,
// and crypto/hmac allocates a keyed pair of hashes for each new key.
// TestProofMatchesHMAC compares it with crypto/hmac.
func proofOf(key []byte, nonce *[NonceLen]byte, sum [32]byte) [sha256.Size]byte {
	var k [sha256.BlockSize]byte
	if len(key) > sha256.BlockSize {
		d := sha256.Sum256(key)
		copy(k[:], d[:])
	} else {
		copy(k[:], key)
	}
	var inner [sha256.BlockSize + NonceLen + 32]byte
	var outer [sha256.BlockSize + sha256.Size]byte
	for i, b := range k {
		inner[i], outer[i] = b^0x36, b^0x5c
	}
	copy(inner[sha256.BlockSize:], nonce[:])
	copy(inner[sha256.BlockSize+NonceLen:], sum[:])
	d := sha256.Sum256(inner[:])
	copy(outer[sha256.BlockSize:], d[:])
	return sha256.Sum256(outer[:])
}
