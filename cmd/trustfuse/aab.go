package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/internal/atomicfile"
	"github.com/trustfuse/trustfuse/pkg/aab"
	"github.com/trustfuse/trustfuse/pkg/apksig"
)

// What inspect, sign and verify do with an Android App Bundle (.aab). The
// commands sniff their input (inputFormat) and come here for a bundle.

// inspectBundle prints the bundle summary (aab.Info).
func inspectBundle(c *cli.Context, path string) error {
	b, err := aab.Open(path)
	if err != nil {
		return err
	}
	defer b.Close()
	info, err := b.Info(filepath.Base(path))
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return writeJSON(c.App.Writer, info)
	}
	return printBundleInfo(c.App.Writer, info)
}

// printBundleInfo writes the human summary: the APK's rows where they mean
// the same, then one row per module.
func printBundleInfo(w io.Writer, i *aab.Info) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("file", "%s (%s, Android App Bundle)", i.File, humanSize(i.Size))
	row("sha256", "%s", i.SHA256)
	row("package", "%s", i.Package)
	row("version", "%s (versionCode %d)", orNone(i.VersionName), i.VersionCode)
	row("sdk", "min %d, target %d", i.MinSDK, i.TargetSDK)
	row("application", "%s", orNone(i.Application))
	row("launcher", "%s", orNone(i.LauncherActivity))
	row("permissions", "%s", orNone(strings.Join(i.Permissions, ", ")))
	for _, m := range i.Modules {
		desc := m.Type
		if m.Delivery != "" {
			desc += ", " + m.Delivery
		}
		row("module "+m.Name, "%s; dex %s; abis %s; %d assets", desc,
			orNone(strings.Join(m.Dex, ", ")), orNone(strings.Join(m.ABIs, ", ")), m.Assets)
	}
	row("schemes", "%s (not verified: use trustfuse verify)", orNone(strings.Join(i.Signing.Schemes, ", ")))
	for n, s := range i.Signing.Signers {
		row(fmt.Sprintf("signer #%d", n+1), "sha256 %s", s)
	}
	for _, e := range i.Signing.Errors {
		row("error", "%s", e.Message)
	}
	for _, wn := range i.Warnings {
		row("warning", "%s: %s", wn.Code, wn)
	}
	return tw.Flush()
}

// signBundle re-signs a bundle with JAR signing, as jarsigner does, with the
// signature files named after the key alias as jarsigner names them.
func (o *signOptions) signBundle(c *cli.Context) error {
	if apksig.V1Mode(o.signing.v1) != apksig.V1Auto || o.signing.minSDK != 0 || o.signing.lineage != "" || o.signing.v4 {
		return usageErrorf(c, "--v1, --min-sdk, --lineage and --v4 apply to APKs: a bundle is always JAR signed (SHA-256), and Play signs the APKs it builds from it")
	}
	when, err := buildTime(c)
	if err != nil {
		return err
	}
	b, err := aab.Open(o.in)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Zip.CheckNoHiddenData(); err != nil {
		return err
	}
	signer, err := o.signing.load(c)
	if err != nil {
		return err
	}
	out, err := atomicfile.Create(o.out)
	if err != nil {
		return err
	}
	defer out.Abort()
	opts := apksig.JAROptions{
		SignerName: apksig.JARSignerName(signer.Alias),
		CreatedBy:  "trustfuse " + version,
		Modified:   when,
	}
	if err := b.Sign(out, apksigSigner(signer), opts); err != nil {
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	result := map[string]any{
		"in": o.in, "out": o.out, "package": b.Base().Manifest.Package,
		"schemes": []string{aab.SchemeJAR}, "signer": apksig.CertDigest(signer.Certificate),
		"key": signer.KeyDescription(), "demoKey": signer.IsDemo(),
	}
	if wantJSON(c) {
		return writeJSON(c.App.Writer, result)
	}
	fmt.Fprintf(c.App.Writer, "signed %s -> %s\nschemes  %s\nsigner   sha256 %s (%s, %s)\n",
		o.in, o.out, aab.SchemeJAR, result["signer"], signer.KeyDescription(), signer.Source)
	return nil
}

// verifyBundle checks a bundle's JAR signature and, with --report, the
// report fuse wrote for it; the output has the APK's shape, with only the
// JAR (v1) verdict.
func (o *verifyOptions) verifyBundle(c *cli.Context, path string) error {
	if o.minSDK != 0 || o.maxSDK != 0 {
		return usageErrorf(c, "--min-sdk and --max-sdk apply to APKs: a bundle's JAR signature has no API levels")
	}
	b, err := aab.Open(path)
	if err != nil {
		return err
	}
	defer b.Close()
	res, err := b.Verify()
	if err != nil {
		return err
	}
	var rc *reportCheck
	if o.report != "" {
		rc = checkReport(o.report, path, b, res)
	}
	if wantJSON(c) {
		err = writeJSON(c.App.Writer, struct {
			File   string `json:"file"`
			Format string `json:"format"`
			*apksig.Result
			Report *reportCheck `json:"report,omitempty"`
		}{path, "aab", res, rc})
	} else {
		err = printBundleVerify(c.App.Writer, res)
		if rc != nil {
			rc.print(c.App.Writer)
		}
	}
	if err != nil {
		return err
	}
	return verdict(path, res, rc)
}

// printBundleVerify prints the verdict as printVerify does for an APK, with
// the one scheme a bundle has.
func printBundleVerify(w io.Writer, r *apksig.Result) error {
	if r.Verified {
		fmt.Fprintln(w, "Verifies")
	} else {
		fmt.Fprintln(w, "DOES NOT VERIFY")
	}
	fmt.Fprintf(w, "Verified using JAR signing: %t\n", r.V1.Verified)
	for n, si := range r.V1.Signers {
		fmt.Fprintf(w, "Signer #%d certificate DN: %s\nSigner #%d certificate SHA-256 digest: %s\n",
			n+1, si.Certificate.Subject, n+1, si.CertSHA256)
	}
	for _, e := range r.AllErrors() {
		fmt.Fprintf(w, "ERROR: %s\n", e.Message)
	}
	for _, ws := range [][]apksig.Issue{r.V1.Warnings, r.Warnings} {
		for _, wn := range ws {
			fmt.Fprintf(w, "WARNING: %s\n", wn.Message)
		}
	}
	return nil
}
