package attest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// TestRedisReplayShared: two serve instances sharing a real Redis (and the
// nonce key and registry) refuse at one a nonce already used at the other;
// the Redis key expires with the nonce.
func TestRedisReplayShared(t *testing.T) {
	url := testenv.Redis(t)
	newReplay := func() *RedisReplay {
		r, err := NewRedisReplay(url, "tf:", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	a := newFixture(t, true, newReplay(), "")
	b := newFixture(t, true, newReplay(), "")
	nonce := a.challenge(t)
	body := request(t, nonce, testMeasurement, testMeasurement, testAttestKey)
	if w := do(a.h, "POST", "/v1/attest", "application/json", body); w.Code != 200 {
		t.Fatalf("first use at A: %d %s", w.Code, w.Body)
	}
	w := do(b.h, "POST", "/v1/attest", "application/json", body)
	if w.Code != 403 || !strings.Contains(w.Body.String(), reasonNonceReplay) {
		t.Fatalf("replay at B: %d %s", w.Code, w.Body)
	}
	// A fresh nonce from A is accepted at B.
	if w := do(b.h, "POST", "/v1/attest", "application/json", request(t, a.challenge(t), testMeasurement, testMeasurement, testAttestKey)); w.Code != 200 {
		t.Fatalf("fresh nonce at B: %d %s", w.Code, w.Body)
	}
	// The key carries a TTL (PX), so Redis forgets nonces once they expire.
	r := newReplay()
	probe := NonceID{0xab, 0xcd}
	ok, err := r.Use(context.Background(), probe, time.Now().Add(300*time.Millisecond))
	if err != nil || !ok {
		t.Fatalf("use: %v %v", ok, err)
	}
	ttl, err := r.client.PTTL(context.Background(), "tf:nonce:abcd"+strings.Repeat("00", nonceBodyLen-2)).Result()
	if err != nil || ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("pttl %v %v", ttl, err)
	}
}

// TestMemoryReplayBounded: the memory cache refuses a second use, forgets
// expired ids, and fails closed when full of unexpired ones.
func TestMemoryReplayBounded(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	m := NewMemoryReplay(2, clk.now)
	ctx := context.Background()
	use := func(id byte, ttl time.Duration) (bool, error) { return m.Use(ctx, NonceID{id}, clk.t.Add(ttl)) }
	if ok, _ := use('a', time.Second); !ok {
		t.Fatal("a not fresh")
	}
	if ok, _ := use('a', time.Second); ok {
		t.Fatal("a reused")
	}
	if ok, _ := use('b', time.Minute); !ok {
		t.Fatal("b not fresh")
	}
	if _, err := use('c', time.Minute); err != ErrReplayCacheFull {
		t.Fatalf("full: %v", err)
	}
	clk.t = clk.t.Add(2 * time.Second) // a expired: purged to make room
	if ok, err := use('c', time.Minute); !ok || err != nil || m.Len() != 2 {
		t.Fatalf("after expiry: %v %v len %d", ok, err, m.Len())
	}
}

// TestMemoryReplayExpiry: an id is refused until the instant it expires
// (to the nanosecond, whatever the second buckets), fresh again after, and
// an id used again with a later expiry outlives its first bucket.
func TestMemoryReplayExpiry(t *testing.T) {
	ctx := context.Background()
	base := time.Unix(2000, 0)
	type step struct {
		at    time.Duration // clock, after base
		id    byte
		until time.Duration // after base
		fresh bool
		held  int // ids held after the step
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"refused until the expiry instant", []step{
			{0, 'a', 1500 * time.Millisecond, true, 1},
			{1499 * time.Millisecond, 'a', 3 * time.Second, false, 1},
			{1500 * time.Millisecond, 'a', 3 * time.Second, true, 1},
			{2999 * time.Millisecond, 'a', 5 * time.Second, false, 1},
		}},
		{"used again after expiry, kept past its first bucket", []step{
			{0, 'a', 500 * time.Millisecond, true, 1},
			{600 * time.Millisecond, 'a', 10 * time.Second, true, 1},
			{5 * time.Second, 'b', 6 * time.Second, true, 2}, // the first bucket (second 1) is purged here
			{5 * time.Second, 'a', 20 * time.Second, false, 2},
			{10 * time.Second, 'c', 11 * time.Second, true, 1}, // a (10 s) and b gone, c in
		}},
		{"expiry on a whole second", []step{
			{0, 'a', 2 * time.Second, true, 1},
			{1999 * time.Millisecond, 'a', 4 * time.Second, false, 1},
			{2 * time.Second, 'b', 4 * time.Second, true, 1}, // a purged with its bucket
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: base}
			m := NewMemoryReplay(10, clk.now)
			for i, s := range tc.steps {
				clk.t = base.Add(s.at)
				fresh, err := m.Use(ctx, NonceID{s.id}, base.Add(s.until))
				if err != nil || fresh != s.fresh || m.Len() != s.held {
					t.Fatalf("step %d %+v: fresh %v err %v held %d", i, s, fresh, err, m.Len())
				}
			}
		})
	}
}

