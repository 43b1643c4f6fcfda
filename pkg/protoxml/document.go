package protoxml

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/trustfuse/trustfuse/pkg/axml"
)

// Field numbers (see the FORMAT table in wire.go).
const (
	nodeElement = 1
	nodeText    = 2
	nodeSource  = 3

	elemNamespace = 1
	elemNSURI     = 2
	elemName      = 3
	elemAttr      = 4
	elemChild     = 5

	attrNSURI    = 1
	attrName     = 2
	attrValue    = 3
	attrSource   = 4
	attrResID    = 5
	attrCompiled = 6

	posLine = 1

	itemRef    = 1
	itemStr    = 2
	itemRawStr = 3
	itemPrim   = 7

	refType = 1
	refID   = 2

	strValue = 1
)

// Primitive's oneof fields, by the Res_value data type they carry.
var primFields = []struct {
	num protowire.Number
	typ axml.DataType
}{
	{1, axml.TypeNull}, // null_value (data 0)
	{2, axml.TypeNull}, // empty_value (data 1)
	{3, axml.TypeFloat},
	{4, axml.TypeDimension}, // deprecated: a float
	{5, axml.TypeFraction},  // deprecated: a float
	{6, axml.TypeIntDec},
	{7, axml.TypeIntHex},
	{8, axml.TypeIntBoolean},
	{9, axml.TypeIntColorARGB8},
	{10, axml.TypeIntColorRGB8},
	{11, axml.TypeIntColorARGB4},
	{12, axml.TypeIntColorRGB4},
	{13, axml.TypeDimension},
	{14, axml.TypeFraction},
}

// Document is a decoded proto XML document (an XmlNode).
type Document struct {
	root  *message
	elems map[*message]*Element // typed views, one per XmlElement message
}

// Element is an XML element of a Document. Its methods read it; edits go
// through the Document.
type Element struct {
	doc    *Document
	node   *message // the XmlNode holding it
	msg    *message // the XmlElement
	parent *Element
}

// Decode decodes a serialized XmlNode. The returned document aliases b,
// which must not change while it is in use. Malformed input yields a
// *FormatError.
func Decode(b []byte) (*Document, error) {
	root, err := decodeMessage(b, kindNode, 0, 0, nil)
	if err != nil {
		return nil, err
	}
	return &Document{root: root, elems: map[*message]*Element{}}, nil
}

// Encode encodes the document. An unedited document encodes to exactly the
// bytes it was decoded from.
func (d *Document) Encode() ([]byte, error) {
	return append([]byte(nil), d.root.encode()...), nil
}

// Root returns the document's root element, or nil if the root node is a
// text node.
func (d *Document) Root() *Element {
	return d.element(d.root, nil)
}

// element returns the typed view of the element held by node.
func (d *Document) element(node *message, parent *Element) *Element {
	m := node.sub(nodeElement)
	if m == nil {
		return nil
	}
	if e := d.elems[m]; e != nil {
		return e
	}
	e := &Element{doc: d, node: node, msg: m, parent: parent}
	d.elems[m] = e
	return e
}

// Name returns the element's local name.
func (e *Element) Name() string { return e.msg.str(elemName) }

// Namespace returns the element's namespace URI, "" if none.
func (e *Element) Namespace() string { return e.msg.str(elemNSURI) }

// Parent returns the enclosing element, nil for the root.
func (e *Element) Parent() *Element { return e.parent }

// Line returns the element's line number in the original source, 0 if not
// recorded.
func (e *Element) Line() int {
	if p := e.node.sub(nodeSource); p != nil {
		if v, ok := p.varint(posLine); ok {
			return int(uint32(v))
		}
	}
	return 0
}

