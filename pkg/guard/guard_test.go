package guard

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/trustfuse/trustfuse/internal/guardtest"
)

const (
	testIssuer   = "https://attest.example"
	testAudience = "api.example"
	testPackage  = "com.example.app"
)

// env is a guard in front of an upstream handler, served over real TLS.
type env struct {
	ca, rogue            *guardtest.PKI
	server               tls.Certificate
	client, other, alien tls.Certificate // alien: issued by the rogue CA
	sig                  guardtest.Signer
	jwks                 *guardtest.JWKS
	clock                *guardtest.Clock
	logs                 *logBuffer
	g                    *Guard
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	e := &env{ca: newPKI(t, "Fusion Set client CA"), rogue: newPKI(t, "rogue CA"), clock: newClock(), logs: &logBuffer{}}
	e.server = e.ca.Server(t)
	e.client = e.ca.Client(t, "app install 1")
	e.other = e.ca.Client(t, "app install 2")
	e.alien = e.rogue.Client(t, "not our app")
	e.sig = newSigner(t, "k1")
	e.jwks = newJWKS(t, e.sig.JWK())
	cfg := Config{
		ClientCAs: e.ca.Pool, JWKSURL: e.jwks.URL + "/.well-known/jwks.json",
		Issuer: testIssuer, Audience: testAudience, Packages: []string{testPackage, "com.example.lite"},
		Leeway: 30 * time.Second, Clock: e.clock.Now, Logger: e.logs.Logger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.g = g
	return e
}

// upstream answers 200 with the package and release the guard verified.
var upstream = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := ClaimsFrom(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "upstream ok pkg=%s rel=%s ver=%s", c.Package, c.Release, c.Version)
})

