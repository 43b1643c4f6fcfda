package attest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeOldRegistry writes a bbolt registry as the version before key check
// values and audit trails wrote it (commit 4744d37): bucket "releases",
// records {id, measurement, sealedKey, added, revoked} with the key sealed
// AES-256-GCM under key (12-byte nonce first, release id as additional
// data), no "meta" bucket. It is built here with bbolt and crypto/cipher
// directly, not with the code under test.
func writeOldRegistry(t *testing.T, path string, key []byte, ms ...Measurement) {
	t.Helper()
	type oldRecord struct {
		ID          string      `json:"id"`
		Measurement Measurement `json:"measurement"`
		SealedKey   []byte      `json:"sealedKey,omitempty"`
		Added       time.Time   `json:"added"`
		Revoked     *time.Time  `json:"revoked,omitempty"`
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucket([]byte("releases"))
		if err != nil {
			return err
		}
		for i, m := range ms {
			id := m.SHA256()
			nonce := bytes.Repeat([]byte{byte(i + 1)}, 12)
			rec := oldRecord{ID: id, Measurement: m, Added: time.Unix(1700000000, 0).UTC(),
				SealedKey: aead.Seal(nonce, nonce, testAttestKey, []byte(id))}
			b, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(id), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// keyCheck is HMAC-SHA256(key, label), computed independently of sealer.
func keyCheck(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("trustfuse registry key check v1"))
	return m.Sum(nil)
}

// storedKeyCheck reads the meta bucket's key check value (nil: none).
func storedKeyCheck(t *testing.T, path string) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v []byte
	_ = db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket([]byte("meta")); m != nil {
			v = bytes.Clone(m.Get([]byte("keyCheck")))
		}
		return nil
	})
	return v
}

// TestBoltRegistryOldFormat: a registry written by the previous version
// (no key check value) still opens with its key, refuses another one
// without changing the file, and gets the key check value on its first
// write; an empty one adopts the first key written with.
func TestBoltRegistryOldFormat(t *testing.T) {
	right, wrong := bytes.Repeat([]byte{9}, 32), bytes.Repeat([]byte{8}, 32)
	other := testMeasurement
	other.VersionCode = 43
	cases := []struct {
		name     string
		releases []Measurement
		openWith []byte
		wantErr  error // from OpenRegistry
	}{
		{"records, its key", []Measurement{testMeasurement, other}, right, nil},
		{"records, another key", []Measurement{testMeasurement, other}, wrong, ErrRegistryKey},
		{"empty, any key adopted", nil, wrong, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			writeOldRegistry(t, path, right, tc.releases...)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			reg, err := OpenRegistry(path, tc.openWith, false)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("open: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "the key does not match registry "+path) {
					t.Fatalf("open: %v, want it to name the registry", err)
				}
				after, _ := os.ReadFile(path)
				if !bytes.Equal(before, after) {
					t.Fatal("a refused key changed the file")
				}
				return
			}
			rels, err := reg.List()
			if err != nil || len(rels) != len(tc.releases) {
				t.Fatalf("list: %d releases, %v", len(rels), err)
			}
			for _, m := range tc.releases {
				rel, err := reg.Lookup(context.Background(), m.SHA256())
				if err != nil || !bytes.Equal(rel.AttestKey, testAttestKey) {
					t.Fatalf("lookup %s: %v", m.SHA256(), err)
				}
			}
			if storedKeyCheck(t, path) != nil {
				t.Fatal("reading added a key check value")
			}
			// The first write stores HMAC-SHA256(key, label), not the key.
			third := testMeasurement
			third.VersionCode = 44
			if _, _, err := reg.Add(Registration{Measurement: third, AttestKey: testAttestKey}, Event{At: time.Now(), By: "t"}); err != nil {
				t.Fatal(err)
			}
			if got := storedKeyCheck(t, path); !bytes.Equal(got, keyCheck(tc.openWith)) {
				t.Fatalf("key check value %x, want HMAC-SHA256(key, label)", got)
			}
			after, _ := os.ReadFile(path)
			if bytes.Contains(after, tc.openWith) {
				t.Fatal("the registry file holds the key")
			}
			// From now on another key is refused by the check value alone.
			otherKey := bytes.Repeat([]byte{1}, 32)
			if _, err := OpenRegistry(path, otherKey, false); !errors.Is(err, ErrRegistryKey) {
				t.Fatalf("other key after the first write: %v", err)
			}
		})
	}
}

