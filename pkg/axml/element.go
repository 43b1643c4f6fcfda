package axml

import (
	"fmt"
	"slices"
)

// Element is an XML element of a Document. Its methods read it; edits go
// through the Document (AddElement, SetAttr), which owns the string pool.
type Element struct {
	doc *Document
	nodeHeader
	ns, name   uint32
	attrSize   uint16
	idIndex    uint16
	classIndex uint16
	styleIndex uint16
	attrs      []attribute
	parent     *Element
	children   []*Element
	end        *endNode // nil if the document ends before the end tag
}

// Attr is one attribute of an element, resolved against the string pool and
// the resource map.
type Attr struct {
	Namespace string // namespace URI, "" if none
	Name      string
	ResID     ResID  // resource ID of the name from the resource map, 0 if none
	Raw       string // original string value, "" if none
	Value     Value
}

// Root returns the document's root element, or nil if it has none.
func (d *Document) Root() *Element {
	if len(d.roots) == 0 {
		return nil
	}
	return d.roots[0]
}

// Name returns the element's local name.
func (e *Element) Name() string { return e.doc.pool.str(e.name) }

// Namespace returns the element's namespace URI, "" if none.
func (e *Element) Namespace() string { return e.doc.pool.str(e.ns) }

// Line returns the element's line number in the original source.
func (e *Element) Line() int { return int(e.line) }

// Parent returns the enclosing element, nil for a root.
func (e *Element) Parent() *Element { return e.parent }

// Children returns the child elements in document order.
func (e *Element) Children() []*Element { return slices.Clone(e.children) }

