// Package axml decodes, edits and encodes Android binary XML: the compiled
// AndroidManifest.xml and res/**/*.xml files inside APKs.
//
// Decode followed by Encode reproduces the input byte for byte: the string
// pool (UTF-8 or UTF-16, order, styles, padding), the resource map, namespace
// nodes, line numbers, comments, attribute layout fields, raw typed values,
// unknown chunks, the outer chunk type and trailing bytes are all kept. Decode
// reads what the platform reads (see Decode), including the shapes packers
// give manifests to trip up other tools. Edits (AddElement, SetAttr) keep the string
// pool and the resource map consistent the way aapt2 does: attribute names
// that carry a resource ID sit at the start of the pool in resource-map order,
// and attributes are sorted by resource ID.
//
// The layout follows the AOSP header frameworks/base/libs/androidfw/include/
// androidfw/ResourceTypes.h; each decoder carries a FORMAT comment.
package axml

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Chunk types (ResChunk_header.type).
const (
	typeStringPool     = 0x0001
	typeXML            = 0x0003
	typeStartNamespace = 0x0100
	typeEndNamespace   = 0x0101
	typeStartElement   = 0x0102
	typeEndElement     = 0x0103
	typeCData          = 0x0104
	typeResourceMap    = 0x0180

	// Node types run from RES_XML_FIRST_CHUNK_TYPE to RES_XML_LAST_CHUNK_TYPE;
	// the platform skips the ones it does not know.
	typeFirstNode = 0x0100
	typeLastNode  = 0x017f
)

const (
	chunkHeaderSize = 8
	nodeHeaderSize  = 16 // ResXMLTree_node
	attrExtSize     = 20 // ResXMLTree_attrExt
	attrSize        = 20 // ResXMLTree_attribute
	resValueSize    = 8  // Res_value
	noIndex         = 0xFFFFFFFF
)

// Document is a decoded binary XML document. Its chunks are kept in file
// order; elements form a tree on top of them.
type Document struct {
	typ      uint16  // the outer chunk type: 0x0003, or what a packer wrote
	hdrExtra []byte  // XML header bytes past the 8-byte ResChunk_header
	chunks   []chunk // every chunk in file order, the pool and map included
	tail     []byte  // fewer than 8 bytes left after the last chunk, inside the document
	trailer  []byte  // bytes after the document's declared size
	pool     *stringPool
	resMap   *resMap    // nil if the document has none
	roots    []*Element // top-level elements (normally one)
}

// chunk is one chunk of the document.
type chunk interface {
	// appendTo appends the encoded chunk to b.
	appendTo(b []byte) []byte
	// remap shifts every string index >= at up by one (a string was inserted at at).
	remap(at uint32)
	// checkRefs reports a required string reference (an element or
	// attribute name) that is missing or out of range for a pool of n
	// strings. The others (comments, namespaces, raw values, text, end tag
	// names) may dangle: the platform reads them as absent, and edits keep
	// them dangling.
	checkRefs(n uint32) error
}

