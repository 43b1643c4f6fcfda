package apksig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
)

// Signer is a signing identity: a private key and its certificate chain, leaf
// first. Format code never loads keys: pkg/keys does.
type Signer struct {
	Key   crypto.Signer
	Certs []*x509.Certificate
}

// ErrUnsupportedKey reports a key type or size APK signing cannot use.
var ErrUnsupportedKey = errors.New("apksig: unsupported signing key")

// check reports a signer APK signing cannot use: no key or certificate, a
// key type or size Android does not accept, or a key that is not its
// certificate's (its signatures would not verify).
func (s *Signer) check() error {
	if s == nil || s.Key == nil || len(s.Certs) == 0 {
		return errors.New("apksig: signer needs a key and a certificate")
	}
	switch k := s.Key.Public().(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("%w: RSA %d bits (need 2048 or more)", ErrUnsupportedKey, k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("%w: ECDSA on %s (need P-256 or P-384)", ErrUnsupportedKey, k.Curve.Params().Name)
		}
	default:
		return fmt.Errorf("%w: %T", ErrUnsupportedKey, k)
	}
	return s.matchesCert()
}

// isEC reports whether the signer's key is ECDSA.
func (s *Signer) isEC() bool {
	_, ok := s.Key.Public().(*ecdsa.PublicKey)
	return ok
}

// sign signs digest (made with h) deterministically: RSA PKCS#1 v1.5 is
// deterministic and ECDSA uses RFC 6979 nonces when no randomness is given,
// so the same input and key give the same bytes.
func (s *Signer) sign(digest []byte, h crypto.Hash) ([]byte, error) {
	sig, err := s.Key.Sign(nil, digest, h)
	if err != nil {
		return nil, fmt.Errorf("apksig: sign: %w", err)
	}
	return sig, nil
}
