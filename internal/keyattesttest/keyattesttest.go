// Package keyattesttest is test support, not for production: it builds
// certificate chains shaped like Android Key Attestation chains (root →
// intermediate with serialNumber and title=TEE → KeyMint leaf carrying the
// KeyDescription extension) for tests of pkg/keyattest and its users.
//
// The KeyDescription DER is encoded with cryptobyte for standard types and
// ExplicitTag for the multi-byte context-specific tags of the
// AuthorizationList (https://source.android.com/docs/security/features/keystore/attestation).
package keyattesttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// AuthorizationList tags the encoder writes.
const (
	TagPurpose                  = 1
	TagAlgorithm                = 2
	TagCreationDateTime         = 701
	TagRootOfTrust              = 704
	TagOSVersion                = 705
	TagOSPatchLevel             = 706
	TagAttestationApplicationID = 709
	TagVendorPatchLevel         = 718
	// TagUnknown is a tag no Android version defines (yet): parsers must
	// skip it. Every encoded KeyDescription carries it in softwareEnforced.
	TagUnknown = 1234
)

// oidKeyDescription is the attestation extension's OID.
var oidKeyDescription = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 1, 17}

// oidTitle is the X.520 title attribute real intermediates carry ("TEE").
var oidTitle = asn1.ObjectIdentifier{2, 5, 4, 12}

// Spec is the content of a KeyDescription.
type Spec struct {
	AttestationVersion, KeyMintVersion int
	AttestationLevel, KeyMintLevel     keyattest.SecurityLevel
	Challenge                          []byte
	Packages                           []keyattest.PackageInfo
	SignatureDigests                   [][]byte

	// RootOfTrust fields; NoRootOfTrust omits the [704] entry entirely.
	NoRootOfTrust    bool
	VerifiedBootKey  []byte
	DeviceLocked     bool
	BootState        keyattest.VerifiedBootState
	VerifiedBootHash []byte
	// RootOfTrustInSoftware puts [704] in softwareEnforced instead of
	// hardwareEnforced.
	RootOfTrustInSoftware bool

	OSVersion, OSPatchLevel int

	// Purposes are the hardware-enforced key purposes (purpose [1]); nil
	// means SIGN (keyattest.PurposeSign) alone.
	Purposes []int64
}

// GoodSpec is a KeyDescription every strict policy accepts: version 200
// (KeyMint 2) for both fields, TEE for both levels, verified boot on a locked
// device, hardware-enforced root of trust, Android 14 with the 2025-01 patch.
// The app is pkg at version 42, signed by signerDigests.
func GoodSpec(challenge []byte, pkg string, signerDigests ...[]byte) Spec {
	return Spec{
		AttestationVersion: 200,
		KeyMintVersion:     200,
		AttestationLevel:   keyattest.TrustedEnvironment,
		KeyMintLevel:       keyattest.TrustedEnvironment,
		Challenge:          challenge,
		Packages:           []keyattest.PackageInfo{{Name: pkg, Version: 42}},
		SignatureDigests:   signerDigests,
		VerifiedBootKey:    BytesOf(0x11, 32),
		DeviceLocked:       true,
		BootState:          keyattest.Verified,
		VerifiedBootHash:   BytesOf(0x22, 32),
		OSVersion:          140000,
		OSPatchLevel:       202501,
	}
}

// SignerDigest is the SHA-256 of s, a stand-in for a signing certificate
// digest.
func SignerDigest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// BytesOf returns n copies of b.
func BytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// ExplicitTag wraps inner DER in an EXPLICIT context-specific tag, in
// high-tag-number form for tags ≥ 31 (X.690 §8.1.2.4), with a DER length
// (inner up to 64 KiB).
func ExplicitTag(tag int, inner []byte) []byte {
	var out []byte
	if tag < 31 {
		out = append(out, 0xa0|byte(tag))
	} else {
		var septets []byte
		for t := tag; t > 0; t >>= 7 {
			septets = append([]byte{byte(t & 0x7f)}, septets...)
		}
		for i := 0; i < len(septets)-1; i++ {
			septets[i] |= 0x80
		}
		out = append(out, 0xbf)
		out = append(out, septets...)
	}
	n := len(inner)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, inner...)
}

// DER runs f on a fresh cryptobyte.Builder and returns its bytes; it fails
// t on a builder error.
func DER(t testing.TB, f cryptobyte.BuilderContinuation) []byte {
	t.Helper()
	var e encoder
	out := e.der(f)
	if e.err != nil {
		t.Fatal(e.err)
	}
	return out
}

// encoder builds DER pieces and keeps the first builder error.
type encoder struct{ err error }