// Decode decodes an Android binary XML document. The returned document does
// not alias b. Malformed input yields a *FormatError.
//
// FORMAT: the document is one ResXMLTree_header chunk:
//
//	0 ResChunk_header {u16 type (0x0003); u16 headerSize (8); u32 size}
//	headerSize: child chunks, each starting with a ResChunk_header
//	   {u16 type; u16 headerSize; u32 size (header included)}: normally
//	   the string pool (0x0001), the resource map (0x0180), then XML nodes
//	   (0x0100-0x0104) in document order. Other chunk types are kept raw.
//	size: bytes past it (up to the end of b) are kept as a trailer.
//
// Decode accepts what the platform's parser, ResXMLTree::setTo in
// frameworks/base/libs/androidfw/ResourceTypes.cpp, accepts, and refuses
// what it refuses:
//
//   - The outer type is never checked: packers write 0x0000 or another
//     type there and the device, aapt and aapt2 still read the manifest.
//     It is kept for the round trip. (apksig's AndroidBinXmlParser looks
//     for a top-level 0x0003 chunk instead, so apksigner cannot read
//     minSdkVersion from such a manifest and asks for --min-sdk-version.)
//   - The outer header must satisfy headerSize <= size <= len(b). The
//     platform does not check headerSize >= 8, but a smaller one makes the
//     first child chunk overlap the header, which only a crafted document
//     survives: it is refused as overlapping.
//   - Child chunks are scanned up to the first node, a chunk whose type is
//     in 0x0100-0x017f (RES_XML_FIRST_CHUNK_TYPE..LAST). Before it, every
//     string pool replaces the previous one and every resource map the
//     previous map: the last of each wins. Chunks of other types are
//     skipped. The superseded pools and maps are kept raw and not checked,
//     as the platform never reads them.
//   - A document with no node chunk is refused (ErrNotXML), and so is one
//     whose first node is its last chunk (the scan stops before a chunk
//     that ends the document) or whose nodes come before any string pool
//     (ErrNoStringPool).
//   - From the first node on, pools and maps are ordinary unknown chunks:
//     kept raw, as the platform skips them.
//   - Every chunk needs headerSize >= 8 and headerSize <= size <= the
//     bytes left in the document. Up to the end tag of the first root
//     element, headerSize and size must also be multiples of 4, and from
//     the first node on every chunk, of whatever type, is read as a node
//     (ResXMLTree::validateNode): its headerSize must be at least 16.
//     Past that end tag the platform's manifest parser reads nothing (aapt
//     dump reads on and applies the same rules): later chunks are kept raw.
//   - Bytes after the last chunk that cannot hold a chunk header (fewer
//     than 8) are kept raw.
//
// String references past the end of the pool are read as absent, as the
// platform reads them, and edits keep them past the end; only element and
// attribute names must resolve (aapt refuses those that do not).
// One kind of input the platform reads is refused as dangerous to us:
// attributes that overlap the attribute extension or each other
// (attributeStart or attributeSize below 20: overlapping data, which no
// encoder can reproduce).
func Decode(b []byte) (*Document, error) {
	if len(b) < chunkHeaderSize {
		return nil, formatErr(0, ErrTruncated, "%d bytes, want at least %d", len(b), chunkHeaderSize)
	}
	typ, hs, size := le16(b), int(le16(b[2:])), uint64(le32(b[4:]))
	// An outer header the platform refuses, on a chunk not typed as XML,
	// most likely starts another format (text XML, a PNG, ...).
	outer := func(err *FormatError) *FormatError {
		if typ != typeXML {
			err.Detail = fmt.Sprintf("chunk type 0x%04x, %s", typ, err.Detail)
			err.Err = ErrNotXML
		}
		return err
	}
	if hs < chunkHeaderSize {
		return nil, outer(formatErr(2, ErrChunkSize, "header size %d, below %d: the first chunk would overlap the header", hs, chunkHeaderSize))
	}
	if uint64(hs) > size {
		return nil, outer(formatErr(2, ErrChunkSize, "header size %d, chunk size %d", hs, size))
	}
	if size > uint64(len(b)) {
		return nil, outer(formatErr(4, ErrTruncated, "document size %d, have %d bytes", size, len(b)))
	}
	buf := make([]byte, len(b))
	copy(buf, b)
	end := int(size)
	// Nodes are 24 to 36 bytes plus attributes: size the chunk list once.
	est := min(end/48+8, end/chunkHeaderSize+1)
	d := &Document{typ: typ, hdrExtra: buf[chunkHeaderSize:hs], trailer: buf[end:], chunks: make([]chunk, 0, est)}
	var stack []*Element
	// The last pool and map before the first node: indices in d.chunks.
	pool, poolOff, resMap := -1, 0, -1
	nodes := false  // the first node has been met
	closed := false // the first root element has ended
	off := hs
	for end-off >= chunkHeaderSize {
		typ, chs, csize := le16(buf[off:]), int(le16(buf[off+2:])), uint64(le32(buf[off+4:]))
		if chs < chunkHeaderSize || uint64(chs) > csize {
			return nil, formatErr(off+2, ErrChunkSize, "chunk type 0x%04x: header size %d, chunk size %d", typ, chs, csize)
		}
		if csize > uint64(end-off) {
			return nil, formatErr(off+4, ErrChunkSize, "chunk type 0x%04x: size %d, %d bytes left in the document", typ, csize, end-off)
		}
		if !closed && (uint64(chs)|csize)&3 != 0 {
			return nil, formatErr(off+2, ErrChunkSize, "chunk type 0x%04x: header size %d or size %d is not a multiple of 4", typ, chs, csize)
		}
		if nodes && !closed && chs < nodeHeaderSize {
			return nil, formatErr(off+2, ErrChunkSize, "chunk type 0x%04x among the nodes: header size %d, below the %d of a node", typ, chs, nodeHeaderSize)
		}
		c := buf[off : off+int(csize)]
		if !nodes {
			switch {
			case typ == typeStringPool:
				pool, poolOff = len(d.chunks), off
			case typ == typeResourceMap:
				resMap = len(d.chunks)
			case typ >= typeFirstNode && typ <= typeLastNode:
				if off+int(csize) == end {
					// setTo's scan stops at a chunk that ends the document.
					return nil, formatErr(off, ErrNotXML, "the first node ends the document, where the platform's scan for it stops")
				}
				nodes = true
				if err := d.settle(pool, poolOff, resMap, off); err != nil {
					return nil, err
				}
			}
			if !nodes {
				d.chunks = append(d.chunks, rawChunk(c))
				off += int(csize)
				continue
			}
		}
		ch, err := d.decodeNode(typ, c, off, &stack)
		closed = closed || typ == typeEndElement && len(stack) == 0 && len(d.roots) > 0
		if err == nil {
			err = d.checkRefs(ch, off)
		}
		if err != nil {
			return nil, err
		}
		d.chunks = append(d.chunks, ch)
		off += int(csize)
	}
	if !nodes {
		return nil, formatErr(0, ErrNotXML, "no XML node chunk (types 0x%04x-0x%04x)", typeFirstNode, typeLastNode)
	}
	d.tail = buf[off:end]
	return d, nil
}

