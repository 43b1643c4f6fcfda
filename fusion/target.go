package fusion

import (
	"errors"
	"fmt"

	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/axml"
	"github.com/trustfuse/trustfuse/pkg/sniff"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// ErrFormat reports an input fuse cannot take: a format it does not handle
// (yet). The message says what was found. A file whose content contradicts
// its name (an APK named .aab) is sniff.ErrNameMismatch.
var ErrFormat = errors.New("fusion: unsupported input")

// target is what differs between the package formats the pipeline fuses
// (DESIGN §5): the APK (apk.go), the Android App Bundle (aab.go) and the
// IPA (ipa.go). Every target opens, describes, plans, verifies; the
// Android targets share the manifest, dex, policy and vault steps
// (androidTarget); what the same steps do to an IPA is in ipa.go.
type target interface {
	// format is the input's format.
	format() sniff.Format
	// archive is the strictly parsed input.
	archive() *zipx.Reader
	// describe records the package as an Artifact; file is its name in
	// the record (the output's final name while it is still staged).
	describe(file string) (*Artifact, error)
	// alreadyFused reports whether the input carries the runtime.
	alreadyFused() bool
	// plan checks the signing options and prepares signing.
	plan(c *Context) error
	// verify re-reads the staged output at path strictly, verifies its
	// signature and records the verdict and the output's Artifact.
	verify(c *Context, path string) error
	close() error
}

// androidTarget is what the Android targets add. The steps work in
// installed names, the paths an installed APK holds (classes2.dex,
// assets/trustfuse/policy.bin): they are what the runtime reads on the
// device, so they are what the policy and the measurement name; entry
// maps them to where the package keeps them.
type androidTarget interface {
	target
	// manifest summarises the manifest the app is installed with (the
	// base module's, for a bundle).
	manifest() *axml.Manifest
	// carriesRuntime reports whether the manifest already declares the
	// runtime's provider (carriesRuntime below).
	carriesRuntime() bool
	// editManifest applies the fuse edits (addInitProvider) and returns
	// the manifest's entry name and its new bytes.
	editManifest() (entry string, data []byte, addedInternet bool, err error)
	// entry maps an installed name to the package's entry name.
	entry(installed string) string
	// appDex lists the app's own dex files the runtime finds in the
	// installed base APK, keyed by installed name.
	appDex() map[string]*zipx.Entry
	// nextDex is the installed name of the runtime's dex.
	nextDex() string
	// signers returns the digests of the certificates the installed app
	// may be signed with: the vault is sealed to each, the runtime and the
	// attestation service accept only them. The first gets the default
	// vault name.
	signers(c *Context) ([]string, error)
	// measuresManifest reports whether the installed manifest is the one
	// fuse wrote, so that the runtime can re-measure it (docs/attestation.md).
	measuresManifest() bool
	// sign writes inputs, signed, to out.
	sign(c *Context, out apksig.Output, inputs []apksig.Input) error
}

// androidFused is an Android target's alreadyFused: the vault or policy
// asset, or the init provider.
func androidFused(t androidTarget) bool {
	z := t.archive()
	return z.Entry(t.entry(androidrt.VaultAsset)) != nil || z.Entry(t.entry(androidrt.PolicyAsset)) != nil || t.carriesRuntime()
}

// openTarget sniffs the input once (sniff.Detect) and opens it as its
// format's target. An input whose name (.apk, .aab) or the output's name
// says another format than its content is refused, saying what was found.
func openTarget(in, out string) (target, error) {
	// ZIP64 is read here so that a large IPA reaches pkg/ipa; the APK
	// and bundle openers refuse it, each with its format's reason.
	z, err := zipx.OpenZip64(in)
	if err != nil {
		return nil, err
	}
	f, err := sniff.Detect(z.Reader)
	z.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	if err := sniff.CheckNames(in, out, f); err != nil {
		return nil, err
	}
	switch f {
	case sniff.APK:
		return openAPK(in)
	case sniff.AAB:
		return openAAB(in)
	case sniff.IPA:
		return openIPA(in)
	}
	return nil, fmt.Errorf("%w: %s is %s, which fuse does not handle yet", ErrFormat, in, sniff.Describe(f))
}

// element is what the shared manifest code needs of an element of either
// manifest encoding: *axml.Element (binary XML) and *protoxml.Element
// (aapt2's protobuf XML).
type element[E any] interface {
	comparable
	FindChild(name string) E
	FindChildren(name string) []E
	AttrByID(id axml.ResID) (axml.Value, bool)
}

// manifestDoc is what the shared manifest code needs of a manifest
// document: *axml.Document and *protoxml.Document both have it.
type manifestDoc[E element[E]] interface {
	Root() E
	AddElement(parent E, name string) (E, error)
	SetAndroidAttr(el E, id axml.ResID, v axml.Value) error
	AddUsesPermission(perm string) (bool, error)
	Encode() ([]byte, error)
}

// carriesRuntime reports whether d's <application> declares the runtime's
// init provider.
func carriesRuntime[E element[E]](d manifestDoc[E]) bool {
	var none E
	app := d.Root().FindChild("application")
	if app == none {
		return false
	}
	for _, p := range app.FindChildren("provider") {
		if v, ok := p.AttrByID(axml.AttrName); ok && v.String() == androidrt.ProviderClass {
			return true
		}
	}
	return false
}

// initOrder puts the runtime's provider first among the app's providers.
const initOrder = 2147483647

// addInitProvider is the one manifest edit of fuse, for both encodings:
// INTERNET if missing, and in <application> (added if absent) the init
// provider <provider android:name="io.trustfuse.runtime.Init"
// android:authorities="<pkg>.trustfuse" android:exported="false"
// android:initOrder="2147483647">, attributes by framework resource id.
// Providers start before Application.onCreate. It returns the encoded
// document.
func addInitProvider[E element[E]](d manifestDoc[E], pkg string) (data []byte, addedInternet bool, err error) {
	if addedInternet, err = d.AddUsesPermission(internetPermission); err != nil {
		return nil, false, fmt.Errorf("fusion: manifest: %w", err)
	}
	var none E
	app := d.Root().FindChild("application")
	if app == none {
		if app, err = d.AddElement(d.Root(), "application"); err != nil {
			return nil, false, fmt.Errorf("fusion: manifest: %w", err)
		}
	}
	prov, err := d.AddElement(app, "provider")
	if err != nil {
		return nil, false, fmt.Errorf("fusion: manifest: %w", err)
	}
	for _, a := range []struct {
		id axml.ResID
		v  axml.Value
	}{
		{axml.AttrName, axml.StringValue(androidrt.ProviderClass)},
		{axml.AttrAuthorities, axml.StringValue(pkg + ".trustfuse")},
		{axml.AttrExported, axml.BoolValue(false)},
		{axml.AttrInitOrder, axml.IntValue(initOrder)},
	} {
		if err := d.SetAndroidAttr(prov, a.id, a.v); err != nil {
			return nil, false, fmt.Errorf("fusion: manifest: %w", err)
		}
	}
	if data, err = d.Encode(); err != nil {
		return nil, false, fmt.Errorf("fusion: manifest: %w", err)
	}
	return data, addedInternet, nil
}
