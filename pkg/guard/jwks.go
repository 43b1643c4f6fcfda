package guard

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Limits on what is read from the JWKS endpoint.
const (
	maxJWKSBytes = 1 << 20 // body limit
	maxJWKSKeys  = 64      // keys kept from one document
	fetchTimeout = 10 * time.Second
)

// jwk is the part of an RFC 7517 JSON Web Key the guard reads.
// FORMAT: RFC 7517 §4 (kty, use, alg, kid) and RFC 7518 §6.2.1 (crv, x, y).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// parseJWKS decodes a JWK Set and returns its ES256 signature keys by kid.
// Keys of other types, curves or uses are skipped; a key that claims to be
// an EC P-256 signature key but is not a valid point is an error, as is a
// document with no usable key.
func parseJWKS(b []byte) (map[string]*ecdsa.PublicKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJWKS, err)
	}
	keys := make(map[string]*ecdsa.PublicKey)
	for i, raw := range doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrJWKS, i, err)
		}
		if k.Kty != "EC" || k.Crv != "P-256" || (k.Use != "" && k.Use != "sig") ||
			(k.Alg != "" && k.Alg != "ES256") || k.Kid == "" {
			continue
		}
		x, errX := base64.RawURLEncoding.Strict().DecodeString(k.X)
		y, errY := base64.RawURLEncoding.Strict().DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("%w: key %q: bad x or y coordinate", ErrJWKS, k.Kid)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrJWKS, k.Kid, err)
		}
		if _, dup := keys[k.Kid]; dup {
			return nil, fmt.Errorf("%w: duplicate kid %q", ErrJWKS, k.Kid)
		}
		if len(keys) == maxJWKSKeys {
			return nil, fmt.Errorf("%w: more than %d keys", ErrJWKS, maxJWKSKeys)
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no EC P-256 ES256 signature key", ErrJWKS)
	}
	return keys, nil
}

// keyCache holds the keys of the JWKS endpoint. It refreshes them when they
// are older than maxAge and when a token names an unknown kid, at most once
// per minRefresh; when a refresh fails the keys it has stay in use.
type keyCache struct {
	url        string
	client     *http.Client
	clock      func() time.Time
	maxAge     time.Duration
	minRefresh time.Duration
	onError    func(error)

	refreshMu sync.Mutex // one fetch at a time

	mu      sync.RWMutex
	keys    map[string]*ecdsa.PublicKey
	fetched time.Time // last successful fetch
	tried   time.Time // last attempt
}

// key returns the key named kid. A known key is returned at once, and a
// refresh is started in the background when the set is stale; an unknown
// kid waits for a (rate-limited) refresh.
func (c *keyCache) key(ctx context.Context, kid string) (*ecdsa.PublicKey, bool) {
	c.mu.RLock()
	k, ok := c.keys[kid]
	stale := c.clock().Sub(c.fetched) >= c.maxAge
	c.mu.RUnlock()
	if ok {
		if stale && c.refreshMu.TryLock() {
			go func() {
				defer c.refreshMu.Unlock()
				c.refreshLocked(context.WithoutCancel(ctx))
			}()
		}
		return k, true
	}
	c.refreshMu.Lock()
	c.refreshLocked(ctx)
	c.refreshMu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok = c.keys[kid]
	return k, ok
}

// refreshLocked fetches the set unless an attempt was made less than
// minRefresh ago; the caller holds refreshMu (one fetch at a time).
func (c *keyCache) refreshLocked(ctx context.Context) {
	c.mu.RLock()
	recent := !c.tried.IsZero() && c.clock().Sub(c.tried) < c.minRefresh
	c.mu.RUnlock()
	if recent {
		return
	}
	if err := c.refresh(ctx); err != nil && c.onError != nil {
		c.onError(err)
	}
}

// refresh fetches and installs the key set; on failure the old keys stay.
func (c *keyCache) refresh(ctx context.Context) error {
	now := c.clock()
	c.mu.Lock()
	c.tried = now
	c.mu.Unlock()
	keys, err := c.fetch(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.keys, c.fetched = keys, now
	c.mu.Unlock()
	return nil
}

// fetch downloads and parses the JWKS document.
func (c *keyCache) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJWKS, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJWKS, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s: %s", ErrJWKS, c.url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %w", ErrJWKS, c.url, err)
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("%w: GET %s: document larger than %d bytes", ErrJWKS, c.url, maxJWKSBytes)
	}
	return parseJWKS(b)
}

// errNoKey is the detail logged when no key matches a token's kid.
var errNoKey = errors.New("no JWKS key with this kid (after refresh)")
