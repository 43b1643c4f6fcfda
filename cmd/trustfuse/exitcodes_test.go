package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/fusion"
	"github.com/trustfuse/trustfuse/fusion/fusionset"
	"github.com/trustfuse/trustfuse/pkg/aab"
	"github.com/trustfuse/trustfuse/pkg/apk"
	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/report"
	"github.com/trustfuse/trustfuse/pkg/sniff"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

func TestExitCode(t *testing.T) {
	usage := &usageError{cmd: "inspect", err: errors.New("expected 1 argument, got 0")}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"plain error", errors.New("boom"), exitInternal},
		{"usage", usage, exitUsage},
		{"wrapped usage", fmt.Errorf("inspect: %w", usage), exitUsage},
		{"verify", errVerifyFailed, exitVerify},
		{"wrapped verify", fmt.Errorf("app.apk: %w", errVerifyFailed), exitVerify},
		{"joined usage and verify: cause wins", errors.Join(errVerifyFailed, usage), exitUsage},
		{"same text, different error", errors.New("verification failed"), exitInternal},
		// Foreign exit codes are not honoured: the mapping lives here only.
		{"cli.Exit", cli.Exit("no help topic", 3), exitInternal},
		{"context canceled", context.Canceled, exitInternal},
		// Library error types, one row per rule.
		{"zip format", fmt.Errorf("open: %w", &zipx.FormatError{Err: zipx.ErrDuplicateName}), exitUsage},
		{"no manifest", apk.ErrNoManifest, exitUsage},
		{"manifest", &apk.ManifestError{Err: errors.New("bad")}, exitUsage},
		{"bundle format", fmt.Errorf("open: %w", &aab.FormatError{Offset: -1, Err: aab.ErrNoBase}), exitUsage},
		{"unknown package format", fmt.Errorf("x.zip: %w: found readme.txt", sniff.ErrUnknown), exitUsage},
		{"name and content disagree", fmt.Errorf("%w: app.aab is named as a bundle, but it is an APK", sniff.ErrNameMismatch), exitUsage},
		{"signing options", fmt.Errorf("%w: EC v1", apksig.ErrOptions), exitUsage},
		{"unsupported key", apksig.ErrUnsupportedKey, exitCredential},
		{"already fused", fusion.ErrAlreadyFused, exitUsage},
		{"fuse format", fmt.Errorf("x: %w", fusion.ErrFormat), exitUsage},
		{"no Play signing digest", fusion.ErrPlaySigning, exitUsage},
		{"credential", &keys.CredentialError{Kind: keys.ErrBadPassword, Reason: "wrong password"}, exitCredential},
		{"fusion set", &fusionset.ValidationError{}, exitUsage},
		{"report mismatch", &report.MismatchError{Field: "subject"}, exitVerify},
		{"report format", &report.FormatError{Reason: "bad"}, exitUsage},
		{"report signing key", report.ErrSigningKey, exitCredential},
		{"serve config", errServeConfig, exitUsage},
		{"nonce key", fmt.Errorf("nonceKey: %w", errNonceKey), exitCredential},
		{"attest config", attest.ErrConfig, exitUsage},
		{"registry key", attest.ErrRegistryKey, exitCredential},
		{"unknown release", attest.ErrUnknownRelease, exitUsage},
		{"registry", attest.ErrRegistry, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// TestExitCodeUrfave runs real urfave apps into the errors urfave makes
// itself, so an upgrade that changes them fails here.
func TestExitCodeUrfave(t *testing.T) {
	required := &cli.App{
		Name:           appName,
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{
			Name:   "sign",
			Flags:  []cli.Flag{&cli.StringFlag{Name: "keystore", Required: true}},
			Action: func(*cli.Context) error { return nil },
		}},
	}
	tests := []struct {
		name string
		app  *cli.App
		args []string
		want int
	}{
		{"required flag missing", required, []string{appName, "sign"}, exitUsage},
		{"required flag given", required, []string{appName, "sign", "--keystore", "k.p12"}, exitOK},
		{"unknown flag", newApp(io.Discard, io.Discard), []string{appName, "--nope"}, exitUsage},
		{"bad flag value", newApp(io.Discard, io.Discard), []string{appName, "version", "--json=2x"}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.app.Writer, tt.app.ErrWriter = io.Discard, io.Discard
			var stderr bytes.Buffer
			if got := execute(context.Background(), tt.app, tt.args, &stderr, false); got != tt.want {
				t.Errorf("exit code %d, want %d (stderr %q)", got, tt.want, stderr.String())
			}
		})
	}
}

