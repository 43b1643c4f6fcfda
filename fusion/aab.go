package fusion

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/trustfuse/trustfuse/pkg/aab"
	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/axml"
	"github.com/trustfuse/trustfuse/pkg/protoxml"
	"github.com/trustfuse/trustfuse/pkg/sniff"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// What fuse does to an Android App Bundle (DESIGN §5):
//
//   - the base module's protobuf manifest (base/manifest/AndroidManifest.xml)
//     gets the init provider and INTERNET, by the same edit as an APK's
//     (addInitProvider); unknown protobuf fields are kept byte for byte;
//   - the runtime becomes the base module's next dex, base/dex/classesN.dex,
//     and the policy and vaults go under base/assets/trustfuse/: bundletool
//     and Play turn base/dex/X and base/assets/X into X and assets/X of the
//     base APK, which is where the runtime looks on the device;
//   - every other entry (feature modules, asset packs, BundleConfig.pb,
//     BUNDLE-METADATA/) is copied raw, in order;
//   - the bundle is JAR signed with the upload key (apksig.SignJAR, as
//     jarsigner signs it) and the output's JAR signature is verified in full
//     (apksig.VerifyJAR).
//
// Play App Signing: Play verifies the upload key, then signs the APKs it
// builds with the app signing key, which is the certificate devices see.
// The vaults are therefore sealed to the Fusion Set's
// attestation.playSigningCertDigests, and only to those, unless
// Request.DistributeWithUploadKey says the user installs APKs built from
// the bundle and signed with the upload key (their own bundletool run).
//
// The measurement rests on what survives Play (docs/attestation.md):
// package, versionCode, the allowed signers, the base module's dex files
// and the runtime dex under their installed names; not the manifest (Play
// re-encodes it to binary XML and edits it) nor the bundle's bytes.
type aabTarget struct{ b *aab.File }

// ErrPlaySigning reports a bundle fused with no Play App Signing
// certificate digest and without Request.DistributeWithUploadKey: the
// vault would be sealed to a key no device sees.
var ErrPlaySigning = errors.New("fusion: no Play App Signing certificate for the bundle: " +
	"set attestation.playSigningCertDigests in the Fusion Set to the SHA-256 of Play's app signing key certificate " +
	"(Play Console → your app → Test and release → Setup → App signing (older UI: Release → Setup → App integrity) → " +
	"\"App signing key certificate\" → SHA-256 certificate fingerprint), or, if you install APKs built from this bundle " +
	"and signed with the upload key yourself (bundletool), say so with --distribute-with-upload-key")

func openAAB(path string) (*aabTarget, error) {
	b, err := aab.Open(path)
	if err != nil {
		return nil, err
	}
	return &aabTarget{b: b}, nil
}

func (t *aabTarget) format() sniff.Format     { return sniff.AAB }
func (t *aabTarget) archive() *zipx.Reader    { return t.b.Zip }
func (t *aabTarget) manifest() *axml.Manifest { return t.b.Base().Manifest }
func (t *aabTarget) carriesRuntime() bool {
	return carriesRuntime[*protoxml.Element](t.b.Base().ManifestDoc)
}
func (t *aabTarget) nextDex() string        { return path.Base(t.b.NextDexName()) }
func (t *aabTarget) measuresManifest() bool { return false }
func (t *aabTarget) alreadyFused() bool     { return androidFused(t) }
func (t *aabTarget) close() error           { return t.b.Close() }

// entry maps an installed name to the base module: classesN.dex to
// base/dex/, anything else (assets/…) to base/.
func (t *aabTarget) entry(installed string) string {
	if _, ok := apk.DexIndex(installed); ok {
		return aab.BaseModule + "/dex/" + installed
	}
	return aab.BaseModule + "/" + installed
}

// describe records the bundle (aab.Info) with its modules.
func (t *aabTarget) describe(file string) (*Artifact, error) {
	info, err := t.b.Info(file)
	if err != nil {
		return nil, err
	}
	a := &Artifact{
		Format: string(sniff.AAB), File: file, Size: info.Size, SHA256: info.SHA256,
		Package: info.Package, VersionCode: info.VersionCode, VersionName: info.VersionName, MinSDK: info.MinSDK,
		Schemes: info.Signing.Schemes, Signers: info.Signing.Signers,
	}
	for _, m := range info.Modules {
		a.Modules = append(a.Modules, Module{Name: m.Name, Type: m.Type, Delivery: m.Delivery, Dex: m.Dex, ABIs: m.ABIs})
	}
	return a, nil
}

func (t *aabTarget) editManifest() (string, []byte, bool, error) {
	base := t.b.Base()
	data, added, err := addInitProvider[*protoxml.Element](base.ManifestDoc, base.Manifest.Package)
	return base.ManifestEntry.Name, data, added, err
}

