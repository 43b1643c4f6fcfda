package keyattest

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// CBOR decoder caps: App Attest objects are a few KiB (two certificates, a
// receipt of about 4 KiB, 160 bytes of authenticator data) and three levels
// deep.
const (
	maxCBORSize  = 64 << 10 // bytes of input
	maxCBORDepth = 4        // nested maps and arrays
	maxCBORItems = 16       // elements of one array or pairs of one map
)

// decodeCBOR decodes data, which must be exactly one CBOR item, into
// map[string]any, []any, []byte, string or uint64.
//
// FORMAT: CBOR (RFC 8949 §3). Each item starts with a byte whose top three
// bits are the major type and whose low five bits are the argument: 0-23
// inline, 24/25/26/27 for a 1/2/4/8-byte big-endian argument that follows.
// Only the subset App Attest uses is accepted: major type 0 (unsigned
// integer = argument), 2 (byte string of argument bytes), 3 (UTF-8 text of
// argument bytes), 4 (array of argument items) and 5 (map of argument
// key/value pairs, keys text). Strict: the argument must use its shortest
// form (RFC 8949 §4.2.1, which Apple's encoder follows), indefinite lengths,
// tags, negative integers, floats and simple values are refused, as are
// duplicate map keys and bytes after the item. Bounded by maxCBORSize,
// maxCBORDepth and maxCBORItems; a length larger than the bytes left is
// refused before anything is allocated.
func decodeCBOR(data []byte) (any, error) {
	if len(data) > maxCBORSize {
		return nil, fmt.Errorf("CBOR is %d bytes, more than %d", len(data), maxCBORSize)
	}
	d := cborDecoder{data: data}
	v, err := d.item(0)
	if err != nil {
		return nil, err
	}
	if d.off != len(data) {
		return nil, fmt.Errorf("CBOR: %d bytes after the item at offset %d", len(data)-d.off, d.off)
	}
	return v, nil
}

type cborDecoder struct {
	data []byte
	off  int
}

func (d *cborDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("CBOR at offset %d: %s", d.off, fmt.Sprintf(format, args...))
}

// head reads an item's initial byte and argument.
func (d *cborDecoder) head() (major byte, arg uint64, err error) {
	if d.off >= len(d.data) {
		return 0, 0, d.errorf("truncated")
	}
	b := d.data[d.off]
	major, info := b>>5, b&0x1f
	if info < 24 {
		d.off++
		return major, uint64(info), nil
	}
	if info > 27 {
		return 0, 0, d.errorf("indefinite length or reserved argument 0x%02x", b)
	}
	n := 1 << (info - 24)
	if len(d.data)-d.off-1 < n {
		return 0, 0, d.errorf("truncated argument")
	}
	p := d.data[d.off+1 : d.off+1+n]
	switch n {
	case 1:
		arg = uint64(p[0])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(p))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(p))
	default:
		arg = binary.BigEndian.Uint64(p)
	}
	if (n == 1 && arg < 24) || (n > 1 && arg < 1<<(4*n)) {
		return 0, 0, d.errorf("argument %d not in its shortest form", arg)
	}
	d.off += 1 + n
	return major, arg, nil
}

func (d *cborDecoder) item(depth int) (any, error) {
	start := d.off
	major, arg, err := d.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case 0:
		return arg, nil
	case 2, 3:
		if arg > uint64(len(d.data)-d.off) {
			d.off = start
			return nil, d.errorf("string of %d bytes, only %d left", arg, len(d.data)-d.off)
		}
		b := d.data[d.off : d.off+int(arg)]
		d.off += int(arg)
		if major == 3 {
			if !utf8.Valid(b) {
				d.off = start
				return nil, d.errorf("text is not UTF-8")
			}
			return string(b), nil
		}
		return b, nil
	case 4, 5:
		if depth >= maxCBORDepth {
			d.off = start
			return nil, d.errorf("nested deeper than %d", maxCBORDepth)
		}
		if arg > maxCBORItems {
			d.off = start
			return nil, d.errorf("%d elements, more than %d", arg, maxCBORItems)
		}
		if major == 4 {
			out := make([]any, 0, arg)
			for range arg {
				v, err := d.item(depth + 1)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			return out, nil
		}
		out := make(map[string]any, arg)
		for range arg {
			at := d.off
			k, err := d.item(depth + 1)
			if err != nil {
				return nil, err
			}
			key, ok := k.(string)
			if !ok {
				d.off = at
				return nil, d.errorf("map key is %T, want text", k)
			}
			if _, dup := out[key]; dup {
				d.off = at
				return nil, d.errorf("duplicate map key %q", key)
			}
			if out[key], err = d.item(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	default:
		d.off = start
		return nil, d.errorf("major type %d not accepted (tag, negative integer, float or simple value)", major)
	}
}
