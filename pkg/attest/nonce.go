package attest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"
)

// Nonce layout: 16 random bytes || expiry (unix seconds, 8 bytes big-endian)
// || HMAC-SHA256(nonceKey, random || expiry); base64url without padding.
const (
	nonceRandLen = 16
	nonceBodyLen = nonceRandLen + 8
	// NonceLen is the decoded length of a nonce.
	NonceLen = nonceBodyLen + sha256.Size
)

// Nonce refusal reasons.
var (
	errNonceForged  = errors.New("attest: nonce not issued by this server")
	errNonceExpired = errors.New("attest: nonce expired")
)

// Nonces issues and checks stateless HMAC nonces. Issue needs no storage;
// one-time use is enforced at Check through the ReplayCache.
type Nonces struct {
	key  []byte
	ttl  time.Duration
	rand io.Reader
	macs sync.Pool // of hash.Hash: HMAC-SHA256 keyed with key, reset after use
}

// NewNonces returns a nonce issuer with the given HMAC key (at least 32
// bytes; replicas sharing a replay cache must share it) and lifetime.
func NewNonces(key []byte, ttl time.Duration, rand io.Reader) (*Nonces, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("%w: nonce key is %d bytes, want at least 32", ErrConfig, len(key))
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("%w: nonce lifetime %v", ErrConfig, ttl)
	}
	n := &Nonces{key: key, ttl: ttl, rand: rand}
	n.macs.New = func() any { return hmac.New(sha256.New, n.key) }
	return n, nil
}

// Issue returns a new nonce (base64url) and its expiry.
func (n *Nonces) Issue(now time.Time) (string, time.Time, error) {
	b := make([]byte, NonceLen)
	if _, err := io.ReadFull(n.rand, b[:nonceRandLen]); err != nil {
		return "", time.Time{}, fmt.Errorf("attest: nonce randomness: %w", err)
	}
	exp := now.Add(n.ttl).Truncate(time.Second)
	binary.BigEndian.PutUint64(b[nonceRandLen:nonceBodyLen], uint64(exp.Unix()))
	n.mac(b[:nonceBodyLen], b[:nonceBodyLen])
	return base64.RawURLEncoding.EncodeToString(b), exp, nil
}

// mac appends HMAC-SHA256(key, body) to dst. The keyed HMACs are pooled:
// a reset one resumes from its saved keyed state instead of hashing the
// key pads again.
func (n *Nonces) mac(dst, body []byte) []byte {
	h := n.macs.Get().(hash.Hash)
	h.Write(body)
	dst = h.Sum(dst)
	h.Reset()
	n.macs.Put(h)
	return dst
}

// Parse checks a nonce's MAC and expiry and returns its raw bytes and
// expiry; it does not consume it.
func (n *Nonces) Parse(s string, now time.Time) ([]byte, time.Time, error) {
	if len(s) != base64.RawURLEncoding.EncodedLen(NonceLen) {
		return nil, time.Time{}, errNonceForged
	}
	// Strict: the last character's two spare bits must be zero, so each
	// nonce has one spelling (the replay cache keys on the decoded bytes,
	// but a second spelling of an issued nonce is still not one we issued).
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != NonceLen {
		return nil, time.Time{}, errNonceForged
	}
	var sum [sha256.Size]byte
	if !hmac.Equal(b[nonceBodyLen:], n.mac(sum[:0], b[:nonceBodyLen])) {
		return nil, time.Time{}, errNonceForged
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[nonceRandLen:nonceBodyLen])), 0)
	if !now.Before(exp) {
		return nil, time.Time{}, errNonceExpired
	}
	return b, exp, nil
}
