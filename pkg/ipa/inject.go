package ipa

import (
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// withAdded returns in with o.Add's files added to the app (entries
// appended after the input's, deflated, stamped o.Time), re-opened from a
// temporary archive in dir so that scan sees the bundles they form (a
// framework's Info.plist and executable: a KindFramework code item) as it
// sees the input's own; close it when done. The input's entries are
// copied raw, and their digests (in's background job) carried over by
// name, so that only the added files are hashed again.
func withAdded(in *IPA, add map[string][]byte, o SignOptions, dir string) (*File, error) {
	for rel := range add {
		name := in.App.Dir + rel
		switch {
		case rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || strings.HasPrefix(rel, "../") || rel == "..":
			return nil, formatErr(name, nil, "cannot add %q: not a clean path inside the app", rel)
		case in.Zip.Entry(name) != nil:
			return nil, formatErr(name, nil, "cannot add: the app already has this file")
		}
	}
	var files []*zipx.Entry
	for _, e := range in.App.files {
		if e != in.App.exec {
			files = append(files, e)
		}
	}
	hashes, err := in.digestsOf(files)
	if err != nil {
		return nil, err
	}
	known := make(map[string]digest, len(hashes))
	for e, d := range hashes {
		known[e.Name] = d
	}
	tmp := filepath.Join(dir, "added.ipa")
	f, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	zw := zipx.NewWriter(f, zipx.Options{Align: 1, SoAlign: 1, Modified: o.Time})
	for _, e := range in.Zip.Entries {
		if err = zw.Copy(e); err != nil {
			break
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(add)) {
		if err != nil {
			break
		}
		err = zw.Add(zipx.Header{Name: in.App.Dir + rel, Method: zipx.Deflate}, add[rel])
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("ipa: adding files: %w", err)
	}
	zf, err := zipx.OpenZip64(tmp)
	if err != nil {
		return nil, err
	}
	a, err := fromZip(zf.Reader, known)
	if err != nil {
		zf.Close()
		return nil, err
	}
	return &File{IPA: a, f: zf}, nil
}
