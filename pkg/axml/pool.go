package axml

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// String pool flags (ResStringPool_header.flags).
const (
	poolSorted = 1 << 0 // SORTED_FLAG: index sorted by string value
	poolUTF8   = 1 << 8 // UTF8_FLAG: strings are UTF-8, else UTF-16
)

const (
	poolHeaderSize = 28
	spanEnd        = 0xFFFFFFFF // ResStringPool_span::END
	maxShortLen    = 0x7FFF     // longest length a UTF-8 pool entry can state
)

// poolString is one entry of the pool: its bytes exactly as stored (length
// prefix, data and terminator) and its decoded value.
type poolString struct {
	raw []byte
	s   string
}

// span is a ResStringPool_span: the string index of a style tag name and the
// range of characters it covers.
type span struct {
	name, first, last uint32
}

// stringPool is the document's ResStringPool chunk.
//
// The model (header, entries in index order, styles, padding) re-encodes the
// chunk exactly as aapt and aapt2 lay it out. A pool laid out differently
// (shared or unordered offsets, gaps) is kept as raw bytes until it is edited,
// then written in the canonical layout.
type stringPool struct {
	headerSize uint16
	hdrExtra   []byte // header bytes past the 28-byte ResStringPool_header
	flags      uint32
	strs       []poolString
	styles     [][]span // styles[i] applies to strs[i]
	strPad     []byte   // bytes between the last string and the styles (or chunk end)
	styleTail  []byte   // bytes after the last style (aapt writes two END words)
	canonPad   bool     // recompute strPad (set once the pool is edited)
	shared     bool     // some entries share their bytes: write those once
	raw        []byte   // original chunk, written as is while unedited; nil if the model reproduces it
}

func (p *stringPool) isUTF8() bool { return p.flags&poolUTF8 != 0 }

// str returns the decoded string at idx, or "" for none or out of range.
func (p *stringPool) str(idx uint32) string {
	if idx >= uint32(len(p.strs)) {
		return ""
	}
	return p.strs[idx].s
}

// decodePool decodes the string pool chunk c (bounds already checked against
// its chunk header) found at document offset base.
//
// FORMAT: ResStringPool_header (AOSP ResourceTypes.h), little-endian:
//
//	 0 ResChunk_header  {u16 type = 0x0001; u16 headerSize = 28; u32 size}
//	 8 u32 stringCount
//	12 u32 styleCount
//	16 u32 flags         SORTED_FLAG 1<<0, UTF8_FLAG 1<<8
//	20 u32 stringsStart  offset of the string data from the chunk start
//	24 u32 stylesStart   offset of the style data from the chunk start (0 if none)
//	headerSize:  u32 stringOffsets[stringCount]  relative to stringsStart
//	             u32 styleOffsets[styleCount]    relative to stylesStart
//	stringsStart: the strings, padded with zeros to 4 bytes:
//	   UTF-16: u16 length in units (high bit set: 15 high bits, then a u16
//	           with the low 16), the units, u16 0
//	   UTF-8:  UTF-16 length, then UTF-8 byte length, each one byte or two
//	           (high bit set: 15 bits, big end first), the bytes, u8 0
//	stylesStart: per style, ResStringPool_span {u32 name; u32 firstChar;
//	           u32 lastChar}... closed by u32 END (0xFFFFFFFF); aapt adds two
//	           more END words after the last style.
func decodePool(c []byte, base int) (*stringPool, error) {
	size := len(c)
	hs := int(le16(c[2:]))
	if hs < poolHeaderSize {
		return nil, formatErr(base+2, ErrStringPool, "header size %d, want at least %d", hs, poolHeaderSize)
	}
	nStr, nSty := le32(c[8:]), le32(c[12:])
	flags := le32(c[16:])
	strStart, styStart := uint64(le32(c[20:])), uint64(le32(c[24:]))
	tableEnd := uint64(hs) + 4*(uint64(nStr)+uint64(nSty))
	if tableEnd > uint64(size) {
		return nil, formatErr(base+8, ErrStringPool, "%d strings and %d styles do not fit in a %d-byte chunk", nStr, nSty, size)
	}
	p := &stringPool{headerSize: uint16(hs), hdrExtra: c[poolHeaderSize:hs], flags: flags}
	strEnd := uint64(size)
	if nSty > 0 {
		if styStart < tableEnd || styStart > uint64(size) {
			return nil, formatErr(base+24, ErrStringPool, "styles start %d outside [%d, %d]", styStart, tableEnd, size)
		}
		strEnd = styStart
	}
	if nStr > 0 {
		if strStart < tableEnd || strStart > strEnd {
			return nil, formatErr(base+20, ErrStringPool, "strings start %d outside [%d, %d]", strStart, tableEnd, strEnd)
		}
		data := c[strStart:strEnd]
		isUTF8 := flags&poolUTF8 != 0
		p.strs = make([]poolString, nStr)
		// aapt lays entries out in index order. Entries that share an offset
		// share one decoded string; entries that overlap otherwise could make
		// decoding quadratic, so then the decoded total is capped in
		// proportion to the data.
		var seen map[int]int
		budget := 4*len(data) + 4096
		last := 0
		for i := range int(nStr) {
			o := int(le32(c[hs+4*i:]))
			if o < 0 || o >= len(data) {
				return nil, formatErr(base+hs+4*i, ErrStringPool, "string %d offset %d outside %d bytes of string data", i, o, len(data))
			}
			if o < last && seen == nil {
				seen = make(map[int]int, i)
				for j := range i {
					if k := int(le32(c[hs+4*j:])); seen[k] == 0 {
						seen[k] = j + 1
					}
				}
			}
			if j := seen[o]; j > 0 {
				p.strs[i] = p.strs[j-1]
				p.shared = true
				continue
			}
			n, s, ok := decodeString(data[o:], isUTF8)
			if !ok {
				return nil, formatErr(base+int(strStart)+o, ErrStringPool, "string %d overruns the string data", i)
			}
			if budget -= n; budget < 0 {
				return nil, formatErr(base+hs+4*i, ErrStringPool, "overlapping strings decode to more than 4 times the string data")
			}
			if seen != nil {
				seen[o] = i + 1
			}
			p.strs[i] = poolString{raw: data[o : o+n], s: s}
			last = max(last, o+n)
		}
		p.strPad = data[last:]
	}
	if nSty > 0 {
		sd := c[styStart:]
		p.styles = make([][]span, nSty)
		last, spans := 0, 0
		for j := range int(nSty) {
			at := hs + 4*(int(nStr)+j)
			pos := int(le32(c[at:]))
			if pos < 0 || pos >= len(sd) {
				return nil, formatErr(base+at, ErrStringPool, "style %d offset %d outside %d bytes of style data", j, pos, len(sd))
			}
			var list []span
			for {
				if pos+4 > len(sd) {
					return nil, formatErr(base+int(styStart)+pos, ErrStringPool, "style %d has no END marker", j)
				}
				name := le32(sd[pos:])
				if name == spanEnd {
					pos += 4
					break
				}
				if pos+12 > len(sd) {
					return nil, formatErr(base+int(styStart)+pos, ErrStringPool, "style %d span truncated", j)
				}
				if spans++; 12*spans > len(sd) {
					return nil, formatErr(base+at, ErrStringPool, "styles overlap: more spans than the style data holds")
				}
				if name >= nStr {
					return nil, formatErr(base+int(styStart)+pos, ErrStringIndex, "style %d span name %d, pool has %d strings", j, name, nStr)
				}
				list = append(list, span{name, le32(sd[pos+4:]), le32(sd[pos+8:])})
				pos += 12
			}
			p.styles[j] = list
			last = max(last, pos)
		}
		p.styleTail = sd[last:]
	}
	if !bytes.Equal(p.appendTo(make([]byte, 0, size)), c) {
		p.raw = c
	}
	return p, nil
}

