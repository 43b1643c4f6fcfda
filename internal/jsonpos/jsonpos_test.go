package jsonpos

import "testing"

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
