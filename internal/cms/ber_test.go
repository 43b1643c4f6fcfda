package cms

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"testing"
)

func TestBERToDER(t *testing.T) {
	tests := []struct {
		name    string
		in, out []byte
	}{
		{"DER unchanged", []byte{0x30, 0x03, 0x02, 0x01, 0x05}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{"long-form length", []byte{0x30, 0x84, 0, 0, 0, 4, 0x02, 0x81, 0x01, 0x05}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{"indefinite length", []byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{"nested indefinite", []byte{0x30, 0x80, 0x31, 0x80, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00}, []byte{0x30, 0x04, 0x31, 0x02, 0x05, 0x00}},
		{"constructed OCTET STRING", []byte{0x24, 0x80, 0x04, 0x01, 'a', 0x04, 0x02, 'b', 'c', 0x00, 0x00}, []byte{0x04, 0x03, 'a', 'b', 'c'}},
		{"constructed BIT STRING", []byte{0x23, 0x09, 0x03, 0x02, 0x00, 0xaa, 0x03, 0x03, 0x04, 0xbb, 0xc0}, []byte{0x03, 0x04, 0x04, 0xaa, 0xbb, 0xc0}},
		{"BOOLEAN true as 0x01", []byte{0x01, 0x01, 0x01}, []byte{0x01, 0x01, 0xff}},
		{"context tag kept", []byte{0xa0, 0x81, 0x03, 0x02, 0x01, 0x02}, []byte{0xa0, 0x03, 0x02, 0x01, 0x02}},
	}
	for _, tc := range tests {
		got, err := BERToDER(tc.in)
		if err != nil || !bytes.Equal(got, tc.out) {
			t.Errorf("%s: %x, %v; want %x", tc.name, got, err, tc.out)
		}
	}
	bad := map[string][]byte{
		"truncated":                   {0x30, 0x05, 0x02, 0x01},
		"indefinite primitive":        {0x04, 0x80, 0x00, 0x00},
		"no end of contents":          {0x30, 0x80, 0x02, 0x01, 0x05},
		"trailing bytes":              {0x05, 0x00, 0x00},
		"length of 5 bytes":           {0x04, 0x85, 0, 0, 0, 0, 1, 0},
		"segment of another type":     {0x24, 0x03, 0x0c, 0x01, 'a'},
		"unused bits before the last": {0x23, 0x08, 0x03, 0x02, 0x01, 0xaa, 0x03, 0x02, 0x00, 0xbb},
		"too deep":                    bytes.Repeat([]byte{0x30, 0x80}, berMaxDepth+2),
	}
	for name, in := range bad {
		if out, err := BERToDER(in); !errors.Is(err, errBER) {
			t.Errorf("%s: %x, %v; want errBER", name, out, err)
		}
	}
}

// FuzzBERToDER checks that the normaliser never panics, that its output is
// DER (encoding/asn1 reads it back whole) and that DER is a fixed point.
func FuzzBERToDER(f *testing.F) {
	f.Add([]byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00})
	f.Add([]byte{0x24, 0x80, 0x04, 0x01, 'a', 0x04, 0x02, 'b', 'c', 0x00, 0x00})
	f.Add([]byte{0x30, 0x84, 0, 0, 0, 4, 0x02, 0x81, 0x01, 0x05})
	f.Add([]byte{0x23, 0x09, 0x03, 0x02, 0x00, 0xaa, 0x03, 0x03, 0x04, 0xbb, 0xc0})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := BERToDER(in)
		if err != nil {
			return
		}
		if len(out) > 2*len(in)+8 {
			t.Fatalf("output %d bytes from %d", len(out), len(in))
		}
		again, err := BERToDER(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not a fixed point: %x -> %x (%v)", out, again, err)
		}
		var v asn1.RawValue
		if rest, err := asn1.Unmarshal(out, &v); err == nil && len(rest) > 0 {
			t.Fatalf("encoding/asn1 leaves %d bytes of %x", len(rest), out)
		}
	})
}

// TestSplitBER: a run of values comes back as the values' own bytes, BER
// forms kept; a truncated run fails.
func TestSplitBER(t *testing.T) {
	a, b := []byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00}, []byte{0x04, 0x81, 0x01, 'x'}
	got, err := SplitBER(append(bytes.Clone(a), b...))
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) {
		t.Errorf("SplitBER: %x, %v", got, err)
	}
	if got, err := SplitBER(append(bytes.Clone(a), b[:3]...)); !errors.Is(err, errBER) {
		t.Errorf("truncated second value: %x, %v", got, err)
	}
}
