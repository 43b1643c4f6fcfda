// Command loadgen is the load generator of scripts/bench-serve.sh (issue 7):
// it makes a release to register, serves a tiny upstream for `trustfuse
// guard`, and drives `trustfuse serve` (challenge + attest pairs, each with
// a real HMAC proof), serve's certificate issuance (challenge + certificate
// pairs, each with a Key Attestation chain minted under a test root) or
// guard (keep-alive requests with a token and a client certificate) from C
// workers for a bounded time, then prints requests/s, p50/p95/p99 latency
// and errors. It talks to 127.0.0.1 only. Not a test; not run in CI.
//
//	loadgen release  -out release.json [-identity -root-out root.pem -root-key-out root.key]
//	loadgen upstream -addr-file F [-for 15m]
//	loadgen attest   -url URL -release release.json [-c 32] [-d 10s] [TLS flags]
//	loadgen certificate -url URL -release release.json -root root.pem -root-key root.key [-c 32] [-d 10s] [TLS flags]
//	loadgen guard    -url URL -serve URL -release release.json [-c 32] [-d 10s] [TLS flags]
//	loadgen inproc   -release release.json [-c 8] [-d 5s] [-cpuprofile F]
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/pkg/attest"
)

func main() {
	// The generator shares the cores with the servers it measures: collect
	// as seldom as serve does (cmd/trustfuse serve.go), unless GOGC is set.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen release|upstream|attest|certificate|guard|inproc [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"release": cmdRelease, "upstream": cmdUpstream, "attest": cmdAttest, "guard": cmdGuard, "inproc": cmdInproc,
		"certificate": cmdCertificate,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "loadgen: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// cmdRelease writes a trustfuse-release/v1 export for a made-up release,
// its attestation key derived from a fresh P-256 client key as fuse does.
// With -identity the release is in attested identity mode (version code 8,
// so another release than the default's) and a fresh key attestation test
// root is written for serve's keyAttestation.roots and for the
// certificate command.
func cmdRelease(args []string) error {
	fs := flag.NewFlagSet("release", flag.ExitOnError)
	out := fs.String("out", "release.json", "export `FILE` to write (0600)")
	identity := fs.Bool("identity", false, "attested identity mode (TEE, verified boot, 24 h certificates)")
	rootOut := fs.String("root-out", "root.pem", "with -identity: key attestation test root certificate `FILE` (PEM)")
	rootKeyOut := fs.String("root-key-out", "root.key", "with -identity: its private key `FILE` (PEM, 0600)")
	_ = fs.Parse(args)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return err
	}
	digest := func(s string) string { d := make([]byte, 32); copy(d, s); return hex.EncodeToString(d) }
	m := attest.Measurement{
		Package: "com.example.bench", VersionCode: 7,
		SignerDigests:  []string{digest("signer")},
		DexDigests:     map[string]string{"classes.dex": digest("dex1"), "classes2.dex": digest("dex2")},
		RuntimeDigest:  digest("runtime"),
		ManifestDigest: digest("manifest"),
	}
	if *identity {
		m.VersionCode = 8
		root, err := keyattesttest.GenerateRoot("p256", "loadgen-attestation-root")
		if err != nil {
			return err
		}
		rk, err := x509.MarshalPKCS8PrivateKey(root.Key)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*rootKeyOut, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rk}), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(*rootOut, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Cert.Raw}), 0o644); err != nil {
			return err
		}
	}
	reg := attest.Registration{Format: attest.RegistrationFormat, ID: m.SHA256(), Measurement: m,
		AttestKey: attest.DeriveAttestKey(der, m.Sum())}
	if *identity {
		reg.Identity = &attest.IdentityPolicy{Mode: attest.IdentityAttested, ValiditySeconds: 86400,
			MinSecurityLevel: "tee", RequireVerifiedBoot: true}
	}
	b, err := json.MarshalIndent(reg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*out, append(b, '\n'), 0o600)
}

func readRelease(path string) (*attest.Registration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var reg attest.Registration
	if err := json.Unmarshal(b, &reg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &reg, nil
}

// cmdUpstream serves "ok\n" on 127.0.0.1 for the guard's --upstream and
// stops by itself after -for.
func cmdUpstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	addrFile := fs.String("addr-file", "", "`FILE` to write the bound address to")
	life := fs.Duration("for", 15*time.Minute, "stop after this long")
	_ = fs.Parse(args)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			return err
		}
	}
	var conns atomic.Int64
	srv := &http.Server{ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-TrustFuse-Package") == "" {
			http.Error(w, "no X-TrustFuse-Package", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})}
	time.AfterFunc(*life, func() { _ = srv.Close() })
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() { <-stop; _ = srv.Close() }()
	err = srv.Serve(ln)
	fmt.Fprintf(os.Stderr, "loadgen: upstream accepted %d connections\n", conns.Load())
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loadFlags are the flags shared by the load commands.
type loadFlags struct {
	conc              int
	dur               time.Duration
	release           string
	ca, cert, key     string
	maxSamples        int
	serveURL, baseURL string
	dials             atomic.Int64 // connections opened by client()
}

