package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/trustfuse/trustfuse/fusion"
	"github.com/trustfuse/trustfuse/fusion/fusionset"
	"github.com/trustfuse/trustfuse/internal/atomicfile"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/sniff"
)

type fuseOptions struct {
	in, out, fusionSet string
	register, regKey   string
	// uploadKey: the bundle's APKs reach devices signed with the upload key
	uploadKey bool
	signing   signingOptions
	apple     appleOptions // IPAs: profiles, entitlements, Apple root
	report    reportOptions
}

func fuseCommand() *cli.Command { return fuseCommandWith(&fuseOptions{}) }

// fuseCommandWith builds `fuse` around o, so that a test can set o's hooks.
func fuseCommandWith(o *fuseOptions) *cli.Command {
	return &cli.Command{
		Name:  "fuse",
		Usage: "protect an APK, App Bundle or IPA with a Fusion Set: sealed mTLS client certificate, runtime checks, re-signed",
		Description: "Adds the TrustFuse runtime as the next classesN.dex, an init provider (and INTERNET if missing) to the\n" +
			"manifest, the policy and the sealed client identity as assets, then aligns and signs (v1 when minSdk < 24,\n" +
			"v2 and v3 always). Unchanged entries are copied byte for byte. All outputs or none: --out, its .idsig (--v4),\n" +
			"the reports and the --register export are written as temporary files and renamed into place together only\n" +
			"when every one was made (a registry entry is added just before); --in and its .idsig are never modified.\n" +
			"SOURCE_DATE_EPOCH makes the output reproducible.\n" +
			"An Android App Bundle (.aab) gets the same in its base module (base/dex/, base/assets/trustfuse/), its other\n" +
			"modules copied raw, and is JAR signed with the upload key. Play App Signing: the client identity is sealed to\n" +
			"the Fusion Set's attestation.playSigningCertDigests (Play Console → App signing → \"App signing key certificate\"\n" +
			"SHA-256), which a bundle needs unless --distribute-with-upload-key (docs/attestation.md).\n" +
			"An IPA gets Frameworks/TrustFuse.framework (the runtime, its policy and the client identity sealed to the\n" +
			"team id + bundle id) and LC_LOAD_DYLIB of it in every slice of the main executable (the app must have header\n" +
			"room: link it with -headerpad_max_install_names), then everything is re-signed deepest first with --keystore\n" +
			"(the Apple signing certificate) and --profile, as `trustfuse sign` signs an IPA.\n" +
			"--report writes the Certified Secure report (in-toto statement in a DSSE envelope, signed with the signing\n" +
			"key; check it with `trustfuse verify --report`), --report-pdf the same rendered as PDF (docs/report.md).\n" +
			flagOrderNote,
		Flags: append([]cli.Flag{
			jsonFlag(),
			&cli.StringFlag{Name: "in", Usage: "APK, App Bundle (.aab) or IPA to protect (read only)", Destination: &o.in},
			&cli.StringFlag{Name: "fusion-set", Usage: "Fusion Set JSON naming the protections", Destination: &o.fusionSet},
			&cli.StringFlag{Name: "out", Usage: "protected APK, bundle or IPA to write", Destination: &o.out},
			&cli.BoolFlag{Name: "distribute-with-upload-key", Usage: "bundles: the APKs built from the bundle also reach devices " +
				"signed with the upload key (your own bundletool run), so the client identity is also sealed to it; " +
				"without it, it is sealed only to attestation.playSigningCertDigests", Destination: &o.uploadKey},
			&cli.StringFlag{Name: "register", Usage: "register the release for serve: a registry `FILE` (needs " +
				"--registry-key), or FILE.json, an export (0600, holds the release's attestation key) for `releases add`", Destination: &o.register},
			&cli.StringFlag{Name: "registry-key", Usage: "with --register FILE: the registry key `REF` (see `releases --help`)", Destination: &o.regKey},
		}, append(append(o.signing.Flags(), o.apple.fuseFlags()...), o.report.Flags()...)...),
		Before: func(c *cli.Context) error {
			if o.in == "" || o.out == "" || o.fusionSet == "" {
				return usageErrorf(c, "--in, --fusion-set and --out are required")
			}
			if o.register != "" && !strings.HasSuffix(o.register, ".json") && o.regKey == "" {
				return usageErrorf(c, "--register to a registry needs --registry-key (or register to FILE.json)")
			}
			if err := sameFile(c, o.in, o.out); err != nil {
				return err
			}
			if err := o.report.check(c, o.in, o.out); err != nil {
				return err
			}
			if err := o.signing.check(c); err != nil {
				return err
			}
			return o.checkFormat(c)
		},
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 0); err != nil {
				return err
			}
			return o.run(c)
		},
	}
}

