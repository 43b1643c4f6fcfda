// Command trustfuse protects and re-signs Android apps (APK): it fuses a
// client-certificate vault and runtime checks into a package, signs it with
// APK Signature Schemes v1–v3 and writes a verifiable report.
//
// main only runs the app and exits; the commands are wired in app.go and
// errors are mapped to exit codes in exitcodes.go.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) }

// run executes the command line args (args[0] is the program name) and returns
// the process exit code. TRUSTFUSE_DEBUG=1 prints panic details and the stack.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return execute(ctx, newApp(stdout, stderr), args, stderr, os.Getenv("TRUSTFUSE_DEBUG") == "1")
}
