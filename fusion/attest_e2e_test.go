package fusion

import (
	"context"
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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	"github.com/trustfuse/trustfuse/fusion/runtime/android/harness"
	"github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/guard"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// demoTLS returns a loopback server certificate issued by the DEMO CA
// (which demo.json pins and which issued the DEMO client certificate) and a
// pool holding that CA.
func demoTLS(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	dir := filepath.Join(testenv.Root(t), "fusion", "examples", "demo")
	caPEM, err := os.ReadFile(filepath.Join(dir, "server-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := pem.Decode(caPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		t.Fatal("demo CA: no PEM block")
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key}, pool
}

// TestAttestEndToEnd is the whole chain on a real app: ApiDemos fused with
// the demo Fusion Set whose attestation endpoint is an in-process `serve`
// (pkg/attest, registry filled from the fuse registration record); the
// fused runtime, run on the JVM harness, unseals its vault, attests over
// mTLS (its client certificate binds the token), and calls the upstream
// through `guard` (pkg/guard middleware + reverse proxy, client CA = the
// DEMO CA, keys from serve's JWKS) with the token the runtime's URL
// handler adds by itself to a plain HttpsURLConnection. The last part adds
// Android Key Attestation: the harness's stand-in AndroidKeyStore gets its
// chain from a mint under a test root that serve trusts.
func TestAttestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts JVMs")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serverCert, demoCA := demoTLS(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	// serve: attestation service on TLS, client certificates verified if given.
	kaRoot := keyattesttest.NewRoot(t, "ecdsa", "e2e-attestation-root")
	kaVerifier, err := keyattest.NewVerifier([]*x509.Certificate{kaRoot.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, reg, serve := startServe(t, serverCert, demoCA, func(c *attest.Config) { c.KeyAttestation = kaVerifier })
	const issuer, audience = e2eIssuer, e2eAudience

	// upstream behind guard: echoes what guard vouches for.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream %s %s rel=%s", r.Method, r.URL.Path, r.Header.Get(guard.HeaderRelease))
	}))
	defer upstream.Close()
	upURL, _ := url.Parse(upstream.URL)

	// Fuse ApiDemos with attestation pointing at serve; register the release.
	fs := demoFusionSet(t)
	fs.Attestation.Endpoint = serve.URL
	signer := fixtureSigner(t)
	fused := filepath.Join(t.TempDir(), "ApiDemos.secured.apk")
	res := fuse(t, testenv.RealApp(t, "ApiDemos-debug.apk"), fused, fs, signer)
	if res.Registration == nil {
		t.Fatal("fuse produced no registration record")
	}
	rel, _, err := reg.Add(*res.Registration, attest.Event{At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	pkg := res.Output.Package

	g, err := guard.New(ctx, guard.Config{ClientCAs: demoCA, JWKSURL: serve.URL + "/.well-known/jwks.json",
		Issuer: issuer, Audience: audience, Packages: []string{pkg}, TokenHeader: fs.Attestation.TokenHeader,
		RequireBinding: true, Logger: logger,
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: demoCA}}}})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewUnstartedServer(g.Middleware(guard.NewReverseProxy(upURL, logger)))
	gw.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: demoCA}
	gw.StartTLS()
	defer gw.Close()

	var token string
	t.Run("attested app passes guard", func(t *testing.T) {
		// A plain HttpsURLConnection (the app's code, unchanged) gets the
		// token header from the runtime and reaches the upstream; so does
		// the connection Attest.attach sets it on.
		r := harness.RunWith(t, harness.Options{APK: fused, Package: pkg, SignerDER: signer.Certificate.Raw,
			URL: gw.URL + "/api/plain", Attest: true, AttestedURL: gw.URL + "/api/orders"})
		if r.Token == "" || r.AttestError != "" {
			t.Fatalf("no token: %q\n%s", r.AttestError, r.Stderr)
		}
		if want := "upstream GET /api/plain rel=" + rel.ID; r.Status != 200 || r.Body != want {
			t.Errorf("plain request: status %d body %q error %q, want 200 %q\n%s", r.Status, r.Body, r.Error, want, r.Stderr)
		}
		want := "upstream GET /api/orders rel=" + rel.ID
		if r.AttestedStatus != 200 || r.AttestedBody != want {
			t.Fatalf("through guard: status %d body %q error %q, want 200 %q\n%s",
				r.AttestedStatus, r.AttestedBody, r.AttestedError, want, r.Stderr)
		}
		if !r.TokenCached {
			t.Error("Attest.token() did not cache the token")
		}
		if len(r.Events) != 0 {
			t.Errorf("a clean run raised %v", r.Events)
		}
		// The token is serve's, for this release, bound to the sealed DEMO
		// client certificate.
		c := tokenClaims(t, r.Token)
		clientDER := demoClientDER(t)
		x5t := sha256.Sum256(clientDER)
		if c.Release != rel.ID || c.Package != pkg || c.Confirm["x5t#S256"] != base64.RawURLEncoding.EncodeToString(x5t[:]) {
			t.Errorf("claims %+v, want rel %s pkg %s bound to the DEMO client certificate", c, rel.ID, pkg)
		}
		token = r.Token
	})

	t.Run("app owning the URL handler factory falls back to attach", func(t *testing.T) {
		r := harness.RunWith(t, harness.Options{APK: fused, Package: pkg, SignerDER: signer.Certificate.Raw,
			URL: gw.URL + "/api/plain", Attest: true, AttestedURL: gw.URL + "/api/orders", AppURLHandlerFactory: true})
		if r.Status != http.StatusUnauthorized {
			t.Errorf("request without token: status %d error %q, want 401", r.Status, r.Error)
		}
		if r.AttestedStatus != 200 {
			t.Errorf("through Attest.attach: status %d error %q, want 200", r.AttestedStatus, r.AttestedError)
		}
	})

	t.Run("no client certificate is refused", func(t *testing.T) {
		if token == "" {
			t.Skip("no token from the attested run")
		}
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: demoCA}}}
		req, _ := http.NewRequest("GET", gw.URL+"/api/orders", nil)
		req.Header.Set(fs.Attestation.TokenHeader, token)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a valid token without the client certificate: status %d, want 401", resp.StatusCode)
		}
	})

	t.Run("re-signed app gets no token", func(t *testing.T) {
		other := keys.Demo()
		r := harness.RunWith(t, harness.Options{APK: fused, Package: pkg, SignerDER: other.Certificate.Raw,
			URL: gw.URL + "/plain", Attest: true, AttestedURL: gw.URL + "/api/orders"})
		if r.Token != "" || !strings.Contains(r.AttestError, "attestation unavailable") {
			t.Fatalf("re-signed app: token %q error %q", r.Token, r.AttestError)
		}
		if r.AttestedStatus == 200 {
			t.Fatalf("re-signed app reached the upstream: %q", r.AttestedBody)
		}
	})

	t.Run("revoked release is refused", func(t *testing.T) {
		if _, _, err := reg.Revoke(rel.ID, attest.Event{At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		// Opaque mode: serve answers with a token no JWKS key verifies, so
		// the app cannot tell; guard refuses it.
		r := harness.RunWith(t, harness.Options{APK: fused, Package: pkg, SignerDER: signer.Certificate.Raw,
			URL: gw.URL + "/plain", Attest: true, AttestedURL: gw.URL + "/api/orders"})
		if r.Token == "" || r.Token == token {
			t.Fatalf("revoked release: token %q error %q", r.Token, r.AttestError)
		}
		if r.AttestedStatus != http.StatusUnauthorized {
			t.Fatalf("revoked release through guard: status %d body %q error %q, want 401",
				r.AttestedStatus, r.AttestedBody, r.AttestedError)
		}
	})

	t.Run("key attestation required", func(t *testing.T) {
		// The same app with keyAttestation required: registering it again
		// (same measurement) is refused while it is revoked; reinstated, it
		// takes the new policy.
		fs.Attestation.KeyAttestation.Mode = fusionset.KeyAttestationRequired
		fused2 := filepath.Join(t.TempDir(), "ApiDemos.katt.apk")
		res2 := fuse(t, testenv.RealApp(t, "ApiDemos-debug.apk"), fused2, fs, signer)
		if _, _, err := reg.Add(*res2.Registration, attest.Event{At: time.Now()}); !errors.Is(err, attest.ErrRevoked) {
			t.Fatalf("re-adding a revoked release: %v, want ErrRevoked", err)
		}
		if _, err := reg.Reinstate(rel.ID, attest.Event{At: time.Now(), Reason: "key attestation required"}); err != nil {
			t.Fatal(err)
		}
		rel2, _, err := reg.Add(*res2.Registration, attest.Event{At: time.Now()})
		if err != nil || rel2.ID != rel.ID || rel2.KeyAttestation == nil || rel2.KeyAttestation.Mode != "required" {
			t.Fatalf("registration %+v %v", rel2, err)
		}
		signerSum := sha256.Sum256(signer.Certificate.Raw)
		mint := startMint(t, kaRoot, func(c []byte) keyattesttest.Spec { return keyattesttest.GoodSpec(c, pkg, signerSum[:]) })

		r := harness.RunWith(t, harness.Options{APK: fused2, Package: pkg, SignerDER: signer.Certificate.Raw,
			URL: gw.URL + "/api/plain", Attest: true, KeyAttestMintURL: mint.srv.URL})
		if r.Token == "" || r.Status != 200 {
			t.Fatalf("with a chain: token %q status %d error %q attest %q\n%s", r.Token, r.Status, r.Error, r.AttestError, r.Stderr)
		}
		if c := tokenClaims(t, r.Token); c.KeyAttestation != "tee" || c.Release != rel.ID {
			t.Errorf("claims %+v, want kat tee for %s", c, rel.ID)
		}
		if got := mint.minted(); len(got) != 1 {
			t.Errorf("mint called %d times, want once", len(got))
		} else if c := got[0].challenge; len(c) != 56 {
			t.Errorf("mint saw challenge %x, want a raw 56-byte nonce", c)
		}

		// The device cannot attest (no AndroidKeyStore provider): serve
		// refuses, opaquely; guard refuses the token.
		r = harness.RunWith(t, harness.Options{APK: fused2, Package: pkg, SignerDER: signer.Certificate.Raw,
			URL: gw.URL + "/api/plain", Attest: true})
		if r.Status != http.StatusUnauthorized {
			t.Errorf("without a chain: status %d body %q, want 401", r.Status, r.Body)
		}
		if n := verdicts(t, srv, "key_attestation_missing"); n != 1 {
			t.Errorf("serve counted %v key_attestation_missing verdicts, want 1", n)
		}
	})

	t.Run("tampered dex is refused", func(t *testing.T) {
		// A build with tamper checks off, so only the measurement stands
		// between a modified classes.dex and a token: the runtime measures
		// the installed dex, serve finds no such release.
		fs.Attestation.KeyAttestation.Mode = fusionset.KeyAttestationOff
		fs.Threats[fusionset.ThreatTamper] = fusionset.Threat{Mode: fusionset.ModeOff}
		fused3 := filepath.Join(t.TempDir(), "ApiDemos.notamper.apk")
		res3 := fuse(t, testenv.RealApp(t, "ApiDemos-debug.apk"), fused3, fs, signer)
		if _, _, err := reg.Add(*res3.Registration, attest.Event{At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		r := harness.RunWith(t, harness.Options{APK: fused3, Package: pkg, SignerDER: signer.Certificate.Raw,
			URL: gw.URL + "/api/plain", Attest: true})
		if r.Status != 200 {
			t.Fatalf("untampered build: status %d error %q attest %q\n%s", r.Status, r.Error, r.AttestError, r.Stderr)
		}
		// The same package with one byte of classes.dex changed and the
		// signatures left as they were (what root can do to an installed
		// base.apk).
		tampered := filepath.Join(t.TempDir(), "ApiDemos.tampered.apk")
		dex := testenv.ZipEntry(t, fused3, "classes.dex")
		dex[len(dex)/2] ^= 0x01
		testenv.RewriteZip(t, fused3, tampered, map[string][]byte{"classes.dex": dex})
		before := verdicts(t, srv, "unknown_release")
		r = harness.RunWith(t, harness.Options{APK: tampered, Package: pkg, SignerDER: signer.Certificate.Raw,
			URL: gw.URL + "/api/plain", Attest: true})
		if r.Status != http.StatusUnauthorized {
			t.Errorf("tampered dex: status %d body %q, want 401", r.Status, r.Body)
		}
		if got := verdicts(t, srv, "unknown_release"); got != before+1 {
			t.Errorf("serve counted %v unknown_release verdicts, want %v", got, before+1)
		}
	})
}

// mint is the JVM harness's AndroidKeyStore's attestation CA: for each key
// the keystore generates it returns a chain under root whose leaf's
// KeyDescription is what spec gives for the challenge asked for.
type mint struct {
	srv  *httptest.Server
	mu   sync.Mutex
	spec func(challenge []byte) keyattesttest.Spec
	keys []mintedKey
}

// mintedKey is a key the mint certified: the challenge the keystore asked
// for and the key's SubjectPublicKeyInfo DER.
type mintedKey struct{ challenge, spki []byte }

func startMint(t *testing.T, root *keyattesttest.CA, spec func(challenge []byte) keyattesttest.Spec) *mint {
	m := &mint{spec: spec}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Challenge, PublicKey []byte }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		pub, err := x509.ParsePKIXPublicKey(in.PublicKey)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		m.mu.Lock()
		s := m.spec(in.Challenge)
		m.keys = append(m.keys, mintedKey{in.Challenge, in.PublicKey})
		m.mu.Unlock()
		json.NewEncoder(w).Encode(map[string][][]byte{"chain": keyattesttest.Mint(t, root, pub, s)})
	}))
	t.Cleanup(m.srv.Close)
	return m
}