// TestMemoryReplaySustained: at a steady rate a cache sized for rate ×
// lifetime (plus the second a bucket waits) never fills, however long the
// run: expired ids leave without a scan of the whole cache.
func TestMemoryReplaySustained(t *testing.T) {
	const (
		perSecond = 1000
		life      = 3 * time.Second
		run       = 60 * time.Second
	)
	clk := &clock{t: time.Unix(3000, 0)}
	m := NewMemoryReplay(perSecond*(4+1), clk.now) // 3 s lifetime + up to 1 s in a bucket + 1 s slack
	ctx := context.Background()
	most := 0
	for i := range int(run.Seconds()) * perSecond {
		clk.t = clk.t.Add(time.Second / perSecond)
		var id NonceID
		binary.BigEndian.PutUint64(id[:], uint64(i))
		if fresh, err := m.Use(ctx, id, clk.t.Add(life)); !fresh || err != nil {
			t.Fatalf("use %d at %v: %v %v (held %d)", i, clk.t, fresh, err, m.Len())
		}
		most = max(most, m.Len())
	}
	if want := perSecond * 4; most > want {
		t.Errorf("held up to %d ids, want at most %d", most, want)
	}
	t.Logf("held at most %d ids at %d/s with a %v lifetime", most, perSecond, life)
}

// TestMemoryReplayFootprint: the heap a cache of 1 Mi ids takes, which the
// type's documentation states (about 105 MiB).
func TestMemoryReplayFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 1 Mi ids")
	}
	const n = 1 << 20
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	clk := &clock{t: time.Unix(4000, 0)}
	before := heap()
	m := NewMemoryReplay(n, clk.now)
	ctx := context.Background()
	for i := range n {
		var id NonceID
		binary.BigEndian.PutUint64(id[:], uint64(i)*0x9e3779b97f4a7c15)
		// Spread over two minutes of expiries, as nonces are.
		if fresh, err := m.Use(ctx, id, clk.t.Add(time.Duration(i%120)*time.Second+time.Minute)); !fresh || err != nil {
			t.Fatalf("use %d: %v %v", i, fresh, err)
		}
	}
	after := heap()
	mib := float64(after-before) / (1 << 20)
	t.Logf("%d ids: %.1f MiB (%.0f bytes each)", m.Len(), mib, float64(after-before)/n)
	if mib > 120 {
		t.Errorf("1 Mi ids take %.1f MiB, documented as about 105", mib)
	}
	runtime.KeepAlive(m)
}

