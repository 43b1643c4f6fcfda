package cms

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
)

// FORMAT: X.690 BER and DER. A value is tag, length, contents. BER allows
// what DER forbids: lengths in more bytes than needed, the indefinite length
// (0x80, contents ended by 00 00) for constructed values, strings split into
// constructed segments, and any non-zero byte for BOOLEAN TRUE. BERToDER
// removes those four; it does not know the schema, so it leaves SET element
// order and DEFAULT values as they are.
//
// Apple's CMS encoder writes the SignedData of a code signature in BER with
// indefinite lengths (a real 2015 iPhone Developer signature does). The
// signature covers the DER encoding of the signed attributes (RFC 5652
// §5.4), so re-encoding the whole as DER changes nothing it covers; openssl
// cms -cmsout -outform DER gives the same bytes as BERToDER for that
// signature. Java's
// certificate reader, which Android's v1 signature check follows, also
// falls back to BER (pkg/apksig).

// errBER reports input that is not BER.
var errBER = errors.New("cms: malformed BER")

// berMaxDepth bounds the nesting BERToDER follows; certificates and CMS
// SignedData need < 16.
const berMaxDepth = 64

// BERToDER re-encodes one BER value as DER (DER input comes back
// unchanged). It fails on trailing bytes, truncated input, nesting deeper
// than berMaxDepth and an indefinite length on a primitive value.
func BERToDER(b []byte) ([]byte, error) {
	out, rest, err := berValue(b, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the value", errBER, len(rest))
	}
	return out, nil
}

// SplitBER splits b, a run of BER values (a SET OF's contents), into the
// values' original encodings, failing as BERToDER does.
func SplitBER(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		_, rest, err := berValue(b, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, b[:len(b)-len(rest)])
		b = rest
	}
	return out, nil
}

// berHeader reads a tag and length. The tag bytes are returned as read;
// length is -1 for the indefinite form.
func berHeader(b []byte) (tag []byte, constructed bool, length int, rest []byte, err error) {
	if len(b) < 2 {
		return nil, false, 0, nil, fmt.Errorf("%w: truncated header", errBER)
	}
	n := 1
	if b[0]&0x1f == 0x1f { // high tag number: base-128 bytes, last without 0x80
		for {
			if n >= len(b) || n > 5 {
				return nil, false, 0, nil, fmt.Errorf("%w: bad tag", errBER)
			}
			n++
			if b[n-1]&0x80 == 0 {
				break
			}
		}
	}
	tag, constructed = b[:n], b[0]&0x20 != 0
	if n >= len(b) {
		return nil, false, 0, nil, fmt.Errorf("%w: truncated header", errBER)
	}
	l := b[n]
	n++
	switch {
	case l < 0x80:
		length = int(l)
	case l == 0x80:
		if !constructed {
			return nil, false, 0, nil, fmt.Errorf("%w: indefinite length on a primitive value", errBER)
		}
		length = -1
	default:
		k := int(l & 0x7f)
		if k > 4 || n+k > len(b) {
			return nil, false, 0, nil, fmt.Errorf("%w: bad length", errBER)
		}
		for _, c := range b[n : n+k] {
			length = length<<8 | int(c)
		}
		n += k
	}
	if length > len(b)-n {
		return nil, false, 0, nil, fmt.Errorf("%w: length %d beyond the input", errBER, length)
	}
	return tag, constructed, length, b[n:], nil
}

// berValue re-encodes the value at the start of b and returns the rest.
func berValue(b []byte, depth int) (der, rest []byte, err error) {
	if depth > berMaxDepth {
		return nil, nil, fmt.Errorf("%w: nested deeper than %d", errBER, berMaxDepth)
	}
	tag, constructed, length, rest, err := berHeader(b)
	if err != nil {
		return nil, nil, err
	}
	if !constructed {
		content := rest[:length]
		if len(tag) == 1 && tag[0] == asn1.TagBoolean && len(content) == 1 && content[0] != 0 {
			content = []byte{0xff}
		}
		return tlv(tag, content), rest[length:], nil
	}
	var children [][]byte
	body := rest
	if length >= 0 {
		body = rest[:length]
	}
	for {
		if length < 0 {
			if len(body) >= 2 && body[0] == 0 && body[1] == 0 {
				body = body[2:]
				break
			}
		} else if len(body) == 0 {
			break
		}
		var child []byte
		if child, body, err = berValue(body, depth+1); err != nil {
			return nil, nil, err
		}
		children = append(children, child)
	}
	if length >= 0 {
		body = rest[length:]
	}
	// A constructed universal string is its segments' contents joined, in
	// the primitive form DER requires.
	if len(tag) == 1 && tag[0]&0xc0 == 0 && berStringTag(tag[0]&0x1f) {
		return berJoinString(tag[0]&^0x20, children, body)
	}
	return tlv(tag, bytes.Join(children, nil)), body, nil
}

// berStringTag reports whether a universal tag number is a string type that
// BER may split into segments.
func berStringTag(n byte) bool {
	switch n {
	case asn1.TagBitString, asn1.TagOctetString, asn1.TagUTF8String, asn1.TagPrintableString,
		asn1.TagT61String, asn1.TagIA5String, asn1.TagUTCTime, asn1.TagGeneralizedTime,
		asn1.TagGeneralString, asn1.TagBMPString, 26 /* VisibleString */, 28 /* UniversalString */ :
		return true
	}
	return false
}

// berJoinString joins the already re-encoded segments of a constructed
// string into one primitive value with tag (the primitive tag byte). A BIT
// STRING segment starts with its count of unused bits, which only the last
// segment may have.
func berJoinString(tag byte, segments [][]byte, rest []byte) ([]byte, []byte, error) {
	var content []byte
	if tag == asn1.TagBitString {
		content = []byte{0}
	}
	for i, s := range segments {
		var seg asn1.RawValue
		if _, err := asn1.Unmarshal(s, &seg); err != nil || seg.Class != asn1.ClassUniversal || seg.Tag != int(tag) || seg.IsCompound {
			return nil, nil, fmt.Errorf("%w: segment of a constructed string is not of its type", errBER)
		}
		if tag != asn1.TagBitString {
			content = append(content, seg.Bytes...)
			continue
		}
		if len(seg.Bytes) == 0 || (seg.Bytes[0] != 0 && i != len(segments)-1) || seg.Bytes[0] > 7 {
			return nil, nil, fmt.Errorf("%w: bad BIT STRING segment", errBER)
		}
		content[0] = seg.Bytes[0]
		content = append(content, seg.Bytes[1:]...)
	}
	return tlv([]byte{tag}, content), rest, nil
}

// tlv encodes tag (as read, high tag numbers included), the DER length of
// content, and content.
func tlv(tag, content []byte) []byte {
	out := append([]byte(nil), tag...)
	switch n := len(content); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 1<<8:
		out = append(out, 0x81, byte(n))
	case n < 1<<16:
		out = append(out, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		out = append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, content...)
}