// decodeString decodes the pool entry at the start of b and returns its
// encoded length (prefix, data and terminator) and value.
func decodeString(b []byte, isUTF8 bool) (n int, s string, ok bool) {
	if isUTF8 {
		pos, _, ok := utf8Len(b, 0) // UTF-16 length: informational
		if !ok {
			return 0, "", false
		}
		pos, n8, ok := utf8Len(b, pos)
		if !ok || n8 > len(b)-pos-1 {
			return 0, "", false
		}
		return pos + n8 + 1, decodeUTF8(b[pos : pos+n8]), true
	}
	if len(b) < 2 {
		return 0, "", false
	}
	units, pos := int(le16(b)), 2
	if units&0x8000 != 0 {
		if len(b) < 4 {
			return 0, "", false
		}
		units, pos = (units&0x7FFF)<<16|int(le16(b[2:])), 4
	}
	if units > (len(b)-pos)/2-1 {
		return 0, "", false
	}
	return pos + 2*units + 2, decodeUTF16(b[pos : pos+2*units]), true
}

// utf8Len reads a UTF-8 pool length (one byte, or two with the high bit set).
func utf8Len(b []byte, pos int) (next, n int, ok bool) {
	if pos >= len(b) {
		return 0, 0, false
	}
	n = int(b[pos])
	if n&0x80 == 0 {
		return pos + 1, n, true
	}
	if pos+1 >= len(b) {
		return 0, 0, false
	}
	return pos + 2, (n&0x7F)<<8 | int(b[pos+1]), true
}

// decodeUTF8 converts the data of a UTF-8 pool entry to a Go string. Besides
// standard UTF-8 it accepts what Android's own converters accept and older
// aapt writes: surrogates encoded one by one in three bytes (CESU-8), joined
// back into their character, and NUL as C0 80. Other invalid bytes become
// U+FFFD (the entry's raw bytes are kept regardless).
func decodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	u := make([]uint16, 0, len(b))
	for i := 0; i < len(b); {
		switch {
		case b[i] == 0xED && i+2 < len(b) && b[i+1]&0xE0 == 0xA0 && b[i+2]&0xC0 == 0x80:
			u = append(u, 0xD000|uint16(b[i+1]&0x3F)<<6|uint16(b[i+2]&0x3F))
			i += 3
		case b[i] == 0xC0 && i+1 < len(b) && b[i+1] == 0x80:
			u = append(u, 0)
			i += 2
		default:
			r, n := utf8.DecodeRune(b[i:])
			u = utf16.AppendRune(u, r)
			i += n
		}
	}
	return string(utf16.Decode(u))
}

