package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/internal/atomicfile"
	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/sniff"
)

type signOptions struct {
	in, out string
	signing signingOptions
	apple   appleOptions
}

func signCommand() *cli.Command {
	o := &signOptions{}
	return &cli.Command{
		Name:  "sign",
		Usage: "re-sign an APK (v1 when minSdk < 24, v2 and v3 always), an App Bundle (JAR signing) or an IPA (Apple code signature, nested code first); unchanged entries copied raw",
		Description: "Writes --out (and with --v4 its .idsig) through temporary files renamed into place on success;\n" +
			"--in and its .idsig are never modified; an --out.idsig from an earlier run is removed unless --v4 replaces it.\n" +
			"Old JAR signature files and a SourceStamp (stamp-cert-sha256, whose signing block re-signing replaces) are dropped. SOURCE_DATE_EPOCH fixes the timestamps of new entries, so the\n" +
			"same input, key and SOURCE_DATE_EPOCH give identical bytes.",
		Flags: append([]cli.Flag{
			jsonFlag(),
			&cli.StringFlag{Name: "in", Usage: "APK, App Bundle or IPA to sign (read only)", Destination: &o.in},
			&cli.StringFlag{Name: "out", Usage: "signed package to write", Destination: &o.out},
		}, append(o.signing.Flags(), o.apple.signFlags()...)...),
		Before: func(c *cli.Context) error {
			if o.in == "" || o.out == "" {
				return usageErrorf(c, "--in and --out are required")
			}
			if err := sameFile(c, o.in, o.out); err != nil {
				return err
			}
			return o.signing.check(c)
		},
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 0); err != nil {
				return err
			}
			return o.run(c)
		},
	}
}

func (o *signOptions) run(c *cli.Context) error {
	f, err := inputFormat(o.in)
	if err == nil {
		err = sniff.CheckNames(o.in, o.out, f)
	}
	switch {
	case err != nil:
		return err
	case f == sniff.IPA:
		return o.signIPA(c)
	case o.apple.given():
		return usageErrorf(c, "--profile, --entitlements, --adhoc and --apple-root apply to IPAs: %s is an Android package", o.in)
	case f == sniff.AAB:
		return o.signBundle(c)
	}
	when, err := buildTime(c)
	if err != nil {
		return err
	}
	a, err := apk.Open(o.in)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Zip.CheckNoHiddenData(); err != nil {
		return err
	}
	signer, err := o.signing.load(c)
	if err != nil {
		return err
	}
	opts := o.signing.apksigOptions(a.Manifest.MinSDK, when)
	opts.Source = a.Zip.Reader
	sg := apksigSigner(signer)
	schemes, err := opts.Schemes(sg)
	if err != nil {
		return err
	}
	// The APK and its .idsig appear together or not at all.
	var outs atomicfile.Group
	defer outs.Abort()
	out, err := outs.Create(o.out)
	if err != nil {
		return err
	}
	if err := apksig.Sign(out, apksig.InputsFrom(a.Zip.Reader), sg, opts); err != nil {
		return err
	}
	inV4, err := a.Idsig()
	inV4 = inV4 && err == nil
	v4, err := apk.StageV4(&outs, out.Name(), o.out, sg, o.signing.v4)
	if err != nil {
		return err
	}
	if err := outs.Commit(); err != nil {
		return err
	}
	names := make([]string, len(schemes))
	for i, s := range schemes {
		names[i] = string(s)
	}
	if v4.Written != "" {
		names = append(names, string(apksig.V4))
	}
	if v4.RemovedStale != "" {
		fmt.Fprintf(c.App.ErrWriter, "trustfuse: removed %s, left by an earlier run: it cannot sign the new output (--v4 writes a new one)\n", v4.RemovedStale)
	}
	result := map[string]any{
		"in": o.in, "out": o.out, "package": a.Manifest.Package,
		"schemes": names, "signer": apksig.CertDigest(signer.Certificate),
		"key": signer.KeyDescription(), "demoKey": signer.IsDemo(),
		"v4": map[string]any{"input": inV4, "written": v4.Written, "removedStale": v4.RemovedStale},
	}
	if wantJSON(c) {
		return writeJSON(c.App.Writer, result)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("signed", "%s -> %s", o.in, o.out)
	row("schemes", "%s", strings.Join(names, ", "))
	row("signer", "sha256 %s (%s, %s)", result["signer"], signer.KeyDescription(), signer.Source)
	printV4(row, inV4, v4)
	return tw.Flush()
}

// printV4 adds the summary row saying what became of APK Signature Scheme
// v4, when there is anything to say: the .idsig written, or why the output
// has none although the input or an earlier output had one.
func printV4(row func(k, format string, args ...any), input bool, out apk.V4Output) {
	switch {
	case out.Written != "":
		row("v4", "%s written", out.Written)
	case out.RemovedStale != "":
		row("v4", "none: %s from an earlier run removed (it cannot sign this output); --v4 writes a new one", out.RemovedStale)
	case input:
		row("v4", "none: the input's .idsig signs the input only; --v4 writes one for the output")
	}
}

// sameFile refuses an output path that names the input: the input is never
// modified.
func sameFile(c *cli.Context, in, out string) error {
	ai, err1 := filepath.Abs(in)
	ao, err2 := filepath.Abs(out)
	if err1 == nil && err2 == nil && ai == ao {
		return usageErrorf(c, "--out must differ from --in: the input is never modified")
	}
	if samePath(out, in+apksig.IdsigSuffix) {
		return usageErrorf(c, "--out %s would overwrite the input's v4 signature file: the input is never modified", out)
	}
	si, err1 := os.Stat(in)
	so, err2 := os.Stat(out)
	if err1 == nil && err2 == nil && os.SameFile(si, so) {
		return usageErrorf(c, "--out %s is the same file as --in: the input is never modified", out)
	}
	return nil
}
