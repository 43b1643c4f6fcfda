package apksig

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// JAR signing of archives that are not APKs (Android App Bundles): the same
// signer and verifier as v1 (v1.go), parameterised for what jarsigner does.
//
// What differs from an APK's v1 signature, and why:
//   - no X-Android-APK-Signed attribute and no APK Signing Block: a bundle
//     has no other scheme to protect from stripping;
//   - SHA-256 digests always (jarsigner's default), whatever the minSdk;
//   - the signature files come first in the archive, as jarsigner writes
//     them, so a streaming reader (java.util.jar.JarInputStream) finds the
//     manifest before the entries;
//   - the platform rules applied when verifying are Android 7.0's (API 24),
//     which accept every algorithm jarsigner uses (SHA-256 with RSA or
//     ECDSA, signed attributes): no device verifies a bundle, a JAR
//     verifier (jarsigner, Google Play's upload check) does.
//
// Stored entries are aligned as Sign aligns them (4 bytes, via 0xD935 extra
// fields): JAR readers ignore the padding, and bundletool, which builds the
// APKs from a bundle, aligns them itself.

// jarSDK is the API level whose JAR signature rules apply to non-APK
// archives.
const jarSDK = sdkN

// JAROptions control SignJAR.
type JAROptions struct {
	// SignerName is the base name of META-INF/<name>.SF and its signature
	// block: 1 to 8 of A-Z, 0-9, '-' and '_'. Default "CERT"; jarsigner
	// derives it from the key alias (JARSignerName).
	SignerName string
	CreatedBy  string    // Created-By of MANIFEST.MF and the .SF file
	Modified   time.Time // timestamp of the signature files (SOURCE_DATE_EPOCH)
}

// JARSignerName returns the signature file base name jarsigner derives from
// a key alias when no -sigfile is given: the first 8 characters, upper
// case, every character other than A-Z, 0-9, '-' and '_' replaced by '_';
// "CERT" for an empty alias.
func JARSignerName(alias string) string {
	if alias == "" {
		return "CERT"
	}
	r := []rune(strings.ToUpper(alias))
	if len(r) > 8 {
		r = r[:8]
	}
	for i, c := range r {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			r[i] = '_'
		}
	}
	return string(r)
}

// SignJAR writes inputs to out as a JAR-signed ZIP archive, as jarsigner
// signs a JAR or an App Bundle: META-INF/MANIFEST.MF, <NAME>.SF and
// <NAME>.RSA (or .EC) first, then the inputs in order, copied raw. Old JAR
// signature files among the inputs are dropped. Entries are read twice:
// once to digest them, once to copy them; memory use does not depend on
// their size.
func SignJAR(out io.Writer, inputs []Input, s *Signer, opts JAROptions) error {
	var kept []Input
	for _, in := range inputs {
		if !isV1SignatureFile(in.Name) {
			kept = append(kept, in)
		}
	}
	files, err := signV1(v1Entries(kept, nil), s, v1Config{
		SignerName: opts.SignerName,
		MinSDK:     jarSDK,
		CreatedBy:  opts.CreatedBy,
	})
	if err != nil {
		return err
	}
	w := zipx.NewWriter(out, zipx.Options{Modified: opts.Modified})
	for _, f := range files {
		if err := w.Add(zipx.Header{Name: f.Name, Method: zipx.Deflate}, f.Data); err != nil {
			return fmt.Errorf("apksig: write %s: %w", f.Name, err)
		}
	}
	for _, in := range kept {
		if in.Entry != nil {
			err = w.Copy(in.Entry)
		} else {
			err = w.Add(zipx.Header{Name: in.Name, Method: in.Method}, in.Data)
		}
		if err != nil {
			return err
		}
	}
	return w.Close()
}

// VerifyJAR verifies the JAR signature of z as a JAR verifier would: every
// entry outside META-INF/ must be listed in MANIFEST.MF with a matching
// digest and covered by every signer's .SF file, whose signature block must
// verify. The verdict is in Result.V1; Verified is false for an unsigned
// archive (NO_SIGNATURES). The archive's warnings (z.Warnings) become the
// Result's. A Go error is returned only when the archive cannot be read.
func VerifyJAR(z *zipx.Reader) (*Result, error) {
	return VerifyJARCopies(z, nil)
}

// VerifyJARCopies verifies z as VerifyJAR does, except that it does not
// recompute the digest of an entry for which copied reports true. It is for
// a writer checking its own output: an entry whose stored bytes it has found
// identical to the input entry the signer digested (a raw copy) would only be
// inflated a second time to hash the same content; such an entry must still
// be listed in MANIFEST.MF and covered by every signer, and the signature
// files and blocks are checked in full. copied is called concurrently.
func VerifyJARCopies(z *zipx.Reader, copied func(*zipx.Entry) bool) (*Result, error) {
	res := &Result{}
	for _, w := range z.Warnings {
		res.Warnings = append(res.Warnings, Issue{Code: w.Code, Message: w.String()})
	}
	res.V1, _ = verifyV1(z, jarSDK, maxSDKUnbounded, copied)
	if !res.V1.Present {
		res.V1.Errors = nil
		res.Errors = append(res.Errors, issue("NO_SIGNATURES", "No JAR signature (META-INF/MANIFEST.MF with a signed .SF file)"))
		return res, nil
	}
	res.Verified = res.V1.Verified && len(res.V1.Errors) == 0
	return res, nil
}
