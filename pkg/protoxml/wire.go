// Package protoxml decodes, edits and encodes aapt2's protobuf XML: the
// XmlNode message of aapt2's Resources.proto, which Android App Bundles use
// for every module's manifest/AndroidManifest.xml (and aapt2 link
// --proto-format for AndroidManifest.xml and res/**/*.xml).
//
// The decoder keeps every field as it found it, known or not: an unedited
// document encodes to exactly the bytes it was decoded from, and an edit
// re-encodes only the messages on the path from the root to the change.
// Fields this package does not know (newer aapt2 versions add some) are
// carried through byte for byte.
//
// The typed view (Element, attributes as axml.Value) mirrors pkg/axml, the
// binary XML codec, so the manifest edits of the fuse pipeline read the same
// for both encodings.
package protoxml

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// FORMAT: aapt2 Resources.proto (package aapt.pb), the messages read here,
// with their field numbers; every other field is kept as unknown bytes.
//
//	XmlNode        1 element: XmlElement   2 text: string   3 source: SourcePosition
//	XmlElement     1 namespace_declaration: XmlNamespace (repeated)
//	               2 namespace_uri: string  3 name: string
//	               4 attribute: XmlAttribute (repeated)  5 child: XmlNode (repeated)
//	XmlNamespace   1 prefix: string  2 uri: string  3 source: SourcePosition
//	XmlAttribute   1 namespace_uri: string  2 name: string  3 value: string
//	               4 source: SourcePosition  5 resource_id: uint32
//	               6 compiled_item: Item
//	SourcePosition 1 line_number: uint32  2 column_number: uint32
//	Item           1 ref: Reference  2 str: String  3 raw_str: RawString
//	               (4 styled_str, 5 file, 6 id: kept, not interpreted)
//	               7 prim: Primitive
//	Reference      1 type: enum (0 REFERENCE, 1 ATTRIBUTE)  2 id: uint32
//	               3 name: string  4 private: bool
//	String, RawString  1 value: string
//	Primitive      oneof: 1 null_value: {}  2 empty_value: {}  3 float_value: float
//	               13 dimension_value  14 fraction_value  6 int_decimal_value: int32
//	               7 int_hexadecimal_value  8 boolean_value: bool
//	               9 color_argb8  10 color_rgb8  11 color_argb4  12 color_rgb4 (uint32)
//	               (4, 5: deprecated float dimension/fraction, read as floats)
//
// Wire format: https://protobuf.dev/programming-guides/encoding/. A field
// whose wire type does not match its declaration is an unknown field, as in
// every protobuf runtime.

// Sentinel errors. Decoding problems come wrapped in a *FormatError carrying
// the byte offset, so callers can test the kind with errors.Is.
var (
	ErrMalformed = errors.New("protoxml: malformed protobuf")
	ErrTooDeep   = errors.New("protoxml: XML nested too deeply")
	ErrAmbiguous = errors.New("protoxml: field repeated where one is allowed")
	ErrNoRoot    = errors.New("protoxml: document has no root element")

	// Editing errors.
	ErrForeign     = errors.New("protoxml: element belongs to another document")
	ErrNotManifest = errors.New("protoxml: root element is not <manifest>")
	ErrUnsupported = errors.New("protoxml: value type cannot be written")
)

// FormatError reports a malformed document: the byte offset where the problem
// was found and its kind (one of the sentinels above, reachable with
// errors.Is).
type FormatError struct {
	Offset int64  // byte offset in the document
	Detail string // human-readable detail, may be ""
	Err    error  // one of the Err* sentinels
}

// Error formats the kind, the detail and the offset.
func (e *FormatError) Error() string {
	msg := e.Err.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return fmt.Sprintf("%s (at offset %d)", msg, e.Offset)
}

// Unwrap returns the sentinel kind.
func (e *FormatError) Unwrap() error { return e.Err }

// maxDepth bounds the nesting of messages (an XML element costs two: node
// and element), so a hostile document cannot exhaust the stack.
const maxDepth = 1024

// kind says which message a byte string holds, and so which of its fields
// are messages to decode.
type kind uint8

const (
	kindLeaf kind = iota // only scalars read: SourcePosition, Reference, Primitive, String
	kindNode
	kindElement
	kindNamespace
	kindAttribute
	kindItem
)

// subKind returns the kind of field num of a k message if it is a message
// field this package reads, and false otherwise.
func (k kind) subKind(num protowire.Number) (kind, bool) {
	switch k {
	case kindNode:
		switch num {
		case 1:
			return kindElement, true
		case 3:
			return kindLeaf, true
		}
	case kindElement:
		switch num {
		case 1:
			return kindNamespace, true
		case 4:
			return kindAttribute, true
		case 5:
			return kindNode, true
		}
	case kindNamespace:
		if num == 3 {
			return kindLeaf, true
		}
	case kindAttribute:
		switch num {
		case 4:
			return kindLeaf, true
		case 6:
			return kindItem, true
		}
	case kindItem:
		switch num {
		case 1, 2, 3, 7:
			return kindLeaf, true
		}
	}
	return 0, false
}

// field is one field of a message as found on the wire (tag and value bytes
// kept), or as added by an edit.
type field struct {
	num protowire.Number
	typ protowire.Type
	tag []byte   // the tag bytes
	val []byte   // the value bytes; for BytesType, with the length prefix
	msg *message // the decoded value of a message field this package reads
}

