package attest

import (
	"os/exec"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// runOpenSSL runs openssl and returns its combined output and exit error.
func runOpenSSL(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, "openssl"), args...).CombinedOutput()
	return string(out), err
}
