package apk

import (
	"os"

	"github.com/trustfuse/trustfuse/internal/atomicfile"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// V4Output is what became of the v4 signature file (<out>.idsig) of an
// APK written by `sign` or `fuse`.
type V4Output struct {
	// Written is the .idsig staged for the output ("" if none was asked for).
	Written string `json:"written,omitempty"`
	// RemovedStale is an .idsig found at the output's path (left by an
	// earlier run) that goes away with the output: it cannot sign it.
	RemovedStale string `json:"removedStale,omitempty"`
}

// StageV4 settles the v4 signature file of an APK that g stages for out,
// whose signed bytes are in the temporary file staged. With write, it
// stages out.idsig, signed by s (the APK's v3 signer), in g. Without, a
// regular file already at out.idsig is removed when g commits: a v4
// signature signs one exact APK file, so a stale one must never sit beside
// the new output (inspect would refuse to claim it, and adb would refuse to
// install with it). Nothing changes on disk until g commits.
func StageV4(g *atomicfile.Group, staged, out string, s *apksig.Signer, write bool) (V4Output, error) {
	path := out + apksig.IdsigSuffix
	if !write {
		if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() {
			g.RemoveOnCommit(path)
			return V4Output{RemovedStale: path}, nil
		}
		return V4Output{}, nil
	}
	z, err := zipx.Open(staged)
	if err != nil {
		return V4Output{}, err
	}
	defer z.Close()
	v, err := apksig.SignV4(z.Reader, s)
	if err != nil {
		return V4Output{}, err
	}
	data, err := v.MarshalBinary()
	if err != nil {
		return V4Output{}, err
	}
	f, err := g.Create(path)
	if err != nil {
		return V4Output{}, err
	}
	if _, err := f.Write(data); err != nil {
		return V4Output{}, err
	}
	return V4Output{Written: path}, nil
}
