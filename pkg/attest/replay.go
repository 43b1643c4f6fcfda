package attest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReplayCache records used nonces until they expire. Use reports whether id
// was fresh (and marks it used) in one atomic step.
type ReplayCache interface {
	Use(ctx context.Context, id string, until time.Time) (fresh bool, err error)
}

// MemoryReplay is a bounded, expiring in-process ReplayCache (one replica).
// When it holds max unexpired ids it fails closed with ErrReplayCacheFull.
type MemoryReplay struct {
	mu   sync.Mutex
	max  int
	seen map[string]time.Time
	now  func() time.Time
}

// NewMemoryReplay returns a MemoryReplay holding at most max ids; now is
// the clock (nil means time.Now).
func NewMemoryReplay(max int, now func() time.Time) *MemoryReplay {
	if now == nil {
		now = time.Now
	}
	return &MemoryReplay{max: max, seen: map[string]time.Time{}, now: now}
}

// Use implements ReplayCache.
func (m *MemoryReplay) Use(_ context.Context, id string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if exp, ok := m.seen[id]; ok && now.Before(exp) {
		return false, nil
	}
	if len(m.seen) >= m.max {
		for k, exp := range m.seen {
			if !now.Before(exp) {
				delete(m.seen, k)
			}
		}
		if len(m.seen) >= m.max {
			return false, ErrReplayCacheFull
		}
	}
	m.seen[id] = until
	return true, nil
}

// Len returns the number of ids held (expired ones included until purged).
func (m *MemoryReplay) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}

// RedisReplay is a ReplayCache shared by several serve replicas through
// Redis: SET key 1 NX PX <ms until expiry>.
type RedisReplay struct {
	client *redis.Client
	prefix string
	now    func() time.Time
}

// NewRedisReplay connects to url (redis://host:port/db) lazily; keys are
// "<prefix>nonce:<id>".
func NewRedisReplay(url, prefix string, now func() time.Time) (*RedisReplay, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%w: redis url: %w", ErrConfig, err)
	}
	if now == nil {
		now = time.Now
	}
	return &RedisReplay{client: redis.NewClient(opt), prefix: prefix, now: now}, nil
}

// Use implements ReplayCache.
func (r *RedisReplay) Use(ctx context.Context, id string, until time.Time) (bool, error) {
	ttl := until.Sub(r.now())
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	ok, err := r.client.SetNX(ctx, r.prefix+"nonce:"+id, "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("attest: redis replay cache: %w", err)
	}
	return ok, nil
}

// Close closes the Redis connection pool.
func (r *RedisReplay) Close() error { return r.client.Close() }
