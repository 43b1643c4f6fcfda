package attest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// Limits of the HTTP surface.
const (
	// MaxBodyBytes caps request bodies (a key attestation chain fits).
	MaxBodyBytes = 64 << 10
	// MaxTokenTTL caps Config.TokenTTL.
	MaxTokenTTL = time.Hour
)

// Config configures a Server.
type Config struct {
	Issuer     string            // JWT iss
	Audience   string            // JWT aud
	TokenTTL   time.Duration     // token lifetime, 0 < TokenTTL ≤ MaxTokenTTL
	SigningKey *ecdsa.PrivateKey // P-256 key for ES256
	// PublishedKeys are other P-256 public keys the JWKS lists besides the
	// signing key's: the previous signing key while tokens it signed are
	// still valid (key rotation). Duplicates of the signing key are ignored.
	PublishedKeys []*ecdsa.PublicKey
	NonceKey      []byte        // ≥ 32 bytes, shared by replicas
	NonceTTL      time.Duration // challenge lifetime (default 2 minutes)
	Registry      Registry
	Replay        ReplayCache
	// ErrorLog receives a line for each request answered 503 (registry or
	// replay cache unavailable), at most one a second with a count of those
	// left out; nil means the log package's standard logger.
	ErrorLog *log.Logger
	// KeyAttestation verifies Android Key Attestation chains for releases
	// that ask for them; nil means Google's hardware attestation roots and
	// no revocation list.
	KeyAttestation *keyattest.Verifier
	// AppAttest verifies App Attest attestation objects for releases that
	// ask for them; nil means Apple's App Attestation root.
	AppAttest *keyattest.AppAttestVerifier
	// CertificateIssuer is the client CA POST /v1/certificate issues device
	// certificates under; nil turns that endpoint off (404).
	CertificateIssuer *CertificateIssuer
	// Debug answers a refused attestation with 403 and the reason; the
	// default (opaque) answers 200 with a token of the same shape signed by
	// a throwaway key, so a client cannot tell which check failed.
	Debug bool
	Now   func() time.Time // nil means time.Now
	Rand  io.Reader        // nil means crypto/rand
}

// Server is the attestation service. Handler serves its endpoints.
type Server struct {
	cfg     Config
	nonces  *Nonces
	signer  *jwtSigner
	kid     string
	jwks    []byte
	reg     *prometheus.Registry
	reqs    *prometheus.CounterVec
	verdict *prometheus.CounterVec
	ok      func() prometheus.Counter // verdict "ok", looked up when first used
	latency *prometheus.HistogramVec
	issuer  *certIssuer // nil: no certificate issuance
	issued  prometheus.Counter
	errs    errLog
}

// errLog writes at most one line a second to l, counting those left out.
type errLog struct {
	l       *log.Logger
	mu      sync.Mutex
	last    time.Time
	dropped int
}

