package keys

import (
	"crypto"
	_ "embed" // demo identity
)

// The demo identity: an RSA 2048 key and a self-signed certificate with
// subject "O=TrustFuse, CN=TrustFuse DEMO key - do not ship", valid
// 2026-11-23 to 2076-11-22. Its private key is public (see demo/README.md).
var (
	//go:embed demo/key.pem
	demoKeyPEM string
	//go:embed demo/cert.pem
	demoCertPEM string
)

// DemoSubjectCN is the common name of the demo certificate.
const DemoSubjectCN = "TrustFuse DEMO key - do not ship"

// Demo returns the built-in demo identity (RSA 2048, certificate CN
// "TrustFuse DEMO key - do not ship"). It is the same on every machine and its
// private key is published with the source: anything signed with it proves
// nothing. [Signer.IsDemo] is true for it, and for any keystore holding it.
func Demo() *Signer {
	s, err := loadPEM([]byte(demoKeyPEM), []byte(demoCertPEM), "built-in demo key")
	if err != nil {
		panic("keys: embedded demo identity is broken: " + err.Error())
	}
	s.Source = "built-in demo key"
	s.Format = "demo"
	s.demo = true
	return s
}

// isDemoKey reports whether key is the demo key (compared by public key).
func isDemoKey(key crypto.Signer) bool {
	blocks, err := pemBlocks([]byte(demoCertPEM), "demo")
	if err != nil || len(blocks.certs) != 1 {
		return false
	}
	type publicKey interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(publicKey)
	return ok && pub.Equal(blocks.certs[0].PublicKey)
}
