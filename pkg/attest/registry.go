package attest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

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
	// Identity is the release's attested client identity (nil: embedded,
	// no certificates issued).
	Identity *IdentityPolicy `json:"identity,omitempty"`
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

// Release is a registry record. SealedKey is AES-256-GCM(registry key,
// attestKey) with a 12-byte random nonce prepended and the release id as
// additional data; AttestKey is filled in only by Lookup.
type Release struct {
	ID          string      `json:"id"`
	Measurement Measurement `json:"measurement"`
	// IOS is an iOS release's measurement (then Measurement is empty).
	IOS       *IOSMeasurement `json:"ios,omitempty"`
	SealedKey []byte          `json:"sealedKey,omitempty"`
	Added     time.Time       `json:"added"`
	// Revoked is when the release was revoked (nil: active).
	Revoked *time.Time `json:"revoked,omitempty"`
	// KeyAttestation is copied from the registration (nil: off).
	KeyAttestation *KeyAttestationPolicy `json:"keyAttestation,omitempty"`
	// AppAttest is copied from the registration (nil: off).
	AppAttest *AppAttestPolicy `json:"appAttest,omitempty"`
	// Identity is copied from the registration (nil: embedded).
	Identity *IdentityPolicy `json:"identity,omitempty"`
	// Events is the release's audit trail, oldest first, append-only.
	// Records written before it existed have none for their past.
	Events    []Event `json:"events,omitempty"`
	AttestKey []byte  `json:"-"`
}

// Event is one entry of a release's audit trail.
type Event struct {
	// Action is added, revoked, reinstated or replaced (re-added with a
	// different attestation key or policy).
	Action string    `json:"action"`
	At     time.Time `json:"at"`
	// By names who did it (the CLI's --by, default user@host).
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
}

// Event actions.
const (
	ActionAdded      = "added"
	ActionRevoked    = "revoked"
	ActionReinstated = "reinstated"
	ActionReplaced   = "replaced"
)

// Status is "active" or "revoked".
func (r *Release) Status() string {
	if r.Revoked != nil {
		return "revoked"
	}
	return "active"
}

// Registry is the release registry `trustfuse serve` attests against: a
// bbolt file (BoltRegistry, the embedded default) or a PostgreSQL database
// shared by several serve instances (PGRegistry). Every method checks the
// registry key: a key that does not match the registry is ErrRegistryKey.
type Registry interface {
	// Add seals reg's key and stores the release, recording ev (whose
	// Action Add sets). Adding an active release again with the same key
	// and policies changes nothing (changed is false); with a different
	// key or policy it replaces them and records a "replaced" event. A
	// revoked release is refused with ErrRevoked.
	Add(reg Registration, ev Event) (rel *Release, changed bool, err error)
	// Revoke marks release id revoked at ev.At; revoking a revoked release
	// changes nothing.
	Revoke(id string, ev Event) (rel *Release, changed bool, err error)
	// Reinstate re-activates revoked release id.
	Reinstate(id string, ev Event) (*Release, error)
	// List returns every release, sorted by package, version code, id.
	List() ([]Release, error)
	// Lookup returns release id with its key opened, or ErrUnknownRelease.
	// The release is the caller's copy; its AttestKey must not be modified.
	Lookup(ctx context.Context, id string) (*Release, error)
	// Close releases the registry's connections.
	Close() error
}

// OpenRegistry opens the registry at location: a postgres:// or
// postgresql:// URL selects PostgreSQL, anything else is a bbolt file path.
// key is the 32-byte registry key sealing release keys. A registry that does
// not exist is ErrNoRegistry unless create is set (adding releases), when it
// is created on first write; a key that does not match an existing registry
// is ErrRegistryKey.
func OpenRegistry(location string, key []byte, create bool) (Registry, error) {
	if IsRegistryURL(location) {
		return OpenPGRegistry(context.Background(), location, key, create)
	}
	return OpenBoltRegistry(location, key, create)
}

// IsRegistryURL reports whether a registry location (the --registry flag,
// serve's "registry") is a PostgreSQL URL rather than a bbolt file path: a
// URL must not be resolved as a path.
func IsRegistryURL(location string) bool {
	return strings.HasPrefix(location, "postgres://") || strings.HasPrefix(location, "postgresql://")
}