// TestMalformedRequests: wrong content type, bad or unknown JSON, trailing
// data and oversized bodies are refused with a bounded answer, and the
// server keeps serving.
func TestMalformedRequests(t *testing.T) {
	f := newFixture(t, false, nil, "")
	big := append([]byte(`{"nonce":"`), bytes.Repeat([]byte("A"), MaxBodyBytes+10)...)
	big = append(big, `"}`...)
	cases := []struct {
		name, path, ctype string
		body              []byte
		code              int
	}{
		{"text/plain", "/v1/attest", "text/plain", []byte(`{}`), 415},
		{"no content type", "/v1/attest", "", []byte(`{}`), 415},
		{"bad json", "/v1/attest", "application/json", []byte(`{"nonce":`), 400},
		{"unknown field", "/v1/attest", "application/json", []byte(`{"nonse":"x"}`), 400},
		{"trailing data", "/v1/attest", "application/json", []byte(`{} {}`), 400},
		{"oversized", "/v1/attest", "application/json", big, 413},
		{"challenge with garbage", "/v1/challenge", "application/json", []byte(`[`), 400},
		{"challenge empty json", "/v1/challenge", "application/json; charset=utf-8", nil, 200},
		{"GET attest", "/v1/attest", "", nil, 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if strings.HasPrefix(tc.name, "GET") {
				method = "GET"
			}
			if w := do(f.h, method, tc.path, tc.ctype, tc.body); w.Code != tc.code {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, tc.code)
			}
		})
	}
	if w := do(f.h, "GET", "/healthz", "", nil); w.Code != 200 || w.Body.String() != "ok\n" {
		t.Fatalf("healthz %d %q", w.Code, w.Body)
	}
}

// TestMetrics: /metrics parses with the Prometheus text parser and counts
// the requests, verdicts and latencies just made.
func TestMetrics(t *testing.T) {
	f := newFixture(t, true, nil, "")
	ok := request(t, f.challenge(t), testMeasurement, testMeasurement, testAttestKey)
	do(f.h, "POST", "/v1/attest", "application/json", ok)
	do(f.h, "POST", "/v1/attest", "application/json", ok) // replay
	get := scrape(t, f.h)
	checks := []struct {
		fam    string
		labels map[string]string
		want   float64
	}{
		{"trustfuse_attest_requests_total", map[string]string{"endpoint": "challenge", "code": "200"}, 1},
		{"trustfuse_attest_requests_total", map[string]string{"endpoint": "attest", "code": "200"}, 1},
		{"trustfuse_attest_requests_total", map[string]string{"endpoint": "attest", "code": "403"}, 1},
		{"trustfuse_attest_verdicts_total", map[string]string{"verdict": "ok"}, 1},
		{"trustfuse_attest_verdicts_total", map[string]string{"verdict": reasonNonceReplay}, 1},
		{"trustfuse_attest_request_duration_seconds", map[string]string{"endpoint": "attest"}, 2},
	}
	for _, c := range checks {
		if got := get(c.fam, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.fam, c.labels, got, c.want)
		}
	}
}

