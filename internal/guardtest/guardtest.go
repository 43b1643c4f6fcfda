// Package guardtest gives the tests of pkg/guard, `trustfuse guard` and the
// nginx example what they share: a throw-away PKI (CA, client and server
// certificates), ES256 token minting and a JWKS endpoint, both done with
// go-jose, an implementation independent of pkg/guard's verifier.
package guardtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// T0 is the start of Clock and the validity reference of client
// certificates (valid from T0-1h to T0+30d).
var T0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// Clock is a settable clock starting at T0.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a Clock at T0.
func NewClock() *Clock { c := &Clock{}; c.ns.Store(T0.UnixNano()); return c }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Advance moves the clock by d (which may be negative).
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// PKI is a test CA.
type PKI struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	Pool *x509.CertPool
	next atomic.Int64
}

// NewPKI makes a self-signed ECDSA P-256 CA named name.
func NewPKI(t testing.TB, name string) *PKI {
	t.Helper()
	key := Key(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: T0.Add(3 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	if T0.Add(-24 * time.Hour).Before(tmpl.NotBefore) {
		tmpl.NotBefore = T0.Add(-24 * time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &PKI{Cert: cert, Key: key, Pool: pool}
}

// Client issues a TLS client certificate (ExtKeyUsageClientAuth), valid
// from T0-1h to T0+30d and for the real present time too.
func (p *PKI) Client(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	nb, na := T0.Add(-time.Hour), T0.Add(30*24*time.Hour)
	if now := time.Now(); now.Before(nb) {
		nb = now.Add(-time.Hour)
	} else if now.After(na) {
		na = now.Add(30 * 24 * time.Hour)
	}
	return p.issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// Server issues a TLS server certificate for 127.0.0.1 and localhost,
// valid now.
func (p *PKI) Server(t testing.TB) tls.Certificate {
	t.Helper()
	return p.issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	})
}

func (p *PKI) issue(t testing.TB, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key := Key(t)
	tmpl.SerialNumber = big.NewInt(100 + p.next.Add(1))
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.Cert, &key.PublicKey, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// Key makes an ECDSA P-256 key.
func Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// WriteCertPEM writes the certificate (DER) as PEM to path.
func WriteCertPEM(t testing.TB, path string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteKeyPEM writes an ECDSA private key as PKCS#8 PEM to path.
func WriteKeyPEM(t testing.TB, path string, key any) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// X5t returns base64url(SHA-256(DER)) of a certificate: its cnf x5t#S256.
func X5t(c tls.Certificate) string {
	d := sha256.Sum256(c.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(d[:])
}

// JWKS is an httptest server publishing a JWK Set (encoded by go-jose)
// that the test can change, take down and count fetches of.
type JWKS struct {
	*httptest.Server
	// Hits counts requests.
	Hits atomic.Int64
	mu   sync.Mutex
	keys []jose.JSONWebKey
	down bool
}

// NewJWKS starts a JWKS server with keys; it is closed at the test's end.
func NewJWKS(t testing.TB, keys ...jose.JSONWebKey) *JWKS {
	s := &JWKS{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

// Set replaces the published keys; with down set, the server answers 503.
func (s *JWKS) Set(down bool, keys ...jose.JSONWebKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down, s.keys = down, keys
}

// Signer is an ES256 token key with its kid.
type Signer struct {
	Kid string
	Key *ecdsa.PrivateKey
}

// NewSigner makes a fresh ES256 key named kid.
func NewSigner(t testing.TB, kid string) Signer { return Signer{kid, Key(t)} }

// JWK is the signer's public key as serve publishes it (alg ES256, use sig).
func (s Signer) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &s.Key.PublicKey, KeyID: s.Kid, Algorithm: "ES256", Use: "sig"}
}

// Mint signs claims as a compact JWS with go-jose.
func (s Signer) Mint(t testing.TB, claims map[string]any) string {
	t.Helper()
	return SignWith(t, jose.ES256, s.Key, s.Kid, claims)
}

// SignWith signs claims with any algorithm go-jose knows (HS256 with a
// []byte key, RS256 with an RSA key…), with kid in the header.
func SignWith(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Unsigned builds a token by hand with the given header and an empty
// signature (alg none).
func Unsigned(hdr, claims map[string]any) string {
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	e := base64.RawURLEncoding.EncodeToString
	return e(h) + "." + e(c) + "."
}

// Claims returns valid claims for the given issuer, audience and package,
// issued at iat with a 5-minute lifetime, bound to cert when it is not nil.
func Claims(iss, aud, pkg string, iat time.Time, cert *tls.Certificate) map[string]any {
	c := map[string]any{
		"iss": iss, "sub": "device-hash-1", "aud": aud,
		"iat": iat.Unix(), "exp": iat.Add(5 * time.Minute).Unix(),
		"pkg": pkg, "ver": 42, "rel": "rel-7", "thr": []string{},
	}
	if cert != nil {
		c["cnf"] = map[string]string{"x5t#S256": X5t(*cert)}
	}
	return c
}
