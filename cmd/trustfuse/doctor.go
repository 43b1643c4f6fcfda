package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	"github.com/trustfuse/trustfuse/internal/readlimit"
	"github.com/trustfuse/trustfuse/pkg/aab"
	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/ipa"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/provision"
	"github.com/trustfuse/trustfuse/pkg/sniff"
)

// expirySoon is how close to its end a certificate or profile must be for
// doctor to warn about it.
const expirySoon = 30 * 24 * time.Hour

// doctorOptions are doctor's flags.
type doctorOptions struct {
	keystore, ksPass, alias, keyPass string
	profile, fusionSet, in           string
}

func doctorCommand() *cli.Command {
	o := &doctorOptions{}
	return &cli.Command{
		Name:  "doctor",
		Usage: "check a keystore and its password reference, a provisioning profile, a Fusion Set, an input package and the environment in one go",
		Description: "Checks whatever it is given and always the environment; prints each check with what to do about every problem.\n" +
			"Exit 0 when nothing is wrong (warnings allowed), else the most severe exit code of the problems found:\n" +
			"4 (credential: keystore, password, profile) over 3 over 2 (invalid input) over 1 (environment).\n" +
			"Passwords are never printed. --json: see docs/cli.md.\n" + flagOrderNote,
		Flags: []cli.Flag{
			jsonFlag(),
			&cli.StringFlag{Name: "keystore", Usage: "signing keystore to open: PKCS#12, JKS or PEM", Destination: &o.keystore, EnvVars: []string{"TRUSTFUSE_KEYSTORE"}},
			&cli.StringFlag{Name: "ks-pass", Usage: "keystore password reference: env:NAME, file:PATH, stdin", Destination: &o.ksPass, EnvVars: []string{"TRUSTFUSE_KS_PASS"}},
			&cli.StringFlag{Name: "ks-key-alias", Usage: "key alias; may be omitted when the keystore holds one key", Destination: &o.alias},
			&cli.StringFlag{Name: "key-pass", Usage: "key password reference (JKS); default: the keystore password", Destination: &o.keyPass},
			&cli.StringFlag{Name: "profile", Usage: "iOS provisioning profile (.mobileprovision)", Destination: &o.profile},
			&cli.StringFlag{Name: "fusion-set", Usage: "Fusion Set to validate", Destination: &o.fusionSet},
			&cli.StringFlag{Name: "in", Usage: "input package (APK, AAB or IPA) to open", Destination: &o.in},
		},
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 0); err != nil {
				return err
			}
			if o.keystore == "" && (o.ksPass != "" || o.alias != "" || o.keyPass != "") {
				return usageErrorf(c, "--ks-pass, --ks-key-alias and --key-pass need --keystore")
			}
			return runDoctor(c, o)
		},
	}
}

// doctorResult is doctor's --json output (docs/cli.md).
type doctorResult struct {
	// OK is true when no check has an error (warnings allowed).
	OK bool `json:"ok"`
	// ExitCode is the process exit code: the most severe of the errors.
	ExitCode int `json:"exitCode"`
	// Checks are in a fixed order: environment, keystore, profile,
	// fusionSet, package; those not asked for are left out, except the
	// keystore, whose absence means the demo key.
	Checks []*doctorCheck `json:"checks"`
}

// doctorCheck is one thing checked.
type doctorCheck struct {
	// Check is "environment", "keystore", "profile", "fusionSet" or "package".
	Check string `json:"check"`
	// File is the file checked ("" for the environment or no keystore).
	File string `json:"file,omitempty"`
	// Status is "ok", "warning" or "error".
	Status string `json:"status"`
	// Facts are what the check found, e.g. keyType, notAfter (never a secret).
	Facts map[string]string `json:"facts"`
	// Problems are errors and warnings, each with what to do.
	Problems []doctorProblem `json:"problems"`
}

// doctorProblem is one problem found by a check.
type doctorProblem struct {
	// Severity is "error" or "warning".
	Severity string `json:"severity"`
	// ExitCode is the exit code this problem alone gives (0 for a warning).
	ExitCode int `json:"exitCode"`
	// Message says what is wrong; Fix what to do about it.
	Message string `json:"message"`
	Fix     string `json:"fix"`
	// Line, Col and Path locate a Fusion Set problem (0, 0, "" otherwise).
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
	Path string `json:"path,omitempty"`

	err error // the cause, for the returned error's exit code
}

func newCheck(name, file string) *doctorCheck {
	return &doctorCheck{Check: name, File: file, Facts: map[string]string{}, Problems: []doctorProblem{}}
}