// message is a decoded message: its fields in wire order. A message that has
// not been edited (dirty false) encodes as raw, its original bytes.
type message struct {
	kind   kind
	fields []field
	raw    []byte
	dirty  bool
	parent *message
}

// decodeMessage decodes b (found at offset base of the document) as a k
// message.
func decodeMessage(b []byte, k kind, base int, depth int, parent *message) (*message, error) {
	if depth > maxDepth {
		return nil, &FormatError{Offset: int64(base), Detail: fmt.Sprintf("more than %d levels", maxDepth), Err: ErrTooDeep}
	}
	m := &message{kind: k, raw: b, parent: parent}
	for pos := 0; pos < len(b); {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return nil, &FormatError{Offset: int64(base + pos), Detail: "bad tag: " + protowire.ParseError(n).Error(), Err: ErrMalformed}
		}
		tag := b[pos : pos+n]
		vn := protowire.ConsumeFieldValue(num, typ, b[pos+n:])
		if vn < 0 {
			return nil, &FormatError{Offset: int64(base + pos), Detail: fmt.Sprintf("field %d: %v", num, protowire.ParseError(vn)), Err: ErrMalformed}
		}
		f := field{num: num, typ: typ, tag: tag, val: b[pos+n : pos+n+vn]}
		if sk, ok := k.subKind(num); ok && typ == protowire.BytesType {
			content, ln := protowire.ConsumeBytes(f.val)
			sub, err := decodeMessage(content, sk, base+pos+n+(ln-len(content)), depth+1, m)
			if err != nil {
				return nil, err
			}
			f.msg = sub
		}
		m.fields = append(m.fields, f)
		pos += n + vn
	}
	// A singular message field given twice would be merged by protobuf
	// runtimes; readers that take the first or last one would disagree.
	if k == kindNode || k == kindAttribute {
		seen := map[protowire.Number]bool{}
		for _, f := range m.fields {
			if f.msg == nil {
				continue
			}
			if seen[f.num] {
				return nil, &FormatError{Offset: int64(base), Detail: fmt.Sprintf("message field %d appears twice", f.num), Err: ErrAmbiguous}
			}
			seen[f.num] = true
		}
	}
	return m, nil
}

// encode returns the message's bytes: the original ones if it was not
// edited, else its fields re-encoded in order, each unedited field as found.
func (m *message) encode() []byte {
	if !m.dirty {
		return m.raw
	}
	var out []byte
	for _, f := range m.fields {
		out = append(out, f.tag...)
		if f.msg != nil && f.msg.dirty {
			out = protowire.AppendBytes(out, f.msg.encode())
		} else {
			out = append(out, f.val...)
		}
	}
	return out
}

// touch marks m and every enclosing message as edited.
func (m *message) touch() {
	for p := m; p != nil && !p.dirty; p = p.parent {
		p.dirty = true
	}
}

// last returns the last field numbered num with wire type typ (protobuf:
// the last value of a scalar wins), or nil.
func (m *message) last(num protowire.Number, typ protowire.Type) *field {
	for i := len(m.fields) - 1; i >= 0; i-- {
		if f := &m.fields[i]; f.num == num && f.typ == typ {
			return f
		}
	}
	return nil
}

// str returns string field num, "" if absent.
func (m *message) str(num protowire.Number) string {
	f := m.last(num, protowire.BytesType)
	if f == nil {
		return ""
	}
	v, _ := protowire.ConsumeString(f.val)
	return v
}

// varint returns varint field num and whether it is present.
func (m *message) varint(num protowire.Number) (uint64, bool) {
	f := m.last(num, protowire.VarintType)
	if f == nil {
		return 0, false
	}
	v, _ := protowire.ConsumeVarint(f.val)
	return v, true
}

// sub returns message field num, nil if absent.
func (m *message) sub(num protowire.Number) *message {
	for i := range m.fields {
		if f := &m.fields[i]; f.num == num && f.msg != nil {
			return f.msg
		}
	}
	return nil
}

// newField returns a field with freshly encoded tag and value.
func newField(num protowire.Number, typ protowire.Type, val []byte) field {
	return field{num: num, typ: typ, tag: protowire.AppendTag(nil, num, typ), val: val}
}

// stringField returns a string field.
func stringField(num protowire.Number, s string) field {
	return newField(num, protowire.BytesType, protowire.AppendString(nil, s))
}

// varintField returns a varint field.
func varintField(num protowire.Number, v uint64) field {
	return newField(num, protowire.VarintType, protowire.AppendVarint(nil, v))
}

// messageField returns a field holding the new message sub, whose parent
// becomes parent.
func messageField(num protowire.Number, sub *message, parent *message) field {
	sub.parent = parent
	sub.dirty = true
	return field{num: num, typ: protowire.BytesType, tag: protowire.AppendTag(nil, num, protowire.BytesType), msg: sub}
}

// newMessage returns an edited (dirty) message of kind k made of fields;
// message fields among them get it as parent.
func newMessage(k kind, fields ...field) *message {
	m := &message{kind: k, dirty: true}
	for _, f := range fields {
		if f.msg != nil {
			f.msg.parent = m
		}
		m.fields = append(m.fields, f)
	}
	return m
}
