package keyattesttest

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// AppAttestSpec describes an App Attest attestation object MintAppAttest
// builds, shaped like Apple's (root → "Apple App Attestation CA 1"-like P-384
// intermediate → P-256 credential certificate valid three days, carrying the
// nonce extension 1.2.840.113635.100.8.2).
type AppAttestSpec struct {
	TeamID, BundleID string
	ClientDataHash   []byte
	Counter          uint32
	AAGUID           []byte    // 16 bytes; nil = production's "appattest" + 7 NULs
	CredID           []byte    // nil = the key id
	NotBefore        time.Time // the credential certificate is valid three days from it
}

// AppAttestKeyID is the App Attest key identifier of key: the SHA-256 of its
// uncompressed public point.
func AppAttestKeyID(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	p, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(p)
	return id[:]
}

// AppAttestAuthData is the authenticator data of an attestation of key per
// s: RP ID hash, flags AT|UP (0x41), counter, aaguid, credential id and a
// placeholder COSE key (verifiers take the key from the certificate).
func AppAttestAuthData(t testing.TB, key *ecdsa.PrivateKey, s AppAttestSpec) []byte {
	t.Helper()
	rp := sha256.Sum256([]byte(s.TeamID + "." + s.BundleID))
	aaguid := s.AAGUID
	if aaguid == nil {
		aaguid = []byte("appattest\x00\x00\x00\x00\x00\x00\x00")
	}
	cred := s.CredID
	if cred == nil {
		cred = AppAttestKeyID(t, key)
	}
	b := append(rp[:], 0x41)
	b = binary.BigEndian.AppendUint32(b, s.Counter)
	b = append(b, aaguid...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(cred)))
	b = append(b, cred...)
	return append(b, EncodeCBOR(t, map[string]any{"kty": uint64(2)})...)
}

// NewAppAttestCA returns a P-384 root and, under it, a P-384 intermediate,
// named like Apple's App Attest CAs, valid 2020 to 2045.
func NewAppAttestCA(t testing.TB) (root, intermediate *CA) {
	t.Helper()
	from, to := time.Date(2020, 3, 18, 0, 0, 0, 0, time.UTC), time.Date(2045, 3, 15, 0, 0, 0, 0, time.UTC)
	rk := NewKey(t, "p384")
	root = &CA{Key: rk, Cert: Issue(t, CertOpts{Subject: pkix.Name{CommonName: "Test App Attestation Root CA"},
		IsCA: true, NotBefore: from, NotAfter: to}, rk.Public(), nil, rk)}
	ik := NewKey(t, "p384")
	intermediate = &CA{Key: ik, Cert: Issue(t, CertOpts{Subject: pkix.Name{CommonName: "Test App Attestation CA 1"},
		IsCA: true, NotBefore: from, NotAfter: to}, ik.Public(), root, nil)}
	return root, intermediate
}

// MintAppAttest returns the CBOR attestation object for key per s, its
// credential certificate issued by intermediate. It calls t.Fatal on
// failure.
func MintAppAttest(t testing.TB, intermediate *CA, key *ecdsa.PrivateKey, s AppAttestSpec) []byte {
	t.Helper()
	auth := AppAttestAuthData(t, key, s)
	h := sha256.New()
	h.Write(auth)
	h.Write(s.ClientDataHash)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(h.Sum(nil))
		})
	})
	ext, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	leaf := Issue(t, CertOpts{
		Subject:   pkix.Name{CommonName: fmt.Sprintf("%x", AppAttestKeyID(t, key))},
		NotBefore: s.NotBefore, NotAfter: s.NotBefore.Add(72 * time.Hour),
		Exts: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 2}, Value: ext}},
	}, key.Public(), intermediate, nil)
	return AppAttestObject(t, leaf.Raw, intermediate.Cert.Raw, auth)
}

// AppAttestObject encodes an attestation object from its parts, with a
// placeholder receipt.
func AppAttestObject(t testing.TB, credCert, intermediate, authData []byte) []byte {
	t.Helper()
	return EncodeCBOR(t, map[string]any{
		"fmt":      "apple-appattest",
		"attStmt":  map[string]any{"x5c": []any{credCert, intermediate}, "receipt": []byte("receipt")},
		"authData": authData,
	})
}

// EncodeCBOR encodes v (map[string]any, []any, []byte, string or uint64)
// as CBOR with shortest-form arguments and map keys in RFC 8949 §4.2.1
// order (shorter first, then bytewise), as Apple's encoder writes it.
func EncodeCBOR(t testing.TB, v any) []byte {
	t.Helper()
	b, err := appendCBOR(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cborHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

func appendCBOR(b []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case uint64:
		return cborHead(b, 0, v), nil
	case []byte:
		return append(cborHead(b, 2, uint64(len(v))), v...), nil
	case string:
		return append(cborHead(b, 3, uint64(len(v))), v...), nil
	case []any:
		b = cborHead(b, 4, uint64(len(v)))
		for _, e := range v {
			if b, err = appendCBOR(b, e); err != nil {
				return nil, err
			}
		}
		return b, nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y string) int {
			if len(x) != len(y) {
				return len(x) - len(y)
			}
			return strings.Compare(x, y)
		})
		b = cborHead(b, 5, uint64(len(v)))
		for _, k := range keys {
			b = append(cborHead(b, 3, uint64(len(k))), k...)
			if b, err = appendCBOR(b, v[k]); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("keyattesttest: cannot encode %T as CBOR", v)
}
