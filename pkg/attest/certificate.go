package attest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// Identity modes (IdentityPolicy.Mode): the Fusion Set's mtls.identity for
// releases whose devices get a certificate for a hardware key.
const (
	IdentityAttested           = "attested"
	IdentityAttestedOrEmbedded = "attested-or-embedded"
)

// Bounds of an issued certificate's lifetime (IdentityPolicy.ValiditySeconds).
const (
	DefaultCertificateValidity = 24 * time.Hour
	MinCertificateValidity     = 5 * time.Minute
	MaxCertificateValidity     = 7 * 24 * time.Hour
)

// DeviceCommonName is the only subject attribute of an issued certificate.
const DeviceCommonName = "TrustFuse attested device"

// ReleaseURIPrefix starts the one URI SAN of an issued certificate:
// ReleaseURIPrefix + release id (64 hex) + ":key:" + hex SHA-256 of the
// certificate's SubjectPublicKeyInfo DER.
const ReleaseURIPrefix = "urn:trustfuse:release:"

// IdentityPolicy is a release's attested client identity: the Fusion Set's
// mtls.identity and mtls.attestedCertificate. A release without one is in
// embedded mode and gets no certificate.
type IdentityPolicy struct {
	// Mode is attested or attested-or-embedded.
	Mode string `json:"mode"`
	// ValiditySeconds is the issued certificate's lifetime (0: 24 h;
	// otherwise 5 minutes to 7 days).
	ValiditySeconds int64 `json:"validitySeconds"`
	// MinSecurityLevel is the least keystore level of the device key:
	// software, tee or strongbox.
	MinSecurityLevel string `json:"minSecurityLevel"`
	// RequireVerifiedBoot demands verified boot state Verified and a locked
	// bootloader.
	RequireVerifiedBoot bool `json:"requireVerifiedBoot"`
}

// check reports what is wrong with p, or nil.
func (p *IdentityPolicy) check() error {
	if p.Mode != IdentityAttested && p.Mode != IdentityAttestedOrEmbedded {
		return fmt.Errorf("identity mode %q (want %s or %s)", p.Mode, IdentityAttested, IdentityAttestedOrEmbedded)
	}
	if v := time.Duration(p.ValiditySeconds) * time.Second; p.ValiditySeconds != 0 &&
		(p.ValiditySeconds < 0 || v < MinCertificateValidity || v > MaxCertificateValidity) {
		return fmt.Errorf("identity validitySeconds %d not in [%d, %d]", p.ValiditySeconds,
			int64(MinCertificateValidity/time.Second), int64(MaxCertificateValidity/time.Second))
	}
	if _, err := keyattest.ParseSecurityLevel(p.MinSecurityLevel); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// validity is the lifetime of the certificates issued under p.
func (p *IdentityPolicy) validity() time.Duration {
	if p == nil || p.ValiditySeconds == 0 {
		return DefaultCertificateValidity
	}
	return time.Duration(p.ValiditySeconds) * time.Second
}

// CertificateIssuer is the client CA serve issues device certificates
// under: the CA that guard and the protected servers trust for clients.
type CertificateIssuer struct {
	// Chain is the issuing CA certificate first, then its issuers as far as
	// configured; the answers to POST /v1/certificate carry it.
	Chain []*x509.Certificate
	// Key is the issuing CA's private key: ECDSA P-256 or RSA (2048 bits
	// or more).
	Key crypto.Signer
}

// certIssuer signs device certificates.
type certIssuer struct {
	ca    *x509.Certificate
	key   crypto.Signer
	alg   x509.SignatureAlgorithm
	chain []string // standard base64 DER, CA first
	// decoy is a key of the CA key's type that no one trusts: it signs the
	// certificates of refused requests in opaque mode.
	decoy crypto.Signer
}

// newCertIssuer checks ci at now; nil ci means no issuance.
func newCertIssuer(ci *CertificateIssuer, now time.Time, rnd io.Reader) (*certIssuer, error) {
	if ci == nil {
		return nil, nil
	}
	if len(ci.Chain) == 0 || ci.Chain[0] == nil || ci.Key == nil {
		return nil, fmt.Errorf("%w: certificate issuer needs a CA certificate and its key", ErrConfig)
	}
	ca := ci.Chain[0]
	type publicKey interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := ci.Key.Public().(publicKey); !ok || !pub.Equal(ca.PublicKey) {
		return nil, fmt.Errorf("%w: certificate issuer key does not match its certificate %q", ErrConfig, ca.Subject)
	}
	switch {
	case !ca.BasicConstraintsValid || !ca.IsCA:
		return nil, fmt.Errorf("%w: certificate issuer %q is not a CA (basicConstraints CA:TRUE)", ErrConfig, ca.Subject)
	case ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0:
		return nil, fmt.Errorf("%w: certificate issuer %q: its key usage does not allow keyCertSign", ErrConfig, ca.Subject)
	case len(ca.ExtKeyUsage) > 0 && !slices.Contains(ca.ExtKeyUsage, x509.ExtKeyUsageClientAuth) &&
		!slices.Contains(ca.ExtKeyUsage, x509.ExtKeyUsageAny):
		return nil, fmt.Errorf("%w: certificate issuer %q: its extended key usage does not allow clientAuth", ErrConfig, ca.Subject)
	case now.Before(ca.NotBefore) || !now.Before(ca.NotAfter):
		return nil, fmt.Errorf("%w: certificate issuer %q is not valid now (valid %s to %s)", ErrConfig, ca.Subject,
			ca.NotBefore.UTC().Format(time.RFC3339), ca.NotAfter.UTC().Format(time.RFC3339))
	}
	out := &certIssuer{ca: ca, key: ci.Key}
	var err error
	switch k := ci.Key.Public().(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: certificate issuer key must be ECDSA P-256 or RSA", ErrConfig)
		}
		out.alg = x509.ECDSAWithSHA256
		out.decoy, err = ecdsa.GenerateKey(elliptic.P256(), rnd)
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: certificate issuer RSA key has %d bits, want at least 2048", ErrConfig, k.N.BitLen())
		}
		out.alg = x509.SHA256WithRSA
		out.decoy, err = rsa.GenerateKey(rnd, k.N.BitLen())
	default:
		return nil, fmt.Errorf("%w: certificate issuer key must be ECDSA P-256 or RSA", ErrConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("attest: decoy issuer key: %w", err)
	}
	for _, c := range ci.Chain {
		out.chain = append(out.chain, base64.StdEncoding.EncodeToString(c.Raw))
	}
	return out, nil
}

