// Package vault seals the client identity (private key, certificate chain and
// attestation key) that the injected Android runtime installs for mutual TLS.
//
// The sealing key is split three ways: a pepper compiled into the runtime dex,
// a salt stored in the vault asset, and the SHA-256 digest of the APK signer
// certificate. A re-signed (repackaged) app therefore derives a different key
// and cannot unseal the vault; the policy asset is bound as associated data,
// so editing it breaks unsealing too. This raises the cost of extracting the
// key from the package at rest; it does not protect the key from an attacker
// who reads the process memory at run time (see docs/runtime.md).
//
// On iOS the signer digest is [IOSSignerDigest] of the app's team id and
// bundle id instead: the runtime reads both at run time, and an app
// re-signed by another team has another team id.
//
// FORMAT (all integers big-endian, so java.io.DataInputStream reads them):
//
//	off  size  field
//	0    4     magic "TFV1"
//	4    1     version = 1
//	5    32    salt   = SHA-256("trustfuse vault salt" || plaintext)
//	37   12    nonce  = HMAC-SHA256(K, plaintext)[:12]
//	49   n+16  AES-256-GCM(K, nonce, plaintext, AAD) ciphertext || tag
//
//	K   = HKDF-SHA256(IKM = pepper || signerCertSHA256, salt, info = "trustfuse vault v1", L = 32)
//	AAD = bytes 0..36 of the vault (magic || version || salt) || SHA-256(policy.bin)
//
// Plaintext:
//
//	u32 len | PKCS#8 DER private key (RSA or EC), or empty (len 0)
//	u16 count | count × (u32 len | DER X.509 certificate), leaf first
//	u32 len | attestation key bytes (may be empty)
//
// An empty private key marks an attested identity ([Identity.Attested]):
// the device generates its key in hardware and the attestation service
// certifies it, so the package carries no private key and the chain is the
// issuer CA chain those certificates chain to (CA certificates only).
package vault

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
)

// Format constants.
const (
	Magic   = "TFV1" // first four bytes of every vault
	Version = 1      // the only version written and read

	// PepperSize is the size of the key part compiled into the runtime.
	PepperSize = 32
	// MaxSize caps the vault size Open accepts (a client identity is a few KiB).
	MaxSize = 1 << 20

	headerSize = 4 + 1 + 32 + 12
	aadPrefix  = 4 + 1 + 32
	tagSize    = 16
	saltLabel  = "trustfuse vault salt"
	hkdfInfo   = "trustfuse vault v1"
)

// Sentinel errors; malformed input comes wrapped in a *FormatError.
var (
	ErrFormat   = errors.New("vault: malformed vault")
	ErrUnseal   = errors.New("vault: cannot unseal (wrong pepper, signer or policy, or corrupted vault)")
	ErrIdentity = errors.New("vault: unsupported or inconsistent identity")
	ErrPepper   = errors.New("vault: pepper must be 32 bytes")
)

// FormatError reports a malformed vault or plaintext: the byte offset where
// the problem was found (in the vault, or in the decrypted plaintext when
// InPlaintext is set) and its kind (ErrFormat).
type FormatError struct {
	Offset      int64
	InPlaintext bool
	Detail      string
	Err         error
}

// Error formats the kind, the detail and the offset.
func (e *FormatError) Error() string {
	where := "vault"
	if e.InPlaintext {
		where = "plaintext"
	}
	return fmt.Sprintf("%s: %s (at %s offset %d)", e.Err.Error(), e.Detail, where, e.Offset)
}

// Unwrap returns the sentinel kind.
func (e *FormatError) Unwrap() error { return e.Err }

// Identity is the client identity sealed into the vault.
type Identity struct {
	Key       crypto.Signer       // RSA or ECDSA private key of Chain[0]; nil for an attested identity
	Chain     []*x509.Certificate // leaf first; an attested identity's issuer CA chain
	AttestKey []byte              // key material for the attestation client (may be nil)
}

// Attested reports whether id is an attested identity: no private key, and
// a chain of CA certificates the attestation service issues device
// certificates under.
func (id Identity) Attested() bool { return id.Key == nil && len(id.Chain) > 0 }