// decodeNode decodes the chunk c of type typ at offset off, met from the
// first node on: a node of a known type, linked into the element tree
// through stack (the open elements), or a raw chunk.
func (d *Document) decodeNode(typ uint16, c []byte, off int, stack *[]*Element) (chunk, error) {
	switch typ {
	case typeStartNamespace, typeEndNamespace:
		return decodeNamespace(c, off)
	case typeStartElement:
		el, err := decodeElement(c, off)
		if err != nil {
			return nil, err
		}
		el.doc = d
		if n := len(*stack); n > 0 {
			el.parent = (*stack)[n-1]
			el.parent.children = append(el.parent.children, el)
		} else {
			d.roots = append(d.roots, el)
		}
		*stack = append(*stack, el)
		return el, nil
	case typeEndElement:
		en, err := decodeEnd(c, off)
		if err != nil {
			return nil, err
		}
		if n := len(*stack); n > 0 {
			(*stack)[n-1].end = en
			*stack = (*stack)[:n-1]
		}
		return en, nil
	case typeCData:
		return decodeCData(c, off)
	}
	return rawChunk(c), nil
}

// settle decodes, when the first node is met at offset at, the string pool
// and the resource map the platform reads: the chunks at indices pool (at
// offset poolOff) and resMap of d.chunks (-1: none), so far kept raw.
func (d *Document) settle(pool, poolOff, resMap, at int) error {
	if pool < 0 {
		return formatErr(at, ErrNoStringPool, "the first node comes before any string pool")
	}
	c := d.chunks[pool].(rawChunk)
	var err error
	if d.pool, err = decodePool(c, poolOff); err != nil {
		return err
	}
	d.chunks[pool] = d.pool
	if resMap >= 0 {
		d.resMap = decodeResMap(d.chunks[resMap].(rawChunk))
		d.chunks[resMap] = d.resMap
	}
	return nil
}