// appDex lists the base module's dex, by the names they have in the base
// APK. Feature modules' dex are installed in their own split APKs, which
// the runtime does not read: their integrity rests on the split's
// signature by the app signing key.
func (t *aabTarget) appDex() map[string]*zipx.Entry {
	dex := map[string]*zipx.Entry{}
	for _, e := range t.b.Base().Dex {
		dex[path.Base(e.Name)] = e
	}
	return dex
}

// signers: Play's app signing certificates; with DistributeWithUploadKey,
// the upload key (the bundle's signer) first, then those.
func (t *aabTarget) signers(c *Context) ([]string, error) {
	play := c.FusionSet.Attestation.PlaySigningCertDigests
	if !c.DistributeWithUploadKey {
		if len(play) == 0 {
			return nil, ErrPlaySigning
		}
		return append([]string(nil), play...), nil
	}
	s := c.Signer.CertSHA256()
	return append([]string{hex.EncodeToString(s[:])}, play...), nil
}

// plan refuses the APK signing options (a bundle is JAR signed only, and
// Play signs the APKs it builds from it) and a bundle whose vault would
// be sealed to no key a device sees.
func (t *aabTarget) plan(c *Context) error {
	switch {
	case c.V4:
		return fmt.Errorf("%w: APK Signature Scheme v4 (--v4) is for APKs: a bundle is JAR signed, and Play signs the APKs it builds from it", apksig.ErrOptions)
	case (c.V1 != "" && c.V1 != apksig.V1Auto) || c.MinSDK != 0 || c.Lineage != nil || c.OldSigner != nil:
		return fmt.Errorf("%w: v1 mode, minimum SDK and key rotation (--v1, --min-sdk, --lineage) apply to APKs: a bundle is always JAR signed (SHA-256), and Play signs the APKs it builds from it", apksig.ErrOptions)
	}
	_, err := t.signers(c)
	return err
}

// sign JAR-signs the bundle as jarsigner does, the signature files named
// after the key alias.
func (t *aabTarget) sign(c *Context, out apksig.Output, inputs []apksig.Input) error {
	return apksig.SignJAR(out, inputs, &apksig.Signer{Key: c.Signer.Key, Certs: c.Signer.Chain}, apksig.JAROptions{
		SignerName: apksig.JARSignerName(c.Signer.Alias), CreatedBy: c.ToolVersion, Modified: c.Now,
	})
}

// verify re-reads the output as a bundle (strict ZIP, modules, manifests)
// and verifies its JAR signature: the signature files and blocks, and the
// digest of every entry fuse wrote or changed. An entry whose stored bytes
// are identical to the input's (a raw copy: feature modules, asset packs,
// native libraries, resources) is compared byte for byte instead of being
// inflated and digested a second time: signing inflated it once already,
// and on a large bundle the second pass doubled fuse's time. jarsigner
// checks the same outputs in full in the tests.
func (t *aabTarget) verify(c *Context, p string) error {
	b, err := aab.Open(p)
	if err != nil {
		return fmt.Errorf("fusion: output does not read back: %w", err)
	}
	defer b.Close()
	defer hashInBackground(b.Zip)()
	res, err := apksig.VerifyJARCopies(b.Zip, func(e *zipx.Entry) bool {
		in := t.b.Zip.Entry(e.Name)
		return in != nil && sameStoredBytes(in, e)
	})
	if err != nil {
		return err
	}
	v := Verification{Verified: res.Verified, Schemes: []string{}}
	if res.V1.Verified {
		v.Schemes = append(v.Schemes, aab.SchemeJAR)
	}
	if err := c.recordVerification(v, res); err != nil {
		return err
	}
	out, err := (&aabTarget{b: b}).describe(c.outName())
	if err != nil {
		return err
	}
	c.Result.Output = *out
	return nil
}

// sameStoredBytes reports whether two entries hold the same stored bytes
// under the same method, CRC-32 and sizes, so that they inflate to the same
// content.
func sameStoredBytes(a, b *zipx.Entry) bool {
	if a.Method != b.Method || a.CRC32 != b.CRC32 ||
		a.CompressedSize != b.CompressedSize || a.UncompressedSize != b.UncompressedSize {
		return false
	}
	ra, rb := a.OpenRaw(), b.OpenRaw()
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		n, errA := io.ReadFull(ra, bufA)
		if _, errB := io.ReadFull(rb, bufB[:n]); errB != nil || !bytes.Equal(bufA[:n], bufB[:n]) {
			return false
		}
		switch errA {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return true
		default:
			return false
		}
	}
}
