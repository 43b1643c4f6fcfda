package keyattest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	_ "embed"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// App Attest (Apple DeviceCheck) attestation, the iOS counterpart of Android
// Key Attestation, verified as Apple documents it in "Validating apps that
// connect to your server"
// (https://developer.apple.com/documentation/devicecheck/validating-apps-that-connect-to-your-server).

// OIDAppAttestNonce is the credential certificate extension holding the
// attestation nonce.
const OIDAppAttestNonce = "1.2.840.113635.100.8.2"

var oidAppAttestNonce = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 2}

// Reasons specific to App Attest, besides ReasonMalformed, ReasonChain,
// ReasonRoot, ReasonChallenge (nonce mismatch) and ReasonApplication (RP ID
// hash is not the app id's).
const (
	ReasonKeyID       = "key_id_mismatch" // key identifier differs from the certificate key's or the credential id
	ReasonCounter     = "counter"         // attestation counter not 0, or assertion counter not increasing
	ReasonEnvironment = "environment"     // aaguid is neither production nor (allowed) development
	ReasonSignature   = "signature"       // assertion signature does not verify
)

// App Attest environments, from the aaguid of the authenticator data.
const (
	EnvironmentProduction  = "production"  // aaguid "appattest" + seven NUL bytes
	EnvironmentDevelopment = "development" // aaguid "appattestdevelop"
)

var (
	aaguidProduction  = []byte("appattest\x00\x00\x00\x00\x00\x00\x00")
	aaguidDevelopment = []byte("appattestdevelop")
)

// appleAppAttestRoot is Apple's App Attestation Root CA (P-384, valid
// 2020-03-18 to 2045-03-15), https://www.apple.com/certificateauthority/Apple_App_Attestation_Root_CA.pem.
// TestAppleAppAttestRoot pins its SHA-256 fingerprint.
//
//go:embed roots/apple/Apple_App_Attestation_Root_CA.pem
var appleAppAttestRoot []byte

// AppleAppAttestRoots returns Apple's App Attestation Root CA, freshly
// parsed on each call.
func AppleAppAttestRoots() []*x509.Certificate {
	certs, _ := ParseCertificatesPEM(appleAppAttestRoot) // checked by TestAppleAppAttestRoot
	return certs
}

// AppAttestPolicy is what a verified App Attest attestation must show.
type AppAttestPolicy struct {
	// TeamID and BundleID make the app id "TEAMID.bundle.id" whose SHA-256
	// is the authenticator data's RP ID hash.
	TeamID, BundleID string
	// ClientDataHash is the hash the app passed to attestKey (the
	// SHA-256 of the server's challenge); it must be non-empty.
	ClientDataHash []byte
	// KeyID is the key identifier the app sent: the SHA-256 of the key's
	// uncompressed public point, 32 bytes.
	KeyID []byte
	// AllowDevelopment accepts the development environment's aaguid as
	// well as production's.
	AllowDevelopment bool
}

// AppAttestation is a verified attestation: what the server stores to check
// the key's later assertions.
type AppAttestation struct {
	KeyID       []byte
	PublicKey   *ecdsa.PublicKey // P-256
	Environment string           // EnvironmentProduction or EnvironmentDevelopment
	Receipt     []byte           // Apple's receipt (PKCS#7), for the fraud-metric service
}

// AppAttestVerifier checks App Attest attestation objects against trusted
// roots. It is safe for concurrent use.
type AppAttestVerifier struct {
	roots *x509.CertPool
}

// NewAppAttestVerifier returns a verifier trusting roots (at least one),
// normally AppleAppAttestRoots().
func NewAppAttestVerifier(roots []*x509.Certificate) (*AppAttestVerifier, error) {
	if len(roots) == 0 {
		return nil, errors.New("keyattest: no trusted App Attest roots")
	}
	pool := x509.NewCertPool()
	for i, r := range roots {
		if r == nil {
			return nil, fmt.Errorf("keyattest: trusted App Attest root #%d is nil", i)
		}
		pool.AddCert(r)
	}
	return &AppAttestVerifier{roots: pool}, nil
}

