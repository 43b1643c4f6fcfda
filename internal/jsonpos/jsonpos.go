// Package jsonpos finds where things are in a JSON document: the line and
// column of a byte offset, the offset of every value and object key by JSON
// pointer (RFC 6901), and the offset a syntax error is about. Fusion Sets
// (fusion/fusionset) and serve's configuration report problems as
// file:line:col with it.
package jsonpos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth caps the nesting of a document Build indexes.
const MaxDepth = 64

// bom is the UTF-8 byte order mark some editors write at the start of a file.
const bom = "\xEF\xBB\xBF"

// LineCol returns the 1-based line and column of byte offset off in data.
// Columns count characters (runes), not bytes, as editors do; a leading
// byte order mark is not counted. off may be len(data) (end of file).
func LineCol(data []byte, off int) (line, col int) {
	off = max(0, min(off, len(data)))
	head := data[:off]
	line = 1 + bytes.Count(head, []byte("\n"))
	start := bytes.LastIndexByte(head, '\n') + 1
	col = 1 + utf8.RuneCount(head[start:])
	if start == 0 && bytes.HasPrefix(data, []byte(bom)) && off >= len(bom) {
		col--
	}
	return line, col
}

// Index records where each value of a JSON document starts, keyed by its
// JSON pointer ("" for the document, "/mtls/hosts/0"), and where each object
// member's key starts.
type Index struct {
	Value map[string]int  // pointer → offset of the value's first byte
	Key   map[string]int  // pointer → offset of the member's key (objects only)
	Kind  map[string]byte // pointer → '{' or '[' for containers
	Dups  []DupKey        // members whose key repeats an earlier one
	data  []byte          // the indexed document
}

// DupKey is an object member whose key appeared before in the same object.
type DupKey struct {
	Ptr string // the member's pointer
	Off int    // offset of its key
}

// ErrTooDeep reports a document nested deeper than MaxDepth.
var ErrTooDeep = errors.New("jsonpos: document nested too deeply")

// Build indexes data, which must be one valid JSON value (check it with
// encoding/json first), nested at most MaxDepth deep (else ErrTooDeep).
// It walks data with encoding/json's tokenizer. Decoder.InputOffset before reading a token is
// the end of the previous one; skipping whitespace and separators from
// there gives the token's first byte.
func Build(data []byte) (*Index, error) {
	ix := &Index{
		Value: map[string]int{},
		Key:   map[string]int{},
		Kind:  map[string]byte{},
		data:  data,
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := ix.walk(dec, "", 0); err != nil {
		return nil, err
	}
	return ix, nil
}

// start returns the offset of the next token at or after off.
func (ix *Index) start(off int) int {
	for off < len(ix.data) {
		switch ix.data[off] {
		case ' ', '\t', '\n', '\r', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}

func (ix *Index) walk(dec *json.Decoder, ptr string, depth int) error {
	if depth > MaxDepth {
		return ErrTooDeep
	}
	off := ix.start(int(dec.InputOffset()))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	ix.Value[ptr] = off
	switch tok {
	case json.Delim('{'):
		ix.Kind[ptr] = '{'
		seen := map[string]bool{}
		for dec.More() {
			koff := ix.start(int(dec.InputOffset()))
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, ok := kt.(string)
			if !ok {
				return fmt.Errorf("jsonpos: object key is %T", kt)
			}
			child := ptr + "/" + EscapePointer(k)
			if seen[k] {
				ix.Dups = append(ix.Dups, DupKey{Ptr: child, Off: koff})
				// The last occurrence wins in encoding/json; positions
				// point at it too.
			}
			seen[k] = true
			ix.Key[child] = koff
			if err := ix.walk(dec, child, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		ix.Kind[ptr] = '['
		for i := 0; dec.More(); i++ {
			if err := ix.walk(dec, ptr+"/"+strconv.Itoa(i), depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

// Locate returns the offset to report for pointer ptr: the start of its
// value, or for a member that does not exist (a missing required field)
// the start of the nearest enclosing value that does.
func (ix *Index) Locate(ptr string) int {
	for {
		if off, ok := ix.Value[ptr]; ok {
			return off
		}
		i := strings.LastIndexByte(ptr, '/')
		if i < 0 {
			return 0
		}
		ptr = ptr[:i]
	}
}

// LocateKey returns the offset of the key of member ptr, or Locate(ptr).
func (ix *Index) LocateKey(ptr string) int {
	if off, ok := ix.Key[ptr]; ok {
		return off
	}
	return ix.Locate(ptr)
}

// EscapePointer escapes one JSON pointer reference token (RFC 6901).
func EscapePointer(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// UnescapePointer reverses EscapePointer.
func UnescapePointer(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
}

// Pointer joins reference tokens into a JSON pointer.
func Pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(EscapePointer(t))
	}
	return b.String()
}

// DisplayPath turns a JSON pointer into the $.a.b[0] form used in messages.
// kind tells array elements from object members; keys that are not plain
// identifiers are quoted: $["odd key"].
func DisplayPath(ptr string, kind map[string]byte) string {
	var b strings.Builder
	b.WriteByte('$')
	if ptr == "" {
		return b.String()
	}
	parent := ""
	for _, raw := range strings.Split(ptr[1:], "/") {
		tok := UnescapePointer(raw)
		switch {
		case kind[parent] == '[':
			b.WriteString("[" + tok + "]")
		case isIdentifier(tok):
			b.WriteString("." + tok)
		default:
			b.WriteString("[" + strconv.Quote(tok) + "]")
		}
		parent += "/" + raw
	}
	return b.String()
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r == '$' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// SyntaxOffset returns the offset of the byte a JSON syntax error is about.
// encoding/json reports the offset after the offending byte, or the length
// of the input for a truncated document.
func SyntaxOffset(data []byte, err error) (int, bool) {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		off := int(se.Offset)
		if off > 0 && off <= len(data) && !strings.Contains(se.Error(), "unexpected end") {
			off--
		}
		return off, true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return len(data), true
	}
	return 0, false
}
