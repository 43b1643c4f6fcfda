package fusion

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// TestAttestedIdentityEndToEnd is issue 18's hardware-bound identity with
// every real piece: ApiDemos fused by Fuse with an attested Fusion Set
// (issuer CA = the world's test client CA, no private key in the package:
// the key scan of TestFuseAttestedKeyScan runs on this very output), its
// registration added to a bbolt registry, the in-process `serve`
// (pkg/attest: keyAttestation roots = the mint's test root,
// certificateIssuer = the client CA and its key, opaque refusals), the
// fused runtime on the JVM harness whose AndroidKeyStore stand-in gets
// each key's chain, with a real attestation extension, from a mint under
// that root, and `guard` (pkg/guard with RequireAttestedCert and
// RequireBinding, client CA = the issuer CA, keys from serve's JWKS) in
// front of an upstream. The app gets a certificate from /v1/certificate
// and reaches the upstream; the certificate guard saw passes `openssl
// verify -CAfile` against the client CA for client use, and its public
// key is the one the keystore generated. Then one case per refusal: no
// certificate is issued (serve's metrics: issued count unchanged, the
// refusal's verdict counted) and guard refuses the request.
//
// Renewal without restart runs against serve with its clock set back
// (Config.Now), so a 5-minute certificate expires seconds after it is
// issued on the device's clock.
func TestAttestedIdentityEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts JVMs")
	}
	w := newIdentityWorld(t)
	serverCert, serverCA := demoTLS(t)
	issuerPool := x509.NewCertPool()
	issuerPool.AddCert(w.ca)
	logs := &testenv.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))

	// The device's attestation CA: a mint under a test root; each case
	// sets what the next keys' chains claim.
	kaRoot := keyattesttest.NewRoot(t, "ecdsa", "identity-e2e-root")
	dev := startMint(t, kaRoot, nil)
	wasMinted := func(spki []byte) bool {
		return slices.ContainsFunc(dev.minted(), func(k mintedKey) bool { return bytes.Equal(k.spki, spki) })
	}

	// serve; its clock runs behind by lag (0 but for the renewal case).
	kaVerifier, err := keyattest.NewVerifier([]*x509.Certificate{kaRoot.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var lag atomic.Int64
	srv, reg, serve := startServe(t, serverCert, issuerPool, func(c *attest.Config) {
		c.TokenTTL = 15 * time.Minute
		c.Now = func() time.Time { return time.Now().Add(-time.Duration(lag.Load())) }
		c.KeyAttestation = kaVerifier
		c.CertificateIssuer = &attest.CertificateIssuer{Chain: []*x509.Certificate{w.ca}, Key: w.caKey}
	})

	// The Fusion Set: payments-attested.json's identity on loopback, with
	// the demo server CA pinned (it issued serve's and guard's server
	// certificates); tamper at detect, so a re-signed app's request gets
	// as far as guard.
	pin, err := os.ReadFile(filepath.Join(testenv.Root(t), "fusion", "examples", "demo", "server-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "server-ca.pem"), pin, 0o600); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`{"fusionSetId": "fs-identity-e2e", "name": "attested identity end to end", "version": 1,
  "mtls": {"identity": "attested", "issuerCA": "file:client-ca.pem",
    "attestedCertificate": {"validity": "5m", "minSecurityLevel": "tee", "requireVerifiedBoot": true},
    "hosts": ["127.0.0.1", "localhost"], "pinServerCA": "file:server-ca.pem"},
  "attestation": {"endpoint": %q},
  "threats": {"tamper": {"mode": "detect"}, "hooking": {"mode": "defend"}, "mitm": {"mode": "defend"}}}`, serve.URL)
	fsPath := filepath.Join(w.dir, "e2e.json")
	if err := os.WriteFile(fsPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	fs, err := fusionset.Load(fsPath, fusionset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fused := filepath.Join(t.TempDir(), "ApiDemos.attested.apk")
	res := fuse(t, testenv.RealApp(t, "ApiDemos-debug.apk"), fused, fs, w.signer)
	if hits, _ := w.scanPackage(t, fused, res); len(hits) > 0 {
		t.Fatalf("private key material in the fused package:\n%s", strings.Join(hits, "\n"))
	}
	rel, _, err := reg.Add(*res.Registration, attest.Event{At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	pkg := res.Output.Package
	signerSum := sha256.Sum256(w.signer.Certificate.Raw)

	// guard in front of the upstream; seen keeps the client certificate
	// of each request guard got, by path.
	upstream := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "upstream %s rel=%s", r.URL.Path, r.Header.Get(guard.HeaderRelease))
	}))
	defer upstream.Close()
	upURL, _ := url.Parse(upstream.URL)
	g, err := guard.New(t.Context(), guard.Config{ClientCAs: issuerPool, JWKSURL: serve.URL + "/.well-known/jwks.json",
		Issuer: e2eIssuer, Audience: e2eAudience, Packages: []string{pkg}, TokenHeader: fs.Attestation.TokenHeader,
		RequireBinding: true, RequireAttestedCert: true, Logger: logger,
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverCA}}}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		seenMu sync.Mutex
		seen   = map[string]*x509.Certificate{}
	)
	protected := g.Middleware(guard.NewReverseProxy(upURL, logger))
	gw := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			seenMu.Lock()
			seen[r.URL.Path] = r.TLS.PeerCertificates[0]
			seenMu.Unlock()
		}
		protected.ServeHTTP(rw, r)
	}))
	gw.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: issuerPool}
	gw.StartTLS()
	defer gw.Close()

	run := func(path string, signerDER []byte) harness.Result {
		return harness.RunWith(t, harness.Options{APK: fused, Package: pkg, SignerDER: signerDER,
			URL: gw.URL + path, KeyAttestMintURL: dev.srv.URL, Attest: true})
	}
	issued := func() float64 { return metric(t, srv, "trustfuse_attest_certificates_issued_total") }

	t.Run("attested app passes guard", func(t *testing.T) {
		dev.setSpec(func(c []byte) keyattesttest.Spec { return keyattesttest.GoodSpec(c, pkg, signerSum[:]) })
		r := run("/api/orders", w.signer.Certificate.Raw)
		if want := "upstream /api/orders rel=" + rel.ID; r.Status != 200 || r.Body != want {
			t.Fatalf("status %d body %q error %q, want 200 %q\nidentity %q\n%s\nguard/proxy log:\n%s",
				r.Status, r.Body, r.Error, want, r.Identity, r.Stderr, logs.String())
		}
		if n := issued(); n != 1 || r.Identity != "attested (TEE)" {
			t.Errorf("serve issued %v certificates, identity %q; want 1, attested (TEE)", n, r.Identity)
		}
		seenMu.Lock()
		cert := seen["/api/orders"]
		seenMu.Unlock()
		if cert == nil {
			t.Fatal("guard saw no client certificate")
		}
		// openssl: chains to the client CA, fit for TLS client use.
		dir := t.TempDir()
		certPath := filepath.Join(dir, "issued.pem")
		if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		if out := testenv.Run(t, "openssl", "verify", "-purpose", "sslclient", "-CAfile", filepath.Join(w.dir, "client-ca.pem"), certPath); !strings.Contains(out, ": OK") {
			t.Errorf("openssl verify: %s", out)
		}
		// its public key, as openssl reads it, is a key the keystore generated
		spkiPEM := testenv.Run(t, "openssl", "x509", "-noout", "-pubkey", "-in", certPath)
		blk, _ := pem.Decode([]byte(spkiPEM))
		if blk == nil || !wasMinted(blk.Bytes) {
			t.Errorf("the issued certificate's public key (openssl: %q) is not a keystore key", spkiPEM)
		}
		// the configured validity (5 min, from 5 min back), clientAuth, the
		// release and key hash in the URI SAN, the token bound to it
		keyHash := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
		wantSAN := "urn:trustfuse:release:" + rel.ID + ":key:" + hex.EncodeToString(keyHash[:])
		if d := cert.NotAfter.Sub(cert.NotBefore); d != 10*time.Minute || len(cert.URIs) != 1 || cert.URIs[0].String() != wantSAN ||
			len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
			t.Errorf("certificate: lifetime %v, URIs %v, EKU %v; want 10m, %s, clientAuth", d, cert.URIs, cert.ExtKeyUsage, wantSAN)
		}
		x5t := sha256.Sum256(cert.Raw)
		if c := tokenClaims(t, r.Token); c.Release != rel.ID || c.Confirm["x5t#S256"] != base64.RawURLEncoding.EncodeToString(x5t[:]) {
			t.Errorf("token claims %+v, want rel %s bound to the issued certificate", c, rel.ID)
		}
	})

	t.Run("renewed without restart", func(t *testing.T) {
		// The shortest validity a release may have is 5 minutes. serve's
		// clock 5 min - 6 s behind makes each certificate expire 6 s after
		// it is issued (its token lives 15 min from serve's now); the
		// runtime renews at two thirds of what is left (4 s) on the
		// device's clock. Requests at 0 and 2.5 s use the first
		// certificate, the one at 7.5 s a new one, for a new key, with a
		// token bound to it: guard lets all through.
		dev.setSpec(func(c []byte) keyattesttest.Spec { return keyattesttest.GoodSpec(c, pkg, signerSum[:]) })
		lag.Store(int64(5*time.Minute - 6*time.Second))
		defer lag.Store(0)
		before := issued()
		paths := []string{"/api/renew-0", "/api/renew-1", "/api/renew-2", "/api/renew-3"}
		r := harness.RunWith(t, harness.Options{APK: fused, Package: pkg, SignerDER: w.signer.Certificate.Raw,
			URL: gw.URL + paths[0], KeyAttestMintURL: dev.srv.URL, GetsEvery: 2500 * time.Millisecond,
			Gets: []string{gw.URL + paths[1], gw.URL + paths[2], gw.URL + paths[3]}})
		for i, g := range append([]harness.Get{{Status: r.Status, Body: r.Body, Error: r.Error}}, r.Gets...) {
			if want := "upstream " + paths[i] + " rel=" + rel.ID; g.Status != 200 || g.Body != want {
				t.Errorf("request %d: status %d body %q error %q, want 200 %q", i, g.Status, g.Body, g.Error, want)
			}
		}
		seenMu.Lock()
		first, again, last := seen[paths[0]], seen[paths[1]], seen[paths[3]]
		seenMu.Unlock()
		if first == nil || again == nil || last == nil {
			t.Fatalf("guard saw certificates %v, %v, %v\n%s\n%s", first, again, last, r.Stderr, logs.String())
		}
		if n := issued() - before; n < 2 || !first.Equal(again) || first.Equal(last) ||
			bytes.Equal(first.RawSubjectPublicKeyInfo, last.RawSubjectPublicKeyInfo) || !wasMinted(last.RawSubjectPublicKeyInfo) {
			t.Errorf("serve issued %v; serials %x, %x, %x: want the first twice, then a new one for a new keystore key\n%s",
				n, first.SerialNumber, again.SerialNumber, last.SerialNumber, r.Stderr+logs.String())
		}
	})

	// Each refusal: the runtime logs why it has no certificate, serve
	// issues none (opaque mode: it answers /v1/certificate with a
	// certificate from a throwaway CA, which the runtime does not use) and
	// counts the reason, and guard refuses the request, which arrives
	// without a client certificate.
	other := keys.Demo()
	otherSum := sha256.Sum256(other.Certificate.Raw)
	notIssuedState := "none: java.security.cert.CertificateException: trustfuse: the certificate was not issued by the issuer CA in the vault"
	notIssued := "identity: no client certificate: " + strings.TrimPrefix(notIssuedState, "none: ")
	refusals := []struct {
		name string
		// signer is the certificate PackageManager reports for the app.
		signer []byte
		spec   func(challenge []byte) keyattesttest.Spec
		before func(t *testing.T)
		// certRequests is how many /v1/certificate requests the run makes.
		certRequests float64
		// verdict is serve's refusal reason and verdicts how often the run
		// gets it.
		verdict  string
		verdicts float64
		// logged is in the runtime's log, identity its Identity.state().
		logged, identity string
	}{
		// The vault is sealed to the signer: a re-signed app cannot unseal
		// the attestation key, so it asks serve nothing. (With tamper at
		// defend the runtime would not even send the request to guard.)
		{name: "re-signed app", signer: other.Certificate.Raw,
			spec:   func(c []byte) keyattesttest.Spec { return keyattesttest.GoodSpec(c, pkg, otherSum[:]) },
			logged: "vault not unsealed (re-signed app or edited policy?); no client certificate", identity: "none: vault not unsealed"},
		{name: "key attested at software level", signer: w.signer.Certificate.Raw,
			spec: func(c []byte) keyattesttest.Spec {
				s := keyattesttest.GoodSpec(c, pkg, signerSum[:])
				s.AttestationLevel, s.KeyMintLevel = keyattest.Software, keyattest.Software
				return s
			},
			certRequests: 1, verdict: "certificate_key_attestation_security_level", verdicts: 1, logged: notIssued, identity: notIssuedState},
		{name: "chain for another package", signer: w.signer.Certificate.Raw,
			spec: func(c []byte) keyattesttest.Spec {
				return keyattesttest.GoodSpec(c, "com.example.other", signerSum[:])
			},
			certRequests: 1, verdict: "certificate_key_attestation_application_mismatch", verdicts: 1, logged: notIssued, identity: notIssuedState},
		{name: "challenge of another nonce", signer: w.signer.Certificate.Raw,
			spec: func([]byte) keyattesttest.Spec {
				c := make([]byte, 56)
				rand.Read(c)
				return keyattesttest.GoodSpec(c, pkg, signerSum[:])
			},
			certRequests: 1, verdict: "certificate_key_attestation_challenge_mismatch", verdicts: 1, logged: notIssued, identity: notIssuedState},
		// Revoked: /v1/certificate refuses, and so does the /v1/attest the
		// runtime falls back to for Attest.token() without a certificate.
		{name: "revoked release", signer: w.signer.Certificate.Raw,
			spec: func(c []byte) keyattesttest.Spec { return keyattesttest.GoodSpec(c, pkg, signerSum[:]) },
			before: func(t *testing.T) {
				if _, _, err := reg.Revoke(rel.ID, attest.Event{At: time.Now(), Reason: "identity e2e"}); err != nil {
					t.Fatal(err)
				}
			},
			certRequests: 1, verdict: "release_revoked", verdicts: 2, logged: notIssued, identity: notIssuedState},
	}
	certRequests := func() float64 {
		return metric(t, srv, `trustfuse_attest_requests_total{code="200",endpoint="certificate"}`)
	}
	for i, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			dev.setSpec(tc.spec)
			if tc.before != nil {
				tc.before(t)
			}
			issuedBefore, requestsBefore := issued(), certRequests()
			var verdictsBefore float64
			if tc.verdict != "" {
				verdictsBefore = verdicts(t, srv, tc.verdict)
			}
			path := fmt.Sprintf("/api/refused-%d", i)
			r := run(path, tc.signer)
			if r.Status != http.StatusUnauthorized {
				t.Errorf("status %d body %q error %q, want 401 from guard\n%s", r.Status, r.Body, r.Error, r.Stderr)
			}
			if n := issued() - issuedBefore; n != 0 {
				t.Errorf("serve issued %v certificates, want none", n)
			}
			if n := certRequests() - requestsBefore; n != tc.certRequests {
				t.Errorf("%v /v1/certificate requests, want %v", n, tc.certRequests)
			}
			if tc.verdict != "" {
				if n := verdicts(t, srv, tc.verdict) - verdictsBefore; n != tc.verdicts {
					t.Errorf("serve counted %v %s verdicts, want %v", n, tc.verdict, tc.verdicts)
				}
			}
			seenMu.Lock()
			cert := seen[path]
			seenMu.Unlock()
			if cert != nil {
				t.Errorf("the app presented a client certificate from %s", cert.Issuer)
			}
			if !strings.Contains(logs.String(), `msg="guard: refused"`) || !strings.Contains(logs.String(), "path="+path+" code=no_client_cert") {
				t.Errorf("guard did not log the refusal of %s for want of a client certificate:\n%s", path, logs.String())
			}
			if !strings.Contains(r.Stderr, tc.logged) || !strings.HasPrefix(r.Identity, tc.identity) {
				t.Errorf("identity %q, want %q…; the runtime's log should say %q:\n%s", r.Identity, tc.identity, tc.logged, r.Stderr)
			}
		})
	}
}

// metric reads the value of the metric line starting with name (with its
// labels, if any) from serve's /metrics page (0 when absent).
func metric(t *testing.T, srv *attest.Server, name string) float64 {
	t.Helper()
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}
