package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// TestCLIDocJSON checks docs/cli.md against the command tree: every command
// that has a --json flag has a "### `trustfuse CMD --json`" section, every
// such section names a command that has one, and every command is in the
// overview table.
func TestCLIDocJSON(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.Root(t), "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^### `trustfuse (.+) --json`$").FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = true
	}
	var withJSON []string
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden || c.Name == "help" {
				continue
			}
			path := strings.TrimSpace(prefix + " " + c.Name)
			if slices.ContainsFunc(c.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), "json") }) {
				withJSON = append(withJSON, path)
			}
			walk(path, c.Subcommands)
		}
	}
	app := newApp(io.Discard, io.Discard)
	walk("", app.Commands)
	if len(withJSON) < 9 {
		t.Fatalf("found %d commands with --json (%v): the walk is broken", len(withJSON), withJSON)
	}
	for _, path := range withJSON {
		if !documented[path] {
			t.Errorf("docs/cli.md: no section \"### `trustfuse %s --json`\"", path)
		}
		delete(documented, path)
	}
	for path := range documented {
		t.Errorf("docs/cli.md documents `trustfuse %s --json`, but that command has no --json flag", path)
	}
	for _, c := range app.Commands {
		if !c.Hidden && c.Name != "help" && !strings.Contains(doc, "\n| `"+c.Name) {
			t.Errorf("docs/cli.md: command %q is not in the overview table", c.Name)
		}
	}
}

// TestFlagPlaceholders: every flag's help placeholder (the first `quoted`
// word of its usage, which urfave prints after the flag name) is one
// upper-case word such as FILE or REF, not prose like "trustfuse serve".
func TestFlagPlaceholders(t *testing.T) {
	placeholder := regexp.MustCompile(`^\S*[A-Z]\S*$`) // FILE, REF, FILE.plist, [BUNDLE_ID=]FILE.mobileprovision
	quoted := regexp.MustCompile("`([^`]*)`")          // urfave takes the first back-quoted text
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			path := strings.TrimSpace(prefix + " " + c.Name)
			for _, f := range c.Flags {
				df, ok := f.(cli.DocGenerationFlag)
				if !ok || !df.TakesValue() {
					continue
				}
				if m := quoted.FindStringSubmatch(df.GetUsage()); m != nil && !placeholder.MatchString(m[1]) {
					name := m[1]
					t.Errorf("%s --%s: help placeholder %q, want one upper-case word such as FILE", path, f.Names()[0], name)
				}
			}
			walk(path, c.Subcommands)
		}
	}
	walk("", newApp(io.Discard, io.Discard).Commands)
}
