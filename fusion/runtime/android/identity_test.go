package androidrt_test

import (
	"bytes"
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/fusion/runtime/android/harness"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
)

// minted is one key the harness's AndroidKeyStore had certified.
type minted struct {
	challenge, spki []byte
	strongBox       bool
	chain           [][]byte // leaf, root
}

// keyMint is the test's stand-in for a device's attestation CA: the
// harness's AndroidKeyStore POSTs {"challenge","publicKey","strongBox"} to
// it and gets {"chain": [leaf, root]} for the new key.
type keyMint struct {
	srv   *httptest.Server
	root  *ca
	mu    sync.Mutex
	keys  []minted
	token string // TrustFuse-Token header of the last request
}

func newKeyMint(t *testing.T) *keyMint {
	m := &keyMint{root: newCA(t, "Test Attestation Root")}
	m.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var req struct {
			Challenge, PublicKey []byte
			StrongBox            bool
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(rw, err.Error(), 400)
			return
		}
		pub, err := x509.ParsePKIXPublicKey(req.PublicKey)
		if err != nil {
			http.Error(rw, err.Error(), 400)
			return
		}
		serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Android Keystore Key"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		leaf, err := x509.CreateCertificate(rand.Reader, tmpl, m.root.cert, pub, m.root.key)
		if err != nil {
			http.Error(rw, err.Error(), 500)
			return
		}
		m.mu.Lock()
		m.keys = append(m.keys, minted{req.Challenge, req.PublicKey, req.StrongBox, [][]byte{leaf, m.root.cert.Raw}})
		m.token = r.Header.Get("TrustFuse-Token")
		m.mu.Unlock()
		json.NewEncoder(rw).Encode(map[string][][]byte{"chain": {leaf, m.root.cert.Raw}})
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *keyMint) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

func (m *keyMint) lastToken() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.token
}

// byKey returns the record of the key whose SubjectPublicKeyInfo is spki.
func (m *keyMint) byKey(spki []byte) (minted, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if bytes.Equal(k.spki, spki) {
			return k, true
		}
	}
	return minted{}, false
}

// certServe is a stand-in for `trustfuse serve`'s /v1/challenge,
// /v1/attest and /v1/certificate (docs/attestation.md, issue 18's contract)
// over HTTPS on 127.0.0.1. It checks what the runtime sends — one fresh nonce per
// certificate, the proof over the measurement as sent, a key attestation
// chain whose leaf is a key the mint certified with that nonce as the
// challenge, a P-256 key — and issues a client certificate for the attested
// key under the world's client CA (the CA the mTLS server trusts).
type certServe struct {
	w        *world
	mint     *keyMint
	key      []byte // the release's attestation key
	validity time.Duration
	srv      *httptest.Server

	mu        sync.Mutex
	nonces    map[string]bool // issued, not yet used
	refuse    string          // reason for a debug-mode 403, "" to issue
	opaque    bool            // refuse as opaque mode does: 200, a certificate from a throwaway CA
	throwaway *ca
	down      bool // drop every connection (serve unreachable)
	issued    []*x509.Certificate
	requests  []string // paths, in order
	dropped   int      // requests dropped while down
	tokens    int      // tokens issued by /v1/attest (att-1, …)
	errs      []string // checks the runtime's requests failed
}

func (w *world) certServe(t *testing.T, mint *keyMint, key []byte, validity time.Duration) *certServe {
	s := &certServe{w: w, mint: mint, key: key, validity: validity, nonces: map[string]bool{}, throwaway: newCA(t, "Throwaway CA")}
	s.srv = w.tlsServer(t, http.HandlerFunc(s.serveHTTP), tls.NoClientCert, nil)
	return s
}

func (s *certServe) set(f func(s *certServe)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *certServe) snapshot() (issued []*x509.Certificate, requests, errs []string, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*x509.Certificate(nil), s.issued...), append([]string(nil), s.requests...), append([]string(nil), s.errs...), s.dropped
}

