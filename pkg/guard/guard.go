// Package guard is net/http middleware that lets a request through only when
// it comes from a genuine, attested app: the TLS client certificate must chain
// to the Fusion Set's CA, and the request must carry a valid, unexpired ES256
// token from `trustfuse serve` (verified against its JWKS, cached and
// refreshed), issued for an allowed app and, when the token says so, bound to
// that very client certificate (cnf x5t#S256, RFC 8705 §3.1).
//
// Every refusal is a bare 401 with an empty body; the reason is written only
// to the server log, as a stable code (see Reason). DESIGN §7 and §12;
// docs/guard.md.
package guard

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ErrConfig is returned by New for an unusable Config.
var ErrConfig = errors.New("guard: invalid config")

// ErrJWKS is wrapped by errors fetching or parsing the JWKS document.
var ErrJWKS = errors.New("guard: JWKS")

// DefaultTokenHeader is the header carrying the token when Config.TokenHeader
// is empty (the Fusion Set's default attestation.tokenHeader).
const DefaultTokenHeader = "TrustFuse-Token"

// Defaults of the JWKS cache.
const (
	DefaultJWKSMaxAge     = 5 * time.Minute
	DefaultJWKSMinRefresh = 10 * time.Second
)

// Config configures a Guard.
type Config struct {
	// ClientCAs are the CAs client certificates must chain to (the Fusion
	// Set's client CA). Required.
	ClientCAs *x509.CertPool
	// JWKSURL is serve's key set, e.g. https://attest.example/.well-known/jwks.json.
	// Required.
	JWKSURL string
	// Issuer and Audience are the required iss and aud. Required.
	Issuer, Audience string
	// Packages are the allowed apps (pkg claim); a token for another app is
	// refused. Required.
	Packages []string
	// TokenHeader is the header carrying the token (DefaultTokenHeader when
	// empty). A "Bearer " prefix is accepted.
	TokenHeader string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// RequireBinding refuses tokens without cnf x5t#S256. Without it, a
	// token that has one must still match the client certificate.
	RequireBinding bool
	// RequireAttestedCert accepts only client certificates serve issued
	// for an attested device key (POST /v1/certificate): exactly one URI
	// SAN urn:trustfuse:release:<release id>:key:<hex SHA-256 of the
	// certificate's SubjectPublicKeyInfo> naming the certificate's own key,
	// and a token bound to that certificate whose rel is that release. A
	// revoked release gets no new token, so a certificate stops working
	// when its last token expires.
	RequireAttestedCert bool
	// JWKSMaxAge is how long fetched keys are used before a refresh is
	// tried (DefaultJWKSMaxAge when 0); JWKSMinRefresh is the least time
	// between two fetches, however many unknown kids arrive
	// (DefaultJWKSMinRefresh when 0).
	JWKSMaxAge, JWKSMinRefresh time.Duration
	// Clock returns the current time (time.Now when nil).
	Clock func() time.Time
	// HTTPClient fetches the JWKS (a client with a 10 s timeout when nil).
	HTTPClient *http.Client
	// Logger receives one line per refusal and JWKS errors (slog.Default
	// when nil).
	Logger *slog.Logger
}

// Reason is the stable code logged when a request is refused.
type Reason string

