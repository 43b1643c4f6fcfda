package jsonpos

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestLineCol(t *testing.T) {
	data := []byte("\xEF\xBB\xBFab\ncé\u20acd\n")
	tests := []struct{ off, line, col int }{
		{3, 1, 1}, {4, 1, 2}, {6, 2, 1}, {7, 2, 2}, {9, 2, 3}, {12, 2, 4}, {14, 3, 1}, {100, 3, 1},
	}
	for _, tt := range tests {
		if l, c := LineCol(data, tt.off); l != tt.line || c != tt.col {
			t.Errorf("LineCol(%d) = %d:%d, want %d:%d", tt.off, l, c, tt.line, tt.col)
		}
	}
}

func TestDisplayPath(t *testing.T) {
	kind := map[string]byte{"": '{', "/a": '[', "/a/0": '{', "/x~1y": '['}
	for ptr, want := range map[string]string{
		"":             "$",
		"/a":           "$.a",
		"/a/0":         "$.a[0]",
		"/a/0/b c":     `$.a[0]["b c"]`,
		"/x~1y/3":      `$["x/y"][3]`,
		"/t~0":         `$["t~"]`,
		"/$schema":     "$.$schema",
		"/9lives":      `$["9lives"]`,
		"/a/0/under_1": "$.a[0].under_1",
	} {
		if got := DisplayPath(ptr, kind); got != want {
			t.Errorf("DisplayPath(%q) = %s, want %s", ptr, got, want)
		}
	}
}

// TestIndex: offsets of values and keys by pointer, counted by hand in doc;
// a missing member locates at its nearest existing parent; repeated keys
// are recorded at the later key.
func TestIndex(t *testing.T) {
	doc := []byte("{\"a\": [1, {\"b~/c\": true}],\n \"a\": null, \"x\": {}}")
	ix, err := Build(doc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ptr      string
		value    int
		key      int
		wantKind byte
	}{
		{"", 0, 0, '{'},
		{"/a", 33, 28, 0}, // the later "a" wins, as in encoding/json
		{"/a/1/b~0~1c", 19, 11, 0},
		{"/a/1", 10, 10, '{'},
		{"/x", 44, 39, '{'},
		{"/x/missing", 44, 44, 0},
	}
	for _, tt := range tests {
		if got := ix.Locate(tt.ptr); got != tt.value {
			t.Errorf("Locate(%q) = %d, want %d", tt.ptr, got, tt.value)
		}
		if got := ix.LocateKey(tt.ptr); got != tt.key {
			t.Errorf("LocateKey(%q) = %d, want %d", tt.ptr, got, tt.key)
		}
		if tt.wantKind != 0 && ix.Kind[tt.ptr] != tt.wantKind {
			t.Errorf("Kind[%q] = %q, want %q", tt.ptr, ix.Kind[tt.ptr], tt.wantKind)
		}
	}
	if len(ix.Dups) != 1 || ix.Dups[0].Ptr != "/a" || ix.Dups[0].Off != 28 {
		t.Errorf("Dups = %+v, want one at /a, offset 28", ix.Dups)
	}
	if _, err := Build([]byte(strings.Repeat("[", MaxDepth+2) + strings.Repeat("]", MaxDepth+2))); !errors.Is(err, ErrTooDeep) {
		t.Errorf("Build of a too deep document: %v, want ErrTooDeep", err)
	}
}

// TestSyntaxOffset: the offset of the offending byte, or the end for a
// truncated document.
func TestSyntaxOffset(t *testing.T) {
	for _, tt := range []struct {
		doc  string
		want int
	}{
		{`{"a" 1}`, 5},
		{`{"a": tru}`, 9},
		{`{"a": [1, 2`, 11},
	} {
		var v any
		off, ok := SyntaxOffset([]byte(tt.doc), json.Unmarshal([]byte(tt.doc), &v))
		if !ok || off != tt.want {
			t.Errorf("SyntaxOffset(%q) = %d, %v, want %d", tt.doc, off, ok, tt.want)
		}
	}
	if _, ok := SyntaxOffset(nil, nil); ok {
		t.Error("SyntaxOffset(nil error) reports a position")
	}
}
