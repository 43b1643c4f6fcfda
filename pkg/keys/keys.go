// Package keys loads signing identities — a private key with its certificate
// chain — from PKCS#12 (.p12/.pfx, including files made by keytool and by
// OpenSSL 3 with its default or -legacy algorithms), JKS and PEM files,
// resolves secret references (env:NAME, file:PATH, stdin, literals), and
// provides the built-in, clearly labelled demo identity.
//
// Only this package reads keystores; format code elsewhere takes the
// crypto.Signer in [Signer.Key]. Every error it returns is a
// *[CredentialError] (exit code 4 in the CLI) and never contains a password.
package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/trustfuse/trustfuse/internal/readlimit"
)

// maxKeystoreLen caps the size of a keystore file: real ones are a few KiB.
const maxKeystoreLen = 4 << 20

// Signer is a loaded signing identity.
type Signer struct {
	// Key is the private key: *rsa.PrivateKey or *ecdsa.PrivateKey.
	Key crypto.Signer
	// Certificate is the leaf certificate; its public key is Key's.
	Certificate *x509.Certificate
	// Chain is the certificate chain, leaf first (Chain[0] == Certificate),
	// each next certificate the issuer of the previous one, as far as the
	// keystore holds them.
	Chain []*x509.Certificate
	// Alias is the keystore alias of the entry used ("" if it has none).
	Alias string
	// Source says where the identity came from: the keystore path, "PEM",
	// or "built-in demo key".
	Source string
	// Format is "pkcs12", "jks", "pem" or "demo".
	Format string

	demo bool
}

// IsDemo reports whether this is the built-in demo identity, whose private key
// is public: callers must warn on stderr and in the report.
func (s *Signer) IsDemo() bool { return s.demo }

// CertSHA256 returns the SHA-256 digest of the leaf certificate's DER
// encoding (what apksigner and keytool print as the certificate's SHA-256).
func (s *Signer) CertSHA256() [32]byte { return sha256.Sum256(s.Certificate.Raw) }

// KeyDescription describes the key, e.g. "RSA 2048" or "ECDSA P-256".
func (s *Signer) KeyDescription() string { return DescribePublicKey(s.Key.Public()) }

// Load reads the keystore at path and returns the identity stored under
// alias. The format is detected from the content: PKCS#12, JKS (magic
// FEEDFEED) or PEM (private key and certificates in one file).
//
// alias may be empty when the keystore holds exactly one private key.
// Aliases match case-insensitively, as in keytool. keyPass is the JKS key
// password; nil or empty means "same as storePass". A PKCS#12 file has one
// password (keytool ignores -keypass for PKCS12 too): keyPass is used for it
// only when storePass is empty. PEM files take no passwords.
func Load(path string, storePass []byte, alias string, keyPass []byte) (*Signer, error) {
	data, err := readlimit.File(path, maxKeystoreLen)
	if err != nil {
		if errors.Is(err, readlimit.ErrTooLarge) {
			return nil, formatErr(path, "larger than 4 MiB, not a keystore", nil)
		}
		return nil, &CredentialError{Kind: ErrUnreadable, Source: path, Reason: "cannot read keystore", Err: err}
	}
	return Parse(data, path, storePass, alias, keyPass)
}

// Parse is [Load] for keystore bytes already in memory; name is used in
// messages in place of the path.
func Parse(data []byte, name string, storePass []byte, alias string, keyPass []byte) (*Signer, error) {
	var s *Signer
	var err error
	switch detect(data) {
	case "jks":
		s, err = parseJKS(data, name, storePass, alias, keyPass)
	case "jceks":
		return nil, formatErr(name, "JCEKS keystores are not supported; convert with: keytool -importkeystore -srckeystore "+name+" -srcstoretype JCEKS -destkeystore out.p12 -deststoretype PKCS12", nil)
	case "pkcs12":
		pass := storePass
		if len(pass) == 0 {
			pass = keyPass
		}
		s, err = parsePKCS12(data, name, pass, alias)
	case "pem":
		if alias != "" {
			return nil, aliasErr(name, alias, nil, "PEM files have no aliases")
		}
		s, err = loadPEM(data, data, name)
	default:
		return nil, formatErr(name, "not a PKCS#12, JKS or PEM keystore", nil)
	}
	if err != nil {
		return nil, err
	}
	s.Source = name
	return s, nil
}

