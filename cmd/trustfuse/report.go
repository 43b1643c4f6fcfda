package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/fusion"
	"github.com/trustfuse/trustfuse/fusion/fusionset"
	"github.com/trustfuse/trustfuse/internal/atomicfile"
	"github.com/trustfuse/trustfuse/internal/readlimit"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/report"
)

// maxReportFile caps what `verify --report` and `report render` read.
const maxReportFile = 16 << 20

// reportOptions is the flag group of `fuse` that asks for the Certified
// Secure report.
type reportOptions struct {
	json, pdf, dir string
	// editStatement, when set (by tests only), changes the statement
	// before it is signed: it injects a statement the schema refuses.
	editStatement func(*report.Statement)
}

func (o *reportOptions) Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "report", Usage: "write the signed Certified Secure report (JSON, DSSE + in-toto) to `FILE`", Destination: &o.json},
		&cli.StringFlag{Name: "report-pdf", Usage: "write the report rendered as PDF to `FILE`", Destination: &o.pdf},
		&cli.StringFlag{Name: "report-dir", Usage: "write both reports to `DIR`, named after --out (app.secured.apk: app.secured.report.json and .pdf), unless --report / --report-pdf name them", Destination: &o.dir},
	}
}

// paths returns where the JSON and PDF reports go ("" = not asked for).
func (o *reportOptions) paths(out string) (jsonPath, pdfPath string) {
	jsonPath, pdfPath = o.json, o.pdf
	if o.dir != "" {
		stem := strings.TrimSuffix(filepath.Base(out), filepath.Ext(out))
		if jsonPath == "" {
			jsonPath = filepath.Join(o.dir, stem+".report.json")
		}
		if pdfPath == "" {
			pdfPath = filepath.Join(o.dir, stem+".report.pdf")
		}
	}
	return jsonPath, pdfPath
}

// check refuses report paths that would overwrite the input or the output.
func (o *reportOptions) check(c *cli.Context, in, out string) error {
	j, p := o.paths(out)
	for _, r := range []struct{ flag, path string }{{"--report", j}, {"--report-pdf", p}} {
		if r.path == "" {
			continue
		}
		for _, other := range []string{in, out, in + apksig.IdsigSuffix, out + apksig.IdsigSuffix} {
			if samePath(r.path, other) {
				return usageErrorf(c, "%s %s would overwrite %s", r.flag, r.path, other)
			}
		}
	}
	if j != "" && p != "" && samePath(j, p) {
		return usageErrorf(c, "--report and --report-pdf name the same file %s", j)
	}
	return nil
}

func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == ab
}

// writtenReport is a report file fuse wrote.
type writtenReport struct {
	Kind, Path, SHA256 string
}

// stage makes the statement of res, signs it with signer and stages the
// files asked for in g, which the caller commits with the APK (all outputs
// or none). The bytes depend only on the inputs, the key,
// SOURCE_DATE_EPOCH and the CI environment.
func (o *reportOptions) stage(g *atomicfile.Group, out string, res *fusion.Result, fs *fusionset.FusionSet, signer *keys.Signer) ([]writtenReport, error) {
	jsonPath, pdfPath := o.paths(out)
	if jsonPath == "" && pdfPath == "" {
		return nil, nil
	}
	bi, _ := debug.ReadBuildInfo()
	info := resolveBuild(version, commit, date, bi)
	b := report.Build{Tool: appName, Version: info.Version, Commit: info.Commit, CI: report.CIContext(os.LookupEnv)}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		b.Reproduce = "SOURCE_DATE_EPOCH=" + v
	}
	st := res.Statement(b, fs)
	if o.editStatement != nil {
		o.editStatement(st)
	}
	var written []writtenReport
	if jsonPath != "" {
		data, err := report.Sign(st, signer.Key, signer.Chain)
		if err != nil {
			return nil, err
		}
		if err := stageFile(g, jsonPath, data, 0o644); err != nil {
			return nil, err
		}
		written = append(written, writtenReport{"report", jsonPath, sha256Hex(data)})
	}
	if pdfPath != "" {
		var buf bytes.Buffer
		if err := report.RenderPDF(st, &buf); err != nil {
			return nil, err
		}
		if err := stageFile(g, pdfPath, buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		written = append(written, writtenReport{"report pdf", pdfPath, sha256Hex(buf.Bytes())})
	}
	return written, nil
}

// writeAtomic writes data to path through a temporary file, creating the
// directory if needed.
func writeAtomic(path string, data []byte) error {
	var g atomicfile.Group
	defer g.Abort()
	if err := stageFile(&g, path, data, 0o644); err != nil {
		return err
	}
	return g.Commit()
}

