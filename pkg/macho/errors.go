package macho

import (
	"errors"
	"fmt"
)

// Sentinel errors. Problems with the input come wrapped in a *FormatError
// carrying the byte offset in the file, so callers test the kind with
// errors.Is.
var (
	ErrNotMachO   = errors.New("macho: not a Mach-O or fat (universal) file")
	ErrTruncated  = errors.New("macho: truncated file")
	ErrLoadCmds   = errors.New("macho: load commands run past the header or the file")
	ErrFatSlices  = errors.New("macho: bad fat (universal) slice table")
	ErrMalformed  = errors.New("macho: malformed Mach-O")
	ErrLayout     = errors.New("macho: layout cannot be signed")
	ErrNoRoom     = errors.New("macho: no header padding for another load command")
	ErrTooLarge   = errors.New("macho: signature does not fit the file format")
	ErrSignerSize = errors.New("macho: signer returned a blob larger than it reserved")

	// ErrEncrypted is a FairPlay-encrypted slice (LC_ENCRYPTION_INFO cryptid ≠ 0).
	ErrEncrypted = errors.New("macho: binary is FairPlay-encrypted (an App Store download); re-signing needs the IPA from the build (Xcode archive or CI export), not from the App Store")
)

// FormatError reports an input that cannot be read or signed: the byte offset
// in the file where the problem was found and its kind (one of the sentinels
// above, reachable with errors.Is).
type FormatError struct {
	Offset int64  // byte offset in the file (not the slice)
	Detail string // human-readable detail, may be ""
	Err    error  // one of the Err* sentinels, or a wrapped debug/macho error
}

// Error formats the kind, the detail and the offset.
func (e *FormatError) Error() string {
	msg := e.Err.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return fmt.Sprintf("%s (at offset %d)", msg, e.Offset)
}

// Unwrap returns the sentinel kind.
func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(off int64, err error, detail string, args ...any) *FormatError {
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	return &FormatError{Offset: off, Detail: detail, Err: err}
}
