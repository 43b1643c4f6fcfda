// Package fusion runs the fuse pipeline (DESIGN §3, §5): open the package
// strictly, plan the changes a Fusion Set asks for, edit the manifest, add
// the runtime dex, seal the client identity and the policy, align, sign and
// write the output atomically. Each step records what it did as evidence;
// the summary and the report are rendered from that record, never
// described twice. What differs between formats (APK, Android App Bundle,
// IPA) is behind a per-format target chosen by sniffing the input
// (target.go); apk.go, aab.go and ipa.go say what fuse does to each.
package fusion

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"time"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	"github.com/trustfuse/trustfuse/internal/atomicfile"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// ErrAlreadyFused reports an input that already carries the TrustFuse runtime.
var ErrAlreadyFused = errors.New("fusion: the package is already fused (it carries the TrustFuse runtime); fuse the original build instead")

// Request is what a fuse run needs.
type Request struct {
	In, Out   string
	FusionSet *fusionset.FusionSet
	Signer    *keys.Signer
	// V1 and MinSDK override how an output APK is signed (apksig.Options);
	// a bundle refuses them (it is JAR signed).
	V1     apksig.V1Mode
	MinSDK int
	// Lineage (an apksigner rotate file) and OldSigner, its first key, sign
	// with key rotation: v1 and v2 by OldSigner, v3 by Signer with the lineage.
	Lineage   []byte
	OldSigner *keys.Signer
	// Now is the build time: SOURCE_DATE_EPOCH when set, for reproducible
	// output; it stamps new entries and the policy.
	Now time.Time
	// ToolVersion names the producer in the JAR manifest.
	ToolVersion string
	// Progress, if set, is told the name of each step as it starts.
	Progress func(step string, index, total int)
	// DistributeWithUploadKey says a bundle's APKs reach devices signed
	// with the upload key (the user's own bundletool run), not only with
	// Play's app signing key: the vault is also sealed to the upload key.
	// Without it, a bundle needs the Fusion Set's
	// attestation.playSigningCertDigests (ErrPlaySigning).
	DistributeWithUploadKey bool
	// V4 also writes an APK Signature Scheme v4 file, Out + ".idsig"
	// (APKs only).
	// Without it, an .idsig already at that path (from an earlier run; it
	// cannot sign the new output) is removed along with the commit.
	V4 bool
	// IOS says how an IPA is signed (profiles, entitlements, roots).
	IOS IOSOptions
	// Outputs, if set, stages the output package and its .idsig: they appear
	// only when the caller commits it, together with the caller's own
	// outputs (reports), and Fuse renames nothing. If nil, Fuse commits
	// them itself when every step succeeded.
	Outputs *atomicfile.Group
}

// Context is the state shared by the steps of one run.
type Context struct {
	Request
	target        target
	manifestEntry string          // the manifest's entry name
	manifest      []byte          // the edited manifest
	dexDigests    *pendingDigests // the app's dex digests (Android), from the open step
	dexName       string          // installed name of the runtime dex
	policy        []byte
	vaults        []apksig.Input // sealed identities, one per allowed signer
	signOpts      apksig.Options // APK only
	outputs       *atomicfile.Group
	staged        *atomicfile.File // the output package, until committed
	Result        *Result
}

// Step is one stage of the pipeline.
type Step interface {
	String() string
	Run(*Context) error
}

// SkipError says a step did not apply, and why; it is recorded, not fatal.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// Skip returns a *SkipError.
func Skip(reason string) error { return &SkipError{Reason: reason} }

// Steps returns the pipeline in order.
func Steps() []Step {
	return []Step{openStep{}, planStep{}, manifestStep{}, runtimeStep{}, vaultStep{}, signStep{}, verifyStep{}, v4Step{}}
}

// Fuse runs the pipeline. The input is only read; the output appears only
// if every step succeeded (and, with Request.Outputs, when the caller
// commits it).
func Fuse(req Request) (*Result, error) {
	c := &Context{Request: req, Result: &Result{}, outputs: req.Outputs}
	if c.outputs == nil {
		c.outputs = &atomicfile.Group{}
		defer c.outputs.Abort()
	}
	defer func() {
		if c.dexDigests != nil {
			c.dexDigests.wait() // it reads the target
		}
		if c.target != nil {
			c.target.close()
		}
	}()
	steps := Steps()
	for i, s := range steps {
		if req.Progress != nil {
			req.Progress(s.String(), i, len(steps))
		}
		err := s.Run(c)
		var skip *SkipError
		switch {
		case errors.As(err, &skip):
			c.Result.Steps = append(c.Result.Steps, StepRecord{Name: s.String(), Status: "skipped", Detail: skip.Reason})
		case err != nil:
			return nil, err
		default:
			c.Result.Steps = append(c.Result.Steps, StepRecord{Name: s.String(), Status: "done"})
		}
	}
	if req.Outputs == nil {
		if err := c.outputs.Commit(); err != nil {
			return nil, err
		}
	}
	return c.Result, nil
}

// outName is the output's name in the record.
func (c *Context) outName() string { return filepath.Base(c.Out) }

// hashInBackground starts computing z's file SHA-256 (for the report) while
// the caller verifies z: the sequential hash then runs beside the
// verification's parallel work instead of after it, and describe finds it
// done (zipx.Reader.FileSHA256 computes it once). The returned function
// waits for it; defer it before z is closed.
func hashInBackground(z *zipx.Reader) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		z.FileSHA256() // an error is returned again to describe's call
	}()
	return func() { <-done }
}

// sha256Hex digests everything r yields.
func sha256Hex(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sha256Bytes(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}
