package attest

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the PostgreSQL schema versions, applied in order: file
// NNNN_name.sql is version NNNN.
//
//go:embed migrations/*.sql
var migrations embed.FS

// PostgreSQL names the registry uses.
const (
	// pgChannel is the LISTEN/NOTIFY channel a write announces the changed
	// release id on.
	pgChannel = "trustfuse_registry"
	// pgMigrationLock is the advisory lock key serialising migrations
	// ("tfreg" in ASCII).
	pgMigrationLock = 0x7466726567
)

// PGCacheTTL bounds how long a PostgreSQL registry's Lookup serves a record
// from its in-memory cache. A write also notifies every instance
// (LISTEN/NOTIFY), which drops the record at once; the TTL bounds staleness
// when a notification is lost (reconnect), so a revocation reaches every
// instance within PGCacheTTL plus one query.
const PGCacheTTL = 2 * time.Second

// pgTimeout bounds each registry command's round trips; pgLookupTimeout a
// lookup's query (serve answers 503 when it expires).
const (
	pgTimeout       = 10 * time.Second
	pgLookupTimeout = 2 * time.Second
)

// PGRegistry is the release registry in a PostgreSQL database, shared by
// several serve instances. Records are the JSON of Release (release keys
// sealed as in a bbolt registry); the key check value is in
// trustfuse_registry_meta. Lookup caches records (found or not) for at most
// PGCacheTTL and drops them when another instance writes them (NOTIFY on
// channel trustfuse_registry); while the database is unreachable, lookups of
// uncached or expired records fail with ErrRegistry.
type PGRegistry struct {
	pool *pgxpool.Pool
	s    *sealer

	mu    sync.Mutex
	cache map[string]pgEntry
	gen   uint64 // counts invalidations, so a query racing one is not cached

	stop context.CancelFunc
	done chan struct{}
}

// pgEntry is a cached lookup: the release, or the error (ErrUnknownRelease
// included), and when it was read.
type pgEntry struct {
	c    cached
	read time.Time
}

// redactDSN names a PostgreSQL URL for messages: no password, no query.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// OpenPGRegistry connects to the PostgreSQL registry at dsn (see
// OpenRegistry), migrates its schema, checks the key and starts listening
// for changes. A database without the registry schema is ErrNoRegistry
// unless create is set, when the schema and key check value are created.
func OpenPGRegistry(ctx context.Context, dsn string, key []byte, create bool) (*PGRegistry, error) {
	name := RegistryName(dsn)
	s, err := newSealer(key, name)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the URL; name it redacted instead.
		return nil, fmt.Errorf("%w: %s is not a valid PostgreSQL URL", ErrRegistry, name)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	listenCfg := cfg.ConnConfig.Copy()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrRegistry, name, err)
	}
	r := &PGRegistry{pool: pool, s: s, cache: map[string]pgEntry{}}
	octx, cancel := context.WithTimeout(ctx, pgTimeout)
	defer cancel()
	if err := r.prepare(octx, create); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	r.stop, r.done = stop, make(chan struct{})
	go r.listen(lctx, listenCfg)
	return r, nil
}

// migration is one embedded schema version.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	ents, err := migrations.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for i, e := range ents {
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s: want version %04d", e.Name(), i+1)
		}
		b, err := migrations.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{v, e.Name(), string(b)})
	}
	return out, nil
}

// prepare applies pending migrations and checks (or, creating, stores) the
// key check value, under an advisory lock so concurrent instances migrate
// once.
func (r *PGRegistry) prepare(ctx context.Context, create bool) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRegistry, err)
	}
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("%w: cannot connect to %s: %w", ErrRegistry, r.s.name, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(pgMigrationLock)); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRegistry, r.s.name, err)
	}
	defer func() {
		_, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", int64(pgMigrationLock))
	}()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('trustfuse_schema') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRegistry, r.s.name, err)
	}
	noRegistry := fmt.Errorf("%w at %s (create one with `trustfuse releases add` or `trustfuse fuse --register`)", ErrNoRegistry, r.s.name)
	if !exists && !create {
		return noRegistry
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS trustfuse_schema (
		version int PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRegistry, r.s.name, err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM trustfuse_schema").Scan(&current); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRegistry, r.s.name, err)
	}
	if current > len(ms) {
		return fmt.Errorf("%w: %s has schema version %d, newer than this trustfuse knows (%d): upgrade trustfuse",
			ErrRegistry, r.s.name, current, len(ms))
	}
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO trustfuse_schema (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("%w: %s: migration %s: %w", ErrRegistry, r.s.name, m.name, err)
		}
	}
	var check []byte
	err = conn.QueryRow(ctx, "SELECT value FROM trustfuse_registry_meta WHERE name = 'keyCheck'").Scan(&check)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && create:
		_, err = conn.Exec(ctx, "INSERT INTO trustfuse_registry_meta (name, value) VALUES ('keyCheck', $1)", r.s.check)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrRegistry, r.s.name, err)
		}
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return noRegistry
	case err != nil:
		return fmt.Errorf("%w: %s: %w", ErrRegistry, r.s.name, err)
	}
	return r.s.verify(check)
}

