package axml

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decoding problems come wrapped in a *FormatError carrying
// the byte offset, so callers can test the kind with errors.Is.
var (
	ErrNotXML       = errors.New("axml: not an Android binary XML document")
	ErrTruncated    = errors.New("axml: truncated document")
	ErrChunkSize    = errors.New("axml: bad chunk size")
	ErrStringPool   = errors.New("axml: malformed string pool")
	ErrNoStringPool = errors.New("axml: document has no string pool")
	ErrStringIndex  = errors.New("axml: string index out of range")
	ErrAttribute    = errors.New("axml: malformed attribute list")

	// Editing errors.
	ErrForeign     = errors.New("axml: element belongs to another document")
	ErrNoEndTag    = errors.New("axml: element has no end tag")
	ErrNoRoot      = errors.New("axml: document has no root element")
	ErrTooLarge    = errors.New("axml: value too large for the format")
	ErrNotManifest = errors.New("axml: root element is not <manifest>")
)

// FormatError reports a malformed document: the byte offset where the problem
// was found and its kind (one of the sentinels above, reachable with errors.Is).
type FormatError struct {
	Offset int64  // byte offset in the document
	Detail string // human-readable detail, may be ""
	Err    error  // one of the Err* sentinels
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

func formatErr(off int, err error, detail string, args ...any) *FormatError {
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	return &FormatError{Offset: int64(off), Detail: detail, Err: err}
}