// Seal encrypts id for the app signed by the certificate whose SHA-256 is
// signerDigest and whose policy asset is policy. The output is a function of
// its inputs only: sealing the same inputs twice gives the same bytes.
func Seal(id Identity, pepper []byte, signerDigest [32]byte, policy []byte) ([]byte, error) {
	if len(pepper) != PepperSize {
		return nil, ErrPepper
	}
	pt, err := marshal(id)
	if err != nil {
		return nil, err
	}
	saltSum := sha256.Sum256(append([]byte(saltLabel), pt...))
	salt := saltSum[:]
	key, err := deriveKey(pepper, signerDigest, salt)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(pt)
	nonce := mac.Sum(nil)[:12]

	out := make([]byte, 0, headerSize+len(pt)+tagSize)
	out = append(out, Magic...)
	out = append(out, Version)
	out = append(out, salt...)
	out = append(out, nonce...)
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return aead.Seal(out, nonce, pt, aad(out[:aadPrefix], policy)), nil
}

// Open decrypts a vault written by Seal. It fails with ErrUnseal when any key
// part (pepper, signer digest, salt) or the policy differs, or when a byte of
// the vault was changed.
func Open(blob, pepper []byte, signerDigest [32]byte, policy []byte) (*Identity, error) {
	if len(pepper) != PepperSize {
		return nil, ErrPepper
	}
	switch {
	case len(blob) > MaxSize:
		return nil, &FormatError{Offset: MaxSize, Detail: fmt.Sprintf("vault of %d bytes exceeds %d", len(blob), MaxSize), Err: ErrFormat}
	case len(blob) < headerSize+tagSize:
		return nil, &FormatError{Offset: int64(len(blob)), Detail: "truncated", Err: ErrFormat}
	case string(blob[:4]) != Magic:
		return nil, &FormatError{Offset: 0, Detail: fmt.Sprintf("bad magic %q", blob[:4]), Err: ErrFormat}
	case blob[4] != Version:
		return nil, &FormatError{Offset: 4, Detail: fmt.Sprintf("unsupported version %d", blob[4]), Err: ErrFormat}
	}
	salt, nonce := blob[5:37], blob[37:49]
	key, err := deriveKey(pepper, signerDigest, salt)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, nonce, blob[headerSize:], aad(blob[:aadPrefix], policy))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnseal, err)
	}
	return unmarshal(pt)
}

// IOSSignerDigest is the signer digest an iOS vault is sealed to:
// SHA-256 of the application identifier "<teamID>.<bundleID>" (ASCII, no
// NUL), where teamID is the team identifier in the main executable's
// CodeDirectory and bundleID its CFBundleIdentifier.
func IOSSignerDigest(teamID, bundleID string) [32]byte {
	return sha256.Sum256([]byte(teamID + "." + bundleID))
}

// deriveKey is HKDF-SHA256 (RFC 5869) with IKM = pepper || signerDigest.
func deriveKey(pepper []byte, signerDigest [32]byte, salt []byte) ([]byte, error) {
	ikm := make([]byte, 0, len(pepper)+len(signerDigest))
	ikm = append(append(ikm, pepper...), signerDigest[:]...)
	k, err := hkdf.Key(sha256.New, ikm, salt, hkdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("vault: derive key: %w", err)
	}
	return k, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return aead, nil
}

func aad(prefix, policy []byte) []byte {
	sum := sha256.Sum256(policy)
	a := make([]byte, 0, len(prefix)+len(sum))
	return append(append(a, prefix...), sum[:]...)
}

// marshal encodes the plaintext; see the package FORMAT comment.
func marshal(id Identity) ([]byte, error) {
	if len(id.Chain) == 0 {
		return nil, fmt.Errorf("%w: at least one certificate is required", ErrIdentity)
	}
	if len(id.Chain) > 0xffff {
		return nil, fmt.Errorf("%w: %d certificates", ErrIdentity, len(id.Chain))
	}
	var der []byte
	if id.Attested() {
		if err := checkIssuers(id.Chain); err != nil {
			return nil, err
		}
	} else {
		if err := checkPair(id.Key.Public(), id.Chain[0]); err != nil {
			return nil, err
		}
		var err error
		if der, err = x509.MarshalPKCS8PrivateKey(id.Key); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrIdentity, err)
		}
	}
	var b bytes.Buffer
	putBytes(&b, der)
	b.Write(binary.BigEndian.AppendUint16(nil, uint16(len(id.Chain))))
	for _, c := range id.Chain {
		if c == nil {
			return nil, fmt.Errorf("%w: nil certificate", ErrIdentity)
		}
		putBytes(&b, c.Raw)
	}
	putBytes(&b, id.AttestKey)
	return b.Bytes(), nil
}

