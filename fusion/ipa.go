package fusion

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	iosrt "github.com/trustfuse/trustfuse/fusion/runtime/ios"
	"github.com/trustfuse/trustfuse/internal/plistx"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/codesign"
	"github.com/trustfuse/trustfuse/pkg/ipa"
	"github.com/trustfuse/trustfuse/pkg/macho"
	"github.com/trustfuse/trustfuse/pkg/provision"
	"github.com/trustfuse/trustfuse/pkg/report"
	"github.com/trustfuse/trustfuse/pkg/sniff"
	"github.com/trustfuse/trustfuse/pkg/vault"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// What fuse does to an IPA (DESIGN §5; the file layout is the iOS
// runtime's contract):
//
//   - Payload/<App>.app/Frameworks/TrustFuse.framework/ is added: the
//     runtime binary (IOSRuntime, install name iosRuntimeDylib), its
//     Info.plist, policy.bin (the policy, encoded as for Android), vault.bin
//     (the client identity sealed with pkg/vault to vault.IOSSignerDigest:
//     the team id of the new signature and the app's bundle id) and key.bin
//     (the pepper, the same bytes as Android's);
//   - every slice of the app's main executable gets LC_LOAD_DYLIB
//     @rpath/TrustFuse.framework/TrustFuse (and LC_RPATH
//     @executable_path/Frameworks if missing) in its header padding; too
//     little padding is refused (macho.ErrNoRoom: link the app with
//     -headerpad_max_install_names);
//   - everything is re-signed deepest first with pkg/ipa (the framework as
//     nested code the app seals), with the profiles and entitlements of
//     Request.IOS, and the output verified with ipa.Verify.
//
// The attestation measurement (iosMeasurement) names the cdhashes of the
// signed app and runtime, so it is computed after signing; the policy and
// vault, sealed inside the signed app, cannot hold it: the runtime
// computes it on the device, serve compares it with the registered one.
type ipaTarget struct {
	path   string // the archive's file
	f      *ipa.File
	signed *ipa.SignResult   // set by the sign step
	files  map[string][]byte // the framework's files, by path in the app
	team   string            // the new signature's team id
	// attestKey is the release's attestation key sealed in the vault: from
	// the client key and the policy (the measurement names the signed
	// cdhashes, so it is known only after the vault is sealed into the app).
	attestKey []byte
}

// IOSOptions are how an IPA is signed: the inputs of ipa.Sign beside the
// signing key (the same flags as `trustfuse sign` for an IPA).
type IOSOptions struct {
	// Profiles maps a bundle id to the profile DER to embed; "" is the app's.
	Profiles map[string][]byte
	// Entitlements replaces the app's entitlements (nil: its profile's).
	Entitlements []byte
	// Roots anchor the profiles and the output's signatures (the CLI
	// passes Apple's root unless --apple-root; nil: chains unchecked).
	Roots *x509.CertPool
	// Clock is the time profiles and certificates are checked at (zero:
	// time.Now()); Request.Now is the signing time written.
	Clock time.Time
}

// Names of the runtime framework in the app (the runtime's contract,
// fusion/runtime/ios).
const (
	iosFrameworkDir = iosrt.FrameworkDir
	iosRuntimeDylib = iosrt.InstallName
	iosRpath        = "@executable_path/Frameworks"
	iosRuntimeID    = iosrt.BundleID
	iosScheme       = "apple-codesign"
)

// IOSRuntime returns the TrustFuse.framework binary fuse adds to an IPA:
// the one place the runtime build is taken from, fusion/runtime/ios's
// checked-in build (tests may set a stand-in with the same install name).
var IOSRuntime = func() []byte { return iosrt.Framework }

func openIPA(path string) (*ipaTarget, error) {
	f, err := ipa.Open(path)
	if err != nil {
		return nil, err
	}
	return &ipaTarget{path: path, f: f}, nil
}

func (t *ipaTarget) format() sniff.Format  { return sniff.IPA }
func (t *ipaTarget) archive() *zipx.Reader { return t.f.Zip }
func (t *ipaTarget) close() error          { return t.f.Close() }

