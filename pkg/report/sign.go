package report

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// MediaType identifies the report file format (docs/report.md).
const MediaType = "application/vnd.trustfuse.report.v1+json"

// maxChainLen caps the certificate chain a report may carry.
const maxChainLen = 10

// ErrSigningKey reports a key that cannot sign a report: neither RSA nor
// ECDSA, or not the key of the chain's leaf certificate.
var ErrSigningKey = errors.New("report: signing key")

// File is the report file: a DSSE envelope and the certificate chain of
// the key that signed it.
//
// FORMAT: docs/report.md and report.schema.json. The envelope is as in the
// DSSE specification (github.com/secure-systems-lab/dsse, envelope.md):
// payloadType "application/vnd.in-toto+json", payload the standard base64
// of the Statement's JSON, one signature whose keyid is the lowercase hex
// SHA-256 of the leaf certificate's DER and whose sig is the standard base64
// of an RSASSA-PKCS1-v1_5 SHA-256 signature or an ASN.1 DER ECDSA signature
// over SHA-256, of PAE(payloadType, payload). certificateChain holds the
// standard base64 DER of each certificate, leaf first — the field name and
// encoding are the x5c convention of JWS (RFC 7515 §4.1.6).
type File struct {
	MediaType        string        `json:"mediaType"`
	DSSEEnvelope     dsse.Envelope `json:"dsseEnvelope"`
	CertificateChain []string      `json:"certificateChain"`
}

// MarshalPayload returns the bytes the envelope carries for st: compact
// JSON, struct fields in declaration order, map keys sorted, HTML
// characters escaped (encoding/json's defaults), times in RFC 3339.
// The same Statement always gives the same bytes.
func MarshalPayload(st *Statement) ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("report: encode statement: %w", err)
	}
	return b, nil
}

// Sign validates st against the embedded schema, wraps it in a DSSE
// envelope signed with key, and returns the report file: indented JSON
// followed by a newline. chain is the key's certificate chain, leaf first;
// the leaf's public key must be key's.
//
// The bytes depend only on st, key and chain: RSA keys sign with PKCS#1
// v1.5 and ECDSA keys with RFC 6979 deterministic nonces. Other
// crypto.Signer implementations (hardware keys) are given crypto/rand and
// may sign differently each time.
func Sign(st *Statement, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: no certificate chain", ErrSigningKey)
	}
	if len(chain) > maxChainLen {
		return nil, fmt.Errorf("%w: certificate chain of %d certificates (at most %d)", ErrSigningKey, len(chain), maxChainLen)
	}
	if err := checkKeyMatches(key.Public(), chain[0]); err != nil {
		return nil, err
	}
	payload, err := MarshalPayload(st)
	if err != nil {
		return nil, err
	}
	if err := ValidateStatement(payload); err != nil {
		return nil, fmt.Errorf("report: refusing to sign a statement that does not match the schema: %w", err)
	}
	es, err := dsse.NewEnvelopeSigner(&envelopeSigner{key: key, keyID: KeyID(chain[0])})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	env, err := es.SignPayload(context.Background(), PayloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("report: sign: %w", err)
	}
	f := File{MediaType: MediaType, DSSEEnvelope: *env, CertificateChain: make([]string, len(chain))}
	for i, c := range chain {
		f.CertificateChain[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&f); err != nil {
		return nil, fmt.Errorf("report: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// KeyID returns the DSSE keyid of a report signed by cert's key: the
// lowercase hex SHA-256 of the certificate's DER, the digest apksigner and
// keytool print for an APK signer.
func KeyID(cert *x509.Certificate) string {
	d := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(d[:])
}

// PAE returns the DSSE v1 pre-authentication encoding of payload, the
// bytes the signature covers:
//
//	"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload
//
// with lengths in ASCII decimal. It is the library's encoding, exposed so
// that users can check a report with openssl (docs/report.md).
func PAE(payloadType string, payload []byte) []byte { return dsse.PAE(payloadType, payload) }

// checkKeyMatches refuses keys other than RSA and ECDSA, and a leaf
// certificate whose public key is not pub.
func checkKeyMatches(pub crypto.PublicKey, leaf *x509.Certificate) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return fmt.Errorf("%w: %T keys cannot sign reports (RSA or ECDSA)", ErrSigningKey, pub)
	}
	if !pub.(equaler).Equal(leaf.PublicKey) {
		return fmt.Errorf("%w: the key is not the key of the certificate %q", ErrSigningKey, leaf.Subject.String())
	}
	return nil
}

// envelopeSigner adapts a crypto.Signer to dsse.Signer: it hashes the PAE
// with SHA-256 and signs the digest (PKCS#1 v1.5 for RSA).
type envelopeSigner struct {
	key   crypto.Signer
	keyID string
}

// Sign signs SHA-256(data). Go's RSA and ECDSA private keys are given a
// nil random source: PKCS#1 v1.5 needs none and ECDSA then uses RFC 6979
// nonces, so the signature is a function of key and data.
func (s *envelopeSigner) Sign(_ context.Context, data []byte) ([]byte, error) {
	d := sha256.Sum256(data)
	var random io.Reader
	switch s.key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
	default:
		random = rand.Reader
	}
	return s.key.Sign(random, d[:], crypto.SHA256)
}

// KeyID returns the leaf certificate digest.
func (s *envelopeSigner) KeyID() (string, error) { return s.keyID, nil }
