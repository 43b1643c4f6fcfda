// Package atomicfile writes a file through a temporary file in the same
// directory and renames it into place only on success, so a failed or
// interrupted write never leaves a partial output and never replaces a good
// file with a bad one.
//
// The data is not fsynced before the rename, as go build, apksigner and
// zsign do not: on a running system the output name shows the old file or
// the whole new one, never a part. Only a power loss or kernel crash in
// the seconds after a run can lose the output (a rerun makes it again);
// guarding against that would cost a full flush of every output to the
// disk, which on CI block storage takes longer than signing a large app.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// Commit closes the file and renames it into place.
func (f *File) Commit() error {
	if err := f.finish(); err != nil {
		return err
	}
	return f.rename()
}

// finish closes the temporary file; on failure it is removed.
func (f *File) finish() error {
	if f.done {
		return fmt.Errorf("write %s: already finished", f.path)
	}
	f.done = true
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// rename moves the finished temporary file into place; on failure it is
// removed.
func (f *File) rename() error {
	if err := os.Rename(f.Name(), f.path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Path is where the file appears on Commit (Name is the temporary file).
func (f *File) Path() string { return f.path }

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

// Group stages several outputs that must all appear or none: each is
// written to its own temporary file, and Commit renames them into place
// only after every one was written and flushed. The zero Group is ready.
type Group struct {
	files   []*File
	remove  []string
	flushed bool
}

// Create stages path in the group, as Create does.
func (g *Group) Create(path string) (*File, error) {
	f, err := Create(path)
	if err != nil {
		return nil, err
	}
	g.files = append(g.files, f)
	return f, nil
}

// RemoveOnCommit asks Commit to delete path once the outputs are in
// place: a stale companion file (an old .idsig beside an APK being
// replaced) must not outlive them, nor disappear if they never appear.
func (g *Group) RemoveOnCommit(path string) { g.remove = append(g.remove, path) }

// Flush writes every staged file to disk and closes it; it fails, and
// removes every temporary file, if any of them cannot be. A caller with a
// side effect of its own (a registry entry) does it between Flush and
// Commit, so that a full disk stops the run before the side effect.
func (g *Group) Flush() error {
	for _, f := range g.files {
		if err := f.finish(); err != nil {
			g.Abort()
			return err
		}
	}
	g.flushed = true
	return nil
}

// Commit flushes the staged files (unless Flush did), then renames them
// all into place and deletes the paths given to RemoveOnCommit. If any
// file cannot be flushed, nothing is renamed and every temporary file is
// removed. If a rename fails after others succeeded (the directory changed
// under us), the outputs already renamed are removed again, so that none of
// the group remains, and the error says so: files they replaced are gone
// either way.
func (g *Group) Commit() error {
	if !g.flushed {
		if err := g.Flush(); err != nil {
			return err
		}
	}
	for i, f := range g.files {
		if err := f.rename(); err != nil {
			var undone []string
			for _, prev := range g.files[:i] {
				os.Remove(prev.path)
				undone = append(undone, prev.path)
			}
			for _, rest := range g.files[i+1:] {
				os.Remove(rest.Name())
			}
			g.files, g.remove, g.flushed = nil, nil, false
			if len(undone) > 0 {
				return fmt.Errorf("%w (removed %s again, which was already in place: all outputs or none)", err, strings.Join(undone, ", "))
			}
			return err
		}
	}
	remove := g.remove
	g.files, g.remove, g.flushed = nil, nil, false
	for _, p := range remove {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("the outputs are in place, but stale %s could not be removed: %w", p, err)
		}
	}
	return nil
}

// Abort removes every staged temporary file; the targets are untouched.
// It is safe after Commit, so `defer g.Abort()` covers every error path.
func (g *Group) Abort() {
	for _, f := range g.files {
		if f.done {
			os.Remove(f.Name()) // finished but not renamed: no-op once renamed
		}
		f.Abort()
	}
	g.files, g.remove, g.flushed = nil, nil, false
}
