// Package apksig signs APKs with JAR signing (v1) and APK Signature Schemes
// v2 and v3, and verifies all of them plus v3.1, following the published
// Android specifications; Google's apksig is the reference behaviour.
//
// Signing streams: entries are copied raw through pkg/zipx into the output,
// then the v2/v3 content digest is computed over the written file in 1 MiB
// chunks in parallel and the APK Signing Block is inserted before the central
// directory. Memory use does not depend on the APK size.
//
// Verify returns a Result with per-scheme verdicts and stable issue codes; a
// Go error means only that the archive could not be read.
package apksig

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// MinSDKv2 is the first API level (Android 7.0) that verifies APK Signature
// Scheme v2; older platforms only check the JAR (v1) signature.
const MinSDKv2 = sdkN

// Android API levels that change what is verified.
const (
	sdkJellyBeanMR2 = 18 // SHA-256 and ECDSA in JAR signatures
	sdkN            = 24 // APK Signature Scheme v2
	sdkO            = 26 // targetSandboxVersion 2 needs v2 or later
	sdkP            = 28 // APK Signature Scheme v3
	sdkR            = 30 // targetSdkVersion 30 needs v2 or later
	sdkT            = 33 // APK Signature Scheme v3.1
)

// Input is one entry of the APK to write: copied raw from an archive when
// Entry is set, otherwise new content Data compressed with Method.
type Input struct {
	Name   string
	Entry  *zipx.Entry
	Data   []byte
	Method uint16
}

func (in Input) open() (io.ReadCloser, error) {
	if in.Entry != nil {
		return in.Entry.Open(), nil
	}
	return io.NopCloser(bytes.NewReader(in.Data)), nil
}

// InputsFrom lists the entries of z, in order, for re-signing: what
// belonged to the old signature (droppedOnResign) is left out.
func InputsFrom(z *zipx.Reader) []Input {
	var out []Input
	for _, e := range z.Entries {
		if !droppedOnResign(e.Name) {
			out = append(out, Input{Name: e.Name, Entry: e})
		}
	}
	return out
}

// sourceStampCertEntry is the entry of an APK signed with a SourceStamp:
// the SHA-256 of the stamp certificate, whose signature lives in the APK
// Signing Block.
const sourceStampCertEntry = "stamp-cert-sha256"

// droppedOnResign reports the entries that belong to the old signature and
// are left out when re-signing: the JAR signature files, and the source
// stamp's certificate digest. Re-signing writes a new APK Signing Block
// without the stamp block, so the entry would be left without its stamp
// (apksigner then warns "No SourceStamp signature"); apksig's ApkSigner
// likewise drops it when it does not create a new stamp. Sign and
// InputsFrom both use it, so `sign` and `fuse` drop the same entries.
func droppedOnResign(name string) bool {
	return isV1SignatureFile(name) || name == sourceStampCertEntry
}

// V1Mode says when to add a JAR (v1) signature.
type V1Mode string

// V1 modes: auto signs v1 only when the APK supports Android < 7.0.
const (
	V1Auto V1Mode = "auto"
	V1On   V1Mode = "on"
	V1Off  V1Mode = "off"
)

// Options control Sign.
type Options struct {
	V1        V1Mode    // default auto
	MinSDK    int       // the APK's minSdkVersion
	CreatedBy string    // Created-By of the JAR manifest
	Modified  time.Time // timestamp of new entries (SOURCE_DATE_EPOCH)
	SoAlign   int       // alignment of stored .so files (default 16 KiB)

	// Lineage is a signing certificate lineage file (`apksigner rotate
	// --out`, or Lineage.MarshalBinary) for key rotation. It must end with
	// the signer's certificate and start with OldSigner's: v3 is then signed
	// by the signer and carries the lineage as its proof of rotation, while
	// v1 and v2 (what Android 8.1 and older check) are signed by OldSigner,
	// as apksigner does. Rotation targeting Android 13 only (v3.1) is not
	// supported.
	Lineage   []byte
	OldSigner *Signer // the lineage's first signer; only with Lineage

	// Source is the archive the inputs' entries are copied from, if any.
	// When its v2 or v3 signature verifies, the JAR (v1) digests of the
	// entries copied unchanged are taken from its MANIFEST.MF instead of
	// inflating and hashing them (v1reuse.go says why that is safe and
	// when it falls back); the output is the same. nil: every entry is
	// digested from its content.
	Source *zipx.Reader
}

// ErrOptions reports signing options that cannot work together.
var ErrOptions = errors.New("apksig: invalid signing options")