func (e *encoder) der(f cryptobyte.BuilderContinuation) []byte {
	var b cryptobyte.Builder
	f(&b)
	out, err := b.Bytes()
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("keyattesttest: %w", err)
	}
	return out
}

func (e *encoder) integer(v int64) []byte {
	return e.der(func(b *cryptobyte.Builder) { b.AddASN1Int64(v) })
}

// EncodeKeyDescription returns the KeyDescription extension value for s; it
// calls t.Fatal on failure.
func EncodeKeyDescription(t testing.TB, s Spec) []byte {
	t.Helper()
	out, err := keyDescription(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keyDescription(s Spec) ([]byte, error) {
	var e encoder
	appID := e.der(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				for _, p := range s.Packages {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1OctetString([]byte(p.Name))
						b.AddASN1Int64(p.Version)
					})
				}
			})
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				for _, d := range s.SignatureDigests {
					b.AddASN1OctetString(d)
				}
			})
		})
	})
	var rot []byte
	if !s.NoRootOfTrust {
		rot = e.der(func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(s.VerifiedBootKey)
				b.AddASN1Boolean(s.DeviceLocked)
				b.AddASN1Enum(int64(s.BootState))
				b.AddASN1OctetString(s.VerifiedBootHash)
			})
		})
	}
	appIDOctets := e.der(func(b *cryptobyte.Builder) { b.AddASN1OctetString(appID) })
	unknown := e.der(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1OctetString([]byte("future")) })
	})
	purposes := e.der(func(b *cryptobyte.Builder) { // purpose [1] SET OF INTEGER
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
			if s.Purposes == nil {
				b.AddASN1Int64(keyattest.PurposeSign)
			}
			for _, p := range s.Purposes {
				b.AddASN1Int64(p)
			}
		})
	})
	out := e.der(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(int64(s.AttestationVersion))
			b.AddASN1Enum(int64(s.AttestationLevel))
			b.AddASN1Int64(int64(s.KeyMintVersion))
			b.AddASN1Enum(int64(s.KeyMintLevel))
			b.AddASN1OctetString(s.Challenge)
			b.AddASN1OctetString(nil)                                // uniqueId
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // softwareEnforced
				b.AddBytes(ExplicitTag(TagCreationDateTime, e.integer(1700000000000)))
				if rot != nil && s.RootOfTrustInSoftware {
					b.AddBytes(ExplicitTag(TagRootOfTrust, rot))
				}
				b.AddBytes(ExplicitTag(TagAttestationApplicationID, appIDOctets))
				b.AddBytes(ExplicitTag(TagUnknown, unknown))
			})
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // hardwareEnforced
				b.AddBytes(ExplicitTag(TagPurpose, purposes))
				b.AddBytes(ExplicitTag(TagAlgorithm, e.integer(3))) // EC
				if rot != nil && !s.RootOfTrustInSoftware {
					b.AddBytes(ExplicitTag(TagRootOfTrust, rot))
				}
				b.AddBytes(ExplicitTag(TagOSVersion, e.integer(int64(s.OSVersion))))
				b.AddBytes(ExplicitTag(TagOSPatchLevel, e.integer(int64(s.OSPatchLevel))))
				b.AddBytes(ExplicitTag(TagVendorPatchLevel, e.integer(20250105)))
			})
		})
	})
	if e.err != nil {
		return nil, e.err
	}
	return out, nil
}

// KeyDescriptionExtension wraps a KeyDescription value (EncodeKeyDescription)
// as the non-critical attestation extension.
func KeyDescriptionExtension(der []byte) pkix.Extension {
	return pkix.Extension{Id: oidKeyDescription, Value: der}
}

// CA is a test certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewKey returns a fresh key: kind "rsa" (2048 bits), "p384", or P-256 for
// anything else ("ecdsa", "p256"). It calls t.Fatal on failure.
func NewKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	k, err := newKey(kind)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(kind string) (crypto.Signer, error) {
	var k crypto.Signer
	var err error
	switch kind {
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("keyattesttest: key: %w", err)
	}
	return k, nil
}

// CertOpts describes a certificate Issue signs.
type CertOpts struct {
	Subject   pkix.Name
	Serial    int64 // 0 = random
	IsCA      bool
	NotBefore time.Time
	NotAfter  time.Time
	Exts      []pkix.Extension
}

