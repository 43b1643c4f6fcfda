package keyattest

import (
	"bytes"
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"embed"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"
)

// Chain caps.
const (
	minChain = 2
	maxChain = 10
	maxCert  = 16 << 10 // bytes of DER per certificate
)

var oidKeyDescription = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 1, 17}

//go:embed roots/*.pem
var rootFiles embed.FS

// GoogleRoots returns Google's hardware attestation root certificates, as
// published at https://developer.android.com/privacy-and-security/security-key-attestation#root_certificate:
// the RSA-4096 root (subject serialNumber=f92009e853b6b045) in its 2016,
// 2019, 2021 and 2022 issues (one key), and the ECDSA P-384 root
// "Key Attestation CA1" that signs chains from February 2026. Each call
// returns freshly parsed certificates.
func GoogleRoots() []*x509.Certificate {
	var out []*x509.Certificate
	names, _ := fs.Glob(rootFiles, "roots/*.pem")
	for _, name := range names {
		data, err := rootFiles.ReadFile(path.Clean(name))
		if err != nil {
			continue
		}
		certs, _ := ParseCertificatesPEM(data) // checked by TestGoogleRoots
		out = append(out, certs...)
	}
	return out
}

// ParseCertificatesPEM returns the CERTIFICATE blocks of PEM text (other
// blocks are skipped), e.g. a file of roots to trust instead of Google's.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return out, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keyattest: certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
}

// Policy is what a verified attestation must show.
type Policy struct {
	// Challenge is the nonce the app passed to setAttestationChallenge; it
	// must be non-empty.
	Challenge []byte
	// Package must be among the attested package names.
	Package string
	// SignerDigests are the SHA-256 digests of the release's allowed signing
	// certificates; every attested signature digest must be one of them.
	SignerDigests [][]byte
	// MinSecurityLevel applies to both attestationSecurityLevel and
	// keyMintSecurityLevel. Above Software, the rootOfTrust must come from
	// the hardware-enforced list.
	MinSecurityLevel SecurityLevel
	// RequireVerifiedBoot demands verifiedBootState Verified and a locked
	// bootloader.
	RequireVerifiedBoot bool
}

// Verifier checks attestation chains against a set of trusted roots and an
// optional revocation list. It is safe for concurrent use.
type Verifier struct {
	roots       []*x509.Certificate
	revocations *RevocationList
}

// NewVerifier returns a Verifier trusting roots (at least one); revocations
// may be nil for no revocation checking.
func NewVerifier(roots []*x509.Certificate, revocations *RevocationList) (*Verifier, error) {
	if len(roots) == 0 {
		return nil, errors.New("keyattest: no trusted roots")
	}
	for i, r := range roots {
		if r == nil {
			return nil, fmt.Errorf("keyattest: trusted root #%d is nil", i)
		}
		if _, ok := r.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok {
			return nil, fmt.Errorf("keyattest: trusted root #%d: unsupported public key type %T", i, r.PublicKey)
		}
	}
	return &Verifier{roots: append([]*x509.Certificate{}, roots...), revocations: revocations}, nil
}

