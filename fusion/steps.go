package fusion

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/report"
	"github.com/trustfuse/trustfuse/pkg/sniff"
	"github.com/trustfuse/trustfuse/pkg/vault"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// internetPermission is what the runtime needs to reach the API and the
// attestation service.
const internetPermission = "android.permission.INTERNET"

// keyAttestationPolicy is the Fusion Set's key attestation demand as the
// registry stores it, or nil when it is off.
func keyAttestationPolicy(fs *fusionset.FusionSet) *attest.KeyAttestationPolicy {
	k := fs.Attestation.KeyAttestation
	if !fs.HasAttestation() || k.Mode == "" || k.Mode == fusionset.KeyAttestationOff {
		return nil
	}
	return &attest.KeyAttestationPolicy{Mode: string(k.Mode), MinSecurityLevel: k.MinSecurityLevel,
		RequireVerifiedBoot: k.RequireVerifiedBoot == nil || *k.RequireVerifiedBoot}
}

// releaseAttestKey derives the release's attestation key from the client
// private key (PKCS#8 DER) and the measurement's SHA-256
// (attest.DeriveAttestKey).
func releaseAttestKey(key any, measurementSum [32]byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("fusion: attestation key: %w", err)
	}
	defer clear(der)
	return attest.DeriveAttestKey(der, measurementSum), nil
}

// sealedIdentity is what the vault holds for the Fusion Set's identity
// mode, with the release's attestation key: the client key and chain
// (embedded modes; the key derived from the client key), or no key and the
// issuer CA chain (attested; the key derived from the package signing key,
// attest.DeriveAttestKeyFromSigner, since the package holds no client key).
func sealedIdentity(c *Context, measurementSum [32]byte) (vault.Identity, error) {
	fs := c.FusionSet
	if !fs.MTLS.Identity.Embeds() {
		der, err := x509.MarshalPKCS8PrivateKey(c.Signer.Key)
		if err != nil {
			return vault.Identity{}, fmt.Errorf("fusion: attestation key from the signing key: %w", err)
		}
		defer clear(der)
		return vault.Identity{Chain: fs.IssuerCAs, AttestKey: attest.DeriveAttestKeyFromSigner(der, measurementSum)}, nil
	}
	id := fs.ClientIdentity
	k, err := releaseAttestKey(id.Key, measurementSum)
	if err != nil {
		return vault.Identity{}, err
	}
	return vault.Identity{Key: id.Key, Chain: id.Chain, AttestKey: k}, nil
}

// identityPolicy is the Fusion Set's attested identity as the registry
// stores it, or nil in embedded mode.
func identityPolicy(fs *fusionset.FusionSet) *attest.IdentityPolicy {
	m := fs.MTLS
	if !m.Identity.Attested() {
		return nil
	}
	a := m.AttestedCertificate
	return &attest.IdentityPolicy{Mode: string(m.Identity), ValiditySeconds: int64(a.Lifetime() / time.Second),
		MinSecurityLevel: a.MinSecurityLevel, RequireVerifiedBoot: a.RequireVerifiedBoot == nil || *a.RequireVerifiedBoot}
}

// ---- open ----

type openStep struct{}

func (openStep) String() string { return "open" }

// Run sniffs the input and opens it strictly as its format's target, and
// refuses an already fused package, or one with hidden data outside its
// entries (zipx.Reader.CheckNoHiddenData).
func (openStep) Run(c *Context) error {
	t, err := openTarget(c.In, c.Out)
	if err != nil {
		return err
	}
	c.target = t
	if err := t.archive().CheckNoHiddenData(); err != nil {
		return err
	}
	if t.alreadyFused() {
		return ErrAlreadyFused
	}
	if a, ok := t.(androidTarget); ok {
		// The vault step needs the dex digests; both they and describe's
		// file hash are sequential reads, so they run side by side.
		c.dexDigests = startDexDigests(a.appDex())
	}
	info, err := t.describe(filepath.Base(c.In))
	if err != nil {
		return err
	}
	c.Result.Input = *info
	return nil
}

// pendingDigests is the SHA-256 of the app's dex files, computed in the
// background (startDexDigests).
type pendingDigests struct {
	done chan struct{}
	sums map[string]string // by installed name
	err  error
}

// startDexDigests starts hashing the uncompressed content of dex, keyed by
// installed name.
func startDexDigests(dex map[string]*zipx.Entry) *pendingDigests {
	p := &pendingDigests{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sums := map[string]string{}
		for name, e := range dex {
			d, err := sha256Hex(e.Open())
			if err != nil {
				p.err = fmt.Errorf("fusion: digest %s: %w", e.Name, err)
				return
			}
			sums[name] = d
		}
		p.sums = sums
	}()
	return p
}

