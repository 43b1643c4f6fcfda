package keyattest

import (
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func serial(t *testing.T, hexs string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(hexs, 16)
	if !ok {
		t.Fatalf("bad hex %q", hexs)
	}
	return n
}

func TestParseRevocationList(t *testing.T) {
	l, err := ParseRevocationList([]byte(`{"entries": {
		"00ABCdef": {"status": "REVOKED", "reason": "KEY_COMPROMISE"},
		"1": {"status": "SUSPENDED", "reason": "SOFTWARE_FLAW", "comment": "x", "expires": "2030-01-01"},
		"not-hex!": {"status": "REVOKED"},
		"0": {"status": "REVOKED"}
	}, "future": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		serial string
		status string
		ok     bool
	}{
		{"abcdef", "REVOKED", true},
		{"1", "SUSPENDED", true},
		{"0", "REVOKED", true},
		{"abcdef00", "", false},
		{"2", "", false},
	} {
		st, ok := l.Revoked(serial(t, c.serial))
		if st != c.status || ok != c.ok {
			t.Errorf("Revoked(%s) = %q, %v; want %q, %v", c.serial, st, ok, c.status, c.ok)
		}
	}
	if l.Len() != 3 {
		t.Errorf("Len = %d, want 3 (the non-hex key is dropped)", l.Len())
	}
	var nilList *RevocationList
	if _, ok := nilList.Revoked(big.NewInt(1)); ok {
		t.Error("nil list revokes")
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"entries": 3}`, `{"entries": {"1": "REVOKED"}}`} {
		if _, err := ParseRevocationList([]byte(bad)); err == nil {
			t.Errorf("ParseRevocationList(%q) accepted", bad)
		}
	}
}

// TestLoadRevocationFileReload: a file-backed list re-reads the file when its
// size or mtime changed, at most once a second, and keeps the last good copy
// when the new content does not parse.
func TestLoadRevocationFileReload(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "status.json")
	write := func(content string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write(`{"entries": {"aa": {"status": "REVOKED"}}}`, base)
	if _, err := LoadRevocationFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("missing file accepted")
	}
	l, err := LoadRevocationFile(p)
	if err != nil {
		t.Fatal(err)
	}
	clock := base
	l.now = func() time.Time { return clock }
	l.lastCheck = clock
	has := func(s string) bool { _, ok := l.Revoked(serial(t, s)); return ok }
	if !has("aa") || has("bb") {
		t.Fatal("initial content")
	}

	write(`{"entries": {"bb": {"status": "REVOKED"}}}`, base.Add(time.Minute))
	clock = clock.Add(500 * time.Millisecond)
	if !has("aa") || has("bb") {
		t.Fatal("re-read within the second")
	}
	clock = clock.Add(600 * time.Millisecond)
	if has("aa") || !has("bb") {
		t.Fatal("change not picked up after a second")
	}

	// Same size, new mtime: picked up.
	write(`{"entries": {"cc": {"status": "REVOKED"}}}`, base.Add(2*time.Minute))
	clock = clock.Add(2 * time.Second)
	if !has("cc") || has("bb") {
		t.Fatal("mtime-only change not picked up")
	}

	// Broken content: the last good copy stays, and Err says why.
	write(`{"entries": {"dd": `, base.Add(3*time.Minute))
	clock = clock.Add(2 * time.Second)
	if !has("cc") || has("dd") {
		t.Fatal("broken file replaced the good copy")
	}
	if l.Err() == nil {
		t.Fatal("Err is nil after a failed re-read")
	}
	// Removed file: still the last good copy.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * time.Second)
	if !has("cc") {
		t.Fatal("removed file dropped the good copy")
	}
	// Repaired: picked up, error cleared.
	write(`{"entries": {"ee": {"status": "SUSPENDED"}}}`, base.Add(4*time.Minute))
	clock = clock.Add(2 * time.Second)
	if st, ok := l.Revoked(serial(t, "ee")); !ok || st != "SUSPENDED" || has("cc") || l.Err() != nil {
		t.Fatalf("repair not picked up: %q %v %v", st, ok, l.Err())
	}
}

// TestRevocationConcurrent runs lookups and file rewrites at once (meaningful
// under -race).
func TestRevocationConcurrent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "status.json")
	if err := os.WriteFile(p, []byte(`{"entries": {"aa": {"status": "REVOKED"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := LoadRevocationFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := time.Now()
	l.mu.Lock()
	l.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(300 * time.Millisecond)
		return clock
	}
	l.mu.Unlock()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, ok := l.Revoked(big.NewInt(0xaa)); !ok {
					t.Error("aa not revoked")
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		content := `{"entries": {"aa": {"status": "REVOKED"}, "b": {"status": "REVOKED"}}}`
		if i%2 == 0 {
			content = `{"entries": {"aa": {"status": "REVOKED"}}}`
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}
