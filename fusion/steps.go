package fusion

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/axml"
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
	return attest.DeriveAttestKey(der, measurementSum), nil
}

// ---- open ----

type openStep struct{}

func (openStep) String() string { return "open" }

// Run opens the input strictly and refuses an already fused APK, or one
// with hidden data outside its entries (zipx.Reader.CheckNoHiddenData).
func (openStep) Run(c *Context) error {
	a, err := apk.Open(c.In)
	if err != nil {
		return err
	}
	c.apk = a
	if err := a.Zip.CheckNoHiddenData(); err != nil {
		return err
	}
	if a.Zip.Entry(androidrt.VaultAsset) != nil || a.Zip.Entry(androidrt.PolicyAsset) != nil {
		return ErrAlreadyFused
	}
	if app := a.ManifestDoc.Root().FindChild("application"); app != nil {
		for _, p := range app.FindChildren("provider") {
			if v, ok := p.AttrByID(axml.AttrName); ok && v.String() == androidrt.ProviderClass {
				return ErrAlreadyFused
			}
		}
	}
	info, err := artifactOf(a)
	if err != nil {
		return err
	}
	c.Result.Input = *info
	return nil
}

// artifactOf describes an opened APK (apk.Info: hashes the file and peeks
// at signers without verifying them).
func artifactOf(a *apk.APK) (*Artifact, error) {
	info, err := a.Info()
	if err != nil {
		return nil, err
	}
	return &Artifact{
		File: info.File, Size: info.Size, SHA256: info.SHA256,
		Package: info.Package, VersionCode: info.VersionCode, VersionName: info.VersionName, MinSDK: info.MinSDK,
		Schemes: info.Signing.Schemes, Signers: info.Signing.Signers, ZipAligned16K: info.ZipAligned16K,
	}, nil
}

// ---- plan ----

type planStep struct{}

func (planStep) String() string { return "plan" }