// fail records an error whose exit code comes from err.
func (k *doctorCheck) fail(err error, fix string) {
	k.Problems = append(k.Problems, doctorProblem{Severity: "error", ExitCode: exitCode(err), Message: err.Error(), Fix: fix, err: err})
}

// warn records a warning.
func (k *doctorCheck) warn(msg, fix string) {
	k.Problems = append(k.Problems, doctorProblem{Severity: "warning", Message: msg, Fix: fix})
}

// severityRank orders exit codes: credential over verification over invalid
// input over internal.
func severityRank(code int) int {
	switch code {
	case exitCredential:
		return 4
	case exitVerify:
		return 3
	case exitUsage:
		return 2
	case exitInternal:
		return 1
	}
	return 0
}

func runDoctor(c *cli.Context, o *doctorOptions) error {
	now := time.Now()
	res := &doctorResult{Checks: []*doctorCheck{doctorEnvironment(c)}}
	ks, signer := doctorKeystore(o, now)
	res.Checks = append(res.Checks, ks)
	if o.profile != "" {
		res.Checks = append(res.Checks, doctorProfile(o.profile, signer, now))
	}
	if o.fusionSet != "" {
		res.Checks = append(res.Checks, doctorFusionSet(o.fusionSet, now))
	}
	if o.in != "" {
		res.Checks = append(res.Checks, doctorPackage(o.in))
	}
	var worst error
	errs := 0
	for _, k := range res.Checks {
		k.Status = "ok"
		for _, p := range k.Problems {
			if p.Severity == "warning" {
				if k.Status == "ok" {
					k.Status = "warning"
				}
				continue
			}
			k.Status = "error"
			errs++
			if worst == nil || severityRank(p.ExitCode) > severityRank(exitCode(worst)) {
				worst = p.err
			}
		}
	}
	res.OK = worst == nil
	res.ExitCode = exitCode(worst)
	if wantJSON(c) {
		if err := writeJSON(c.App.Writer, res); err != nil {
			return err
		}
	} else {
		printDoctor(c.App.Writer, res)
	}
	if worst == nil {
		return nil
	}
	where := "listed above"
	if wantJSON(c) {
		where = "listed in the JSON output"
	}
	return &reportedError{msg: fmt.Sprintf("doctor: %s (%s)", plural(errs, "problem"), where), err: worst}
}

// doctorEnvironment checks what every command needs: a writable temporary
// directory and, when set, a valid SOURCE_DATE_EPOCH.
func doctorEnvironment(c *cli.Context) *doctorCheck {
	k := newCheck("environment", "")
	k.Facts["version"] = version
	k.Facts["goVersion"] = runtime.Version()
	k.Facts["platform"] = runtime.GOOS + "/" + runtime.GOARCH
	dir := os.TempDir()
	k.Facts["tempDir"] = dir
	if f, err := os.CreateTemp(dir, "trustfuse-doctor-*"); err != nil {
		k.fail(fmt.Errorf("temporary directory %s is not writable: %w", dir, err),
			"set TMPDIR to a writable directory: outputs are written to a temporary file and renamed")
	} else {
		name := f.Name()
		f.Close()
		os.Remove(name)
	}
	if t, err := buildTime(c); err != nil {
		k.fail(err, "set SOURCE_DATE_EPOCH to the commit time in seconds (git log -1 --format=%ct), or unset it")
	} else if !t.IsZero() {
		k.Facts["sourceDateEpoch"] = t.Format(time.RFC3339)
	}
	return k
}