// Schemes returns the schemes Sign will produce for these options and key.
func (o Options) Schemes(s *Signer) ([]Scheme, error) {
	if o.OldSigner != nil {
		s = o.OldSigner // it makes the v1 signature
	}
	v1 := false
	switch o.V1 {
	case V1Auto, "":
		v1 = o.MinSDK < sdkN
	case V1On:
		v1 = true
	case V1Off:
	default:
		return nil, fmt.Errorf("%w: v1 mode %q (want auto, on or off)", ErrOptions, o.V1)
	}
	if v1 && s.isEC() && o.MinSDK < sdkJellyBeanMR2 {
		return nil, fmt.Errorf("%w: minSdkVersion %d: JAR signatures with an EC key need Android 4.3 (API 18); use an RSA key or raise minSdkVersion",
			ErrOptions, o.MinSDK)
	}
	if !v1 && o.MinSDK < sdkN {
		return nil, fmt.Errorf("%w: minSdkVersion %d needs a v1 signature (v2 and v3 need Android 7.0, API 24)", ErrOptions, o.MinSDK)
	}
	out := []Scheme{V2, V3}
	if v1 {
		out = append([]Scheme{V1}, out...)
	}
	return out, nil
}

// Output is where Sign writes: a file it can also read back and patch.
type Output interface {
	io.Writer
	io.ReaderAt
	io.WriterAt
}

// Sign writes inputs to out as an aligned APK signed for the schemes
// Options.Schemes selects (v2 and v3 always). out must be empty.
func Sign(out Output, inputs []Input, s *Signer, opts Options) error {
	if err := s.check(); err != nil {
		return err
	}
	rot, err := rotationFor(s, opts)
	if err != nil {
		return err
	}
	schemes, err := opts.Schemes(s)
	if err != nil {
		return err
	}
	past := s // signs v1 and v2
	if rot != nil {
		past = rot.past
	}
	var kept []Input
	for _, in := range inputs {
		if !droppedOnResign(in.Name) {
			kept = append(kept, in)
		}
	}
	// The JAR signature files come after the entries, so the entries are
	// copied while the v1 digests are computed: the copy (mostly the
	// kernel's copy_file_range) overlaps the inflating and hashing.
	type v1Result struct {
		files []v1File
		err   error
	}
	v1Done := make(chan v1Result, 1)
	if schemes[0] == V1 {
		go func() {
			var known map[*zipx.Entry][]byte
			if opts.Source != nil {
				known = v1KnownDigests(opts.Source, v1SignAlg(opts.MinSDK))
			}
			files, err := signV1(v1Entries(kept, known), past, v1Config{
				SignerName:    "CERT",
				MinSDK:        opts.MinSDK,
				AndroidSigned: []int{2, 3},
				CreatedBy:     opts.CreatedBy,
			})
			v1Done <- v1Result{files, err}
		}()
	} else {
		v1Done <- v1Result{}
	}

	w := zipx.NewWriter(out, zipx.Options{Modified: opts.Modified, SoAlign: opts.SoAlign})
	err = writeInputs(w, kept)
	v1 := <-v1Done
	if v1.err != nil { // first, as when the digests were computed before writing
		return v1.err
	}
	if err != nil {
		return err
	}
	var sigFiles []Input
	for _, f := range v1.files {
		sigFiles = append(sigFiles, Input{Name: f.Name, Data: f.Data, Method: zipx.Deflate})
	}
	if err := writeInputs(w, sigFiles); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return insertSigningBlock(out, w, s, rot, opts)
}