// setSpec changes what the next chains claim.
func (m *mint) setSpec(spec func(challenge []byte) keyattesttest.Spec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.spec = spec
}

// minted returns the keys certified so far.
func (m *mint) minted() []mintedKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.keys)
}

// Issuer and audience of the tokens of startServe's serve.
const e2eIssuer, e2eAudience = "https://attest.test", "api.test"

// startServe runs an in-process serve (pkg/attest) on TLS with serverCert,
// verifying client certificates from clientCAs if given, over a new bbolt
// registry, with fresh ES256 and nonce keys, a 5-minute token TTL and an
// in-memory replay cache; edit, if not nil, completes its configuration.
func startServe(t *testing.T, serverCert tls.Certificate, clientCAs *x509.CertPool, edit func(*attest.Config)) (*attest.Server, attest.Registry, *httptest.Server) {
	t.Helper()
	regKey := make([]byte, 32)
	rand.Read(regKey)
	reg, err := attest.OpenRegistry(filepath.Join(t.TempDir(), "reg.db"), regKey, true)
	if err != nil {
		t.Fatal(err)
	}
	signingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nonceKey := make([]byte, 32)
	rand.Read(nonceKey)
	cfg := attest.Config{Issuer: e2eIssuer, Audience: e2eAudience, TokenTTL: 5 * time.Minute,
		SigningKey: signingKey, NonceKey: nonceKey, Registry: reg, Replay: attest.NewMemoryReplay(1024, nil)}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := attest.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	serve := httptest.NewUnstartedServer(srv.Handler())
	serve.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: clientCAs}
	serve.StartTLS()
	t.Cleanup(serve.Close)
	return srv, reg, serve
}

// verdicts reads serve's trustfuse_attest_verdicts_total for reason from
// its /metrics page (0 when absent).
func verdicts(t *testing.T, srv *attest.Server, reason string) float64 {
	t.Helper()
	return metric(t, srv, `trustfuse_attest_verdicts_total{verdict="`+reason+`"}`)
}

// tokenClaims decodes (without verifying: guard did) a JWS's payload.
func tokenClaims(t *testing.T, tok string) attest.Claims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c attest.Claims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// demoClientDER reads the DEMO client certificate (the one the demo Fusion
// Set seals into the vault).
func demoClientDER(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(t), "fusion", "examples", "demo", "client.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("client.pem: no PEM block")
	}
	return blk.Bytes
}
