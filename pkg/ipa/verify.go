package ipa

import (
	"crypto/x509"
	"errors"
	"time"
)

// VerifyOptions are the inputs of Verify.
type VerifyOptions struct {
	Roots *x509.CertPool // CMS and profile chains end here (nil: unchecked, reported)
	Now   time.Time      // profile validity clock
}

// VerifyResult holds one verdict per code item, in signing order.
type VerifyResult struct {
	Bundles []BundleVerdict `json:"bundles"`
}

// BundleVerdict is what Verify found of one code item.
type BundleVerdict struct {
	Dir           string   `json:"dir"`
	ID            string   `json:"id"`
	Kind          Kind     `json:"kind"`
	OK            bool     `json:"ok"`
	AdHoc         bool     `json:"adhoc,omitempty"`
	TeamID        string   `json:"team_id,omitempty"`
	Signer        string   `json:"signer,omitempty"` // leaf subject
	ChainVerified bool     `json:"chain_verified"`
	Problems      []string `json:"problems,omitempty"`
}

// Verify checks every code item's signature.
func Verify(in *IPA, o VerifyOptions) (*VerifyResult, error) {
	return nil, errors.New("ipa: Verify: not implemented yet")
}
