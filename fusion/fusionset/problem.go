package fusionset

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trustfuse/trustfuse/internal/jsonpos"
)

// ErrInvalid is the sentinel every *ValidationError matches with errors.Is.
var ErrInvalid = errors.New("fusionset: invalid Fusion Set")

// Problem is one thing wrong with (or, as a warning, worth knowing about) a
// Fusion Set, at a place in its file.
type Problem struct {
	// Line and Col locate the value (or, for an unknown field, the key) in
	// the file: 1-based, columns counted in characters. Both are 0 when the
	// problem is about the file as a whole (it cannot be read).
	Line int `json:"line"`
	Col  int `json:"col"`
	// Path names the value in $.a.b[0] form ("$" is the document); for a
	// missing field it names the field, and Line:Col point at the object
	// that lacks it.
	Path string `json:"path"`
	// Message says what is wrong, without the path.
	Message string `json:"message"`

	ptr string // JSON pointer of Path, for ordering and suppression
	off int    // byte offset in the file
}

// String formats the problem as "line:col: $.path: message", leaving out
// the parts it does not have (a syntax error has no path, an unreadable
// file no position).
func (p Problem) String() string {
	s := p.Message
	if p.Path != "" {
		s = p.Path + ": " + s
	}
	if p.Line > 0 {
		s = fmt.Sprintf("%d:%d: %s", p.Line, p.Col, s)
	}
	return s
}

// ValidationError lists every problem found in a Fusion Set. Load returns
// it for any invalid document. When a problem is a credential failure (the
// client certificate's password is wrong, or its secret reference cannot be
// resolved), Cause holds the *keys.CredentialError, and errors.As finds it:
// the CLI maps that to exit code 4, anything else to 2.
type ValidationError struct {
	// File is the Fusion Set's path as given to Load.
	File string
	// Problems are the errors, in file order.
	Problems []Problem
	// Warnings are things that do not make the Fusion Set invalid.
	Warnings []Problem
	// Cause is the credential error among Problems, if any.
	Cause error
}

// Error prints one "file:line:col: $.path: message" line per problem.
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		switch {
		case p.Line == 0 && p.Path == "": // the file itself: the message names it
		case p.Line == 0:
			b.WriteString(e.File + ": ")
		default:
			b.WriteString(e.File + ":")
		}
		b.WriteString(p.String())
	}
	if len(e.Problems) == 0 {
		b.WriteString(e.File + ": invalid Fusion Set")
	}
	return b.String()
}

// Unwrap returns ErrInvalid and the credential error, if any.
func (e *ValidationError) Unwrap() []error {
	if e.Cause == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Cause}
}

// problems collects the problems of one document.
type problems struct {
	ix       *jsonpos.Index // nil before the document parsed
	raw      []byte         // the original file, for line:col
	errs     []Problem
	warnings []Problem
	cause    error
}

// at returns a Problem for the value at pointer ptr.
func (ps *problems) at(ptr string, useKey bool, format string, args ...any) Problem {
	p := Problem{Path: "$", ptr: ptr, Message: fmt.Sprintf(format, args...)}
	if ps.ix != nil {
		p.Path = jsonpos.DisplayPath(ptr, ps.ix.Kind)
		if useKey {
			p.off = ps.ix.LocateKey(ptr)
		} else {
			p.off = ps.ix.Locate(ptr)
		}
	}
	p.Line, p.Col = jsonpos.LineCol(ps.raw, p.off)
	return p
}

// add records an error at the value of ptr.
func (ps *problems) add(ptr, format string, args ...any) {
	ps.errs = append(ps.errs, ps.at(ptr, false, format, args...))
}

// addKey records an error at the key of member ptr.
func (ps *problems) addKey(ptr, format string, args ...any) {
	ps.errs = append(ps.errs, ps.at(ptr, true, format, args...))
}

// warn records a warning at the value of ptr.
func (ps *problems) warn(ptr, format string, args ...any) {
	ps.warnings = append(ps.warnings, ps.at(ptr, false, format, args...))
}

// credential records a credential failure at ptr and keeps it as the cause.
func (ps *problems) credential(ptr string, err error) {
	ps.add(ptr, "%s", err.Error())
	if ps.cause == nil {
		ps.cause = err
	}
}

// blocked reports whether a problem was already found at ptr or at a value
// containing it, so that checking ptr again would only repeat it (or
// misread a value of the wrong type).
func (ps *problems) blocked(ptr string) bool {
	for _, p := range ps.errs {
		if p.ptr == ptr || strings.HasPrefix(ptr, p.ptr+"/") {
			return true
		}
	}
	return false
}

// sorted returns list in file order, duplicates removed.
func sorted(list []Problem) []Problem {
	slices.SortStableFunc(list, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.off, b.off), cmp.Compare(a.ptr, b.ptr))
	})
	return slices.CompactFunc(list, func(a, b Problem) bool {
		return a.off == b.off && a.ptr == b.ptr && a.Message == b.Message
	})
}

// err returns the *ValidationError for the problems found, or nil.
func (ps *problems) err(file string) error {
	if len(ps.errs) == 0 {
		return nil
	}
	return &ValidationError{File: file, Problems: sorted(ps.errs), Warnings: sorted(ps.warnings), Cause: ps.cause}
}
