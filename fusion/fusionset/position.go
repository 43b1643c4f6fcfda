package fusionset

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

// maxDepth caps the nesting of a Fusion Set document; the schema needs 4.
const maxDepth = 64

// bom is the UTF-8 byte order mark some editors write at the start of a file.
const bom = "\xEF\xBB\xBF"

// stripComments returns a copy of data in which every `//` line comment
// outside a string, and a leading byte order mark, are replaced by spaces.
// Offsets, lines and columns of everything else are unchanged, so positions
// found in the result are positions in the original file.
//
// FORMAT: JSON (RFC 8259) plus `//` comments running to the end of the line
// (the JSONC subset of VS Code settings). Block comments and trailing commas
// are not accepted.
func stripComments(data []byte) []byte {
	out := bytes.Clone(data)
	i := 0
	if bytes.HasPrefix(out, []byte(bom)) {
		copy(out, "   ")
		i = len(bom)
	}
	inString := false
	for ; i < len(out); i++ {
		c := out[i]
		switch {
		case inString && c == '\\':
			i++ // skip the escaped byte ('"' or '\\' included)
		case c == '"':
			inString = !inString
		case !inString && c == '/' && i+1 < len(out) && out[i+1] == '/':
			for ; i < len(out) && out[i] != '\n' && out[i] != '\r'; i++ {
				out[i] = ' '
			}
		case inString && (c == '\n' || c == '\r'):
			inString = false // JSON strings cannot span lines: resync for the parser's error
		}
	}
	return out
}

// lineCol returns the 1-based line and column of byte offset off in data.
// Columns count characters (runes), not bytes, as editors do; a leading
// byte order mark is not counted. off may be len(data) (end of file).
func lineCol(data []byte, off int) (line, col int) {
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

// index records where each value of a JSON document starts, keyed by its
// JSON pointer ("" for the document, "/mtls/hosts/0"), and where each object
// member's key starts.
type index struct {
	value map[string]int  // pointer → offset of the value's first byte
	key   map[string]int  // pointer → offset of the member's key (objects only)
	kind  map[string]byte // pointer → '{' or '[' for containers
	dups  []dupKey        // members whose key repeats an earlier one
	data  []byte          // the comment-free document
}

// dupKey is an object member whose key appeared before in the same object.
type dupKey struct {
	ptr string
	off int
}

// errTooDeep reports a document nested deeper than maxDepth.
var errTooDeep = errors.New("fusionset: document nested too deeply")

// buildIndex walks data (already checked to be one valid JSON value) with
// encoding/json's tokenizer. Decoder.InputOffset before reading a token is
// the end of the previous one; skipping whitespace and separators from
// there gives the token's first byte.
func buildIndex(data []byte) (*index, error) {
	ix := &index{
		value: map[string]int{},
		key:   map[string]int{},
		kind:  map[string]byte{},
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
func (ix *index) start(off int) int {
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

func (ix *index) walk(dec *json.Decoder, ptr string, depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	off := ix.start(int(dec.InputOffset()))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	ix.value[ptr] = off
	switch tok {
	case json.Delim('{'):
		ix.kind[ptr] = '{'
		seen := map[string]bool{}
		for dec.More() {
			koff := ix.start(int(dec.InputOffset()))
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, ok := kt.(string)
			if !ok {
				return fmt.Errorf("fusionset: object key is %T", kt)
			}
			child := ptr + "/" + escapePointer(k)
			if seen[k] {
				ix.dups = append(ix.dups, dupKey{ptr: child, off: koff})
				// The last occurrence wins in encoding/json; positions
				// point at it too.
			}
			seen[k] = true
			ix.key[child] = koff
			if err := ix.walk(dec, child, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		ix.kind[ptr] = '['
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

// locate returns the offset to report for pointer ptr: the start of its
// value, or for a member that does not exist (a missing required field)
// the start of the nearest enclosing value that does.
func (ix *index) locate(ptr string) int {
	for {
		if off, ok := ix.value[ptr]; ok {
			return off
		}
		i := strings.LastIndexByte(ptr, '/')
		if i < 0 {
			return 0
		}
		ptr = ptr[:i]
	}
}

// locateKey returns the offset of the key of member ptr, or locate(ptr).
func (ix *index) locateKey(ptr string) int {
	if off, ok := ix.key[ptr]; ok {
		return off
	}
	return ix.locate(ptr)
}

// escapePointer escapes one JSON pointer reference token (RFC 6901).
func escapePointer(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// unescapePointer reverses escapePointer.
func unescapePointer(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
}

// pointer joins reference tokens into a JSON pointer.
func pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escapePointer(t))
	}
	return b.String()
}

// displayPath turns a JSON pointer into the $.a.b[0] form used in messages.
// kind tells array elements from object members; keys that are not plain
// identifiers are quoted: $["odd key"].
func displayPath(ptr string, kind map[string]byte) string {
	var b strings.Builder
	b.WriteByte('$')
	if ptr == "" {
		return b.String()
	}
	parent := ""
	for _, raw := range strings.Split(ptr[1:], "/") {
		tok := unescapePointer(raw)
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

// syntaxOffset returns the offset of the byte a JSON syntax error is about.
// encoding/json reports the offset after the offending byte, or the length
// of the input for a truncated document.
func syntaxOffset(data []byte, err error) (int, bool) {
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