// Issue signs a certificate for pub with parent's key; parent nil means
// self-signed with selfKey. It calls t.Fatal on failure.
func Issue(t testing.TB, o CertOpts, pub crypto.PublicKey, parent *CA, selfKey crypto.Signer) *x509.Certificate {
	t.Helper()
	c, err := issue(o, pub, parent, selfKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func issue(o CertOpts, pub crypto.PublicKey, parent *CA, selfKey crypto.Signer) (*x509.Certificate, error) {
	if o.Serial == 0 {
		n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
		if err != nil {
			return nil, fmt.Errorf("keyattesttest: serial: %w", err)
		}
		o.Serial = n.Int64() + 2
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(o.Serial),
		Subject:               o.Subject,
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		BasicConstraintsValid: o.IsCA,
		IsCA:                  o.IsCA,
		ExtraExtensions:       o.Exts,
	}
	if o.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	pc, signer := tmpl, selfKey
	if parent != nil {
		pc, signer = parent.Cert, parent.Key
	}
	if signer == nil {
		return nil, errors.New("keyattesttest: no signing key")
	}
	raw, err := x509.CreateCertificate(rand.Reader, tmpl, pc, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("keyattesttest: issue %s: %w", o.Subject, err)
	}
	c, err := x509.ParseCertificate(raw)
	if err != nil {
		return nil, fmt.Errorf("keyattesttest: issue %s: %w", o.Subject, err)
	}
	return c, nil
}

// NewRoot returns a self-signed root valid 2016-05-26 to 2036-05-24 (like
// Google's first attestation root), with subject serialNumber=serialNumber
// and a key of kind (see NewKey). It calls t.Fatal on failure.
func NewRoot(t testing.TB, kind, serialNumber string) *CA {
	t.Helper()
	r, err := GenerateRoot(kind, serialNumber)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// IntermediateName is a device intermediate's subject: serialNumber=sn,
// title=TEE.
func IntermediateName(sn string) pkix.Name {
	return pkix.Name{SerialNumber: sn, ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidTitle, Value: "TEE"}}}
}

// NewIntermediate issues a P-256 CA under parent, valid from 2018-03-21 to
// notAfter, carrying exts. It calls t.Fatal on failure.
func NewIntermediate(t testing.TB, parent *CA, name pkix.Name, notAfter time.Time, exts ...pkix.Extension) *CA {
	t.Helper()
	c, err := newIntermediate(parent, name, notAfter, exts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newIntermediate(parent *CA, name pkix.Name, notAfter time.Time, exts ...pkix.Extension) (*CA, error) {
	k, err := newKey("p256")
	if err != nil {
		return nil, err
	}
	c, err := issue(CertOpts{
		Subject:   name,
		IsCA:      true,
		NotBefore: time.Date(2018, 3, 21, 0, 0, 0, 0, time.UTC),
		NotAfter:  notAfter,
		Exts:      exts,
	}, k.Public(), parent, nil)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: c, Key: k}, nil
}

// NewLeaf issues a KeyMint-style leaf for pub (nil = a fresh P-256 key) under
// parent: CN=Android Keystore Key, serial 1, valid from 1970 to 2106 (real
// leaves carry such dates), with exts (usually KeyDescriptionExtension). It
// calls t.Fatal on failure.
func NewLeaf(t testing.TB, parent *CA, pub crypto.PublicKey, exts ...pkix.Extension) *x509.Certificate {
	t.Helper()
	c, err := newLeaf(parent, pub, exts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newLeaf(parent *CA, pub crypto.PublicKey, exts ...pkix.Extension) (*x509.Certificate, error) {
	if pub == nil {
		k, err := newKey("p256")
		if err != nil {
			return nil, err
		}
		pub = k.Public()
	}
	return issue(CertOpts{
		Subject:   pkix.Name{CommonName: "Android Keystore Key"},
		Serial:    1,
		NotBefore: time.Unix(0, 0).UTC(),
		NotAfter:  time.Date(2106, 2, 7, 6, 28, 15, 0, time.UTC),
		Exts:      exts,
	}, pub, parent, nil)
}

// Mint is the one-call form: a chain leaf first (leaf, intermediate, root) as
// DER, for pub (nil = a fresh key) attesting s, under root through a fresh
// intermediate valid until the root expires.
//
// Mint is safe to call from any goroutine, an HTTP handler's included: on
// failure it calls t.Errorf (never t.Fatal) and returns nil, so callers must
// check for nil. As with every testing.TB method, it must not be called
// after the test has completed.
func Mint(t testing.TB, root *CA, pub crypto.PublicKey, s Spec) [][]byte {
	t.Helper()
	chain, err := mint(root, pub, s)
	if err != nil {
		t.Errorf("keyattesttest.Mint: %v", err)
		return nil
	}
	return chain
}

func mint(root *CA, pub crypto.PublicKey, s Spec) ([][]byte, error) {
	if root == nil || root.Cert == nil || root.Key == nil {
		return nil, errors.New("keyattesttest: nil root")
	}
	m, err := NewMinter(root)
	if err != nil {
		return nil, err
	}
	return m.Mint(pub, s)
}
