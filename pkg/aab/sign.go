package aab

import (
	"io"

	"github.com/trustfuse/trustfuse/pkg/apksig"
)

// Sign writes the bundle to out JAR-signed by s, as jarsigner signs a bundle
// (apksig.SignJAR: SHA-256 digests, signature files first, entries copied
// raw in order); the bundle's old JAR signature is dropped. Bundles carry no
// APK signature scheme: Play signs the APKs it builds from them.
func (b *Bundle) Sign(out io.Writer, s *apksig.Signer, opts apksig.JAROptions) error {
	return apksig.SignJAR(out, apksig.InputsFrom(b.Zip), s, opts)
}

// Verify checks the bundle's JAR signature (apksig.VerifyJAR); the verdict
// is in the result's V1, and Verified says whether it holds.
func (b *Bundle) Verify() (*apksig.Result, error) {
	return apksig.VerifyJAR(b.Zip)
}
