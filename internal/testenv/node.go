package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RunNode runs script with Node.js (`node -e script args…`, so the script
// finds args in process.argv.slice(1)) and returns its standard output; it
// fails the test if node exits non-zero. The script's require() resolves
// the npm packages pinned in scripts/npm-oracles (NODE_PATH is their
// node_modules, installed on first use by scripts/fetch-real-apps.sh npm):
// macho-entitlements, macho-is-encrypted, app-info-parser and plist, the iOS
// format oracles of DESIGN §5. What the script writes to standard error
// goes to the test log only when node fails.
func RunNode(t testing.TB, script string, args ...string) string {
	t.Helper()
	node := Tool(t, "node")
	modules := fetchReal(t, "npm")[0]
	cmd := exec.Command(node, append([]string{"-e", script}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node -e %q %s: %v\n%s", script, strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out)
}
