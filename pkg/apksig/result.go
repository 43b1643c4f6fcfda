package apksig

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
)

// Scheme names a signature scheme.
type Scheme string

// The signature schemes an APK can carry.
const (
	V1  Scheme = "v1"   // JAR signing
	V2  Scheme = "v2"   // APK Signature Scheme v2
	V3  Scheme = "v3"   // APK Signature Scheme v3
	V31 Scheme = "v3.1" // APK Signature Scheme v3.1 (rotation targeting SDK 33+)
)

// Issue is one verification problem, with a stable code a program can match
// and a message a person can read.
type Issue struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (i Issue) String() string { return i.Message }

func issue(code, format string, args ...any) Issue {
	return Issue{Code: code, Message: fmt.Sprintf(format, args...)}
}

// SignerInfo describes one signer of one scheme.
type SignerInfo struct {
	// Certificate is the signer's leaf certificate.
	Certificate *x509.Certificate `json:"-"`
	// CertSHA256 is the hex SHA-256 of the leaf certificate's DER encoding,
	// the digest apksigner prints and Android compares.
	CertSHA256 string `json:"certSha256"`
	// MinSDK and MaxSDK bound the platform versions the signer applies to
	// (v3 and v3.1 only; zero otherwise).
	MinSDK uint32 `json:"minSdk,omitempty"`
	MaxSDK uint32 `json:"maxSdk,omitempty"`
}

// CertDigest returns the hex SHA-256 of a certificate's DER encoding.
func CertDigest(c *x509.Certificate) string {
	d := sha256.Sum256(c.Raw)
	return hex.EncodeToString(d[:])
}

func newSignerInfo(c *x509.Certificate) SignerInfo {
	return SignerInfo{Certificate: c, CertSHA256: CertDigest(c)}
}

// SchemeResult is the verdict for one scheme.
type SchemeResult struct {
	Present  bool         `json:"present"`
	Verified bool         `json:"verified"`
	Signers  []SignerInfo `json:"signers,omitempty"`
	Errors   []Issue      `json:"errors,omitempty"`
	Warnings []Issue      `json:"warnings,omitempty"`
}

func (s *SchemeResult) fail(code, format string, args ...any) {
	s.Errors = append(s.Errors, issue(code, format, args...))
}

func (s *SchemeResult) warn(code, format string, args ...any) {
	s.Warnings = append(s.Warnings, issue(code, format, args...))
}

// Result is the outcome of Verify. Verified is true when the APK verifies for
// the whole SDK range asked for, as apksigner decides it.
type Result struct {
	Verified bool         `json:"verified"`
	V1       SchemeResult `json:"v1"`
	V2       SchemeResult `json:"v2"`
	V3       SchemeResult `json:"v3"`
	V31      SchemeResult `json:"v31"`
	Errors   []Issue      `json:"errors,omitempty"`
	Warnings []Issue      `json:"warnings,omitempty"`
}

// Schemes lists the schemes present, in order.
func (r *Result) Schemes() []Scheme {
	var out []Scheme
	for _, s := range []struct {
		s  Scheme
		sr *SchemeResult
	}{{V1, &r.V1}, {V2, &r.V2}, {V3, &r.V3}, {V31, &r.V31}} {
		if s.sr.Present {
			out = append(out, s.s)
		}
	}
	return out
}

// Scheme returns the result for one scheme.
func (r *Result) Scheme(s Scheme) *SchemeResult {
	switch s {
	case V1:
		return &r.V1
	case V2:
		return &r.V2
	case V3:
		return &r.V3
	case V31:
		return &r.V31
	}
	return nil
}

// AllErrors returns the errors of every scheme, then the global ones.
func (r *Result) AllErrors() []Issue {
	var out []Issue
	for _, sr := range []*SchemeResult{&r.V1, &r.V2, &r.V3, &r.V31} {
		out = append(out, sr.Errors...)
	}
	return append(out, r.Errors...)
}

// SignerDigests returns the certificate digests of the signers, newest
// scheme first (v3.1, v3, v2, v1), each once.
func (r *Result) SignerDigests() []string {
	out := []string{}
	seen := map[string]bool{}
	for _, s := range []Scheme{V31, V3, V2, V1} {
		for _, si := range r.Scheme(s).Signers {
			if !seen[si.CertSHA256] {
				seen[si.CertSHA256] = true
				out = append(out, si.CertSHA256)
			}
		}
	}
	return out
}