// TestSlowloris: a client sending its headers a byte at a time is cut off
// after ReadHeaderTimeout, and other clients are served meanwhile.
func TestSlowloris(t *testing.T) {
	f := newFixture(t, false, nil, "")
	hs := NewHTTPServer("127.0.0.1:0", f.h)
	hs.ReadHeaderTimeout = 500 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes
		closed <- time.Since(start)
	}()
	go func() {
		msg := "POST /v1/challenge HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100)
		for i := 0; i < len(msg); i++ {
			if _, err := conn.Write([]byte{msg[i]}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// Others are served while the slow client dribbles.
	time.Sleep(200 * time.Millisecond)
	resp, err := http.Get("http://" + l.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz during slowloris: %v", err)
	}
	resp.Body.Close()
	select {
	case d := <-closed:
		if d < 400*time.Millisecond || d > 2*time.Second {
			t.Fatalf("slow connection closed after %v, want ~500ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow connection still open after 5s")
	}
	resp, err = http.Get("http://" + l.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after slowloris: %v", err)
	}
	body, _ := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if body != "ok\n" {
		t.Fatalf("healthz body %q", body)
	}
}

// FuzzNonceParse: arbitrary input never panics and is accepted only if it
// is a nonce this server issued.
func FuzzNonceParse(f *testing.F) {
	n, _ := NewNonces(bytes.Repeat([]byte{1}, 32), time.Minute, bytes.NewReader(bytes.Repeat([]byte{2}, 64)))
	now := time.Unix(1_800_000_000, 0)
	good, _, _ := n.Issue(now)
	f.Add(good)
	f.Add("")
	f.Add(strings.Repeat("A", 75))
	f.Fuzz(func(t *testing.T, s string) {
		if _, _, err := n.Parse(s, now); err == nil && s != good {
			t.Fatalf("accepted %q", s)
		}
	})
}

// BenchmarkAttest measures the /v1/attest handler in-process (challenge +
// attest, memory replay cache, bbolt registry opened per lookup).
func BenchmarkAttest(b *testing.B) {
	f := newFixture(b, false, NewMemoryReplay(1<<20, nil), "")
	f.clk.t = time.Now()
	for b.Loop() {
		body := request(b, f.challenge(b), testMeasurement, testMeasurement, testAttestKey)
		if w := do(f.h, "POST", "/v1/attest", "application/json", body); w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// TestConfirmationClaim: a client presenting a TLS client certificate gets
// a token bound to it (cnf x5t#S256 = base64url SHA-256 of the cert DER).
func TestConfirmationClaim(t *testing.T) {
	f := newFixture(t, true, nil, "")
	ts := httptest.NewUnstartedServer(f.h)
	ts.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	ts.StartTLS()
	defer ts.Close()
	ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ck.Public(), ck)
	if err != nil {
		t.Fatal(err)
	}
	client := ts.Client()
	client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: ck}}
	body := request(t, f.challenge(t), testMeasurement, testMeasurement, testAttestKey)
	resp, err := client.Post(ts.URL+"/v1/attest", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ar AttestResponse
	if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(ar.Token, ".")[1])
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if got, want := c.Confirm["x5t#S256"], base64.RawURLEncoding.EncodeToString(sum[:]); got != want {
		t.Fatalf("cnf %q, want %q", got, want)
	}
}

// BenchmarkLookup measures one registry lookup: bbolt (the file re-read
// when it changes, AES-GCM opened once per read) and PostgreSQL (a cached
// entry, re-read every PGCacheTTL), the registry's share of an attestation.
func BenchmarkLookup(b *testing.B) {
	key := bytes.Repeat([]byte{9}, 32)
	registries := []struct {
		name string
		open func(b *testing.B) Registry
	}{
		{"bbolt", func(b *testing.B) Registry { return newFixture(b, false, nil, "").reg }},
		{"postgres", func(b *testing.B) Registry {
			r, err := OpenRegistry(testenv.Postgres(b).URL, key, true)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { r.Close() })
			if _, _, err := r.Add(Registration{Measurement: testMeasurement, AttestKey: testAttestKey}, Event{At: time.Now()}); err != nil {
				b.Fatal(err)
			}
			return r
		}},
	}
	id := testMeasurement.SHA256()
	for _, rc := range registries {
		b.Run(rc.name, func(b *testing.B) {
			reg := rc.open(b)
			for b.Loop() {
				if _, err := reg.Lookup(context.Background(), id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestReplayCacheDown: when Redis cannot be reached, attestations fail
// closed with 503 (no token, not even an opaque one) and the server stays up.
func TestReplayCacheDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	r, err := NewRedisReplay("redis://"+addr+"/0", "tf:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f := newFixture(t, false, r, "")
	w := do(f.h, "POST", "/v1/attest", "application/json", request(t, f.challenge(t), testMeasurement, testMeasurement, testAttestKey))
	if w.Code != 503 || strings.Contains(w.Body.String(), "token") {
		t.Fatalf("got %d %s, want 503", w.Code, w.Body)
	}
	if w := do(f.h, "GET", "/healthz", "", nil); w.Code != 200 {
		t.Fatalf("healthz %d", w.Code)
	}
}

// TestResponseEncoding: the challenge and attest answers, encoded without
// reflection, are byte for byte what encoding/json writes for the same
// values (and a newline), one case per class of string and time.
func TestResponseEncoding(t *testing.T) {
	exp := time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)
	nonce := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff, 0x01}, 19))
	cases := []struct {
		name string
		str  string
		at   time.Time
		code int
	}{
		{"base64url nonce, whole second", nonce, exp, 200},
		{"compact JWS", "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl", exp, 200},
		{"empty string", "", exp, 200},
		{"nanoseconds", nonce, exp.Add(123456789), 200},
		{"trailing zero nanoseconds", nonce, exp.Add(120 * time.Millisecond), 200},
		{"zero time", nonce, time.Time{}, 200},
		{"JSON and HTML escapes", "a\"b\\c<d>&e\u2028f\x01g", exp, 200},
		{"non-ASCII", "nonce-é", exp, 200},
		{"offset zone", nonce, exp.In(time.FixedZone("X", 3600+30*60)), 200},
		{"zero offset, not UTC", nonce, exp.In(time.FixedZone("GMT", 0)), 200},
		{"year beyond 9999", nonce, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), 500},
		{"negative year", nonce, time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), 500},
	}
	for _, tc := range cases {
		for _, v := range []any{ChallengeResponse{Nonce: tc.str, ExpiresAt: tc.at}, AttestResponse{Token: tc.str, ExpiresAt: tc.at}} {
			t.Run(tc.name+"/"+strings.TrimPrefix(strings.TrimPrefix(fmt.Sprintf("%T", v), "attest."), "Response"), func(t *testing.T) {
				rec := httptest.NewRecorder()
				writeJSON(rec, 200, v)
				want, err := json.Marshal(v)
				if err != nil {
					want = []byte(`{"error":"internal error"}`)
				}
				want = append(want, '\n')
				if rec.Code != tc.code || !bytes.Equal(rec.Body.Bytes(), want) {
					t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body.Bytes(), tc.code, want)
				}
				if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(len(want)) {
					t.Errorf("Content-Length %s, want %d", cl, len(want))
				}
			})
		}
	}
}