// printf logs the line unless one was logged less than a second ago.
func (e *errLog) printf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if now.Sub(e.last) < time.Second {
		e.dropped++
		return
	}
	msg := fmt.Sprintf(format, args...)
	if e.dropped > 0 {
		msg += fmt.Sprintf(" (and %d more errors since the last line)", e.dropped)
	}
	e.l.Print(msg)
	e.last, e.dropped = now, 0
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.NonceTTL == 0 {
		cfg.NonceTTL = 2 * time.Minute
	}
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = log.Default()
	}
	switch {
	case cfg.Issuer == "" || cfg.Audience == "":
		return nil, fmt.Errorf("%w: issuer and audience are required", ErrConfig)
	case cfg.TokenTTL <= 0 || cfg.TokenTTL > MaxTokenTTL:
		return nil, fmt.Errorf("%w: token TTL %v not in (0, %v]", ErrConfig, cfg.TokenTTL, MaxTokenTTL)
	case cfg.SigningKey == nil || cfg.SigningKey.Curve != elliptic.P256():
		return nil, fmt.Errorf("%w: signing key must be ECDSA P-256 (ES256)", ErrConfig)
	case cfg.Registry == nil || cfg.Replay == nil:
		return nil, fmt.Errorf("%w: registry and replay cache are required", ErrConfig)
	}
	if cfg.KeyAttestation == nil {
		v, err := keyattest.NewVerifier(keyattest.GoogleRoots(), nil)
		if err != nil {
			return nil, fmt.Errorf("%w: key attestation roots: %w", ErrConfig, err)
		}
		cfg.KeyAttestation = v
	}
	if cfg.AppAttest == nil {
		v, err := keyattest.NewAppAttestVerifier(keyattest.AppleAppAttestRoots())
		if err != nil {
			return nil, fmt.Errorf("%w: App Attest root: %w", ErrConfig, err)
		}
		cfg.AppAttest = v
	}
	nonces, err := NewNonces(cfg.NonceKey, cfg.NonceTTL, cfg.Rand)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, nonces: nonces, errs: errLog{l: cfg.ErrorLog}}
	var set jose.JSONWebKeySet
	for i, pub := range append([]*ecdsa.PublicKey{&cfg.SigningKey.PublicKey}, cfg.PublishedKeys...) {
		if pub == nil || pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: published key %d is not ECDSA P-256", ErrConfig, i-1)
		}
		jwk := jose.JSONWebKey{Key: pub, Algorithm: string(jose.ES256), Use: "sig"}
		if jwk.KeyID, err = thumbprint(&jwk); err != nil {
			return nil, err
		}
		if i == 0 {
			s.kid = jwk.KeyID
		} else if len(set.Key(jwk.KeyID)) > 0 {
			continue // a duplicate
		}
		set.Keys = append(set.Keys, jwk)
	}
	if s.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("attest: jwks: %w", err)
	}
	s.signer = newJWTSigner(cfg.SigningKey, s.kid)
	s.reg = prometheus.NewRegistry()
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trustfuse_attest_requests_total",
		Help: "HTTP requests by endpoint and status code."}, []string{"endpoint", "code"})
	s.verdict = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trustfuse_attest_verdicts_total",
		Help: "Attestation verdicts by outcome (ok or the refusal reason)."}, []string{"verdict"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "trustfuse_attest_request_duration_seconds",
		Help: "Request latency by endpoint.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8)}, []string{"endpoint"})
	s.ok = sync.OnceValue(func() prometheus.Counter { return s.verdict.WithLabelValues("ok") })
	s.reg.MustRegister(s.reqs, s.verdict, s.latency)
	s.issued = prometheus.NewCounter(prometheus.CounterOpts{Name: "trustfuse_attest_certificates_issued_total",
		Help: "Client certificates issued for attested device keys."})
	s.reg.MustRegister(s.issued)
	if s.issuer, err = newCertIssuer(cfg.CertificateIssuer, cfg.Now(), cfg.Rand); err != nil {
		return nil, err
	}
	return s, nil
}

func thumbprint(k *jose.JSONWebKey) (string, error) {
	t, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("attest: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(t), nil
}

// jwtSigner writes ES256 compact JWTs (RFC 7515 §3.1, RFC 7518 §3.4) with
// a fixed protected header {"alg":"ES256","kid":kid,"typ":"JWT"}: the
// header is encoded once, the signature is r‖s, 32 bytes each.
type jwtSigner struct {
	key    *ecdsa.PrivateKey
	header string // base64url of the protected header
}

func newJWTSigner(key *ecdsa.PrivateKey, kid string) *jwtSigner {
	h, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{"ES256", kid, "JWT"})
	return &jwtSigner{key: key, header: base64.RawURLEncoding.EncodeToString(h)}
}

