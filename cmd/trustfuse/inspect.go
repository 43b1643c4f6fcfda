package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/sniff"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show package, versions, SDKs, permissions, dex, ABIs, 16 KiB alignment and signers of an APK or App Bundle; bundles, ids, versions, architectures, entitlements, profiles and signers of an IPA",
		ArgsUsage: "FILE.apk|FILE.aab|FILE.ipa",
		Description: "Reads the package strictly (malformed or suspicious archives are refused with exit 2) and lists the\n" +
			"signature schemes and signer certificates found, without verifying them (`trustfuse verify` does).\n" +
			"--json output is documented in docs/inspect.md.",
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 1, 1); err != nil {
				return err
			}
			switch f, err := inputFormat(c.Args().First()); {
			case err != nil:
				return err
			case f == sniff.AAB:
				return inspectBundle(c, c.Args().First())
			case f == sniff.IPA:
				return inspectIPA(c, c.Args().First())
			}
			a, err := apk.Open(c.Args().First())
			if err != nil {
				return err
			}
			defer a.Close()
			info, err := a.Info()
			if err != nil {
				return err
			}
			if wantJSON(c) {
				return writeJSON(c.App.Writer, info)
			}
			return printInfo(c.App.Writer, info)
		},
	}
}

// printInfo writes the human summary: one aligned "key  value" line each.
func printInfo(w io.Writer, i *apk.Info) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("file", "%s (%s)", i.File, humanSize(i.Size))
	row("sha256", "%s", i.SHA256)
	row("package", "%s", i.Package)
	row("version", "%s (versionCode %d)", orNone(i.VersionName), i.VersionCode)
	row("sdk", "min %d, target %d", i.MinSDK, i.TargetSDK)
	row("application", "%s", orNone(i.Application))
	row("launcher", "%s", orNone(i.LauncherActivity))
	row("permissions", "%s", orNone(strings.Join(i.Permissions, ", ")))
	row("dex", "%s", orNone(strings.Join(i.Dex, ", ")))
	row("abis", "%s", orNone(strings.Join(i.ABIs, ", ")))
	if len(i.NativeLibs) > 0 {
		stored := 0
		for _, l := range i.NativeLibs {
			if l.Stored {
				stored++
			}
		}
		row("native libs", "%d (%d stored); 16 KiB: zip %s, ELF %s", len(i.NativeLibs), stored, yesNo(i.ZipAligned16K), yesNo(i.ELFAligned16K))
	}
	row("schemes", "%s (not verified: use trustfuse verify)", orNone(strings.Join(i.Signing.Schemes, ", ")))
	for n, s := range i.Signing.Signers {
		row(fmt.Sprintf("signer #%d", n+1), "sha256 %s", s)
	}
	for _, e := range i.Signing.Errors {
		row("error", "%s", e.Message)
	}
	for _, w := range i.Signing.Warnings {
		row("warning", "%s: %s", w.Code, w.Message)
	}
	for _, wn := range i.Warnings {
		row("warning", "%s: %s", wn.Code, wn)
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
