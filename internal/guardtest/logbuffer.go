package guardtest

import (
	"log/slog"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// LogBuffer collects a guard's log lines; it is safe for concurrent use.
type LogBuffer struct {
	testenv.SyncBuffer
}

// Logger is a text logger at debug level writing to l.
func (l *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
