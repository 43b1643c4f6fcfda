package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/trustfuse/trustfuse/internal/guardtest"
	"github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// certFixture is a server issuing client certificates under a test client
// CA, trusting key attestation chains from a test root.
type certFixture struct {
	*fixture
	root   *keyattesttest.CA
	ca     *guardtest.PKI
	caFile string
	dir    string
	// releases: attested (TEE, verified boot, 1 h), embedded (no identity
	// policy), revoked (attested, then revoked).
	attested, embedded, revoked Measurement
}

const certValidity = time.Hour

func newCertFixture(t testing.TB, debug bool) *certFixture {
	t.Helper()
	f := &certFixture{root: keyattesttest.NewRoot(t, "ecdsa", "test-attestation-root"),
		ca: guardtest.NewPKI(t, "TrustFuse test client CA"), dir: t.TempDir()}
	f.caFile = filepath.Join(f.dir, "client-ca.pem")
	guardtest.WriteCertPEM(t, f.caFile, f.ca.Cert.Raw)
	verifier, err := keyattest.NewVerifier([]*x509.Certificate{f.root.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.fixture = newFixture(t, debug, nil, "")
	identity := &IdentityPolicy{Mode: IdentityAttested, ValiditySeconds: int64(certValidity / time.Second),
		MinSecurityLevel: "tee", RequireVerifiedBoot: true}
	add := func(version int64, pol *IdentityPolicy) Measurement {
		m := testMeasurement
		m.VersionCode = version
		if _, _, err := f.reg.Add(Registration{Format: RegistrationFormat, Measurement: m, AttestKey: testAttestKey, Identity: pol}, Event{At: f.clk.t}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	f.attested, f.embedded, f.revoked = add(100, identity), add(101, nil), add(102, identity)
	if _, _, err := f.reg.Revoke(f.revoked.SHA256(), Event{At: f.clk.t, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	f.serve(t, Config{KeyAttestation: verifier, Debug: debug})
	return f
}

// serve replaces f's server with one on f's registry, keys and clock,
// issuing under f's client CA, with cfg's verifiers and debug mode.
func (f *certFixture) serve(t testing.TB, cfg Config) {
	t.Helper()
	cfg.Issuer, cfg.Audience, cfg.TokenTTL = "https://attest.example", "api.example", 5*time.Minute
	cfg.SigningKey, cfg.NonceKey, cfg.Registry, cfg.Replay, cfg.Now = f.key, f.nonce, f.reg, NewMemoryReplay(1<<20, f.clk.now), f.clk.now
	cfg.CertificateIssuer = &CertificateIssuer{Chain: []*x509.Certificate{f.ca.Cert}, Key: f.ca.Key}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.h = srv, srv.Handler()
}

// body is a /v1/certificate request for m over nonce, carrying chain.
func (f *certFixture) body(t testing.TB, nonce string, m Measurement, chain [][]byte) []byte {
	t.Helper()
	raw, _ := base64.RawURLEncoding.DecodeString(nonce)
	req := AttestRequest{Nonce: nonce, Measurement: m,
		Proof:      base64.RawURLEncoding.EncodeToString(Proof(testAttestKey, raw, m.Sum())),
		DeviceInfo: map[string]string{"id": "device-1"}}
	for _, c := range chain {
		req.KeyAttestationChain = append(req.KeyAttestationChain, base64.StdEncoding.EncodeToString(c))
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// certify asks f's serve for a certificate for m, with a chain for a fresh
// key minted under f's root for a fresh nonce, and returns the 200
// answer's certificate (DER).
func (f *certFixture) certify(t testing.TB, m Measurement) []byte {
	t.Helper()
	nonce := f.challenge(t)
	raw, _ := base64.RawURLEncoding.DecodeString(nonce)
	w := do(f.h, "POST", "/v1/certificate", "application/json", f.body(t, nonce, m, keyattesttest.Mint(t, f.root, nil, goodSpec(raw))))
	var cr CertificateResponse
	if err := json.Unmarshal(w.Body.Bytes(), &cr); w.Code != 200 || err != nil {
		t.Fatalf("certificate: %d %s", w.Code, w.Body)
	}
	der, err := base64.StdEncoding.DecodeString(cr.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// goodSpec is a key description the attested release's policy accepts.
func goodSpec(nonce []byte) keyattesttest.Spec {
	signer, _ := hex.DecodeString(testMeasurement.SignerDigests[0])
	return keyattesttest.GoodSpec(nonce, testMeasurement.Package, signer)
}

// writePEM writes DER as a PEM block of type typ and returns the path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCertificateIssued: an attested device key gets a client certificate
// that openssl verifies against the client CA for client auth, with the
// profile of the protocol (openssl x509 -text), the leaf's public key
// (openssl's SPKI DER hashes to the URI SAN), a bound token, and with which
// a real TLS handshake against a server requiring client certificates from
// the CA succeeds.
func TestCertificateIssued(t *testing.T) {
	f := newCertFixture(t, true)
	device, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nonce := f.challenge(t)
	raw, _ := base64.RawURLEncoding.DecodeString(nonce)
	chain := keyattesttest.Mint(t, f.root, device.Public(), goodSpec(raw))
	w := do(f.h, "POST", "/v1/certificate", "application/json", f.body(t, nonce, f.attested, chain))
	if w.Code != 200 {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	var cr CertificateResponse
	if err := json.Unmarshal(w.Body.Bytes(), &cr); err != nil {
		t.Fatal(err)
	}
	der, err := base64.StdEncoding.DecodeString(cr.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	if len(cr.Chain) != 1 || cr.Chain[0] != base64.StdEncoding.EncodeToString(f.ca.Cert.Raw) {
		t.Fatalf("chain %v, want the client CA", cr.Chain)
	}
	certFile := writePEM(t, f.dir, "issued.pem", "CERTIFICATE", der)

	out, err := runOpenSSL(t, "verify", "-CAfile", f.caFile, "-purpose", "sslclient", certFile)
	if err != nil || !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
	text, err := runOpenSSL(t, "x509", "-in", certFile, "-noout", "-text", "-dates", "-nameopt", "RFC2253")
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, text)
	}
	leafPub, err := runOpenSSL(t, "x509", "-in", writePEM(t, f.dir, "leaf.pem", "CERTIFICATE", chain[0]), "-noout", "-pubkey")
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(f.dir, "pub.pem")
	if err := os.WriteFile(pubFile, []byte(leafPub), 0o600); err != nil {
		t.Fatal(err)
	}
	spkiFile := filepath.Join(f.dir, "pub.der")
	if out, err := runOpenSSL(t, "pkey", "-pubin", "-in", pubFile, "-outform", "DER", "-out", spkiFile); err != nil {
		t.Fatalf("openssl pkey: %v\n%s", err, out)
	}
	spki, err := os.ReadFile(spkiFile)
	if err != nil {
		t.Fatal(err)
	}
	keySum := sha256.Sum256(spki)
	issuedPub, err := runOpenSSL(t, "x509", "-in", certFile, "-noout", "-pubkey")
	if err != nil || issuedPub != leafPub {
		t.Fatalf("issued certificate's key:\n%s\nattested leaf's:\n%s", issuedPub, leafPub)
	}
	start, end := f.clk.t.Add(-5*time.Minute).UTC(), f.clk.t.Add(certValidity).UTC()
	const opensslDate = "Jan _2 15:04:05 2006 GMT"
	for _, want := range []string{
		"Version: 3 (0x2)",
		"Subject: CN=" + DeviceCommonName + "\n",
		"Issuer: CN=TrustFuse test client CA\n",
		"X509v3 Key Usage: critical\n                Digital Signature\n",
		"X509v3 Extended Key Usage: \n                TLS Web Client Authentication\n",
		"X509v3 Basic Constraints: critical\n                CA:FALSE\n",
		"X509v3 Authority Key Identifier: \n                " + colonHex(f.ca.Cert.SubjectKeyId),
		"X509v3 Subject Key Identifier: ",
		"X509v3 Subject Alternative Name: \n                URI:urn:trustfuse:release:" + f.attested.SHA256() + ":key:" + hex.EncodeToString(keySum[:]) + "\n",
		"Signature Algorithm: ecdsa-with-SHA256",
		"notBefore=" + start.Format(opensslDate),
		"notAfter=" + end.Format(opensslDate),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl x509 -text lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "X509v3 ") - 1; n != 6 { // less the "X509v3 extensions:" heading
		t.Errorf("%d extensions, want 6 (KU, EKU, BC, SKI, AKI, SAN):\n%s", n, text)
	}
	if !cr.ExpiresAt.Equal(end) {
		t.Errorf("expiresAt %s, want %s", cr.ExpiresAt, end)
	}
	if m := regexp.MustCompile(`Serial Number:\s*\n\s*([0-9a-f:]+)`).FindStringSubmatch(text); m == nil || len(strings.Split(m[1], ":")) != 16 {
		t.Errorf("serial is not 16 bytes: %v", m)
	}

	// The token is signed by the JWKS key and bound to the issued certificate.
	c := verifyToken(t, cr.Token, &f.key.PublicKey)
	d := sha256.Sum256(der)
	if c.Confirm["x5t#S256"] != base64.RawURLEncoding.EncodeToString(d[:]) || c.Release != f.attested.SHA256() ||
		c.KeyAttestation != "tee" || !cr.TokenExpiresAt.Equal(time.Unix(c.Expiry, 0)) {
		t.Fatalf("claims %+v, tokenExpiresAt %s", c, cr.TokenExpiresAt)
	}

	// A real TLS handshake: the issued certificate with the device key.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%x", sha256.Sum256(r.TLS.PeerCertificates[0].Raw))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: f.ca.Pool, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		ok   bool
	}{{"device key", device, true}, {"another key", guardtest.Key(t), false}} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool,
			Certificates: []tls.Certificate{{Certificate: [][]byte{der, f.ca.Cert.Raw}, PrivateKey: tc.key}}}}}
		resp, err := client.Get(srv.URL)
		if !tc.ok {
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: handshake succeeded", tc.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != hex.EncodeToString(d[:]) {
			t.Fatalf("%s: server saw %s", tc.name, b)
		}
	}
}

// BenchmarkCertificate is one POST /v1/certificate in-process (the chain
// is minted outside the timer): compare with BenchmarkAttest.
func BenchmarkCertificate(b *testing.B) {
	f := newCertFixture(b, false)
	f.clk.t = time.Now()
	device := guardtest.Key(b)
	for b.Loop() {
		b.StopTimer()
		nonce := f.challenge(b)
		raw, _ := base64.RawURLEncoding.DecodeString(nonce)
		body := f.body(b, nonce, f.attested, keyattesttest.Mint(b, f.root, device.Public(), goodSpec(raw)))
		b.StartTimer()
		if w := do(f.h, "POST", "/v1/certificate", "application/json", body); w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// colonHex formats b as openssl prints key identifiers (AB:CD:…).
func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(parts, ":")
}

// verifyToken checks tok's ES256 signature with pub (go-jose) and returns
// its claims.
func verifyToken(t *testing.T, tok string, pub *ecdsa.PublicKey) Claims {
	t.Helper()
	payload, err := joseVerify(tok, pub)
	if err != nil {
		t.Fatalf("token not signed by the JWKS key: %v", err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCertificateRefused: each class of bad request is refused with its
// reason (debug mode) and no certificate; in opaque mode the same request
// gets a 200 answer of the same shape whose certificate openssl refuses
// against the real CA and whose token the JWKS key did not sign. The
// metrics count the issued certificates, the refusals and the requests.
func TestCertificateRefused(t *testing.T) {
	p384 := keyattesttest.NewKey(t, "p384")
	cases := []struct {
		name, reason string
		m            func(f *certFixture) Measurement
		chain        func(f *certFixture, nonce []byte) [][]byte
		nonce        func(t *testing.T, f *certFixture) string // nil: a fresh challenge
	}{
		{"re-signed app: key attestation names another signer", "certificate_key_attestation_application_mismatch",
			func(f *certFixture) Measurement { return f.attested },
			func(f *certFixture, n []byte) [][]byte {
				s := goodSpec(n)
				s.SignatureDigests = [][]byte{keyattesttest.SignerDigest("re-signer")}
				return keyattesttest.Mint(t, f.root, nil, s)
			}, nil},
		{"re-signed app: measurement names another signer", "unknown_release",
			func(f *certFixture) Measurement {
				m := f.attested
				m.SignerDigests = []string{hex.EncodeToString(keyattesttest.SignerDigest("re-signer"))}
				return m
			},
			func(f *certFixture, n []byte) [][]byte { return keyattesttest.Mint(t, f.root, nil, goodSpec(n)) }, nil},
		{"software-level key, TEE required", "certificate_key_attestation_security_level",
			func(f *certFixture) Measurement { return f.attested },
			func(f *certFixture, n []byte) [][]byte {
				s := goodSpec(n)
				s.AttestationLevel, s.KeyMintLevel = keyattest.Software, keyattest.Software
				return keyattesttest.Mint(t, f.root, nil, s)
			}, nil},
		{"unlocked bootloader", "certificate_key_attestation_verified_boot",
			func(f *certFixture) Measurement { return f.attested },
			func(f *certFixture, n []byte) [][]byte {
				s := goodSpec(n)
				s.DeviceLocked, s.BootState = false, keyattest.Unverified
				return keyattesttest.Mint(t, f.root, nil, s)
			}, nil},
		{"challenge of another nonce", "certificate_key_attestation_challenge_mismatch",
			func(f *certFixture) Measurement { return f.attested },
			func(f *certFixture, _ []byte) [][]byte {
				other, _ := base64.RawURLEncoding.DecodeString(f.challenge(t))
				return keyattesttest.Mint(t, f.root, nil, goodSpec(other))
			}, nil},
		{"chain for another package", "certificate_key_attestation_application_mismatch",
			func(f *certFixture) Measurement { return f.attested },
			func(f *certFixture, n []byte) [][]byte {
				s := goodSpec(n)
				s.Packages = []keyattest.PackageInfo{{Name: "com.evil.repackaged", Version: 1}}
				return keyattesttest.Mint(t, f.root, nil, s)
			}, nil},
		{"chain under an untrusted root", "certificate_key_attestation_root_untrusted",
			func(f *certFixture) Measurement { return f.attested },
			func(f *certFixture, n []byte) [][]byte {
				return keyattesttest.Mint(t, keyattesttest.NewRoot(t, "ecdsa", "stranger"), nil, goodSpec(n))
			}, nil},
		{"no chain", "certificate_key_attestation_missing",
			func(f *certFixture) Measurement { return f.attested },
			func(*certFixture, []byte) [][]byte { return nil }, nil},
		{"revoked release", "release_revoked",
			func(f *certFixture) Measurement { return f.revoked },
			func(f *certFixture, n []byte) [][]byte { return keyattesttest.Mint(t, f.root, nil, goodSpec(n)) }, nil},
		{"release without identity policy", "identity_not_attested",
			func(f *certFixture) Measurement { return f.embedded },
			func(f *certFixture, n []byte) [][]byte { return keyattesttest.Mint(t, f.root, nil, goodSpec(n)) }, nil},
		{"replayed nonce", "nonce_replayed",
			func(f *certFixture) Measurement { return f.attested },
			func(f *certFixture, n []byte) [][]byte { return keyattesttest.Mint(t, f.root, nil, goodSpec(n)) },
			func(t *testing.T, f *certFixture) string {
				n := f.challenge(t)
				raw, _ := base64.RawURLEncoding.DecodeString(n)
				if w := do(f.h, "POST", "/v1/attest", "application/json", f.body(t, n, f.attested,
					keyattesttest.Mint(t, f.root, nil, goodSpec(raw)))); w.Code != 200 {
					t.Fatalf("first use: %d %s", w.Code, w.Body)
				}
				return n
			}},
		{"key for encryption only", "certificate_key_purpose",
			func(f *certFixture) Measurement { return f.attested },
			func(f *certFixture, n []byte) [][]byte {
				s := goodSpec(n)
				s.Purposes = []int64{0, 1} // ENCRYPT, DECRYPT
				return keyattesttest.Mint(t, f.root, nil, s)
			}, nil},
		{"P-384 device key", "certificate_key_not_p256",
			func(f *certFixture) Measurement { return f.attested },
			func(f *certFixture, n []byte) [][]byte {
				return keyattesttest.Mint(t, f.root, p384.Public(), goodSpec(n))
			}, nil},
	}
	for _, debug := range []bool{true, false} {
		f := newCertFixture(t, debug)
		for _, tc := range cases {
			t.Run(fmt.Sprintf("debug=%v/%s", debug, tc.name), func(t *testing.T) {
				var nonce string
				if tc.nonce != nil {
					nonce = tc.nonce(t, f)
				} else {
					nonce = f.challenge(t)
				}
				raw, _ := base64.RawURLEncoding.DecodeString(nonce)
				chain := tc.chain(f, raw)
				w := do(f.h, "POST", "/v1/certificate", "application/json", f.body(t, nonce, tc.m(f), chain))
				if debug {
					if w.Code != 403 || w.Body.String() != `{"error":"`+tc.reason+`"}`+"\n" {
						t.Fatalf("got %d %s, want 403 %s", w.Code, w.Body, tc.reason)
					}
					return
				}
				var cr CertificateResponse
				if err := json.Unmarshal(w.Body.Bytes(), &cr); w.Code != 200 || err != nil || cr.Token == "" || len(cr.Chain) != 1 {
					t.Fatalf("opaque: got %d %s", w.Code, w.Body)
				}
				der, _ := base64.StdEncoding.DecodeString(cr.Certificate)
				cert := writePEM(t, f.dir, "refused.pem", "CERTIFICATE", der)
				if out, err := runOpenSSL(t, "verify", "-CAfile", f.caFile, cert); err == nil || !strings.Contains(out, "signature failure") {
					t.Fatalf("openssl verify accepted an opaque refusal's certificate (or failed otherwise): %v\n%s", err, out)
				}
				if k := sentKey(&AttestRequest{KeyAttestationChain: []string{base64.StdEncoding.EncodeToString(firstOf(chain))}}); k != nil {
					if c, _ := x509.ParseCertificate(der); c == nil || !k.Equal(c.PublicKey) {
						t.Fatal("opaque certificate is not for the key sent")
					}
				}
				if _, err := joseVerify(cr.Token, &f.key.PublicKey); err == nil {
					t.Fatal("opaque refusal's token is signed by the JWKS key")
				}
			})
		}
		// The control: a good request in the same mode is issued and verifies.
		der := f.certify(t, f.attested)
		if out, err := runOpenSSL(t, "verify", "-CAfile", f.caFile, writePEM(t, f.dir, "good.pem", "CERTIFICATE", der)); err != nil {
			t.Fatalf("control: openssl verify: %v\n%s", err, out)
		}

		m := scrape(t, f.h)
		code := "403"
		if !debug {
			code = "200"
		}
		for _, want := range []struct {
			fam    string
			labels map[string]string
			n      float64
		}{
			{"trustfuse_attest_certificates_issued_total", nil, 1},
			{"trustfuse_attest_requests_total", map[string]string{"endpoint": "certificate", "code": code}, float64(len(cases) + map[bool]int{false: 1}[debug])},
			{"trustfuse_attest_verdicts_total", map[string]string{"verdict": "identity_not_attested"}, 1},
			{"trustfuse_attest_verdicts_total", map[string]string{"verdict": "certificate_key_attestation_application_mismatch"}, 2},
			{"trustfuse_attest_verdicts_total", map[string]string{"verdict": "ok"}, 2}, // the replay case's first use, the control
		} {
			if got := m(want.fam, want.labels); got != want.n {
				t.Errorf("debug=%v: %s%v = %v, want %v", debug, want.fam, want.labels, got, want.n)
			}
		}
	}
}

// joseVerify verifies a compact ES256 JWS with go-jose and returns its
// payload.
func joseVerify(tok string, pub *ecdsa.PublicKey) ([]byte, error) {
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, err
	}
	return jws.Verify(pub)
}

func firstOf(chain [][]byte) []byte {
	if len(chain) == 0 {
		return nil
	}
	return chain[0]
}

// scrape reads /metrics with the Prometheus text parser and returns a
// lookup of the first sample of fam whose labels include labels: a
// counter's value or a histogram's sample count. A missing sample fails t.
func scrape(t *testing.T, h http.Handler) func(fam string, labels map[string]string) float64 {
	t.Helper()
	w := do(h, "GET", "/metrics", "", nil)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return func(fam string, labels map[string]string) float64 {
		t.Helper()
		mf := fams[fam]
		if mf == nil {
			t.Fatalf("no family %s", fam)
		}
	next:
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return float64(m.Histogram.GetSampleCount())
		}
		t.Fatalf("%s%v not found", fam, labels)
		return 0
	}
}

// TestCertificateCAExpiry: a certificate never outlives its CA (notAfter
// cut at the CA's, as openssl reads it), and once the CA has expired serve
// answers 503 without consuming the nonce.
func TestCertificateCAExpiry(t *testing.T) {
	f := newCertFixture(t, true)
	caEnd := f.ca.Cert.NotAfter.UTC()
	for _, tc := range []struct {
		name  string
		at    time.Time
		code  int
		after time.Time // the certificate's notAfter
	}{
		{"CA ends in 30 minutes", caEnd.Add(-30 * time.Minute), 200, caEnd},
		{"CA ends in 2 hours", caEnd.Add(-2 * time.Hour), 200, caEnd.Add(-2 * time.Hour).Add(certValidity)},
		{"CA expired", caEnd.Add(time.Second), 503, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.clk.t = tc.at
			nonce := f.challenge(t)
			raw, _ := base64.RawURLEncoding.DecodeString(nonce)
			body := f.body(t, nonce, f.attested, keyattesttest.Mint(t, f.root, nil, goodSpec(raw)))
			w := do(f.h, "POST", "/v1/certificate", "application/json", body)
			if w.Code != tc.code {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, tc.code)
			}
			if tc.code != 200 {
				f.clk.t = caEnd.Add(-time.Hour) // the nonce is still fresh
				if w := do(f.h, "POST", "/v1/certificate", "application/json", body); w.Code != 200 {
					t.Fatalf("nonce consumed by the 503: %d %s", w.Code, w.Body)
				}
				return
			}
			var cr CertificateResponse
			if err := json.Unmarshal(w.Body.Bytes(), &cr); err != nil {
				t.Fatal(err)
			}
			der, _ := base64.StdEncoding.DecodeString(cr.Certificate)
			out, err := runOpenSSL(t, "x509", "-in", writePEM(t, t.TempDir(), "c.pem", "CERTIFICATE", der), "-noout", "-enddate")
			if want := "notAfter=" + tc.after.Format("Jan _2 15:04:05 2006 GMT"); err != nil || strings.TrimSpace(out) != want {
				t.Fatalf("openssl: %q %v, want %q", out, err, want)
			}
		})
	}
}

// TestCertificateRSAIssuer: an RSA client CA signs with RSA-SHA256 (openssl
// verifies the certificate), and an opaque refusal under it is signed by a
// decoy RSA key openssl refuses.
func TestCertificateRSAIssuer(t *testing.T) {
	f := newCertFixture(t, false)
	key := keyattesttest.NewKey(t, "rsa")
	ca := keyattesttest.Issue(t, keyattesttest.CertOpts{Subject: pkix.Name{CommonName: "RSA client CA"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}, key.Public(), nil, key)
	caFile := writePEM(t, f.dir, "rsa-ca.pem", "CERTIFICATE", ca.Raw)
	verifier, err := keyattest.NewVerifier([]*x509.Certificate{f.root.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Issuer: "https://attest.example", Audience: "api.example", TokenTTL: 5 * time.Minute,
		SigningKey: f.key, NonceKey: f.nonce, Registry: f.reg, Replay: NewMemoryReplay(100, f.clk.now),
		KeyAttestation: verifier, Now: f.clk.now,
		CertificateIssuer: &CertificateIssuer{Chain: []*x509.Certificate{ca}, Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	f.h = srv.Handler()
	for _, tc := range []struct {
		name   string
		m      Measurement
		verify bool
	}{{"issued", f.attested, true}, {"opaque refusal", f.embedded, false}} {
		t.Run(tc.name, func(t *testing.T) {
			der := f.certify(t, tc.m)
			file := writePEM(t, t.TempDir(), "c.pem", "CERTIFICATE", der)
			out, err := runOpenSSL(t, "verify", "-CAfile", caFile, "-purpose", "sslclient", file)
			if (err == nil) != tc.verify {
				t.Fatalf("openssl verify: %v\n%s", err, out)
			}
			text, _ := runOpenSSL(t, "x509", "-in", file, "-noout", "-text")
			if !strings.Contains(text, "Signature Algorithm: sha256WithRSAEncryption") {
				t.Fatalf("not RSA-SHA256:\n%s", text)
			}
		})
	}
}

// TestCertificateNotConfigured: without an issuer the endpoint answers 404
// with the documented error, before reading the body.
func TestCertificateNotConfigured(t *testing.T) {
	f := newFixture(t, true, nil, "")
	w := do(f.h, "POST", "/v1/certificate", "application/json", []byte(`{}`))
	if w.Code != 404 || w.Body.String() != `{"error":"certificate issuance not configured"}`+"\n" {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}

// TestCertificateIssuerConfig: an issuer that cannot issue client
// certificates is refused at start with a message naming the problem.
func TestCertificateIssuerConfig(t *testing.T) {
	ca := guardtest.NewPKI(t, "client CA")
	other := guardtest.NewPKI(t, "other CA")
	leafCert := ca.Client(t, "not a CA")
	leaf, err := x509.ParseCertificate(leafCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ci   *CertificateIssuer
		want string
	}{
		{"key of another CA", &CertificateIssuer{Chain: []*x509.Certificate{ca.Cert}, Key: other.Key}, "key does not match its certificate"},
		{"not a CA", &CertificateIssuer{Chain: []*x509.Certificate{leaf}, Key: leafCert.PrivateKey.(crypto.Signer)}, "is not a CA"},
		{"no key", &CertificateIssuer{Chain: []*x509.Certificate{ca.Cert}}, "needs a CA certificate and its key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newCertIssuer(tc.ci, time.Now(), rand.Reader)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestIdentityPolicy: registrations with a bad identity policy are refused;
// the policy survives the registry.
func TestIdentityPolicy(t *testing.T) {
	f := newFixture(t, true, nil, "")
	for _, tc := range []struct {
		name string
		pol  IdentityPolicy
		want string // "" = accepted
	}{
		{"attested, default validity", IdentityPolicy{Mode: IdentityAttested, MinSecurityLevel: "tee"}, ""},
		{"attested-or-embedded, 7 days", IdentityPolicy{Mode: IdentityAttestedOrEmbedded, ValiditySeconds: 7 * 86400, MinSecurityLevel: "strongbox"}, ""},
		{"embedded is not a policy", IdentityPolicy{Mode: "embedded", MinSecurityLevel: "tee"}, `identity mode "embedded"`},
		{"8 days", IdentityPolicy{Mode: IdentityAttested, ValiditySeconds: 8 * 86400, MinSecurityLevel: "tee"}, "validitySeconds 691200 not in [300, 604800]"},
		{"1 minute", IdentityPolicy{Mode: IdentityAttested, ValiditySeconds: 60, MinSecurityLevel: "tee"}, "validitySeconds 60"},
		{"bad level", IdentityPolicy{Mode: IdentityAttested, MinSecurityLevel: "hsm"}, "hsm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := testMeasurement
			m.VersionCode = 500 + int64(len(tc.name))
			pol := tc.pol
			_, _, err := f.reg.Add(Registration{Format: RegistrationFormat, Measurement: m, AttestKey: testAttestKey, Identity: &pol}, Event{At: f.clk.t})
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want %q", err, tc.want)
				}
				return
			}
			rel, err := f.reg.Lookup(context.Background(), m.SHA256())
			if err != nil || rel.Identity == nil || *rel.Identity != tc.pol {
				t.Fatalf("lookup: %v %+v", err, rel)
			}
		})
	}
}

// TestDeriveAttestKeyFromSigner: the attested-mode key is HMAC-SHA256 over
// the label and the measurement sum keyed by the signer's PKCS#8, as
// openssl mac computes it, and differs from the embedded-mode derivation.
func TestDeriveAttestKeyFromSigner(t *testing.T) {
	key := guardtest.Key(t)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sum := testMeasurement.Sum()
	got := DeriveAttestKeyFromSigner(der, sum)
	msg := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(msg, append([]byte("trustfuse attest key v1 attested"), sum[:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runOpenSSL(t, "mac", "-digest", "SHA256", "-macopt", "hexkey:"+hex.EncodeToString(der), "-in", msg, "HMAC")
	if err != nil {
		t.Fatalf("openssl mac: %v\n%s", err, out)
	}
	if want := strings.ToLower(strings.TrimSpace(out)); hex.EncodeToString(got) != want {
		t.Fatalf("got %x, openssl %s", got, want)
	}
	if hmac.Equal(got, DeriveAttestKey(der, sum)) || !bytes.Equal(got, DeriveAttestKeyFromSigner(der, sum)) {
		t.Fatal("derivation not distinct from the embedded one, or not deterministic")
	}
}
