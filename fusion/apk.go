package fusion

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/axml"
	"github.com/trustfuse/trustfuse/pkg/sniff"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// What fuse does to an APK (DESIGN §3): the binary XML manifest edited in
// place, the runtime as the next top-level classesN.dex, policy and vaults
// under assets/trustfuse/, signed with the APK signature schemes (v1 when
// minSdk < 24, v2 and v3), the v2/v3 signatures re-verified. Installed
// names are the entry names.
type apkTarget struct{ a *apk.APK }

func openAPK(path string) (*apkTarget, error) {
	a, err := apk.Open(path)
	if err != nil {
		return nil, err
	}
	return &apkTarget{a: a}, nil
}

func (t *apkTarget) format() sniff.Format          { return sniff.APK }
func (t *apkTarget) archive() *zipx.Reader         { return t.a.Zip.Reader }
func (t *apkTarget) manifest() *axml.Manifest      { return t.a.Manifest }
func (t *apkTarget) carriesRuntime() bool          { return carriesRuntime[*axml.Element](t.a.ManifestDoc) }
func (t *apkTarget) entry(installed string) string { return installed }
func (t *apkTarget) nextDex() string               { return t.a.NextDexName() }
func (t *apkTarget) measuresManifest() bool        { return true }
func (t *apkTarget) alreadyFused() bool            { return androidFused(t) }
func (t *apkTarget) close() error                  { return t.a.Close() }

// describe hashes the file and peeks at its signers without verifying
// them (apk.Info).
func (t *apkTarget) describe(file string) (*Artifact, error) {
	info, err := t.a.Info()
	if err != nil {
		return nil, err
	}
	return &Artifact{
		Format: string(sniff.APK), File: file, Size: info.Size, SHA256: info.SHA256,
		Package: info.Package, VersionCode: info.VersionCode, VersionName: info.VersionName, MinSDK: info.MinSDK,
		Schemes: info.Signing.Schemes, Signers: info.Signing.Signers, ZipAligned16K: info.ZipAligned16K,
	}, nil
}

func (t *apkTarget) editManifest() (string, []byte, bool, error) {
	data, added, err := addInitProvider[*axml.Element](t.a.ManifestDoc, t.a.Manifest.Package)
	return apk.ManifestName, data, added, err
}

func (t *apkTarget) appDex() map[string]*zipx.Entry {
	dex := map[string]*zipx.Entry{}
	for _, e := range t.a.DexFiles() {
		dex[e.Name] = e
	}
	return dex
}

// signers: the output signer; with key rotation also the old key
// (PackageInfo.signatures reports the original signer of a rotated app,
// and devices before Android 9 verify only v1/v2); and the Play App
// Signing certificates, for an APK that Play re-signs.
func (t *apkTarget) signers(c *Context) ([]string, error) {
	s := c.Signer.CertSHA256()
	out := []string{hex.EncodeToString(s[:])}
	if c.OldSigner != nil {
		old := c.OldSigner.CertSHA256()
		out = append(out, hex.EncodeToString(old[:]))
	}
	return append(out, c.FusionSet.Attestation.PlaySigningCertDigests...), nil
}

// plan picks the signature schemes (apksig.Options), so impossible
// combinations fail before any work.
func (t *apkTarget) plan(c *Context) error {
	minSDK := t.a.Manifest.MinSDK
	if c.MinSDK > 0 {
		minSDK = c.MinSDK
	}
	c.signOpts = apksig.Options{V1: c.V1, MinSDK: minSDK, CreatedBy: c.ToolVersion, Modified: c.Now, Lineage: c.Lineage,
		Source: t.a.Zip.Reader}
	if c.OldSigner != nil {
		c.signOpts.OldSigner = &apksig.Signer{Key: c.OldSigner.Key, Certs: c.OldSigner.Chain}
	}
	_, err := c.signOpts.Schemes(&apksig.Signer{Key: c.Signer.Key, Certs: c.Signer.Chain})
	return err
}

// sign aligns and signs (apksig.Sign).
func (t *apkTarget) sign(c *Context, out apksig.Output, inputs []apksig.Input) error {
	return apksig.Sign(out, inputs, &apksig.Signer{Key: c.Signer.Key, Certs: c.Signer.Chain}, c.signOpts)
}

// verify checks the output's v2/v3 signatures, whose content digest covers
// every byte of the file, for Android 7.0 (API 24) and later. The JAR (v1)
// signature is not re-verified here: that would inflate every entry a
// second time (as long again as signing on a large APK) to re-check
// digests just computed from the same bytes; the tests check v1 output
// with apksigner and jarsigner instead.
func (t *apkTarget) verify(c *Context, path string) error {
	a, err := apk.Open(path)
	if err != nil {
		return fmt.Errorf("fusion: output does not read back: %w", err)
	}
	defer a.Close()
	defer hashInBackground(a.Zip.Reader)()
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
	if err := c.recordVerification(v, res); err != nil {
		return err
	}
	out, err := (&apkTarget{a: a}).describe(c.outName())
	if err != nil {
		return err
	}
	c.Result.Output = *out
	return nil
}

// recordVerification records v with res's errors, and fails when the
// output does not verify: it must never be shipped.
func (c *Context) recordVerification(v Verification, res *apksig.Result) error {
	for _, e := range res.AllErrors() {
		v.Errors = append(v.Errors, e.Message)
	}
	c.Result.Verification = v
	if !res.Verified {
		return fmt.Errorf("fusion: the output does not verify (%s); nothing was written", strings.Join(v.Errors, "; "))
	}
	return nil
}
