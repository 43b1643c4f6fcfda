package ipa

import (
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"time"
)

// SignOptions are the inputs of Sign.
type SignOptions struct {
	// Signer and Chain (leaf first, then the WWDR intermediate when known,
	// as keys.Signer.Chain) make the CMS signatures; nil with AdHoc.
	Signer crypto.Signer
	Chain  []*x509.Certificate
	// AdHoc signs without CMS, requirements or profile (simulators, tests).
	AdHoc bool
	// Profiles maps a bundle id to the profile DER to embed; key "" is the
	// main app's. A bundle without one keeps its embedded profile if that
	// allows the new signer, else Sign fails with a *provision.ProfileError.
	Profiles map[string][]byte
	// Entitlements is an XML plist replacing the main app's entitlements;
	// nil: each bundle gets its profile's Entitlements, as zsign and
	// fastlane resign do.
	Entitlements []byte
	// Roots checks the profiles' chains (nil: unchecked, as reported by
	// provision.Result).
	Roots *x509.CertPool
	// Time is the signing time and the profiles' validity clock
	// (SOURCE_DATE_EPOCH).
	Time time.Time
}

// SignResult says what Sign did, per code item in signing order.
type SignResult struct {
	Bundles []SignedBundle `json:"bundles"`
}

// SignedBundle is one signed code item.
type SignedBundle struct {
	Dir          string   `json:"dir"`
	ID           string   `json:"id"`
	Kind         Kind     `json:"kind"`
	CDHash       string   `json:"cdhash"` // hex SHA-256 of the first slice's CodeDirectory, truncated to 20 bytes
	TeamID       string   `json:"team_id,omitempty"`
	ProfileUUID  string   `json:"profile_uuid,omitempty"`
	ProfileName  string   `json:"profile_name,omitempty"`
	Entitlements []string `json:"entitlements,omitempty"` // keys
}

// Sign writes in, re-signed, to out.
func Sign(out io.Writer, in *IPA, o SignOptions) (*SignResult, error) {
	return nil, errors.New("ipa: Sign: not implemented yet")
}