// sign returns the compact JWT of claims c. The claims and the token are
// assembled in pooled scratch buffers; only the returned string is
// allocated. The signature is deterministic ECDSA (RFC 6979, HMAC-SHA-256
// nonces): no randomness is drawn per token, and the same claims give the
// same token (a repeat of a bearer token already issued). It costs a fifth
// less CPU than ecdsa.SignASN1's hedged signing, whose nonce DRBG runs on
// SHA-512, and signing is the largest single cost of an attestation.
func (j *jwtSigner) sign(c *Claims) (string, error) {
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	payload, ok := appendClaimsJSON((*sp)[:0], c)
	if !ok {
		var err error
		if payload, err = json.Marshal(c); err != nil {
			return "", fmt.Errorf("attest: claims: %w", err)
		}
	} else {
		*sp = payload
	}
	enc := base64.RawURLEncoding
	tp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(tp)
	b := slices.Grow((*tp)[:0], len(j.header)+2+enc.EncodedLen(len(payload))+enc.EncodedLen(64))
	defer func() { *tp = b }()
	b = append(b, j.header...)
	b = append(b, '.')
	b = enc.AppendEncode(b, payload)
	digest := sha256.Sum256(b)
	der, err := j.key.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("attest: sign: %w", err)
	}
	var sig [64]byte
	if !rawSignature(sig[:], der) {
		return "", fmt.Errorf("attest: sign: malformed ECDSA signature")
	}
	b = append(b, '.')
	b = enc.AppendEncode(b, sig[:])
	return string(b), nil
}

// rawSignature writes the ASN.1 ECDSA signature der as JWS's r‖s into sig
// (each half big-endian, left-padded) and reports whether der was a
// SEQUENCE of two positive INTEGERs that fit.
func rawSignature(sig, der []byte) bool {
	var seq cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, casn1.SEQUENCE) || !in.Empty() {
		return false
	}
	half := len(sig) / 2
	for i := range 2 {
		var n []byte
		if !seq.ReadASN1Integer(&n) {
			return false
		}
		for len(n) > 0 && n[0] == 0 {
			n = n[1:]
		}
		if len(n) > half {
			return false
		}
		copy(sig[i*half+half-len(n):(i+1)*half], n)
	}
	return seq.Empty()
}

// scratchPool holds *[]byte buffers for encoding token claims.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendClaimsJSON appends to b the bytes json.Marshal writes for c, without
// reflection, and reports true; it reports false (leaving the work to
// json.Marshal) when a string in c needs escaping (see asciiJSONString) or
// c.Confirm has more than one entry.
func appendClaimsJSON(b []byte, c *Claims) ([]byte, bool) {
	strs := [...]string{c.Issuer, c.Subject, c.Audience, c.Package, c.Release, c.KeyAttestation, c.AppAttest}
	for _, s := range strs {
		if !asciiJSONString(s) {
			return b, false
		}
	}
	for _, s := range c.Threats {
		if !asciiJSONString(s) {
			return b, false
		}
	}
	if len(c.Confirm) > 1 {
		return b, false
	}
	for k, v := range c.Confirm {
		if !asciiJSONString(k) || !asciiJSONString(v) {
			return b, false
		}
	}
	b = appendField(b, `{"iss":`, c.Issuer)
	b = appendField(b, `,"sub":`, c.Subject)
	b = appendField(b, `,"aud":`, c.Audience)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.Expiry, 10)
	b = appendField(b, `,"pkg":`, c.Package)
	b = append(b, `,"ver":`...)
	b = strconv.AppendInt(b, c.Version, 10)
	b = appendField(b, `,"rel":`, c.Release)
	b = append(b, `,"thr":`...)
	if c.Threats == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range c.Threats {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendField(b, "", s)
		}
		b = append(b, ']')
	}
	if len(c.Confirm) > 0 {
		for k, v := range c.Confirm {
			b = appendField(b, `,"cnf":{`, k)
			b = appendField(b, ":", v)
		}
		b = append(b, '}')
	}
	if c.KeyAttestation != "" {
		b = appendField(b, `,"kat":`, c.KeyAttestation)
	}
	if c.AppAttest != "" {
		b = appendField(b, `,"aat":`, c.AppAttest)
	}
	return append(b, '}'), true
}