// alreadyFused reports whether the app already holds the runtime framework.
func (t *ipaTarget) alreadyFused() bool {
	prefix := t.f.App.Dir + iosFrameworkDir
	for _, e := range t.f.Zip.Entries {
		if strings.HasPrefix(e.Name, prefix) {
			return true
		}
	}
	return false
}

// describe records the archive and its code items (with their cdhashes
// when signed is given: the output).
func (t *ipaTarget) describe(file string) (*Artifact, error) {
	sum, err := t.f.Zip.FileSHA256()
	if err != nil {
		return nil, err
	}
	size := t.f.Zip.Size()
	app := t.f.App
	a := &Artifact{Format: string(sniff.IPA), File: file, Size: size, SHA256: sum,
		Package: app.ID, VersionName: app.ShortVersion, Schemes: []string{}, Signers: []string{}}
	a.VersionCode, _ = strconv.ParseInt(app.Version, 10, 64)
	if app.Signer != nil {
		a.Schemes = []string{iosScheme}
		d := sha256.Sum256(app.Signer.Raw)
		a.Signers = []string{hex.EncodeToString(d[:])}
	}
	cdhash := map[string]string{}
	if t.signed != nil {
		for _, sb := range t.signed.Bundles {
			cdhash[sb.Dir] = sb.CDHash
		}
	}
	for _, b := range t.f.Bundles {
		rb := report.Bundle{Dir: b.Dir, Kind: b.Kind.String(), ID: b.ID, TeamID: b.TeamID, CDHash: cdhash[b.Dir]}
		if p := b.Profile; p != nil {
			rb.Profile = &report.Profile{Name: p.Name, UUID: p.UUID, TeamID: p.TeamID, Expires: p.ExpirationDate.UTC(), Type: profileType(p)}
		}
		a.Bundles = append(a.Bundles, rb)
	}
	return a, nil
}

// profileType is how a profile distributes the app, from its fields:
// development (get-task-allow: a debugger may attach), enterprise (all
// devices), ad-hoc (a device list), else app-store.
func profileType(p *provision.Profile) string {
	switch {
	case p.Entitlements["get-task-allow"] == true:
		return "development"
	case p.ProvisionsAllDevices:
		return "enterprise"
	case len(p.ProvisionedDevices) > 0:
		return "ad-hoc"
	}
	return "app-store"
}

// plan checks what can refuse the IPA before any work: a bundle id, an
// Apple signing identity (the team id is its OU), encrypted code.
func (t *ipaTarget) plan(c *Context) error {
	if t.f.App.ID == "" {
		return &ipa.FormatError{Path: t.f.App.Dir, Detail: "Info.plist has no CFBundleIdentifier"}
	}
	leaf := c.Signer.Chain[0]
	if len(leaf.Subject.OrganizationalUnit) == 0 {
		return fmt.Errorf("%w: certificate %q has no OU (team id): not an Apple signing certificate", ipa.ErrIdentity, leaf.Subject.CommonName)
	}
	t.team = leaf.Subject.OrganizationalUnit[0]
	for _, b := range t.f.Bundles {
		if b.Encrypted {
			return &ipa.FormatError{Path: b.Executable, Detail: "cannot fuse", Err: macho.ErrEncrypted}
		}
	}
	if c.FusionSet.MTLS.Identity.Attested() {
		return t.checkAppAttestEntitlement(c)
	}
	return nil
}

// AppAttestEntitlement is the entitlement that lets an app use App Attest
// (DCAppAttestService); its value is the environment, development or
// production.
const AppAttestEntitlement = "com.apple.developer.devicecheck.appattest-environment"

