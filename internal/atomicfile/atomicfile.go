// Package atomicfile writes a file through a temporary file in the same
// directory and renames it into place only on success, so a failed or
// interrupted write never leaves a partial output and never replaces a good
// file with a bad one.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is an output being written. Write to File; then Commit or Abort.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts writing path. The temporary file is created next to it (same
// file system, so the rename is atomic) with mode 0644.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &File{File: f, path: path}, nil
}

// Commit flushes the data to disk and renames the file into place.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("write %s: already finished", f.path)
	}
	f.done = true
	tmp := f.Name()
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Abort removes the temporary file. It is safe to call after Commit (it then
// does nothing), so `defer f.Abort()` covers every error path.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}
