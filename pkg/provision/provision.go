// Package provision reads iOS provisioning profiles (.mobileprovision) and
// checks that a bundle may be signed with one.
//
// A profile is a CMS SignedData (internal/cms) whose encapsulated content is
// an XML plist, signed by Apple's profile-signing certificate under the
// Apple Root CA. iOS checks that signature against Apple's root; this
// package checks it against the root pool the caller passes (Apple's root
// in production, a test root in tests). With no pool, the signature is still
// checked against the embedded certificate — the profile is intact — but its
// origin is not: Check says so in Result.ChainVerified.
//
// The rules Check applies, as iOS does at install time:
//   - the profile is within CreationDate … ExpirationDate at the caller's clock;
//   - the signing certificate is one of DeveloperCertificates (byte-equal);
//   - the bundle id matches the profile's application-identifier after its
//     prefix: exact, "*" (any) or "com.example.*" (any id under that prefix);
//   - a requested application-identifier is the profile's prefix, ".", and
//     the bundle id;
//   - every entitlement the app requests is allowed by the profile's
//     Entitlements (see allowed): present in the profile, and equal or matched
//     by a wildcard for strings ("TEAM.*" allows "TEAM.com.example.shared"),
//     every element matched for arrays (keychain-access-groups, application
//     groups, associated domains), true only if the profile allows true for
//     booleans (get-task-allow: a distribution profile has false), equal
//     otherwise (aps-environment "development" vs "production").
//
// Malformed profiles are *FormatError wrapping ErrMalformed (exit 2); a
// profile that does not allow the signing is a *ProfileError wrapping
// ErrProfile (exit 4), naming the bundle and the rule broken.
package provision

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/trustfuse/trustfuse/internal/cms"
	"github.com/trustfuse/trustfuse/internal/plistx"
)

// Errors.
var (
	ErrMalformed = errors.New("provision: malformed provisioning profile")
	ErrProfile   = errors.New("provision: provisioning profile does not allow this signature")
)

// FormatError reports a profile that cannot be decoded.
type FormatError struct {
	Detail string
	Err    error // wraps ErrMalformed and the cause
}

func (e *FormatError) Error() string { return ErrMalformed.Error() + ": " + e.Detail }