func (o *loadFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&o.conc, "c", 32, "concurrent workers (one keep-alive connection each)")
	fs.DurationVar(&o.dur, "d", 10*time.Second, "run time")
	fs.StringVar(&o.release, "release", "release.json", "release export `FILE` (measurement and attestation key)")
	fs.StringVar(&o.ca, "ca", "", "CA `FILE` (PEM) to trust for https URLs")
	fs.StringVar(&o.cert, "cert", "", "client certificate `FILE` (PEM)")
	fs.StringVar(&o.key, "key", "", "client key `FILE` (PEM)")
	fs.IntVar(&o.maxSamples, "max-samples", 4<<20, "latency samples kept per run")
}

// tlsConfig returns the TLS client configuration of o's flags.
func (o *loadFlags) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.ca != "" {
		b, err := os.ReadFile(o.ca)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s: no certificate", o.ca)
		}
	}
	if o.cert != "" {
		c, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return tc, nil
}

// client returns an HTTP/1.1 keep-alive client for 127.0.0.1 URLs.
func (o *loadFlags) client() (*http.Client, error) {
	tc, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			o.dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: tc, MaxIdleConns: o.conc * 2, MaxIdleConnsPerHost: o.conc * 2,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}

// loopback refuses URLs whose host is not 127.0.0.1 (the bench's network
// rule).
func loopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Hostname() != "127.0.0.1" {
		return fmt.Errorf("%s: only 127.0.0.1 is allowed", raw)
	}
	return nil
}

// stats gathers the outcome of a run.
type stats struct {
	mu     sync.Mutex
	lat    map[string][]time.Duration
	ok     map[string]int
	errs   map[string]int
	max    int
	sample []string // first error messages
}

func newStats(max int) *stats {
	return &stats{lat: map[string][]time.Duration{}, ok: map[string]int{}, errs: map[string]int{}, max: max}
}