// checkRefs checks the string references of chunk ch found at offset off.
func (d *Document) checkRefs(ch chunk, off int) error {
	n := uint32(len(d.pool.strs))
	if err := ch.checkRefs(n); err != nil {
		return formatErr(off, ErrStringIndex, "%v (pool has %d strings)", err, n)
	}
	return nil
}

// Encode encodes the document. An unedited document encodes to exactly the
// bytes it was decoded from.
func (d *Document) Encode() ([]byte, error) {
	b := make([]byte, 0, d.sizeHint())
	b = appendHeader(b, d.typ, uint16(chunkHeaderSize+len(d.hdrExtra)))
	b = append(b, d.hdrExtra...)
	for _, c := range d.chunks {
		b = c.appendTo(b)
	}
	b = append(b, d.tail...)
	if len(b) > math.MaxUint32 {
		return nil, ErrTooLarge
	}
	b = patchSize(b, 0)
	return append(b, d.trailer...), nil
}

func (d *Document) sizeHint() int {
	n := 1024 + len(d.trailer)
	if d.pool != nil {
		n += len(d.pool.raw)
		for _, s := range d.pool.strs {
			n += len(s.raw) + 4
		}
	}
	for _, c := range d.chunks {
		if el, ok := c.(*Element); ok {
			n += 36 + attrSize*len(el.attrs)
		} else {
			n += 24
		}
	}
	return n
}

// remap shifts every string reference >= at after an insertion into the pool.
func (d *Document) remap(at uint32) {
	for _, c := range d.chunks {
		c.remap(at)
	}
}

// rawChunk is a chunk of a type this package does not interpret, kept as is
// (its string references, if any, are not remapped by edits).
type rawChunk []byte

func (r rawChunk) appendTo(b []byte) []byte { return append(b, r...) }
func (r rawChunk) remap(uint32)             {}
func (r rawChunk) checkRefs(uint32) error   { return nil }

// resMap is the XML resource map chunk: ids[i] is the resource ID of the
// attribute name at string index i.
//
// FORMAT: RES_XML_RESOURCE_MAP_TYPE chunk:
//
//	0 ResChunk_header {u16 type = 0x0180; u16 headerSize = 8; u32 size}
//	headerSize: u32 ids[(size-headerSize)/4]
type resMap struct {
	headerSize uint16
	hdrExtra   []byte
	ids        []uint32
	tail       []byte // size-headerSize not a multiple of 4
}

func decodeResMap(c []byte) *resMap {
	hs := int(le16(c[2:]))
	body := c[hs:]
	m := &resMap{headerSize: uint16(hs), hdrExtra: c[chunkHeaderSize:hs], ids: make([]uint32, len(body)/4)}
	for i := range m.ids {
		m.ids[i] = le32(body[4*i:])
	}
	m.tail = body[4*len(m.ids):]
	return m
}

func (m *resMap) appendTo(b []byte) []byte {
	start := len(b)
	b = appendHeader(b, typeResourceMap, m.headerSize)
	b = append(b, m.hdrExtra...)
	b = le32Append(b, m.ids...)
	b = append(b, m.tail...)
	return patchSize(b, start)
}

func (m *resMap) remap(uint32)           {}
func (m *resMap) checkRefs(uint32) error { return nil }