// doctorKeystore opens the keystore with its password reference; it
// returns the identity (nil when it cannot be opened) for the profile check.
func doctorKeystore(o *doctorOptions, now time.Time) (*doctorCheck, *keys.Signer) {
	k := newCheck("keystore", o.keystore)
	if o.keystore == "" {
		k.Facts["source"] = "built-in demo key"
		k.warn("no --keystore: fuse and sign would use the built-in DEMO key, whose private key is public",
			"pass --keystore with your release keystore and --ks-pass env:NAME")
		return k, nil
	}
	resolve := func(flag, ref string) ([]byte, bool) {
		s, warn, err := keys.ResolveSecret(ref, nil, os.Stdin)
		if err != nil {
			k.fail(err, "make the reference resolve: export the variable (env:NAME), create the file (file:PATH) or pipe the password (stdin)")
			return nil, false
		}
		if warn != "" {
			k.warn("--"+flag+": "+warn, "keep passwords out of command lines and logs: use env:NAME or file:PATH")
		}
		return s, true
	}
	if o.ksPass == "" {
		k.warn("no --ks-pass: opening the keystore with an empty password", "pass --ks-pass env:NAME if the keystore has a password")
	}
	ksPass, ok := resolve("ks-pass", o.ksPass)
	if !ok {
		return k, nil
	}
	keyPass, ok := resolve("key-pass", o.keyPass)
	if !ok {
		return k, nil
	}
	s, err := keys.Load(o.keystore, ksPass, o.alias, keyPass)
	if err != nil {
		k.fail(err, keystoreFix(err))
		return k, nil
	}
	k.Facts["format"] = s.Format
	k.Facts["alias"] = s.Alias
	k.Facts["keyType"] = s.KeyDescription()
	k.Facts["subject"] = s.Certificate.Subject.String()
	k.Facts["notAfter"] = s.Certificate.NotAfter.UTC().Format(time.RFC3339)
	sum := s.CertSHA256()
	k.Facts["certSHA256"] = fmt.Sprintf("%x", sum[:])
	switch left := s.Certificate.NotAfter.Sub(now); {
	case left <= 0:
		k.warn("the certificate expired on "+s.Certificate.NotAfter.UTC().Format(time.DateOnly),
			"Android installs APKs signed with an expired certificate, but iOS signing refuses it: get a new distribution certificate for iOS")
	case left < expirySoon:
		k.warn("the certificate expires on "+s.Certificate.NotAfter.UTC().Format(time.DateOnly),
			"for iOS, renew the distribution certificate and its profiles before then")
	}
	return k, s
}

// keystoreFix says what to do about a keystore that does not open.
func keystoreFix(err error) string {
	switch {
	case errors.Is(err, keys.ErrBadPassword):
		return "check the password the --ks-pass (or --key-pass) reference points to; for JKS the key password may differ from the store password"
	case errors.Is(err, keys.ErrAlias):
		return "pass --ks-key-alias with one of the keystore's aliases"
	case errors.Is(err, keys.ErrUnsupportedKey):
		return "use an RSA (2048 bits or more) or ECDSA P-256/P-384/P-521 key"
	case errors.Is(err, keys.ErrKeyMismatch):
		return "re-export the keystore with the certificate of its own private key"
	case errors.Is(err, keys.ErrUnreadable):
		return "check the path and the file's permissions"
	}
	return "pass a PKCS#12 (.p12), JKS or PEM keystore"
}

// doctorProfile parses a provisioning profile and checks its dates and,
// when a keystore was opened, that it lists the keystore's certificate.
func doctorProfile(path string, signer *keys.Signer, now time.Time) *doctorCheck {
	k := newCheck("profile", path)
	b, err := readlimit.File(path, 4<<20)
	if err != nil {
		k.fail(fmt.Errorf("%s: %w", path, err), "check the path and the file's permissions")
		return k
	}
	p, err := provision.Parse(b)
	if err != nil {
		k.fail(fmt.Errorf("%s: %w", path, err), "download the profile again from the Apple Developer portal (a .mobileprovision file)")
		return k
	}
	k.Facts["name"] = p.Name
	k.Facts["uuid"] = p.UUID
	k.Facts["teamId"] = p.TeamID
	k.Facts["appId"] = p.ApplicationIdentifier
	k.Facts["expirationDate"] = p.ExpirationDate.UTC().Format(time.RFC3339)
	refuse := func(reason provision.Reason, detail, fix string) {
		k.fail(fmt.Errorf("%s: profile %q: %s: %s: %w", path, p.Name, reason, detail, provision.ErrProfile), fix)
	}
	switch left := p.ExpirationDate.Sub(now); {
	case left <= 0:
		refuse(provision.ReasonExpired, "expired on "+p.ExpirationDate.UTC().Format(time.DateOnly),
			"renew the profile in the Apple Developer portal and download it again")
	case left < expirySoon:
		k.warn("the profile expires on "+p.ExpirationDate.UTC().Format(time.DateOnly), "renew it before then")
	}
	if now.Before(p.CreationDate) {
		refuse(provision.ReasonNotYetValid, "created in the future ("+p.CreationDate.UTC().Format(time.RFC3339)+")", "check the machine's clock")
	}
	switch {
	case signer == nil:
		k.Facts["certificateListed"] = "not checked (no keystore opened)"
	case listsCertificate(p, signer):
		k.Facts["certificateListed"] = "yes"
	default:
		k.Facts["certificateListed"] = "no"
		refuse(provision.ReasonCertificate, "DeveloperCertificates does not list the keystore's certificate "+signer.Certificate.Subject.String(),
			"sign with a certificate the profile lists, or add this certificate to the profile in the Apple Developer portal")
	}
	return k
}