// wait returns the digests once computed.
func (p *pendingDigests) wait() (map[string]string, error) {
	<-p.done
	return p.sums, p.err
}

// ---- plan ----

type planStep struct{}

func (planStep) String() string { return "plan" }

// Run decides the new dex name (Android) and how the output is signed, so
// impossible combinations fail before any work.
func (planStep) Run(c *Context) error {
	if a, ok := c.target.(androidTarget); ok {
		if a.manifest().Package == "" {
			return &apk.ManifestError{Err: fmt.Errorf("no package name")}
		}
		// App Attest is Apple's: refused rather than ignored, so a release
		// is never registered without an attestation its Fusion Set demands.
		if appAttestPolicy(c.FusionSet, "") != nil {
			return fmt.Errorf("%w: %s is an Android package but the Fusion Set's attestation.appAttest.mode is %q: "+
				"App Attest is iOS-only (set it to \"off\" for Android, where attestation.keyAttestation is the counterpart)",
				ErrFormat, filepath.Base(c.In), c.FusionSet.Attestation.AppAttest.Mode)
		}
		c.dexName = a.nextDex()
	}
	if err := c.target.plan(c); err != nil {
		return err
	}
	fs := c.FusionSet
	c.Result.FusionSet = FusionSetRef{ID: fs.FusionSetID, Name: fs.Name, Version: fs.Version, SHA256: fs.SHA256()}
	c.Result.DemoKey = c.Signer.IsDemo()
	c.Result.BuildTime = c.Now
	return nil
}

// ---- manifest ----

type manifestStep struct{}

func (manifestStep) String() string { return "manifest" }

// Run adds the init provider (it starts before Application.onCreate, and
// initOrder puts it first among providers) and INTERNET if missing. An
// IPA has no manifest: dyld loads the runtime (ipaTarget.link).
func (manifestStep) Run(c *Context) error {
	if t, ok := c.target.(*ipaTarget); ok {
		return t.link(c)
	}
	a := c.target.(androidTarget)
	name, data, addedInternet, err := a.editManifest()
	if err != nil {
		return err
	}
	c.manifestEntry, c.manifest = name, data
	pkg := a.manifest().Package
	ev := map[string]string{
		"provider":    androidrt.ProviderClass,
		"authorities": pkg + ".trustfuse",
		"initOrder":   strconv.Itoa(initOrder),
	}
	if addedInternet {
		ev["addedPermission"] = internetPermission
	}
	c.Result.Injected = append(c.Result.Injected, injected(name, c.manifest, "replaced"))
	c.Result.Protections = append(c.Result.Protections, Protection{
		ID: "runtime-init", Title: "Runtime starts before the app (init provider)", Mode: "on", Status: "applied", Evidence: ev,
	})
	return nil
}

func injected(name string, data []byte, action string) Injected {
	return Injected{Name: name, Size: len(data), SHA256: sha256Bytes(data), Action: action}
}

// ---- runtime ----

type runtimeStep struct{}

func (runtimeStep) String() string { return "runtime" }

// Run adds the runtime as the next classesN.dex (multidex: no limit hit),
// or to an IPA as Frameworks/TrustFuse.framework (ipaTarget.runtime).
func (runtimeStep) Run(c *Context) error {
	if t, ok := c.target.(*ipaTarget); ok {
		return t.runtime(c)
	}
	in := injected(c.target.(androidTarget).entry(c.dexName), androidrt.Dex(), "added")
	c.Result.Injected = append(c.Result.Injected, in)
	c.Result.Measurement.RuntimeDigest = in.SHA256
	return nil
}

// ---- vault (policy + sealed identity) ----

type vaultStep struct{}

func (vaultStep) String() string { return "vault" }

