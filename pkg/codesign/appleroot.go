package codesign

import (
	"crypto/x509"
	_ "embed"
)

// appleRootPEM is Apple Root CA (2006), the root every iOS code signing
// chain (WWDR intermediate, developer or distribution leaf) ends at; see
// the text before the certificate in the file for where it comes from.
//
//go:embed AppleRootCA.pem
var appleRootPEM string

// AppleRoots returns a new pool holding Apple's root for iOS code
// signing, "Apple Root CA" (2006–2035, SHA-256 fingerprint
// b0b1730e…1001f024), the default trust anchor for VerifyCMS of
// Apple-issued signatures. Each call returns a fresh pool the caller may
// add to.
func AppleRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(appleRootPEM)) {
		panic("codesign: the embedded Apple Root CA does not parse")
	}
	return pool
}