// FindChild returns the first child element with the given local name, or nil.
func (e *Element) FindChild(name string) *Element {
	for _, c := range e.children {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// FindChildren returns the child elements with the given local name.
func (e *Element) FindChildren(name string) []*Element {
	var out []*Element
	for _, c := range e.children {
		if c.Name() == name {
			out = append(out, c)
		}
	}
	return out
}

// Attrs returns the element's attributes in stored order.
func (e *Element) Attrs() []Attr {
	out := make([]Attr, len(e.attrs))
	for i, a := range e.attrs {
		out[i] = Attr{
			Namespace: e.doc.pool.str(a.ns),
			Name:      e.doc.pool.str(a.name),
			ResID:     e.doc.resID(a.name),
			Raw:       e.doc.pool.str(a.raw),
			Value:     e.doc.value(a),
		}
	}
	return out
}

// Attr returns the value of the attribute with namespace URI ns ("" for none)
// and local name name.
func (e *Element) Attr(ns, name string) (Value, bool) {
	if i := e.doc.findAttr(e, ns, name, 0); i >= 0 {
		return e.doc.value(e.attrs[i]), true
	}
	return Value{}, false
}

// AttrByID returns the value of the attribute whose name has resource ID id,
// as the platform looks attributes up (robust to renamed attribute strings).
func (e *Element) AttrByID(id ResID) (Value, bool) {
	if i := e.doc.findAttr(e, "", "", id); i >= 0 {
		return e.doc.value(e.attrs[i]), true
	}
	return Value{}, false
}

// value resolves an attribute's typed value; a TYPE_NULL value with a raw
// string (old aapt output) reads as that string.
func (d *Document) value(a attribute) Value {
	v := Value{Type: DataType(a.value.typ), Data: a.value.data}
	switch {
	case v.Type == TypeString:
		v.Str = d.pool.str(v.Data)
	case v.Type == TypeNull && a.raw != noIndex:
		v = Value{Type: TypeString, Data: a.raw, Str: d.pool.str(a.raw)}
	}
	return v
}

// resID returns the resource ID mapped to string index idx, 0 if none.
func (d *Document) resID(idx uint32) ResID {
	if d.resMap == nil || idx >= uint32(len(d.resMap.ids)) {
		return 0
	}
	return ResID(d.resMap.ids[idx])
}

// findAttr returns the index of e's attribute matching id (if nonzero) or
// ns and name, or -1.
func (d *Document) findAttr(e *Element, ns, name string, id ResID) int {
	for i, a := range e.attrs {
		if id != 0 {
			if d.resID(a.name) == id {
				return i
			}
			continue
		}
		if d.pool.str(a.name) == name && d.pool.str(a.ns) == ns && (a.ns != noIndex || ns == "") {
			return i
		}
	}
	return -1
}

// AddElement appends a new empty element named name (no namespace) as the
// last child of parent and returns it. Its line number is that of parent's
// end tag.
func (d *Document) AddElement(parent *Element, name string) (*Element, error) {
	return d.insertElement(parent, nil, name)
}

// insertElement inserts a new element under parent, before the child before
// (nil: as the last child).
func (d *Document) insertElement(parent, before *Element, name string) (*Element, error) {
	if parent == nil || parent.doc != d || (before != nil && before.parent != parent) {
		return nil, ErrForeign
	}
	if parent.end == nil {
		return nil, fmt.Errorf("%w: <%s>", ErrNoEndTag, parent.Name())
	}
	var at chunk = parent.end
	line := parent.end.line
	if before != nil {
		at, line = before, before.line
	}
	idx, err := d.intern(name)
	if err != nil {
		return nil, err
	}
	hdr := nodeHeader{typ: typeStartElement, line: line, comment: noIndex}
	el := &Element{doc: d, nodeHeader: hdr, ns: noIndex, name: idx, attrSize: attrSize, parent: parent}
	hdr.typ = typeEndElement
	el.end = &endNode{nodeHeader: hdr, ns: noIndex, name: idx}
	pos := slices.Index(d.chunks, at)
	d.chunks = slices.Insert(d.chunks, pos, chunk(el), chunk(el.end))
	ci := len(parent.children)
	if before != nil {
		ci = slices.Index(parent.children, before)
	}
	parent.children = slices.Insert(parent.children, ci, el)
	return el, nil
}

// SetAttr sets attribute ns:name of el to v, adding it if el has none.
// id is the resource ID of the attribute name (framework attributes: the
// Attr* constants), 0 for attributes without one (such as manifest/@package).
//
// An existing attribute is matched by id when id is nonzero, else by ns and
// name. A new attribute with an ID has its name placed in the resource-mapped
// prefix of the string pool (in ID order if the map is sorted) with the ID
// added to the resource map at the same index, every string index in the
// document remapped; it is inserted among the element's attributes in ID
// order, attributes without an ID last, as aapt2 does.
func (d *Document) SetAttr(el *Element, ns, name string, id ResID, v Value) error {
	if el == nil || el.doc != d {
		return ErrForeign
	}
	// Fail before changing anything on strings the pool cannot hold.
	for _, s := range []string{ns, name, v.Str} {
		if _, err := encodeString(s, d.pool.isUTF8()); err != nil {
			return fmt.Errorf("%w: string of %d bytes", err, len(s))
		}
	}
	if i := d.findAttr(el, ns, name, id); i >= 0 {
		return d.setValue(&el.attrs[i], v)
	}
	if len(el.attrs) >= 0xFFFF {
		return fmt.Errorf("%w: <%s> has %d attributes", ErrTooLarge, el.Name(), len(el.attrs))
	}
	// Insert into the resource-mapped prefix first: it shifts string
	// indices, while intern only appends.
	var (
		a   = attribute{ns: noIndex, raw: noIndex}
		err error
	)
	if id != 0 {
		a.name, err = d.internAttrName(name, id)
	} else {
		a.name, err = d.intern(name)
	}
	if err != nil {
		return err
	}
	if ns != "" {
		if a.ns, err = d.intern(ns); err != nil {
			return err
		}
	}
	if err := d.setValue(&a, v); err != nil {
		return err
	}
	key := func(a attribute) uint64 {
		if id := d.resID(a.name); id != 0 {
			return uint64(id)
		}
		return 1 << 32
	}
	k := key(a)
	pos := len(el.attrs)
	for i, b := range el.attrs {
		if key(b) > k {
			pos = i
			break
		}
	}
	el.attrs = slices.Insert(el.attrs, pos, a)
	if n := int(el.attrSize) - attrSize; n > 0 {
		odd := el.oddBytes()
		odd.attrs = slices.Insert(odd.attrs, pos*n, make([]byte, n)...)
	}
	for _, ix := range []*uint16{&el.idIndex, &el.classIndex, &el.styleIndex} {
		if *ix != 0 && int(*ix)-1 >= pos {
			*ix++
		}
	}
	return nil
}

// SetAndroidAttr sets android:<name> of el to v, for a framework attribute
// listed in FrameworkAttrs.
func (d *Document) SetAndroidAttr(el *Element, id ResID, v Value) error {
	name, ok := frameworkAttrName(id)
	if !ok {
		return fmt.Errorf("axml: attribute %v is not in the framework attribute table", id)
	}
	return d.SetAttr(el, NSAndroid, name, id, v)
}

// setValue stores v in a: strings keep the raw value and a TYPE_STRING typed
// value pointing at the same pool entry; other types have no raw value.
func (d *Document) setValue(a *attribute, v Value) error {
	a.value = resValue{size: resValueSize, typ: uint8(v.Type), data: v.Data}
	a.raw = noIndex
	if v.Type == TypeString {
		idx, err := d.intern(v.Str)
		if err != nil {
			return err
		}
		a.raw, a.value.data = idx, idx
	}
	return nil
}

// intern returns the index of s outside the resource-mapped prefix of the
// pool (where a string would read as a framework attribute name), appending
// it if absent.
func (d *Document) intern(s string) (uint32, error) {
	p := d.pool
	from := 0
	if d.resMap != nil {
		from = min(len(d.resMap.ids), len(p.strs))
		// Map entries past the end of the pool are meaningless; drop them
		// so that the appended string does not pick one up.
		d.resMap.ids = d.resMap.ids[:from]
	}
	for i := from; i < len(p.strs); i++ {
		if p.strs[i].s == s {
			return uint32(i), nil
		}
	}
	if len(p.strs) >= noIndex-1 {
		return 0, ErrTooLarge
	}
	at := uint32(len(p.strs))
	if err := p.insert(int(at), s); err != nil {
		return 0, fmt.Errorf("%w: string of %d bytes", err, len(s))
	}
	d.remap(at) // references past the end of the pool stay past it
	return at, nil
}

// internAttrName returns the index of the attribute name s with resource ID
// id, inserting it into the resource-mapped prefix of the pool (creating the
// resource map chunk if needed) and remapping the document if absent.
func (d *Document) internAttrName(s string, id ResID) (uint32, error) {
	if d.resMap == nil {
		m := &resMap{headerSize: chunkHeaderSize}
		pos := slices.Index(d.chunks, chunk(d.pool)) + 1
		d.chunks = slices.Insert(d.chunks, pos, chunk(m))
		d.resMap = m
	}
	ids := d.resMap.ids
	n := min(len(ids), len(d.pool.strs))
	for i := range n {
		if ResID(ids[i]) == id && d.pool.strs[i].s == s {
			return uint32(i), nil
		}
	}
	at := n
	if slices.IsSorted(ids[:n]) {
		at, _ = slices.BinarySearch(ids[:n], uint32(id))
	}
	if err := d.pool.insert(at, s); err != nil {
		return 0, err
	}
	d.resMap.ids = slices.Insert(ids[:n], at, uint32(id))
	d.remap(uint32(at))
	return uint32(at), nil
}
