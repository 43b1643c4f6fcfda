package attest

import (
	"bytes"
	"context"
	"errors"
	"log"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pgDatabase creates a fresh database on the server and returns its URL.
func pgDatabase(t *testing.T, pg *testenv.PostgresServer, name string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return strings.Replace(pg.URL, "/postgres?", "/"+name+"?", 1)
}

// pgExec runs sql on the database at url (the test's independent access).
func pgExec(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}

// TestPGRegistryOpen: the schema is created by a creating open only,
// recorded in trustfuse_schema, re-opened without migrating again, refused
// when newer than the binary; the key check value is HMAC-SHA256(key,
// label) and another key is refused.
func TestPGRegistryOpen(t *testing.T) {
	pg := testenv.Postgres(t)
	key := bytes.Repeat([]byte{9}, 32)
	t.Run("missing registry", func(t *testing.T) {
		url := pgDatabase(t, pg, "empty")
		if _, err := OpenRegistry(url, key, false); !errors.Is(err, ErrNoRegistry) || !strings.Contains(err.Error(), "no registry at postgres://postgres@127.0.0.1:") {
			t.Fatalf("open without create: %v", err)
		}
	})
	url := pgDatabase(t, pg, "reg")
	r, err := OpenRegistry(url, key, true)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var versions, check []byte
	if err := conn.QueryRow(ctx, "SELECT string_agg(version::text || ':' || name, ',' ORDER BY version)::bytea FROM trustfuse_schema").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if string(versions) != "1:0001_registry.sql" {
		t.Fatalf("schema versions %s", versions)
	}
	if err := conn.QueryRow(ctx, "SELECT value FROM trustfuse_registry_meta WHERE name = 'keyCheck'").Scan(&check); err != nil || !bytes.Equal(check, keyCheck(key)) {
		t.Fatalf("key check value %x %v", check, err)
	}
	cases := []struct {
		name    string
		key     []byte
		create  bool
		wantErr error
	}{
		{"its key", key, false, nil},
		{"its key, creating", key, true, nil},
		{"another key", bytes.Repeat([]byte{8}, 32), false, ErrRegistryKey},
		{"another key, creating", bytes.Repeat([]byte{8}, 32), true, ErrRegistryKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := OpenRegistry(url, tc.key, tc.create)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("open: %v, want %v", err, tc.wantErr)
			}
			if err == nil {
				r.Close()
			}
		})
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM trustfuse_schema").Scan(&n); err != nil || n != 1 {
		t.Fatalf("migrated again: %d rows, %v", n, err)
	}
	t.Run("newer schema", func(t *testing.T) {
		pgExec(t, url, "INSERT INTO trustfuse_schema (version, name) VALUES (2, 'from the future')")
		_, err := OpenRegistry(url, key, false)
		if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "schema version 2, newer than this trustfuse knows (1): upgrade trustfuse") {
			t.Fatalf("open: %v", err)
		}
	})
}