// appendField appends prefix and s in quotes (s must pass asciiJSONString).
func appendField(b []byte, prefix, s string) []byte {
	b = append(b, prefix...)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// asciiJSONString reports whether json.Marshal writes s as it is between
// quotes: printable ASCII other than '"', '\\' and the HTML-escaped '<', '>'
// and '&'.
func asciiJSONString(s string) bool {
	for i := range len(s) {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// KeyID returns the kid of the signing key (its RFC 7638 thumbprint).
func (s *Server) KeyID() string { return s.kid }

// Handler returns the HTTP handler for every endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/challenge", s.instrument("challenge", s.challenge))
	mux.Handle("POST /v1/attest", s.instrument("attest", s.attest))
	mux.Handle("POST /v1/certificate", s.instrument("certificate", s.certificate))
	mux.Handle("GET /.well-known/jwks.json", s.instrument("jwks", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(s.jwks)
	}))
	mux.Handle("GET /healthz", s.instrument("healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux
}

// NewHTTPServer returns an http.Server for h with every timeout and limit
// set: slow or oversized clients are cut off, others keep being served.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

// instrument counts and times the requests h serves as endpoint name. The
// series of the latency and of the 200 answers are looked up once, when
// first used (a series appears in /metrics with its first request).
func (s *Server) instrument(name string, h http.HandlerFunc) http.Handler {
	latency := sync.OnceValue(func() prometheus.Observer { return s.latency.WithLabelValues(name) })
	ok := sync.OnceValue(func() prometheus.Counter { return s.reqs.WithLabelValues(name, "200") })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		latency().Observe(time.Since(start).Seconds())
		if sw.code == http.StatusOK {
			ok().Inc()
		} else {
			s.reqs.WithLabelValues(name, strconv.Itoa(sw.code)).Inc()
		}
	})
}

// ChallengeResponse is the answer to POST /v1/challenge.
type ChallengeResponse struct {
	Nonce     string    `json:"nonce"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// AttestRequest is the body of POST /v1/attest. The Android measurement
// fields are inlined; an iOS app sends its measurement in IOS instead (and
// no Android field). Proof is base64url(HMAC-SHA256(attestKey, nonceRaw ||
// measurementSHA256)). An iOS app whose release asks for App Attest sends
// AppAttestKeyID (the key identifier DCAppAttestService.generateKey
// returned, standard base64) and AppAttestation (the attestation object
// attestKey returned for clientDataHash = SHA-256(nonceRaw), standard
// base64).
type AttestRequest struct {
	Nonce string `json:"nonce"`
	Measurement
	IOS                 *IOSMeasurement   `json:"ios,omitempty"`
	Proof               string            `json:"proof"`
	DeviceInfo          map[string]string `json:"deviceInfo,omitempty"`
	Threats             []string          `json:"threats,omitempty"`
	KeyAttestationChain []string          `json:"keyAttestationChain,omitempty"`
	AppAttestKeyID      string            `json:"appAttestKeyId,omitempty"`
	AppAttestation      string            `json:"appAttestation,omitempty"`
	// IdentityPublicKey is sent to POST /v1/certificate by an iOS app in
	// an attested identity mode: standard base64 of the DER
	// SubjectPublicKeyInfo of its Secure Enclave P-256 key, which its App
	// Attest object vouches for (VerifyIOSIdentity).
	IdentityPublicKey string `json:"identityPublicKey,omitempty"`
}

// AttestResponse is the answer to POST /v1/attest.
type AttestResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Claims is the token payload. For an iOS release pkg is the bundle id and
// ver is 0.
type Claims struct {
	Issuer   string            `json:"iss"`
	Subject  string            `json:"sub"`
	Audience string            `json:"aud"`
	IssuedAt int64             `json:"iat"`
	Expiry   int64             `json:"exp"`
	Package  string            `json:"pkg"`
	Version  int64             `json:"ver"`
	Release  string            `json:"rel"`
	Threats  []string          `json:"thr"`
	Confirm  map[string]string `json:"cnf,omitempty"`
	// KeyAttestation is the keystore security level (software, tee,
	// strongbox) a verified Android Key Attestation chain proved; absent
	// when no chain was verified.
	KeyAttestation string `json:"kat,omitempty"`
	// AppAttest is the App Attest environment (production, development) a
	// verified attestation proved; absent when none was verified.
	AppAttest string `json:"aat,omitempty"`
}

// Header values every JSON answer carries, shared: net/http only reads
// them.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	var b []byte
	var err error
	switch r := v.(type) { // the two answers of every attestation, without reflection
	case ChallengeResponse:
		b, err = appendStringTimeJSON(nil, `{"nonce":`, r.Nonce, `,"expiresAt":`, r.ExpiresAt, v)
	case AttestResponse:
		b, err = appendStringTimeJSON(nil, `{"token":`, r.Token, `,"expiresAt":`, r.ExpiresAt, v)
	default:
		b, err = json.Marshal(v)
	}
	if err != nil { // only our own response types: cannot fail
		code, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	h["Content-Length"] = []string{strconv.Itoa(len(b) + 1)}
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// appendStringTimeJSON appends to b the JSON object open + str + mid + t +
// "}" where str and t are encoded as json.Marshal encodes a string and a
// time.Time: str verbatim in quotes when it holds only characters JSON and
// encoding/json's HTML escaping leave alone (base64url and dots: nonces and
// tokens), t in RFC 3339 with nanoseconds when it is in UTC (offset 0) and
// its year has four digits.
// Otherwise it returns json.Marshal(v), v being that object.
func appendStringTimeJSON(b []byte, open, str, mid string, t time.Time, v any) ([]byte, error) {
	if _, off := t.Zone(); off != 0 || t.Year() < 0 || t.Year() > 9999 || !plainJSONString(str) {
		return json.Marshal(v)
	}
	b = slices.Grow(b, len(open)+len(str)+len(mid)+48) // the time, quotes, brace and writeJSON's newline
	b = append(b, open...)
	b = append(b, '"')
	b = append(b, str...)
	b = append(b, '"')
	b = append(b, mid...)
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"', '}'), nil
}

// plainJSONString reports whether s has only ASCII letters, digits, '-',
// '_' and '.', which json.Marshal writes as they are.
func plainJSONString(s string) bool {
	for i := range len(s) {
		if !plainJSONByte[s[i]] {
			return false
		}
	}
	return true
}

// plainJSONByte marks the bytes plainJSONString accepts.
var plainJSONByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	return t
}()

func httpError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// readJSON enforces the content type and body limit and decodes strictly.
func readJSON(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) bool {
	if !contentTypeJSON(w, r) {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	return decodeStrict(w, r.Body, v, allowEmpty)
}

func (s *Server) challenge(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > 0 || r.Header.Get("Content-Type") != "" {
		var empty struct{}
		if !readJSON(w, r, &empty, true) {
			return
		}
	}
	nonce, exp, err := s.nonces.Issue(s.cfg.Now())
	if err != nil {
		httpError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, ChallengeResponse{Nonce: nonce, ExpiresAt: exp.UTC()})
}

// Refusal reasons (metric label and debug message).
const (
	reasonNonceForged  = "nonce_invalid"
	reasonNonceExpired = "nonce_expired"
	reasonNonceReplay  = "nonce_replayed"
	reasonUnknown      = "unknown_release"
	reasonRevoked      = "release_revoked"
	reasonProof        = "proof_mismatch"
	reasonKeyMissing   = "key_attestation_missing"
	// A refused chain is "key_attestation_" + the keyattest reason
	// (chain_invalid, root_untrusted, revoked, challenge_mismatch,
	// application_mismatch, security_level, verified_boot, malformed).
	reasonKeyPrefix  = "key_attestation_"
	reasonAppMissing = "app_attest_missing"
	// A refused App Attest object is "app_attest_" + the keyattest reason
	// (malformed, chain_invalid, root_untrusted, challenge_mismatch,
	// key_id_mismatch, application_mismatch, counter, environment).
	reasonAppPrefix = "app_attest_"
)

// proven is what the optional device attestations of a request proved: the
// Android keystore security level and the App Attest environment ("" when
// not verified).
type proven struct {
	keyLevel, appEnv string
}

// verify checks req, whose measurement hashes to sum (hex: id, the release
// id), at time now and returns the release with what its device
// attestations proved, or a refusal reason. It consumes the nonce. For a
// certificate request of an iOS release it leaves out the release's App
// Attest check: the object there is over the identity key too
// (VerifyIOSIdentity).
func (s *Server) verify(ctx context.Context, req *AttestRequest, sum [32]byte, id string, now time.Time, certificate bool) (*Release, proven, string, error) {
	raw, exp, err := s.nonces.Parse(req.Nonce, now)
	switch {
	case errors.Is(err, errNonceExpired):
		return nil, proven{}, reasonNonceExpired, nil
	case err != nil:
		return nil, proven{}, reasonNonceForged, nil
	}
	fresh, err := s.cfg.Replay.Use(ctx, NonceID(raw[:nonceBodyLen]), exp)
	if err != nil {
		return nil, proven{}, "", err
	}
	if !fresh {
		return nil, proven{}, reasonNonceReplay, nil
	}
	rel, err := s.cfg.Registry.Lookup(ctx, id)
	if errors.Is(err, ErrUnknownRelease) {
		return nil, proven{}, reasonUnknown, nil
	}
	if err != nil {
		return nil, proven{}, "", err
	}
	if rel.Revoked != nil && !now.Before(*rel.Revoked) {
		return nil, proven{}, reasonRevoked, nil
	}
	proof, err := base64.RawURLEncoding.DecodeString(req.Proof)
	if want := proofOf(rel.AttestKey, (*[NonceLen]byte)(raw), sum); err != nil || !hmac.Equal(proof, want[:]) {
		return nil, proven{}, reasonProof, nil
	}
	var got proven
	var reason string
	if got.keyLevel, reason = s.checkKeyAttestation(req, rel, raw, now); reason != "" {
		return nil, proven{}, reason, nil
	}
	if certificate && rel.IOS != nil { // VerifyIOSIdentity checks App Attest over the identity key
		return rel, got, "", nil
	}
	if got.appEnv, reason = s.checkAppAttest(req, rel, raw, now); reason != "" {
		return nil, proven{}, reason, nil
	}
	return rel, got, "", nil
}

// checkKeyAttestation applies rel's key attestation policy to the chain in
// req (challenge = the raw nonce) and returns the security level proved,
// or a refusal reason.
func (s *Server) checkKeyAttestation(req *AttestRequest, rel *Release, nonce []byte, now time.Time) (string, string) {
	pol := rel.KeyAttestation
	if pol == nil || pol.Mode == KeyAttestationOff {
		return "", ""
	}
	if len(req.KeyAttestationChain) == 0 {
		if pol.Mode == KeyAttestationRequired {
			return "", reasonKeyMissing
		}
		return "", ""
	}
	rec, _, reason := s.verifyKeyChain(req.KeyAttestationChain, rel, nonce, pol.MinSecurityLevel, pol.RequireVerifiedBoot, now)
	if reason != "" {
		return "", reasonKeyPrefix + reason
	}
	return provenLevel(rec), ""
}

// provenLevel is the lower of a verified chain's two security levels.
func provenLevel(rec *keyattest.Record) string {
	return min(rec.AttestationSecurityLevel, rec.KeyMintSecurityLevel).String()
}

// verifyKeyChain verifies a Key Attestation chain (standard base64 DER,
// leaf first) for rel's package and signers with challenge nonce, at least
// security level least (software, tee, strongbox) and, with boot, verified
// boot. It returns the decoded KeyDescription and the leaf's DER, or the
// keyattest refusal reason (malformed, chain_invalid, …) without a prefix.
func (s *Server) verifyKeyChain(b64 []string, rel *Release, nonce []byte, least string, boot bool, now time.Time) (*keyattest.Record, []byte, string) {
	chain := make([][]byte, len(b64))
	for i, c := range b64 {
		der, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			return nil, nil, keyattest.ReasonMalformed
		}
		chain[i] = der
	}
	level, err := keyattest.ParseSecurityLevel(least)
	if err != nil { // checked when the release was added
		return nil, nil, keyattest.ReasonMalformed
	}
	p := keyattest.Policy{Challenge: nonce, Package: rel.Measurement.Package, MinSecurityLevel: level,
		RequireVerifiedBoot: boot}
	for _, d := range rel.Measurement.SignerDigests {
		if b, err := hex.DecodeString(d); err == nil {
			p.SignerDigests = append(p.SignerDigests, b)
		}
	}
	rec, err := s.cfg.KeyAttestation.Verify(chain, p, now)
	var ke *keyattest.Error
	switch {
	case errors.As(err, &ke):
		return nil, nil, ke.Reason
	case err != nil:
		return nil, nil, keyattest.ReasonMalformed
	}
	return rec, chain[0], ""
}

// checkAppAttest applies rel's App Attest policy to the attestation object
// in req (clientDataHash = SHA-256 of the raw nonce, app id = team id + "."
// + the measurement's package) and returns the environment proved, or a
// refusal reason.
func (s *Server) checkAppAttest(req *AttestRequest, rel *Release, nonce []byte, now time.Time) (string, string) {
	pol := rel.AppAttest
	if pol == nil || pol.Mode == KeyAttestationOff {
		return "", ""
	}
	if req.AppAttestation == "" {
		if pol.Mode == KeyAttestationRequired {
			return "", reasonAppMissing
		}
		return "", ""
	}
	cdh := sha256.Sum256(nonce)
	bundle := rel.Measurement.Package
	if rel.IOS != nil { // an iOS release: the measurement names the bundle
		bundle = rel.IOS.BundleID
	}
	env, reason := verifyAppAttestation(s.cfg.AppAttest, req, keyattest.AppAttestPolicy{TeamID: pol.TeamID, BundleID: bundle,
		ClientDataHash: cdh[:], AllowDevelopment: pol.AllowDevelopment}, now)
	if reason != "" {
		return "", reasonAppPrefix + reason
	}
	return env, ""
}

// verifyAppAttestation verifies the App Attest key id and object in req
// (standard base64) with v under p (its KeyID is req's) and returns the
// environment proved, or the keyattest refusal reason.
func verifyAppAttestation(v *keyattest.AppAttestVerifier, req *AttestRequest, p keyattest.AppAttestPolicy, now time.Time) (string, string) {
	obj, err1 := base64.StdEncoding.DecodeString(req.AppAttestation)
	keyID, err2 := base64.StdEncoding.DecodeString(req.AppAttestKeyID)
	if err1 != nil || err2 != nil {
		return "", keyattest.ReasonMalformed
	}
	p.KeyID = keyID
	att, err := v.Verify(obj, p, now)
	var ke *keyattest.Error
	switch {
	case errors.As(err, &ke):
		return "", ke.Reason
	case err != nil:
		return "", keyattest.ReasonMalformed
	}
	return att.Environment, ""
}

func (s *Server) attest(w http.ResponseWriter, r *http.Request) {
	var req AttestRequest
	if !readAttestRequest(w, r, &req) {
		return
	}
	v, ok := s.check(w, r, &req, s.cfg.Now(), false)
	if !ok || s.refused(w, v.reason) {
		return
	}
	tok, err := s.signToken(&v.claims, v.reason != "")
	if err != nil {
		httpError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, AttestResponse{Token: tok, ExpiresAt: time.Unix(v.claims.Expiry, 0).UTC()})
}

// checked is the outcome of the /v1/attest checks on a request.
type checked struct {
	rel    *Release // the release proved; nil when refused
	reason string   // the refusal reason; "" when accepted
	claims Claims   // the token to issue, bound to the TLS client certificate if any
}

// check runs every /v1/attest check on req at now (consuming its nonce)
// and returns the outcome; certificate says req is a POST /v1/certificate
// (see verify). When ok is false it has answered the request
// itself (400 for a malformed iOS measurement, 503 when the replay cache or
// registry failed).
func (s *Server) check(w http.ResponseWriter, r *http.Request, req *AttestRequest, now time.Time, certificate bool) (v checked, ok bool) {
	sum := req.Measurement.Sum()
	pkg, ver := req.Package, req.VersionCode
	if req.IOS != nil {
		if req.IOS.Platform != PlatformIOS || !req.Measurement.isZero() {
			httpError(w, http.StatusBadRequest, "malformed iOS measurement")
			return v, false
		}
		sum, pkg, ver = req.IOS.Sum(), req.IOS.BundleID, 0
	}
	id := hex.EncodeToString(sum[:])
	rel, got, reason, err := s.verify(r.Context(), req, sum, id, now, certificate)
	if err != nil {
		s.verdict.WithLabelValues("error").Inc()
		s.errs.printf("attest: answering 503: %v", err)
		httpError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return v, false
	}
	c := Claims{Issuer: s.cfg.Issuer, Subject: deviceSubject(req.DeviceInfo), Audience: s.cfg.Audience,
		IssuedAt: now.Unix(), Expiry: now.Add(s.cfg.TokenTTL).Unix(),
		Package: pkg, Version: ver, Release: id, Threats: req.Threats}
	if c.Threats == nil {
		c.Threats = []string{}
	}
	c.KeyAttestation, c.AppAttest = got.keyLevel, got.appEnv
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		d := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
		c.Confirm = map[string]string{"x5t#S256": base64.RawURLEncoding.EncodeToString(d[:])}
	}
	return checked{rel: rel, reason: reason, claims: c}, true
}

// refused counts the verdict for reason ("" is ok) and, in debug mode,
// answers a refusal with 403 and the reason, reporting true: the caller is
// done. In opaque mode a refusal goes on to a throwaway answer.
func (s *Server) refused(w http.ResponseWriter, reason string) bool {
	if reason == "" {
		s.ok().Inc()
		return false
	}
	s.verdict.WithLabelValues(reason).Inc()
	if s.cfg.Debug {
		httpError(w, http.StatusForbidden, reason)
		return true
	}
	return false
}

// signToken signs c with the JWKS key, or with a throwaway key when the
// request was refused (opaque mode).
func (s *Server) signToken(c *Claims, refused bool) (string, error) {
	signer := s.signer
	if refused {
		var err error
		if signer, err = s.throwawaySigner(); err != nil {
			return "", err
		}
	}
	return signer.sign(c)
}

// throwawaySigner signs refusals in opaque mode: same header shape, a key
// no JWKS lists.
func (s *Server) throwawaySigner() (*jwtSigner, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), s.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("attest: throwaway key: %w", err)
	}
	kid, err := thumbprint(&jose.JSONWebKey{Key: k.Public()})
	if err != nil {
		return nil, err
	}
	return newJWTSigner(k, kid), nil
}

// deviceSubject is the hex SHA-256 of the device id ("id" in deviceInfo),
// or of the empty string when the app sent none.
func deviceSubject(info map[string]string) string {
	d := sha256.Sum256([]byte(info["id"]))
	return hex.EncodeToString(d[:])
}
