package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a Fusion Set: schema, values, referenced files and the client certificate",
		ArgsUsage: "FUSION-SET.json",
		Description: "Prints \"FILE: ok\" and a summary, or every problem as FILE:LINE:COL: $.path: message on stderr.\n" +
			"Exit 2 when the Fusion Set is invalid, 4 when the client certificate's password is wrong or its\n" +
			"reference (env:NAME, file:PATH, stdin) cannot be resolved. `//` line comments are allowed.\n" +
			"--json prints {\"valid\": bool, \"problems\": [...], \"warnings\": [...], \"fusionSet\": {...}} on stdout.\n" +
			flagOrderNote,
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 1, 1); err != nil {
				return err
			}
			return runValidate(c, c.Args().First())
		},
	}
}

func runValidate(c *cli.Context, file string) error {
	fs, err := fusionset.Load(file, fusionset.LoadOptions{Stdin: os.Stdin})
	var ve *fusionset.ValidationError
	if err != nil && !errors.As(err, &ve) {
		return err
	}
	out := validateResult{File: file, Valid: err == nil}
	if ve != nil {
		out.Problems, out.Warnings = ve.Problems, ve.Warnings
	} else {
		out.Warnings = fs.Warnings
		out.FusionSet = summarize(fs)
	}
	if out.Problems == nil {
		out.Problems = []fusionset.Problem{}
	}
	if out.Warnings == nil {
		out.Warnings = []fusionset.Problem{}
	}
	if wantJSON(c) {
		if err := writeJSON(c.App.Writer, out); err != nil {
			return err
		}
	} else {
		printProblems(c.App.ErrWriter, file, out.Problems, "")
		printProblems(c.App.ErrWriter, file, out.Warnings, "warning: ")
		if ve == nil {
			fmt.Fprintf(c.App.Writer, "%s: ok\n%s\n", file, fs)
		}
	}
	if ve == nil {
		return nil
	}
	where := "listed above"
	if wantJSON(c) {
		where = "listed in the JSON output"
	}
	what := plural(len(ve.Problems), "problem")
	if ve.Cause != nil {
		what += ", including the client certificate's password"
	}
	return &reportedError{
		msg: fmt.Sprintf("%s: invalid Fusion Set: %s (%s)", file, what, where),
		err: err,
	}
}

// reportedError is an error whose details the command has already printed:
// execute prints only msg, and the exit code comes from err.
type reportedError struct {
	msg string
	err error
}

func (e *reportedError) Error() string { return e.msg }
func (e *reportedError) Unwrap() error { return e.err }

// printProblems writes one "file:line:col: [warning: ]$.path: message" line
// each; the parts a problem does not have are left out.
func printProblems(w io.Writer, file string, list []fusionset.Problem, prefix string) {
	for _, p := range list {
		s := p.Message
		if p.Path != "" {
			s = p.Path + ": " + s
		}
		s = prefix + s
		switch {
		case p.Line > 0:
			fmt.Fprintf(w, "%s:%d:%d: %s\n", file, p.Line, p.Col, s)
		case p.Path != "":
			fmt.Fprintf(w, "%s: %s\n", file, s)
		default: // the file itself: the message names it
			fmt.Fprintln(w, s)
		}
	}
}

// validateResult is the --json output of validate.
type validateResult struct {
	File      string              `json:"file"`
	Valid     bool                `json:"valid"`
	Problems  []fusionset.Problem `json:"problems"`
	Warnings  []fusionset.Problem `json:"warnings"`
	FusionSet *fusionSetSummary   `json:"fusionSet,omitempty"`
}

type fusionSetSummary struct {
	ID                string            `json:"fusionSetId"`
	Name              string            `json:"name"`
	Version           int               `json:"version"`
	SHA256            string            `json:"sha256"`
	Hosts             []string          `json:"hosts"`
	Attestation       string            `json:"attestation,omitempty"`
	Threats           map[string]string `json:"threats"`
	ThreatEvents      bool              `json:"threatEvents"`
	Identity          string            `json:"identity"`
	ClientCertificate *certSummary      `json:"clientCertificate,omitempty"`
	IssuerCAs         []certSummary     `json:"issuerCAs,omitempty"`
	PinnedCAs         []certSummary     `json:"pinnedCAs,omitempty"`
}

type certSummary struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	SHA256    string    `json:"sha256"`
}

func summarize(fs *fusionset.FusionSet) *fusionSetSummary {
	s := &fusionSetSummary{
		ID: fs.FusionSetID, Name: fs.Name, Version: fs.Version, SHA256: fs.SHA256(),
		Hosts: fs.MTLS.Hosts, Attestation: fs.Attestation.Endpoint,
		Threats: map[string]string{}, ThreatEvents: fs.ThreatEvents.Enabled, Identity: string(fs.MTLS.Identity),
	}
	for id, t := range fs.Threats {
		s.Threats[string(id)] = string(t.Mode)
	}
	if c := fs.ClientCertificate(); c != nil {
		cs := summarizeCert(c.Raw, c.Subject.String(), c.Issuer.String(), c.SerialNumber.Text(16), c.NotBefore, c.NotAfter)
		s.ClientCertificate = &cs
	}
	for _, c := range fs.IssuerCAs {
		s.IssuerCAs = append(s.IssuerCAs, summarizeCert(c.Raw, c.Subject.String(), c.Issuer.String(), c.SerialNumber.Text(16), c.NotBefore, c.NotAfter))
	}
	for _, c := range fs.PinnedCAs {
		s.PinnedCAs = append(s.PinnedCAs, summarizeCert(c.Raw, c.Subject.String(), c.Issuer.String(), c.SerialNumber.Text(16), c.NotBefore, c.NotAfter))
	}
	return s
}

func summarizeCert(raw []byte, subject, issuer, serial string, notBefore, notAfter time.Time) certSummary {
	sum := sha256.Sum256(raw)
	return certSummary{Subject: subject, Issuer: issuer, Serial: serial, NotBefore: notBefore.UTC(), NotAfter: notAfter.UTC(), SHA256: hex.EncodeToString(sum[:])}
}
