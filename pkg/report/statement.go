// Package report builds, signs, verifies and renders the Certified Secure
// report: an in-toto Statement v1 whose predicate records what `trustfuse
// fuse` applied, with evidence, wrapped in a DSSE envelope signed with the
// APK signing key, and a PDF rendered from the JSON alone.
package report

import "time"

// In-toto and DSSE identifiers.
const (
	StatementType = "https://in-toto.io/Statement/v1"
	PredicateType = "https://trustfuse.dev/certified-secure/v1"
	PayloadType   = "application/vnd.in-toto+json"
)

// Statement is an in-toto Statement v1 with the Certified Secure predicate.
type Statement struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     Predicate `json:"predicate"`
}

// Subject names an artifact by file name and digest.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Predicate is the Certified Secure record.
type Predicate struct {
	Build        Build        `json:"build"`
	Input        Artifact     `json:"input"`
	Output       Artifact     `json:"output"`
	FusionSet    FusionSet    `json:"fusionSet"`
	Protections  []Protection `json:"protections"`
	Injected     []Injected   `json:"injected"`
	MTLS         *MTLS        `json:"mtls,omitempty"`
	Attestation  Attestation  `json:"attestation"`
	Verification Verification `json:"verification"`
	// Limits states, in words, what the protections do not cover (DESIGN §12).
	Limits []string `json:"limits"`
}

// Build says who made the output, when, and where.
type Build struct {
	Tool      string            `json:"tool"`
	Version   string            `json:"version"`
	Commit    string            `json:"commit"`
	Time      time.Time         `json:"time"`
	DemoKey   bool              `json:"demoKey"`
	CI        map[string]string `json:"ci,omitempty"` // provider, job, build number, URL, commit, branch
	Reproduce string            `json:"reproducible,omitempty"`
}

// Artifact describes the input or output package: an APK or an Android
// App Bundle (Format "aab", with its Modules; its scheme is "jar").
type Artifact struct {
	// Format is "apk" or "aab"; absent in reports made before bundles.
	Format        string   `json:"format,omitempty"`
	File          string   `json:"file"`
	Size          int64    `json:"size"`
	SHA256        string   `json:"sha256"`
	Package       string   `json:"package"`
	VersionCode   int64    `json:"versionCode"`
	VersionName   string   `json:"versionName"`
	MinSDK        int      `json:"minSdk"`
	Schemes       []string `json:"schemes"`
	Signers       []string `json:"signers"`
	ZipAligned16K bool     `json:"zipAligned16k"`
	// Modules lists a bundle's modules, base first.
	Modules []Module `json:"modules,omitempty"`
	// Bundles lists an IPA's code items in signing order, deepest first,
	// the app last.
	Bundles []Bundle `json:"bundles,omitempty"`
}

// Bundle is one code item of an IPA: a bundle directory or a loose dylib.
type Bundle struct {
	Dir    string `json:"dir"`
	Kind   string `json:"kind"` // app, framework, dylib, appex, watch-app, app-clip
	ID     string `json:"id"`
	TeamID string `json:"teamId"`
	// CDHash is the signed code's cdhash (hex, 20 bytes: the arm64
	// slice's); empty for unsigned input.
	CDHash  string   `json:"cdhash"`
	Profile *Profile `json:"profile,omitempty"`
}

// Profile is the provisioning profile a bundle carries.
type Profile struct {
	Name    string    `json:"name"`
	UUID    string    `json:"uuid"`
	TeamID  string    `json:"teamId"`
	Expires time.Time `json:"expires"`
	// Type is development (get-task-allow), enterprise (all devices),
	// ad-hoc (a device list) or app-store.
	Type string `json:"type"`
}

// Module is one module of an App Bundle.
type Module struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`     // base, feature, asset-pack, ml-pack
	Delivery string   `json:"delivery"` // install-time, on-demand, fast-follow, "" if unsaid
	Dex      []string `json:"dex"`
	ABIs     []string `json:"abis"`
}

// FusionSet identifies the Fusion Set applied; SHA256 is of its canonical JSON.
type FusionSet struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
}

// Protection is one protection and its evidence.
type Protection struct {
	ID       string            `json:"id"`
	Title    string            `json:"title"`
	Mode     string            `json:"mode"`
	Status   string            `json:"status"` // applied, skipped, failed
	Evidence map[string]string `json:"evidence,omitempty"`
}

// Injected is an entry added to or replaced in the APK.
type Injected struct {
	Name   string `json:"name"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	Action string `json:"action"`
}