// serve starts the guarded upstream over TLS; the TLS layer accepts client
// certificates from tlsCAs with the given policy.
func (e *env) serve(t *testing.T, auth tls.ClientAuthType, tlsCAs *x509.CertPool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(e.g.Middleware(upstream))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{e.server}, ClientAuth: auth, ClientCAs: tlsCAs, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// do sends GET / with the token (if any) and the client certificate (if
// any), and returns status and body.
func (e *env) do(t *testing.T, url string, cert *tls.Certificate, tokens ...string) (int, string, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: e.ca.Pool}
	if cert != nil {
		// Sent whatever CAs the server names, so a rogue certificate
		// really reaches the server.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for _, tok := range tokens {
		req.Header.Add(DefaultTokenHeader, tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// claims returns valid claims bound to cert, changed by mod.
func (e *env) claims(cert tls.Certificate, mod func(map[string]any)) map[string]any {
	c := guardtest.Claims(testIssuer, testAudience, testPackage, t0, &cert)
	if mod != nil {
		mod(c)
	}
	return c
}

func TestMiddleware(t *testing.T) {
	e := newEnv(t, nil)
	srv := e.serve(t, tls.RequireAndVerifyClientCert, e.ca.Pool)
	valid := e.sig.Mint(t, e.claims(e.client, nil))
	forger := newSigner(t, "k1") // same kid, another key
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// The public JWK serialized, used as an HMAC secret: the classic
	// algorithm-confusion forgery.
	pubJWK, _ := json.Marshal(e.sig.JWK())
	set := func(k string, v any) func(map[string]any) { return func(c map[string]any) { c[k] = v } }

	tests := []struct {
		name   string
		cert   *tls.Certificate
		tokens []string
		want   Reason // "" means accepted
	}{
		{name: "valid token and client cert", cert: &e.client, tokens: []string{valid}},
		{name: "bearer prefix", cert: &e.client, tokens: []string{"Bearer " + valid}},
		{name: "second allowed package", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, set("pkg", "com.example.lite")))}},
		{name: "audience list", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, set("aud", []string{"other", testAudience})))}},
		{name: "unbound token", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, func(c map[string]any) { delete(c, "cnf") }))}},
		{name: "expired within leeway", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, set("exp", t0.Add(-20*time.Second).Unix())))}},
		{name: "no token", cert: &e.client, want: ReasonNoToken},
		{name: "empty token", cert: &e.client, tokens: []string{" "}, want: ReasonNoToken},
		{name: "two tokens", cert: &e.client, tokens: []string{valid, valid}, want: ReasonMalformed},
		{name: "garbage", cert: &e.client, tokens: []string{"not.a.jwt"}, want: ReasonMalformed},
		{name: "oversized", cert: &e.client, tokens: []string{strings.Repeat("a", maxTokenBytes+1)}, want: ReasonMalformed},
		{name: "forged signature", cert: &e.client, tokens: []string{forger.Mint(t, e.claims(e.client, nil))}, want: ReasonSignature},
		{name: "payload swapped", cert: &e.client, tokens: []string{swapPayload(valid, e.sig.Mint(t, e.claims(e.client, set("pkg", "com.evil"))))}, want: ReasonSignature},
		{name: "alg none", cert: &e.client, tokens: []string{guardtest.Unsigned(map[string]any{"alg": "none", "kid": "k1"}, e.claims(e.client, nil))}, want: ReasonAlgorithm},
		{name: "HS256 with the JWK as secret", cert: &e.client, tokens: []string{signWith(t, jose.HS256, pubJWK, "k1", e.claims(e.client, nil))}, want: ReasonAlgorithm},
		{name: "RS256", cert: &e.client, tokens: []string{signWith(t, jose.RS256, rsaKey, "k1", e.claims(e.client, nil))}, want: ReasonAlgorithm},
		{name: "unknown kid", cert: &e.client, tokens: []string{newSigner(t, "k9").Mint(t, e.claims(e.client, nil))}, want: ReasonUnknownKey},
		{name: "expired", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, set("exp", t0.Add(-time.Minute).Unix())))}, want: ReasonExpired},
		{name: "no exp", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, func(c map[string]any) { delete(c, "exp") }))}, want: ReasonExpired},
		{name: "exp out of range", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, set("exp", 1e300)))}, want: ReasonMalformed},
		{name: "ver of another type", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, set("ver", []int{1})))}, want: ReasonMalformed},
		{name: "not yet valid", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, set("nbf", t0.Add(2*time.Minute).Unix())))}, want: ReasonNotYetValid},
		{name: "issued in the future", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, set("iat", t0.Add(2*time.Minute).Unix())))}, want: ReasonNotYetValid},
		{name: "wrong audience", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, set("aud", "billing.example")))}, want: ReasonAudience},
		{name: "wrong issuer", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, set("iss", "https://evil.example")))}, want: ReasonIssuer},
		{name: "token for another app", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.client, set("pkg", "com.other.app")))}, want: ReasonPackage},
		{name: "token bound to another cert", cert: &e.client, tokens: []string{e.sig.Mint(t, e.claims(e.other, nil))}, want: ReasonBinding},
		{name: "stolen token replayed with another cert", cert: &e.other, tokens: []string{valid}, want: ReasonBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.logs.Reset()
			status, body, err := e.do(t, srv.URL, tt.cert, tt.tokens...)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if status != http.StatusOK || !strings.HasPrefix(body, "upstream ok pkg=com.example.") {
					t.Fatalf("got %d %q, want 200 from upstream; log:\n%s", status, body, e.logs)
				}
				if strings.Contains(e.logs.String(), "refused") {
					t.Errorf("accepted request logged a refusal:\n%s", e.logs)
				}
				return
			}
			assertRefused(t, status, body, e.logs.String(), tt.want)
		})
	}
	t.Run("claims reach upstream", func(t *testing.T) {
		_, body, err := e.do(t, srv.URL, &e.client, valid)
		if err != nil || body != "upstream ok pkg=com.example.app rel=rel-7 ver=42" {
			t.Fatalf("body %q, %v", body, err)
		}
	})
}

// assertRefused checks a bare 401 with an empty body that says nothing,
// and the reason code in the log.
func assertRefused(t *testing.T, status int, body, logs string, want Reason) {
	t.Helper()
	if status != http.StatusUnauthorized || body != "" {
		t.Fatalf("got %d %q, want a bare 401", status, body)
	}
	if !strings.Contains(logs, "code="+string(want)+" ") {
		t.Fatalf("%d: log does not give code=%s:\n%s", status, want, logs)
	}
}

// swapPayload returns tok's header and signature around other's payload.
func swapPayload(tok, other string) string {
	p := strings.Split(tok, ".")
	return p[0] + "." + strings.Split(other, ".")[1] + "." + p[2]
}

