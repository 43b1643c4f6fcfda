package guard

import (
	"testing"

	"github.com/trustfuse/trustfuse/internal/guardtest"
)

// Short names for the shared test helpers.
var (
	t0       = guardtest.T0
	newClock = guardtest.NewClock
	newPKI   = guardtest.NewPKI
	newJWKS  = guardtest.NewJWKS
	signWith = guardtest.SignWith
)

func newSigner(t testing.TB, kid string) guardtest.Signer { return guardtest.NewSigner(t, kid) }

// logBuffer collects the guard's log lines.
type logBuffer = guardtest.LogBuffer
