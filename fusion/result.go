package fusion

import "time"

// Result is the record of a fuse run: what went in, what came out, and the
// evidence for every protection. The CLI prints it; the report is made from it.
type Result struct {
	Input       Artifact     `json:"input"`
	Output      Artifact     `json:"output"`
	FusionSet   FusionSetRef `json:"fusionSet"`
	Protections []Protection `json:"protections"`
	Injected    []Injected   `json:"injected"`
	MTLS        *MTLSInfo    `json:"mtls,omitempty"`
	Measurement Measurement  `json:"measurement"`
	// Verification is our verifier's verdict on the output.
	Verification Verification `json:"verification"`
	DemoKey      bool         `json:"demoKey"`
	BuildTime    time.Time    `json:"buildTime"`
	Steps        []StepRecord `json:"steps"`
}

// Artifact describes an APK file.
type Artifact struct {
	File        string   `json:"file"`
	Size        int64    `json:"size"`
	SHA256      string   `json:"sha256"`
	Package     string   `json:"package"`
	VersionCode int64    `json:"versionCode"`
	VersionName string   `json:"versionName"`
	MinSDK      int      `json:"minSdk"`
	Schemes     []string `json:"schemes"`
	Signers     []string `json:"signers"`
	// ZipAligned16K: every stored native library is 16 KiB aligned.
	ZipAligned16K bool `json:"zipAligned16k"`
}

// FusionSetRef identifies the Fusion Set applied.
type FusionSetRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
}

// Protection is one protection and how it was applied.
type Protection struct {
	ID       string            `json:"id"`
	Title    string            `json:"title"`
	Mode     string            `json:"mode"`
	Status   string            `json:"status"` // applied, skipped, failed
	Evidence map[string]string `json:"evidence,omitempty"`
}

// Injected is an entry the pipeline added or replaced.
type Injected struct {
	Name   string `json:"name"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	Action string `json:"action"` // added, replaced
}

// MTLSInfo is the public part of the injected client certificate.
type MTLSInfo struct {
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	Serial             string    `json:"serial"`
	NotBefore          time.Time `json:"notBefore"`
	NotAfter           time.Time `json:"notAfter"`
	SHA256             string    `json:"sha256"`
	PublicKeyAlgorithm string    `json:"publicKeyAlgorithm"`
	Hosts              []string  `json:"hosts"`
}

// Measurement is what the attestation service compares (DESIGN §3).
type Measurement struct {
	Package        string            `json:"package"`
	VersionCode    int64             `json:"versionCode"`
	SignerDigests  []string          `json:"signerDigests"`
	DexDigests     map[string]string `json:"dexDigests"`
	RuntimeDigest  string            `json:"runtimeDigest"`
	ManifestDigest string            `json:"manifestDigest"`
}

// Verification is the verifier's verdict on the output, for API levels
// MinSDK and up.
type Verification struct {
	Verified bool     `json:"verified"`
	MinSDK   int      `json:"minSdk"`
	Schemes  []string `json:"schemes"`
	Errors   []string `json:"errors,omitempty"`
}

// StepRecord says what each pipeline step did.
type StepRecord struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}
