package fusion

import (
	"fmt"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	"github.com/trustfuse/trustfuse/pkg/report"
	"github.com/trustfuse/trustfuse/pkg/sniff"
)

// Statement returns the Certified Secure statement for this run (DESIGN
// §6): subject = the output file and its SHA-256, predicate = b (its Time
// defaults to the run's build time, DemoKey is the run's), the input and
// output, the Fusion Set, every protection with its evidence, the injected
// entries, the client certificate's public part, the attestation
// measurement, the self-verification and the limits of what was done.
// fs, when not nil, supplies the attestation endpoint. Nothing secret is
// in a Result, so nothing secret can reach the statement.
func (r *Result) Statement(b report.Build, fs *fusionset.FusionSet) *report.Statement {
	if b.Tool == "" {
		b.Tool = "trustfuse"
	}
	if b.Time.IsZero() {
		b.Time = r.BuildTime
	}
	b.Time = b.Time.UTC()
	b.DemoKey = r.DemoKey
	p := report.Predicate{
		Build:        b,
		Input:        reportArtifact(r.Input),
		Output:       reportArtifact(r.Output),
		FusionSet:    r.FusionSet,
		Protections:  append([]report.Protection{}, r.Protections...),
		Injected:     append([]report.Injected{}, r.Injected...),
		Verification: r.Verification,
		Limits:       r.Limits(),
	}
	p.Verification.Schemes = nonNil(p.Verification.Schemes)
	if m := r.MTLS; m != nil {
		mt := *m
		mt.Hosts = nonNil(mt.Hosts)
		mt.NotBefore, mt.NotAfter = mt.NotBefore.UTC(), mt.NotAfter.UTC()
		p.MTLS = &mt
	}
	m := r.Measurement
	p.Attestation = report.Attestation{
		MeasurementSHA256: m.SHA256(),
		Package:           m.Package,
		VersionCode:       m.VersionCode,
		SignerDigests:     nonNil(m.SignerDigests),
		DexDigests:        m.DexDigests,
		RuntimeDigest:     m.RuntimeDigest,
		ManifestDigest:    m.ManifestDigest,
	}
	if p.Attestation.DexDigests == nil {
		p.Attestation.DexDigests = map[string]string{}
	}
	if im := r.IOSMeasurement; im != nil {
		p.Attestation = report.Attestation{MeasurementSHA256: im.SHA256, Package: im.BundleID,
			SignerDigests: []string{}, DexDigests: map[string]string{}, RuntimeDigest: m.RuntimeDigest, IOS: im}
	}
	if fs != nil {
		p.Attestation.Endpoint = fs.Attestation.Endpoint
	}
	switch {
	case r.IOSMeasurement != nil:
		// Android Key Attestation does not apply to an iOS release; App
		// Attest, its counterpart, is in the registration.
		if reg := r.Registration; reg != nil && reg.AppAttest != nil {
			a := reg.AppAttest
			p.Attestation.AppAttest = &report.AppAttest{Mode: a.Mode, TeamID: a.TeamID, AllowDevelopment: a.AllowDevelopment}
		}
	case fs != nil:
		if k := keyAttestationPolicy(fs); k != nil {
			p.Attestation.KeyAttestation = &report.KeyAttestation{Mode: k.Mode, MinSecurityLevel: k.MinSecurityLevel,
				RequireVerifiedBoot: k.RequireVerifiedBoot}
		}
	}
	return &report.Statement{
		Type:          report.StatementType,
		Subject:       []report.Subject{{Name: r.Output.File, Digest: map[string]string{"sha256": r.Output.SHA256}}},
		PredicateType: report.PredicateType,
		Predicate:     p,
	}
}