// issue returns the DER certificate for device key pub of release id,
// valid from now − 5 minutes for validity (cut at the CA's expiry), and its
// notAfter. With decoy it is signed by the decoy key instead of the CA's
// (same issuer name and key identifier; no one trusts it).
func (ci *certIssuer) issue(id string, pub *ecdsa.PublicKey, validity time.Duration, now time.Time, rnd io.Reader, decoy bool) ([]byte, time.Time, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("attest: device key: %w", err)
	}
	point, err := pub.Bytes()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("attest: device key: %w", err)
	}
	keySum := sha256.Sum256(spki)
	ski := sha256.Sum256(point) // RFC 7093 §2 method 1: leftmost 160 bits
	var serial [16]byte
	if _, err := io.ReadFull(rnd, serial[:]); err != nil {
		return nil, time.Time{}, fmt.Errorf("attest: serial: %w", err)
	}
	serial[0] = serial[0]&0x7f | 0x40 // positive, 16 bytes in DER
	notAfter := now.Add(validity).Truncate(time.Second)
	if ci.ca.NotAfter.Before(notAfter) {
		notAfter = ci.ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial[:]),
		Subject:               pkix.Name{CommonName: DeviceCommonName},
		NotBefore:             now.Add(-5 * time.Minute).Truncate(time.Second),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski[:20],
		URIs:                  []*url.URL{{Scheme: "urn", Opaque: strings.TrimPrefix(ReleaseURIPrefix, "urn:") + id + ":key:" + hex.EncodeToString(keySum[:])}},
		SignatureAlgorithm:    ci.alg,
	}
	parent, signer := ci.ca, ci.key
	if decoy {
		p := *ci.ca
		p.PublicKey = ci.decoy.Public()
		parent, signer = &p, ci.decoy
	}
	der, err := x509.CreateCertificate(rnd, tmpl, parent, pub, signer)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("attest: issue certificate: %w", err)
	}
	return der, notAfter, nil
}

// CertificateResponse is the answer to POST /v1/certificate: the issued
// client certificate (standard base64 DER), the issuer CA chain (CA first),
// the certificate's notAfter, and a token as /v1/attest issues whose cnf
// x5t#S256 is the SHA-256 of Certificate.
type CertificateResponse struct {
	Certificate    string    `json:"certificate"`
	Chain          []string  `json:"chain"`
	ExpiresAt      time.Time `json:"expiresAt"`
	Token          string    `json:"token"`
	TokenExpiresAt time.Time `json:"tokenExpiresAt"`
}

// Refusal reasons of POST /v1/certificate after the /v1/attest ones.
const (
	reasonIdentity = "identity_not_attested"
	// A refused device key chain is "certificate_key_attestation_" + the
	// keyattest reason, or "certificate_key_attestation_missing".
	reasonCertKeyPrefix = "certificate_key_attestation_"
	reasonCertNotP256   = "certificate_key_not_p256"
	reasonCertPurpose   = "certificate_key_purpose" // the device key may not SIGN
)