// attestationObject is a decoded App Attest attestation object.
type attestationObject struct {
	credCert, intermediate []byte
	receipt                []byte
	authData               []byte
}

// parseAttestationObject decodes the CBOR attestation object.
//
// FORMAT: App Attest attestation object, a CBOR map:
//
//	{"fmt": "apple-appattest",
//	 "attStmt": {"x5c": [credCert DER, intermediate CA DER], "receipt": bytes},
//	 "authData": bytes}
//
// No other keys are accepted.
func parseAttestationObject(data []byte) (*attestationObject, error) {
	v, err := decodeCBOR(data)
	if err != nil {
		return nil, err
	}
	top, ok := v.(map[string]any)
	if !ok || len(top) != 3 {
		return nil, errors.New("attestation object is not a map of fmt, attStmt and authData")
	}
	if f, _ := top["fmt"].(string); f != "apple-appattest" {
		return nil, fmt.Errorf("attestation format %q, want apple-appattest", top["fmt"])
	}
	stmt, ok := top["attStmt"].(map[string]any)
	if !ok || len(stmt) != 2 {
		return nil, errors.New("attStmt is not a map of x5c and receipt")
	}
	x5c, ok := stmt["x5c"].([]any)
	if !ok || len(x5c) != 2 {
		return nil, errors.New("x5c is not an array of two certificates")
	}
	o := &attestationObject{}
	o.credCert, _ = x5c[0].([]byte)
	o.intermediate, _ = x5c[1].([]byte)
	o.receipt, _ = stmt["receipt"].([]byte)
	o.authData, _ = top["authData"].([]byte)
	switch {
	case len(o.credCert) == 0 || len(o.intermediate) == 0:
		return nil, errors.New("x5c holds an empty or non-byte-string certificate")
	case len(o.credCert) > maxCert || len(o.intermediate) > maxCert:
		return nil, fmt.Errorf("x5c certificate larger than %d bytes", maxCert)
	case o.receipt == nil:
		return nil, errors.New("receipt is missing or not a byte string")
	case o.authData == nil:
		return nil, errors.New("authData is missing or not a byte string")
	}
	return o, nil
}

// authenticatorData is the decoded part of WebAuthn authenticator data.
type authenticatorData struct {
	rpIDHash []byte
	flags    byte
	counter  uint32
	aaguid   []byte // attested credential data, when flags has AT
	credID   []byte
}

// Authenticator data flags (WebAuthn §6.1).
const flagAttestedData = 0x40

// parseAuthData decodes authenticator data; attested says the attested
// credential data must be present (attestations) or absent (assertions).
//
// FORMAT: WebAuthn authenticator data (https://www.w3.org/TR/webauthn-2/#sctn-authenticator-data):
// rpIdHash[32] flags[1] signCount[4, big-endian], then, when flags has AT
// (0x40), attested credential data: aaguid[16] credentialIdLength[2,
// big-endian] credentialId[credentialIdLength] credentialPublicKey (COSE
// key, CBOR; not decoded: the credential certificate carries the same key).
// Assertions' authenticator data stops after signCount.
func parseAuthData(b []byte, attested bool) (*authenticatorData, error) {
	const head = 32 + 1 + 4
	if len(b) < head {
		return nil, fmt.Errorf("authenticator data is %d bytes, want at least %d", len(b), head)
	}
	a := &authenticatorData{rpIDHash: b[:32], flags: b[32], counter: binary.BigEndian.Uint32(b[33:37])}
	rest := b[head:]
	if !attested {
		// Apple sets AT (0x40) in assertions too, with no data after the
		// counter.
		if len(rest) != 0 {
			return nil, fmt.Errorf("assertion authenticator data is %d bytes, want %d", len(b), head)
		}
		return a, nil
	}
	if a.flags&flagAttestedData == 0 {
		return nil, errors.New("authenticator data has no attested credential data (AT flag clear)")
	}
	if len(rest) < 18 {
		return nil, errors.New("attested credential data truncated")
	}
	a.aaguid = rest[:16]
	n := int(binary.BigEndian.Uint16(rest[16:18]))
	if len(rest)-18 < n+1 {
		return nil, fmt.Errorf("credential id of %d bytes and its public key do not fit", n)
	}
	a.credID = rest[18 : 18+n]
	return a, nil
}

