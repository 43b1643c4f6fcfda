package main

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/pkg/attest"
)

// TestParseAnswer: parseAnswer accepts an answer, and returns its nonce or
// token, exactly when encoding/json decodes it into serve's response type
// with both members present; one case per class of answer.
func TestParseAnswer(t *testing.T) {
	const nonce = "AbC-_9xyzAbC-_9xyzAbC-_9xyzAbC-_9xyzAbC-_9xyzAbC-_9xyzAbC-_9xyzAbC-_9xyzAbC"
	const tok = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"
	cases := []struct {
		name, body string
		token      bool // an attest answer
	}{
		{"challenge as serve writes it", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T09:30:00Z"}` + "\n", false},
		{"attest as serve writes it", `{"token":"` + tok + `","expiresAt":"2026-12-06T09:30:00Z"}` + "\n", true},
		{"nanoseconds and an offset", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T09:30:00.5+01:00"}` + "\n", false},
		{"no newline", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T09:30:00Z"}`, false},
		{"members swapped", `{"expiresAt":"2026-12-06T09:30:00Z","token":"` + tok + `"}`, true},
		{"escaped string", `{"nonce":"a\u0062\/c","expiresAt":"2026-12-06T09:30:00Z"}`, false},
		{"spaces", `{ "token" : "` + tok + `" , "expiresAt" : "2026-12-06T09:30:00Z" }`, true},
		{"empty token", `{"token":"","expiresAt":"2026-12-06T09:30:00Z"}`, true},
		{"no expiresAt", `{"nonce":"` + nonce + `"}`, false},
		{"no token", `{"expiresAt":"2026-12-06T09:30:00Z"}`, true},
		{"other answer's member", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T09:30:00Z"}`, true},
		{"hour 24", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T24:00:00Z"}` + "\n", false},
		{"not a time", `{"token":"` + tok + `","expiresAt":"soon"}` + "\n", true},
		{"trailing data", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T09:30:00Z"}x`, false},
		{"truncated", `{"token":"` + tok + `","expiresAt":"2026-12-06T09:30:00Z"`, true},
		{"error answer", `{"error":"temporarily unavailable"}` + "\n", false},
		{"not JSON", "<html>", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			open := `{"nonce":"`
			if tc.token {
				open = `{"token":"`
			}
			got, err := parseAnswer([]byte(tc.body), open)
			// The oracle: encoding/json into serve's own response type, and
			// both members present.
			var want string
			var present map[string]json.RawMessage
			wantOK := json.Unmarshal([]byte(tc.body), &present) == nil
			if tc.token {
				var ar attest.AttestResponse
				wantOK = wantOK && json.Unmarshal([]byte(tc.body), &ar) == nil
				want = ar.Token
				_, has := present["token"]
				wantOK = wantOK && has
			} else {
				var cr attest.ChallengeResponse
				wantOK = wantOK && json.Unmarshal([]byte(tc.body), &cr) == nil
				want = cr.Nonce
				_, has := present["nonce"]
				wantOK = wantOK && has
			}
			_, has := present["expiresAt"]
			wantOK = wantOK && has
			if (err == nil) != wantOK || err == nil && string(got) != want {
				t.Errorf("parseAnswer = %q, %v; encoding/json: %q, ok %v", got, err, want, wantOK)
			}
			if err != nil && strings.Contains(tc.name, "serve writes") {
				t.Errorf("serve's own answer refused: %v", err)
			}
		})
	}
}

// TestSplitResponse: the incremental response parser returns n = 0 until
// the whole response is there, then its status, body and length, and
// refuses what the event loop cannot follow.
func TestSplitResponse(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello"
	cases := []struct {
		name, in string
		code     int
		body     string
		n        int // -1: all of in
		keep     bool
		err      string
	}{
		{"whole", ok, 200, "hello", -1, true, ""},
		{"headers only so far", ok[:40], 0, "", 0, false, ""},
		{"body cut short", ok[:len(ok)-1], 0, "", 0, false, ""},
		{"nothing yet", "", 0, "", 0, false, ""},
		{"reason phrase absent", "HTTP/1.1 403\r\nContent-Length: 0\r\n\r\n", 403, "", -1, true, ""},
		{"connection close, any case", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nConnection: Close\r\n\r\nhi", 200, "hi", -1, false, ""},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 0, "", 0, false, "without Content-Length"},
		{"no length", "HTTP/1.1 200 OK\r\n\r\n", 0, "", 0, false, "without Content-Length"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, "", 0, false, "malformed Content-Length"},
		{"too large", "HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n", 0, "", 0, false, "too large"},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, "", 0, false, "malformed status line"},
		{"status not a number", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", 0, "", 0, false, "malformed status line"},
		{"header without colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", 0, "", 0, false, "malformed header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body, n, keep, err := splitResponse([]byte(tc.in))
			if tc.n < 0 {
				tc.n = len(tc.in)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || code != tc.code || string(body) != tc.body || n != tc.n || n > 0 && keep != tc.keep {
				t.Fatalf("= %d %q %d %v %v, want %d %q %d %v", code, body, n, keep, err, tc.code, tc.body, tc.n, tc.keep)
			}
		})
	}
}

// TestLeanPairs runs the event-loop client against serve's real handler
// behind a real HTTP server, over TLS and plain HTTP: every pair it counts
// is an attestation serve accepted (serve's own verdict counter is the
// oracle), the connections stay open, and a server that closes
// connections, refuses requests or answers garbage is counted as it
// should be, the client reconnecting.
func TestLeanPairs(t *testing.T) {
	dir := t.TempDir()
	release := filepath.Join(dir, "release.json")
	if err := cmdRelease([]string{"-out", release}); err != nil {
		t.Fatal(err)
	}
	reg, err := readRelease(release)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newInprocServer(reg, dir)
	if err != nil {
		t.Fatal(err)
	}
	verdictsOK := func(ts *httptest.Server) int {
		t.Helper()
		b, code, err := httpDo(ts.Client(), ts.URL)(http.MethodGet, "/metrics", nil)
		if err != nil || code != 200 {
			t.Fatalf("metrics: %d %v", code, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, `trustfuse_attest_verdicts_total{verdict="ok"} `); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		return 0
	}
	var attests atomic.Int64
	// misbehave wraps serve's handler: every nth attest answer is changed
	// by bad (n = 0: none).
	misbehave := func(n int64, bad func(w http.ResponseWriter) bool) http.Handler {
		h := srv.Handler()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/attest" && n > 0 && attests.Add(1)%n == 0 && bad(w) {
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	cases := []struct {
		name    string
		tls     bool
		every   int64
		bad     func(w http.ResponseWriter) bool
		errs    bool // attest errors expected
		redials bool // more dials than workers expected
	}{
		{"TLS", true, 0, nil, false, false},
		{"plain HTTP", false, 0, nil, false, false},
		{"Connection: close", true, 7, func(w http.ResponseWriter) bool { w.Header().Set("Connection", "close"); return false }, false, true},
		{"refusals", true, 5, func(w http.ResponseWriter) bool { http.Error(w, "no", http.StatusForbidden); return true }, true, true},
		{"garbage", false, 5, func(w http.ResponseWriter) bool { _, _ = w.Write([]byte("<html>")); return true }, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewUnstartedServer(misbehave(tc.every, tc.bad))
			if tc.tls {
				ts.StartTLS()
			} else {
				ts.Start()
			}
			defer ts.Close()
			a, err := newAttester(reg, httpDo(ts.Client(), ts.URL))
			if err != nil {
				t.Fatal(err)
			}
			var tc0 *tls.Config
			if tc.tls {
				tc0 = ts.Client().Transport.(*http.Transport).TLSClientConfig
			}
			var dials atomic.Int64
			lp, err := newLeanPairs(a, ts.URL, tc0, &dials)
			if err != nil {
				t.Fatal(err)
			}
			before := verdictsOK(ts)
			workers := []*leanWorker{lp.worker(0), lp.worker(1), lp.worker(2)}
			st, _ := runPairs(workers, 400*time.Millisecond, 1<<16)
			t.Logf("ok %v errors %v dials %d samples %v", st.ok, st.errs, dials.Load(), st.sample)
			accepted := verdictsOK(ts) - before
			switch {
			case st.ok["attest"] < 20:
				t.Errorf("%d pairs in 400 ms", st.ok["attest"])
			case st.ok["attest"] > accepted:
				t.Errorf("counted %d attestations, serve accepted %d", st.ok["attest"], accepted)
			case st.errs["challenge"] != 0 || st.errs["loop"] != 0:
				t.Errorf("errors %v: %v", st.errs, st.sample)
			case (st.errs["attest"] > 0) != tc.errs:
				t.Errorf("attest errors %d: %v", st.errs["attest"], st.sample)
			case (dials.Load() > int64(len(workers))) != tc.redials:
				t.Errorf("%d dials for %d workers", dials.Load(), len(workers))
			}
			// Accepted attestations the client did not count can only be
			// the requests in flight at the end, or answers it refused.
			if slack := int(st.errs["attest"]) + len(workers); accepted-st.ok["attest"] > slack {
				t.Errorf("serve accepted %d attestations, the client counted %d", accepted, st.ok["attest"])
			}
		})
	}
}
