package androidrt_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
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

// seen is one request a test server received.
type seen struct {
	Path, Token string
}

// recorder records the requests of the test servers, with the token header.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (rc *recorder) add(r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reqs = append(rc.reqs, seen{r.Host + " " + r.URL.Path, r.Header.Get("TrustFuse-Token")})
}

func (rc *recorder) take() []seen {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	r := rc.reqs
	rc.reqs = nil
	return r
}

// mtlsServer is an HTTPS server on 127.0.0.1 (a protected host of the
// world's policy) with a certificate from the pinned server CA, requiring a
// client certificate from the client CA.
func (w *world) mtlsServer(t *testing.T, h http.Handler) *httptest.Server {
	return w.tlsServer(t, h, tls.RequireAndVerifyClientCert, nil)
}

// tlsServer is mtlsServer with another client authentication policy and,
// when errLog is not nil, the server's error log (failed handshakes) written
// there. It issues no session tickets, so every connection is a full
// handshake in which the runtime's key manager chooses the client
// certificate afresh.
func (w *world) tlsServer(t *testing.T, h http.Handler, auth tls.ClientAuthType, errLog io.Writer) *httptest.Server {
	t.Helper()
	k := newKey(t, 0)
	c := issue(t, w.serverCA, k, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	pool := x509.NewCertPool()
	pool.AddCert(w.clientCA.cert)
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: auth, ClientCAs: pool, SessionTicketsDisabled: true,
		Certificates: []tls.Certificate{{Certificate: [][]byte{c.Raw}, PrivateKey: k, Leaf: c}}}
	if errLog != nil {
		srv.Config.ErrorLog = log.New(errLog, "", 0)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// attestServer is a stand-in `serve` on plain HTTP at 127.0.0.1 (so its
// host is protected too: only the endpoint prefix keeps the token off its
// requests). It issues tok-1, tok-2, … with expiresAt from expires, and
// passes each decoded /v1/attest request and the nonce it issued to check
// (nil: any); check's error answers 403.
func attestServer(t *testing.T, rc *recorder, expires func() string, check func(req attest.AttestRequest, nonce []byte) error) *httptest.Server {
	var (
		mu     sync.Mutex
		nonce  []byte
		issued int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rc.add(r)
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/v1/challenge":
			nonce = make([]byte, 56)
			rand.Read(nonce)
			fmt.Fprintf(rw, `{"nonce":%q,"expiresAt":"2030-01-01T00:00:00Z"}`, base64.RawURLEncoding.EncodeToString(nonce))
		case "/v1/attest":
			var req attest.AttestRequest
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				http.Error(rw, fmt.Sprintf("bad request %v: %s", err, body), 400)
				return
			}
			if check != nil {
				if err := check(req, nonce); err != nil {
					http.Error(rw, err.Error(), 403)
					return
				}
			}
			issued++
			fmt.Fprintf(rw, `{"token":"tok-%d","expiresAt":%q}`, issued, expires())
		default:
			http.NotFound(rw, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// attestPolicy is the world's policy attesting to endpoint with a release
// measurement matching the world's packages, and the attestation key.
func (w *world) attestPolicy(endpoint string) (*androidrt.Policy, []byte) {
	m := attest.Measurement{Package: testPkg, VersionCode: 7, SignerDigests: []string{digestHex(w.signer)},
		DexDigests:    map[string]string{"classes.dex": digestHex(appDex)},
		RuntimeDigest: digestHex(androidrt.Dex()), ManifestDigest: digestHex([]byte(worldManifest))}
	p := w.policy()
	p.AttestEndpoint = endpoint
	p.AttestMeasurement = string(m.Canonical())
	p.AttestRuntimeDex = "classes2.dex"
	return p, []byte("0123456789abcdef0123456789abcdef")
}

func farFuture() string { return "2030-01-01T00:00:00Z" }

// TestAttestAutoHeader checks the runtime's URL handler factory: the app's
// plain HttpsURLConnection GET to a protected host (no Attest.attach)
// arrives with the token header (also through openConnection(Proxy)); a
// host not in the policy's list, a protected host over cleartext http, and
// the attestation endpoint's own requests (on a protected host) get none; when
// the app already owns the factory the runtime falls back to attach only;
// when no token can be had, the request still goes, without the header.
func TestAttestAutoHeader(t *testing.T) {
	w := newWorld(t)
	rc := &recorder{}
	api := w.mtlsServer(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rc.add(r)
		fmt.Fprintf(rw, "hello %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	other := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rc.add(r)
		fmt.Fprint(rw, "other")
	}))
	defer other.Close()
	// "localhost" is the same machine but not in the policy's hosts.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/other"
	otherHost := strings.TrimPrefix(strings.TrimSuffix(otherURL, "/other"), "http://")
	apiHost := strings.TrimPrefix(api.URL, "https://")
	// fresh gives a package attesting to a new stand-in serve (tokens from tok-1).
	fresh := func(t *testing.T) (apk, asHost string, p *androidrt.Policy) {
		as := attestServer(t, rc, farFuture, nil)
		p, key := w.attestPolicy(as.URL)
		id := w.rsaClient
		id.AttestKey = key
		return w.apk(t, p, id, nil), strings.TrimPrefix(as.URL, "http://"), p
	}

	t.Run("header added to protected hosts only", func(t *testing.T) {
		apk, asHost, _ := fresh(t)
		rc.take()
		// The app's own request under the attestation endpoint (a
		// protected host) gets no token either.
		r := w.run(t, harness.Options{APK: apk, URL: api.URL + "/auto",
			Gets: []string{otherURL, api.URL + "/again", "http://" + asHost + "/healthz", other.URL + "/cleartext"}})
		if r.Status != 200 || r.Body != "hello rsa-client" {
			t.Fatalf("status %d body %q error %q\n%s", r.Status, r.Body, r.Error, r.Stderr)
		}
		want := []seen{
			{asHost + " /v1/challenge", ""}, {asHost + " /v1/attest", ""}, // fetched when /auto is opened
			{apiHost + " /auto", "tok-1"},
			{otherHost + " /other", ""},
			{apiHost + " /again", "tok-1"}, // cached
			{asHost + " /healthz", ""},
			{strings.TrimPrefix(other.URL, "http://") + " /cleartext", ""}, // protected host, but http
		}
		if got := rc.take(); !slices.Equal(got, want) {
			t.Errorf("server saw\n%q\nwant\n%q\n%s", got, want, r.Stderr)
		}
		if len(r.Gets) != 4 || r.Gets[0].Body != "other" || r.Gets[1].Status != 200 {
			t.Errorf("gets %+v", r.Gets)
		}
	})

	t.Run("Proxy overload", func(t *testing.T) {
		apk, asHost, _ := fresh(t)
		rc.take()
		r := w.run(t, harness.Options{APK: apk, URL: "https://localhost:1/", GetsNoProxy: true,
			Gets: []string{api.URL + "/proxy", otherURL}})
		if len(r.Gets) != 2 || r.Gets[0].Status != 200 || r.Gets[0].Body != "hello rsa-client" {
			t.Fatalf("gets %+v\n%s", r.Gets, r.Stderr)
		}
		want := []seen{
			{asHost + " /v1/challenge", ""}, {asHost + " /v1/attest", ""},
			{apiHost + " /proxy", "tok-1"},
			{otherHost + " /other", ""},
		}
		if got := rc.take(); !slices.Equal(got, want) {
			t.Errorf("server saw\n%q\nwant\n%q", got, want)
		}
	})

	t.Run("app owns the factory: attach only", func(t *testing.T) {
		apk, asHost, _ := fresh(t)
		rc.take()
		r := w.run(t, harness.Options{APK: apk, URL: api.URL + "/plain", AppURLHandlerFactory: true,
			AttestedURL: api.URL + "/attached"})
		if r.Status != 200 || r.AttestedStatus != 200 {
			t.Fatalf("status %d/%d errors %q %q\n%s", r.Status, r.AttestedStatus, r.Error, r.AttestedError, r.Stderr)
		}
		want := []seen{
			{apiHost + " /plain", ""},
			{asHost + " /v1/challenge", ""}, {asHost + " /v1/attest", ""},
			{apiHost + " /attached", "tok-1"},
		}
		if got := rc.take(); !slices.Equal(got, want) {
			t.Errorf("server saw\n%q\nwant\n%q", got, want)
		}
		if !strings.Contains(r.Stderr, "URL handler factory is already set") {
			t.Errorf("no fallback log:\n%s", r.Stderr)
		}
	})

	t.Run("no token: request goes without the header", func(t *testing.T) {
		_, _, p := fresh(t)
		rc.take()
		// No attestation key in the vault: token() fails at once.
		r := w.run(t, harness.Options{APK: w.apk(t, p, w.rsaClient, nil), URL: api.URL + "/auto"})
		if r.Status != 200 {
			t.Fatalf("status %d error %q\n%s", r.Status, r.Error, r.Stderr)
		}
		if got, want := rc.take(), []seen{{apiHost + " /auto", ""}}; !slices.Equal(got, want) {
			t.Errorf("server saw %q, want %q", got, want)
		}
		if !strings.Contains(r.Stderr, "sent without it") {
			t.Errorf("no log of the missing token:\n%s", r.Stderr)
		}
	})
}

// TestAttestTokenLifetime checks that the token is cached for 3/4 of the
// lifetime the server gives (expiresAt), not the policy's 5 minutes: with
// expiresAt 2 s ahead, token() 2 s later fetches a new token; with an
// expiresAt an hour ahead (fractional-second form), the cached one is kept.
func TestAttestTokenLifetime(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name    string
		expires func() string
		renewed bool
	}{
		{"expires in 2 s", func() string { return time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339) }, true},
		{"expires in 1 h", func() string { return time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := &recorder{}
			as := attestServer(t, rc, tc.expires, nil)
			p, key := w.attestPolicy(as.URL)
			id := w.rsaClient
			id.AttestKey = key
			// The main request is refused at once and not to a protected
			// host, so the first token is fetched by Attest.token() itself.
			r := w.run(t, harness.Options{APK: w.apk(t, p, id, nil), Attest: true, TokenAgainAfter: 2 * time.Second,
				URL: "https://localhost:1/"})
			if r.Token != "tok-1" || !r.TokenCached {
				t.Fatalf("token %q cached %v error %q\n%s", r.Token, r.TokenCached, r.AttestError, r.Stderr)
			}
			want := "tok-1"
			if tc.renewed {
				want = "tok-2"
			}
			if r.TokenLater != want {
				t.Errorf("token() after 2 s = %q, want %q", r.TokenLater, want)
			}
		})
	}
}

// TestKeyAttestation checks the Android Key Attestation chain in the attest
// request: with attest.keyAttestation optional or required on API 24+, the
// runtime generates a key in the (harness's) AndroidKeyStore with the
// nonce as the attestation challenge and sends the chain the mint issued,
// leaf first; with off, or on API 23, no key is made and no chain is sent.
func TestKeyAttestation(t *testing.T) {
	w := newWorld(t)
	mint := newKeyMint(t)
	var (
		mu   sync.Mutex
		sent []string // keyAttestationChain of the last attest request
	)
	check := func(req attest.AttestRequest, nonce []byte) error {
		mu.Lock()
		defer mu.Unlock()
		sent = req.KeyAttestationChain
		if len(sent) == 0 {
			return nil
		}
		_, err := mint.check(sent, nonce)
		return err
	}
	rc := &recorder{}
	as := attestServer(t, rc, farFuture, check)

	tests := []struct {
		mode  string
		sdk   string
		chain bool
	}{
		{attest.KeyAttestationRequired, "34", true},
		{attest.KeyAttestationOptional, "24", true},
		{attest.KeyAttestationOff, "34", false},
		{attest.KeyAttestationRequired, "23", false},
	}
	for _, tc := range tests {
		t.Run(tc.mode+"/sdk"+tc.sdk, func(t *testing.T) {
			mu.Lock()
			sent = nil
			mu.Unlock()
			minted := mint.count()
			p, key := w.attestPolicy(as.URL)
			p.KeyAttestation = tc.mode
			id := w.rsaClient
			id.AttestKey = key
			r := w.run(t, harness.Options{APK: w.apk(t, p, id, nil), Attest: true, KeyAttestMintURL: mint.srv.URL + "/mint",
				URL: "https://localhost:1/", Props: map[string]string{"harness.build.sdk": tc.sdk}})
			if r.Token == "" || r.AttestError != "" {
				t.Fatalf("token %q error %q\n%s", r.Token, r.AttestError, r.Stderr)
			}
			mu.Lock()
			defer mu.Unlock()
			mints := mint.count() - minted
			if tc.chain {
				if len(sent) != 2 || mints != 1 {
					t.Errorf("chain of %d sent after %d mints, want 2 after 1\n%s", len(sent), mints, r.Stderr)
				}
				// The mint (on a protected host) was called while the
				// token was being fetched: no header, no recursion.
				if tok := mint.lastToken(); tok != "" {
					t.Errorf("mint request carried token %q", tok)
				}
			} else if len(sent) != 0 || mints != 0 {
				t.Errorf("mode %s sdk %s: chain %q sent, %d keys minted; want none", tc.mode, tc.sdk, sent, mints)
			}
		})
	}
}

// TestAttestDexMeasured checks that the app's dex digests are measured, not
// asserted: a package whose classes.dex and classes3.dex differ from the
// release measurement in its policy is attested with the SHA-256 of the
// entries it holds (the stand-in serve verifies the proof over the JSON it
// received, re-canonicalized), entries outside the exact classes[N].dex
// pattern are ignored and the runtime's own dex is not taken for an app dex;
// a package holding a dex the measurement does not list, or lacking one it
// lists, is not attested at all (no request reaches the stand-in) and the
// runtime logs why.
func TestAttestDexMeasured(t *testing.T) {
	w := newWorld(t)
	var (
		mu   sync.Mutex
		sent *attest.AttestRequest
	)
	key := []byte("0123456789abcdef0123456789abcdef")
	check := func(req attest.AttestRequest, nonce []byte) error {
		mu.Lock()
		defer mu.Unlock()
		sent = &req
		want := base64.RawURLEncoding.EncodeToString(attest.Proof(key, nonce, req.Measurement.Sum()))
		if req.Proof != want {
			return fmt.Errorf("proof %s is not over the measurement sent (want %s)", req.Proof, want)
		}
		return nil
	}
	rc := &recorder{}
	as := attestServer(t, rc, farFuture, check)
	asHost := strings.TrimPrefix(as.URL, "http://")
	api := w.mtlsServer(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rc.add(r)
		fmt.Fprint(rw, "api")
	}))
	apiHost := strings.TrimPrefix(api.URL, "https://")
	// release is a policy whose measurement lists classes.dex and
	// classes3.dex with the release's digests. Tamper is in detect mode: the
	// on-device dex check fires an event but lets the runtime attest, so
	// what the server sees is the only verdict.
	release := func() (*androidrt.Policy, attest.Measurement) {
		p, k := w.attestPolicy(as.URL)
		if !bytes.Equal(k, key) {
			t.Fatal("attestPolicy key changed")
		}
		var m attest.Measurement
		if err := json.Unmarshal([]byte(p.AttestMeasurement), &m); err != nil {
			t.Fatal(err)
		}
		m.DexDigests["classes3.dex"] = digestHex([]byte("release classes3.dex"))
		p.AttestMeasurement = string(m.Canonical())
		p.Threats[androidrt.ThreatTamper] = androidrt.ThreatPolicy{Mode: androidrt.ModeDetect, Score: 100}
		return p, m
	}
	id := w.rsaClient
	id.AttestKey = key

	t.Run("dex differs from the release", func(t *testing.T) {
		p, m := release()
		apk := w.apk(t, p, id, func(_, dex *[]byte) { (*dex)[20] ^= 1 })
		apk = withEntries(t, apk,
			testenv.ZipFile{Name: "classes3.dex", Data: []byte("installed classes3.dex")},
			// not ART's names for app code: ignored (else "unexpected dex")
			testenv.ZipFile{Name: "classes1.dex", Data: []byte("x")}, testenv.ZipFile{Name: "classes02.dex", Data: []byte("x")},
			testenv.ZipFile{Name: "classesX.dex", Data: []byte("x")}, testenv.ZipFile{Name: "assets/classes9.dex", Data: []byte("x")})
		mu.Lock()
		sent = nil
		mu.Unlock()
		rc.take()
		r := w.run(t, harness.Options{APK: apk, Attest: true, URL: "https://localhost:1/"})
		if r.Token != "tok-1" || r.AttestError != "" {
			t.Fatalf("token %q error %q\n%s", r.Token, r.AttestError, r.Stderr)
		}
		mu.Lock()
		defer mu.Unlock()
		want := m
		want.DexDigests = map[string]string{
			"classes.dex":  digestHex(testenv.ZipEntry(t, apk, "classes.dex")),
			"classes3.dex": digestHex(testenv.ZipEntry(t, apk, "classes3.dex")),
		}
		if want.DexDigests["classes.dex"] == m.DexDigests["classes.dex"] || want.DexDigests["classes3.dex"] == m.DexDigests["classes3.dex"] {
			t.Fatal("the package's dex files equal the release's: nothing tested")
		}
		if sent == nil || !bytes.Equal(sent.Measurement.Canonical(), want.Canonical()) {
			t.Fatalf("measurement sent\n%+v\nwant the package's digests\n%s\n%s", sent, want.Canonical(), r.Stderr)
		}
		if got := rc.take(); len(got) != 2 || got[1].Path != asHost+" /v1/attest" {
			t.Errorf("stand-in saw %q", got)
		}
	})

	t.Run("dex the release does not know", func(t *testing.T) {
		p, _ := release()
		apk := withEntries(t, w.apk(t, p, id, nil),
			testenv.ZipFile{Name: "classes3.dex", Data: []byte("release classes3.dex")},
			testenv.ZipFile{Name: "classes9.dex", Data: []byte("dex\n035\x00 added after fusing")})
		rc.take()
		// The request to the protected host asks for a token (URL handler
		// factory), which fails: it goes without one, and Attest.token() fails too.
		r := w.run(t, harness.Options{APK: apk, Attest: true, URL: api.URL + "/auto"})
		if r.Status != 200 {
			t.Fatalf("status %d error %q\n%s", r.Status, r.Error, r.Stderr)
		}
		if got, want := rc.take(), []seen{{apiHost + " /auto", ""}}; !slices.Equal(got, want) {
			t.Errorf("servers saw %q, want %q (no challenge, no attest)", got, want)
		}
		if r.Token != "" || !strings.Contains(r.AttestError, "trustfuse: unexpected dex classes9.dex") {
			t.Errorf("token %q error %q", r.Token, r.AttestError)
		}
		if !strings.Contains(r.Stderr, "unexpected dex classes9.dex") {
			t.Errorf("the runtime did not log the unexpected dex:\n%s", r.Stderr)
		}
	})

	t.Run("dex the package lacks", func(t *testing.T) {
		// The measurement lists classes3.dex; the package has only
		// classes.dex (as released) and the runtime's classes2.dex.
		p, _ := release()
		rc.take()
		r := w.run(t, harness.Options{APK: w.apk(t, p, id, nil), Attest: true, URL: "https://localhost:1/"})
		if got := rc.take(); len(got) != 0 {
			t.Errorf("stand-in saw %q, want nothing", got)
		}
		if r.Token != "" || !strings.Contains(r.AttestError, "dex the measurement lists is missing") {
			t.Errorf("token %q error %q", r.Token, r.AttestError)
		}
	})
}

// withEntries returns a copy of the package at apk with extra entries
// appended (after the sealing and the policy: they change neither).
func withEntries(t *testing.T, apk string, extra ...testenv.ZipFile) string {
	t.Helper()
	out := strings.TrimSuffix(apk, ".apk") + "-extra.apk"
	testenv.RewriteZip(t, apk, out, nil, extra...)
	return out
}