// checkFormat refuses the flags the input's format does not take: the
// iOS flags for an Android package; for an IPA the APK flags, the demo
// key (the vault is sealed to a team id).
func (o *fuseOptions) checkFormat(c *cli.Context) error {
	f, err := inputFormat(o.in)
	if err != nil {
		return nil // fuse's open step says what is wrong with the input
	}
	switch {
	case f != sniff.IPA && o.apple.given():
		return usageErrorf(c, "--profile, --entitlements and --apple-root apply to IPAs: %s is an Android package", o.in)
	case f == sniff.IPA && o.uploadKey:
		return usageErrorf(c, "--distribute-with-upload-key applies to App Bundles")
	case f == sniff.IPA:
		return o.apple.check(c, &o.signing)
	}
	return nil
}

func (o *fuseOptions) run(c *cli.Context) error {
	now, err := buildNow(c)
	if err != nil {
		return err
	}
	fs, err := fusionset.Load(o.fusionSet, fusionset.LoadOptions{Stdin: os.Stdin})
	var ve *fusionset.ValidationError
	if errors.As(err, &ve) {
		printProblems(c.App.ErrWriter, o.fusionSet, ve.Problems, "")
		return &reportedError{msg: fmt.Sprintf("%s: invalid Fusion Set (run trustfuse validate)", o.fusionSet), err: err}
	} else if err != nil {
		return err
	}
	for _, w := range fs.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "trustfuse: warning: %s: %s\n", o.fusionSet, w.Message)
	}
	signer, err := o.signing.load(c)
	if err != nil {
		return err
	}
	// The registry key is resolved before anything is written, so a bad
	// one cannot leave an unregistered output behind.
	var registry attest.Registry
	if o.register != "" && !strings.HasSuffix(o.register, ".json") {
		if registry, err = (&registryOptions{path: o.register, keyRef: o.regKey}).open(c, true); err != nil {
			return err
		}
		defer registry.Close()
	}
	// All outputs or none: the APK, its .idsig, the reports and the
	// registration export are staged as temporary files beside their
	// targets and renamed into place together at the end.
	var outs atomicfile.Group
	defer outs.Abort()
	req := fusion.Request{
		In: o.in, Out: o.out, FusionSet: fs, Signer: signer,
		V1: apksig.V1Mode(o.signing.v1), MinSDK: o.signing.minSDK,
		Lineage: o.signing.lineageBytes, OldSigner: o.signing.oldSigner,
		Now: now, ToolVersion: "trustfuse " + version,
		V4: o.signing.v4, Outputs: &outs, DistributeWithUploadKey: o.uploadKey,
	}
	if f, _ := inputFormat(o.in); f == sniff.IPA {
		if req.IOS, err = o.apple.iosOptions(c, &o.signing); err != nil {
			return err
		}
	}
	bar := progressBar(c.App.ErrWriter)
	if bar != nil {
		req.Progress = func(step string, i, total int) {
			bar.ChangeMax(total)
			bar.Describe(step)
			bar.Set(i)
		}
	}
	res, err := fusion.Fuse(req)
	if bar != nil {
		// Cleared before anything else is printed, so that warnings and the
		// summary do not start on the bar's line.
		bar.Finish()
	}
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "trustfuse: warning: %s\n", w)
	}
	reports, err := o.report.stage(&outs, o.out, res, fs, signer)
	if err != nil {
		return fmt.Errorf("%w (nothing was written: all outputs or none)", err)
	}
	if o.register != "" && registry == nil {
		if err := stageRegistration(&outs, o.register, res.Registration); err != nil {
			return fmt.Errorf("%w (nothing was written: all outputs or none)", err)
		}
	}
	if err := outs.Flush(); err != nil {
		return fmt.Errorf("%w (nothing was written: all outputs or none)", err)
	}
	// The registry entry is the one side effect that is not a file: made
	// after every file is on disk, before any appears.
	if registry != nil {
		if res.Registration == nil {
			return fmt.Errorf("fuse: no registration record")
		}
		ev := attest.Event{At: now, By: defaultActor(), Reason: "fuse --register"}
		if _, _, err := registry.Add(*res.Registration, ev); err != nil {
			return fmt.Errorf("%w (the release was not registered, so nothing was written: all outputs or none)", err)
		}
	}
	if err := outs.Commit(); err != nil {
		if registry != nil {
			return fmt.Errorf("release %s was registered in %s, but the outputs could not be put in place, so none was written "+
				"(revoke it with `trustfuse releases revoke`): %w", res.Registration.ID, attest.RegistryName(o.register), err)
		}
		return err
	}
	if p := res.V4.RemovedStale; p != "" {
		fmt.Fprintf(c.App.ErrWriter, "trustfuse: removed %s, left by an earlier run: it cannot sign the new output (--v4 writes a new one)\n", p)
	}
	if wantJSON(c) {
		return writeJSON(c.App.Writer, res)
	}
	return printFuse(c.App.Writer, o, res, reports)
}

