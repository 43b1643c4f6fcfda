// Package readlimit reads whole files whose size is capped, so that a file
// given by a user (keystore, Fusion Set, report, revocation list) cannot
// make the process allocate without bound. Callers word the "too large"
// error for their own file kind.
package readlimit

import (
	"errors"
	"io"
	"os"
)

// ErrTooLarge is returned by File when the file holds more than the limit.
var ErrTooLarge = errors.New("readlimit: file too large")

// File returns the content of the file at path if it is at most limit
// bytes, else ErrTooLarge (unwrapped, for the caller to word). Open and read
// errors are returned as the os package gives them (they name the path).
func File(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, ErrTooLarge
	}
	return b, nil
}
