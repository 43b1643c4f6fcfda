package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunNode: every package scripts/npm-oracles pins resolves from a
// RunNode script at the version its package-lock.json records, and the
// script gets its arguments.
func TestRunNode(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(Root(t), "scripts", "npm-oracles", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(raw, &lock); err != nil {
		t.Fatal(err)
	}
	var names []string
	for key := range lock.Packages {
		if name, ok := strings.CutPrefix(key, "node_modules/"); ok {
			names = append(names, name)
		}
	}
	out := RunNode(t, `for (const n of process.argv.slice(1)) console.log(n, require(n + "/package.json").version)`, names...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(names) {
		t.Fatalf("node printed %d lines for %d packages:\n%s", len(lines), len(names), out)
	}
	for i, l := range lines {
		if want := names[i] + " " + lock.Packages["node_modules/"+names[i]].Version; l != want {
			t.Errorf("node: %q, want %q", l, want)
		}
	}
	for _, top := range []string{"macho-entitlements", "macho-is-encrypted", "app-info-parser", "plist"} {
		if _, ok := lock.Packages["node_modules/"+top]; !ok {
			t.Errorf("scripts/npm-oracles pins no %s", top)
		}
	}
}
