package fusionset

import "bytes"

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
