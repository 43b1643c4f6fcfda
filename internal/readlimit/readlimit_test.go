package readlimit

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, 10), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int64
		want  error
	}{{10, nil}, {11, nil}, {9, ErrTooLarge}, {0, ErrTooLarge}} {
		b, err := File(p, tc.limit)
		if !errors.Is(err, tc.want) || (err == nil && len(b) != 10) {
			t.Errorf("limit %d: %d bytes, %v; want %v", tc.limit, len(b), err, tc.want)
		}
	}
	if _, err := File(filepath.Join(dir, "missing"), 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
