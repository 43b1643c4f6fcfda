package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/sniff"
)

type verifyOptions struct {
	minSDK, maxSDK int
	report         string
	apple          appleOptions // --apple-root only
}

func verifyCommand() *cli.Command {
	o := &verifyOptions{}
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify an APK's v1/v2/v3/v3.1 signatures as Android does, an App Bundle's JAR signature, or every code signature, CodeResources and profile of an IPA; and the report (exit 3 if they do not verify)",
		ArgsUsage: "FILE.apk|FILE.aab|FILE.ipa",
		Description: "With --report, also checks the Certified Secure report: its DSSE signature, that it was signed by the\n" +
			"APK's signer, and that its subject and output (name, sha256, signers) are this file (docs/report.md).\n" +
			flagOrderNote,
		Flags: []cli.Flag{
			jsonFlag(),
			&cli.IntFlag{Name: "min-sdk", Usage: "lowest API level to verify for (default: the manifest's minSdkVersion)", Destination: &o.minSDK},
			&cli.IntFlag{Name: "max-sdk", Usage: "highest API level to verify for (default: no limit)", Destination: &o.maxSDK},
			&cli.StringFlag{Name: "report", Usage: "also check the report `FILE` written by fuse --report against this APK", Destination: &o.report},
			o.apple.rootFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 1, 1); err != nil {
				return err
			}
			switch f, err := inputFormat(c.Args().First()); {
			case err != nil:
				return err
			case f == sniff.IPA:
				return o.verifyIPA(c, c.Args().First())
			case o.apple.given():
				return usageErrorf(c, "--apple-root applies to IPAs: %s is an Android package", c.Args().First())
			case f == sniff.AAB:
				return o.verifyBundle(c, c.Args().First())
			}
			a, err := apk.Open(c.Args().First())
			if err != nil {
				return err
			}
			defer a.Close()
			opts := a.VerifyOptions()
			opts.MaxSDK = o.maxSDK
			if o.minSDK > 0 {
				opts.MinSDK = o.minSDK
			}
			res, err := apksig.Verify(a.Zip.Reader, opts)
			if err != nil {
				return err
			}
			var rc *reportCheck
			if o.report != "" {
				rc = checkReport(o.report, a.Path, a, res)
			}
			if wantJSON(c) {
				err = writeJSON(c.App.Writer, struct {
					File string `json:"file"`
					*apksig.Result
					Report *reportCheck `json:"report,omitempty"`
				}{a.Path, res, rc})
			} else {
				err = printVerify(c.App.Writer, res)
				if rc != nil {
					rc.print(c.App.Writer)
				}
			}
			if err != nil {
				return err
			}
			return verdict(a.Path, res, rc)
		},
	}
}

// verdict is the error verify returns after printing: errVerifyFailed when
// the signatures do not verify, the report check's error, both, or nil.
func verdict(path string, res *apksig.Result, rc *reportCheck) error {
	var errs []error
	if !res.Verified {
		errs = append(errs, fmt.Errorf("%s: %w", path, errVerifyFailed))
	}
	if rc != nil && rc.err != nil {
		errs = append(errs, rc.err)
	}
	return errors.Join(errs...)
}

// printVerify prints the verdict the way apksigner does, so people and
// scripts used to it can read it.
func printVerify(w io.Writer, r *apksig.Result) error {
	if r.Verified {
		fmt.Fprintln(w, "Verifies")
	} else {
		fmt.Fprintln(w, "DOES NOT VERIFY")
	}
	for _, s := range []struct {
		scheme apksig.Scheme
		label  string
	}{
		{apksig.V1, "v1 scheme (JAR signing)"},
		{apksig.V2, "v2 scheme (APK Signature Scheme v2)"},
		{apksig.V3, "v3 scheme (APK Signature Scheme v3)"},
		{apksig.V31, "v3.1 scheme (APK Signature Scheme v3.1)"},
	} {
		fmt.Fprintf(w, "Verified using %s: %t\n", s.label, r.Scheme(s.scheme).Verified)
	}
	n := 0
	for _, sc := range []apksig.Scheme{apksig.V31, apksig.V3, apksig.V2, apksig.V1} {
		if sr := r.Scheme(sc); sr.Verified {
			for _, si := range sr.Signers {
				n++
				fmt.Fprintf(w, "Signer #%d certificate DN: %s\nSigner #%d certificate SHA-256 digest: %s\n",
					n, si.Certificate.Subject, n, si.CertSHA256)
			}
			break
		}
	}
	for _, e := range r.AllErrors() {
		fmt.Fprintf(w, "ERROR: %s\n", e.Message)
	}
	for _, sr := range []*apksig.SchemeResult{&r.V1, &r.V2, &r.V3, &r.V31} {
		for _, wn := range sr.Warnings {
			fmt.Fprintf(w, "WARNING: %s\n", wn.Message)
		}
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", wn.Message)
	}
	return nil
}