// TestPGRegistryTwoServers: two serve instances on one PostgreSQL registry
// and one Redis. A release added through A's registry is accepted by B;
// revoked at A, it is refused by B within PGCacheTTL (the measured time is
// logged), also when the notification is lost; PostgreSQL stopped, attestations are answered 503 with a log
// line (without the URL's password) and the server stays up; restarted, it
// recovers, and revocation propagates again.
func TestPGRegistryTwoServers(t *testing.T) {
	pg := testenv.Postgres(t)
	redis := testenv.Redis(t)
	url := strings.Replace(pgDatabase(t, pg, "shared"), "postgres@", "postgres:s3cret-pw@", 1)
	key := bytes.Repeat([]byte{9}, 32)
	open := func() Registry {
		r, err := OpenRegistry(url, key, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	replay := func() ReplayCache {
		r, err := NewRedisReplay(redis, "tf:", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	clk := &clock{t: time.Now().Truncate(time.Second)}
	var logB syncBuffer
	a := serverFixture(t, true, replay(), open(), clk, nil)
	b := serverFixture(t, true, replay(), open(), clk, log.New(&logB, "", 0))
	attestAt := func(f *fixture) (int, string) {
		w := do(f.h, "POST", "/v1/attest", "application/json", request(t, a.challenge(t), testMeasurement, testMeasurement, testAttestKey))
		return w.Code, w.Body.String()
	}
	// B looks the release up (unknown, cached) before A adds it: the
	// notification must drop B's negative entry too.
	if code, body := attestAt(b); code != 403 || !strings.Contains(body, reasonUnknown) {
		t.Fatalf("before add at B: %d %s", code, body)
	}
	id := testMeasurement.SHA256()
	// propagation returns how long B takes to give want after change ran at A.
	propagation := func(what string, change func(), want func(int, string) bool) time.Duration {
		t.Helper()
		start := time.Now()
		change()
		for {
			code, body := attestAt(b)
			if want(code, body) {
				return time.Since(start)
			}
			if time.Since(start) > 3*PGCacheTTL {
				t.Fatalf("%s not seen at B after %v (bound %v): %d %s", what, time.Since(start), PGCacheTTL, code, body)
			}
			time.Sleep(time.Millisecond)
		}
	}
	accepted := func(code int, _ string) bool { return code == 200 }
	refused := func(code int, body string) bool { return code == 403 && strings.Contains(body, reasonRevoked) }
	d := propagation("add", func() {
		if _, _, err := a.reg.Add(Registration{Measurement: testMeasurement, AttestKey: testAttestKey}, Event{At: clk.t, By: "ops"}); err != nil {
			t.Fatal(err)
		}
	}, accepted)
	t.Logf("add at A accepted at B after %v", d)
	d = propagation("revocation", func() {
		if _, _, err := a.reg.Revoke(id, Event{At: clk.t, By: "ops", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}, refused)
	t.Logf("revocation at A refused at B after %v (bound %v)", d, PGCacheTTL)
	if d > PGCacheTTL {
		t.Errorf("revocation took %v, over the stated bound %v", d, PGCacheTTL)
	}
	// A lost notification: reinstated (notified), then revoked by a write
	// that sends none; the cache lifetime still bounds it.
	propagation("reinstatement", func() {
		if _, err := a.reg.Reinstate(id, Event{At: clk.t, By: "ops", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}, accepted)
	d = propagation("silent revocation", func() {
		pgExec(t, url, `UPDATE trustfuse_releases SET record = jsonb_set(record, '{revoked}', to_jsonb($1::text)) WHERE id = $2`,
			clk.t.UTC().Format(time.RFC3339), id)
	}, refused)
	t.Logf("revocation without a notification refused at B after %v (bound %v)", d, PGCacheTTL)
	if d > PGCacheTTL+100*time.Millisecond {
		t.Errorf("revocation without a notification took %v, over the stated bound %v", d, PGCacheTTL)
	}

	// PostgreSQL down: 503 and a log line once the cached entry expires.
	pg.Stop()
	start := time.Now()
	for {
		code, body := attestAt(b)
		if code == 503 {
			break
		}
		if !refused(code, body) || time.Since(start) > 3*PGCacheTTL {
			t.Fatalf("PostgreSQL down: %d %s after %v, want 503 within %v", code, body, time.Since(start), PGCacheTTL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("PostgreSQL stopped: 503 at B after %v", time.Since(start))
	if w := do(b.h, "GET", "/healthz", "", nil); w.Code != 200 {
		t.Fatalf("healthz while PostgreSQL is down: %d", w.Code)
	}
	if got := logB.String(); !strings.Contains(got, "answering 503") || !strings.Contains(got, "postgres://postgres@127.0.0.1") || strings.Contains(got, "s3cret-pw") {
		t.Fatalf("log while PostgreSQL is down: %q", got)
	}
	if _, _, err := a.reg.Revoke(id, Event{At: clk.t, Reason: "x"}); !errors.Is(err, ErrRegistry) || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("revoke while PostgreSQL is down: %v", err)
	}

	// Back: B recovers (new pool connections), and revocation reaches it
	// again (LISTEN re-established, or at worst the TTL).
	pg.Start(t)
	start = time.Now()
	for {
		code, body := attestAt(b)
		if refused(code, body) {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no recovery after PostgreSQL restarted: %d %s", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("PostgreSQL restarted: B answers again after %v", time.Since(start))
	time.Sleep(PGCacheTTL) // let B's listener reconnect (its back-off is at most PGCacheTTL)
	d = propagation("reinstatement", func() {
		if _, err := a.reg.Reinstate(id, Event{At: clk.t, By: "ops", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}, accepted)
	t.Logf("after the restart, reinstatement at A accepted at B after %v", d)
	d = propagation("revocation", func() {
		if _, _, err := a.reg.Revoke(id, Event{At: clk.t, By: "ops", Reason: "again"}); err != nil {
			t.Fatal(err)
		}
	}, refused)
	t.Logf("after the restart, revocation at A refused at B after %v (bound %v)", d, PGCacheTTL)
	if d > PGCacheTTL {
		t.Errorf("revocation took %v after the restart, over the stated bound %v", d, PGCacheTTL)
	}
}