// TestClientCertificate covers the certificate half: without one the TLS
// layer refuses the session; when the server's TLS layer is laxer than the
// guard (optional certificates, or a broader CA pool), the middleware
// refuses on its own.
func TestClientCertificate(t *testing.T) {
	e := newEnv(t, nil)
	valid := e.sig.Mint(t, e.claims(e.client, nil))
	alienTok := e.sig.Mint(t, e.claims(e.alien, nil))

	t.Run("no cert, TLS requires one", func(t *testing.T) {
		srv := e.serve(t, tls.RequireAndVerifyClientCert, e.ca.Pool)
		status, _, err := e.do(t, srv.URL, nil, valid)
		if err == nil {
			t.Fatalf("request without client certificate got %d, want a TLS failure", status)
		}
		if !strings.Contains(err.Error(), "certificate required") && !strings.Contains(err.Error(), "handshake failure") {
			t.Fatalf("error %v, want the TLS alert", err)
		}
	})
	t.Run("rogue cert, TLS verifies", func(t *testing.T) {
		srv := e.serve(t, tls.RequireAndVerifyClientCert, e.ca.Pool)
		status, _, err := e.do(t, srv.URL, &e.alien, alienTok)
		if err == nil || !strings.Contains(err.Error(), "unknown certificate authority") {
			t.Fatalf("rogue client certificate got %d, %v; want the TLS alert unknown certificate authority", status, err)
		}
	})
	t.Run("no cert, TLS optional", func(t *testing.T) {
		srv := e.serve(t, tls.VerifyClientCertIfGiven, e.ca.Pool)
		e.logs.Reset()
		status, body, err := e.do(t, srv.URL, nil, valid)
		if err != nil {
			t.Fatal(err)
		}
		assertRefused(t, status, body, e.logs.String(), ReasonNoClientCert)
	})
	t.Run("rogue cert, TLS trusts a broader pool", func(t *testing.T) {
		broad := x509.NewCertPool()
		broad.AddCert(e.ca.Cert)
		broad.AddCert(e.rogue.Cert)
		srv := e.serve(t, tls.RequireAndVerifyClientCert, broad)
		e.logs.Reset()
		status, body, err := e.do(t, srv.URL, &e.alien, alienTok)
		if err != nil {
			t.Fatal(err)
		}
		assertRefused(t, status, body, e.logs.String(), ReasonClientCert)
	})
	t.Run("cached cert expires", func(t *testing.T) {
		srv := e.serve(t, tls.RequireAndVerifyClientCert, e.ca.Pool)
		if status, _, err := e.do(t, srv.URL, &e.client, valid); err != nil || status != http.StatusOK {
			t.Fatalf("valid: %d %v", status, err)
		}
		// The guard's clock passes the certificate's NotAfter (30 days):
		// the cached verification must not outlive it.
		e.clock.Advance(31 * 24 * time.Hour)
		defer e.clock.Advance(-31 * 24 * time.Hour)
		later := e.sig.Mint(t, e.claims(e.client, func(c map[string]any) { c["exp"] = e.clock.Now().Add(time.Minute).Unix() }))
		e.logs.Reset()
		status, body, err := e.do(t, srv.URL, &e.client, later)
		if err != nil {
			t.Fatal(err)
		}
		assertRefused(t, status, body, e.logs.String(), ReasonClientCert)
	})
	t.Run("plain HTTP", func(t *testing.T) {
		srv := httptest.NewServer(e.g.Middleware(upstream))
		defer srv.Close()
		e.logs.Reset()
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set(DefaultTokenHeader, valid)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assertRefused(t, resp.StatusCode, string(b), e.logs.String(), ReasonNoClientCert)
	})
}

func TestRequireBinding(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RequireBinding = true })
	srv := e.serve(t, tls.RequireAndVerifyClientCert, e.ca.Pool)
	unbound := e.sig.Mint(t, e.claims(e.client, func(c map[string]any) { delete(c, "cnf") }))
	status, body, err := e.do(t, srv.URL, &e.client, unbound)
	if err != nil {
		t.Fatal(err)
	}
	assertRefused(t, status, body, e.logs.String(), ReasonBinding)
	if status, _, _ := e.do(t, srv.URL, &e.client, e.sig.Mint(t, e.claims(e.client, nil))); status != http.StatusOK {
		t.Fatalf("bound token: %d, want 200", status)
	}
}