// writeInputs writes inputs to w: entries copied raw, new content added.
func writeInputs(w *zipx.Writer, inputs []Input) error {
	for _, in := range inputs {
		var err error
		if in.Entry != nil {
			err = w.Copy(in.Entry)
		} else {
			err = w.Add(zipx.Header{Name: in.Name, Method: in.Method}, in.Data)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// v1Entries returns the inputs JAR signing covers, with the digest known
// for an entry copied unchanged under its own name (v1KnownDigests).
func v1Entries(inputs []Input, known map[*zipx.Entry][]byte) []v1Entry {
	out := make([]v1Entry, 0, len(inputs))
	for _, in := range inputs {
		if strings.HasSuffix(in.Name, "/") {
			continue
		}
		e := v1Entry{Name: in.Name, Open: in.open}
		if in.Entry != nil && in.Entry.Name == in.Name {
			e.Digest = known[in.Entry]
		}
		out = append(out, e)
	}
	return out
}

// insertSigningBlock computes the v2/v3 signatures of the archive w wrote
// to out and closed, and rewrites its tail as signing block, central
// directory, end record. With a rotation, v2 is signed by its past signer
// and v3 carries its proof-of-rotation attribute. The central directory and
// end record are the ones w kept: reading the archive back to find them
// would check every local header again for nothing.
func insertSigningBlock(out Output, w *zipx.Writer, s *Signer, rot *rotation, opts Options) error {
	entriesEnd, cd, end := w.CentralDirectory()
	eocd := append([]byte(nil), end...)
	digest, err := contentDigest(out, entriesEnd, cd, eocd, crypto.SHA256)
	if err != nil {
		return err
	}
	past, v3Attrs := s, [][]byte(nil)
	if rot != nil {
		past, v3Attrs = rot.past, [][]byte{rot.attr}
	}
	v2, err := encodeSigner(past, digest, nil, [][]byte{append(u32(attrStrippingProtection), u32(3)...)})
	if err != nil {
		return err
	}
	v3, err := encodeSigner(s, digest, &v3Params{minSDK: uint32(max(opts.MinSDK, sdkN)), maxSDK: maxSDKUnbounded, attrs: v3Attrs}, nil)
	if err != nil {
		return err
	}
	block := buildSigningBlock([]pair{
		{id: blockIDV2, value: lpSeq(v2)},
		{id: blockIDV3, value: lpSeq(v3)},
	})
	binary.LittleEndian.PutUint32(eocd[16:], uint32(entriesEnd+int64(len(block))))
	tail := append(append(block, cd...), eocd...)
	if _, err := out.WriteAt(tail, entriesEnd); err != nil {
		return fmt.Errorf("apksig: write: %w", err)
	}
	return nil
}

// VerifyOptions give the platform range to verify for, normally the APK's
// minSdkVersion up to the newest platform, and what the manifest says that
// changes the rules (apk.APK.VerifyOptions fills them).
type VerifyOptions struct {
	MinSDK int
	MaxSDK int // 0: no upper bound

	// TargetSDK is the manifest's targetSdkVersion: from 30, Android
	// refuses an APK with only a JAR signature. 0: not checked.
	TargetSDK int
	// TargetSandbox is the manifest's android:targetSandboxVersion: above
	// 1, Android 8.0 and later need a v2 or later signature. 0: not checked.
	TargetSandbox int
}

// Verify checks every signature scheme of z the way Android (and apksigner)
// would for the platform range in opts. The archive's warnings (z.Warnings)
// become the Result's, with the same codes.
func Verify(z *zipx.Reader, opts VerifyOptions) (*Result, error) {
	if opts.MaxSDK == 0 {
		opts.MaxSDK = math.MaxInt32
	}
	res := &Result{}
	for _, w := range z.Warnings {
		res.Warnings = append(res.Warnings, Issue{Code: w.Code, Message: w.String()})
	}
	pairs, err := readSigningBlock(z)
	if err != nil {
		res.Errors = append(res.Errors, issue("SIGNING_BLOCK_MALFORMED", "%v", err))
	}
	cache := map[crypto.Hash][]byte{}
	var cd, eocd []byte
	digest := func(h crypto.Hash) ([]byte, error) {
		if d, ok := cache[h]; ok {
			return d, nil
		}
		if cd == nil {
			if cd, eocd, err = archiveSections(z); err != nil {
				return nil, err
			}
		}
		d, err := contentDigest(z.ReaderAt(), z.EntriesEnd(), cd, eocd, h)
		if err == nil {
			cache[h] = d
		}
		return d, err
	}

	v2Block, v3Block, v31Block := findPair(pairs, blockIDV2), findPair(pairs, blockIDV3), findPair(pairs, blockIDV31)
	var v2Strip []uint32
	var v3Lineage *Lineage
	if opts.MaxSDK >= sdkT && v31Block != nil {
		verifySchemeBlock(v31Block, true, "APK Signature Scheme v3.1", digest, &res.V31)
	} else if v31Block != nil {
		res.V31.Present = true
	}
	if opts.MaxSDK >= sdkP && v3Block != nil {
		_, v3Lineage = verifySchemeBlock(v3Block, true, "APK Signature Scheme v3", digest, &res.V3)
	} else if v3Block != nil {
		res.V3.Present = true
	}
	if opts.MaxSDK >= sdkN && v2Block != nil && (opts.MinSDK < sdkP || v3Block == nil) {
		v2Strip, _ = verifySchemeBlock(v2Block, false, "APK Signature Scheme v2", digest, &res.V2)
	} else if v2Block != nil {
		res.V2.Present = true
	}
	sigSchemes := v2Block != nil || v3Block != nil || v31Block != nil

	var v1Signed []int
	if opts.MinSDK < sdkN || !sigSchemes {
		res.V1, v1Signed = verifyV1(z, opts.MinSDK, opts.MaxSDK, nil)
	} else {
		res.V1.Present = v1Present(z)
	}

	// Stripping protection: a scheme a verified signature says exists must exist.
	if res.V1.Verified && opts.MaxSDK >= sdkN {
		for _, id := range v1Signed {
			if (id == 2 && v2Block == nil) || (id == 3 && v3Block == nil) {
				res.V1.fail("V1_SIG_STRIPPED", "JAR signature META-INF/*.SF indicates that the APK is signed using APK Signature Scheme v%d but no such signature was found. Signature stripped?", id)
				res.V1.Verified = false
			}
		}
	}
	for _, id := range v2Strip {
		if id == 3 && v3Block == nil && opts.MaxSDK >= sdkP {
			res.V2.fail("V2_SIG_STRIPPED", "APK Signature Scheme v2 signature indicates the APK is signed using APK Signature Scheme v3, but no such signature was found. Signature stripped?")
			res.V2.Verified = false
		}
	}
	checkSameSigners(res, v3Lineage)
	checkManifestRules(res, opts, sigSchemes)

	verified := false
	for _, sr := range []*SchemeResult{&res.V1, &res.V2, &res.V3, &res.V31} {
		verified = verified || sr.Verified
		if len(sr.Errors) > 0 {
			res.Verified = false
			return res, nil
		}
	}
	res.Verified = verified && len(res.Errors) == 0
	if !verified && len(res.Errors) == 0 {
		res.Errors = append(res.Errors, issue("NO_SIGNATURES", "No signatures found for the SDK range [%d, %d]", opts.MinSDK, opts.MaxSDK))
	}
	return res, nil
}

// checkManifestRules adds apksig's refusals that depend on the manifest:
// android:targetSandboxVersion above 1 needs an APK Signature Scheme block
// from Android 8.0, and targetSdkVersion 30 or more a verified v2 or later
// signature on the platforms that honour that target.
func checkManifestRules(res *Result, opts VerifyOptions, sigSchemes bool) {
	if opts.TargetSandbox > 1 && opts.MaxSDK >= sdkO && !sigSchemes {
		res.Errors = append(res.Errors, issue("NO_SIG_FOR_TARGET_SANDBOX_VERSION",
			"Missing APK Signature Scheme v2 signature required for target sandbox version %d", opts.TargetSandbox))
	}
	if opts.TargetSDK >= sdkR && opts.MaxSDK >= opts.TargetSDK && !res.V2.Verified && !res.V3.Verified && !res.V31.Verified {
		res.Errors = append(res.Errors, issue("MIN_SIG_SCHEME_FOR_TARGET_SDK_NOT_MET",
			"Target SDK version %d requires a minimum of signature scheme v2; the APK is not signed with this or a later signature scheme", opts.TargetSDK))
	}
}

// checkSameSigners requires every verified scheme to name the same signers:
// without a rotation lineage, v1, v2 and v3 must agree. With a v3 lineage,
// v1 and v2 must instead have one signer, the lineage's first certificate
// (the key the app was rotated from), as apksigner requires.
func checkSameSigners(res *Result, v3Lineage *Lineage) {
	var ref *SchemeResult
	var refName Scheme
	for _, s := range []Scheme{V2, V3, V1} {
		sr := res.Scheme(s)
		if !sr.Verified {
			continue
		}
		if ref == nil {
			ref, refName = sr, s
			continue
		}
		if v3Lineage != nil && (s == V3 || refName == V3) {
			past := sr
			if s == V3 {
				past = ref
			}
			first := CertDigest(v3Lineage.Nodes[0].Certificate)
			if len(past.Signers) == 1 && past.Signers[0].CertSHA256 == first {
				continue
			}
			sr.fail("SIGNERS_MISMATCH", "%s signers (%s), %s signers (%s): with a v3 signing certificate lineage, v1 and v2 must have one signer, the lineage's first certificate (%s)",
				s, signerSet(sr), refName, signerSet(ref), first)
			sr.Verified = false
			continue
		}
		if signerSet(sr) == signerSet(ref) {
			continue
		}
		sr.fail("SIGNERS_MISMATCH", "%s signers (%s) differ from %s signers (%s)", s, signerSet(sr), refName, signerSet(ref))
		sr.Verified = false
	}
}

func signerSet(sr *SchemeResult) string {
	var d []string
	for _, si := range sr.Signers {
		d = append(d, si.CertSHA256)
	}
	return strings.Join(d, ",")
}

// v1Present reports whether z carries a JAR signature (a manifest and at
// least one signature file), whether or not it was verified.
func v1Present(z *zipx.Reader) bool {
	if z.Entry("META-INF/MANIFEST.MF") == nil {
		return false
	}
	for _, e := range z.Entries {
		if strings.HasPrefix(e.Name, "META-INF/") && strings.HasSuffix(strings.ToUpper(e.Name), ".SF") {
			return true
		}
	}
	return false
}
