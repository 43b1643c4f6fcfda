// Package plistx decodes property lists that come from untrusted input
// (an IPA's Info.plist, a provisioning profile, a code signature's
// entitlements) with howett.net/plist, after checking what that decoder
// cannot survive: it recurses once per nesting level, so a deeply nested
// plist exhausts the goroutine stack (a fatal error, not a panic), and a
// binary plist whose objects refer to each other in a cycle never ends.
//
// Only the two formats Apple writes into apps are accepted: XML and binary
// ("bplist00"). Sizes, nesting depth and cycles are checked before
// decoding; the checks are iterative and linear in the input.
package plistx

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"howett.net/plist"
)

// MaxDepth bounds the nesting of arrays and dictionaries. Real plists nest
// a few levels; a limit this generous refuses only crafted input.
const MaxDepth = 128

// ErrInvalid reports a plist refused before or while decoding: too large,
// too deep, cyclic, not XML or binary, or malformed. The message says
// which.
var ErrInvalid = errors.New("plist: invalid property list")

// Unmarshal decodes data into v (as plist.Unmarshal does) after checking
// that data is at most maxSize bytes, is an XML or binary plist, nests at
// most MaxDepth levels and, if binary, has no reference cycle.
func Unmarshal(data []byte, v any, maxSize int) error {
	if len(data) > maxSize {
		return fmt.Errorf("%w: %d bytes exceed the %d-byte limit", ErrInvalid, len(data), maxSize)
	}
	var err error
	if bytes.HasPrefix(data, []byte("bplist00")) {
		err = checkBinary(data)
	} else {
		err = checkXML(data)
	}
	if err != nil {
		return err
	}
	if _, err := plist.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// checkXML walks the XML tokens: the document must be a <plist> element
// whose element nesting stays within MaxDepth (plist, then the values).
func checkXML(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	depth, sawPlist := 0, false
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: not an XML or binary plist: %w", ErrInvalid, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if t.Name.Local != "plist" || sawPlist {
					return fmt.Errorf("%w: not an XML or binary plist (top element <%s>)", ErrInvalid, t.Name.Local)
				}
				sawPlist = true
			}
			depth++
			if depth > MaxDepth+1 {
				return fmt.Errorf("%w: nested more than %d levels", ErrInvalid, MaxDepth)
			}
		case xml.EndElement:
			depth--
		}
	}
	if !sawPlist {
		return fmt.Errorf("%w: not an XML or binary plist (no <plist> element)", ErrInvalid)
	}
	return nil
}

// FORMAT: binary plist ("bplist00"), as CoreFoundation writes it. The last
// 32 bytes are the trailer: 6 unused bytes, sortVersion, offsetIntSize,
// objectRefSize, then big-endian uint64 numObjects, topObject and
// offsetTableOffset. The offset table holds numObjects offsets of
// offsetIntSize bytes. An object starts with a marker byte: high nibble 0xA
// array, 0xC set, 0xD dictionary (others are scalars); the low nibble is
// the count, or 0xF and the count follows as an integer object (marker
// 0x1n, 2^n big-endian bytes). An array or set holds count object
// references of objectRefSize bytes; a dictionary count key references,
// then count value references.

// checkBinary checks the trailer and offset table and walks the object
// graph from the top object without recursion: every reference in range,
// no cycle, longest path at most MaxDepth containers.
func checkBinary(data []byte) error {
	const header, trailerLen = 8, 32
	if len(data) < header+trailerLen {
		return fmt.Errorf("%w: binary plist too short", ErrInvalid)
	}
	tr := data[len(data)-trailerLen:]
	offSize, refSize := int(tr[6]), int(tr[7])
	num, top, table := binary.BigEndian.Uint64(tr[8:]), binary.BigEndian.Uint64(tr[16:]), binary.BigEndian.Uint64(tr[24:])
	end := uint64(len(data) - trailerLen)
	switch {
	case offSize < 1 || offSize > 8 || refSize < 1 || refSize > 8:
		return fmt.Errorf("%w: binary plist trailer: offset size %d, reference size %d", ErrInvalid, offSize, refSize)
	case num == 0 || top >= num:
		return fmt.Errorf("%w: binary plist trailer: top object %d of %d", ErrInvalid, top, num)
	case table < header || table > end || (end-table)/uint64(offSize) < num:
		return fmt.Errorf("%w: binary plist offset table out of range", ErrInvalid)
	}
	readUint := func(b []byte) uint64 {
		var v uint64
		for _, c := range b {
			v = v<<8 | uint64(c)
		}
		return v
	}
	offset := func(i uint64) uint64 { return readUint(data[table+i*uint64(offSize):][:offSize]) }
	// children returns the references an object holds (nil for scalars).
	children := func(i uint64) ([]uint64, error) {
		off := offset(i)
		if off < header || off >= table {
			return nil, fmt.Errorf("%w: binary plist object %d at offset %d outside the object area", ErrInvalid, i, off)
		}
		marker := data[off]
		kind := marker >> 4
		if kind != 0xA && kind != 0xC && kind != 0xD {
			return nil, nil
		}
		count, pos := uint64(marker&0xF), off+1
		if count == 0xF {
			if pos >= table || data[pos]>>4 != 0x1 {
				return nil, fmt.Errorf("%w: binary plist object %d: bad count", ErrInvalid, i)
			}
			n := uint64(1) << (data[pos] & 0xF)
			if n > 8 || pos+1+n > table {
				return nil, fmt.Errorf("%w: binary plist object %d: bad count", ErrInvalid, i)
			}
			count, pos = readUint(data[pos+1:pos+1+n]), pos+1+n
		}
		refs := count
		if kind == 0xD {
			refs = 2 * count
		}
		if count > table || refs > (table-pos)/uint64(refSize) {
			return nil, fmt.Errorf("%w: binary plist object %d: %d references run past the object area", ErrInvalid, i, refs)
		}
		out := make([]uint64, refs)
		for k := range out {
			r := readUint(data[pos+uint64(k*refSize):][:refSize])
			if r >= num {
				return nil, fmt.Errorf("%w: binary plist object %d refers to object %d of %d", ErrInvalid, i, r, num)
			}
			out[k] = r
		}
		return out, nil
	}
	// Iterative depth-first search with three colours; height[i] is the
	// number of containers on the longest path down from i.
	const (
		white = iota
		grey
		black
	)
	colour := make([]uint8, num)
	height := make([]int, num)
	type frame struct {
		obj  uint64
		kids []uint64
		next int
	}
	stack := []frame{}
	push := func(i uint64) error {
		kids, err := children(i)
		if err != nil {
			return err
		}
		colour[i] = grey
		stack = append(stack, frame{obj: i, kids: kids})
		if len(stack) > MaxDepth+1 {
			return fmt.Errorf("%w: nested more than %d levels", ErrInvalid, MaxDepth)
		}
		return nil
	}
	if err := push(top); err != nil {
		return err
	}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.next == len(f.kids) {
			h := 0
			if f.kids != nil {
				h = 1
				for _, k := range f.kids {
					h = max(h, 1+height[k])
				}
			}
			if h > MaxDepth {
				return fmt.Errorf("%w: nested more than %d levels", ErrInvalid, MaxDepth)
			}
			height[f.obj], colour[f.obj] = h, black
			stack = stack[:len(stack)-1]
			continue
		}
		k := f.kids[f.next]
		f.next++
		switch colour[k] {
		case grey:
			return fmt.Errorf("%w: binary plist object %d refers back to itself (a reference cycle)", ErrInvalid, k)
		case white:
			if err := push(k); err != nil {
				return err
			}
		}
	}
	return nil
}
