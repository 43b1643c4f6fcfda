package zipx

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by NewReader wraps one of them inside a
// *FormatError, so callers can test the kind with errors.Is and still report
// the byte offset.
var (
	ErrNotZip            = errors.New("zip: not a ZIP archive (no end of central directory record)")
	ErrTruncated         = errors.New("zip: truncated archive")
	ErrZip64             = errors.New("zip: ZIP64 archive: Android does not read ZIP64 APKs (its APK signature verifier and apksig refuse them)")
	ErrZip64Format       = errors.New("zip: malformed ZIP64 record")
	ErrMultiDisk         = errors.New("zip: multi-disk archives are not supported")
	ErrComment           = errors.New("zip: archive comment is ambiguous (contains an end of central directory signature)")
	ErrTrailingData      = errors.New("zip: data after the end of central directory record")
	ErrCentralDirectory  = errors.New("zip: malformed central directory")
	ErrDuplicateName     = errors.New("zip: duplicate entry name")
	ErrUnsafeName        = errors.New("zip: unsafe entry name")
	ErrNameMismatch      = errors.New("zip: local header name differs from central directory name")
	ErrHeaderMismatch    = errors.New("zip: local header disagrees with central directory")
	ErrUnsupportedMethod = errors.New("zip: unsupported compression method")
	ErrEncrypted         = errors.New("zip: encrypted entries are not supported")
	ErrSizeMismatch      = errors.New("zip: entry sizes do not agree")
	ErrOverlap           = errors.New("zip: entries overlap")
	ErrUnaccountedData   = errors.New("zip: data outside any entry")
	ErrBomb              = errors.New("zip: compression ratio exceeds limit")
	ErrSigningBlock      = errors.New("zip: malformed APK Signing Block")
	ErrChecksum          = errors.New("zip: CRC-32 mismatch")
)

// FormatError reports a malformed or rejected archive: the offending entry (if
// any), the byte offset where the problem was found, and the kind (a sentinel
// above, reachable with errors.Is).
type FormatError struct {
	Offset int64  // byte offset in the archive
	Entry  string // entry name, "" for archive-level problems
	Detail string // extra human-readable detail, may be ""
	Err    error  // one of the Err* sentinels
}

func (e *FormatError) Error() string {
	msg := e.Err.Error()
	if e.Entry != "" {
		msg += fmt.Sprintf(" %q", e.Entry)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return fmt.Sprintf("%s (at offset %d)", msg, e.Offset)
}

func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(off int64, entry string, err error, detail string, args ...any) *FormatError {
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	return &FormatError{Offset: off, Entry: entry, Detail: detail, Err: err}
}
