package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/internal/atomicfile"
	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/sniff"
)

type signOptions struct {
	in, out string
	signing signingOptions
}

func signCommand() *cli.Command {
	o := &signOptions{}
	return &cli.Command{
		Name:  "sign",
		Usage: "re-sign an APK: v1 when minSdk < 24, v2 and v3 always; aligned, unchanged entries copied raw",
		Description: "Writes --out through a temporary file renamed into place on success; --in is never modified.\n" +
			"Old JAR signature files are dropped. SOURCE_DATE_EPOCH fixes the timestamps of new entries, so the\n" +
			"same input, key and SOURCE_DATE_EPOCH give identical bytes.",
		Flags: append([]cli.Flag{
			jsonFlag(),
			&cli.StringFlag{Name: "in", Usage: "APK to sign (read only)", Destination: &o.in},
			&cli.StringFlag{Name: "out", Usage: "signed APK to write", Destination: &o.out},
		}, o.signing.Flags()...),
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
	switch f, err := inputFormat(o.in); {
	case err != nil:
		return err
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
	sg := apksigSigner(signer)
	schemes, err := opts.Schemes(sg)
	if err != nil {
		return err
	}
	out, err := atomicfile.Create(o.out)
	if err != nil {
		return err
	}
	defer out.Abort()
	if err := apksig.Sign(out, apksig.InputsFrom(a.Zip.Reader), sg, opts); err != nil {
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	names := make([]string, len(schemes))
	for i, s := range schemes {
		names[i] = string(s)
	}
	result := map[string]any{
		"in": o.in, "out": o.out, "package": a.Manifest.Package,
		"schemes": names, "signer": apksig.CertDigest(signer.Certificate),
		"key": signer.KeyDescription(), "demoKey": signer.IsDemo(),
	}
	if wantJSON(c) {
		return writeJSON(c.App.Writer, result)
	}
	fmt.Fprintf(c.App.Writer, "signed %s -> %s\nschemes  %s\nsigner   sha256 %s (%s, %s)\n",
		o.in, o.out, strings.Join(names, ", "), result["signer"], signer.KeyDescription(), signer.Source)
	return nil
}

// sameFile refuses an output path that names the input: the input is never
// modified.
func sameFile(c *cli.Context, in, out string) error {
	ai, err1 := filepath.Abs(in)
	ao, err2 := filepath.Abs(out)
	if err1 == nil && err2 == nil && ai == ao {
		return usageErrorf(c, "--out must differ from --in: the input is never modified")
	}
	si, err1 := os.Stat(in)
	so, err2 := os.Stat(out)
	if err1 == nil && err2 == nil && os.SameFile(si, so) {
		return usageErrorf(c, "--out %s is the same file as --in: the input is never modified", out)
	}
	return nil
}