// certificate serves POST /v1/certificate: the /v1/attest checks, then the
// release's identity policy and the device key's attestation chain, then a
// client certificate for the attested key and a token bound to it.
func (s *Server) certificate(w http.ResponseWriter, r *http.Request) {
	if s.issuer == nil {
		httpError(w, http.StatusNotFound, "certificate issuance not configured")
		return
	}
	var req AttestRequest
	if !readAttestRequest(w, r, &req) {
		return
	}
	now := s.cfg.Now()
	if !now.Before(s.issuer.ca.NotAfter) { // expired since start: fail closed, keep the nonce
		s.verdict.WithLabelValues("error").Inc()
		httpError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return
	}
	v, ok := s.check(w, r, &req, now, true)
	if !ok {
		return
	}
	var pub *ecdsa.PublicKey
	if v.reason == "" {
		pub, v.reason = s.checkIdentity(&req, v.rel, &v.claims, now)
	}
	if s.refused(w, v.reason) {
		return
	}
	var validity time.Duration
	if v.rel != nil {
		validity = v.rel.Identity.validity()
	} else {
		validity = DefaultCertificateValidity
	}
	if pub == nil { // opaque refusal: a certificate for the key sent, if any
		pub = sentKey(&req)
	}
	if pub == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), s.cfg.Rand)
		if err != nil {
			httpError(w, http.StatusInternalServerError, "internal error")
			return
		}
		pub = &k.PublicKey
	}
	der, notAfter, err := s.issuer.issue(v.claims.Release, pub, validity, now, s.cfg.Rand, v.reason != "")
	if err != nil {
		httpError(w, http.StatusInternalServerError, "internal error")
		return
	}
	d := sha256.Sum256(der)
	v.claims.Confirm = map[string]string{"x5t#S256": base64.RawURLEncoding.EncodeToString(d[:])}
	tok, err := s.signToken(&v.claims, v.reason != "")
	if err != nil {
		httpError(w, http.StatusInternalServerError, "internal error")
		return
	}
	if v.reason == "" {
		s.issued.Inc()
	}
	writeJSON(w, http.StatusOK, CertificateResponse{Certificate: base64.StdEncoding.EncodeToString(der),
		Chain: s.issuer.chain, ExpiresAt: notAfter.UTC(), Token: tok,
		TokenExpiresAt: time.Unix(v.claims.Expiry, 0).UTC()})
}

// checkIdentity applies rel's identity policy to the device key's proof in
// req and returns the P-256 key to certify, or a refusal reason. It records
// what the proof showed in c: for Android the Key Attestation chain's
// security level (challenge = the raw nonce), for iOS the App Attest
// environment (VerifyIOSIdentity).
func (s *Server) checkIdentity(req *AttestRequest, rel *Release, c *Claims, now time.Time) (*ecdsa.PublicKey, string) {
	pol := rel.Identity
	if pol == nil {
		return nil, reasonIdentity
	}
	nonce, err := base64.RawURLEncoding.DecodeString(req.Nonce)
	if err != nil { // verify accepted it
		return nil, reasonNonceForged
	}
	if rel.IOS != nil {
		id, reason := VerifyIOSIdentity(s.cfg.AppAttest, req, rel, nonce, now)
		if reason != "" {
			return nil, reason
		}
		c.AppAttest = id.AppAttest
		return id.PublicKey, ""
	}
	if len(req.KeyAttestationChain) == 0 {
		return nil, reasonCertKeyPrefix + "missing"
	}
	rec, leaf, reason := s.verifyKeyChain(req.KeyAttestationChain, rel, nonce, pol.MinSecurityLevel, pol.RequireVerifiedBoot, now)
	if reason != "" {
		return nil, reasonCertKeyPrefix + reason
	}
	if !slices.Contains(rec.Purposes, keyattest.PurposeSign) {
		return nil, reasonCertPurpose
	}
	cert, err := x509.ParseCertificate(leaf)
	if err != nil { // verifyKeyChain parsed it
		return nil, reasonCertKeyPrefix + keyattest.ReasonMalformed
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, reasonCertNotP256
	}
	c.KeyAttestation = provenLevel(rec)
	return pub, ""
}

// sentKey is the P-256 public key req asked a certificate for: the iOS
// identityPublicKey, else the first certificate of the key attestation
// chain (standard base64 DER); or nil.
func sentKey(req *AttestRequest) *ecdsa.PublicKey {
	var key any
	if req.IdentityPublicKey != "" {
		der, err := base64.StdEncoding.DecodeString(req.IdentityPublicKey)
		if err != nil {
			return nil
		}
		if key, err = x509.ParsePKIXPublicKey(der); err != nil {
			return nil
		}
	} else {
		if len(req.KeyAttestationChain) == 0 {
			return nil
		}
		der, err := base64.StdEncoding.DecodeString(req.KeyAttestationChain[0])
		if err != nil {
			return nil
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil
		}
		key = c.PublicKey
	}
	if pub, ok := key.(*ecdsa.PublicKey); ok && pub.Curve == elliptic.P256() {
		return pub
	}
	return nil
}