func (s *certServe) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		s.dropped++
		panic(http.ErrAbortHandler)
	}
	s.requests = append(s.requests, r.URL.Path)
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		s.errs = append(s.errs, msg)
		http.Error(rw, msg, 400)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		fail("%s %s with Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		return
	}
	switch r.URL.Path {
	case "/v1/challenge":
		n := make([]byte, 56)
		rand.Read(n)
		nonce := base64.RawURLEncoding.EncodeToString(n)
		s.nonces[nonce] = true
		fmt.Fprintf(rw, `{"nonce":%q,"expiresAt":%q}`, nonce, time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
	case "/v1/attest", "/v1/certificate":
		var req attest.AttestRequest
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			fail("body: %v", err)
			return
		}
		if !s.nonces[req.Nonce] {
			fail("nonce %q not issued or already used", req.Nonce)
			return
		}
		delete(s.nonces, req.Nonce)
		nonce, _ := base64.RawURLEncoding.DecodeString(req.Nonce)
		if want := base64.RawURLEncoding.EncodeToString(attest.Proof(s.key, nonce, req.Measurement.Sum())); req.Proof != want {
			fail("proof %s is not over the measurement sent", req.Proof)
			return
		}
		if req.Package != testPkg || req.DeviceInfo["id"] == "" {
			fail("package %q deviceInfo %v", req.Package, req.DeviceInfo)
			return
		}
		if r.URL.Path == "/v1/attest" {
			s.tokens++
			fmt.Fprintf(rw, `{"token":"att-%d","expiresAt":%q}`, s.tokens, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
			return
		}
		leaf, err := s.checkChain(req.KeyAttestationChain, nonce)
		if err != nil {
			fail("keyAttestationChain: %v", err)
			return
		}
		if s.refuse != "" {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(rw, `{"error":%q}`, s.refuse)
			return
		}
		issuer := s.w.clientCA
		if s.opaque {
			issuer = s.throwaway
		}
		cert, err := s.issue(leaf, issuer)
		if err != nil {
			fail("issue: %v", err)
			return
		}
		s.issued = append(s.issued, cert)
		now := time.Now().UTC()
		json.NewEncoder(rw).Encode(map[string]any{
			"certificate":    cert.Raw,
			"chain":          [][]byte{s.w.clientCA.cert.Raw},
			"expiresAt":      cert.NotAfter.UTC().Format(time.RFC3339),
			"token":          fmt.Sprintf("tok-%d", len(s.issued)),
			"tokenExpiresAt": now.Add(time.Hour).Format(time.RFC3339),
		})
	default:
		fail("unexpected path %s", r.URL.Path)
	}
}

// check returns the leaf of chain (keyAttestationChain: standard base64
// DER, leaf first) when it is exactly what the mint issued for a key
// attested with nonce as the challenge.
func (m *keyMint) check(chain []string, nonce []byte) (*x509.Certificate, error) {
	der := make([][]byte, len(chain))
	for i, b := range chain {
		d, err := base64.StdEncoding.DecodeString(b)
		if err != nil {
			return nil, fmt.Errorf("chain[%d]: %w", i, err)
		}
		der[i] = d
	}
	if len(der) == 0 {
		return nil, errors.New("empty chain")
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return nil, err
	}
	k, ok := m.byKey(leaf.RawSubjectPublicKeyInfo)
	switch {
	case !ok:
		return nil, errors.New("leaf key was not generated in the keystore")
	case !bytes.Equal(k.challenge, nonce):
		return nil, fmt.Errorf("key attested with challenge %x, nonce is %x", k.challenge, nonce)
	case len(der) != len(k.chain):
		return nil, fmt.Errorf("chain of %d certificates, minted %d", len(der), len(k.chain))
	}
	for i := range der {
		if !bytes.Equal(der[i], k.chain[i]) {
			return nil, fmt.Errorf("chain[%d] is not the minted certificate", i)
		}
	}
	return leaf, nil
}

// checkChain: the chain the mint issued for a P-256 key attested with nonce.
func (s *certServe) checkChain(chain []string, nonce []byte) (*x509.Certificate, error) {
	leaf, err := s.mint.check(chain, nonce)
	if err != nil {
		return nil, err
	}
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("leaf key %T is not P-256", leaf.PublicKey)
	}
	return leaf, nil
}

