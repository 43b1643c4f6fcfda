package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/trustfuse/trustfuse/internal/jcs"
)

// PlatformIOS is IOSMeasurement.Platform.
const PlatformIOS = "ios"

// IOSMeasurement is an iOS release's measurement: what the fuse pipeline
// registers and what the runtime in TrustFuse.framework recomputes on the
// device from its own code signature and Info.plist.
type IOSMeasurement struct {
	// Platform is always PlatformIOS; Canonical writes it whatever it holds.
	Platform string `json:"platform"`
	// BundleID is the app's CFBundleIdentifier; TeamID the team identifier
	// in the main executable's CodeDirectory.
	BundleID string `json:"bundleId"`
	TeamID   string `json:"teamId"`
	// AppCDHash is the lowercase hex of the main executable's sealed
	// slice's cdhash (20 bytes, as ipa.SignedBundle.CDHash);
	// RuntimeCDHash that of TrustFuse.framework/TrustFuse.
	AppCDHash     string `json:"appCdhash"`
	RuntimeCDHash string `json:"runtimeCdhash"`
	// Version is CFBundleShortVersionString; Build is CFBundleVersion.
	Version string `json:"version"`
	Build   string `json:"build"`
}

// Canonical returns the RFC 8785 JSON of m:
//
//	{"appCdhash":hex,"build":s,"bundleId":s,"platform":"ios",
//	 "runtimeCdhash":hex,"teamId":s,"version":s}
//
// (invalid UTF-8 bytes become U+FFFD, as encoding/json writes them).
func (m IOSMeasurement) Canonical() []byte {
	b, err := jcs.Marshal(map[string]string{
		"platform":      PlatformIOS,
		"bundleId":      m.BundleID,
		"teamId":        m.TeamID,
		"appCdhash":     m.AppCDHash,
		"runtimeCdhash": m.RuntimeCDHash,
		"version":       m.Version,
		"build":         m.Build,
	})
	if err != nil { // a map of strings cannot fail
		panic(fmt.Sprintf("attest: iOS measurement encoding: %v", err))
	}
	return b
}

// Sum returns the SHA-256 of Canonical().
func (m IOSMeasurement) Sum() [32]byte { return sha256.Sum256(m.Canonical()) }

// SHA256 returns the lowercase hex SHA-256 of Canonical(); it is also the
// release id.
func (m IOSMeasurement) SHA256() string {
	s := m.Sum()
	return hex.EncodeToString(s[:])
}

// check reports what keeps m from being registered.
func (m IOSMeasurement) check() error {
	isCDHash := func(s string) bool {
		b, err := hex.DecodeString(s)
		return err == nil && len(b) == 20 && hex.EncodeToString(b) == s
	}
	switch {
	case m.Platform != PlatformIOS:
		return fmt.Errorf("iOS measurement platform %q (want %q)", m.Platform, PlatformIOS)
	case m.BundleID == "" || m.TeamID == "":
		return fmt.Errorf("iOS measurement without bundle id or team id")
	case !isCDHash(m.AppCDHash) || !isCDHash(m.RuntimeCDHash):
		return fmt.Errorf("iOS measurement cdhashes %q, %q are not 40 lowercase hex digits", m.AppCDHash, m.RuntimeCDHash)
	}
	return nil
}

// isZero reports whether m has no field set (an iOS release or request
// carries its measurement in IOS instead).
func (m Measurement) isZero() bool {
	return m.Package == "" && m.VersionCode == 0 && len(m.SignerDigests) == 0 && len(m.DexDigests) == 0 &&
		m.RuntimeDigest == "" && m.ManifestDigest == ""
}

// releaseID is the release id of a measurement pair: the iOS measurement's
// SHA-256 when ios is set, else the Android measurement's.
func releaseID(m Measurement, ios *IOSMeasurement) string {
	if ios != nil {
		return ios.SHA256()
	}
	return m.SHA256()
}

// ReleaseID returns the id the registry files reg under: the SHA-256 of
// its iOS measurement when it has one, else of its Android measurement.
func (reg Registration) ReleaseID() string { return releaseID(reg.Measurement, reg.IOS) }