// merge adds one worker's results.
func (s *stats) merge(w *worker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range w.lat {
		if room := s.max - len(s.lat[k]); room > 0 {
			s.lat[k] = append(s.lat[k], v[:min(len(v), room)]...)
		}
	}
	for k, n := range w.ok {
		s.ok[k] += n
	}
	for k, n := range w.errs {
		s.errs[k] += n
	}
	for _, e := range w.sample {
		if len(s.sample) < 5 {
			s.sample = append(s.sample, e)
		}
	}
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// print writes one line per endpoint: name, ok/s, p50, p95, p99, max, errors.
func (s *stats) print(scenario string, elapsed time.Duration, conc int) {
	names := make([]string, 0, len(s.ok))
	for k := range s.ok {
		names = append(names, k)
	}
	for k := range s.errs {
		if _, ok := s.ok[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		d := s.lat[k]
		slices.Sort(d)
		ms := func(x time.Duration) string { return strconv.FormatFloat(float64(x)/1e6, 'f', 2, 64) }
		fmt.Printf("%-8s %-10s c=%-3d %6.1fs %9.0f/s  p50 %6s ms  p95 %6s ms  p99 %6s ms  max %7s ms  errors %d  n %d\n",
			scenario, k, conc, elapsed.Seconds(), float64(s.ok[k])/elapsed.Seconds(),
			ms(pct(d, .50)), ms(pct(d, .95)), ms(pct(d, .99)), ms(pct(d, 1)), s.errs[k], s.ok[k])
	}
	for _, e := range s.sample {
		fmt.Printf("%-8s error: %s\n", scenario, e)
	}
}

// worker is one load loop's private counters.
type worker struct {
	lat    map[string][]time.Duration
	ok     map[string]int
	errs   map[string]int
	sample []string
}

func newWorker() *worker {
	return &worker{lat: map[string][]time.Duration{}, ok: map[string]int{}, errs: map[string]int{}}
}

func (w *worker) done(name string, start time.Time, err error) bool {
	if err != nil {
		w.errs[name]++
		if len(w.sample) < 2 {
			w.sample = append(w.sample, name+": "+err.Error())
		}
		return false
	}
	w.lat[name] = append(w.lat[name], time.Since(start))
	w.ok[name]++
	return true
}

// run starts conc workers calling step until d has passed.
func run(conc int, d time.Duration, max int, step func(w *worker, id int)) (*stats, time.Duration) {
	st := newStats(max)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range conc {
		wg.Go(func() {
			w := newWorker()
			for time.Now().Before(deadline) {
				step(w, i)
			}
			st.merge(w)
		})
	}
	wg.Wait()
	return st, time.Since(start)
}

// attester performs challenge + attest pairs for one release.
type attester struct {
	do      func(method, path string, body []byte) ([]byte, int, error)
	key     []byte
	sum     [32]byte
	fields  []byte // the measurement's JSON members, without braces
	wantKid string
}

func newAttester(reg *attest.Registration, do func(method, path string, body []byte) ([]byte, int, error)) (*attester, error) {
	m, err := json.Marshal(reg.Measurement)
	if err != nil {
		return nil, err
	}
	a := &attester{do: do, key: reg.AttestKey, sum: reg.Measurement.Sum(), fields: m[1 : len(m)-1]}
	b, code, err := do(http.MethodGet, "/.well-known/jwks.json", nil)
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("jwks: %d %v", code, err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) != 1 {
		return nil, fmt.Errorf("jwks: %v (%d keys)", err, len(set.Keys))
	}
	a.wantKid = set.Keys[0].Kid
	return a, nil
}

var errRefused = errors.New("token not signed by the JWKS key (attestation refused in opaque mode)")

// challenge returns a fresh nonce.
func (a *attester) challenge() (string, error) {
	b, code, err := a.do(http.MethodPost, "/v1/challenge", nil)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("challenge: HTTP %d: %.100s", code, b)
	}
	var cr attest.ChallengeResponse
	if err := json.Unmarshal(b, &cr); err != nil {
		return "", fmt.Errorf("challenge: %w", err)
	}
	return cr.Nonce, nil
}

// attest proves the release for nonce and returns the token, checking
// that it is signed by the published key: in opaque mode a refusal is a
// 200 too, with a token under a throwaway kid.
func (a *attester) attest(nonce, device string) (string, error) {
	body, err := a.body(nonce, device, nil)
	if err != nil {
		return "", err
	}
	b, code, err := a.do(http.MethodPost, "/v1/attest", body)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("attest: HTTP %d: %.100s", code, b)
	}
	var ar attest.AttestResponse
	if err := json.Unmarshal(b, &ar); err != nil {
		return "", fmt.Errorf("attest: %w", err)
	}
	return ar.Token, a.checkKid(ar.Token)
}

// body is the /v1/attest (or /v1/certificate) request proving the release
// for nonce, with a key attestation chain when chain is not nil.
func (a *attester) body(nonce, device string, chain [][]byte) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	proof := base64.RawURLEncoding.EncodeToString(attest.Proof(a.key, raw, a.sum))
	body := make([]byte, 0, 128+len(a.fields)+len(nonce)+len(proof))
	body = append(body, `{"nonce":"`...)
	body = append(body, nonce...)
	body = append(body, `","proof":"`...)
	body = append(body, proof...)
	body = append(body, `","deviceInfo":{"id":"`...)
	body = append(body, device...)
	body = append(body, `"},`...)
	if chain != nil {
		body = append(body, `"keyAttestationChain":[`...)
		for i, c := range chain {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, '"')
			body = base64.StdEncoding.AppendEncode(body, c)
			body = append(body, '"')
		}
		body = append(body, `],`...)
	}
	body = append(body, a.fields...)
	return append(body, '}'), nil
}

// checkKid returns errRefused unless tok is signed under the JWKS kid.
func (a *attester) checkKid(tok string) error {
	hdr, _, _ := strings.Cut(tok, ".")
	hb, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		return fmt.Errorf("token header: %w", err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &h); err != nil || h.Kid != a.wantKid {
		return errRefused
	}
	return nil
}

// httpDo returns a request function for base using client.
func httpDo(client *http.Client, base string) func(method, path string, body []byte) ([]byte, int, error) {
	return func(method, path string, body []byte) ([]byte, int, error) {
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			return nil, 0, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return b, resp.StatusCode, err
	}
}

