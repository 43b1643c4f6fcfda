package keyattesttest

import (
	"crypto"
	"crypto/x509/pkix"
	"errors"
	"time"
)

// GenerateRoot is NewRoot without a testing.TB: a self-signed root valid
// 2016-05-26 to 2036-05-24 with subject serialNumber=serialNumber and a key
// of kind (see NewKey).
func GenerateRoot(kind, serialNumber string) (*CA, error) {
	k, err := newKey(kind)
	if err != nil {
		return nil, err
	}
	c, err := issue(CertOpts{
		Subject:   pkix.Name{SerialNumber: serialNumber},
		IsCA:      true,
		NotBefore: time.Date(2016, 5, 26, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2036, 5, 24, 0, 0, 0, 0, time.UTC),
	}, k.Public(), nil, k)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: c, Key: k}, nil
}

// Minter mints chains under a root through one intermediate made once, as
// a device's attestation keys share their intermediates. It needs no
// testing.TB, for load generators minting one chain per request, and is
// safe for concurrent use.
type Minter struct {
	root, inter *CA
}

// NewMinter returns a Minter for root with a fresh P-256 intermediate
// (serialNumber=2dc58b2d1a241326, title=TEE) valid until the root expires.
func NewMinter(root *CA) (*Minter, error) {
	if root == nil || root.Cert == nil || root.Key == nil {
		return nil, errors.New("keyattesttest: nil root")
	}
	inter, err := newIntermediate(root, IntermediateName("2dc58b2d1a241326"), root.Cert.NotAfter)
	if err != nil {
		return nil, err
	}
	return &Minter{root: root, inter: inter}, nil
}

// Mint returns a chain, leaf first (leaf, intermediate, root) as DER, for
// pub (nil = a fresh key) attesting s.
func (m *Minter) Mint(pub crypto.PublicKey, s Spec) ([][]byte, error) {
	kd, err := keyDescription(s)
	if err != nil {
		return nil, err
	}
	leaf, err := newLeaf(m.inter, pub, KeyDescriptionExtension(kd))
	if err != nil {
		return nil, err
	}
	return [][]byte{leaf.Raw, m.inter.Cert.Raw, m.root.Cert.Raw}, nil
}