// checkAppAttestEntitlement checks, for an attested identity mode, that the
// app will be signed with AppAttestEntitlement: in the entitlements given
// (IOSOptions.Entitlements), else in its profile's. Without it the device
// cannot attest the identity key: attested is refused (a ProfileError:
// exit 4), attested-or-embedded gets a warning (every device falls back to
// the embedded identity).
func (t *ipaTarget) checkAppAttestEntitlement(c *Context) error {
	app := t.f.App
	p := app.Profile
	der, ok := c.IOS.Profiles[app.ID]
	if !ok {
		der, ok = c.IOS.Profiles[""]
	}
	if ok {
		var err error
		if p, err = provision.Parse(der); err != nil {
			return fmt.Errorf("fusion: profile for %s: %w", app.ID, err)
		}
	}
	var name string
	var ents map[string]any
	if p != nil {
		name, ents = fmt.Sprintf("%s (%s)", p.Name, p.UUID), p.Entitlements
	}
	where := "its profile " + name
	if c.IOS.Entitlements != nil {
		ents = nil // not the profile's map: decoding would merge into it
		if err := plistx.Unmarshal(c.IOS.Entitlements, &ents, codesign.MaxEntitlementsSize); err != nil {
			return &ipa.FormatError{Path: app.Dir, Detail: "entitlements plist", Err: err}
		}
		where = "the entitlements given"
	}
	if p == nil && c.IOS.Entitlements == nil {
		where = "no profile"
	}
	if env, _ := ents[AppAttestEntitlement].(string); env != "" {
		return nil
	}
	detail := fmt.Sprintf("mtls.identity %q needs App Attest, but %s does not grant %s: "+
		"enable the App Attest capability for %s in the Apple Developer portal and sign with a profile made after it (--profile)",
		c.FusionSet.MTLS.Identity, where, AppAttestEntitlement, app.ID)
	if c.FusionSet.MTLS.Identity == fusionset.IdentityAttested {
		return &provision.ProfileError{Bundle: app.ID, Profile: name, Reason: provision.ReasonEntitlement, Detail: detail}
	}
	c.Result.Warnings = append(c.Result.Warnings, detail+"; until then every device falls back to the embedded client certificate")
	return nil
}

// link records the link of the runtime into the main executable (done
// by ipa.Sign, SignOptions.Link): the iOS counterpart of the init
// provider, dyld runs the framework's constructor before main.
func (t *ipaTarget) link(c *Context) error {
	c.Result.Protections = append(c.Result.Protections, Protection{
		ID: "runtime-init", Title: "Runtime starts before the app (LC_LOAD_DYLIB of TrustFuse.framework)", Mode: "on", Status: "applied",
		Evidence: map[string]string{"executable": t.f.App.Executable, "loadDylib": iosRuntimeDylib, "rpath": iosRpath, "slices": strings.Join(t.f.App.Arches, ",")},
	})
	return nil
}

// runtime adds the framework's binary and Info.plist.
func (t *ipaTarget) runtime(c *Context) error {
	t.files = map[string][]byte{
		iosFrameworkDir + "TrustFuse":  IOSRuntime(),
		iosFrameworkDir + "Info.plist": []byte(iosrt.InfoPlist),
	}
	c.Result.Measurement.RuntimeDigest = sha256Bytes(t.files[iosFrameworkDir+"TrustFuse"])
	for _, n := range []string{"TrustFuse", "Info.plist"} {
		c.Result.Injected = append(c.Result.Injected, injected(t.f.App.Dir+iosFrameworkDir+n, t.files[iosFrameworkDir+n], "added"))
	}
	return nil
}