// TestClaimsEncoding: the token claims, encoded without reflection, are
// byte for byte what encoding/json writes, one case per class of claims;
// claims the fast path leaves to encoding/json say so.
func TestClaimsEncoding(t *testing.T) {
	base := Claims{Issuer: "https://attest.example:8443/v1", Subject: strings.Repeat("ab", 32), Audience: "api.example",
		IssuedAt: 1796549400, Expiry: 1796549700, Package: "com.example.app", Version: 42,
		Release: strings.Repeat("0f", 32), Threats: []string{},
		Confirm: map[string]string{"x5t#S256": "q1w2e3r4t5y6u7i8o9p0-_"}}
	with := func(f func(*Claims)) Claims { c := base; f(&c); return c }
	cases := []struct {
		name string
		c    Claims
		fast bool
	}{
		{"typical", base, true},
		{"nil threats, no cnf", with(func(c *Claims) { c.Threats, c.Confirm = nil, nil }), true},
		{"threats", with(func(c *Claims) { c.Threats = []string{"root", "debugger", ""} }), true},
		{"empty cnf map", with(func(c *Claims) { c.Confirm = map[string]string{} }), true},
		{"key and app attestation", with(func(c *Claims) { c.KeyAttestation, c.AppAttest = "strongbox", "production" }), true},
		{"negative and zero numbers", with(func(c *Claims) { c.IssuedAt, c.Expiry, c.Version = -1, 0, -9223372036854775808 }), true},
		{"empty strings", Claims{}, true},
		{"JSON escapes", with(func(c *Claims) { c.Issuer = "a\"b\\c\x01" }), false},
		{"HTML escapes", with(func(c *Claims) { c.Package = "a<b>&c" }), false},
		{"non-ASCII and U+2028", with(func(c *Claims) { c.Audience = "é\u2028" }), false},
		{"invalid UTF-8 threat", with(func(c *Claims) { c.Threats = []string{"\xff"} }), false},
		{"escaped cnf value", with(func(c *Claims) { c.Confirm = map[string]string{"x5t#S256": "<"} }), false},
		{"two cnf entries", with(func(c *Claims) { c.Confirm = map[string]string{"b": "1", "a": "2"} }), false},
		{"DEL byte", with(func(c *Claims) { c.Release = "\x7f" }), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(&tc.c)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := appendClaimsJSON([]byte("prefix"), &tc.c)
			if ok != tc.fast {
				t.Fatalf("fast path %v, want %v", ok, tc.fast)
			}
			if ok && !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("got  %s\nwant prefix%s", got, want)
			}
			if !ok && string(got) != "prefix" {
				t.Errorf("refused fast path wrote %q", got)
			}
		})
	}
}
