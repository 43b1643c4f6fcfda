package guard

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxTokenBytes caps the token the guard will look at.
const maxTokenBytes = 8 << 10

// Claims are the claims of a token issued by `trustfuse serve` (DESIGN §7).
type Claims struct {
	// Issuer (iss) is the token service.
	Issuer string `json:"iss"`
	// Subject (sub) is the device id hash.
	Subject string `json:"sub"`
	// Audience (aud) is a string or a list of strings in the token.
	Audience audience `json:"aud"`
	// IssuedAt, NotBefore and Expiry are iat, nbf and exp (NumericDate, s).
	IssuedAt  *numericDate `json:"iat,omitempty"`
	NotBefore *numericDate `json:"nbf,omitempty"`
	Expiry    *numericDate `json:"exp"`
	// Package (pkg) is the app's package name.
	Package string `json:"pkg"`
	// Version (ver) is the app's version, as written (string or number).
	Version flexString `json:"ver,omitempty"`
	// Release (rel) is the registered release the measurement matched.
	Release flexString `json:"rel,omitempty"`
	// Threats (thr) is the threat list the app reported, kept as JSON.
	Threats json.RawMessage `json:"thr,omitempty"`
	// Confirmation (cnf) binds the token to a client certificate.
	Confirmation *struct {
		// X5tS256 is base64url(SHA-256(client certificate DER)), RFC 8705 §3.1.
		X5tS256 string `json:"x5t#S256,omitempty"`
	} `json:"cnf,omitempty"`
}

// audience is the aud claim: one string or an array (RFC 7519 §4.1.3).
type audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *audience) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// numericDate is seconds since the epoch, possibly fractional (RFC 7519 §2).
type numericDate float64

// maxNumericDate is 9999-12-31T23:59:59Z; later dates are refused as
// malformed rather than overflowing time conversions.
const maxNumericDate = 253402300799

// UnmarshalJSON accepts a JSON number from 0 to maxNumericDate.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if f < 0 || f > maxNumericDate {
		return fmt.Errorf("NumericDate %s out of range", b)
	}
	*d = numericDate(f)
	return nil
}

// Time converts d to a time.Time.
func (d numericDate) Time() time.Time {
	sec := float64(d)
	return time.Unix(int64(sec), int64((sec-float64(int64(sec)))*1e9))
}

// flexString is a claim written as a JSON string or number, kept as text.
type flexString string

// UnmarshalJSON accepts a string or a number.
func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number: %w", err)
	}
	*f = flexString(n.String())
	return nil
}

// header is the JOSE header of a compact JWS (RFC 7515 §4.1).
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
	B64  *bool           `json:"b64"`
}

// jws is a compact JWS split into its parts.
type jws struct {
	header       header
	signingInput string // base64url(header) "." base64url(payload)
	payload      []byte
	sig          []byte
}

var b64 = base64.RawURLEncoding.Strict()

// parseCompact splits and decodes a compact JWS. It accepts only what an
// ES256 token from serve can be: alg ES256, a kid, no crit, a 64-byte
// signature.
func parseCompact(tok string) (*jws, *RefusedError) {
	if len(tok) > maxTokenBytes {
		return nil, refuse(ReasonMalformed, "token of %d bytes, more than %d", len(tok), maxTokenBytes)
	}
	h, rest, ok1 := strings.Cut(tok, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, refuse(ReasonMalformed, "not a compact JWS (three dot-separated parts)")
	}
	hb, err := b64.DecodeString(h)
	if err != nil {
		return nil, refuse(ReasonMalformed, "header: %v", err)
	}
	var j jws
	dec := json.NewDecoder(bytes.NewReader(hb))
	if err := dec.Decode(&j.header); err != nil {
		return nil, refuse(ReasonMalformed, "header: %v", err)
	}
	if j.header.Alg != "ES256" {
		return nil, refuse(ReasonAlgorithm, "alg %q, want ES256", j.header.Alg)
	}
	if j.header.Crit != nil || j.header.B64 != nil {
		return nil, refuse(ReasonMalformed, "header has crit or b64, which serve never sets")
	}
	if j.header.Kid == "" {
		return nil, refuse(ReasonUnknownKey, "header has no kid")
	}
	if j.payload, err = b64.DecodeString(p); err != nil {
		return nil, refuse(ReasonMalformed, "payload: %v", err)
	}
	if j.sig, err = b64.DecodeString(s); err != nil || len(j.sig) != 64 {
		return nil, refuse(ReasonSignature, "signature is not 64 bytes of base64url (R||S)")
	}
	j.signingInput = tok[:len(h)+1+len(p)]
	return &j, nil
}

// verifyES256 checks the JWS signature (RFC 7518 §3.4: R||S, 32 bytes each).
func (j *jws) verifyES256(pub *ecdsa.PublicKey) bool {
	d := sha256.Sum256([]byte(j.signingInput))
	r := new(big.Int).SetBytes(j.sig[:32])
	s := new(big.Int).SetBytes(j.sig[32:])
	return ecdsa.Verify(pub, d[:], r, s)
}

// checkClaims applies the Config's claim rules at time now; leafSHA256 is
// the SHA-256 of the presented client certificate.
func (g *Guard) checkClaims(c *Claims, now time.Time, leafSHA256 [32]byte) *RefusedError {
	lw := g.cfg.Leeway
	if c.Issuer != g.cfg.Issuer {
		return refuse(ReasonIssuer, "iss %q, want %q", c.Issuer, g.cfg.Issuer)
	}
	if !slices.Contains(c.Audience, g.cfg.Audience) {
		return refuse(ReasonAudience, "aud %q does not contain %q", []string(c.Audience), g.cfg.Audience)
	}
	if c.Expiry == nil {
		return refuse(ReasonExpired, "no exp claim")
	}
	if exp := c.Expiry.Time(); !now.Before(exp.Add(lw)) {
		return refuse(ReasonExpired, "expired at %s (now %s, leeway %s)", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), lw)
	}
	if c.NotBefore != nil {
		if nbf := c.NotBefore.Time(); now.Add(lw).Before(nbf) {
			return refuse(ReasonNotYetValid, "not valid before %s (now %s)", nbf.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	if c.IssuedAt != nil {
		if iat := c.IssuedAt.Time(); now.Add(lw).Before(iat) {
			return refuse(ReasonNotYetValid, "issued in the future at %s (now %s)", iat.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	if !slices.Contains(g.cfg.Packages, c.Package) {
		return refuse(ReasonPackage, "pkg %q is not an allowed app", c.Package)
	}
	switch {
	case c.Confirmation != nil && c.Confirmation.X5tS256 != "":
		if want := b64.EncodeToString(leafSHA256[:]); c.Confirmation.X5tS256 != want {
			return refuse(ReasonBinding, "cnf x5t#S256 %s, client certificate is %s", c.Confirmation.X5tS256, want)
		}
	case g.cfg.RequireBinding || g.cfg.RequireAttestedCert:
		return refuse(ReasonBinding, "token has no cnf x5t#S256 and RequireBinding or RequireAttestedCert is set")
	}
	return nil
}

// String formats a NumericDate for logs.
func (d numericDate) String() string { return strconv.FormatFloat(float64(d), 'f', -1, 64) }
