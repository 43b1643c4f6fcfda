package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"time"

	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// Refusal reasons of POST /v1/certificate for an iOS release
// (VerifyIOSIdentity).
const (
	reasonIOSCertAppMissing = "certificate_app_attest_missing"
	// A refused App Attest object is "certificate_app_attest_" + the
	// keyattest reason (malformed, chain_invalid, root_untrusted,
	// challenge_mismatch, key_id_mismatch, application_mismatch, counter,
	// environment).
	reasonIOSCertAppPrefix = "certificate_app_attest_"
	reasonIOSCertNotIOS    = "certificate_release_not_ios"
	// identityPublicKey absent.
	reasonIOSCertKeyMissing = "certificate_identity_key_missing"
	// identityPublicKey not standard base64 of a DER SubjectPublicKeyInfo
	// in its canonical encoding.
	reasonIOSCertKeyMalformed = "certificate_key_malformed"
	reasonIOSCertKeyNotP256   = "certificate_key_not_p256"
)

// IOSIdentity is the identity key of an iOS POST /v1/certificate request
// that VerifyIOSIdentity accepted: the key the certificate is issued for.
type IOSIdentity struct {
	// PublicKey is the Secure Enclave key's public half (P-256).
	PublicKey *ecdsa.PublicKey
	// SPKI is its DER SubjectPublicKeyInfo, exactly as sent and as
	// x509.MarshalPKIXPublicKey writes it: the bytes the certificate's
	// URI SAN key hash covers.
	SPKI []byte
	// AppAttest is the App Attest environment the object proved
	// (keyattest.EnvironmentProduction or EnvironmentDevelopment), for the
	// token's aat claim.
	AppAttest string
}

// VerifyIOSIdentity checks the identity part of an iOS release's POST
// /v1/certificate request, after everything /v1/attest checks except the
// release's own App Attest policy (whose clientDataHash differs: the
// object in a certificate request is not made for SHA-256(nonceRaw)) has
// passed. nonce is the raw challenge nonce the request consumed, rel the
// release its measurement named, v serve's App Attest verifier.
//
// Rules, in order:
//  1. rel is an iOS release (certificate_release_not_ios).
//  2. req carries an App Attest key id and object, whatever rel's App
//     Attest mode (certificate_app_attest_missing).
//  3. req.IdentityPublicKey is present (certificate_identity_key_missing)
//     and is standard base64 of a DER SubjectPublicKeyInfo in canonical
//     form (certificate_key_malformed) of an EC P-256 key
//     (certificate_key_not_p256).
//  4. The App Attest object verifies as /v1/attest's does (Apple's root,
//     app id = team id + "." + the bundle id, key id, counter 0,
//     environment) but with clientDataHash = SHA-256(nonce ||
//     identityPublicKey's DER): certificate_app_attest_<keyattest reason>.
//     The team id is rel's App Attest policy's, or the measurement's when
//     rel has none; development objects are accepted only when that policy
//     allows them.
//
// It returns the identity, or nil and the refusal reason.
func VerifyIOSIdentity(v *keyattest.AppAttestVerifier, req *AttestRequest, rel *Release, nonce []byte, now time.Time) (*IOSIdentity, string) {
	if rel.IOS == nil {
		return nil, reasonIOSCertNotIOS
	}
	if req.AppAttestation == "" || req.AppAttestKeyID == "" {
		return nil, reasonIOSCertAppMissing
	}
	if req.IdentityPublicKey == "" {
		return nil, reasonIOSCertKeyMissing
	}
	spki, err := base64.StdEncoding.DecodeString(req.IdentityPublicKey)
	if err != nil {
		return nil, reasonIOSCertKeyMalformed
	}
	key, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil, reasonIOSCertKeyMalformed
	}
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, reasonIOSCertKeyNotP256
	}
	if canon, err := x509.MarshalPKIXPublicKey(pub); err != nil || !bytes.Equal(canon, spki) {
		return nil, reasonIOSCertKeyMalformed
	}
	p := keyattest.AppAttestPolicy{TeamID: rel.IOS.TeamID, BundleID: rel.IOS.BundleID}
	if rel.AppAttest != nil && rel.AppAttest.TeamID != "" {
		p.TeamID, p.AllowDevelopment = rel.AppAttest.TeamID, rel.AppAttest.AllowDevelopment
	}
	h := sha256.New()
	h.Write(nonce)
	h.Write(spki)
	p.ClientDataHash = h.Sum(nil)
	env, reason := verifyAppAttestation(v, req, p, now)
	if reason != "" {
		return nil, reasonIOSCertAppPrefix + reason
	}
	return &IOSIdentity{PublicKey: pub, SPKI: spki, AppAttest: env}, ""
}