// issue makes the client certificate the contract describes for the
// attested key.
func (s *certServe) issue(leaf *x509.Certificate, issuer *ca) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	keyHash := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	san, _ := url.Parse("urn:trustfuse:release:" + strings.Repeat("ab", 16) + ":key:" + hex.EncodeToString(keyHash[:]))
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "TrustFuse attested device"},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(s.validity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, URIs: []*url.URL{san}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer.cert, leaf.PublicKey, issuer.key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// sealAttested writes an attested-mode vault (no private key, the issuer
// CA chain, the attestation key) straight from the FORMAT in pkg/vault and
// docs/runtime.md: an independent writer for Vault.smali's reader.
func (w *world) sealAttested(t *testing.T, cas [][]byte, attestKey, policy []byte) []byte {
	t.Helper()
	var pt []byte
	pt = binary.BigEndian.AppendUint32(pt, 0)
	pt = binary.BigEndian.AppendUint16(pt, uint16(len(cas)))
	for _, c := range cas {
		pt = binary.BigEndian.AppendUint32(pt, uint32(len(c)))
		pt = append(pt, c...)
	}
	pt = binary.BigEndian.AppendUint32(pt, uint32(len(attestKey)))
	pt = append(pt, attestKey...)
	return testenv.SealVault(t, pt, androidrt.Pepper(), sha256.Sum256(w.signer), policy)
}

// apiServer is the protected mTLS host: it answers "hello <CN>" and
// records the client certificate of every request. Connection: close and no
// session tickets: each request is a new full handshake.
type apiServer struct {
	srv    *httptest.Server
	log    testenv.SyncBuffer // failed handshakes
	mu     sync.Mutex
	seen   []*x509.Certificate
	tokens []string // TrustFuse-Token of each request
}

func (w *world) apiServer(t *testing.T) *apiServer {
	a := &apiServer{}
	a.srv = w.tlsServer(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c := r.TLS.PeerCertificates[0]
		a.mu.Lock()
		a.seen = append(a.seen, c)
		a.tokens = append(a.tokens, r.Header.Get("TrustFuse-Token"))
		a.mu.Unlock()
		rw.Header().Set("Connection", "close")
		fmt.Fprintf(rw, "hello %s", c.Subject.CommonName)
	}), tls.RequireAndVerifyClientCert, &a.log)
	return a
}

func (a *apiServer) certs() []*x509.Certificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*x509.Certificate(nil), a.seen...)
}

// identityApp is a package in identity mode mode attesting to endpoint:
// attested gets the keyless vault with the client CA, the other modes the
// RSA client identity.
func (w *world) identityApp(t *testing.T, mode, strongBox, endpoint string) (apk string, key []byte) {
	t.Helper()
	p, key := w.attestPolicy(endpoint)
	p.Identity, p.StrongBox = mode, strongBox
	if mode != androidrt.IdentityAttested {
		id := w.rsaClient
		id.AttestKey = key
		return w.apk(t, p, id, nil), key
	}
	apk = w.apk(t, p, w.rsaClient, nil)
	pol := p.Encode()
	return withEntries(t, apk, testenv.ZipFile{Name: androidrt.VaultAsset, Data: w.sealAttested(t, [][]byte{w.clientCA.cert.Raw}, key, pol)}), key
}

