package guard

import (
	"crypto/x509"
	"sync"
	"time"
)

// maxCertCache bounds the verified-certificate cache; when full it is
// emptied and fills again.
const maxCertCache = 8192

// certCache remembers client certificates already verified against
// ClientCAs, keyed by the leaf's SHA-256, until the earliest NotAfter of
// the chain found: a connection carries the same certificate on every
// request, and the chain check costs as much as the token check.
type certCache struct {
	mu    sync.Mutex
	until map[[32]byte]time.Time
}

// verify checks that chain[0] chains to roots (with chain[1:] as
// intermediates) and is valid for client authentication at now.
func (c *certCache) verify(sum [32]byte, chain []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	c.mu.Lock()
	until, ok := c.until[sum]
	c.mu.Unlock()
	if ok && now.Before(until) {
		return nil
	}
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	found, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return err
	}
	until = found[0][0].NotAfter
	for _, cc := range found[0] {
		if cc.NotAfter.Before(until) {
			until = cc.NotAfter
		}
	}
	c.mu.Lock()
	if c.until == nil || len(c.until) >= maxCertCache {
		c.until = make(map[[32]byte]time.Time)
	}
	c.until[sum] = until
	c.mu.Unlock()
	return nil
}
