package attest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// RegistrationFormat names the JSON export `trustfuse fuse --register`
// writes and `trustfuse releases add` reads.
const RegistrationFormat = "trustfuse-release/v1"

// Registration is a release as the fuse pipeline exports it. AttestKey is
// secret: the export is written 0600 and should be deleted once added to a
// registry, where the key is stored sealed.
type Registration struct {
	Format      string      `json:"format"`
	ID          string      `json:"id"`
	Measurement Measurement `json:"measurement"`
	// IOS is an iOS release's measurement (then Measurement is empty).
	IOS       *IOSMeasurement `json:"ios,omitempty"`
	AttestKey []byte          `json:"attestKey"`
	// KeyAttestation is the release's Android Key Attestation demand (nil:
	// off).
	KeyAttestation *KeyAttestationPolicy `json:"keyAttestation,omitempty"`
	// AppAttest is the release's App Attest demand (iOS; nil: off).
	AppAttest *AppAttestPolicy `json:"appAttest,omitempty"`
	// Identity is the release's attested client identity policy (nil:
	// embedded identity; serve issues it no certificate).
	Identity *IdentityPolicy `json:"identity,omitempty"`
}

// IdentityPolicy is how serve certifies an attested device key of a
// release (POST /v1/certificate): the Fusion Set's mtls.identity and
// mtls.attestedCertificate.
type IdentityPolicy struct {
	// Mode is attested or attested-or-embedded.
	Mode string `json:"mode"`
	// ValiditySeconds is the issued certificate's lifetime (at most 7 days).
	ValiditySeconds int64 `json:"validitySeconds"`
	// MinSecurityLevel is the least keystore security level of the device
	// key: software, tee or strongbox.
	MinSecurityLevel string `json:"minSecurityLevel"`
	// RequireVerifiedBoot demands verified boot state Verified and a locked
	// bootloader in the device key's attestation.
	RequireVerifiedBoot bool `json:"requireVerifiedBoot"`
}

// Identity modes (IdentityPolicy.Mode).
const (
	IdentityAttested           = "attested"
	IdentityAttestedOrEmbedded = "attested-or-embedded"
)

// MaxIdentityValidity bounds IdentityPolicy.ValiditySeconds: 7 days.
const MaxIdentityValidity = 7 * 24 * 60 * 60

// check reports what is wrong with p, or nil.
func (p *IdentityPolicy) check() error {
	switch p.Mode {
	case IdentityAttested, IdentityAttestedOrEmbedded:
	default:
		return fmt.Errorf("identity mode %q (want attested or attested-or-embedded)", p.Mode)
	}
	if p.ValiditySeconds <= 0 || p.ValiditySeconds > MaxIdentityValidity {
		return fmt.Errorf("identity validity %d s (want 1 to %d)", p.ValiditySeconds, MaxIdentityValidity)
	}
	if _, err := keyattest.ParseSecurityLevel(p.MinSecurityLevel); err != nil {
		return err
	}
	return nil
}

// KeyAttestationPolicy is what serve demands of a release's Android Key
// Attestation chain: the Fusion Set's attestation.keyAttestation.
type KeyAttestationPolicy struct {
	// Mode is off (chains ignored), optional (checked when sent) or
	// required (refused without a valid chain).
	Mode string `json:"mode"`
	// MinSecurityLevel is software, tee or strongbox.
	MinSecurityLevel string `json:"minSecurityLevel"`
	// RequireVerifiedBoot demands verified boot state Verified and a locked
	// bootloader.
	RequireVerifiedBoot bool `json:"requireVerifiedBoot"`
}

// Key attestation modes (KeyAttestationPolicy.Mode).
const (
	KeyAttestationOff      = "off"
	KeyAttestationOptional = "optional"
	KeyAttestationRequired = "required"
)

// check reports what is wrong with p, or nil.
func (p *KeyAttestationPolicy) check() error {
	switch p.Mode {
	case KeyAttestationOff, KeyAttestationOptional, KeyAttestationRequired:
	default:
		return fmt.Errorf("key attestation mode %q (want off, optional or required)", p.Mode)
	}
	if _, err := keyattest.ParseSecurityLevel(p.MinSecurityLevel); err != nil {
		return err
	}
	return nil
}

// AppAttestPolicy is what serve demands of an iOS release's App Attest
// (DeviceCheck) attestation: the Fusion Set's attestation.appAttest. The app
// id is TeamID + "." + the measurement's package (the bundle id).
type AppAttestPolicy struct {
	// Mode is off, optional or required, as for key attestation.
	Mode string `json:"mode"`
	// TeamID is the Apple team the app is signed by (10 characters).
	TeamID string `json:"teamId"`
	// AllowDevelopment accepts attestations from the development
	// environment (apps signed with a development profile).
	AllowDevelopment bool `json:"allowDevelopment,omitempty"`
}