// TestAttestedIdentity runs the attested modes on the JVM harness against
// the stand-in serve and a Go mTLS server requiring a certificate from the
// client CA: the certificate the server sees is the one serve issued, for
// the key the keystore generated (the handshake proves possession of it),
// and every request to serve passed its checks.
func TestAttestedIdentity(t *testing.T) {
	w := newWorld(t)
	mint := newKeyMint(t)
	api := w.apiServer(t)
	// same checks after every run: serve saw no bad request, and each
	// certificate the API saw is one serve issued, for a minted key
	checkServe := func(t *testing.T, s *certServe, from int) []*x509.Certificate {
		t.Helper()
		issued, _, errs, _ := s.snapshot()
		if len(errs) > 0 {
			t.Errorf("stand-in serve refused the runtime's requests: %q", errs)
		}
		for _, c := range api.certs()[from:] {
			if c.Subject.CommonName != "TrustFuse attested device" {
				continue
			}
			found := false
			for _, i := range issued {
				found = found || bytes.Equal(i.Raw, c.Raw)
			}
			if _, minted := mint.byKey(c.RawSubjectPublicKeyInfo); !found || !minted {
				t.Errorf("API saw certificate %x: issued by serve %v, key from the keystore %v", c.SerialNumber, found, minted)
			}
		}
		return issued
	}
	serials := func(from int) []string {
		var out []string
		for _, c := range api.certs()[from:] {
			out = append(out, c.SerialNumber.Text(16))
		}
		return out
	}

	t.Run("issued certificate used for mTLS", func(t *testing.T) {
		s := w.certServe(t, mint, nil, time.Hour)
		apk, key := w.identityApp(t, androidrt.IdentityAttested, "", s.srv.URL)
		s.key = key
		from := len(api.certs())
		r := w.run(t, harness.Options{APK: apk, URL: api.srv.URL + "/first", KeyAttestMintURL: mint.srv.URL, Attest: true})
		if r.Status != 200 || r.Body != "hello TrustFuse attested device" {
			t.Fatalf("status %d body %q error %q\n%s", r.Status, r.Body, r.Error, r.Stderr)
		}
		issued := checkServe(t, s, from)
		_, reqs, _, _ := s.snapshot()
		if len(issued) != 1 || !slices.Equal(serials(from), []string{issued[0].SerialNumber.Text(16)}) {
			t.Errorf("API saw %q, serve issued %d", serials(from), len(issued))
		}
		// The certificate response's token is cached and sent (the URL
		// handler waited for it): no /v1/attest.
		api.mu.Lock()
		sent := api.tokens[len(api.tokens)-1]
		api.mu.Unlock()
		if r.Token != "tok-1" || sent != "tok-1" || !slices.Equal(reqs, []string{"/v1/challenge", "/v1/certificate"}) {
			t.Errorf("token %q (%s), API got %q, serve saw %q", r.Token, r.AttestError, sent, reqs)
		}
		if r.Identity != "attested (TEE)" || !strings.Contains(r.Stderr, "identity: attested (TEE), issued certificate "+issued[0].SerialNumber.Text(16)) {
			t.Errorf("identity %q; log:\n%s", r.Identity, r.Stderr)
		}
	})

	t.Run("renewed without restart", func(t *testing.T) {
		// Renewal is due 2/3 into the 6 s: the requests at 2.5 s use the
		// first certificate, those after 4 s a new one (a new key).
		s := w.certServe(t, mint, nil, 6*time.Second)
		apk, key := w.identityApp(t, androidrt.IdentityAttested, "", s.srv.URL)
		s.key = key
		from := len(api.certs())
		u := api.srv.URL + "/again"
		r := w.run(t, harness.Options{APK: apk, URL: api.srv.URL + "/first", KeyAttestMintURL: mint.srv.URL,
			Gets: []string{u, u, u}, GetsEvery: 2500 * time.Millisecond})
		for i, g := range append([]harness.Get{{Status: r.Status, Error: r.Error}}, r.Gets...) {
			if g.Status != 200 {
				t.Fatalf("request %d: status %d error %q\n%s", i, g.Status, g.Error, r.Stderr)
			}
		}
		issued := checkServe(t, s, from)
		got := serials(from)
		if len(issued) < 2 || got[0] != issued[0].SerialNumber.Text(16) || got[1] != got[0] || got[3] == got[0] {
			t.Errorf("API saw serials %q; serve issued %d\n%s", got, len(issued), r.Stderr)
		}
		if len(issued) >= 2 && bytes.Equal(issued[0].RawSubjectPublicKeyInfo, issued[1].RawSubjectPublicKeyInfo) {
			t.Error("the renewed certificate is for the same key")
		}
	})

	t.Run("offline until expiry, renewed when back", func(t *testing.T) {
		// Serve goes down after the first certificate (9 s): renewals fail,
		// the certificate is used until it expires, then none is offered;
		// once a request has been refused for that, serve comes back and the
		// runtime gets a new certificate, without a restart.
		s := w.certServe(t, mint, nil, 9*time.Second)
		apk, key := w.identityApp(t, androidrt.IdentityAttested, "", s.srv.URL)
		s.key = key
		from := len(api.certs())
		refusedBefore := strings.Count(api.log.String(), "didn't provide a certificate")
		go func() {
			for {
				time.Sleep(50 * time.Millisecond)
				if issued, _, _, _ := s.snapshot(); len(issued) > 0 {
					s.set(func(s *certServe) { s.down = true })
					break
				}
			}
			for strings.Count(api.log.String(), "didn't provide a certificate") == refusedBefore {
				time.Sleep(50 * time.Millisecond)
			}
			s.set(func(s *certServe) { s.down = false })
		}()
		u := api.srv.URL + "/offline"
		r := w.run(t, harness.Options{APK: apk, URL: api.srv.URL + "/first", KeyAttestMintURL: mint.srv.URL,
			Gets: []string{u, u, u, u, u, u, u}, GetsEvery: 2500 * time.Millisecond})
		issued := checkServe(t, s, from)
		_, _, _, dropped := s.snapshot()
		// at 0, 2.5, 5 and 7.5 s the first certificate
		if r.Status != 200 || r.Gets[0].Status != 200 || r.Gets[1].Status != 200 || r.Gets[2].Status != 200 {
			t.Fatalf("status %d, gets %+v\n%s", r.Status, r.Gets, r.Stderr)
		}
		got := serials(from)
		if len(got) < 4 || got[0] != got[1] || got[1] != got[2] || got[2] != got[3] {
			t.Errorf("API saw serials %q", got)
		}
		// 10 s after issuance: expired, nothing offered, the server refuses.
		if last := r.Gets[3]; last.Status != 0 || last.Error == "" {
			t.Errorf("request after expiry: status %d error %q", last.Status, last.Error)
		}
		if dropped < 2 || !strings.Contains(r.Stderr, "renewal failed, the current certificate stays in use until it expires") ||
			!strings.Contains(r.Stderr, "identity: no client certificate: java.net.") {
			t.Errorf("%d renewal attempts reached the stand-in while down; log:\n%s", dropped, r.Stderr)
		}
		// serve back 10 s after issuance; 7.5 s later a new certificate is in use
		if len(issued) < 2 || r.Gets[6].Status != 200 || got[len(got)-1] == got[0] {
			t.Errorf("after serve came back: issued %d, last request %+v, serials %q\n%s", len(issued), r.Gets[6], got, r.Stderr)
		}
	})

	t.Run("refused: no certificate", func(t *testing.T) {
		s := w.certServe(t, mint, nil, time.Hour)
		apk, key := w.identityApp(t, androidrt.IdentityAttested, "", s.srv.URL)
		s.key = key
		s.refuse = "certificate_key_attestation_security_level"
		from := len(api.certs())
		r := w.run(t, harness.Options{APK: apk, URL: api.srv.URL + "/refused", KeyAttestMintURL: mint.srv.URL})
		refused(t, r)
		checkServe(t, s, from)
		if !strings.HasPrefix(r.Identity, "none: ") || !strings.Contains(r.Identity, "HTTP status 403") ||
			!strings.Contains(r.Stderr, "no client certificate") || !strings.Contains(r.Stderr, "certificate_key_attestation_security_level") {
			t.Errorf("identity %q; log:\n%s", r.Identity, r.Stderr)
		}
	})

	t.Run("opaque refusal: certificate from another CA not used", func(t *testing.T) {
		s := w.certServe(t, mint, nil, time.Hour)
		apk, key := w.identityApp(t, androidrt.IdentityAttested, "", s.srv.URL)
		s.key = key
		s.opaque = true
		r := w.run(t, harness.Options{APK: apk, URL: api.srv.URL + "/opaque", KeyAttestMintURL: mint.srv.URL})
		refused(t, r)
		if issued, _, errs, _ := s.snapshot(); len(issued) != 1 || len(errs) != 0 {
			t.Errorf("issued %d, errors %q", len(issued), errs)
		}
		if !strings.Contains(r.Identity, "not issued by the issuer CA in the vault") {
			t.Errorf("identity %q\n%s", r.Identity, r.Stderr)
		}
	})

	t.Run("restart loads the stored identity", func(t *testing.T) {
		s := w.certServe(t, mint, nil, time.Hour)
		apk, key := w.identityApp(t, androidrt.IdentityAttested, "", s.srv.URL)
		s.key = key
		ks := filepath.Join(t.TempDir(), "keystore")
		o := harness.Options{APK: apk, URL: api.srv.URL + "/before", KeyAttestMintURL: mint.srv.URL, KeyStoreFile: ks}
		from := len(api.certs())
		if r := w.run(t, o); r.Status != 200 {
			t.Fatalf("first run: status %d error %q\n%s", r.Status, r.Error, r.Stderr)
		}
		s.set(func(s *certServe) { s.down = true })
		o.URL = api.srv.URL + "/after"
		r := w.run(t, o)
		if r.Status != 200 {
			t.Fatalf("after restart: status %d error %q\n%s", r.Status, r.Error, r.Stderr)
		}
		// serve is down: only the token requests reached it (and failed)
		issued := checkServe(t, s, from)
		got := serials(from)
		if len(issued) != 1 || len(got) != 2 || got[1] != got[0] || r.Identity != "attested (keystore)" {
			t.Errorf("serials %q, issued %d, identity %q", got, len(issued), r.Identity)
		}
		if !strings.Contains(r.Stderr, "identity: attested (keystore), stored certificate") {
			t.Errorf("no stored identity in the log:\n%s", r.Stderr)
		}
	})

	modes := []struct {
		name, mode string
		o          harness.Options
		want       string // identity state prefix
		cn         string // the CN the API sees, "" when refused
		certs      int    // certificate requests
	}{
		{"attested-or-embedded, device attests", androidrt.IdentityAttestedOrEmbedded, harness.Options{}, "attested (TEE)", "TrustFuse attested device", 1},
		{"attested-or-embedded, no attestation", androidrt.IdentityAttestedOrEmbedded, harness.Options{NoKeyAttestation: true},
			"embedded: device cannot attest: java.security.ProviderException", "rsa-client", 0},
		{"attested-or-embedded, API 23", androidrt.IdentityAttestedOrEmbedded, harness.Options{Props: map[string]string{"harness.build.sdk": "23"}},
			"embedded: device cannot attest: API < 24", "rsa-client", 0},
		{"attested, no attestation", androidrt.IdentityAttested, harness.Options{NoKeyAttestation: true},
			"none: device cannot attest: java.security.ProviderException", "", 0},
	}
	for _, tc := range modes {
		t.Run(tc.name, func(t *testing.T) {
			s := w.certServe(t, mint, nil, time.Hour)
			apk, key := w.identityApp(t, tc.mode, "", s.srv.URL)
			s.key = key
			from := len(api.certs())
			o := tc.o
			o.APK, o.URL, o.KeyAttestMintURL = apk, api.srv.URL+"/mode", mint.srv.URL
			r := w.run(t, o)
			checkServe(t, s, from)
			if tc.cn == "" {
				refused(t, r)
			} else if r.Status != 200 || r.Body != "hello "+tc.cn {
				t.Fatalf("status %d body %q error %q\n%s", r.Status, r.Body, r.Error, r.Stderr)
			}
			issued, _, _, _ := s.snapshot()
			if !strings.HasPrefix(r.Identity, tc.want) || len(issued) != tc.certs {
				t.Errorf("identity %q, want %q…; %d certificates issued, want %d\n%s", r.Identity, tc.want, len(issued), tc.certs, r.Stderr)
			}
			logged := "trustfuse: identity: " + tc.want
			if rest, ok := strings.CutPrefix(tc.want, "none: "); ok {
				logged = "trustfuse: identity: no client certificate: " + rest
			}
			if !strings.Contains(r.Stderr, logged) {
				t.Errorf("the log does not say which identity:\n%s", r.Stderr)
			}
		})
	}
}