// Run writes the policy and seals the client identity to each signer the
// target allows (target.signers), and records the attestation measurement;
// an IPA's are sealed by ipaTarget.seal.
func (vaultStep) Run(c *Context) error {
	if t, ok := c.target.(*ipaTarget); ok {
		return t.seal(c)
	}
	t := c.target.(androidTarget)
	fs := c.FusionSet
	m := t.manifest()
	signers, err := t.signers(c)
	if err != nil {
		return err
	}
	signer := c.Signer.CertSHA256()

	dexDigests, err := c.dexDigests.wait()
	if err != nil {
		return err
	}
	meas := &c.Result.Measurement
	meas.Package, meas.VersionCode = m.Package, m.VersionCode
	meas.SignerDigests = signers
	meas.DexDigests = dexDigests
	if t.measuresManifest() {
		meas.ManifestDigest = sha256Bytes(c.manifest)
	}

	pol := policyFrom(fs, m.Package, c.Now)
	pol.SignerDigests = signers
	pol.DexDigests = dexDigests
	pol.FusedAppToken = fusedAppToken(c.Result.Input.SHA256, fs.SHA256(), signer)
	// The runtime attests with exactly the measurement registered for this
	// release (runtime and manifest digests included: the runtime and
	// manifest steps ran before this one).
	canon := c.Result.Measurement.Canonical()
	sum := sha256.Sum256(canon)
	pol.AttestMeasurement = string(canon)
	pol.AttestRuntimeDex = c.dexName
	pol.AttestSkipManifest = !t.measuresManifest()
	if err := pol.Validate(); err != nil {
		return fmt.Errorf("fusion: runtime policy: %w", err)
	}
	c.policy = pol.Encode()

	// One vault per allowed signer: the first's under VaultAsset, each
	// other's (old key, Play App Signing certificates) under its own name
	// (a vault only unseals for the signer it was sealed to; sealing needs
	// only the digest).
	// The per-release attestation key (docs/attestation.md): derived from
	// the client key (or, attested, the signing key) and the measurement,
	// so reproducible and unique per release; sealed in the vault and
	// exported for the server's registry.
	vid, err := sealedIdentity(c, sum)
	if err != nil {
		return err
	}
	c.Result.Registration = &attest.Registration{Format: attest.RegistrationFormat,
		ID: hex.EncodeToString(sum[:]), Measurement: c.Result.Measurement, AttestKey: vid.AttestKey,
		KeyAttestation: keyAttestationPolicy(fs), Identity: identityPolicy(fs)}
	c.Result.Injected = append(c.Result.Injected, injected(t.entry(androidrt.PolicyAsset), c.policy, "added"))
	c.vaults = nil
	for i, d := range signers {
		var digest [32]byte
		if _, err := hex.Decode(digest[:], []byte(d)); err != nil {
			return fmt.Errorf("fusion: signer digest %q: %w", d, err)
		}
		blob, err := vault.Seal(vid, androidrt.Pepper(), digest, c.policy)
		if err != nil {
			return err
		}
		name := androidrt.VaultAsset
		if i > 0 {
			name = androidrt.VaultAssetFor(digest)
		}
		name = t.entry(name)
		c.vaults = append(c.vaults, apksig.Input{Name: name, Data: blob, Method: zipx.Store})
		c.Result.Injected = append(c.Result.Injected, injected(name, blob, "added"))
	}

	c.Result.MTLS = mtlsInfo(fs, vid)
	c.Result.Protections = append(c.Result.Protections, mtlsProtection(fs, c.Result.MTLS, map[string]string{
		"vault":     t.entry(androidrt.VaultAsset),
		"sealedTo":  "signer sha256 " + strings.Join(signers, ","),
		"hosts":     strings.Join(fs.MTLS.Hosts, ","),
		"pinnedCAs": strings.Join(pol.PinnedCASPKI, ","),
	}))
	c.Result.Protections = append(c.Result.Protections, threatProtections(fs, pol)...)
	return nil
}

// mtlsInfo is the public part of the client identity sealed as vid: the
// client certificate's (or, attested, the issuer CA's) details, the
// identity mode and what the vault holds.
func mtlsInfo(fs *fusionset.FusionSet, vid vault.Identity) *MTLSInfo {
	leaf := vid.Chain[0]
	certSum := sha256.Sum256(leaf.Raw)
	hasKey := vid.Key != nil
	info := &MTLSInfo{
		Subject:             leaf.Subject.String(),
		Issuer:              leaf.Issuer.String(),
		Serial:              leaf.SerialNumber.Text(16),
		NotBefore:           leaf.NotBefore.UTC(),
		NotAfter:            leaf.NotAfter.UTC(),
		SHA256:              hex.EncodeToString(certSum[:]),
		PublicKeyAlgorithm:  keys.DescribePublicKey(leaf.PublicKey),
		Hosts:               fs.MTLS.Hosts,
		Identity:            string(fs.MTLS.Identity),
		PrivateKeyInPackage: &hasKey,
		Vault:               &report.VaultContents{HasPrivateKey: hasKey},
	}
	for _, c := range vid.Chain {
		sum := sha256.Sum256(c.Raw)
		info.Vault.Chain = append(info.Vault.Chain, report.CertRef{Subject: c.Subject.String(), SHA256: hex.EncodeToString(sum[:])})
	}
	if fs.MTLS.Identity.Attested() {
		a := fs.MTLS.AttestedCertificate
		info.AttestedCertificate = &report.AttestedCertificate{Validity: a.Validity, MinSecurityLevel: a.MinSecurityLevel,
			StrongBox: a.StrongBox, RequireVerifiedBoot: a.RequireVerifiedBoot == nil || *a.RequireVerifiedBoot}
	}
	return info
}