func listsCertificate(p *provision.Profile, s *keys.Signer) bool {
	for _, c := range p.DeveloperCertificates {
		if bytes.Equal(c.Raw, s.Certificate.Raw) {
			return true
		}
	}
	return false
}

// doctorFusionSet validates a Fusion Set as `validate` does.
func doctorFusionSet(path string, now time.Time) *doctorCheck {
	k := newCheck("fusionSet", path)
	fs, err := fusionset.Load(path, fusionset.LoadOptions{Stdin: os.Stdin, Now: func() time.Time { return now }})
	var ve *fusionset.ValidationError
	switch {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			var pe error = &fusionset.ValidationError{File: path, Problems: []fusionset.Problem{p}}
			fix := "see docs/fusion-set.md for the field; `trustfuse validate` lists the same problems"
			if ve.Cause != nil && p.Path == "$.mtls.password" {
				pe = ve.Cause // the credential problem: exit 4
				fix = "check the client certificate's password and the reference naming it (env:NAME, file:PATH)"
			}
			k.Problems = append(k.Problems, doctorProblem{Severity: "error", ExitCode: exitCode(pe), Message: p.Message,
				Fix: fix, Line: p.Line, Col: p.Col, Path: p.Path, err: pe})
		}
		k.fusionSetWarnings(ve.Warnings)
		return k
	case err != nil:
		k.fail(err, "check the path and the file's permissions")
		return k
	}
	k.Facts["fusionSetId"] = fs.FusionSetID
	k.Facts["sha256"] = fs.SHA256()
	k.fusionSetWarnings(fs.Warnings)
	if cert := fs.ClientCertificate(); cert != nil {
		k.Facts["clientCertificate"] = cert.Subject.String()
		// Load warns when it expires soon.
		k.Facts["clientCertificateNotAfter"] = cert.NotAfter.UTC().Format(time.RFC3339)
	}
	return k
}

// fusionSetWarnings records the Fusion Set's warnings.
func (k *doctorCheck) fusionSetWarnings(list []fusionset.Problem) {
	for _, p := range list {
		fix := "see docs/fusion-set.md"
		if p.Path == "$.mtls.clientCertificate" {
			fix = "issue a new client certificate and fuse a new release before then: apps carrying this one stop connecting"
		}
		k.Problems = append(k.Problems, doctorProblem{Severity: "warning", Message: p.Message, Fix: fix, Line: p.Line, Col: p.Col, Path: p.Path})
	}
}

// doctorPackage tells what the input package is and opens it.
func doctorPackage(path string) *doctorCheck {
	k := newCheck("package", path)
	f, err := inputFormat(path)
	if err != nil {
		k.fail(err, "pass an APK, an Android App Bundle (.aab) or an IPA, as built (not re-zipped)")
		return k
	}
	k.Facts["format"] = string(f)
	var c io.Closer
	switch f {
	case sniff.APK:
		c, err = apk.Open(path)
	case sniff.AAB:
		c, err = aab.Open(path)
	case sniff.IPA:
		c, err = ipa.Open(path)
	}
	if err != nil {
		k.fail(err, "rebuild the package; `trustfuse inspect` shows what it holds")
		return k
	}
	c.Close()
	return k
}

// printDoctor writes one block per check: status and file, the facts, then
// each problem and its fix.
func printDoctor(w io.Writer, r *doctorResult) {
	for _, k := range r.Checks {
		head := k.Check
		if k.File != "" {
			head += " " + k.File
		}
		fmt.Fprintf(w, "%-7s %s\n", k.Status, head)
		for _, name := range slices.Sorted(maps.Keys(k.Facts)) {
			fmt.Fprintf(w, "        %s: %s\n", name, k.Facts[name])
		}
		for _, p := range k.Problems {
			where := ""
			if p.Line > 0 {
				where = fmt.Sprintf("%s:%d:%d: ", k.File, p.Line, p.Col)
			}
			if p.Path != "" {
				where += p.Path + ": "
			}
			fmt.Fprintf(w, "        %s: %s%s\n", p.Severity, where, p.Message)
			fmt.Fprintf(w, "          fix: %s\n", p.Fix)
		}
	}
}