// TestAttestedIdentityStrongBox: the key is generated in StrongBox when the
// policy prefers it and the device declares it, in the TEE when StrongBox
// generation fails with StrongBoxUnavailableException, and never in
// StrongBox when the policy says off.
func TestAttestedIdentityStrongBox(t *testing.T) {
	w := newWorld(t)
	mint := newKeyMint(t)
	api := w.apiServer(t)
	tests := []struct {
		pref, device string
		strongBox    bool
		state        string
	}{
		{androidrt.StrongBoxPrefer, "yes", true, "attested (StrongBox)"},
		{androidrt.StrongBoxPrefer, "unavailable", false, "attested (TEE)"},
		{androidrt.StrongBoxPrefer, "", false, "attested (TEE)"},
		{androidrt.StrongBoxOff, "yes", false, "attested (TEE)"},
	}
	for _, tc := range tests {
		t.Run(tc.pref+"/"+cmp.Or(tc.device, "none"), func(t *testing.T) {
			s := w.certServe(t, mint, nil, time.Hour)
			apk, key := w.identityApp(t, androidrt.IdentityAttested, tc.pref, s.srv.URL)
			s.key = key
			r := w.run(t, harness.Options{APK: apk, URL: api.srv.URL + "/sb", KeyAttestMintURL: mint.srv.URL, StrongBox: tc.device})
			if r.Status != 200 {
				t.Fatalf("status %d error %q\n%s", r.Status, r.Error, r.Stderr)
			}
			issued, _, _, _ := s.snapshot()
			if len(issued) != 1 {
				t.Fatalf("%d certificates issued", len(issued))
			}
			m, _ := mint.byKey(issued[0].RawSubjectPublicKeyInfo)
			if m.strongBox != tc.strongBox || r.Identity != tc.state {
				t.Errorf("key in StrongBox %v, identity %q; want %v, %q", m.strongBox, r.Identity, tc.strongBox, tc.state)
			}
			if tc.device == "unavailable" && !strings.Contains(r.Stderr, "StrongBox unavailable; key generated in the TEE") {
				t.Errorf("fallback not logged:\n%s", r.Stderr)
			}
		})
	}
}