// Refusal reasons, as logged under the key "code".
const (
	ReasonNoClientCert Reason = "no_client_cert"      // no TLS, or no verified client certificate
	ReasonClientCert   Reason = "client_cert"         // certificate does not chain to ClientCAs
	ReasonNoToken      Reason = "no_token"            // token header missing or empty
	ReasonMalformed    Reason = "token_malformed"     // not a well-formed compact JWS / claims
	ReasonAlgorithm    Reason = "token_alg"           // alg other than ES256 (none, HS256, RS256, …)
	ReasonUnknownKey   Reason = "token_unknown_kid"   // kid not in the JWKS, even after a refresh
	ReasonSignature    Reason = "token_signature"     // signature does not verify
	ReasonIssuer       Reason = "token_issuer"        // iss differs from Config.Issuer
	ReasonAudience     Reason = "token_audience"      // aud does not contain Config.Audience
	ReasonExpired      Reason = "token_expired"       // exp missing or past (with leeway)
	ReasonNotYetValid  Reason = "token_not_yet_valid" // nbf or iat in the future (with leeway)
	ReasonPackage      Reason = "token_package"       // pkg not in Config.Packages
	ReasonBinding      Reason = "token_binding"       // cnf x5t#S256 is not the client certificate
	ReasonAttestedCert Reason = "attested_cert"       // RequireAttestedCert: no valid release URI SAN naming the certificate's own key
	ReasonRelease      Reason = "token_release"       // RequireAttestedCert: rel is not the certificate's release
)

// RefusedError is returned by Verify: why a request was refused.
type RefusedError struct {
	// Reason is the stable code.
	Reason Reason
	// Detail is the human-readable explanation (for logs only).
	Detail string
}

// Error returns "guard: refused (<code>): <detail>".
func (e *RefusedError) Error() string {
	return fmt.Sprintf("guard: refused (%s): %s", e.Reason, e.Detail)
}

