package attest

import (
	"bytes"
	"context"
	"errors"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

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
	var logB testenv.SyncBuffer
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
	accepted := func(code int, _ string) bool { return code == 200 }
	refused := func(code int, body string) bool { return code == 403 && strings.Contains(body, reasonRevoked) }
	unavailable := func(code int, _ string) bool { return code == 503 }
	must := func(_ *Release, _ bool, err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	reinstate := func() {
		_, err := a.reg.Reinstate(id, Event{At: clk.t, By: "ops", Reason: "test"})
		must(nil, false, err)
	}
	revoke := func() { must(a.reg.Revoke(id, Event{At: clk.t, By: "ops", Reason: "test"})) }
	// Each step changes something at A (or PostgreSQL) and waits until B
	// answers as want, at most limit; bound > 0 is the stated bound the
	// measured time must keep.
	steps := []struct {
		name         string
		change       func()
		want         func(code int, body string) bool
		limit, bound time.Duration
		down         bool // PostgreSQL is down after this step
	}{
		{"add at A, accepted at B", func() {
			must(a.reg.Add(Registration{Measurement: testMeasurement, AttestKey: testAttestKey}, Event{At: clk.t, By: "ops"}))
		}, accepted, 3 * PGCacheTTL, PGCacheTTL, false},
		{"revoked at A, refused at B", revoke, refused, 3 * PGCacheTTL, PGCacheTTL, false},
		{"reinstated at A, accepted at B", reinstate, accepted, 3 * PGCacheTTL, PGCacheTTL, false},
		// A lost notification: a write that sends none, while B has the
		// release cached (a lookup racing the last notification is not
		// cached, so B looks it up once more first); the cache lifetime
		// (plus the query) still bounds it.
		{"revoked without a notification, refused at B", func() {
			if code, body := attestAt(b); code != 200 {
				t.Fatalf("before the silent revocation: %d %s", code, body)
			}
			pgExec(t, url, `UPDATE trustfuse_releases SET record = jsonb_set(record, '{revoked}', to_jsonb($1::text)) WHERE id = $2`,
				clk.t.UTC().Format(time.RFC3339), id)
		}, refused, 3 * PGCacheTTL, PGCacheTTL + 100*time.Millisecond, false},
		// PostgreSQL down: 503 once B's cached entry expires.
		{"PostgreSQL stopped, 503 at B", pg.Stop, unavailable, 3 * PGCacheTTL, 0, true},
		// Back: B recovers with new pool connections...
		{"PostgreSQL restarted, B answers", func() { pg.Start(t) }, refused, 10 * time.Second, 0, false},
		// ... and, once its listener has reconnected (back-off at most
		// PGCacheTTL), notifications reach it again.
		{"after the restart, reinstated at A, accepted at B", func() { time.Sleep(PGCacheTTL); reinstate() }, accepted, 4 * PGCacheTTL, 0, false},
		{"after the restart, revoked at A, refused at B", revoke, refused, 3 * PGCacheTTL, PGCacheTTL, false},
	}
	for _, s := range steps {
		start := time.Now()
		s.change()
		for {
			code, body := attestAt(b)
			if s.want(code, body) {
				break
			}
			if time.Since(start) > s.limit {
				t.Fatalf("%s: %d %s after %v", s.name, code, body, time.Since(start))
			}
			time.Sleep(time.Millisecond)
		}
		d := time.Since(start)
		t.Logf("%s after %v", s.name, d)
		if s.bound > 0 && d > s.bound {
			t.Errorf("%s took %v, over the stated bound %v", s.name, d, s.bound)
		}
		if !s.down {
			continue
		}
		// While PostgreSQL is down: B stays up, logs why (without the
		// URL's password), and A's commands fail.
		if w := do(b.h, "GET", "/healthz", "", nil); w.Code != 200 {
			t.Fatalf("healthz while PostgreSQL is down: %d", w.Code)
		}
		if got := logB.String(); !strings.Contains(got, "answering 503") || !strings.Contains(got, "postgres://postgres@127.0.0.1") || strings.Contains(got, "s3cret-pw") {
			t.Fatalf("log while PostgreSQL is down: %q", got)
		}
		if _, _, err := a.reg.Revoke(id, Event{At: clk.t, Reason: "x"}); !errors.Is(err, ErrRegistry) || strings.Contains(err.Error(), "s3cret-pw") {
			t.Fatalf("revoke while PostgreSQL is down: %v", err)
		}
	}
}