// detect names the keystore format from the first bytes.
func detect(data []byte) string {
	if len(data) >= 4 {
		switch binary.BigEndian.Uint32(data) {
		case 0xFEEDFEED:
			return "jks"
		case 0xCECECECE:
			return "jceks"
		}
	}
	if looksLikePFX(data) {
		return "pkcs12"
	}
	if bytes.Contains(data[:min(len(data), 4096)], []byte("-----BEGIN ")) {
		return "pem"
	}
	return ""
}

// checkKey accepts RSA 2048–4096 and ECDSA P-256/P-384 keys.
func checkKey(src string, key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < 2048 || bits > 4096 {
			return nil, unsupported(src, fmt.Sprintf("RSA %d-bit key; use RSA 2048–4096 or ECDSA P-256", bits))
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, unsupported(src, "ECDSA key on curve "+k.Curve.Params().Name+"; use P-256 (or P-384)")
		}
		return k, nil
	default:
		return nil, unsupported(src, fmt.Sprintf("%s key; use RSA 2048–4096 or ECDSA P-256", keyTypeName(key)))
	}
}

func unsupported(src, reason string) *CredentialError {
	return &CredentialError{Kind: ErrUnsupportedKey, Source: src, Reason: src + ": unsupported " + reason}
}

func keyTypeName(key any) string {
	switch key.(type) {
	case interface{ Seed() []byte }:
		return "Ed25519"
	case nil:
		return "missing"
	}
	return fmt.Sprintf("%T", key)
}

// DescribePublicKey names a public key's algorithm and size: "RSA 2048",
// "ECDSA P-256".
func DescribePublicKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", pub)
}

// assemble checks the key, picks the certificate carrying its public key as
// the leaf and orders the chain from it.
func assemble(src, format, alias string, rawKey any, certs []*x509.Certificate) (*Signer, error) {
	key, err := checkKey(src, rawKey)
	if err != nil {
		return nil, err
	}
	type publicKey interface{ Equal(crypto.PublicKey) bool }
	pub := key.Public().(publicKey)
	var leaf *x509.Certificate
	for _, c := range certs {
		if pub.Equal(c.PublicKey) {
			leaf = c
			break
		}
	}
	if leaf == nil {
		return nil, &CredentialError{Kind: ErrKeyMismatch, Source: src, Alias: alias,
			Reason: fmt.Sprintf("%s: none of its %d certificate(s) carries the public key of the private key", src, len(certs))}
	}
	return &Signer{
		Key:         key,
		Certificate: leaf,
		Chain:       buildChain(leaf, certs),
		Alias:       alias,
		Format:      format,
		demo:        isDemoKey(key),
	}, nil
}

// buildChain follows issuer links from leaf through pool. It orders
// certificates; it does not decide trust, so it matches issuer and subject
// names (and key identifiers when both are present) without verifying
// signatures, which Go refuses for SHA-1 certificates still common in old
// Android keystores.
func buildChain(leaf *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	chain := []*x509.Certificate{leaf}
	used := map[*x509.Certificate]bool{leaf: true}
	for cur := leaf; len(chain) <= len(pool); {
		if bytes.Equal(cur.RawIssuer, cur.RawSubject) {
			break // self-issued: the root
		}
		var next *x509.Certificate
		for _, c := range pool {
			if used[c] || !bytes.Equal(c.RawSubject, cur.RawIssuer) {
				continue
			}
			if len(cur.AuthorityKeyId) > 0 && len(c.SubjectKeyId) > 0 && !bytes.Equal(cur.AuthorityKeyId, c.SubjectKeyId) {
				continue
			}
			next = c
			break
		}
		if next == nil {
			break
		}
		used[next] = true
		chain = append(chain, next)
		cur = next
	}
	return chain
}