// Verify checks chain (DER certificates, leaf first) and the leaf's
// KeyDescription against p at time now, and returns the decoded record. Every
// failure is an *Error whose Reason says which rule failed.
//
// Rules, in order:
//  1. 2..10 certificates of at most 16 KiB each, all parseable (malformed).
//  2. Each certificate's issuer equals the next one's subject (raw bytes) and
//     its signature verifies with the next one's public key (chain_invalid).
//     Signatures are checked directly, not with x509.Verify, because real
//     device chains carry CA extensions Go's path builder rejects.
//  3. The last certificate has the public key of a trusted root (re-issued
//     roots share the key), or is signed by a trusted root whose subject is
//     its issuer (root_untrusted).
//  4. Validity periods: every certificate but the leaf must be valid at now;
//     when the last certificate is a copy of a trusted root (same key), it is
//     the trust anchor, and the requirement is that some trusted root with
//     that key is valid at now — devices keep sending the 2016 Google root,
//     which expired in May 2026 while its re-issues with the same key did
//     not. The leaf's dates are NOT checked: KeyMint leaves carry dates like
//     1970-01-01 to 2048 or 2106 that say nothing about the attestation
//     (chain_invalid).
//  5. No certificate's serial is on the revocation list (revoked).
//  6. The leaf has the attestation extension exactly once, and no other
//     certificate has it (malformed): a second one means someone holding an
//     attested key signed a further certificate to forge a chain. It decodes
//     (malformed).
//  7. The challenge equals p.Challenge, compared in constant time
//     (challenge_mismatch).
//  8. Both security levels are at least p.MinSecurityLevel and, above
//     Software, the rootOfTrust is hardware-enforced (security_level).
//  9. With p.RequireVerifiedBoot, the boot state is Verified and the device is
//     locked (verified_boot).
//  10. p.Package is an attested package, and every attested signature digest
//     (at least one) is in p.SignerDigests (application_mismatch).
func (v *Verifier) Verify(chain [][]byte, p Policy, now time.Time) (*Record, error) {
	if len(chain) < minChain || len(chain) > maxChain {
		return nil, fail(ReasonMalformed, "chain has %d certificates, want %d to %d", len(chain), minChain, maxChain)
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		if len(der) > maxCert {
			return nil, fail(ReasonMalformed, "certificate #%d is %d bytes, over the %d-byte cap", i, len(der), maxCert)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, &Error{Reason: ReasonMalformed, Err: fmt.Errorf("certificate #%d: %w", i, err)}
		}
		certs[i] = c
	}

	// 2. links and signatures
	for i := 0; i+1 < len(certs); i++ {
		c, parent := certs[i], certs[i+1]
		if !bytes.Equal(c.RawIssuer, parent.RawSubject) {
			return nil, fail(ReasonChain, "certificate #%d: issuer %q is not the subject %q of #%d", i, c.Issuer, parent.Subject, i+1)
		}
		if err := parent.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
			return nil, &Error{Reason: ReasonChain, Err: fmt.Errorf("certificate #%d: signature by #%d: %w", i, i+1, err)}
		}
	}

	// 3. trusted root
	last := certs[len(certs)-1]
	anchors := v.sameKey(last)
	lastIsAnchor := len(anchors) > 0
	if !lastIsAnchor {
		for _, r := range v.roots {
			if bytes.Equal(last.RawIssuer, r.RawSubject) &&
				r.CheckSignature(last.SignatureAlgorithm, last.RawTBSCertificate, last.Signature) == nil {
				anchors = append(anchors, r)
			}
		}
	}
	if len(anchors) == 0 {
		return nil, fail(ReasonRoot, "last certificate (subject %q, issuer %q) is neither a trusted root nor signed by one", last.Subject, last.Issuer)
	}

	// 4. validity (not the leaf)
	valid := func(c *x509.Certificate) bool { return !now.Before(c.NotBefore) && !now.After(c.NotAfter) }
	for i := 1; i < len(certs); i++ {
		if i == len(certs)-1 && lastIsAnchor {
			break
		}
		if c := certs[i]; !valid(c) {
			return nil, fail(ReasonChain, "certificate #%d (subject %q) is not valid at %s (valid %s to %s)",
				i, c.Subject, now.UTC().Format(time.RFC3339), c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	anchorValid := false
	for _, r := range anchors {
		anchorValid = anchorValid || valid(r)
	}
	if !anchorValid {
		return nil, fail(ReasonChain, "trusted root %q is not valid at %s", anchors[0].Subject, now.UTC().Format(time.RFC3339))
	}

	// 5. revocation
	if v.revocations != nil {
		for i, c := range certs {
			if status, revoked := v.revocations.Revoked(c.SerialNumber); revoked {
				return nil, fail(ReasonRevoked, "certificate #%d (serial %s) has status %q", i, c.SerialNumber.Text(16), status)
			}
		}
	}

	// 6. the extension
	var ext []byte
	for i, c := range certs {
		n := 0
		for _, e := range c.Extensions {
			if e.Id.Equal(oidKeyDescription) {
				n++
				if i == 0 {
					ext = e.Value
				}
			}
		}
		switch {
		case i == 0 && n != 1:
			return nil, fail(ReasonMalformed, "leaf has %d attestation extensions, want 1", n)
		case i > 0 && n != 0:
			return nil, fail(ReasonMalformed, "certificate #%d, not the leaf, has an attestation extension", i)
		}
	}
	rec, err := ParseKeyDescription(ext)
	if err != nil {
		return nil, err
	}

	// 7. challenge
	if len(p.Challenge) == 0 {
		return nil, fail(ReasonChallenge, "policy has no challenge")
	}
	if subtle.ConstantTimeCompare(rec.Challenge, p.Challenge) != 1 {
		return nil, fail(ReasonChallenge, "attested challenge differs from the expected one")
	}

	// 8. security level
	if rec.AttestationSecurityLevel < p.MinSecurityLevel {
		return nil, fail(ReasonSecurityLevel, "attestation security level %s, want at least %s", rec.AttestationSecurityLevel, p.MinSecurityLevel)
	}
	if rec.KeyMintSecurityLevel < p.MinSecurityLevel {
		return nil, fail(ReasonSecurityLevel, "KeyMint security level %s, want at least %s", rec.KeyMintSecurityLevel, p.MinSecurityLevel)
	}
	if p.MinSecurityLevel > Software && !rec.rootOfTrustHardware {
		return nil, fail(ReasonSecurityLevel, "rootOfTrust is not hardware-enforced")
	}

	// 9. verified boot
	if p.RequireVerifiedBoot {
		switch rt := rec.RootOfTrust; {
		case rt == nil:
			return nil, fail(ReasonVerifiedBoot, "no rootOfTrust")
		case rt.VerifiedBootState != Verified:
			return nil, fail(ReasonVerifiedBoot, "verified boot state is %s", rt.VerifiedBootState)
		case !rt.DeviceLocked:
			return nil, fail(ReasonVerifiedBoot, "bootloader is unlocked")
		}
	}

	// 10. application
	if err := checkApplication(rec.Application, p); err != nil {
		return nil, err
	}
	return rec, nil
}

// sameKey returns the trusted roots whose public key equals c's.
func (v *Verifier) sameKey(c *x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, r := range v.roots {
		if k, ok := r.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && k.Equal(c.PublicKey) {
			out = append(out, r)
		}
	}
	return out
}

func checkApplication(app *ApplicationID, p Policy) error {
	if app == nil {
		return fail(ReasonApplication, "no attestationApplicationId")
	}
	found := false
	for _, pkg := range app.Packages {
		found = found || (p.Package != "" && pkg.Name == p.Package)
	}
	if !found {
		names := make([]string, 0, len(app.Packages))
		for _, pkg := range app.Packages {
			names = append(names, pkg.Name)
		}
		return fail(ReasonApplication, "package %q not among attested packages %q", p.Package, names)
	}
	if len(app.SignatureDigests) == 0 {
		return fail(ReasonApplication, "no attested signature digest")
	}
	for _, d := range app.SignatureDigests {
		ok := false
		for _, want := range p.SignerDigests {
			ok = ok || (len(want) > 0 && bytes.Equal(d, want))
		}
		if !ok {
			return fail(ReasonApplication, "attested signer digest %x is not an allowed signer", d)
		}
	}
	return nil
}
