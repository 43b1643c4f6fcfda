package guard

import "sync"

// maxCacheEntries bounds each of the guard's caches (verified client
// certificates, verified tokens); a full cache is emptied and fills again,
// which costs one full check per entry and cannot be steered by a client
// into keeping a stale entry.
const maxCacheEntries = 8192

// boundedCache is a concurrency-safe map of at most maxCacheEntries
// entries, keyed by a SHA-256.
type boundedCache[V any] struct {
	mu sync.Mutex
	m  map[[32]byte]V
}

func (c *boundedCache[V]) get(k [32]byte) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

func (c *boundedCache[V]) put(k [32]byte, v V) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCacheEntries {
		c.m = make(map[[32]byte]V)
	}
	c.m[k] = v
	c.mu.Unlock()
}
