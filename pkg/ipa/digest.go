package ipa

import (
	"cmp"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// digest is a file's content digests, as CodeResources records them.
type digest struct{ sha1, sha256 []byte }

// digestJob digests the app's files in the background from the moment
// FromZip has listed them: Sign and Verify need the SHA-1 and SHA-256 of
// every file CodeResources seals, and computing them (inflating the
// deflated ones) is most of their work. Started early, it runs on the
// cores FromZip leaves idle while it inflates the executables to read
// their Mach-O headers. Close stops it.
type digestJob struct {
	stop chan struct{}
	done chan struct{}
	out  map[*zipx.Entry]digest
	err  error
}

// errStopped ends a digest job that Close stopped.
var errStopped = errors.New("ipa: digesting stopped")

// startDigests digests entries in the background, but for those whose
// digest a.known holds.
func (a *IPA) startDigests(entries []*zipx.Entry) {
	j := &digestJob{stop: make(chan struct{}), done: make(chan struct{})}
	a.digests = j
	have := map[*zipx.Entry]digest{}
	var todo []*zipx.Entry
	for _, e := range entries {
		if d, ok := a.known[e.Name]; ok {
			have[e] = d
		} else {
			todo = append(todo, e)
		}
	}
	go func() {
		defer close(j.done)
		out, err := hashAll(todo, j.stop)
		if err != nil {
			j.err = err
			return
		}
		for e, d := range have {
			out[e] = d
		}
		j.out = out
	}()
}

// digestsOf returns the digests of entries: the background job's, and any
// it did not cover computed now.
func (a *IPA) digestsOf(entries []*zipx.Entry) (map[*zipx.Entry]digest, error) {
	have := map[*zipx.Entry]digest{}
	if j := a.digests; j != nil {
		<-j.done
		if j.err != nil {
			return nil, j.err
		}
		have = j.out
	}
	var missing []*zipx.Entry
	for _, e := range entries {
		if _, ok := have[e]; !ok {
			missing = append(missing, e)
		}
	}
	if len(missing) == 0 {
		return have, nil
	}
	more, err := hashAll(missing, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[*zipx.Entry]digest, len(have)+len(more))
	for _, m := range []map[*zipx.Entry]digest{have, more} {
		for e, d := range m {
			out[e] = d
		}
	}
	return out, nil
}

// stopDigests stops the background job and waits for it.
func (a *IPA) stopDigests() {
	if j := a.digests; j != nil {
		select {
		case <-j.stop:
		default:
			close(j.stop)
		}
		<-j.done
	}
}

// hashAll returns the digests of entries, hashed on all cores, largest
// first so that no core is left with a big one at the end. Closing stop
// (nil: never) ends it early with errStopped.
func hashAll(entries []*zipx.Entry, stop <-chan struct{}) (map[*zipx.Entry]digest, error) {
	entries = slices.Clone(entries)
	slices.SortStableFunc(entries, func(a, b *zipx.Entry) int { return cmp.Compare(b.UncompressedSize, a.UncompressedSize) })
	out := make(map[*zipx.Entry]digest, len(entries))
	work := make(chan *zipx.Entry)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for e := range work {
				dg, err := hashEntry(e, buf, stop)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[e] = dg
				mu.Unlock()
			}
		}()
	}
	for _, e := range entries {
		work <- e
	}
	close(work)
	wg.Wait()
	return out, firstErr
}

// hashEntry returns the SHA-1 and SHA-256 of e's content, read once.
func hashEntry(e *zipx.Entry, buf []byte, stop <-chan struct{}) (digest, error) {
	h1, h2 := sha1.New(), sha256.New()
	rc := e.Open()
	defer rc.Close()
	if _, err := io.CopyBuffer(io.MultiWriter(h1, h2), stoppable{rc, stop}, buf); err != nil {
		return digest{}, fmt.Errorf("ipa: %s: %w", e.Name, err)
	}
	return digest{h1.Sum(nil), h2.Sum(nil)}, nil
}

// stoppable is a reader that fails with errStopped once stop is closed.
type stoppable struct {
	r    io.Reader
	stop <-chan struct{}
}

func (s stoppable) Read(p []byte) (int, error) {
	select {
	case <-s.stop:
		return 0, errStopped
	default:
		return s.r.Read(p)
	}
}