// seal writes the policy (mtls.identity included), the vault sealed to
// vault.IOSSignerDigest (SHA-256 of the application identifier
// "<TEAMID>.<bundle id>": a copy re-signed by another team cannot open it),
// and the pepper. The vault holds what sealedIdentity gives for the
// identity mode: the client identity (embedded, attested-or-embedded) or
// only the issuer CA chain (attested). The per-release attestation key in
// it is derived from the client key (or, attested, the Apple signing key)
// and the policy's SHA-256 (the measurement, which names the signed
// cdhashes, cannot be known before the vault is sealed into the app).
func (t *ipaTarget) seal(c *Context) error {
	fs := c.FusionSet
	app := t.f.App
	digest := vault.IOSSignerDigest(t.team, app.ID)
	signer := hex.EncodeToString(digest[:])
	pol := policyFrom(fs, app.ID, c.Now)
	pol.SignerDigests = []string{signer}
	if p := appAttestPolicy(fs, t.team); p != nil {
		pol.AppAttest = p.Mode
	}
	pol.FusedAppToken = fusedAppToken(c.Result.Input.SHA256, fs.SHA256(), digest)
	if err := pol.Validate(); err != nil {
		return fmt.Errorf("fusion: runtime policy: %w", err)
	}
	c.policy = pol.Encode()
	// The attestation key comes from the policy's SHA-256: the measurement
	// names the signed cdhashes, unknown until the vault is sealed in.
	vid, err := sealedIdentity(c, sha256.Sum256(c.policy))
	if err != nil {
		return err
	}
	t.attestKey = vid.AttestKey
	blob, err := vault.Seal(vid, androidrt.Pepper(), digest, c.policy)
	if err != nil {
		return err
	}
	dir := app.Dir + iosFrameworkDir
	for _, f := range []struct {
		name string
		data []byte
	}{{"policy.bin", c.policy}, {"vault.bin", blob}, {"key.bin", androidrt.Pepper()}} {
		t.files[iosFrameworkDir+f.name] = f.data
		c.Result.Injected = append(c.Result.Injected, injected(dir+f.name, f.data, "added"))
	}
	c.Result.MTLS = mtlsInfo(fs, vid)
	c.Result.Protections = append(c.Result.Protections, mtlsProtection(fs, c.Result.MTLS, map[string]string{
		"vault":     dir + "vault.bin",
		"sealedTo":  "application identifier " + t.team + "." + app.ID + " (sha256 " + signer + ")",
		"hosts":     strings.Join(fs.MTLS.Hosts, ","),
		"pinnedCAs": strings.Join(pol.PinnedCASPKI, ","),
	}))
	for _, p := range threatProtections(fs, pol) {
		p.Title = iosThreatTitles[fusionset.ThreatID(p.ID)]
		p.Evidence["policy"] = dir + "policy.bin"
		if p.ID == "tamper" {
			p.Evidence["signers"] = "team " + t.team + ", bundle " + app.ID
			delete(p.Evidence, "dex")
		}
		c.Result.Protections = append(c.Result.Protections, p)
	}
	return nil
}

// iosThreatTitles names each threat's protection on iOS (the same ids,
// modes and Threat-Event keys as Android; the checks are iOS's).
var iosThreatTitles = map[fusionset.ThreatID]string{
	fusionset.ThreatTamper:   "Anti-tamper: bundle id, team id, executable cdhash, unexpected dylibs",
	fusionset.ThreatDebugger: "Debugger detection (sysctl P_TRACED)",
	fusionset.ThreatRoot:     "Jailbreak detection (files, sandbox escape probes, DYLD_INSERT_LIBRARIES)",
	fusionset.ThreatEmulator: "Simulator detection",
	fusionset.ThreatHooking:  "Hooking-framework detection (Frida, Substrate, libhooker images)",
	fusionset.ThreatMITM:     "Man-in-the-middle protection (server CA pin)",
}

// sign writes the IPA with the framework added and linked, re-signed
// deepest first (ipa.Sign), to the staged output.
func (t *ipaTarget) sign(c *Context) error {
	out, err := c.outputs.Create(c.Out)
	if err != nil {
		return err
	}
	c.staged = out
	o := c.IOS
	res, err := ipa.Sign(out, t.f.IPA, ipa.SignOptions{
		Signer: c.Signer.Key, Chain: c.Signer.Chain, Profiles: o.Profiles, Entitlements: o.Entitlements,
		Roots: o.Roots, Time: c.Now, Now: o.Clock, Add: t.files, Link: &macho.Link{Dylib: iosRuntimeDylib, Rpath: iosRpath},
	})
	if err != nil {
		return err
	}
	t.signed = res
	return nil
}

