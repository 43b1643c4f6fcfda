package plistx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// pythonPlist returns what Python's plistlib (an independent encoder)
// writes for the Python expression expr, in format fmt ("XML", "BINARY").
func pythonPlist(t *testing.T, expr, format string) []byte {
	t.Helper()
	py := testenv.Tool(t, "/usr/bin/python3")
	out, err := exec.Command(py, "-c", "import plistlib, sys\nsys.stdout.buffer.write(plistlib.dumps("+expr+", fmt=plistlib.FMT_"+format+"))").Output()
	if err != nil {
		t.Fatalf("plistlib: %v", err)
	}
	return out
}

// nested is a Python expression for an array nested n levels deep.
func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestUnmarshalAccepts(t *testing.T) {
	const expr = `{"CFBundleIdentifier": "com.example.demo", "list": [1, 2, {"a": True}], "deep": ` + "[[[[[[[[[[1]]]]]]]]]]" + `}`
	want := map[string]any{
		"CFBundleIdentifier": "com.example.demo",
		"list":               []any{uint64(1), uint64(2), map[string]any{"a": true}},
		"deep":               []any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{uint64(1)}}}}}}}}}},
	}
	for _, format := range []string{"XML", "BINARY"} {
		t.Run(format, func(t *testing.T) {
			var got map[string]any
			if err := Unmarshal(pythonPlist(t, expr, format), &got, 1<<20); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v\nwant %#v", got, want)
			}
		})
	}
	// The deepest nesting allowed, in both formats.
	for _, format := range []string{"XML", "BINARY"} {
		var v any
		if err := Unmarshal(pythonPlist(t, nested(MaxDepth), format), &v, 1<<20); err != nil {
			t.Errorf("%s nested %d levels: %v", format, MaxDepth, err)
		}
	}
}

// binaryPlist assembles a binary plist from raw objects (each starting with
// its marker byte) with 1-byte offsets and references; top is object 0.
func binaryPlist(objs ...[]byte) []byte {
	b := []byte("bplist00")
	var offs []byte
	for _, o := range objs {
		offs = append(offs, byte(len(b)))
		b = append(b, o...)
	}
	table := len(b)
	b = append(b, offs...)
	tr := make([]byte, 32)
	tr[6], tr[7] = 1, 1
	binary.BigEndian.PutUint64(tr[8:], uint64(len(objs)))
	binary.BigEndian.PutUint64(tr[24:], uint64(table))
	return append(b, tr...)
}

func TestUnmarshalRefuses(t *testing.T) {
	huge := strings.Repeat("<array>", 1_000_000) + strings.Repeat("</array>", 1_000_000)
	cases := []struct {
		name, want string
		data       func(t *testing.T) []byte
	}{
		{"too large", "exceed the 64-byte limit", func(*testing.T) []byte { return bytes.Repeat([]byte(" "), 65) }},
		{"XML too deep", "nested more than", func(t *testing.T) []byte { return pythonPlist(t, nested(MaxDepth+1), "XML") }},
		{"binary too deep", "nested more than", func(t *testing.T) []byte { return pythonPlist(t, nested(MaxDepth+1), "BINARY") }},
		// A million levels: howett.net/plist alone dies of a stack overflow.
		{"XML a million levels", "nested more than", func(*testing.T) []byte {
			return []byte(`<?xml version="1.0"?><plist version="1.0">` + huge + `</plist>`)
		}},
		{"binary cycle", "reference cycle", func(*testing.T) []byte { return binaryPlist([]byte{0xA1, 1}, []byte{0xA1, 0}) }},
		{"binary self reference", "reference cycle", func(*testing.T) []byte { return binaryPlist([]byte{0xA1, 0}) }},
		{"binary reference out of range", "refers to object 5", func(*testing.T) []byte { return binaryPlist([]byte{0xA1, 5}) }},
		{"binary count past the objects", "run past the object area", func(*testing.T) []byte { return binaryPlist([]byte{0xAE, 0}) }},
		{"binary object outside the object area", "outside the object area", func(*testing.T) []byte {
			b := binaryPlist([]byte{0x08})
			b[len(b)-33] = 0xF0 // the one offset
			return b
		}},
		{"binary trailer", "trailer", func(*testing.T) []byte {
			b := binaryPlist([]byte{0x08})
			b[len(b)-26] = 9 // offsetIntSize
			return b
		}},
		{"binary too short", "too short", func(*testing.T) []byte { return []byte("bplist00") }},
		{"OpenStep text", "not an XML or binary plist", func(*testing.T) []byte { return []byte(`{ a = b; }`) }},
		{"other XML", "top element <html>", func(*testing.T) []byte { return []byte(`<html></html>`) }},
		{"malformed XML value", "invalid property list", func(*testing.T) []byte { return []byte(`<plist><integer>x</integer></plist>`) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limit := 16 << 20
			if tc.name == "too large" {
				limit = 64
			}
			var v any
			err := Unmarshal(tc.data(t), &v, limit)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Unmarshal = %v, want ErrInvalid saying %q", err, tc.want)
			}
		})
	}
}

// FuzzUnmarshal: whatever the input, Unmarshal returns (never a stack
// overflow or a hang) and its errors are ErrInvalid.
func FuzzUnmarshal(f *testing.F) {
	f.Add(binaryPlist([]byte{0xA1, 1}, []byte{0x09}))
	f.Add(binaryPlist([]byte{0xD1, 1, 2}, []byte{0x51, 'a'}, []byte{0x08}))
	f.Add([]byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>a</key><array><true/></array></dict></plist>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if err := Unmarshal(b, &v, 1<<20); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v is not ErrInvalid", err)
		}
	})
}