func reportArtifact(a Artifact) Artifact {
	a.Schemes, a.Signers = nonNil(a.Schemes), nonNil(a.Signers)
	return a
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Limits says, in words, what the output does not protect against and
// what this run did not check (DESIGN §12). The report carries it so
// that no reader takes the report for more than it is.
func (r *Result) Limits() []string {
	l := []string{
		"A determined attacker with a rooted device and a hooking framework can read the client key from memory while the app runs; the backend should also require the short-lived attestation token (trustfuse serve + guard), and the client certificate should be rotated per release.",
		"The client key is sealed at rest (AES-256-GCM, key material split across the dex, an asset and the signer digest): this raises the cost of extracting it from the package; it does not make extraction impossible.",
		"Root, emulator, debugger and hooking checks are heuristics: they raise the cost of an attack and can be bypassed; they do not prove that a device is honest.",
		"No Android device or emulator ran the fused app while this report was made: the runtime was exercised on a JVM host harness in the project's tests, not on ART.",
	}
	switch m := r.MTLS; {
	case m == nil:
	case m.PrivateKeyInPackage != nil && !*m.PrivateKeyInPackage:
		l[0] = "No client private key is in the package: each device makes a non-exportable key in its Android keystore (TEE or StrongBox), and the attestation service certifies it only after the app's attestation and the key's Key Attestation succeed. " +
			"An attacker who controls a device can still have the genuine app use that device's key, there, while its certificate lives (at most the configured validity); the key cannot be copied off the device."
		l[1] = "The vault holds the issuer CA chain and the per-release attestation key (derived from the package signing key), sealed at rest (AES-256-GCM, key material split across the dex, an asset and the signer digest). " +
			"Extracting it lets an attacker compute this release's attestation proof, not obtain a certificate: that also needs a Key Attestation chain from genuine hardware."
	case m.AttestedCertificate != nil:
		l = append(l, "Identity attested-or-embedded: devices that cannot attest a hardware key use the embedded client certificate, whose private key is in the package (sealed), as in embedded mode.")
	}
	const noClaim = "This report records what trustfuse changed in the input; it makes no claim about the input app's own code or behaviour."
	if r.Output.Format == string(sniff.IPA) {
		return r.withKeyLimits(iosLimits(noClaim, r.MTLS), "IPA")
	}
	if r.Output.Format == string(sniff.AAB) {
		l = append(l,
			"Self-verification re-read the output bundle and verified its JAR signature: the upload key's signature and the SHA-256 digest of every entry trustfuse wrote or changed; entries copied unchanged were compared byte for byte with the input instead of being digested a second time (jarsigner checks such outputs in full in the project's tests).",
			noClaim,
			"Play App Signing: the client identity is sealed only to the signers listed in the attestation record "+
				"(attestation.playSigningCertDigests, and the upload key when fused with --distribute-with-upload-key); an APK built from this bundle and signed with any other key cannot unseal it.",
			"For a bundle the attestation measurement is the package name, versionCode, those signer digests, the base module's dex files under their installed names (classes.dex, …) and the runtime dex; "+
				"not the manifest (Play re-encodes and edits it) nor the bundle's bytes. Dynamic feature modules' dex files are installed in their own split APKs, which the runtime does not measure: they rest on Play's signature. "+
				"Anything that changes the base dex bytes after upload (such as Play's automatic integrity protection, or standalone APKs with merged dex for devices before Android 5.0) makes attestation fail.",
			"bundletool is not available where trustfuse is tested: the base APK Play builds from the bundle was approximated with aapt2 convert in the project's tests.",
		)
		return r.withKeyLimits(l, "bundle")
	}
	l = append(l,
		fmt.Sprintf("Self-verification re-read the output and verified its APK Signature Scheme v2/v3 signatures for API %d and later; a v1 (JAR) signature, when present, was not re-verified in this run.", r.Verification.MinSDK),
		noClaim)
	if r.V4.Input && r.V4.Written == "" {
		l = append(l, "The input's APK Signature Scheme v4 file (.idsig) signs the input only; it does not apply to the output, and no v4 signature was written for the output (fuse --v4 writes one), so the output cannot be installed incrementally (adb install --incremental) until it is signed with v4.")
	}
	return r.withKeyLimits(l, "APK")
}

// withKeyLimits adds the limit the signing key brings, if any, to the
// output called what.
func (r *Result) withKeyLimits(l []string, what string) []string {
	if r.DemoKey {
		l = append(l, "Signed with the built-in DEMO key, whose private key is public: this "+what+" and this report prove nothing and must never be shipped.")
	}
	return l
}

// iosLimits are an IPA's limits (DESIGN §5, §12): no device ran it.
func iosLimits(noClaim string, m *MTLSInfo) []string {
	l := []string{
		"A determined attacker with a jailbroken device and a hooking framework can read the client key from memory while the app runs; the backend should also require the short-lived attestation token (trustfuse serve + guard), and the client certificate should be rotated per release.",
		"The client key is sealed at rest (AES-256-GCM) to the application identifier (team id + bundle id): a copy re-signed by another team cannot unseal it. The runtime and its key part are the same for every app, so on a jailbroken device a copy that keeps the team id and bundle id (or a patched runtime) can still unseal it.",
		"Jailbreak, debugger and hooking checks are heuristics: they raise the cost of an attack and can be bypassed; they do not prove that a device is honest.",
		"No iOS device or simulator ran the fused app while this report was made: the structure was checked with independent Mach-O, CMS and plist readers, and the runtime's platform-independent core on a host; the Apple-specific glue (NSURLSession, Security framework, dyld) is proved only on a device.",
		"Self-verification re-read the output and verified every code signature (CodeDirectory pages and special slots, CMS), every CodeResources seal and every embedded profile; Apple's own tools (codesign, installd) did not run here.",
		noClaim,
	}
	switch {
	case m == nil:
	case m.PrivateKeyInPackage != nil && !*m.PrivateKeyInPackage:
		l[0] = "No client private key is in the package: each device makes a non-exportable P-256 key in its Secure Enclave, and the attestation service certifies it only after the app's attestation and an App Attest object over the nonce and that key succeed. " +
			"App Attest proves a genuine, unmodified copy of the app on a genuine Apple device asked for the certificate; that the key is in the Secure Enclave rests on that app's code (the runtime) making it there, not on a hardware statement about the key. " +
			"An attacker who controls a device can still have the genuine app use that device's key while its certificate lives (at most the configured validity); the key cannot be copied off the device."
		l[1] = "The vault holds the issuer CA chain and the per-release attestation key (derived from the Apple signing key), sealed at rest (AES-256-GCM) to the application identifier (team id + bundle id). " +
			"Extracting it lets an attacker compute this release's attestation proof, not obtain a certificate: that also needs an App Attest object from a genuine device running the genuine app."
		l = append(l, "mtls.attestedCertificate.minSecurityLevel, strongBox and requireVerifiedBoot are Android Key Attestation settings: they do not apply to an iOS app (only validity does).")
	case m.AttestedCertificate != nil:
		l = append(l, "Identity attested-or-embedded: devices that cannot use App Attest use the embedded client certificate, whose private key is in the package (sealed), as in embedded mode. "+
			"mtls.attestedCertificate.minSecurityLevel, strongBox and requireVerifiedBoot are Android Key Attestation settings: they do not apply to an iOS app (only validity does).")
	}
	return l
}