// verify re-opens the staged output, verifies every code signature,
// CodeResources and profile (ipa.Verify), records the output with each
// bundle's cdhash, and the attestation measurement.
func (t *ipaTarget) verify(c *Context, path string) error {
	f, err := ipa.Open(path)
	if err != nil {
		return fmt.Errorf("fusion: output does not read back: %w", err)
	}
	defer f.Close()
	res, verr := ipa.Verify(f.IPA, ipa.VerifyOptions{Roots: c.IOS.Roots, Now: c.IOS.Clock})
	v := Verification{Verified: verr == nil, Schemes: []string{}}
	if res != nil {
		for _, b := range res.Bundles {
			for _, p := range b.Problems {
				v.Errors = append(v.Errors, b.Dir+": "+p)
			}
		}
	}
	if verr == nil {
		v.Schemes = []string{iosScheme}
	}
	c.Result.Verification = v
	if verr != nil {
		return fmt.Errorf("fusion: the output does not verify (%w); nothing was written", verr)
	}
	out := &ipaTarget{path: path, f: f, signed: t.signed}
	a, err := out.describe(c.outName())
	if err != nil {
		return err
	}
	c.Result.Output = *a
	m, err := iosMeasurement(f.App, t.signed)
	if err != nil {
		return err
	}
	c.Result.IOSMeasurement = m
	im := attestIOS(m)
	// Android Key Attestation does not apply to an iOS release; its
	// counterpart, App Attest, names the team id of the new signature.
	reg := &attest.Registration{Format: attest.RegistrationFormat, IOS: &im, AttestKey: t.attestKey,
		AppAttest: appAttestPolicy(c.FusionSet, m.TeamID), Identity: identityPolicy(c.FusionSet)}
	reg.ID = reg.ReleaseID()
	c.Result.Registration = reg
	return nil
}

// appAttestPolicy is the Fusion Set's App Attest demand for an app signed
// by team, as the registry stores it, or nil when it is off.
func appAttestPolicy(fs *fusionset.FusionSet, team string) *attest.AppAttestPolicy {
	a := fs.Attestation.AppAttest
	if !fs.HasAttestation() || a.Mode == "" || a.Mode == fusionset.KeyAttestationOff {
		return nil
	}
	return &attest.AppAttestPolicy{Mode: string(a.Mode), TeamID: team, AllowDevelopment: a.AllowDevelopment}
}

// IOSMeasurement is what the iOS runtime attests (the runtime's contract):
// the app's bundle id, team id, version, and the cdhashes of its main
// executable and of the runtime, as installed.
type IOSMeasurement = report.IOSMeasurement

// iosMeasurement is the release's measurement: its JCS-canonical JSON with
// "platform":"ios" and its SHA-256 (SHA256).
func iosMeasurement(app *ipa.Bundle, signed *ipa.SignResult) (*IOSMeasurement, error) {
	m := &IOSMeasurement{BundleID: app.ID, Version: app.ShortVersion, Build: app.Version}
	for _, sb := range signed.Bundles {
		switch {
		case sb.Kind == ipa.KindApp:
			m.AppCDHash, m.TeamID = sb.CDHash, sb.TeamID
		case sb.ID == iosRuntimeID && strings.HasSuffix(sb.Dir, iosFrameworkDir):
			m.RuntimeCDHash = sb.CDHash
		}
	}
	if m.AppCDHash == "" || m.RuntimeCDHash == "" {
		return nil, fmt.Errorf("fusion: the signed IPA lacks the app's or the runtime's cdhash")
	}
	m.SHA256 = attestIOS(m).SHA256()
	return m, nil
}

// attestIOS is m as serve registers and checks it.
func attestIOS(m *IOSMeasurement) attest.IOSMeasurement {
	return attest.IOSMeasurement{Platform: attest.PlatformIOS, BundleID: m.BundleID, TeamID: m.TeamID,
		AppCDHash: m.AppCDHash, RuntimeCDHash: m.RuntimeCDHash, Version: m.Version, Build: m.Build}
}
