package attest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucket     = []byte("releases")
	metaBucket = []byte("meta")
	keyCheckID = []byte("keyCheck")
)

// BoltRegistry is the release registry in a bbolt file, the embedded
// default. Every call opens the file and closes it again (bbolt allows one
// writer or many readers at a time; each call waits at most a second for
// the lock), so `trustfuse releases add|revoke` can run next to `serve`.
// Lookup reads from an in-memory copy re-read whenever the file's
// modification time or size changes (looked at every 2 ms at most), and at
// least every second: changes reach a running server within 2 ms.
//
// The file's "meta" bucket holds the key check value (HMAC-SHA256 of a fixed
// label under the registry key). A file written before it existed has
// none: the key is checked by opening every sealed release key, and the
// value is added by the first write (an empty file adopts the key).
type BoltRegistry struct {
	path   string
	s      *sealer
	create bool

	mu      sync.Mutex
	cache   map[string]cached // id -> decoded record, for Lookup
	stamp   fileStamp         // of the file the cache was read from
	statAt  time.Time         // the file's stamp is looked at again from then
	expires time.Time         // the cache is re-read at least this often
}

// cached is a decoded registry record with its key opened, or why it
// cannot be used.
type cached struct {
	rel *Release
	err error
}

// fileStamp identifies a version of the registry file.
type fileStamp struct {
	mod  time.Time
	size int64
}

// cacheFor bounds how stale Lookup can be even if a change kept the file's
// modification time and size.
const cacheFor = time.Second

// statEvery is how often Lookup looks at the file's modification time and
// size: a stat per attestation cost about 3 % of serve's CPU under load,
// once every 2 ms costs nothing, and every lookup from 2 ms after another
// process (`trustfuse releases`) commits a change sees it.
const statEvery = 2 * time.Millisecond

// OpenBoltRegistry opens the bbolt registry at path (see OpenRegistry). An
// existing file's key is checked now; a new one is created (0600) by the
// first Add when create is set.
func OpenBoltRegistry(path string, key []byte, create bool) (*BoltRegistry, error) {
	s, err := newSealer(key, path)
	if err != nil {
		return nil, err
	}
	r := &BoltRegistry{path: path, s: s, create: create}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && create {
		return r, nil
	}
	if err := r.with(modeRead, func(*bolt.Tx) error { return nil }); err != nil {
		return nil, err
	}
	return r, nil
}

// txMode is how with opens the file.
type txMode int

const (
	modeRead   txMode = iota // the file must exist
	modeWrite                // the file must exist
	modeCreate               // the file is created if missing
)

// with runs fn in a transaction on the file after checking the key; a
// write transaction adds a missing key check value.
func (r *BoltRegistry) with(mode txMode, fn func(*bolt.Tx) error) error {
	if mode != modeCreate {
		if _, err := os.Stat(r.path); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w at %s (create one with `trustfuse releases add` or `trustfuse fuse --register`)", ErrNoRegistry, r.path)
		}
	}
	db, err := bolt.Open(r.path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: mode == modeRead})
	if err != nil {
		return fmt.Errorf("%w: open %s: %w", ErrRegistry, r.path, err)
	}
	defer db.Close()
	body := func(tx *bolt.Tx) error {
		if err := r.checkKey(tx); err != nil {
			return err
		}
		return fn(tx)
	}
	if mode == modeRead {
		return db.View(body)
	}
	err = db.Update(body)
	r.mu.Lock() // this instance's own writes reach its Lookup at once
	r.cache = nil
	r.mu.Unlock()
	return err
}