// RegistryName names a registry location for messages: a PostgreSQL URL
// without its password and query, a path as it is.
func RegistryName(location string) string {
	if IsRegistryURL(location) {
		return redactDSN(location)
	}
	return location
}

// keyCheckLabel is the message whose HMAC-SHA256 under the registry key is
// the key check value a registry stores: it identifies the key without
// revealing it.
const keyCheckLabel = "trustfuse registry key check v1"

// sealer seals and opens release keys under the registry key, and checks a
// registry's key check value. name is how errors refer to the registry.
type sealer struct {
	aead  cipher.AEAD
	check []byte
	name  string
}

func newSealer(key []byte, name string) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: %d bytes, want 32", ErrRegistryKey, len(key))
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistryKey, err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistryKey, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(keyCheckLabel))
	return &sealer{aead: aead, check: mac.Sum(nil), name: name}, nil
}

// errWrongKey is the error for a key that does not match the registry.
func (s *sealer) errWrongKey(detail string) error {
	return fmt.Errorf("%w: the key does not match registry %s%s (use the key it was created with)", ErrRegistryKey, s.name, detail)
}

// verify compares the registry's stored key check value with the key's.
func (s *sealer) verify(stored []byte) error {
	if !hmac.Equal(stored, s.check) {
		return s.errWrongKey("")
	}
	return nil
}

// seal encrypts release id's attestation key.
func (s *sealer) seal(id string, key []byte) ([]byte, error) {
	n := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(key)+s.aead.Overhead())
	if _, err := rand.Read(n); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistry, err)
	}
	return s.aead.Seal(n, n, key, []byte(id)), nil
}

// open decrypts rel's sealed key.
func (s *sealer) open(rel *Release) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(rel.SealedKey) < ns {
		return nil, fmt.Errorf("%w: release %s in registry %s: sealed key truncated", ErrRegistryKey, rel.ID, s.name)
	}
	key, err := s.aead.Open(nil, rel.SealedKey[:ns], rel.SealedKey[ns:], []byte(rel.ID))
	if err != nil {
		return nil, fmt.Errorf("%w: release %s in registry %s: its sealed key does not open (a tampered record, "+
			"or one sealed under another key)", ErrRegistryKey, rel.ID, s.name)
	}
	return key, nil
}

// decode checks record rel stored under id and opens its key, as Lookup
// returns it.
func (s *sealer) decode(id string, rel Release) (*Release, error) {
	if got := releaseID(rel.Measurement, rel.IOS); rel.ID != id || got != id {
		return nil, fmt.Errorf("%w: corrupt record %s in registry %s: its measurement is release %s", ErrRegistry, id, s.name, got)
	}
	key, err := s.open(&rel)
	if err != nil {
		return nil, err
	}
	rel.AttestKey = key
	return &rel, nil
}

// check reports what is wrong with reg, or nil.
func (reg *Registration) check() error {
	id := reg.ReleaseID()
	if reg.IOS != nil {
		if err := reg.IOS.check(); err != nil {
			return fmt.Errorf("%w: registration %s: %w", ErrRegistry, id, err)
		}
		if !reg.Measurement.isZero() {
			return fmt.Errorf("%w: registration %s has both an iOS and an Android measurement", ErrRegistry, id)
		}
	}
	if reg.ID != "" && reg.ID != id {
		return fmt.Errorf("%w: registration id %s is not its measurement's SHA-256 %s", ErrRegistry, reg.ID, id)
	}
	if len(reg.AttestKey) < 16 {
		return fmt.Errorf("%w: registration %s has no attestation key", ErrRegistry, id)
	}
	if reg.KeyAttestation != nil {
		if err := reg.KeyAttestation.check(); err != nil {
			return fmt.Errorf("%w: registration %s: %w", ErrRegistry, id, err)
		}
	}
	if reg.AppAttest != nil {
		if err := reg.AppAttest.check(); err != nil {
			return fmt.Errorf("%w: registration %s: %w", ErrRegistry, id, err)
		}
	}
	if reg.Identity != nil {
		if err := reg.Identity.check(); err != nil {
			return fmt.Errorf("%w: registration %s: %w", ErrRegistry, id, err)
		}
	}
	return nil
}