// check reports what is wrong with p, or nil.
func (p *AppAttestPolicy) check() error {
	switch p.Mode {
	case KeyAttestationOff:
		return nil
	case KeyAttestationOptional, KeyAttestationRequired:
	default:
		return fmt.Errorf("App Attest mode %q (want off, optional or required)", p.Mode)
	}
	if len(p.TeamID) != 10 || strings.Trim(p.TeamID, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return fmt.Errorf("App Attest team id %q is not 10 upper-case letters and digits", p.TeamID)
	}
	return nil
}

// Release is a registry record. SealedKey is AES-256-GCM(serverKey,
// attestKey) with a 12-byte random nonce prepended and the release id as
// additional data; AttestKey is filled in only by Lookup.
type Release struct {
	ID          string      `json:"id"`
	Measurement Measurement `json:"measurement"`
	// IOS is an iOS release's measurement (then Measurement is empty).
	IOS       *IOSMeasurement `json:"ios,omitempty"`
	SealedKey []byte          `json:"sealedKey,omitempty"`
	Added     time.Time       `json:"added"`
	Revoked   *time.Time      `json:"revoked,omitempty"`
	// KeyAttestation is copied from the registration (nil: off).
	KeyAttestation *KeyAttestationPolicy `json:"keyAttestation,omitempty"`
	// AppAttest is copied from the registration (nil: off).
	AppAttest *AppAttestPolicy `json:"appAttest,omitempty"`
	// Identity is copied from the registration (nil: embedded).
	Identity  *IdentityPolicy `json:"identity,omitempty"`
	AttestKey []byte          `json:"-"`
}

var bucket = []byte("releases")

// Registry is the release registry, a bbolt file. Every call opens the file
// and closes it again (bbolt allows one writer or many readers at a time;
// each call waits at most a second for the lock), so `trustfuse releases
// add|revoke` can run next to `serve`. Lookup reads from an in-memory copy
// re-read whenever the file's modification time or size changes, and at
// least every second: changes reach a running server at once.
type Registry struct {
	path string
	aead cipher.AEAD

	mu      sync.Mutex
	cache   map[string]cached // id -> decoded record, for Lookup
	stamp   fileStamp         // of the file the cache was read from
	expires time.Time         // the cache is re-read at least this often
}

// cached is a decoded registry record with its key opened, or why it
// cannot be used.
type cached struct {
	rel Release
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

// OpenRegistry returns the registry at path, sealing and opening release
// keys with the 32-byte serverKey. The file is created (0600) on first write.
func OpenRegistry(path string, serverKey []byte) (*Registry, error) {
	if len(serverKey) != 32 {
		return nil, fmt.Errorf("%w: %d bytes, want 32", ErrRegistryKey, len(serverKey))
	}
	blk, err := aes.NewCipher(serverKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistryKey, err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistryKey, err)
	}
	return &Registry{path: path, aead: aead}, nil
}

func (r *Registry) with(readOnly bool, fn func(*bolt.Tx) error) error {
	if readOnly {
		if _, err := os.Stat(r.path); errors.Is(err, os.ErrNotExist) {
			return fn(nil)
		}
	}
	db, err := bolt.Open(r.path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("%w: open %s: %w", ErrRegistry, r.path, err)
	}
	defer db.Close()
	if readOnly {
		return db.View(fn)
	}
	return db.Update(fn)
}

