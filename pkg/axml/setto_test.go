package axml

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// setToShape is a document shape that the platform's ResXMLTree::setTo
// reads although aapt never writes it, made from a real document.
type setToShape struct {
	name string
	make func(t testing.TB, doc []byte) []byte
}

// insertChunk returns doc with c inserted at offset off and the outer size
// grown to match.
func insertChunk(doc []byte, off int, c []byte) []byte {
	out := slices.Concat(doc[:off], c, doc[off:])
	put32(out, 4, le32(doc[4:])+uint32(len(c)))
	return out
}

// firstNodeAt returns the offset of doc's first node chunk.
func firstNodeAt(t testing.TB, doc []byte) int {
	l := readLayout(t, doc)
	i := slices.IndexFunc(l.types, func(typ uint16) bool { return typ >= typeFirstNode && typ <= typeLastNode })
	if i < 0 {
		t.Fatal("no node chunk")
	}
	return l.chunks[i]
}

// setToShapes lists one shape per class of input that ResXMLTree::setTo
// accepts and aapt never writes. Each applies to a document whose first
// chunk is its string pool (every aapt and aapt2 document).
func setToShapes() []setToShape {
	outerType := func(typ uint16) setToShape {
		return setToShape{fmt.Sprintf("outer type 0x%04x", typ), func(_ testing.TB, doc []byte) []byte {
			put16(doc, 0, typ)
			return doc
		}}
	}
	// junk is an unknown chunk type with an 8-byte body.
	junk := le32Append(nil, 0x00080777, 16, 0xDEADBEEF, 0x01020304)
	return []setToShape{
		outerType(0x0000), // the packers' choice
		outerType(typeStringPool),
		outerType(typeEndElement),
		outerType(0xFFFF),
		{"outer header of 16 bytes", func(_ testing.TB, doc []byte) []byte {
			doc = insertChunk(doc, chunkHeaderSize, []byte{0xA5, 0xA5, 0xA5, 0xA5, 0x5A, 0x5A, 0x5A, 0x5A})
			put16(doc, 2, 16)
			return doc
		}},
		{"unknown chunk before the pool", func(_ testing.TB, doc []byte) []byte {
			return insertChunk(doc, chunkHeaderSize, junk)
		}},
		{"unknown chunk before the first node", func(t testing.TB, doc []byte) []byte {
			return insertChunk(doc, firstNodeAt(t, doc), junk)
		}},
		{"decoy string pool first", func(_ testing.TB, doc []byte) []byte {
			s, _ := encodeString("decoy", true)
			s = append(s, make([]byte, (4-len(s)%4)%4)...)
			return insertChunk(doc, chunkHeaderSize, poolChunk(poolUTF8, []uint32{0}, s, nil, nil))
		}},
		{"broken decoy string pool first", func(_ testing.TB, doc []byte) []byte {
			p := poolChunk(poolUTF8, []uint32{0xFFFFFF}, []byte{1, 1, 'x', 0}, nil, nil)
			put32(p, 20, 0x7FFFFFF0) // strings start far outside the chunk
			return insertChunk(doc, chunkHeaderSize, p)
		}},
		{"decoy resource map first", func(_ testing.TB, doc []byte) []byte {
			m := le32Append(nil, 0x00080180, 8+4*4, 0x7f010000, 0x7f010001, 0x7f010002, 0x7f010003)
			return insertChunk(doc, chunkHeaderSize, m)
		}},
		{"unknown node type among the nodes", func(t testing.TB, doc []byte) []byte {
			// A node-range type the platform skips, after the first node.
			first := firstNodeAt(t, doc)
			node := le32Append(nil, 0x00100150, 16, 1, noIndex)
			return insertChunk(doc, first+int(le32(doc[first+4:])), node)
		}},
		{"second string pool after the nodes", func(t testing.TB, doc []byte) []byte {
			pool := doc[chunkHeaderSize : chunkHeaderSize+int(le32(doc[chunkHeaderSize+4:]))]
			return insertChunk(doc, int(le32(doc[4:])), bytes.Clone(pool))
		}},
		{"dangling optional string references", func(t testing.TB, doc []byte) []byte {
			// The root's comment, its first typed non-string attribute's raw
			// value and the last end tag's name point past the pool: the
			// raw value at exactly its size, where an appended string lands.
			n := le32(doc[chunkHeaderSize+8:])
			l := readLayout(t, doc)
			el := l.first(t, typeStartElement)
			put32(doc, el+12, 0x00FFFFFF)
			for a := el + 36; a < el+36+attrSize*int(le16(doc[el+28:])); a += attrSize {
				if doc[a+15] != byte(TypeString) && doc[a+15] != byte(TypeNull) {
					put32(doc, a+8, n)
					break
				}
			}
			i := slices.Index(l.types, typeEndElement)
			for j, typ := range l.types {
				if typ == typeEndElement {
					i = j
				}
			}
			put32(doc, l.chunks[i]+20, n+1)
			return doc
		}},
		{"bytes after the document size", func(_ testing.TB, doc []byte) []byte {
			return append(doc, "trailing, 29 odd bytes here.."...)
		}},
	}
}