// add is the transition of Add: the record to store for reg over old (nil:
// none), and whether anything changed.
func (s *sealer) add(old *Release, reg Registration, ev Event) (*Release, bool, error) {
	if err := reg.check(); err != nil {
		return nil, false, err
	}
	id := reg.ReleaseID()
	ev.At = ev.At.UTC()
	if old == nil {
		sealed, err := s.seal(id, reg.AttestKey)
		if err != nil {
			return nil, false, err
		}
		ev.Action = ActionAdded
		return &Release{ID: id, Measurement: reg.Measurement, IOS: reg.IOS, Added: ev.At, SealedKey: sealed,
			KeyAttestation: reg.KeyAttestation, AppAttest: reg.AppAttest, Identity: reg.Identity, Events: []Event{ev}}, true, nil
	}
	if old.Revoked != nil {
		return nil, false, revokedError(old)
	}
	key, err := s.open(old)
	if err != nil {
		return nil, false, err
	}
	var what []string
	if !bytes.Equal(key, reg.AttestKey) {
		what = append(what, "attestation key")
	}
	if !reflect.DeepEqual(old.KeyAttestation, reg.KeyAttestation) {
		what = append(what, "key attestation policy")
	}
	if !reflect.DeepEqual(old.AppAttest, reg.AppAttest) {
		what = append(what, "App Attest policy")
	}
	if !reflect.DeepEqual(old.Identity, reg.Identity) {
		what = append(what, "identity policy")
	}
	if len(what) == 0 {
		return old, false, nil
	}
	rel := *old
	if rel.SealedKey, err = s.seal(id, reg.AttestKey); err != nil {
		return nil, false, err
	}
	rel.KeyAttestation, rel.AppAttest, rel.Identity = reg.KeyAttestation, reg.AppAttest, reg.Identity
	ev.Action = ActionReplaced
	if ev.Reason == "" {
		ev.Reason = "new " + strings.Join(what, " and ")
	}
	rel.Events = append(append([]Event(nil), old.Events...), ev)
	return &rel, true, nil
}

// revokedError says since when, by whom and why old is revoked, and how to
// re-activate it.
func revokedError(old *Release) error {
	since := old.Revoked.Format(time.RFC3339)
	by, why := "an unrecorded user", ""
	for i := len(old.Events) - 1; i >= 0; i-- {
		if e := old.Events[i]; e.Action == ActionRevoked {
			by, why = e.By, ": "+e.Reason
			break
		}
	}
	return fmt.Errorf("%w: release %s was revoked at %s by %s%s; adding it again does not re-activate it: "+
		"`trustfuse releases reinstate %s --reason ...` does", ErrRevoked, old.ID, since, by, why, old.ID)
}

// revoke is the transition of Revoke.
func revoke(old *Release, id string, ev Event) (*Release, bool, error) {
	if old == nil {
		return nil, false, fmt.Errorf("%w: %s", ErrUnknownRelease, id)
	}
	if old.Revoked != nil {
		return old, false, nil
	}
	rel := *old
	ev.Action, ev.At = ActionRevoked, ev.At.UTC()
	rel.Revoked = &ev.At
	rel.Events = append(append([]Event(nil), old.Events...), ev)
	return &rel, true, nil
}

// reinstate is the transition of Reinstate.
func reinstate(old *Release, id string, ev Event) (*Release, bool, error) {
	if old == nil {
		return nil, false, fmt.Errorf("%w: %s", ErrUnknownRelease, id)
	}
	if old.Revoked == nil {
		return nil, false, fmt.Errorf("%w: release %s is not revoked", ErrRegistry, id)
	}
	rel := *old
	ev.Action, ev.At = ActionReinstated, ev.At.UTC()
	rel.Revoked = nil
	rel.Events = append(append([]Event(nil), old.Events...), ev)
	return &rel, true, nil
}

// sortReleases sorts rels by package, version code, id.
func sortReleases(rels []Release) {
	sort.Slice(rels, func(i, j int) bool {
		a, b := rels[i].Measurement, rels[j].Measurement
		if a.Package != b.Package {
			return a.Package < b.Package
		}
		if a.VersionCode != b.VersionCode {
			return a.VersionCode < b.VersionCode
		}
		return rels[i].ID < rels[j].ID
	})
}
