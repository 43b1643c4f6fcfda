// Package jcs writes JSON in the canonical form of RFC 8785 (JSON
// Canonicalization Scheme), so that digests of JSON documents (the Fusion
// Set, the attestation measurement) can be recomputed by anyone with any
// JCS implementation.
package jcs

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Canonical returns a decoded JSON value (from a json.Decoder with
// UseNumber: nil, bool, json.Number, string, []any, map[string]any) in
// canonical form.
//
// FORMAT: RFC 8785 (JSON Canonicalization Scheme): no whitespace; object
// members sorted by the UTF-16 code units of their keys; strings escaped
// only where JSON requires it ('"', '\\', and control characters, with the
// short forms \b \t \n \f \r and otherwise \u00xx in lowercase hex); numbers
// as ECMAScript's Number.prototype.toString writes the float64 nearest to
// them (1.0 → 1, 1e21 → 1e+21, 1e-7 → 1e-7).
func Canonical(v any) []byte {
	var b []byte
	return appendCanonical(b, v)
}

// Marshal encodes v with encoding/json and returns it in canonical form.
func Marshal(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return Canonical(doc), nil
}

func appendCanonical(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case json.Number:
		return appendNumber(b, v)
	case float64:
		return appendFloat(b, v)
	case string:
		return AppendString(b, v)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, CompareKeys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, k)
			b = append(b, ':')
			b = appendCanonical(b, v[k])
		}
		return append(b, '}')
	}
	panic("fusionset: canonicalJSON: unexpected type") // decode never yields others
}

// CompareKeys orders object member names as RFC 8785 §3.2.3 does, by
// their UTF-16 code units. ASCII names (the common case) compare as bytes.
func CompareKeys(a, b string) int {
	if isASCII(a) && isASCII(b) {
		return strings.Compare(a, b)
	}
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func appendNumber(b []byte, n json.Number) []byte {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil { // out of float64 range: JCS cannot represent it either
		return append(b, n...)
	}
	return appendFloat(b, f)
}

// appendFloat writes f as ECMAScript's Number.prototype.toString does.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case f == 0:
		return append(b, '0') // also -0
	case math.IsInf(f, 0) || math.IsNaN(f):
		return append(b, "null"...) // not produced by a JSON decoder
	}
	if abs := math.Abs(f); abs >= 1e-6 && abs < 1e21 {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	// Exponent form: Go writes 1e-07 and 1e+21, ECMAScript 1e-7 and 1e+21.
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	sign := exp[0]
	exp = strings.TrimLeft(exp[1:], "0")
	b = append(b, mant...)
	b = append(b, 'e', sign)
	return append(b, exp...)
}

// AppendString appends s as an RFC 8785 string. s must be valid UTF-8
// (what a JSON decoder yields); encoding/json would replace invalid bytes
// first, and Canonical does the same since its input was decoded.
func AppendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' { // a run written as it is (UTF-8 too: the decoder already replaced invalid bytes)
			j := i + 1
			for j < len(s) && s[j] >= 0x20 && s[j] != '"' && s[j] != '\\' {
				j++
			}
			b = append(b, s[i:j]...)
			i = j - 1
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\r':
			b = append(b, '\\', 'r')
		default: // the other control characters
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
	}
	return append(b, '"')
}
