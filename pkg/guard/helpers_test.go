package guard

import (
	"bytes"
	"log/slog"
	"sync"
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
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