// decodeUTF16 converts little-endian UTF-16 to a Go string; unpaired
// surrogates become U+FFFD (the entry's raw bytes are kept regardless).
func decodeUTF16(b []byte) string {
	ascii := true
	for i := 0; i < len(b); i += 2 {
		if b[i+1] != 0 || b[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		var sb strings.Builder
		sb.Grow(len(b) / 2)
		for i := 0; i < len(b); i += 2 {
			sb.WriteByte(b[i])
		}
		return sb.String()
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = le16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// encodeString encodes s as a pool entry.
func encodeString(s string, isUTF8 bool) ([]byte, error) {
	if isUTF8 {
		n16 := 0
		for _, r := range s {
			n16 += utf16.RuneLen(r)
		}
		if n16 > maxShortLen || len(s) > maxShortLen {
			return nil, ErrTooLarge
		}
		b := make([]byte, 0, len(s)+5)
		b = appendUTF8Len(b, n16)
		b = appendUTF8Len(b, len(s))
		b = append(b, s...)
		return append(b, 0), nil
	}
	u := utf16.Encode([]rune(s)) // invalid UTF-8 becomes U+FFFD

	if len(u) > 0x7FFFFFFF {
		return nil, ErrTooLarge
	}
	b := make([]byte, 0, 2*len(u)+6)
	if len(u) > maxShortLen {
		b = binary.LittleEndian.AppendUint16(b, uint16(0x8000|len(u)>>16))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(u)))
	} else {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(u)))
	}
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return binary.LittleEndian.AppendUint16(b, 0), nil
}

func appendUTF8Len(b []byte, n int) []byte {
	if n > 0x7F {
		return append(b, byte(0x80|n>>8), byte(n))
	}
	return append(b, byte(n))
}

// appendTo writes the chunk (see decodePool for the layout).
func (p *stringPool) appendTo(b []byte) []byte {
	if p.raw != nil {
		return append(b, p.raw...)
	}
	start := len(b)
	nStr, nSty := len(p.strs), len(p.styles)
	strStart := int(p.headerSize) + 4*(nStr+nSty)
	// Entries decoded from one offset are written once, at one offset.
	var at map[*byte]int
	if p.shared {
		at = make(map[*byte]int)
	}
	offs := make([]uint32, nStr)
	dataLen := 0
	for i, s := range p.strs {
		if at != nil {
			if o, ok := at[&s.raw[0]]; ok {
				offs[i] = uint32(o)
				continue
			}
			at[&s.raw[0]] = dataLen
		}
		offs[i] = uint32(dataLen)
		dataLen += len(s.raw)
	}
	pad := p.strPad
	if p.canonPad {
		pad = make([]byte, (4-dataLen%4)%4)
	}
	styStart := 0
	if nSty > 0 {
		styStart = strStart + dataLen + len(pad)
	}
	b = appendHeader(b, typeStringPool, p.headerSize)
	b = le32Append(b, uint32(nStr), uint32(nSty), p.flags, uint32(strStart), uint32(styStart))
	b = append(b, p.hdrExtra...)
	b = le32Append(b, offs...)
	off := 0
	for _, st := range p.styles {
		b = le32Append(b, uint32(off))
		off += 12*len(st) + 4
	}
	written := 0
	for i, s := range p.strs {
		if int(offs[i]) == written { // not a repeat of an entry already written
			b = append(b, s.raw...)
			written += len(s.raw)
		}
	}
	b = append(b, pad...)
	for _, st := range p.styles {
		for _, sp := range st {
			b = le32Append(b, sp.name, sp.first, sp.last)
		}
		b = le32Append(b, spanEnd)
	}
	b = append(b, p.styleTail...)
	return patchSize(b, start)
}

// edited drops the raw copy: from now on the pool is written from the model
// in the canonical layout, and it is no longer sorted.
func (p *stringPool) edited() {
	p.raw = nil
	p.canonPad = true
	p.flags &^= poolSorted
}

// insert puts s at index at, shifting later strings (and their styles) up by
// one; the caller remaps every string reference in the document.
func (p *stringPool) insert(at int, s string) error {
	raw, err := encodeString(s, p.isUTF8())
	if err != nil {
		return err
	}
	p.strs = slices.Insert(p.strs, at, poolString{raw: raw, s: s})
	if at < len(p.styles) {
		p.styles = slices.Insert(p.styles, at, nil)
	}
	for _, st := range p.styles {
		for k := range st {
			st[k].name = shift(st[k].name, uint32(at))
		}
	}
	p.edited()
	return nil
}

// The pool's own references (style span names) move in insert.
func (p *stringPool) remap(uint32)           {}
func (p *stringPool) checkRefs(uint32) error { return nil }

// shift returns the index a reference idx takes after a string is inserted at at.
func shift(idx, at uint32) uint32 {
	if idx != noIndex && idx >= at {
		return idx + 1
	}
	return idx
}