// Add seals reg's key and stores the release; adding the same release again
// replaces its key and clears a revocation.
func (r *Registry) Add(reg Registration, now time.Time) (*Release, error) {
	id := reg.ReleaseID()
	if reg.IOS != nil {
		if err := reg.IOS.check(); err != nil {
			return nil, fmt.Errorf("%w: registration %s: %w", ErrRegistry, id, err)
		}
		if !reg.Measurement.isZero() {
			return nil, fmt.Errorf("%w: registration %s has both an iOS and an Android measurement", ErrRegistry, id)
		}
	}
	if reg.ID != "" && reg.ID != id {
		return nil, fmt.Errorf("%w: registration id %s is not its measurement's SHA-256 %s", ErrRegistry, reg.ID, id)
	}
	if len(reg.AttestKey) < 16 {
		return nil, fmt.Errorf("%w: registration %s has no attestation key", ErrRegistry, id)
	}
	if reg.KeyAttestation != nil {
		if err := reg.KeyAttestation.check(); err != nil {
			return nil, fmt.Errorf("%w: registration %s: %w", ErrRegistry, id, err)
		}
	}
	if reg.AppAttest != nil {
		if err := reg.AppAttest.check(); err != nil {
			return nil, fmt.Errorf("%w: registration %s: %w", ErrRegistry, id, err)
		}
	}
	if reg.Identity != nil {
		if err := reg.Identity.check(); err != nil {
			return nil, fmt.Errorf("%w: registration %s: %w", ErrRegistry, id, err)
		}
	}
	n := make([]byte, r.aead.NonceSize(), r.aead.NonceSize()+len(reg.AttestKey)+r.aead.Overhead())
	if _, err := rand.Read(n); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistry, err)
	}
	rel := &Release{ID: id, Measurement: reg.Measurement, IOS: reg.IOS, Added: now.UTC(),
		SealedKey: r.aead.Seal(n, n, reg.AttestKey, []byte(id)), KeyAttestation: reg.KeyAttestation,
		AppAttest: reg.AppAttest, Identity: reg.Identity}
	b, err := json.Marshal(rel)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistry, err)
	}
	err = r.with(false, func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return bk.Put([]byte(id), b)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: add: %w", ErrRegistry, err)
	}
	return rel, nil
}

// List returns every release, sorted by package, version code, id.
func (r *Registry) List() ([]Release, error) {
	var out []Release
	err := r.with(true, func(tx *bolt.Tx) error {
		if tx == nil || tx.Bucket(bucket) == nil {
			return nil
		}
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			var rel Release
			if err := json.Unmarshal(v, &rel); err != nil {
				return fmt.Errorf("%w: corrupt record: %w", ErrRegistry, err)
			}
			out = append(out, rel)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Measurement, out[j].Measurement
		if a.Package != b.Package {
			return a.Package < b.Package
		}
		if a.VersionCode != b.VersionCode {
			return a.VersionCode < b.VersionCode
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Revoke marks release id revoked at now.
func (r *Registry) Revoke(id string, now time.Time) error {
	return r.with(false, func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucket)
		var v []byte
		if bk != nil {
			v = bk.Get([]byte(id))
		}
		if v == nil {
			return fmt.Errorf("%w: %s", ErrUnknownRelease, id)
		}
		var rel Release
		if err := json.Unmarshal(v, &rel); err != nil {
			return fmt.Errorf("%w: corrupt record: %w", ErrRegistry, err)
		}
		t := now.UTC()
		rel.Revoked = &t
		b, err := json.Marshal(rel)
		if err != nil {
			return err
		}
		return bk.Put([]byte(id), b)
	})
}

// snapshot returns the decoded records, re-read when the file changed (or
// at least every cacheFor), so add and revoke reach a running server at
// once. Keys are opened once per read of the file, not per lookup.
func (r *Registry) snapshot() (map[string]cached, error) {
	var st fileStamp
	if fi, err := os.Stat(r.path); err == nil {
		st = fileStamp{fi.ModTime(), fi.Size()}
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache != nil && st == r.stamp && now.Before(r.expires) {
		return r.cache, nil
	}
	m := map[string]cached{}
	err := r.with(true, func(tx *bolt.Tx) error {
		if tx == nil || tx.Bucket(bucket) == nil {
			return nil
		}
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			m[string(k)] = r.decode(string(k), v)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	r.cache, r.stamp, r.expires = m, st, now.Add(cacheFor)
	return m, nil
}

// decode parses record v of release id and opens its key.
func (r *Registry) decode(id string, v []byte) cached {
	var c cached
	if err := json.Unmarshal(v, &c.rel); err != nil {
		c.err = fmt.Errorf("%w: corrupt record %s: %w", ErrRegistry, id, err)
		return c
	}
	if got := releaseID(c.rel.Measurement, c.rel.IOS); c.rel.ID != id || got != id {
		c.err = fmt.Errorf("%w: corrupt record %s: its measurement is release %s", ErrRegistry, id, got)
		return c
	}
	ns := r.aead.NonceSize()
	if len(c.rel.SealedKey) < ns {
		c.err = fmt.Errorf("%w: release %s: sealed key truncated", ErrRegistryKey, id)
		return c
	}
	key, err := r.aead.Open(nil, c.rel.SealedKey[:ns], c.rel.SealedKey[ns:], []byte(c.rel.ID))
	if err != nil {
		c.err = fmt.Errorf("%w: release %s: %w", ErrRegistryKey, id, err)
		return c
	}
	c.rel.AttestKey = key
	return c
}

// Lookup returns release id with its key opened, or ErrUnknownRelease. The
// release is the caller's copy; its AttestKey must not be modified.
func (r *Registry) Lookup(id string) (*Release, error) {
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
	rel := c.rel
	return &rel, nil
}