func (e *FormatError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

// Reason names the rule a profile check broke.
type Reason string

// Reasons.
const (
	ReasonSignature   Reason = "signature"     // the CMS signature or its chain does not verify
	ReasonExpired     Reason = "expired"       // past ExpirationDate
	ReasonNotYetValid Reason = "not-yet-valid" // before CreationDate
	ReasonCertificate Reason = "certificate"   // signing certificate not in DeveloperCertificates
	ReasonBundleID    Reason = "bundle-id"     // bundle id does not match application-identifier
	ReasonEntitlement Reason = "entitlement"   // an entitlement the profile does not allow
	ReasonPlatform    Reason = "platform"      // not an iOS profile
	ReasonNoAppID     Reason = "no-application-identifier"
)

// ProfileError names the bundle, the profile and what is wrong.
type ProfileError struct {
	Bundle  string // the bundle identifier checked
	Profile string // the profile's Name (UUID)
	Reason  Reason
	Detail  string
}

func (e *ProfileError) Error() string {
	if e.Profile == "" {
		return fmt.Sprintf("provision: bundle %s: %s: %s", e.Bundle, e.Reason, e.Detail)
	}
	return fmt.Sprintf("provision: bundle %s, profile %s: %s: %s", e.Bundle, e.Profile, e.Reason, e.Detail)
}

func (e *ProfileError) Unwrap() error { return ErrProfile }

// Profile is a parsed provisioning profile.
type Profile struct {
	Name                  string
	UUID                  string
	TeamID                string   // TeamIdentifier[0]
	TeamName              string   // TeamName
	AppIDPrefix           []string // ApplicationIdentifierPrefix
	ApplicationIdentifier string   // Entitlements["application-identifier"], e.g. "TEAM.com.example.*"
	Entitlements          map[string]any
	CreationDate          time.Time
	ExpirationDate        time.Time
	DeveloperCertificates []*x509.Certificate
	ProvisionedDevices    []string
	ProvisionsAllDevices  bool
	Platform              []string
	// Plist is the profile's content; CMS the whole signed profile.
	Plist, CMS []byte

	signed *cms.Signed
}

// profilePlist is the part of the plist we read.
type profilePlist struct {
	Name                        string         `plist:"Name"`
	UUID                        string         `plist:"UUID"`
	TeamIdentifier              []string       `plist:"TeamIdentifier"`
	TeamName                    string         `plist:"TeamName"`
	ApplicationIdentifierPrefix []string       `plist:"ApplicationIdentifierPrefix"`
	Entitlements                map[string]any `plist:"Entitlements"`
	CreationDate                time.Time      `plist:"CreationDate"`
	ExpirationDate              time.Time      `plist:"ExpirationDate"`
	DeveloperCertificates       [][]byte       `plist:"DeveloperCertificates"`
	ProvisionedDevices          []string       `plist:"ProvisionedDevices"`
	ProvisionsAllDevices        bool           `plist:"ProvisionsAllDevices"`
	Platform                    []string       `plist:"Platform"`
}

// maxProfilePlist caps a profile's plist: real ones are a few KiB to a few
// tens of KiB (certificates and up to a few hundred device ids).
const maxProfilePlist = 1 << 20

// Parse decodes a .mobileprovision file. It does not check the signature:
// Check does.
func Parse(der []byte) (*Profile, error) {
	sd, err := cms.Parse(der)
	if err != nil {
		return nil, &FormatError{Detail: "CMS envelope", Err: err}
	}
	if sd.Content == nil {
		return nil, &FormatError{Detail: "CMS envelope holds no plist", Err: cms.ErrMalformed}
	}
	var pp profilePlist
	if err := plistx.Unmarshal(sd.Content, &pp, maxProfilePlist); err != nil {
		return nil, &FormatError{Detail: "plist", Err: err}
	}
	p := &Profile{
		Name: pp.Name, UUID: pp.UUID, TeamName: pp.TeamName, AppIDPrefix: pp.ApplicationIdentifierPrefix,
		Entitlements: pp.Entitlements, CreationDate: pp.CreationDate, ExpirationDate: pp.ExpirationDate,
		ProvisionedDevices: pp.ProvisionedDevices, ProvisionsAllDevices: pp.ProvisionsAllDevices, Platform: pp.Platform,
		Plist: sd.Content, CMS: der, signed: sd,
	}
	if len(pp.TeamIdentifier) == 0 || pp.TeamIdentifier[0] == "" {
		return nil, &FormatError{Detail: "no TeamIdentifier", Err: errors.New("missing key")}
	}
	p.TeamID = pp.TeamIdentifier[0]
	if pp.ExpirationDate.IsZero() {
		return nil, &FormatError{Detail: "no ExpirationDate", Err: errors.New("missing key")}
	}
	appID, _ := pp.Entitlements["application-identifier"].(string)
	if appID == "" {
		return nil, &FormatError{Detail: "no application-identifier entitlement", Err: errors.New("missing key")}
	}
	p.ApplicationIdentifier = appID
	for i, raw := range pp.DeveloperCertificates {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, &FormatError{Detail: fmt.Sprintf("DeveloperCertificates[%d]", i), Err: err}
		}
		p.DeveloperCertificates = append(p.DeveloperCertificates, c)
	}
	return p, nil
}

// BundlePattern is the application-identifier without its prefix (the team
// or app id prefix): "com.example.app", "com.example.*" or "*".
func (p *Profile) BundlePattern() string {
	_, after, ok := strings.Cut(p.ApplicationIdentifier, ".")
	if !ok {
		return p.ApplicationIdentifier
	}
	return after
}

// CheckOptions are the inputs of Check.
type CheckOptions struct {
	BundleID    string            // the bundle's CFBundleIdentifier
	Certificate *x509.Certificate // the signing certificate
	// Entitlements the bundle will be signed with (nil: none requested).
	Entitlements map[string]any
	Now          time.Time      // the caller's clock
	Roots        *x509.CertPool // Apple's root (or a test root); nil: see Result
}

// Result says what Check verified.
type Result struct {
	// ChainVerified is false when no root pool was given: the signature
	// matched the embedded certificate but its origin was not checked.
	ChainVerified bool
}