// MTLS is the public part of the injected client certificate. Never the key.
type MTLS struct {
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	Serial             string    `json:"serial"`
	NotBefore          time.Time `json:"notBefore"`
	NotAfter           time.Time `json:"notAfter"`
	SHA256             string    `json:"sha256"`
	PublicKeyAlgorithm string    `json:"publicKeyAlgorithm"`
	Hosts              []string  `json:"hosts"`
	// Identity is the Fusion Set's mtls.identity: embedded, attested or
	// attested-or-embedded (absent in reports made before identity modes).
	// In attested mode the certificate fields above are the issuer CA's.
	Identity string `json:"identity,omitempty"`
	// PrivateKeyInPackage says whether a client private key is sealed into
	// the package (false only in attested mode).
	PrivateKeyInPackage *bool `json:"privateKeyInPackage,omitempty"`
	// Vault summarises what the sealed vault holds.
	Vault *VaultContents `json:"vault,omitempty"`
	// AttestedCertificate is the device certificate serve issues (attested
	// modes only).
	AttestedCertificate *AttestedCertificate `json:"attestedCertificate,omitempty"`
}

// VaultContents is what the sealed vault holds, by its public parts.
type VaultContents struct {
	// Chain is the vault's certificate chain: the client certificate and
	// its CAs (embedded), or the issuer CA chain (attested).
	Chain []CertRef `json:"chain"`
	// HasPrivateKey says whether the vault holds a private key.
	HasPrivateKey bool `json:"hasPrivateKey"`
}

// CertRef names a certificate.
type CertRef struct {
	Subject string `json:"subject"`
	SHA256  string `json:"sha256"`
}

// AttestedCertificate is the Fusion Set's mtls.attestedCertificate.
type AttestedCertificate struct {
	Validity            string `json:"validity"`
	MinSecurityLevel    string `json:"minSecurityLevel"`
	StrongBox           string `json:"strongBox"`
	RequireVerifiedBoot bool   `json:"requireVerifiedBoot"`
}

// Attestation is what the attestation service registers for this release.
type Attestation struct {
	Endpoint          string            `json:"endpoint,omitempty"`
	MeasurementSHA256 string            `json:"measurementSha256"`
	Package           string            `json:"package"`
	VersionCode       int64             `json:"versionCode"`
	SignerDigests     []string          `json:"signerDigests"`
	DexDigests        map[string]string `json:"dexDigests"`
	RuntimeDigest     string            `json:"runtimeDigest"`
	ManifestDigest    string            `json:"manifestDigest"`
	// KeyAttestation is the Android Key Attestation the service demands
	// (absent when off).
	KeyAttestation *KeyAttestation `json:"keyAttestation,omitempty"`
	// IOS is an IPA's measurement (then measurementSha256 is its SHA256).
	IOS *IOSMeasurement `json:"ios,omitempty"`
	// AppAttest is the App Attest the service demands of an iOS release
	// (absent when off).
	AppAttest *AppAttest `json:"appAttest,omitempty"`
}

// AppAttest is an iOS release's App Attest policy: the Fusion Set's
// attestation.appAttest and the team id of the app's signature.
type AppAttest struct {
	Mode             string `json:"mode"`
	TeamID           string `json:"teamId"`
	AllowDevelopment bool   `json:"allowDevelopment"`
}

// IOSMeasurement is what the iOS runtime attests: SHA256 is of the RFC
// 8785 JSON of the other fields plus "platform":"ios" (docs/report.md).
type IOSMeasurement struct {
	SHA256        string `json:"sha256"`
	BundleID      string `json:"bundleId"`
	TeamID        string `json:"teamId"`
	AppCDHash     string `json:"appCdhash"`
	RuntimeCDHash string `json:"runtimeCdhash"`
	Version       string `json:"version"`
	Build         string `json:"build"`
}

// KeyAttestation is the Fusion Set's attestation.keyAttestation.
type KeyAttestation struct {
	Mode                string `json:"mode"`
	MinSecurityLevel    string `json:"minSecurityLevel"`
	RequireVerifiedBoot bool   `json:"requireVerifiedBoot"`
}

// Verification is the re-run of the verifier on the output.
type Verification struct {
	Verified bool     `json:"verified"`
	MinSDK   int      `json:"minSdk"`
	Schemes  []string `json:"schemes"`
	Errors   []string `json:"errors,omitempty"`
}