// attester checks that serveURL is on loopback and returns the HTTP client
// of o and an attester for o's release against it.
func (o *loadFlags) attester(serveURL string) (*http.Client, *attester, error) {
	if err := loopback(serveURL); err != nil {
		return nil, nil, err
	}
	reg, err := readRelease(o.release)
	if err != nil {
		return nil, nil, err
	}
	client, err := o.client()
	if err != nil {
		return nil, nil, err
	}
	a, err := newAttester(reg, httpDo(client, serveURL))
	if err != nil {
		return nil, nil, err
	}
	return client, a, nil
}

// pair is one worker iteration of a run: a challenge, then an attestation
// for device id, each timed and counted.
func (a *attester) pair(w *worker, id int) {
	t := time.Now()
	nonce, err := a.challenge()
	if !w.done("challenge", t, err) {
		return
	}
	t = time.Now()
	_, err = a.attest(nonce, "device-"+strconv.Itoa(id))
	w.done("attest", t, err)
}

// cmdAttest runs challenge + attest pairs against serve, each worker on
// its own keep-alive connection, driven by an event loop per core
// (lean.go).
func cmdAttest(args []string) error {
	fs := flag.NewFlagSet("attest", flag.ExitOnError)
	var o loadFlags
	o.register(fs)
	fs.StringVar(&o.serveURL, "url", "", "serve's base `URL` (http(s)://127.0.0.1:PORT)")
	_ = fs.Parse(args)
	_, a, err := o.attester(o.serveURL)
	if err != nil {
		return err
	}
	tc, err := o.tlsConfig()
	if err != nil {
		return err
	}
	lp, err := newLeanPairs(a, o.serveURL, tc, &o.dials)
	if err != nil {
		return err
	}
	workers := make([]*leanWorker, o.conc)
	for i := range workers {
		workers[i] = lp.worker(i)
	}
	st, el := runPairs(workers, o.dur, o.maxSamples)
	st.print("serve", el, o.conc)
	fmt.Printf("serve    connections opened: %d\n", o.dials.Load())
	return nil
}

// cmdCertificate runs challenge + certificate pairs against serve: each
// worker has a P-256 device key; for each nonce it mints a Key Attestation
// chain for that key under the test root (through one intermediate: a leaf
// signature per request, the work a device's keystore does), asks for a
// certificate and checks it is for the device key and its token under the
// JWKS kid.
func cmdCertificate(args []string) error {
	fs := flag.NewFlagSet("certificate", flag.ExitOnError)
	var o loadFlags
	o.register(fs)
	fs.StringVar(&o.serveURL, "url", "", "serve's base `URL` (http(s)://127.0.0.1:PORT)")
	rootFile := fs.String("root", "root.pem", "key attestation test root `FILE` (PEM), from release -identity")
	rootKeyFile := fs.String("root-key", "root.key", "its private key `FILE` (PEM)")
	_ = fs.Parse(args)
	_, a, err := o.attester(o.serveURL)
	if err != nil {
		return err
	}
	reg, err := readRelease(o.release)
	if err != nil {
		return err
	}
	minter, err := loadMinter(*rootFile, *rootKeyFile)
	if err != nil {
		return err
	}
	var signers [][]byte
	for _, d := range reg.Measurement.SignerDigests {
		b, err := hex.DecodeString(d)
		if err != nil {
			return fmt.Errorf("%s: signer digest: %w", o.release, err)
		}
		signers = append(signers, b)
	}
	devices := make([]*ecdsa.PrivateKey, o.conc)
	for i := range devices {
		if devices[i], err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return err
		}
	}
	st, el := run(o.conc, o.dur, o.maxSamples, func(w *worker, id int) {
		t := time.Now()
		nonce, err := a.challenge()
		if !w.done("challenge", t, err) {
			return
		}
		raw, _ := base64.RawURLEncoding.DecodeString(nonce)
		chain, err := minter.Mint(devices[id].Public(), keyattesttest.GoodSpec(raw, reg.Measurement.Package, signers...))
		if err != nil {
			w.done("certificate", time.Now(), err)
			return
		}
		t = time.Now()
		w.done("certificate", t, a.certificate(nonce, "device-"+strconv.Itoa(id), chain, &devices[id].PublicKey))
	})
	st.print("serve", el, o.conc)
	return nil
}

// loadMinter reads the test root and its key.
func loadMinter(certFile, keyFile string) (*keyattesttest.Minter, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return nil, fmt.Errorf("%s, %s: not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", keyFile)
	}
	return keyattesttest.NewMinter(&keyattesttest.CA{Cert: cert, Key: key})
}