func TestExecutePanic(t *testing.T) {
	panicky := func() *cli.App {
		app := newApp(io.Discard, io.Discard)
		app.Commands = append(app.Commands, &cli.Command{
			Name:   "explode",
			Action: func(*cli.Context) error { panic("secret detail") },
		})
		return app
	}
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprint("debug=", debug), func(t *testing.T) {
			var stderr bytes.Buffer
			code := execute(context.Background(), panicky(), []string{appName, "explode"}, &stderr, debug)
			if code != exitInternal {
				t.Errorf("exit code %d, want %d", code, exitInternal)
			}
			out := stderr.String()
			if !strings.HasPrefix(out, "trustfuse: internal error") {
				t.Errorf("stderr %q, want it to start with \"trustfuse: internal error\"", out)
			}
			if shown := strings.Contains(out, "secret detail"); shown != debug {
				t.Errorf("panic value shown = %v with debug %v:\n%s", shown, debug, out)
			}
			if stack := strings.Contains(out, "goroutine "); stack != debug {
				t.Errorf("stack shown = %v with debug %v:\n%s", stack, debug, out)
			}
		})
	}
}

// TestErrorPrintedOnce checks that urfave prints nothing itself: one line on
// stderr, none on stdout, for errors from flags, actions and Before.
func TestErrorPrintedOnce(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, `trustfuse: unknown command "frobnicate" (see 'trustfuse --help')` + "\n"},
		{"unknown flag", []string{"version", "-x"}, "trustfuse: version: flag provided but not defined: -x (see 'trustfuse version --help')\n"},
		{"action error", []string{"fail"}, "trustfuse: fail: it broke\n"},
		{"before error", []string{"before"}, "trustfuse: before: " + errVerifyFailed.Error() + "\n"},
		// Without ExitErrHandler, urfave would print this itself and os.Exit(3).
		{"cli.Exit", []string{"exit"}, "trustfuse: exit: no\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			app := newApp(&stdout, &stderr)
			app.Commands = append(app.Commands,
				&cli.Command{Name: "fail", Action: func(*cli.Context) error { return errors.New("fail: it broke") }},
				&cli.Command{Name: "exit", Action: func(*cli.Context) error { return cli.Exit("exit: no", 3) }},
				&cli.Command{Name: "before",
					Before: func(*cli.Context) error { return fmt.Errorf("before: %w", errVerifyFailed) },
					Action: func(*cli.Context) error { return nil }},
			)
			execute(context.Background(), app, append([]string{appName}, tt.args...), &stderr, false)
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want empty", stdout.String())
			}
			if stderr.String() != tt.want {
				t.Errorf("stderr = %q, want %q", stderr.String(), tt.want)
			}
		})
	}
}

// TestNoRequiredFlags keeps commands off urfave's `Required: true`, which
// prints the whole help to stdout before the error: check required flags in
// Before and return usageErrorf instead.
func TestNoRequiredFlags(t *testing.T) {
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() {
					t.Errorf("%s%s: flag %v is Required: check it in Before instead", prefix, c.Name, f.Names())
				}
			}
			walk(prefix+c.Name+" ", c.Subcommands)
		}
	}
	walk("", newApp(io.Discard, io.Discard).Commands)
}

func TestCheckArgs(t *testing.T) {
	tests := []struct {
		args     []string
		min, max int
		wantErr  string
	}{
		{nil, 0, 0, ""},
		{[]string{"a"}, 1, 1, ""},
		{[]string{"a", "b", "c"}, 1, -1, ""},
		{[]string{"-"}, 1, 1, ""}, // "-" is stdin, not a flag
		{[]string{"a"}, 0, 0, `unexpected argument "a"`},
		{nil, 1, 1, "expected 1 argument, got 0"},
		{[]string{"a"}, 2, 3, "expected at least 2 arguments, got 1"},
		{[]string{"a", "b"}, 0, 1, "expected at most 1 argument, got 2"},
		{[]string{"a", "--json"}, 1, 2, `flag "--json" after a positional argument`},
	}
	for _, tt := range tests {
		var err error
		app := &cli.App{Name: appName, Writer: io.Discard, ErrWriter: io.Discard,
			ExitErrHandler: func(*cli.Context, error) {},
			Commands: []*cli.Command{{Name: "cmd",
				Action: func(c *cli.Context) error { err = checkArgs(c, tt.min, tt.max); return nil }}},
		}
		if runErr := app.Run(append([]string{appName, "cmd"}, tt.args...)); runErr != nil {
			t.Fatal(runErr)
		}
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("checkArgs(%q, %d, %d) = %v, want nil", tt.args, tt.min, tt.max, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("checkArgs(%q, %d, %d) = %v, want %q", tt.args, tt.min, tt.max, err, tt.wantErr)
		case err != nil && exitCode(err) != exitUsage:
			t.Errorf("checkArgs(%q): exit code %d, want %d", tt.args, exitCode(err), exitUsage)
		}
	}
}
