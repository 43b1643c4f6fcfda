package fusion

import (
	"time"

	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/report"
)

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
	// IOSMeasurement is an IPA's attestation measurement (Measurement is
	// then unused).
	IOSMeasurement *IOSMeasurement `json:"iosMeasurement,omitempty"`
	// Verification is our verifier's verdict on the output.
	Verification Verification `json:"verification"`
	DemoKey      bool         `json:"demoKey"`
	BuildTime    time.Time    `json:"buildTime"`
	Steps        []StepRecord `json:"steps"`
	// V4 is what became of APK Signature Scheme v4 (an .idsig beside the
	// APK): whether the input had one that signs it (it cannot sign the
	// output), and the output's, written or removed as stale.
	V4 V4Outcome `json:"v4"`
	// Warnings are what the run went on despite, in words (such as an
	// attested-or-embedded IPA whose profile does not grant App Attest).
	Warnings []string `json:"warnings,omitempty"`
	// Registration is the release record for the attestation registry
	// (`fuse --register`). It holds the secret per-release attestation key,
	// so it is never part of the JSON result or the report.
	Registration *attest.Registration `json:"-"`
}

// The parts of a Result that the report carries as they are share its types:
// the report is rendered from the pipeline's record, never described twice.
type (
	// Artifact describes an APK or App Bundle file.
	Artifact = report.Artifact
	// Module is one module of an App Bundle.
	Module = report.Module
	// FusionSetRef identifies the Fusion Set applied.
	FusionSetRef = report.FusionSet
	// Protection is one protection and how it was applied.
	Protection = report.Protection
	// Injected is an entry the pipeline added or replaced.
	Injected = report.Injected
	// MTLSInfo is the public part of the injected client certificate.
	MTLSInfo = report.MTLS
)

// Measurement is what the attestation service compares (DESIGN §3); its
// Canonical form and SHA256 (the release id) are defined by pkg/attest.
type Measurement = attest.Measurement

// Verification is the verifier's verdict on the output, for API levels
// MinSDK and up.
type Verification = report.Verification

// V4Outcome records the v4 signature files of a run.
type V4Outcome struct {
	// Input: an .idsig beside the input signs it (it is left alone).
	Input bool `json:"input"`
	apk.V4Output
}

// StepRecord says what each pipeline step did.
type StepRecord struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}