// TestRegistryTransitions: add, revoke, reinstate and re-add follow the
// documented rules and append to the audit trail.
func TestRegistryTransitions(t *testing.T) {
	reg, err := OpenRegistry(filepath.Join(t.TempDir(), "r.db"), bytes.Repeat([]byte{9}, 32), true)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 0)
	r := Registration{Measurement: testMeasurement, AttestKey: testAttestKey}
	id := testMeasurement.SHA256()
	steps := []struct {
		name        string
		do          func() (*Release, bool, error)
		wantErr     error
		wantChanged bool
		wantStatus  string
		wantAction  string // of the last event
	}{
		{"add", func() (*Release, bool, error) { return reg.Add(r, Event{At: at, By: "a"}) }, nil, true, "active", ActionAdded},
		{"add again, same key", func() (*Release, bool, error) { return reg.Add(r, Event{At: at, By: "a"}) }, nil, false, "active", ActionAdded},
		{"add, new key", func() (*Release, bool, error) {
			r2 := r
			r2.AttestKey = bytes.Repeat([]byte{6}, 32)
			return reg.Add(r2, Event{At: at, By: "a"})
		}, nil, true, "active", ActionReplaced},
		{"revoke", func() (*Release, bool, error) { return reg.Revoke(id, Event{At: at, By: "b", Reason: "leak"}) }, nil, true, "revoked", ActionRevoked},
		{"revoke again", func() (*Release, bool, error) { return reg.Revoke(id, Event{At: at, By: "b", Reason: "x"}) }, nil, false, "revoked", ActionRevoked},
		{"add while revoked", func() (*Release, bool, error) { return reg.Add(r, Event{At: at, By: "a"}) }, ErrRevoked, false, "", ""},
		{"reinstate", func() (*Release, bool, error) {
			rel, err := reg.Reinstate(id, Event{At: at, By: "c", Reason: "ok"})
			return rel, true, err
		}, nil, true, "active", ActionReinstated},
		{"reinstate active", func() (*Release, bool, error) {
			rel, err := reg.Reinstate(id, Event{At: at, By: "c", Reason: "ok"})
			return rel, false, err
		}, ErrRegistry, false, "", ""},
		{"revoke unknown", func() (*Release, bool, error) { return reg.Revoke("00", Event{At: at, Reason: "x"}) }, ErrUnknownRelease, false, "", ""},
	}
	for _, s := range steps {
		rel, changed, err := s.do()
		if !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.wantErr)
		}
		if err != nil {
			continue
		}
		if changed != s.wantChanged || rel.Status() != s.wantStatus || rel.Events[len(rel.Events)-1].Action != s.wantAction {
			t.Fatalf("%s: changed %v status %s events %+v", s.name, changed, rel.Status(), rel.Events)
		}
	}
	rels, err := reg.List()
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range rels[0].Events {
		actions = append(actions, e.Action+"/"+e.By)
	}
	if got := fmt.Sprint(actions); got != "[added/a replaced/a revoked/b reinstated/c]" {
		t.Fatalf("audit trail %s", got)
	}
}

// TestBoltRegistryChangesReachLookup: a registry's own add, revoke and
// reinstate reach its next Lookup at once; those made through another
// handle on the file (as `trustfuse releases` in another process) reach
// every Lookup from statEvery after their commit.
func TestBoltRegistryChangesReachLookup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	key := bytes.Repeat([]byte{9}, 32)
	served, err := OpenBoltRegistry(path, key, true)
	if err != nil {
		t.Fatal(err)
	}
	other, err := OpenBoltRegistry(path, key, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, at, id := context.Background(), time.Unix(1700000000, 0), testMeasurement.SHA256()
	reg := Registration{Measurement: testMeasurement, AttestKey: testAttestKey}
	status := func() string {
		rel, err := served.Lookup(ctx, id)
		switch {
		case errors.Is(err, ErrUnknownRelease):
			return "unknown"
		case err != nil:
			t.Fatal(err)
		}
		return rel.Status()
	}
	if _, _, err := served.Add(reg, Event{At: at}); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != "active" {
		t.Fatalf("own add: %s", s)
	}
	if _, _, err := served.Revoke(id, Event{At: at, Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != "revoked" {
		t.Fatalf("own revoke: %s", s)
	}
	if _, err := other.Reinstate(id, Event{At: at, Reason: "y"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(statEvery + time.Millisecond)
	if s := status(); s != "active" {
		t.Fatalf("reinstated by another handle, %v later: %s", statEvery+time.Millisecond, s)
	}
	if _, _, err := other.Revoke(id, Event{At: at, Reason: "z"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(statEvery + time.Millisecond)
	if s := status(); s != "revoked" {
		t.Fatalf("revoked by another handle, %v later: %s", statEvery+time.Millisecond, s)
	}
}