// Run decides the new dex name and the signing schemes, so impossible
// combinations fail before any work.
func (planStep) Run(c *Context) error {
	m := c.apk.Manifest
	if m.Package == "" {
		return &apk.ManifestError{Err: fmt.Errorf("no package name")}
	}
	c.dexName = c.apk.NextDexName()
	minSDK := m.MinSDK
	if c.MinSDK > 0 {
		minSDK = c.MinSDK
	}
	c.signOpts = apksig.Options{V1: c.V1, MinSDK: minSDK, CreatedBy: c.ToolVersion, Modified: c.Now, Lineage: c.Lineage}
	if c.OldSigner != nil {
		c.signOpts.OldSigner = &apksig.Signer{Key: c.OldSigner.Key, Certs: c.OldSigner.Chain}
	}
	if _, err := c.signOpts.Schemes(&apksig.Signer{Key: c.Signer.Key, Certs: c.Signer.Chain}); err != nil {
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
// initOrder puts it first among providers) and INTERNET if missing.
func (manifestStep) Run(c *Context) error {
	d := c.apk.ManifestDoc
	pkg := c.apk.Manifest.Package
	addedInternet, err := d.AddUsesPermission(internetPermission)
	if err != nil {
		return fmt.Errorf("fusion: manifest: %w", err)
	}
	app := d.Root().FindChild("application")
	if app == nil {
		if app, err = d.AddElement(d.Root(), "application"); err != nil {
			return fmt.Errorf("fusion: manifest: %w", err)
		}
	}
	prov, err := d.AddElement(app, "provider")
	if err != nil {
		return fmt.Errorf("fusion: manifest: %w", err)
	}
	for _, a := range []struct {
		id axml.ResID
		v  axml.Value
	}{
		{axml.AttrName, axml.StringValue(androidrt.ProviderClass)},
		{axml.AttrAuthorities, axml.StringValue(pkg + ".trustfuse")},
		{axml.AttrExported, axml.BoolValue(false)},
		{axml.AttrInitOrder, axml.IntValue(2147483647)},
	} {
		if err := d.SetAndroidAttr(prov, a.id, a.v); err != nil {
			return fmt.Errorf("fusion: manifest: %w", err)
		}
	}
	if c.manifest, err = d.Encode(); err != nil {
		return fmt.Errorf("fusion: manifest: %w", err)
	}
	ev := map[string]string{
		"provider":    androidrt.ProviderClass,
		"authorities": pkg + ".trustfuse",
		"initOrder":   "2147483647",
	}
	if addedInternet {
		ev["addedPermission"] = internetPermission
	}
	c.Result.Injected = append(c.Result.Injected, injected(apk.ManifestName, c.manifest, "replaced"))
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

// Run adds the runtime as the next classesN.dex (multidex: no limit hit).
func (runtimeStep) Run(c *Context) error {
	in := injected(c.dexName, androidrt.Dex(), "added")
	c.Result.Injected = append(c.Result.Injected, in)
	c.Result.Measurement.RuntimeDigest = in.SHA256
	return nil
}

// ---- vault (policy + sealed identity) ----

type vaultStep struct{}

func (vaultStep) String() string { return "vault" }

// Run writes the policy and seals the client identity to the output signer.
func (vaultStep) Run(c *Context) error {
	fs := c.FusionSet
	m := c.apk.Manifest
	// Allowed signers: the output signer; with key rotation also the old
	// key (PackageInfo.signatures reports the original signer of a rotated
	// app, and devices before Android 9 verify only v1/v2); Play App Signing.
	signer := c.Signer.CertSHA256()
	signers := []string{hex.EncodeToString(signer[:])}
	if c.OldSigner != nil {
		old := c.OldSigner.CertSHA256()
		signers = append(signers, hex.EncodeToString(old[:]))
	}
	signers = append(signers, fs.Attestation.PlaySigningCertDigests...)

	dexDigests := map[string]string{}
	for _, e := range c.apk.DexFiles() {
		d, err := sha256Hex(e.Open())
		if err != nil {
			return fmt.Errorf("fusion: digest %s: %w", e.Name, err)
		}
		dexDigests[e.Name] = d
	}
	meas := &c.Result.Measurement
	meas.Package, meas.VersionCode = m.Package, m.VersionCode
	meas.SignerDigests = signers
	meas.DexDigests = dexDigests
	meas.ManifestDigest = sha256Bytes(c.manifest)

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
	if err := pol.Validate(); err != nil {
		return fmt.Errorf("fusion: runtime policy: %w", err)
	}
	c.policy = pol.Encode()

	// One vault per allowed signer: the output signer's under VaultAsset,
	// each Play App Signing certificate's under its own name (a vault only
	// unseals for the signer it was sealed to; sealing needs only the digest).
	id := fs.ClientIdentity
	// The per-release attestation key (docs/attestation.md): derived from
	// the client key and the measurement, so reproducible and unique per
	// release; sealed in the vault and exported for the server's registry.
	attestKey, err := releaseAttestKey(id.Key, sum)
	if err != nil {
		return err
	}
	c.Result.Registration = &attest.Registration{Format: attest.RegistrationFormat,
		ID: hex.EncodeToString(sum[:]), Measurement: c.Result.Measurement, AttestKey: attestKey,
		KeyAttestation: keyAttestationPolicy(fs)}
	c.Result.Injected = append(c.Result.Injected, injected(androidrt.PolicyAsset, c.policy, "added"))
	c.vaults = nil
	for i, d := range signers {
		var digest [32]byte
		if _, err := hex.Decode(digest[:], []byte(d)); err != nil {
			return fmt.Errorf("fusion: signer digest %q: %w", d, err)
		}
		blob, err := vault.Seal(vault.Identity{Key: id.Key, Chain: id.Chain, AttestKey: attestKey}, androidrt.Pepper(), digest, c.policy)
		if err != nil {
			return err
		}
		name := androidrt.VaultAsset
		if i > 0 {
			name = androidrt.VaultAssetFor(digest)
		}
		c.vaults = append(c.vaults, apksig.Input{Name: name, Data: blob, Method: zipx.Store})
		c.Result.Injected = append(c.Result.Injected, injected(name, blob, "added"))
	}

	leaf := id.Certificate
	certSum := sha256.Sum256(leaf.Raw)
	c.Result.MTLS = &MTLSInfo{
		Subject:            leaf.Subject.String(),
		Issuer:             leaf.Issuer.String(),
		Serial:             leaf.SerialNumber.Text(16),
		NotBefore:          leaf.NotBefore.UTC(),
		NotAfter:           leaf.NotAfter.UTC(),
		SHA256:             hex.EncodeToString(certSum[:]),
		PublicKeyAlgorithm: id.KeyDescription(),
		Hosts:              fs.MTLS.Hosts,
	}
	c.Result.Protections = append(c.Result.Protections, Protection{
		ID: "mtls", Title: "Client certificate for mutual TLS (sealed, AES-256-GCM)", Mode: "on", Status: "applied",
		Evidence: map[string]string{
			"vault":       androidrt.VaultAsset,
			"sealedTo":    "signer sha256 " + hex.EncodeToString(signer[:]),
			"certificate": hex.EncodeToString(certSum[:]),
			"hosts":       strings.Join(fs.MTLS.Hosts, ","),
			"pinnedCAs":   strings.Join(pol.PinnedCASPKI, ","),
		},
	})
	c.Result.Protections = append(c.Result.Protections, threatProtections(fs, pol)...)
	return nil
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
// new entries after them, aligned, signed, to a temporary file staged in
// the run's outputs (renamed into place only when they are all committed).
func (signStep) Run(c *Context) error {
	var inputs []apksig.Input
	for _, in := range apksig.InputsFrom(c.apk.Zip.Reader) {
		if in.Name == apk.ManifestName {
			in = apksig.Input{Name: in.Name, Data: c.manifest, Method: zipx.Deflate}
		}
		inputs = append(inputs, in)
	}
	inputs = append(inputs,
		apksig.Input{Name: c.dexName, Data: androidrt.Dex(), Method: zipx.Deflate},
		apksig.Input{Name: androidrt.PolicyAsset, Data: c.policy, Method: zipx.Deflate})
	inputs = append(inputs, c.vaults...)
	out, err := c.outputs.Create(c.Out)
	if err != nil {
		return err
	}
	c.staged = out
	s := &apksig.Signer{Key: c.Signer.Key, Certs: c.Signer.Chain}
	return apksig.Sign(out, inputs, s, c.signOpts)
}

// ---- verify ----

type verifyStep struct{}

func (verifyStep) String() string { return "verify" }

// Run re-reads the output strictly and verifies its v2/v3 signatures, whose
// content digest covers every byte of the file, for Android 7.0 (API 24)
// and later. The JAR (v1) signature is not re-verified here: that would
// inflate every entry a second time (as long again as signing on a large
// APK) to re-check digests just computed from the same bytes; the tests
// check v1 output with apksigner and jarsigner instead. It reads the
// staged temporary file; a failure means the output never appears: it must
// never be shipped.
func (verifyStep) Run(c *Context) error {
	a, err := apk.Open(c.staged.Name())
	if err != nil {
		return fmt.Errorf("fusion: output does not read back: %w", err)
	}
	defer a.Close()
	opts := a.VerifyOptions()
	minSDK := max(c.signOpts.MinSDK, apksig.MinSDKv2)
	opts.MinSDK = minSDK
	res, err := apksig.Verify(a.Zip.Reader, opts)
	if err != nil {
		return err
	}
	v := Verification{Verified: res.Verified, MinSDK: minSDK, Schemes: []string{}}
	for _, s := range []apksig.Scheme{apksig.V1, apksig.V2, apksig.V3, apksig.V31} {
		if res.Scheme(s).Verified {
			v.Schemes = append(v.Schemes, string(s))
		}
	}
	for _, e := range res.AllErrors() {
		v.Errors = append(v.Errors, e.Message)
	}
	c.Result.Verification = v
	if !res.Verified {
		return fmt.Errorf("fusion: the output does not verify (%s); nothing was written", strings.Join(v.Errors, "; "))
	}
	info, err := artifactOf(a)
	if err != nil {
		return err
	}
	info.File = filepath.Base(c.Out) // a is still the temporary file
	c.Result.Output = *info
	return nil
}

// ---- v4 ----

type v4Step struct{}

func (v4Step) String() string { return "v4" }

// Run writes the output's APK Signature Scheme v4 file when asked, signed
// by the v3 signer; otherwise it records that none was written, and that an
// .idsig left at the output's path by an earlier run goes away with the
// output (apk.StageV4). The input's own .idsig, if any, is left alone: it
// signs the input only.
func (v4Step) Run(c *Context) error {
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