func putBytes(b *bytes.Buffer, p []byte) {
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
	b.Write(p)
}

// checkPair accepts RSA and ECDSA keys (what KeyFactory builds on every
// Android version) whose public half is the leaf certificate's key.
func checkPair(pub crypto.PublicKey, leaf *x509.Certificate) error {
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return fmt.Errorf("%w: key type %T (want RSA or ECDSA)", ErrIdentity, pub)
	}
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if leaf == nil || !ok || !eq.Equal(leaf.PublicKey) {
		return fmt.Errorf("%w: private key does not match the leaf certificate", ErrIdentity)
	}
	return nil
}

// checkIssuers accepts the chain of an attested identity: CA certificates
// only, since a keyless vault names who issues the device's certificate,
// never a certificate to present.
func checkIssuers(chain []*x509.Certificate) error {
	for i, c := range chain {
		if c == nil {
			return fmt.Errorf("%w: nil certificate", ErrIdentity)
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return fmt.Errorf("%w: no private key, and certificate %d (%s) is not a CA certificate: a keyless (attested) vault holds only the issuer CA chain", ErrIdentity, i, c.Subject)
		}
	}
	return nil
}

// plainReader walks the decrypted plaintext, reporting offsets on error.
type plainReader struct {
	b   []byte
	off int
}

func (r *plainReader) fail(detail string) error {
	return &FormatError{Offset: int64(r.off), InPlaintext: true, Detail: detail, Err: ErrFormat}
}

func (r *plainReader) uint(n int) (uint32, error) {
	if len(r.b)-r.off < n {
		return 0, r.fail("truncated length")
	}
	var v uint32
	for _, c := range r.b[r.off : r.off+n] {
		v = v<<8 | uint32(c)
	}
	r.off += n
	return v, nil
}

func (r *plainReader) bytes(what string) ([]byte, error) {
	n, err := r.uint(4)
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.off -= 4
		return nil, r.fail(fmt.Sprintf("%s length %d exceeds the %d bytes left", what, n, len(r.b)-r.off-4))
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p, nil
}

func unmarshal(pt []byte) (*Identity, error) {
	r := &plainReader{b: pt}
	der, err := r.bytes("private key")
	if err != nil {
		return nil, err
	}
	var signer crypto.Signer
	if len(der) > 0 {
		if signer, err = parseKey(r, der); err != nil {
			return nil, err
		}
	}
	count, err := r.uint(2)
	if err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, r.fail("empty certificate chain")
	}
	chain := make([]*x509.Certificate, 0, min(int(count), 16))
	for range count {
		start := r.off
		raw, err := r.bytes("certificate")
		if err != nil {
			return nil, err
		}
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			r.off = start
			return nil, r.fail(fmt.Sprintf("certificate %d: %v", len(chain), err))
		}
		chain = append(chain, c)
	}
	attest, err := r.bytes("attestation key")
	if err != nil {
		return nil, err
	}
	if r.off != len(pt) {
		return nil, r.fail(fmt.Sprintf("%d trailing bytes", len(pt)-r.off))
	}
	if signer == nil {
		err = checkIssuers(chain)
	} else {
		err = checkPair(signer.Public(), chain[0])
	}
	if err != nil {
		return nil, err
	}
	var ak []byte
	if len(attest) > 0 {
		ak = bytes.Clone(attest)
	}
	return &Identity{Key: signer, Chain: chain, AttestKey: ak}, nil
}

// parseKey decodes the plaintext's private key.
func parseKey(r *plainReader, der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, r.fail(fmt.Sprintf("private key: %v", err))
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: key type %T", ErrIdentity, k)
	}
	// Only the encoding Seal writes: the parser ignores parts of a key
	// (an EC key's embedded public point), so another encoding could carry
	// a public key that is not the private key's.
	if again, err := x509.MarshalPKCS8PrivateKey(k); err != nil || !bytes.Equal(again, der) {
		return nil, fmt.Errorf("%w: the private key is not in the canonical PKCS#8 form Seal writes", ErrIdentity)
	}
	return signer, nil
}