// danglingRefs counts the string references of d's nodes past its pool.
func danglingRefs(d *Document) int {
	n := uint32(len(d.pool.strs))
	count := 0
	for _, c := range d.chunks {
		var refs []uint32
		switch c := c.(type) {
		case *Element:
			refs = []uint32{c.comment, c.ns, c.name}
			for _, a := range c.attrs {
				refs = append(refs, a.ns, a.name, a.raw)
			}
		case *endNode:
			refs = []uint32{c.comment, c.ns, c.name}
		case *namespaceNode:
			refs = []uint32{c.comment, c.prefix, c.uri}
		}
		for _, r := range refs {
			if r != noIndex && r >= n {
				count++
			}
		}
	}
	return count
}

// treeLines renders d's element tree with resolved names and attributes.
func treeLines(d *Document) []string {
	var out []string
	var walk func(e *Element, depth int)
	walk = func(e *Element, depth int) {
		out = append(out, fmt.Sprintf("%s%s:%s line %d", strings.Repeat(" ", depth), e.Namespace(), e.Name(), e.Line()))
		for _, a := range e.Attrs() {
			out = append(out, fmt.Sprintf("%s %+v", strings.Repeat(" ", depth), a))
		}
		for _, c := range e.Children() {
			walk(c, depth+1)
		}
	}
	for _, r := range d.roots {
		walk(r, 0)
	}
	return out
}

// TestSetToShapes puts each shape of the settings app's manifest in a copy
// of the app and checks, against aapt and aapt2 (both read binary XML with
// ResXMLTree), that:
//   - both tools dump the shape exactly as the original (so the platform
//     reads it, and reads the same tree);
//   - we decode it to the same tree and encode it back byte for byte;
//   - the fuse pipeline's edit (a provider and permissions) works on it,
//     keeps the odd bytes, and aapt2 dumps the result exactly as the same
//     edit made on the original.
func TestSetToShapes(t *testing.T) {
	apk := testenv.RealApp(t, "settings_apk-debug.apk")
	orig := testenv.ZipEntry(t, apk, "AndroidManifest.xml")
	dumps := func(t *testing.T, apk string) []string {
		return slices.Concat(
			dumpStdout(t, "aapt", "dump", "xmltree", apk, "AndroidManifest.xml"),
			dumpStdout(t, "aapt2", "dump", "xmltree", "--file", "AndroidManifest.xml", apk))
	}
	wantDump := dumps(t, apk)
	od := mustDecode(t, "original", orig)
	wantTree := treeLines(od)
	m, err := ParseManifest(od)
	if err != nil {
		t.Fatal(err)
	}
	perms := []string{permInternet, permMissing}
	addProvider(t, od, m.Package, perms)
	dir := t.TempDir()
	editedAPK := filepath.Join(dir, "edited.apk")
	testenv.RewriteZip(t, apk, editedAPK, map[string][]byte{"AndroidManifest.xml": mustEncode(t, "edited", od)})
	wantEdited := dumps(t, editedAPK)

	for i, s := range setToShapes() {
		t.Run(s.name, func(t *testing.T) {
			in := s.make(t, bytes.Clone(orig))
			shapeAPK := filepath.Join(dir, fmt.Sprintf("shape%d.apk", i))
			testenv.RewriteZip(t, apk, shapeAPK, map[string][]byte{"AndroidManifest.xml": in})
			if got := dumps(t, shapeAPK); !slices.Equal(got, wantDump) {
				t.Fatalf("aapt/aapt2 read the shape differently (so it is not a shape the platform accepts):\n%s", diffLines(wantDump, got))
			}
			d, err := Decode(in)
			if err != nil {
				t.Fatalf("aapt and aapt2 read it, we refuse it: %v", err)
			}
			if out := mustEncode(t, "shape", d); !bytes.Equal(out, in) {
				t.Fatalf("does not round-trip (first difference at %d)", firstDiff(out, in))
			}
			if got := treeLines(d); !slices.Equal(got, wantTree) {
				t.Fatalf("decoded tree differs from the original's:\n%s", diffLines(wantTree, got))
			}

			dangling := danglingRefs(d)
			if strings.HasPrefix(s.name, "dangling") != (dangling == 3) {
				t.Fatalf("%d references past the pool, want 3 in the dangling shape only", dangling)
			}
			addProvider(t, d, m.Package, perms)
			if got := danglingRefs(d); got != dangling {
				t.Errorf("the edit changed the number of references past the pool from %d to %d", dangling, got)
			}
			edited := mustEncode(t, "edited shape", d)
			if !bytes.Equal(edited[:2], in[:2]) || !bytes.Equal(edited[len(edited)-len(d.trailer):], d.trailer) {
				t.Error("the edit lost the outer type or the trailer")
			}
			if again := mustEncode(t, "re-decoded", mustDecode(t, "edited shape", edited)); !bytes.Equal(again, edited) {
				t.Fatal("edited shape does not round-trip")
			}
			out := filepath.Join(dir, fmt.Sprintf("shape%d-edited.apk", i))
			testenv.RewriteZip(t, apk, out, map[string][]byte{"AndroidManifest.xml": edited})
			if got := dumps(t, out); !slices.Equal(got, wantEdited) {
				t.Errorf("aapt/aapt2 read the edited shape unlike the edited original:\n%s", diffLines(wantEdited, got))
			}
		})
	}
}

// SetToShapes returns each setToShape applied to doc, by name, for the
// external tests that carry the shapes through signing and fusing.
func SetToShapes(t testing.TB, doc []byte) (names []string, docs [][]byte) {
	for _, s := range setToShapes() {
		names = append(names, s.name)
		docs = append(docs, s.make(t, bytes.Clone(doc)))
	}
	return names, docs
}