// Check applies the rules in the package doc, in that order (signature,
// dates, certificate, bundle id, entitlements), and reports the first one
// broken as a *ProfileError.
func (p *Profile) Check(o CheckOptions) (Result, error) {
	fail := func(r Reason, format string, args ...any) (Result, error) {
		return Result{}, &ProfileError{Bundle: o.BundleID, Profile: p.Name + " (" + p.UUID + ")", Reason: r, Detail: fmt.Sprintf(format, args...)}
	}
	if err := p.signed.VerifySignature(nil); err != nil {
		return fail(ReasonSignature, "%v", err)
	}
	var res Result
	if o.Roots != nil {
		if _, err := p.signed.VerifyChain(o.Roots, o.Now); err != nil {
			return fail(ReasonSignature, "%v", err)
		}
		res.ChainVerified = true
	}
	if len(p.Platform) > 0 && !slices.Contains(p.Platform, "iOS") {
		return fail(ReasonPlatform, "profile is for %v, not iOS", p.Platform)
	}
	if o.Now.After(p.ExpirationDate) {
		return fail(ReasonExpired, "expired on %s", p.ExpirationDate.UTC().Format(time.RFC3339))
	}
	if !p.CreationDate.IsZero() && o.Now.Before(p.CreationDate) {
		return fail(ReasonNotYetValid, "created on %s, after the signing time", p.CreationDate.UTC().Format(time.RFC3339))
	}
	if o.Certificate == nil || !p.hasCertificate(o.Certificate) {
		subject := "none"
		if o.Certificate != nil {
			subject = o.Certificate.Subject.String()
		}
		return fail(ReasonCertificate, "signing certificate %s is not one of the profile's %d DeveloperCertificates", subject, len(p.DeveloperCertificates))
	}
	if !wildcardMatch(p.BundlePattern(), o.BundleID) {
		return fail(ReasonBundleID, "bundle id %s does not match the profile's application-identifier %s", o.BundleID, p.ApplicationIdentifier)
	}
	if appID, ok := o.Entitlements["application-identifier"]; ok {
		prefix, _, _ := strings.Cut(p.ApplicationIdentifier, ".")
		if want := prefix + "." + o.BundleID; appID != want {
			return fail(ReasonEntitlement, "entitlement application-identifier: %v, want %s (the profile's prefix and the bundle id)", appID, want)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.Entitlements)) {
		if why := p.allowed(k, o.Entitlements[k]); why != "" {
			return fail(ReasonEntitlement, "entitlement %s: %s", k, why)
		}
	}
	return res, nil
}

func (p *Profile) hasCertificate(c *x509.Certificate) bool {
	for _, d := range p.DeveloperCertificates {
		if d.Equal(c) {
			return true
		}
	}
	return false
}

// allowed says why the profile does not allow entitlement key = want, or
// "" when it does.
func (p *Profile) allowed(key string, want any) string {
	have, ok := p.Entitlements[key]
	if !ok {
		return "not in the profile"
	}
	if !valueAllowed(have, want) {
		return fmt.Sprintf("%v is not allowed by the profile's %v", want, have)
	}
	return ""
}

// valueAllowed applies the per-type rules of the package doc.
func valueAllowed(have, want any) bool {
	switch w := want.(type) {
	case bool:
		h, ok := have.(bool)
		return ok && (!w || h)
	case string:
		switch h := have.(type) {
		case string:
			return wildcardMatch(h, w)
		case []any: // a profile list allows any one of its values
			return anyAllows(h, w)
		}
		return false
	case []any:
		h, ok := have.([]any)
		if !ok {
			// A single wildcard string allows a whole list ("*").
			hs, isStr := have.(string)
			if !isStr {
				return false
			}
			h = []any{hs}
		}
		for _, e := range w {
			if !anyAllows(h, e) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(have, want)
}

func anyAllows(have []any, want any) bool {
	for _, h := range have {
		if valueAllowed(h, want) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against pattern: exact, or pattern ending in "*"
// matching any s with the part before it as prefix ("*" matches all).
func wildcardMatch(pattern, s string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(s, prefix)
	}
	return pattern == s
}
