package guard

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
)

// releaseURIPrefix starts the URI SAN serve writes into the certificates it
// issues for attested device keys (attest.ReleaseURIPrefix; guard does not
// import the server).
const releaseURIPrefix = "urn:trustfuse:release:"

// attestedRelease returns the release id of a certificate serve issued for
// an attested device key: its one URI SAN
// urn:trustfuse:release:<64 hex>:key:<64 hex> must name the SHA-256 of the
// certificate's own SubjectPublicKeyInfo.
func attestedRelease(c *x509.Certificate) (string, *RefusedError) {
	var found []string
	for _, u := range c.URIs {
		if s := u.String(); strings.HasPrefix(s, releaseURIPrefix) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		return "", refuse(ReasonAttestedCert, "%s: %d %s URI SANs, want 1 (not a certificate serve issued for an attested key)",
			c.Subject, len(found), releaseURIPrefix)
	}
	id, key, ok := strings.Cut(strings.TrimPrefix(found[0], releaseURIPrefix), ":key:")
	if !ok || !lowerHex64(id) || !lowerHex64(key) {
		return "", refuse(ReasonAttestedCert, "%s: malformed URI SAN %q", c.Subject, found[0])
	}
	if sum := sha256.Sum256(c.RawSubjectPublicKeyInfo); hex.EncodeToString(sum[:]) != key {
		return "", refuse(ReasonAttestedCert, "%s: URI SAN names key %s, the certificate's key is %x", c.Subject, key, sum)
	}
	return id, nil
}

// lowerHex64 reports whether s is 64 lowercase hex digits.
func lowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}