// listen keeps a connection LISTENing on pgChannel and drops the records
// notified from the cache. On (re)connecting it drops the whole cache,
// since notifications sent meanwhile are lost.
func (r *PGRegistry) listen(ctx context.Context, cfg *pgx.ConnConfig) {
	defer close(r.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+pgChannel); err == nil {
				r.invalidate("")
				backoff = 100 * time.Millisecond
				for {
					n, werr := conn.WaitForNotification(ctx)
					if werr != nil {
						break
					}
					r.invalidate(n.Payload)
				}
			}
			_ = conn.Close(context.Background())
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, PGCacheTTL)
	}
}

// invalidate drops release id from the cache ("": every release).
func (r *PGRegistry) invalidate(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	if id == "" {
		clear(r.cache)
		return
	}
	delete(r.cache, id)
}

// update applies the transition fn to the record of id in one transaction
// holding a per-release advisory lock, and notifies every instance.
func (r *PGRegistry) update(id string, fn func(old *Release) (*Release, bool, error)) (*Release, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	var out *Release
	var changed bool
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", id); err != nil {
			return err
		}
		var old *Release
		var b []byte
		err := tx.QueryRow(ctx, "SELECT record FROM trustfuse_releases WHERE id = $1", id).Scan(&b)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			if old, err = decodeRecord([]byte(id), b); err != nil {
				return err
			}
		}
		if out, changed, err = fn(old); err != nil || !changed {
			return err
		}
		if b, err = json.Marshal(out); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO trustfuse_releases (id, record) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, updated = now()`, id, string(b)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", pgChannel, id)
		return err
	})
	switch {
	case err == nil:
		return out, changed, nil
	case errors.Is(err, ErrRegistry), errors.Is(err, ErrRegistryKey), errors.Is(err, ErrRevoked), errors.Is(err, ErrUnknownRelease):
		return nil, false, err
	}
	return nil, false, fmt.Errorf("%w: %s: %w", ErrRegistry, r.s.name, err)
}

// Add implements Registry.
func (r *PGRegistry) Add(reg Registration, ev Event) (*Release, bool, error) {
	return r.update(reg.ReleaseID(), func(old *Release) (*Release, bool, error) { return r.s.add(old, reg, ev) })
}

// Revoke implements Registry.
func (r *PGRegistry) Revoke(id string, ev Event) (*Release, bool, error) {
	return r.update(id, func(old *Release) (*Release, bool, error) { return revoke(old, id, ev) })
}

// Reinstate implements Registry.
func (r *PGRegistry) Reinstate(id string, ev Event) (*Release, error) {
	rel, _, err := r.update(id, func(old *Release) (*Release, bool, error) { return reinstate(old, id, ev) })
	return rel, err
}

// List implements Registry.
func (r *PGRegistry) List() ([]Release, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	rows, err := r.pool.Query(ctx, "SELECT id, record FROM trustfuse_releases")
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrRegistry, r.s.name, err)
	}
	var out []Release
	for rows.Next() {
		var id string
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrRegistry, r.s.name, err)
		}
		rel, err := decodeRecord([]byte(id), b)
		if err != nil {
			return nil, err
		}
		out = append(out, *rel)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrRegistry, r.s.name, err)
	}
	sortReleases(out)
	return out, nil
}

// Lookup implements Registry: from the cache when the entry is younger than
// PGCacheTTL, else from the database.
func (r *PGRegistry) Lookup(ctx context.Context, id string) (*Release, error) {
	now := time.Now()
	r.mu.Lock()
	e, ok := r.cache[id]
	gen := r.gen
	r.mu.Unlock()
	if !ok || now.Sub(e.read) >= PGCacheTTL {
		qctx, cancel := context.WithTimeout(ctx, pgLookupTimeout)
		defer cancel()
		var b []byte
		err := r.pool.QueryRow(qctx, "SELECT record FROM trustfuse_releases WHERE id = $1", id).Scan(&b)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			e.c = cached{err: fmt.Errorf("%w: %s", ErrUnknownRelease, id)}
		case err != nil:
			// Not cached: the next lookup tries the database again.
			return nil, fmt.Errorf("%w: lookup in %s: %w", ErrRegistry, r.s.name, err)
		default:
			if e.c.rel, e.c.err = decodeRecord([]byte(id), b); e.c.err == nil {
				e.c.rel, e.c.err = r.s.decode(id, *e.c.rel)
			}
		}
		e.read = now
		r.mu.Lock()
		if r.gen == gen {
			r.cache[id] = e
		}
		r.mu.Unlock()
	}
	if e.c.err != nil {
		return nil, e.c.err
	}
	rel := *e.c.rel
	return &rel, nil
}

// Close stops listening and closes the connections.
func (r *PGRegistry) Close() error {
	r.stop()
	<-r.done
	r.pool.Close()
	return nil
}