// checkKey compares the file's key check value with the key's; a file
// without one (written by an older version) is checked by opening every
// sealed key, and a write transaction stores the value.
func (r *BoltRegistry) checkKey(tx *bolt.Tx) error {
	if m := tx.Bucket(metaBucket); m != nil {
		if v := m.Get(keyCheckID); v != nil {
			return r.s.verify(v)
		}
	}
	if bk := tx.Bucket(bucket); bk != nil {
		err := bk.ForEach(func(k, v []byte) error {
			rel, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			if _, err := r.s.open(rel); err != nil {
				return r.s.errWrongKey(fmt.Sprintf(": it cannot open the key of release %s", rel.ID))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if !tx.Writable() {
		return nil
	}
	m, err := tx.CreateBucketIfNotExists(metaBucket)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRegistry, r.path, err)
	}
	return m.Put(keyCheckID, r.s.check)
}

// decodeRecord parses the record stored under key k.
func decodeRecord(k, v []byte) (*Release, error) {
	var rel Release
	if err := json.Unmarshal(v, &rel); err != nil {
		return nil, fmt.Errorf("%w: corrupt record %s: %w", ErrRegistry, k, err)
	}
	return &rel, nil
}

// update applies the transition fn to the record of id in one write
// transaction.
func (r *BoltRegistry) update(mode txMode, id string, fn func(old *Release) (*Release, bool, error)) (*Release, bool, error) {
	var out *Release
	var changed bool
	err := r.with(mode, func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrRegistry, r.path, err)
		}
		var old *Release
		if v := bk.Get([]byte(id)); v != nil {
			if old, err = decodeRecord([]byte(id), v); err != nil {
				return err
			}
		}
		if out, changed, err = fn(old); err != nil {
			return err
		}
		if !changed {
			return errUnchanged
		}
		b, err := json.Marshal(out)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRegistry, err)
		}
		return bk.Put([]byte(id), b)
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return nil, false, err
	}
	return out, changed, nil
}

// errUnchanged rolls back a transaction that changed nothing: bbolt's
// commit would still rewrite the file's meta page.
var errUnchanged = errors.New("unchanged")

// Add implements Registry; it creates the file if the registry was opened
// with create.
func (r *BoltRegistry) Add(reg Registration, ev Event) (*Release, bool, error) {
	mode := modeWrite
	if r.create {
		mode = modeCreate
	}
	return r.update(mode, reg.ReleaseID(), func(old *Release) (*Release, bool, error) { return r.s.add(old, reg, ev) })
}

// Revoke implements Registry.
func (r *BoltRegistry) Revoke(id string, ev Event) (*Release, bool, error) {
	return r.update(modeWrite, id, func(old *Release) (*Release, bool, error) { return revoke(old, id, ev) })
}

// Reinstate implements Registry.
func (r *BoltRegistry) Reinstate(id string, ev Event) (*Release, error) {
	rel, _, err := r.update(modeWrite, id, func(old *Release) (*Release, bool, error) { return reinstate(old, id, ev) })
	return rel, err
}

// List implements Registry.
func (r *BoltRegistry) List() ([]Release, error) {
	var out []Release
	err := r.with(modeRead, func(tx *bolt.Tx) error {
		if tx.Bucket(bucket) == nil {
			return nil
		}
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			rel, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			out = append(out, *rel)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sortReleases(out)
	return out, nil
}

// snapshot returns the decoded records, re-read when the file changed (its
// stamp is looked at most every statEvery) or at least every cacheFor, so
// add and revoke in another process reach a running server within
// statEvery; this instance's own writes drop the cache at once (with). Keys
// are opened once per read of the file, not per lookup.
func (r *BoltRegistry) snapshot() (map[string]cached, error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache != nil && now.Before(r.statAt) {
		return r.cache, nil
	}
	var st fileStamp
	if fi, err := os.Stat(r.path); err == nil {
		st = fileStamp{fi.ModTime(), fi.Size()}
	}
	r.statAt = now.Add(statEvery)
	if r.cache != nil && st == r.stamp && now.Before(r.expires) {
		return r.cache, nil
	}
	m := map[string]cached{}
	err := r.with(modeRead, func(tx *bolt.Tx) error {
		if tx.Bucket(bucket) == nil {
			return nil
		}
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var c cached
			if c.rel, c.err = decodeRecord(k, v); c.err == nil {
				c.rel, c.err = r.s.decode(string(k), *c.rel)
			}
			m[string(k)] = c
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	r.cache, r.stamp, r.expires = m, st, now.Add(cacheFor)
	return m, nil
}

// Lookup implements Registry.
func (r *BoltRegistry) Lookup(_ context.Context, id string) (*Release, error) {
	recs, err := r.snapshot()
	if err != nil {
		return nil, fmt.Errorf("%w: lookup: %w", ErrRegistry, err)
	}
	c, ok := recs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownRelease, id)
	}
	if c.err != nil {
		return nil, c.err
	}
	rel := *c.rel
	return &rel, nil
}

// Close implements Registry; the file is not held open between calls.
func (r *BoltRegistry) Close() error { return nil }
