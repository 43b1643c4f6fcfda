package keyattest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/trustfuse/trustfuse/internal/readlimit"
)

// maxRevocationFile caps the bytes read from a revocation list file (Google's
// list is a few hundred KiB).
const maxRevocationFile = 64 << 20

// revocationRecheck is how often a file-backed list looks at the file again.
const revocationRecheck = time.Second

// RevocationList is the certificate status list Google publishes at
// https://android.googleapis.com/attestation/status. It is either a fixed
// list (ParseRevocationList) or file-backed (LoadRevocationFile); both are
// safe for concurrent use.
//
// FORMAT: {"entries": {"<serial, lowercase hex, no leading zeros>":
// {"status": "REVOKED"|"SUSPENDED", "reason": "...", ...}, ...}}
type RevocationList struct {
	mu      sync.Mutex
	entries map[string]string // normalised hex serial -> status

	// file-backed lists only
	path      string
	modTime   time.Time
	size      int64
	lastCheck time.Time
	lastErr   error
	now       func() time.Time
}

type statusFile struct {
	Entries map[string]struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"entries"`
}

// ParseRevocationList parses the JSON status list. Keys that are not hex
// cannot match a serial and are ignored.
func ParseRevocationList(data []byte) (*RevocationList, error) {
	m, err := parseStatus(data)
	if err != nil {
		return nil, err
	}
	return &RevocationList{entries: m}, nil
}

func parseStatus(data []byte) (map[string]string, error) {
	var f statusFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("keyattest: revocation list: %w", err)
	}
	if f.Entries == nil {
		return nil, errors.New(`keyattest: revocation list: no "entries" object`)
	}
	m := make(map[string]string, len(f.Entries))
	for k, e := range f.Entries {
		if key, ok := normaliseSerial(k); ok {
			m[key] = e.Status
		}
	}
	return m, nil
}

// normaliseSerial lower-cases a hex serial and strips leading zeros.
func normaliseSerial(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	s = strings.TrimLeft(s, "0")
	if s == "" {
		s = "0"
	}
	return s, true
}

// LoadRevocationFile reads a status list from path and keeps it fresh: on use
// it looks at the file at most once a second and re-reads it when its
// modification time or size changed. If a re-read fails (unreadable, bad
// JSON) the last good copy stays in force. The first read must succeed.
func LoadRevocationFile(path string) (*RevocationList, error) {
	l := &RevocationList{path: path, now: time.Now}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyattest: revocation list: %w", err)
	}
	m, err := readStatusFile(path)
	if err != nil {
		return nil, err
	}
	l.entries, l.modTime, l.size, l.lastCheck = m, st.ModTime(), st.Size(), l.now()
	return l, nil
}

func readStatusFile(path string) (map[string]string, error) {
	data, err := readlimit.File(path, maxRevocationFile)
	switch {
	case errors.Is(err, readlimit.ErrTooLarge):
		return nil, fmt.Errorf("keyattest: revocation list %s: over %d bytes", path, maxRevocationFile)
	case err != nil:
		return nil, fmt.Errorf("keyattest: revocation list: %w", err)
	}
	m, err := parseStatus(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return m, nil
}

// refresh re-reads a file-backed list when due; l.mu is held.
func (l *RevocationList) refresh() {
	if l.path == "" {
		return
	}
	now := l.now()
	if now.Sub(l.lastCheck) < revocationRecheck && !now.Before(l.lastCheck) {
		return
	}
	l.lastCheck = now
	st, err := os.Stat(l.path)
	if err != nil {
		l.lastErr = err
		return
	}
	if st.ModTime().Equal(l.modTime) && st.Size() == l.size {
		return
	}
	m, err := readStatusFile(l.path)
	if err != nil {
		l.lastErr = err // keep the last good copy
		return
	}
	l.entries, l.modTime, l.size, l.lastErr = m, st.ModTime(), st.Size(), nil
}

// Err returns the error of the last failed re-read of a file-backed list, nil
// if the copy in force is the file's current content.
func (l *RevocationList) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

// Len returns the number of entries in force.
func (l *RevocationList) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refresh()
	return len(l.entries)
}

// Revoked reports whether serial is on the list, with its status ("REVOKED",
// "SUSPENDED", …). Any listed serial counts as revoked, whatever its status:
// Google's guidance is to distrust suspended keys too.
func (l *RevocationList) Revoked(serial *big.Int) (status string, revoked bool) {
	if l == nil || serial == nil || serial.Sign() < 0 {
		return "", false
	}
	key := serial.Text(16)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refresh()
	status, revoked = l.entries[key]
	return status, revoked
}