// Children returns the child elements in document order (text nodes are
// skipped).
func (e *Element) Children() []*Element {
	var out []*Element
	for _, f := range e.msg.fields {
		if f.num == elemChild && f.msg != nil {
			if c := e.doc.element(f.msg, e); c != nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// FindChild returns the first child element with the given local name, or nil.
func (e *Element) FindChild(name string) *Element {
	for _, c := range e.Children() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// FindChildren returns the child elements with the given local name.
func (e *Element) FindChildren(name string) []*Element {
	var out []*Element
	for _, c := range e.Children() {
		if c.Name() == name {
			out = append(out, c)
		}
	}
	return out
}

// Attr is one attribute of an element.
type Attr struct {
	Namespace string     // namespace URI, "" if none
	Name      string     // local name
	ResID     axml.ResID // resource ID of the name, 0 if none
	Raw       string     // the source text (XmlAttribute.value)
	Value     axml.Value // the compiled value, or Raw as a string if none
}

// Attrs returns the element's attributes in stored order.
func (e *Element) Attrs() []Attr {
	var out []Attr
	for _, f := range e.msg.fields {
		if f.num == elemAttr && f.msg != nil {
			out = append(out, attrOf(f.msg))
		}
	}
	return out
}

// Attr returns the value of the attribute with namespace URI ns ("" for none)
// and local name name.
func (e *Element) Attr(ns, name string) (axml.Value, bool) {
	for _, a := range e.Attrs() {
		if a.Namespace == ns && a.Name == name {
			return a.Value, true
		}
	}
	return axml.Value{}, false
}

// AttrByID returns the value of the attribute whose name has resource ID id,
// as the platform looks attributes up (robust to renamed attribute strings).
func (e *Element) AttrByID(id axml.ResID) (axml.Value, bool) {
	for _, a := range e.Attrs() {
		if a.ResID == id && id != 0 {
			return a.Value, true
		}
	}
	return axml.Value{}, false
}

// attrOf reads an XmlAttribute.
func attrOf(m *message) Attr {
	a := Attr{Namespace: m.str(attrNSURI), Name: m.str(attrName), Raw: m.str(attrValue)}
	if id, ok := m.varint(attrResID); ok {
		a.ResID = axml.ResID(uint32(id))
	}
	a.Value = axml.StringValue(a.Raw)
	if item := m.sub(attrCompiled); item != nil {
		if v, ok := itemValue(item); ok {
			a.Value = v
		}
	}
	return a
}

// itemValue converts a compiled Item to a Res_value, as aapt2 does when it
// flattens proto XML to binary XML. Items it cannot express (styled strings,
// files, ids) report false.
func itemValue(item *message) (axml.Value, bool) {
	for i := len(item.fields) - 1; i >= 0; i-- {
		f := item.fields[i]
		if f.msg == nil {
			continue
		}
		switch f.num {
		case itemRef:
			t := axml.TypeReference
			if v, _ := f.msg.varint(refType); v == 1 {
				t = axml.TypeAttribute
			}
			id, _ := f.msg.varint(refID)
			return axml.Value{Type: t, Data: uint32(id)}, true
		case itemStr, itemRawStr:
			return axml.StringValue(f.msg.str(strValue)), true
		case itemPrim:
			return primValue(f.msg)
		}
	}
	return axml.Value{}, false
}

// primValue reads a Primitive: the last of its oneof fields wins.
func primValue(p *message) (axml.Value, bool) {
	for i := len(p.fields) - 1; i >= 0; i-- {
		f := p.fields[i]
		for _, pf := range primFields {
			if pf.num != f.num {
				continue
			}
			switch {
			case f.num == 1 && f.typ == protowire.BytesType:
				return axml.Value{Type: axml.TypeNull}, true
			case f.num == 2 && f.typ == protowire.BytesType:
				return axml.Value{Type: axml.TypeNull, Data: 1}, true
			case (f.num == 3 || f.num == 4 || f.num == 5) && f.typ == protowire.Fixed32Type:
				v, _ := protowire.ConsumeFixed32(f.val)
				if f.num != 3 {
					// The deprecated dimension/fraction floats hold the
					// value already scaled; aapt2 no longer writes them.
					return axml.Value{Type: axml.TypeFloat, Data: v}, true
				}
				return axml.Value{Type: pf.typ, Data: v}, true
			case f.num >= 6 && f.typ == protowire.VarintType:
				v, _ := protowire.ConsumeVarint(f.val)
				if pf.typ == axml.TypeIntBoolean && v != 0 {
					v = 0xFFFFFFFF
				}
				return axml.Value{Type: pf.typ, Data: uint32(v)}, true
			}
		}
	}
	return axml.Value{}, false
}

// encodeItem returns the XmlAttribute.value text and compiled Item aapt2
// writes for v: none for a string, which is the text alone.
func encodeItem(v axml.Value) (string, *message, error) {
	switch v.Type {
	case axml.TypeString:
		return v.Str, nil, nil
	case axml.TypeReference, axml.TypeAttribute:
		ref := newMessage(kindLeaf)
		prefix := "@"
		if v.Type == axml.TypeAttribute {
			ref.fields = append(ref.fields, varintField(refType, 1))
			prefix = "?"
		}
		ref.fields = append(ref.fields, varintField(refID, uint64(v.Data)))
		return fmt.Sprintf("%s0x%08x", prefix, v.Data), newMessage(kindItem, messageField(itemRef, ref, nil)), nil
	}
	var pf field
	switch v.Type {
	case axml.TypeIntDec:
		// int32: negative numbers are sign-extended to 64 bits.
		pf = varintField(6, uint64(int64(int32(v.Data))))
	case axml.TypeIntBoolean:
		pf = varintField(8, protowire.EncodeBool(v.Data != 0))
	case axml.TypeFloat:
		pf = newField(3, protowire.Fixed32Type, protowire.AppendFixed32(nil, v.Data))
	default:
		num := protowire.Number(0)
		for _, f := range primFields {
			if f.typ == v.Type && f.num >= 7 {
				num = f.num
			}
		}
		if num == 0 {
			return "", nil, fmt.Errorf("%w: %s", ErrUnsupported, v)
		}
		pf = varintField(num, uint64(v.Data))
	}
	return v.String(), newMessage(kindItem, messageField(itemPrim, newMessage(kindLeaf, pf), nil)), nil
}

// own checks that el belongs to d.
func (d *Document) own(el *Element) error {
	if el == nil || el.doc != d {
		return ErrForeign
	}
	return nil
}

// SetAttr sets attribute ns:name of el to v, adding it (after the existing
// attributes) if el has none. id is the resource ID of the attribute name
// (framework attributes: the axml.Attr* constants), 0 for attributes without
// one (such as manifest/@package). The attribute gets the source text and the
// compiled item aapt2 would write.
func (d *Document) SetAttr(el *Element, ns, name string, id axml.ResID, v axml.Value) error {
	if err := d.own(el); err != nil {
		return err
	}
	text, item, err := encodeItem(v)
	if err != nil {
		return err
	}
	fields := []field{}
	if ns != "" {
		fields = append(fields, stringField(attrNSURI, ns))
	}
	fields = append(fields, stringField(attrName, name), stringField(attrValue, text))
	if id != 0 {
		fields = append(fields, varintField(attrResID, uint64(id)))
	}
	if item != nil {
		fields = append(fields, messageField(attrCompiled, item, nil))
	}
	attr := newMessage(kindAttribute, fields...)

	m := el.msg
	at := -1 // replace this field, or insert after the last attribute
	insert := 0
	for i, f := range m.fields {
		if f.num == elemAttr && f.msg != nil {
			a := attrOf(f.msg)
			if (id != 0 && a.ResID == id) || (id == 0 && a.Namespace == ns && a.Name == name) {
				at = i
			}
			insert = i + 1
		} else if f.num < elemAttr {
			insert = max(insert, i+1)
		}
	}
	nf := messageField(elemAttr, attr, m)
	if at >= 0 {
		m.fields[at] = nf
	} else {
		m.fields = append(m.fields[:insert], append([]field{nf}, m.fields[insert:]...)...)
	}
	m.touch()
	return nil
}

// SetAndroidAttr sets android:<name> of el to v, for a framework attribute
// listed in axml.FrameworkAttrs.
func (d *Document) SetAndroidAttr(el *Element, id axml.ResID, v axml.Value) error {
	for _, a := range axml.FrameworkAttrs() {
		if a.ID == id {
			return d.SetAttr(el, axml.NSAndroid, a.Name, id, v)
		}
	}
	return fmt.Errorf("%w: attribute %s is not in axml.FrameworkAttrs", ErrUnsupported, id)
}

// AddElement appends a new empty element named name (no namespace) as the
// last child of parent and returns it. Its line number is parent's.
func (d *Document) AddElement(parent *Element, name string) (*Element, error) {
	return d.insertElement(parent, nil, name)
}

// insertElement adds a new element named name under parent, before the
// child element before (nil: at the end).
func (d *Document) insertElement(parent, before *Element, name string) (*Element, error) {
	if err := d.own(parent); err != nil {
		return nil, err
	}
	if before != nil && before.parent != parent {
		return nil, ErrForeign
	}
	elem := newMessage(kindElement, stringField(elemName, name))
	nodeFields := []field{messageField(nodeElement, elem, nil)}
	if line := parent.Line(); line > 0 {
		nodeFields = append(nodeFields, messageField(nodeSource, newMessage(kindLeaf, varintField(posLine, uint64(line))), nil))
	}
	node := newMessage(kindNode, nodeFields...)
	m := parent.msg
	at := len(m.fields)
	if before != nil {
		for i, f := range m.fields {
			if f.msg == before.node {
				at = i
			}
		}
	}
	m.fields = append(m.fields[:at], append([]field{messageField(elemChild, node, m)}, m.fields[at:]...)...)
	m.touch()
	return d.element(node, parent), nil
}