// nodeHeader is the part common to every XML tree node.
//
// FORMAT: ResXMLTree_node (types 0x0100-0x0104):
//
//	 0 ResChunk_header {u16 type; u16 headerSize = 16; u32 size}
//	 8 u32 lineNumber            line in the original source file
//	12 ResStringPool_ref comment string index, 0xFFFFFFFF = none
//	headerSize: the node's extension, then (rarely) extra bytes up to size.
type nodeHeader struct {
	typ     uint16
	line    uint32
	comment uint32
	odd     *oddBytes // nil unless the node has bytes aapt never writes
}

// oddBytes holds the parts of a node's layout that aapt never writes but
// that must survive a round trip.
type oddBytes struct {
	header []byte // header bytes past the 16-byte node
	gap    []byte // start element: bytes between the attrExt and attributeStart
	attrs  []byte // start element: each attribute's bytes past 20, concatenated
	tail   []byte // bytes after the node's content, up to its size
}

// decode decodes the node header of chunk c and returns the bytes after it,
// checking they hold at least extSize bytes.
func (h *nodeHeader) decode(c []byte, base, extSize int) ([]byte, error) {
	hs := int(le16(c[2:]))
	if hs < nodeHeaderSize {
		return nil, formatErr(base+2, ErrChunkSize, "node type 0x%04x: header size %d, want at least %d", le16(c), hs, nodeHeaderSize)
	}
	if len(c)-hs < extSize {
		return nil, formatErr(base+4, ErrChunkSize, "node type 0x%04x: size %d leaves no room for its %d-byte extension", le16(c), len(c), extSize)
	}
	h.typ, h.line, h.comment = le16(c), le32(c[8:]), le32(c[12:])
	if hs > nodeHeaderSize {
		h.oddBytes().header = c[nodeHeaderSize:hs]
	}
	return c[hs:], nil
}

func (h *nodeHeader) oddBytes() *oddBytes {
	if h.odd == nil {
		h.odd = &oddBytes{}
	}
	return h.odd
}

// setTail keeps the bytes after the node's content.
func (h *nodeHeader) setTail(b []byte) {
	if len(b) > 0 {
		h.oddBytes().tail = b
	}
}

func (h *nodeHeader) appendTo(b []byte) []byte {
	var extra []byte
	if h.odd != nil {
		extra = h.odd.header
	}
	b = appendHeader(b, h.typ, uint16(nodeHeaderSize+len(extra)))
	b = le32Append(b, h.line, h.comment)
	return append(b, extra...)
}

// appendTail appends the bytes kept by setTail and patches the chunk size.
func (h *nodeHeader) appendTail(b []byte, start int) []byte {
	if h.odd != nil {
		b = append(b, h.odd.tail...)
	}
	return patchSize(b, start)
}

// resValue is a Res_value, kept field by field.
//
// FORMAT: Res_value (8 bytes): u16 size (8); u8 res0 (0); u8 dataType; u32 data.
type resValue struct {
	size uint16
	res0 uint8
	typ  uint8
	data uint32
}

func decodeValue(b []byte) resValue {
	return resValue{size: le16(b), res0: b[2], typ: b[3], data: le32(b[4:])}
}

func (v resValue) appendTo(b []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, v.size)
	b = append(b, v.res0, v.typ)
	return binary.LittleEndian.AppendUint32(b, v.data)
}

// remap shifts the string index held by a TYPE_STRING value.
func (v *resValue) remap(at uint32) {
	if DataType(v.typ) == TypeString {
		v.data = shift(v.data, at)
	}
}

// namespaceNode is a start or end namespace node.
//
// FORMAT: ResXMLTree_namespaceExt (8 bytes at headerSize):
// ResStringPool_ref prefix; ResStringPool_ref uri.
type namespaceNode struct {
	nodeHeader
	prefix, uri uint32
}

func decodeNamespace(c []byte, base int) (*namespaceNode, error) {
	n := &namespaceNode{}
	ext, err := n.decode(c, base, 8)
	if err != nil {
		return nil, err
	}
	n.prefix, n.uri = le32(ext), le32(ext[4:])
	n.setTail(ext[8:])
	return n, nil
}