// TestJWKSRotation: a key that appears at the JWKS endpoint is picked up
// on the first token naming it; unknown kids do not make the guard fetch
// more than once per JWKSMinRefresh; a key removed from the set stops
// working once the cache is older than JWKSMaxAge.
func TestJWKSRotation(t *testing.T) {
	e := newEnv(t, nil)
	srv := e.serve(t, tls.RequireAndVerifyClientCert, e.ca.Pool)
	k2, k3 := newSigner(t, "k2"), newSigner(t, "k3")
	old := e.sig.Mint(t, e.claims(e.client, nil))
	tok2 := k2.Mint(t, e.claims(e.client, nil))
	tok3 := k3.Mint(t, e.claims(e.client, nil))
	if n := e.jwks.Hits.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches at start, want 1", n)
	}
	e.clock.Advance(time.Minute) // past JWKSMinRefresh since the start fetch
	e.jwks.Set(false, e.sig.JWK(), k2.JWK())
	if status, _, err := e.do(t, srv.URL, &e.client, tok2); err != nil || status != http.StatusOK {
		t.Fatalf("token with rotated-in key: %d %v, want 200", status, err)
	}
	if n := e.jwks.Hits.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches, want 2", n)
	}
	// k3 appears too, but the last fetch was just now: refused, no fetch.
	e.jwks.Set(false, e.sig.JWK(), k2.JWK(), k3.JWK())
	for range 5 {
		e.logs.Reset()
		status, body, err := e.do(t, srv.URL, &e.client, tok3)
		if err != nil {
			t.Fatal(err)
		}
		assertRefused(t, status, body, e.logs.String(), ReasonUnknownKey)
	}
	if n := e.jwks.Hits.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches after unknown kids within JWKSMinRefresh, want 2", n)
	}
	e.clock.Advance(DefaultJWKSMinRefresh)
	if status, _, _ := e.do(t, srv.URL, &e.client, tok3); status != http.StatusOK {
		t.Fatalf("k3 after the refresh interval: %d, want 200", status)
	}
	// k1 is rotated out; once the cache is stale it is refused.
	e.jwks.Set(false, k2.JWK(), k3.JWK())
	if status, _, _ := e.do(t, srv.URL, &e.client, old); status != http.StatusOK {
		t.Fatalf("k1 while cache fresh: %d, want 200", status)
	}
	e.clock.Advance(DefaultJWKSMaxAge)
	old = e.sig.Mint(t, e.claims(e.client, func(c map[string]any) { c["exp"] = e.clock.Now().Add(time.Minute).Unix() }))
	// The stale set is refreshed in the background: the request that finds
	// it stale may still pass, the ones after the refresh are refused.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e.logs.Reset()
		status, body, err := e.do(t, srv.URL, &e.client, old)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusOK {
			assertRefused(t, status, body, e.logs.String(), ReasonUnknownKey)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rotated-out key still accepted 5 s after the cache went stale")
		}
	}
}

// TestJWKSDown: with serve's JWKS endpoint failing, the cached keys keep
// working past JWKSMaxAge, and the failure is logged.
func TestJWKSDown(t *testing.T) {
	e := newEnv(t, nil)
	srv := e.serve(t, tls.RequireAndVerifyClientCert, e.ca.Pool)
	e.jwks.Set(true)
	e.clock.Advance(DefaultJWKSMaxAge + time.Second)
	tok := e.sig.Mint(t, e.claims(e.client, func(c map[string]any) { c["exp"] = e.clock.Now().Add(time.Minute).Unix() }))
	e.logs.Reset()
	if status, body, err := e.do(t, srv.URL, &e.client, tok); err != nil || status != http.StatusOK {
		t.Fatalf("cached key with JWKS down: %d %q %v, want 200", status, body, err)
	}
	// The refresh runs in the background; wait for its failure to be logged.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(e.logs.String(), "JWKS refresh failed"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no failed refresh logged (hits %d):\n%s", e.jwks.Hits.Load(), e.logs)
		}
	}
	if e.jwks.Hits.Load() != 2 || !strings.Contains(e.logs.String(), "503") {
		t.Fatalf("want exactly one failed refresh, a 503 (hits %d):\n%s", e.jwks.Hits.Load(), e.logs)
	}
	if status, _, err := e.do(t, srv.URL, &e.client, tok); err != nil || status != http.StatusOK || e.jwks.Hits.Load() != 2 {
		t.Fatalf("after the failed refresh: %d %v, hits %d; want 200 without a new fetch (rate limit)", status, err, e.jwks.Hits.Load())
	}
	e.jwks.Close() // connection refused now
	e.clock.Advance(time.Minute)
	if status, _, err := e.do(t, srv.URL, &e.client, tok); err != nil || status != http.StatusOK {
		t.Fatalf("cached key with JWKS gone: %d %v, want 200", status, err)
	}
}

