package attest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/guardtest"
	"github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/guard"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// TestAttestedCertThroughGuard: serve (over TLS, accepting client
// certificates from the client CA) issues certificates for attested device
// keys; guard with RequireAttestedCert lets through a serve-issued
// certificate with its token, and refuses an embedded certificate, a
// certificate whose URI SAN names another key, a token for another release
// and a token bound to another certificate, each with its reason.
func TestAttestedCertThroughGuard(t *testing.T) {
	ca := guardtest.NewPKI(t, "TrustFuse test client CA")
	root := keyattesttest.NewRoot(t, "ecdsa", "test-attestation-root")
	verifier, err := keyattest.NewVerifier([]*x509.Certificate{root.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := attest.OpenRegistry(filepath.Join(t.TempDir(), "reg.db"), bytes.Repeat([]byte{7}, 32), true)
	if err != nil {
		t.Fatal(err)
	}
	signer := keyattesttest.SignerDigest("release signer")
	attestKey := bytes.Repeat([]byte{3}, 32)
	release := func(version int64) attest.Measurement {
		m := attest.Measurement{Package: "com.example.bank", VersionCode: version,
			SignerDigests: []string{hex.EncodeToString(signer)}, DexDigests: map[string]string{"classes.dex": strings.Repeat("ab", 32)},
			RuntimeDigest: strings.Repeat("cd", 32), ManifestDigest: strings.Repeat("ef", 32)}
		if _, _, err := reg.Add(attest.Registration{Format: attest.RegistrationFormat, Measurement: m, AttestKey: attestKey,
			Identity: &attest.IdentityPolicy{Mode: attest.IdentityAttested, MinSecurityLevel: "tee", RequireVerifiedBoot: true}}, attest.Event{At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	relA, relB := release(1), release(2)
	srv, err := attest.NewServer(attest.Config{Issuer: "https://attest.example", Audience: "api.example", TokenTTL: 5 * time.Minute,
		SigningKey: guardtest.Key(t), NonceKey: bytes.Repeat([]byte{5}, 32), Registry: reg, Replay: attest.NewMemoryReplay(100, nil),
		KeyAttestation: verifier, Debug: true,
		CertificateIssuer: &attest.CertificateIssuer{Chain: []*x509.Certificate{ca.Cert}, Key: ca.Key}})
	if err != nil {
		t.Fatal(err)
	}
	serverCert := ca.Server(t)
	serve := httptest.NewUnstartedServer(srv.Handler())
	serve.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool}
	serve.Config.ErrorLog = log.New(io.Discard, "", 0)
	serve.StartTLS()
	defer serve.Close()
	client := func(cert *tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: ca.Pool}
		if cert != nil {
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	}
	post := func(c *http.Client, path string, body any, out any) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := c.Post(serve.URL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, rb)
		}
		if err := json.Unmarshal(rb, out); err != nil {
			t.Fatal(err)
		}
	}
	// request is an attestation of m over a fresh nonce, with a key
	// attestation chain for device when it is not nil.
	request := func(m attest.Measurement, device *ecdsa.PrivateKey) attest.AttestRequest {
		var ch attest.ChallengeResponse
		post(client(nil), "/v1/challenge", struct{}{}, &ch)
		raw, _ := base64.RawURLEncoding.DecodeString(ch.Nonce)
		req := attest.AttestRequest{Nonce: ch.Nonce, Measurement: m,
			Proof: base64.RawURLEncoding.EncodeToString(attest.Proof(attestKey, raw, m.Sum()))}
		if device != nil {
			for _, c := range keyattesttest.Mint(t, root, device.Public(), keyattesttest.GoodSpec(raw, m.Package, signer)) {
				req.KeyAttestationChain = append(req.KeyAttestationChain, base64.StdEncoding.EncodeToString(c))
			}
		}
		return req
	}
	// issued is a serve-issued certificate for a fresh device key of m,
	// with its token.
	issued := func(m attest.Measurement) (tls.Certificate, string) {
		device := guardtest.Key(t)
		var cr attest.CertificateResponse
		post(client(nil), "/v1/certificate", request(m, device), &cr)
		der, _ := base64.StdEncoding.DecodeString(cr.Certificate)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: device}, cr.Token
	}
	// attestOver is a /v1/attest token for m obtained over mTLS with cert,
	// so bound to it.
	attestOver := func(cert tls.Certificate, m attest.Measurement) string {
		var ar attest.AttestResponse
		post(client(&cert), "/v1/attest", request(m, nil), &ar)
		return ar.Token
	}

	certA, tokA := issued(relA)
	certB, tokB := issued(relB)
	embedded := ca.Client(t, "embedded client certificate")
	// A certificate from the client CA whose URI SAN names certA's key.
	leafA, _ := x509.ParseCertificate(certA.Certificate[0])
	forgedKey := guardtest.Key(t)
	forgedDER, err := x509.CreateCertificate(bytes.NewReader(bytes.Repeat([]byte{1}, 64)), &x509.Certificate{
		SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: attest.DeviceCommonName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs: leafA.URIs}, ca.Cert, &forgedKey.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	forged := tls.Certificate{Certificate: [][]byte{forgedDER}, PrivateKey: forgedKey}
	if sum := sha256.Sum256(leafA.RawSubjectPublicKeyInfo); !strings.HasSuffix(leafA.URIs[0].String(), hex.EncodeToString(sum[:])) {
		t.Fatalf("issued certificate's URI SAN %s does not name its key", leafA.URIs[0])
	}

	logs := &guardtest.LogBuffer{}
	newGuarded := func(require bool) string {
		g, err := guard.New(context.Background(), guard.Config{ClientCAs: ca.Pool, JWKSURL: serve.URL + "/.well-known/jwks.json",
			Issuer: "https://attest.example", Audience: "api.example", Packages: []string{"com.example.bank"},
			RequireAttestedCert: require, HTTPClient: client(nil), Logger: logs.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		up := httptest.NewUnstartedServer(g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := guard.ClaimsFrom(r.Context())
			_, _ = io.WriteString(w, "ok rel="+string(c.Release))
		})))
		up.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool}
		up.Config.ErrorLog = log.New(io.Discard, "", 0)
		up.StartTLS()
		t.Cleanup(up.Close)
		return up.URL
	}
	strict, lax := newGuarded(true), newGuarded(false)
	for _, tc := range []struct {
		name       string
		cert       tls.Certificate
		token      string
		reason     string // "" = 200
		laxAccepts bool   // without the flag the request passes
	}{
		{"serve-issued certificate, its token", certA, tokA, "", true},
		{"serve-issued certificate of release B, its token", certB, tokB, "", true},
		{"embedded certificate, token bound to it", embedded, attestOver(embedded, relA), "attested_cert", true},
		{"URI SAN names another key", forged, attestOver(forged, relA), "attested_cert", true},
		{"token for another release", certA, attestOver(certA, relB), "token_release", true},
		{"token bound to another certificate", certA, tokB, "token_binding", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, g := range []struct {
				url    string
				reason string
			}{{strict, tc.reason}, {lax, map[bool]string{true: "", false: tc.reason}[tc.laxAccepts]}} {
				before := len(logs.String())
				req, _ := http.NewRequest(http.MethodGet, g.url, nil)
				req.Header.Set(guard.DefaultTokenHeader, tc.token)
				resp, err := client(&tc.cert).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if g.reason == "" {
					if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "ok rel=") {
						t.Fatalf("%s: got %d %s; log %s", g.url, resp.StatusCode, body, logs.String()[before:])
					}
					continue
				}
				if resp.StatusCode != 401 || !strings.Contains(logs.String()[before:], "code="+g.reason) {
					t.Fatalf("%s: got %d, want 401 %s; log %s", g.url, resp.StatusCode, g.reason, logs.String()[before:])
				}
			}
		})
	}
}