// progressBar returns a bar on stderr when stderr is a terminal, else nil:
// CI logs get no control characters.
func progressBar(w io.Writer) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions(1, progressbar.OptionSetWriter(w), progressbar.OptionClearOnFinish(),
		progressbar.OptionSetDescription("fuse"), progressbar.OptionShowCount())
}

func printFuse(w io.Writer, o *fuseOptions, r *fusion.Result, reports []writtenReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("fused", "%s -> %s", o.in, o.out)
	ios := r.Output.Format == string(sniff.IPA)
	if ios {
		row("app", "%s %s (build %d)", r.Output.Package, r.Output.VersionName, r.Output.VersionCode)
	} else {
		row("package", "%s %s (versionCode %d)", r.Output.Package, r.Output.VersionName, r.Output.VersionCode)
	}
	row("fusion set", "%s %q v%d (sha256 %s)", r.FusionSet.ID, r.FusionSet.Name, r.FusionSet.Version, r.FusionSet.SHA256)
	for _, in := range r.Injected {
		row("injected", "%s (%s, %d bytes)", in.Name, in.Action, in.Size)
	}
	switch m := r.MTLS; {
	case m == nil:
	case m.PrivateKeyInPackage != nil && !*m.PrivateKeyInPackage:
		row("identity", "attested: no private key in the package; devices get certificates under issuer CA %s (%s), valid until %s, hosts %s",
			m.Subject, m.PublicKeyAlgorithm, m.NotAfter.Format(time.DateOnly), strings.Join(m.Hosts, ", "))
	default:
		if m.Identity == "attested-or-embedded" {
			row("identity", "attested-or-embedded: the client certificate below where the device cannot attest a key")
		}
		row("client cert", "%s (%s), valid until %s, hosts %s", m.Subject, m.PublicKeyAlgorithm,
			m.NotAfter.Format(time.DateOnly), strings.Join(m.Hosts, ", "))
	}
	for _, p := range r.Protections {
		row("protection", "%-12s %-7s %s", p.ID, p.Mode, p.Status)
	}
	in := strings.Join(r.Input.Signers, ", ")
	if in == "" {
		in = "unsigned"
	}
	row("signed", "%s by sha256 %s (input was signed by %s)", strings.Join(r.Output.Schemes, ", "),
		strings.Join(r.Output.Signers, ", "), in)
	switch {
	case ios:
		row("verified", "%s: every code signature, CodeResources and profile", strings.Join(r.Verification.Schemes, ", "))
		for _, b := range r.Output.Bundles {
			note := ""
			if p := b.Profile; p != nil {
				note = fmt.Sprintf("; profile %s (%s, expires %s)", p.Name, p.Type, p.Expires.Format(time.DateOnly))
			}
			row(b.Kind, "%s %s cdhash %s team %s%s", b.Dir, b.ID, b.CDHash, b.TeamID, note)
		}
		if m := r.IOSMeasurement; m != nil {
			row("measurement", "sha256 %s (app cdhash %s, runtime cdhash %s)", m.SHA256, m.AppCDHash, m.RuntimeCDHash)
		}
	case r.Output.Format == string(sniff.AAB):
		row("verified", "%s (digests of the entries written, copies identical to the input)", strings.Join(r.Verification.Schemes, ", "))
		row("sealed to", "signer sha256 %s (the certificates the installed app may carry)", strings.Join(r.Measurement.SignerDigests, ", "))
	default:
		row("verified", "%s for API %d+", strings.Join(r.Verification.Schemes, ", "), r.Verification.MinSDK)
	}
	printV4(row, r.V4.Input, r.V4.V4Output)
	if r.DemoKey {
		row("WARNING", "signed with the built-in DEMO key: never ship this APK")
	}
	row("output", "%s, %d bytes, sha256 %s", r.Output.File, r.Output.Size, r.Output.SHA256)
	for _, rep := range reports {
		row(rep.Kind, "%s (sha256 %s)", rep.Path, rep.SHA256)
	}
	return tw.Flush()
}