func TestNew(t *testing.T) {
	ca := newPKI(t, "ca")
	jw := newJWKS(t, newSigner(t, "k1").JWK())
	good := Config{ClientCAs: ca.Pool, JWKSURL: jw.URL, Issuer: "i", Audience: "a", Packages: []string{"p"}}
	tests := []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"ok", func(*Config) {}, nil},
		{"no CAs", func(c *Config) { c.ClientCAs = nil }, ErrConfig},
		{"no JWKS URL", func(c *Config) { c.JWKSURL = "" }, ErrConfig},
		{"no issuer", func(c *Config) { c.Issuer = "" }, ErrConfig},
		{"no audience", func(c *Config) { c.Audience = "" }, ErrConfig},
		{"no packages", func(c *Config) { c.Packages = nil }, ErrConfig},
		{"empty package", func(c *Config) { c.Packages = []string{""} }, ErrConfig},
		{"negative leeway", func(c *Config) { c.Leeway = -time.Second }, ErrConfig},
		{"JWKS 404", func(c *Config) { c.JWKSURL = jw.URL + "/404"; c.HTTPClient = notFoundClient(jw) }, ErrJWKS},
		{"JWKS unreachable", func(c *Config) { c.JWKSURL = "http://127.0.0.1:1/jwks.json" }, ErrJWKS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			_, err := New(context.Background(), cfg)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("New: %v, want %v", err, tt.want)
			}
		})
	}
}

// notFoundClient answers 404 for every request.
func notFoundClient(*guardtest.JWKS) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		http.NotFound(rec, r)
		return rec.Result(), nil
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkMiddlewareTLS measures accepted requests end to end over
// loopback TLS 1.3 with keep-alive (client and server in this process).
func BenchmarkMiddlewareTLS(b *testing.B) {
	e := newEnv(b, nil)
	srv := httptest.NewUnstartedServer(e.g.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{e.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: e.ca.Pool}
	srv.StartTLS()
	defer srv.Close()
	tok := e.sig.Mint(b, e.claims(e.client, nil))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.ca.Pool, Certificates: []tls.Certificate{e.client}}, MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Header.Set(DefaultTokenHeader, tok)
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// TestTokenCache: a token verified once is not trusted blindly afterwards.
// The cached signature check is reused, but the claims are checked on every
// request (binding to the presented certificate, expiry), and a cached
// token stops being accepted once the JWKS maps its kid to another key.
func TestTokenCache(t *testing.T) {
	e := newEnv(t, nil)
	srv := e.serve(t, tls.RequireAndVerifyClientCert, e.ca.Pool)
	tok := e.sig.Mint(t, e.claims(e.client, nil))
	for range 3 {
		if status, _, err := e.do(t, srv.URL, &e.client, tok); err != nil || status != http.StatusOK {
			t.Fatalf("valid token: %d %v", status, err)
		}
	}
	e.logs.Reset()
	status, body, err := e.do(t, srv.URL, &e.other, tok)
	if err != nil {
		t.Fatal(err)
	}
	assertRefused(t, status, body, e.logs.String(), ReasonBinding)

	// Same kid, another key: once the stale set is refreshed (in the
	// background), the cached token no longer passes.
	e.clock.Advance(DefaultJWKSMaxAge)
	tok = e.sig.Mint(t, e.claims(e.client, func(c map[string]any) { c["exp"] = e.clock.Now().Add(time.Hour).Unix() }))
	if status, _, _ := e.do(t, srv.URL, &e.client, tok); status != http.StatusOK {
		t.Fatalf("fresh token: %d", status)
	}
	e.jwks.Set(false, newSigner(t, "k1").JWK())
	e.clock.Advance(DefaultJWKSMaxAge)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e.logs.Reset()
		status, body, err := e.do(t, srv.URL, &e.client, tok)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusOK {
			assertRefused(t, status, body, e.logs.String(), ReasonSignature)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cached token still accepted 5 s after its kid changed key")
		}
	}

	// Expiry is checked on cached tokens too.
	e.jwks.Set(false, e.sig.JWK())
	e.clock.Advance(DefaultJWKSMaxAge)
	tok = e.sig.Mint(t, e.claims(e.client, func(c map[string]any) { c["exp"] = e.clock.Now().Add(time.Minute).Unix() }))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if status, _, _ := e.do(t, srv.URL, &e.client, tok); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("token under the restored key refused")
		}
	}
	e.clock.Advance(2 * time.Minute)
	e.logs.Reset()
	status, body, err = e.do(t, srv.URL, &e.client, tok)
	if err != nil {
		t.Fatal(err)
	}
	assertRefused(t, status, body, e.logs.String(), ReasonExpired)
}
