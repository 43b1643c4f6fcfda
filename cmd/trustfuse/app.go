package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/pkg/sniff"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// appName is the program name used in help and in every error line.
const appName = "trustfuse"

// flagOrderNote is repeated in help and README: urfave/cli v2 stops parsing
// flags at the first positional argument.
const flagOrderNote = "Flags go before positional arguments: `trustfuse inspect --json app.apk`, " +
	"not `trustfuse inspect app.apk --json`."

// newApp builds the trustfuse command-line app. Results and help go to stdout,
// logs and progress to stderr. Every command is wired here, in one place.
//
// The app never prints errors or calls os.Exit itself: RunContext returns the
// error and execute prints it once and maps it to an exit code.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:        appName,
		HelpName:    appName,
		Usage:       "protect and re-sign Android apps (APK)",
		UsageText:   appName + " [global options] command [command options] [arguments...]",
		Description: flagOrderNote + "\n\nExit codes: 0 ok, 1 internal error, 2 usage or invalid input, 3 verification failed, 4 signing credential problem.",
		Writer:      stdout,
		ErrWriter:   stderr,
		HideVersion: true, // `trustfuse version` is the one way to ask
		// Answers `... --generate-bash-completion`, which the bash and zsh
		// scripts of `trustfuse completion` run.
		EnableBashCompletion: true,
		// urfave adds -h/--help only with its own help command, replaced below.
		Flags: []cli.Flag{jsonFlag(), cli.HelpFlag},
		Commands: []*cli.Command{
			// Planned (DESIGN §1): init-fusion-set, validate, inspect, fuse,
			// sign, verify, serve, guard. Add each here as it lands.
			initFusionSetCommand(), validateCommand(),
			inspectCommand(),
			fuseCommand(),
			signCommand(),
			verifyCommand(),
			serveCommand(),
			releasesCommand(),
			guardCommand(),
			reportCommand(),
			doctorCommand(),
			completionCommand(),
			versionCommand(),
			helpCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			return usageErrorf(c, "unknown command %q", c.Args().First())
		},
		// Reached only through `-h` followed by an argument that is not a
		// subcommand (`trustfuse version -h x`); urfave would fail with exit
		// code 3, we show the help that was asked for.
		CommandNotFound: func(c *cli.Context, _ string) {
			if commandPath(c) == "" {
				_ = cli.ShowAppHelp(c)
				return
			}
			_ = cli.ShowSubcommandHelp(c)
		},
		// Printing belongs to execute: this keeps urfave from printing an
		// error a second time or calling os.Exit.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
	}
	wire(app.Commands)
	return app
}

// wire applies the settings every command shares: usage errors become
// *usageError (exit 2) instead of urfave's "Incorrect Usage" + help on stdout,
// and leaf commands get no "help" subcommand (`trustfuse inspect help` must
// not mean help).
func wire(cmds []*cli.Command) {
	for _, cmd := range cmds {
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = onUsageError
		}
		if len(cmd.Subcommands) == 0 {
			cmd.HideHelpCommand = true
		}
		wire(cmd.Subcommands)
	}
}

// onUsageError turns a flag-parsing error (unknown flag, bad value) into a
// *usageError naming the command.
func onUsageError(c *cli.Context, err error, _ bool) error {
	return &usageError{cmd: commandPath(c), err: err}
}

// helpCommand replaces urfave's built-in help command, whose "No help topic"
// error carries exit code 3 (our "verification failed").
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the list of commands or help for one command",
		ArgsUsage: "[command]",
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 1); err != nil {
				return err
			}
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			name := c.Args().First()
			if c.App.Command(name) == nil {
				return usageErrorf(c, "unknown command %q", name)
			}
			return cli.ShowCommandHelp(c, name)
		},
	}
}

// execute runs app and returns the exit code. An error is printed to stderr
// once, as "trustfuse: <message>". A panic is reported as an internal error;
// its value and stack are printed only when showPanic is set (TRUSTFUSE_DEBUG=1),
// since they may contain paths or data the user did not ask to see.
func execute(ctx context.Context, app *cli.App, args []string, stderr io.Writer, showPanic bool) (code int) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		code = exitInternal
		if showPanic {
			fmt.Fprintf(stderr, "%s: internal error: panic: %v\n\n%s", appName, r, debug.Stack())
			return
		}
		fmt.Fprintf(stderr, "%s: internal error (run with TRUSTFUSE_DEBUG=1 for details)\n", appName)
	}()
	err := app.RunContext(ctx, args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", appName, err)
	}
	return exitCode(err)
}

// jsonFlag is the --json flag. The app has it as a global flag
// (`trustfuse --json version`); commands that print results add their own copy
// so that `trustfuse version --json` works too. Read it with wantJSON.
func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON on stdout"}
}

// wantJSON reports whether --json was given to the command or globally.
func wantJSON(c *cli.Context) bool {
	// c.Bool looks the flag up from c upwards and stops at the first command
	// that defines it, so ask every level of the lineage.
	for _, l := range c.Lineage() {
		if l.Bool("json") {
			return true
		}
	}
	return false
}

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

// checkArgs checks the number of positional arguments (max < 0: no limit).
// It recognises a flag written after a positional argument, which urfave/cli
// v2 takes as an argument, and says where flags go.
func checkArgs(c *cli.Context, minArgs, maxArgs int) error {
	args := c.Args().Slice()
	for i, a := range args {
		if i > 0 && len(a) > 1 && strings.HasPrefix(a, "-") {
			return usageErrorf(c, "flag %q after a positional argument: flags go before positional arguments", a)
		}
	}
	switch n := len(args); {
	case n < minArgs && minArgs == maxArgs:
		return usageErrorf(c, "expected %s, got %d", plural(minArgs, "argument"), n)
	case n < minArgs:
		return usageErrorf(c, "expected at least %s, got %d", plural(minArgs, "argument"), n)
	case maxArgs >= 0 && n > maxArgs && maxArgs == 0:
		return usageErrorf(c, "unexpected argument %q", args[0])
	case maxArgs >= 0 && n > maxArgs:
		return usageErrorf(c, "expected at most %s, got %d", plural(maxArgs, "argument"), n)
	}
	return nil
}

// plural formats "1 argument" / "2 arguments".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// commandPath is the command's name below the app ("", "version", "fusion-set
// validate"), for error messages.
func commandPath(c *cli.Context) string {
	if c == nil || c.Command == nil {
		return ""
	}
	name := c.Command.HelpName
	if name == "" {
		name = c.Command.Name
	}
	return strings.TrimSpace(strings.TrimPrefix(name, appName))
}

// inputFormat tells what the package at path is (pkg/sniff: APK, App
// Bundle, IPA), so that inspect, sign and verify hand it to the right code.
// It reads ZIP64 (an IPA may need it); the APK and bundle openers refuse it.
func inputFormat(path string) (sniff.Format, error) {
	z, err := zipx.OpenZip64(path)
	if err != nil {
		return "", err
	}
	defer z.Close()
	f, err := sniff.Detect(z.Reader)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