func (n *namespaceNode) appendTo(b []byte) []byte {
	start := len(b)
	b = n.nodeHeader.appendTo(b)
	b = le32Append(b, n.prefix, n.uri)
	return n.appendTail(b, start)
}

func (n *namespaceNode) remap(at uint32) {
	n.comment, n.prefix, n.uri = shift(n.comment, at), shift(n.prefix, at), shift(n.uri, at)
}

func (n *namespaceNode) checkRefs(uint32) error { return nil }

// endNode is an end element node.
//
// FORMAT: ResXMLTree_endElementExt (8 bytes at headerSize):
// ResStringPool_ref ns (0xFFFFFFFF = none); ResStringPool_ref name.
type endNode struct {
	nodeHeader
	ns, name uint32
}

func decodeEnd(c []byte, base int) (*endNode, error) {
	n := &endNode{}
	ext, err := n.decode(c, base, 8)
	if err != nil {
		return nil, err
	}
	n.ns, n.name = le32(ext), le32(ext[4:])
	n.setTail(ext[8:])
	return n, nil
}

func (n *endNode) appendTo(b []byte) []byte {
	start := len(b)
	b = n.nodeHeader.appendTo(b)
	b = le32Append(b, n.ns, n.name)
	return n.appendTail(b, start)
}

func (n *endNode) remap(at uint32) {
	n.comment, n.ns, n.name = shift(n.comment, at), shift(n.ns, at), shift(n.name, at)
}

func (n *endNode) checkRefs(uint32) error { return nil }

// cdataNode is a text node.
//
// FORMAT: ResXMLTree_cdataExt (12 bytes at headerSize):
// ResStringPool_ref data; Res_value typedData.
type cdataNode struct {
	nodeHeader
	data  uint32
	value resValue
}

func decodeCData(c []byte, base int) (*cdataNode, error) {
	n := &cdataNode{}
	ext, err := n.decode(c, base, 12)
	if err != nil {
		return nil, err
	}
	n.data, n.value = le32(ext), decodeValue(ext[4:])
	n.setTail(ext[12:])
	return n, nil
}

func (n *cdataNode) appendTo(b []byte) []byte {
	start := len(b)
	b = n.nodeHeader.appendTo(b)
	b = le32Append(b, n.data)
	b = n.value.appendTo(b)
	return n.appendTail(b, start)
}

func (n *cdataNode) remap(at uint32) {
	n.comment, n.data = shift(n.comment, at), shift(n.data, at)
	n.value.remap(at)
}

func (n *cdataNode) checkRefs(uint32) error { return nil }

// attribute is one ResXMLTree_attribute (bytes past its 20, if
// attributeSize is larger, are kept in the element's oddBytes).
type attribute struct {
	ns, name, raw uint32
	value         resValue
}