// mtlsProtection records the client identity protection with ev, its
// title and certificate evidence depending on the identity mode.
func mtlsProtection(fs *fusionset.FusionSet, info *MTLSInfo, ev map[string]string) Protection {
	ev["identity"] = info.Identity
	title := "Client certificate for mutual TLS (sealed, AES-256-GCM)"
	switch fs.MTLS.Identity {
	case fusionset.IdentityAttested:
		title = "Hardware-bound client identity (attested device key; no private key in the package)"
		ev["issuerCA"] = info.SHA256
	case fusionset.IdentityAttestedOrEmbedded:
		title = "Hardware-bound client identity, embedded certificate where the device cannot attest (sealed, AES-256-GCM)"
		ev["certificate"] = info.SHA256
		ev["issuerCA"] = sha256Bytes(fs.IssuerCAs[0].Raw)
	default:
		ev["certificate"] = info.SHA256
	}
	return Protection{ID: "mtls", Title: title, Mode: "on", Status: "applied", Evidence: ev}
}

// fusedAppToken identifies this fused build: input, Fusion Set and signer.
func fusedAppToken(inputSHA, fusionSHA string, signer [32]byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "trustfuse fused app\x00%s\x00%s\x00%x", inputSHA, fusionSHA, signer)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ---- sign (align + sign + write) ----

type signStep struct{}

func (signStep) String() string { return "sign" }

// Run writes every original entry raw (the manifest replaced in place), the
// new entries after them, signed as the format is signed, to a temporary
// file staged in the run's outputs (renamed into place only when they are
// all committed).
func (signStep) Run(c *Context) error {
	if t, ok := c.target.(*ipaTarget); ok {
		return t.sign(c)
	}
	t := c.target.(androidTarget)
	var inputs []apksig.Input
	for _, in := range apksig.InputsFrom(t.archive()) {
		if in.Name == c.manifestEntry {
			in = apksig.Input{Name: in.Name, Data: c.manifest, Method: zipx.Deflate}
		}
		inputs = append(inputs, in)
	}
	inputs = append(inputs,
		apksig.Input{Name: t.entry(c.dexName), Data: androidrt.Dex(), Method: zipx.Deflate},
		apksig.Input{Name: t.entry(androidrt.PolicyAsset), Data: c.policy, Method: zipx.Deflate})
	inputs = append(inputs, c.vaults...)
	out, err := c.outputs.Create(c.Out)
	if err != nil {
		return err
	}
	c.staged = out
	return t.sign(c, out, inputs)
}

// ---- verify ----

type verifyStep struct{}

func (verifyStep) String() string { return "verify" }

// Run re-reads the staged output strictly and verifies its signature (the
// target says which and how far); a failure means the output never
// appears: it must never be shipped.
func (verifyStep) Run(c *Context) error {
	return c.target.verify(c, c.staged.Name())
}

// ---- v4 ----

type v4Step struct{}

func (v4Step) String() string { return "v4" }

// Run writes the output's APK Signature Scheme v4 file when asked, signed
// by the v3 signer; otherwise it records that none was written, and that an
// .idsig left at the output's path by an earlier run goes away with the
// output (apk.StageV4). The input's own .idsig, if any, is left alone: it
// signs the input only. A bundle has no v4 signature (plan refused --v4).
func (v4Step) Run(c *Context) error {
	if c.target.format() != sniff.APK {
		return Skip("APK Signature Scheme v4 is for APKs")
	}
	c.Result.V4.Input = slices.Contains(c.Result.Input.Schemes, string(apksig.V4))
	s := &apksig.Signer{Key: c.Signer.Key, Certs: c.Signer.Chain}
	out, err := apk.StageV4(c.outputs, c.staged.Name(), c.Out, s, c.V4)
	if err != nil {
		return fmt.Errorf("fusion: v4 signature: %w", err)
	}
	c.Result.V4.V4Output = out
	if out.Written == "" {
		return Skip("no APK Signature Scheme v4 file asked for (--v4)")
	}
	c.Result.Output.Schemes = append(c.Result.Output.Schemes, string(apksig.V4))
	return nil
}