// certificate asks for a certificate for device's key and checks that it
// is for that key and its token under the JWKS kid.
func (a *attester) certificate(nonce, device string, chain [][]byte, pub *ecdsa.PublicKey) error {
	body, err := a.body(nonce, device, chain)
	if err != nil {
		return err
	}
	b, code, err := a.do(http.MethodPost, "/v1/certificate", body)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("certificate: HTTP %d: %.100s", code, b)
	}
	var cr attest.CertificateResponse
	if err := json.Unmarshal(b, &cr); err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	der, err := base64.StdEncoding.DecodeString(cr.Certificate)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	if !pub.Equal(c.PublicKey) {
		return errors.New("certificate: not for the device key")
	}
	return a.checkKid(cr.Token)
}

// cmdGuard gets one bound token from serve with the client certificate,
// then sends keep-alive GETs with it through guard.
func cmdGuard(args []string) error {
	fs := flag.NewFlagSet("guard", flag.ExitOnError)
	var o loadFlags
	o.register(fs)
	fs.StringVar(&o.baseURL, "url", "", "guard `URL` to GET (https://127.0.0.1:PORT/path)")
	fs.StringVar(&o.serveURL, "serve", "", "serve's base `URL`, for the token")
	header := fs.String("token-header", "TrustFuse-Token", "token `HEADER`")
	tokenOut := fs.String("token-out", "", "also write the token to `FILE` (for wrk)")
	_ = fs.Parse(args)
	if err := loopback(o.baseURL); err != nil {
		return err
	}
	client, a, err := o.attester(o.serveURL)
	if err != nil {
		return err
	}
	nonce, err := a.challenge()
	if err != nil {
		return err
	}
	tok, err := a.attest(nonce, "device-guard")
	if err != nil {
		return err
	}
	if *tokenOut != "" {
		if err := os.WriteFile(*tokenOut, []byte(tok+"\n"), 0o600); err != nil {
			return err
		}
	}
	st, el := run(o.conc, o.dur, o.maxSamples, func(w *worker, _ int) {
		t := time.Now()
		req, err := http.NewRequest(http.MethodGet, o.baseURL, nil)
		if err != nil {
			w.done("get", t, err)
			return
		}
		req.Header.Set(*header, tok)
		resp, err := client.Do(req)
		if err != nil {
			w.done("get", t, err)
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && (resp.StatusCode != http.StatusOK || string(b) != "ok\n") {
			err = fmt.Errorf("HTTP %d %q", resp.StatusCode, b)
		}
		w.done("get", t, err)
	})
	st.print("guard", el, o.conc)
	fmt.Printf("guard    connections opened: %d (1 of them to serve)\n", o.dials.Load())
	return nil
}

// newInprocServer returns a serve with random keys whose registry (in dir)
// holds reg.
func newInprocServer(reg *attest.Registration, dir string) (*attest.Server, error) {
	rk := make([]byte, 32)
	nk := make([]byte, 32)
	_, _ = rand.Read(rk)
	_, _ = rand.Read(nk)
	registry, err := attest.OpenRegistry(filepath.Join(dir, "reg.db"), rk, true)
	if err != nil {
		return nil, err
	}
	if _, _, err := registry.Add(*reg, attest.Event{At: time.Now()}); err != nil {
		return nil, err
	}
	sk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return attest.NewServer(attest.Config{Issuer: "https://attest.bench", Audience: "api.bench", TokenTTL: 5 * time.Minute,
		SigningKey: sk, NonceKey: nk, Registry: registry, Replay: attest.NewMemoryReplay(1<<20, nil)})
}

// cmdInproc runs challenge + attest pairs straight against serve's handler
// in this process (no sockets, no TLS; the generator's own work is in the
// same profile, under main.) and can write a CPU profile of it: where a
// verification's time goes inside serve's handler.
func cmdInproc(args []string) error {
	fs := flag.NewFlagSet("inproc", flag.ExitOnError)
	var o loadFlags
	o.register(fs)
	profile := fs.String("cpuprofile", "", "write a CPU profile to `FILE`")
	_ = fs.Parse(args)
	reg, err := readRelease(o.release)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "loadgen-inproc")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := newInprocServer(reg, dir)
	if err != nil {
		return err
	}
	h := srv.Handler()
	do := func(method, path string, body []byte) ([]byte, int, error) {
		var rd io.Reader = http.NoBody
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req := httptest.NewRequest(method, path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Body.Bytes(), rec.Code, nil
	}
	a, err := newAttester(reg, do)
	if err != nil {
		return err
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	st, el := run(o.conc, o.dur, o.maxSamples, a.pair)
	st.print("inproc", el, o.conc)
	return nil
}