// decodeElement decodes a start element node.
//
// FORMAT: ResXMLTree_attrExt (20 bytes at headerSize):
//
//	 0 ResStringPool_ref ns     0xFFFFFFFF = none
//	 4 ResStringPool_ref name
//	 8 u16 attributeStart       from the start of this extension (20)
//	10 u16 attributeSize        size of each attribute (20)
//	12 u16 attributeCount
//	14 u16 idIndex              1-based index of the "id" attribute, 0 = none
//	16 u16 classIndex           likewise "class"
//	18 u16 styleIndex           likewise "style"
//
// then attributeCount ResXMLTree_attribute at attributeStart:
//
//	 0 ResStringPool_ref ns     0xFFFFFFFF = none
//	 4 ResStringPool_ref name   its resource ID is resMap[name], if any
//	 8 ResStringPool_ref rawValue  original string, 0xFFFFFFFF = none
//	12 Res_value typedValue
func decodeElement(c []byte, base int) (*Element, error) {
	el := &Element{}
	ext, err := el.decode(c, base, attrExtSize)
	if err != nil {
		return nil, err
	}
	extOff := base + len(c) - len(ext)
	el.ns, el.name = le32(ext), le32(ext[4:])
	start, size, count := int(le16(ext[8:])), int(le16(ext[10:])), int(le16(ext[12:]))
	el.idIndex, el.classIndex, el.styleIndex = le16(ext[14:]), le16(ext[16:]), le16(ext[18:])
	if start < attrExtSize || size < attrSize {
		return nil, formatErr(extOff+8, ErrAttribute, "attributeStart %d, attributeSize %d, want at least %d each: smaller ones overlap the extension or each other", start, size, attrExtSize)
	}
	if start+count*size > len(ext) {
		return nil, formatErr(extOff+12, ErrAttribute, "%d attributes of %d bytes at %d overrun the %d-byte element", count, size, start, len(ext))
	}
	if start > attrExtSize {
		el.oddBytes().gap = ext[attrExtSize:start]
	}
	el.attrSize = uint16(size)
	el.attrs = make([]attribute, count)
	var extra []byte
	if size > attrSize {
		extra = make([]byte, 0, count*(size-attrSize))
	}
	for i := range el.attrs {
		a := ext[start+i*size : start+(i+1)*size]
		el.attrs[i] = attribute{ns: le32(a), name: le32(a[4:]), raw: le32(a[8:]), value: decodeValue(a[12:])}
		extra = append(extra, a[attrSize:]...)
	}
	if extra != nil {
		el.oddBytes().attrs = extra
	}
	el.setTail(ext[start+count*size:])
	return el, nil
}

func (el *Element) appendTo(b []byte) []byte {
	start := len(b)
	b = el.nodeHeader.appendTo(b)
	b = le32Append(b, el.ns, el.name)
	var gap, extra []byte
	if el.odd != nil {
		gap, extra = el.odd.gap, el.odd.attrs
	}
	for _, v := range [...]uint16{uint16(attrExtSize + len(gap)), el.attrSize, uint16(len(el.attrs)), el.idIndex, el.classIndex, el.styleIndex} {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	b = append(b, gap...)
	n := int(el.attrSize) - attrSize
	for i, a := range el.attrs {
		b = le32Append(b, a.ns, a.name, a.raw)
		b = a.value.appendTo(b)
		if n > 0 {
			b = append(b, extra[i*n:(i+1)*n]...)
		}
	}
	return el.appendTail(b, start)
}

func (el *Element) remap(at uint32) {
	el.comment, el.ns, el.name = shift(el.comment, at), shift(el.ns, at), shift(el.name, at)
	for i := range el.attrs {
		a := &el.attrs[i]
		a.ns, a.name, a.raw = shift(a.ns, at), shift(a.name, at), shift(a.raw, at)
		a.value.remap(at)
	}
}

func (el *Element) checkRefs(count uint32) error {
	if err := checkRef(count, el.name); err != nil {
		return err
	}
	for i, a := range el.attrs {
		if err := checkRef(count, a.name); err != nil {
			return fmt.Errorf("attribute %d: %w", i, err)
		}
	}
	return nil
}

// checkRef checks a required string reference against a pool of n strings.
func checkRef(n, idx uint32) error {
	switch {
	case idx == noIndex:
		return errors.New("missing required string reference")
	case idx >= n:
		return fmt.Errorf("string index %d", idx)
	}
	return nil
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

func le32Append(b []byte, vs ...uint32) []byte {
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// appendHeader appends a ResChunk_header whose size is patched later.
func appendHeader(b []byte, typ, headerSize uint16) []byte {
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = binary.LittleEndian.AppendUint16(b, headerSize)
	return binary.LittleEndian.AppendUint32(b, 0)
}

// patchSize sets the size of the chunk that starts at start to its length.
func patchSize(b []byte, start int) []byte {
	binary.LittleEndian.PutUint32(b[start+4:], uint32(len(b)-start))
	return b
}