// stageFile stages data for path in g with the given mode, creating the
// directory if needed.
func stageFile(g *atomicfile.Group, path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := g.Create(path)
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func sha256Hex(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// readReport reads a report file, capped.
func readReport(path string) ([]byte, error) {
	data, err := readlimit.File(path, maxReportFile)
	if errors.Is(err, readlimit.ErrTooLarge) {
		return nil, fmt.Errorf("%s: %w", path, &report.FormatError{Offset: -1, Reason: fmt.Sprintf("larger than %d bytes", maxReportFile)})
	}
	return data, err
}

// reportCheck is the outcome of `verify --report`, also its JSON output.
type reportCheck struct {
	File       string                  `json:"file"`
	Verified   bool                    `json:"verified"`
	Signer     string                  `json:"signer,omitempty"`
	DemoKey    bool                    `json:"demoKey,omitempty"`
	Matched    []report.Match          `json:"matched"`
	Mismatches []*report.MismatchError `json:"mismatches,omitempty"`
	Error      string                  `json:"error,omitempty"`
	err        error
}

// checkReport checks the report at path against the opened package (an
// APK or an App Bundle) at artifact, whose signatures res holds. The
// report must be signed by the package's signer (the signers whose
// signatures verified; when none verified, the signers the package
// carries, so that the output still says what differs — the verdict is a
// failure either way).
func checkReport(path, artifact string, pkg interface{ FileSHA256() (string, error) }, res *apksig.Result) *reportCheck {
	var signers []string
	if res.Verified {
		for _, s := range []apksig.Scheme{apksig.V31, apksig.V3, apksig.V2, apksig.V1} {
			if sr := res.Scheme(s); sr.Verified {
				for _, si := range sr.Signers {
					signers = append(signers, si.CertSHA256)
				}
			}
		}
	} else {
		signers = res.SignerDigests()
	}
	return checkReportFor(path, artifact, pkg.FileSHA256, signers)
}

// checkReportFor checks the report at path against the artifact, its
// SHA-256 (fileSum) and the digests of the certificates that signed it.
func checkReportFor(path, artifact string, fileSum func() (string, error), signers []string) *reportCheck {
	rc := &reportCheck{File: path, Matched: []report.Match{}}
	fail := func(err error) *reportCheck {
		rc.err = fmt.Errorf("%s: %w", path, err)
		rc.Error = err.Error()
		for _, e := range flatten(err) {
			var me *report.MismatchError
			if errors.As(e, &me) {
				rc.Mismatches = append(rc.Mismatches, me)
			}
		}
		return rc
	}
	data, err := readReport(path)
	if err != nil {
		rc.err, rc.Error = err, err.Error() // names the file already
		return rc
	}
	sum, err := fileSum()
	if err != nil {
		rc.err, rc.Error = err, err.Error()
		return rc
	}
	r, err := report.Verify(data, report.Expect{Name: filepath.Base(artifact), SHA256: sum, Signers: signers})
	if r != nil {
		rc.Matched, rc.Signer = r.Matched, r.KeyID
		rc.DemoKey = r.Statement.Predicate.Build.DemoKey
	}
	if err != nil {
		return fail(err)
	}
	rc.Verified = true
	return rc
}

// flatten lists the errors joined in err (errors.Join), or err itself.
func flatten(err error) []error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		return j.Unwrap()
	}
	return []error{err}
}

// print writes the outcome in the style of the signature verdict.
func (rc *reportCheck) print(w io.Writer) {
	if rc.Verified {
		fmt.Fprintf(w, "Report %s: verifies\n", rc.File)
	} else {
		fmt.Fprintf(w, "Report %s: DOES NOT VERIFY\n", rc.File)
	}
	for _, m := range rc.Matched {
		fmt.Fprintf(w, "Report %s: %s\n", m.Field, m.Value)
	}
	switch {
	case len(rc.Mismatches) > 0:
		for _, m := range rc.Mismatches {
			fmt.Fprintf(w, "ERROR: report %s: the artifact has %s, the report has %s\n", m.Field, m.Want, m.Got)
		}
	case rc.Error != "":
		fmt.Fprintf(w, "ERROR: %s\n", rc.Error)
	}
	if rc.DemoKey {
		fmt.Fprintln(w, "WARNING: the report and the APK were signed with the built-in DEMO key, whose private key is public: they prove nothing")
	}
}

// reportCommand is `trustfuse report` and its subcommands.
func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "work with Certified Secure reports",
		Subcommands: []*cli.Command{
			reportRenderCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowSubcommandHelp(c)
			}
			return usageErrorf(c, "unknown command %q", c.Args().First())
		},
	}
}

type renderOptions struct {
	pdf string
}

func reportRenderCommand() *cli.Command {
	o := &renderOptions{}
	return &cli.Command{
		Name:      "render",
		Usage:     "render a report as PDF, after checking its signature (exit 3 if it does not verify)",
		ArgsUsage: "REPORT.json",
		Description: "Checks that the report's DSSE signature verifies with the certificate it carries, then renders\n" +
			"it. Whether that certificate is the APK's signer is checked by `trustfuse verify --report`.\n" +
			flagOrderNote,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "pdf", Usage: "PDF `FILE` to write (default: REPORT with .pdf instead of .json)", Destination: &o.pdf},
		},
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 1, 1); err != nil {
				return err
			}
			return o.run(c, c.Args().First())
		},
	}
}

func (o *renderOptions) run(c *cli.Context, path string) error {
	out := o.pdf
	if out == "" {
		out = strings.TrimSuffix(path, filepath.Ext(path)) + ".pdf"
	}
	if samePath(out, path) {
		return usageErrorf(c, "--pdf %s would overwrite the report", out)
	}
	data, err := readReport(path)
	if err != nil {
		return err
	}
	r, err := report.Open(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var buf bytes.Buffer
	if err := report.RenderPDF(r.Statement, &buf); err != nil {
		return err
	}
	if err := writeAtomic(out, buf.Bytes()); err != nil {
		return err
	}
	sub := r.Statement.Subject[0]
	fmt.Fprintf(c.App.Writer, "rendered %s -> %s\nsigned by  sha256 %s (%s)\nsubject    %s sha256 %s\n",
		path, out, r.KeyID, r.Chain[0].Subject, sub.Name, sub.Digest["sha256"])
	if r.Statement.Predicate.Build.DemoKey {
		fmt.Fprintln(c.App.Writer, "WARNING    signed with the built-in DEMO key: this report proves nothing")
	}
	return nil
}