func refuse(r Reason, format string, args ...any) *RefusedError {
	return &RefusedError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Guard verifies requests; make one with New.
type Guard struct {
	cfg    Config
	log    *slog.Logger
	keys   *keyCache
	certs  certCache
	tokens boundedCache[verifiedToken]
}

// verifiedToken is a token whose signature verified, keyed by the SHA-256
// of its compact form: a client sends the same token on every request
// until it expires, and the ES256 verification is the guard's largest cost.
// The claims are re-checked on every request (time, binding); the entry is
// used only while the JWKS still maps kid to the very key that verified it.
type verifiedToken struct {
	kid    string
	key    *ecdsa.PublicKey
	claims Claims
}

// New checks cfg, fills in defaults and fetches the JWKS once: a guard that
// cannot reach serve's key set at start fails here rather than refusing
// every request later.
func New(ctx context.Context, cfg Config) (*Guard, error) {
	var missing []string
	if cfg.ClientCAs == nil {
		missing = append(missing, "ClientCAs")
	}
	if cfg.JWKSURL == "" {
		missing = append(missing, "JWKSURL")
	}
	if cfg.Issuer == "" {
		missing = append(missing, "Issuer")
	}
	if cfg.Audience == "" {
		missing = append(missing, "Audience")
	}
	if len(cfg.Packages) == 0 || slices.Contains(cfg.Packages, "") {
		missing = append(missing, "Packages")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing %s", ErrConfig, strings.Join(missing, ", "))
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("%w: negative Leeway", ErrConfig)
	}
	if cfg.TokenHeader == "" {
		cfg.TokenHeader = DefaultTokenHeader
	}
	if cfg.JWKSMaxAge <= 0 {
		cfg.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if cfg.JWKSMinRefresh <= 0 {
		cfg.JWKSMinRefresh = DefaultJWKSMinRefresh
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: fetchTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Packages = append([]string(nil), cfg.Packages...)
	g := &Guard{cfg: cfg, log: cfg.Logger}
	g.keys = &keyCache{
		url: cfg.JWKSURL, client: cfg.HTTPClient, clock: cfg.Clock,
		maxAge: cfg.JWKSMaxAge, minRefresh: cfg.JWKSMinRefresh,
		onError: func(err error) {
			g.log.LogAttrs(context.Background(), slog.LevelError, "guard: JWKS refresh failed, keeping cached keys", slog.String("error", err.Error()))
		},
	}
	if err := g.keys.refresh(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

type claimsKey struct{}

// ClaimsFrom returns the verified claims Middleware stored in the request
// context. They may share slices with the guard's token cache: read them,
// do not modify them.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// Middleware lets through to next only the requests Verify accepts, with
// the verified claims in the context (ClaimsFrom). Others get a bare 401
// with an empty body; the reason is logged at Warn level with a stable
// code. The token header is left on the request, so the upstream may verify
// it again.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := g.Verify(r)
		if err != nil {
			attrs := []slog.Attr{slog.String("remote", r.RemoteAddr), slog.String("method", r.Method), slog.String("path", r.URL.Path)}
			var re *RefusedError
			if errors.As(err, &re) {
				attrs = append(attrs, slog.String("code", string(re.Reason)), slog.String("detail", re.Detail))
			} else {
				attrs = append(attrs, slog.String("code", "internal"), slog.String("detail", err.Error()))
			}
			g.log.LogAttrs(r.Context(), slog.LevelWarn, "guard: refused", attrs...)
			h := w.Header()
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Length", "0")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// Verify checks r's client certificate and token and returns the token's
// claims, or a *RefusedError saying why not.
func (g *Guard) Verify(r *http.Request) (*Claims, error) {
	now := g.cfg.Clock()
	// The TLS layer (RequireAndVerifyClientCert) has checked the chain
	// against its own pool; check it again against ours, which may be
	// narrower than the server's.
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return nil, refuse(ReasonNoClientCert, "no verified TLS client certificate")
	}
	leaf := r.TLS.PeerCertificates[0]
	leafSum := sha256.Sum256(leaf.Raw)
	if err := g.certs.verify(leafSum, r.TLS.PeerCertificates, g.cfg.ClientCAs, now); err != nil {
		return nil, refuse(ReasonClientCert, "%s: %v", leaf.Subject, err)
	}
	var release string
	if g.cfg.RequireAttestedCert {
		var rf *RefusedError
		if release, rf = attestedRelease(leaf); rf != nil {
			return nil, rf
		}
	}
	vals := r.Header.Values(g.cfg.TokenHeader)
	if len(vals) > 1 {
		return nil, refuse(ReasonMalformed, "%d %s headers", len(vals), g.cfg.TokenHeader)
	}
	tok := ""
	if len(vals) == 1 {
		tok = strings.TrimSpace(vals[0])
		if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
			tok = strings.TrimSpace(tok[7:])
		}
	}
	if tok == "" {
		return nil, refuse(ReasonNoToken, "no %s header", g.cfg.TokenHeader)
	}
	c, rf := g.verifyToken(r.Context(), tok)
	if rf != nil {
		return nil, rf
	}
	if rf := g.checkClaims(c, now, leafSum); rf != nil {
		return nil, rf
	}
	if g.cfg.RequireAttestedCert && string(c.Release) != release {
		return nil, refuse(ReasonRelease, "rel %q, client certificate is for release %s", string(c.Release), release)
	}
	return c, nil
}

// verifyToken checks tok's form and signature and returns its claims (the
// caller's copy), from the cache when this very token verified before
// under a key the JWKS still holds.
func (g *Guard) verifyToken(ctx context.Context, tok string) (*Claims, *RefusedError) {
	sum := sha256.Sum256([]byte(tok))
	if v, ok := g.tokens.get(sum); ok {
		if pub, ok := g.keys.key(ctx, v.kid); ok && pub == v.key {
			c := v.claims
			return &c, nil
		}
	}
	j, rf := parseCompact(tok)
	if rf != nil {
		return nil, rf
	}
	pub, ok := g.keys.key(ctx, j.header.Kid)
	if !ok {
		return nil, refuse(ReasonUnknownKey, "kid %q: %v", j.header.Kid, errNoKey)
	}
	if !j.verifyES256(pub) {
		return nil, refuse(ReasonSignature, "ES256 signature does not verify with kid %q", j.header.Kid)
	}
	var c Claims
	if err := json.Unmarshal(j.payload, &c); err != nil {
		return nil, refuse(ReasonMalformed, "claims: %v", err)
	}
	g.tokens.put(sum, verifiedToken{kid: j.header.Kid, key: pub, claims: c})
	return &c, nil
}
