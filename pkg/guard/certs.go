package guard

import (
	"crypto/x509"
	"time"
)

// certCache remembers client certificates already verified against
// ClientCAs, keyed by the leaf's SHA-256, until the earliest NotAfter of
// the chain found: a connection carries the same certificate on every
// request, and the chain check costs as much as the token check.
type certCache struct {
	until boundedCache[time.Time]
}

// verify checks that chain[0] chains to roots (with chain[1:] as
// intermediates) and is valid for client authentication at now.
func (c *certCache) verify(sum [32]byte, chain []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	until, ok := c.until.get(sum)
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
	c.until.put(sum, until)
	return nil
}