// parseNonceExtension returns the nonce of the credential certificate's
// extension.
//
// FORMAT: extension 1.2.840.113635.100.8.2 value (DER):
// SEQUENCE { [1] EXPLICIT OCTET STRING nonce }.
func parseNonceExtension(der []byte) ([]byte, error) {
	s := cryptobyte.String(der)
	var seq, tagged, nonce cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() ||
		!seq.ReadASN1(&tagged, cbasn1.Tag(1).Constructed().ContextSpecific()) || !seq.Empty() ||
		!tagged.ReadASN1(&nonce, cbasn1.OCTET_STRING) || !tagged.Empty() {
		return nil, errors.New("nonce extension is not SEQUENCE { [1] OCTET STRING }")
	}
	return nonce, nil
}

// Verify checks an App Attest attestation object against p at time now and
// returns the attested key. Every failure is an *Error whose Reason says
// which rule failed. now must lie in the credential certificate's validity
// (three days from the attestation): verify at once, or, for a stored
// object, at the time it was received.
//
// Rules, Apple's steps in order:
//  1. The object decodes (malformed) and its credential certificate and
//     intermediate chain to a trusted root at now (root_untrusted when no
//     path to a trusted root exists, chain_invalid for dates).
//  2. SHA-256(authData || p.ClientDataHash) equals the nonce in the
//     credential certificate's extension 1.2.840.113635.100.8.2, compared in
//     constant time (challenge_mismatch).
//  3. SHA-256 of the certificate key's uncompressed point equals p.KeyID
//     (key_id_mismatch).
//  4. The RP ID hash equals SHA-256(p.TeamID + "." + p.BundleID)
//     (application_mismatch).
//  5. The counter is 0 (counter).
//  6. The aaguid is production's, or development's when p.AllowDevelopment
//     (environment).
//  7. The credential id equals p.KeyID (key_id_mismatch).
func (v *AppAttestVerifier) Verify(object []byte, p AppAttestPolicy, now time.Time) (*AppAttestation, error) {
	if len(p.ClientDataHash) == 0 || len(p.KeyID) != sha256.Size || p.TeamID == "" || p.BundleID == "" {
		return nil, fail(ReasonMalformed, "policy needs a client data hash, a 32-byte key id, a team id and a bundle id")
	}
	o, err := parseAttestationObject(object)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Err: err}
	}
	auth, err := parseAuthData(o.authData, true)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Err: err}
	}
	leaf, err := x509.ParseCertificate(o.credCert)
	if err != nil {
		return nil, fail(ReasonMalformed, "credential certificate: %w", err)
	}
	mid, err := x509.ParseCertificate(o.intermediate)
	if err != nil {
		return nil, fail(ReasonMalformed, "intermediate certificate: %w", err)
	}
	// Step 1.
	inter := x509.NewCertPool()
	inter.AddCert(mid)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return nil, fail(ReasonChain, "credential certificate chain at %s: %w", now.UTC().Format(time.RFC3339), err)
		}
		return nil, fail(ReasonRoot, "credential certificate chain: %w", err)
	}
	// Step 2.
	var ext []byte
	for _, e := range leaf.Extensions {
		if e.Id.Equal(oidAppAttestNonce) {
			if ext != nil {
				return nil, fail(ReasonMalformed, "credential certificate has the nonce extension twice")
			}
			ext = e.Value
		}
	}
	if ext == nil {
		return nil, fail(ReasonMalformed, "credential certificate has no nonce extension %s", OIDAppAttestNonce)
	}
	attested, err := parseNonceExtension(ext)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Err: err}
	}
	h := sha256.New()
	h.Write(o.authData)
	h.Write(p.ClientDataHash)
	if subtle.ConstantTimeCompare(h.Sum(nil), attested) != 1 {
		return nil, fail(ReasonChallenge, "nonce SHA-256(authData || clientDataHash) differs from the credential certificate's")
	}
	// Step 3.
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fail(ReasonMalformed, "credential certificate key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	point, err := pub.Bytes()
	if err != nil {
		return nil, fail(ReasonMalformed, "credential certificate key: %w", err)
	}
	if id := sha256.Sum256(point); !bytes.Equal(id[:], p.KeyID) {
		return nil, fail(ReasonKeyID, "key id is not the SHA-256 of the credential certificate's key")
	}
	// Step 4.
	if app := sha256.Sum256([]byte(p.TeamID + "." + p.BundleID)); !bytes.Equal(auth.rpIDHash, app[:]) {
		return nil, fail(ReasonApplication, "RP ID hash is not SHA-256(%q)", p.TeamID+"."+p.BundleID)
	}
	// Step 5.
	if auth.counter != 0 {
		return nil, fail(ReasonCounter, "attestation counter is %d, want 0", auth.counter)
	}
	// Step 6.
	env := ""
	switch {
	case bytes.Equal(auth.aaguid, aaguidProduction):
		env = EnvironmentProduction
	case bytes.Equal(auth.aaguid, aaguidDevelopment) && p.AllowDevelopment:
		env = EnvironmentDevelopment
	default:
		return nil, fail(ReasonEnvironment, "aaguid %q is not an accepted App Attest environment", auth.aaguid)
	}
	// Step 7.
	if !bytes.Equal(auth.credID, p.KeyID) {
		return nil, fail(ReasonKeyID, "credential id differs from the key id")
	}
	return &AppAttestation{KeyID: bytes.Clone(p.KeyID), PublicKey: pub, Environment: env,
		Receipt: bytes.Clone(o.receipt)}, nil
}

// VerifyAppAssertion checks an App Attest assertion made with the attested
// key pub for the request whose client data hashes to clientDataHash, by the
// app teamID.bundleID, whose previous assertion had counter last (0 after
// the attestation). It returns the assertion's counter, which the caller
// stores. Failures are *Error (malformed, application_mismatch, counter,
// signature).
//
// FORMAT: assertion, a CBOR map {"signature": DER ECDSA signature,
// "authenticatorData": bytes}; the signature is ECDSA P-256 with SHA-256
// over nonce = SHA-256(authenticatorData || clientDataHash).
func VerifyAppAssertion(assertion []byte, pub *ecdsa.PublicKey, teamID, bundleID string, clientDataHash []byte, last uint32) (uint32, error) {
	v, err := decodeCBOR(assertion)
	if err != nil {
		return 0, &Error{Reason: ReasonMalformed, Err: err}
	}
	m, ok := v.(map[string]any)
	sig, _ := m["signature"].([]byte)
	raw, _ := m["authenticatorData"].([]byte)
	if !ok || len(m) != 2 || sig == nil || raw == nil {
		return 0, fail(ReasonMalformed, "assertion is not a map of signature and authenticatorData")
	}
	auth, err := parseAuthData(raw, false)
	if err != nil {
		return 0, &Error{Reason: ReasonMalformed, Err: err}
	}
	h := sha256.New()
	h.Write(raw)
	h.Write(clientDataHash)
	nonce := h.Sum(nil)
	digest := sha256.Sum256(nonce)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return 0, fail(ReasonSignature, "assertion signature does not verify with the attested key")
	}
	if app := sha256.Sum256([]byte(teamID + "." + bundleID)); !bytes.Equal(auth.rpIDHash, app[:]) {
		return 0, fail(ReasonApplication, "RP ID hash is not SHA-256(%q)", teamID+"."+bundleID)
	}
	if auth.counter <= last {
		return 0, fail(ReasonCounter, "assertion counter %d is not above %d", auth.counter, last)
	}
	return auth.counter, nil
}
