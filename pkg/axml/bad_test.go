package axml

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// badBase is a small real document (aapt2, UTF-8 pool, a resource map,
// elements with attributes) that the bad-input cases corrupt.
const badBase = "res/color/common_google_signin_btn_tint.xml"

// layout locates chunks in a document by reading the chunk headers directly.
type layout struct {
	chunks []int // offsets of the chunks inside the document
	types  []uint16
}

func readLayout(t testing.TB, b []byte) layout {
	t.Helper()
	var l layout
	for off := int(binary.LittleEndian.Uint16(b[2:])); off+8 <= len(b); {
		l.chunks = append(l.chunks, off)
		l.types = append(l.types, binary.LittleEndian.Uint16(b[off:]))
		off += int(binary.LittleEndian.Uint32(b[off+4:]))
	}
	return l
}

// first returns the offset of the first chunk of type typ.
func (l layout) first(t testing.TB, typ uint16) int {
	t.Helper()
	for i, ty := range l.types {
		if ty == typ {
			return l.chunks[i]
		}
	}
	t.Fatalf("no chunk of type 0x%04x", typ)
	return 0
}

func put16(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
func put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }

// badCase is a corruption of the badBase document and what Decode must
// report for it.
type badCase struct {
	name    string
	mutate  func(b []byte) []byte
	wantErr error
	wantOff int
	// aaptReads is empty when aapt (ResXMLTree) refuses the document too;
	// otherwise it says why we refuse what aapt reads.
	aaptReads string
}

// badCases returns badBase and the bad-input cases made from it.
func badCases(t testing.TB) ([]byte, []badCase) {
	base := testenv.ZipEntry(t, testenv.RealApp(t, "settings_apk-debug.apk"), badBase)
	mustDecode(t, badBase, base) // the base itself is fine
	l := readLayout(t, base)
	pool := l.first(t, typeStringPool)
	elem := l.first(t, typeStartElement)
	end := l.first(t, typeEndElement)
	withAttrs := -1 // the first element with attributes
	for i, c := range l.chunks {
		if l.types[i] == typeStartElement && binary.LittleEndian.Uint16(base[c+28:]) > 0 {
			withAttrs = c
			break
		}
	}
	if withAttrs < 0 {
		t.Fatal("no element with attributes")
	}
	strStart := pool + int(binary.LittleEndian.Uint32(base[pool+20:]))
	poolLen := int(binary.LittleEndian.Uint32(base[pool+4:]))
	firstNode := l.chunks[slices.IndexFunc(l.types, func(t uint16) bool { return t >= typeFirstNode && t <= typeLastNode })]
	// A resource table is chunks too, with no node among them: the settings
	// app's table header, a value pool and an empty package chunk.
	arsc := testenv.ZipEntry(t, testenv.RealApp(t, "settings_apk-debug.apk"), "resources.arsc")
	table := slices.Concat(arsc[:binary.LittleEndian.Uint16(arsc[2:])], base[pool:pool+poolLen], le32Append(nil, 0x00080200, 8))
	put32(table, 4, uint32(len(table)))
	half := len(base) / 2
	crossing := 0 // the chunk that the cut at half falls inside
	for _, c := range l.chunks {
		if c < half {
			crossing = c
		}
	}

	return base, []badCase{
		{"empty", func([]byte) []byte { return nil }, ErrTruncated, 0, ""},
		{"short header", func(b []byte) []byte { return b[:6] }, ErrTruncated, 0, ""},
		{"resource table (no node chunk)", func([]byte) []byte { return table }, ErrNotXML, 0, ""},
		{"text XML", func([]byte) []byte { return []byte(`<?xml version="1.0"?><manifest/>`) }, ErrNotXML, 4, ""},
		{"PNG", func([]byte) []byte { return []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR") }, ErrNotXML, 4, ""},
		{"truncated file", func(b []byte) []byte { return b[:half] }, ErrTruncated, 4, ""},
		{"truncated file, size patched", func(b []byte) []byte { b = b[:half]; put32(b, 4, uint32(half)); return b }, ErrChunkSize, crossing + 4, ""},
		{"document header size below 8", func(b []byte) []byte { put16(b, 2, 4); return b }, ErrChunkSize, 2, ""},
		{"document header size above size", func(b []byte) []byte { put16(b, 2, 0xFFFF); return b }, ErrChunkSize, 2, ""},
		{"chunk size below its header size", func(b []byte) []byte { put32(b, pool+4, 4); return b }, ErrChunkSize, pool + 2, ""},
		{"chunk size past the document", func(b []byte) []byte { put32(b, pool+4, 0xFFFFFFF0); return b }, ErrChunkSize, pool + 4, ""},
		{"node header size below 16", func(b []byte) []byte { put16(b, elem+2, 8); return b }, ErrChunkSize, elem + 2, ""},
		{"end node without room for its extension", func(b []byte) []byte {
			put16(b, end+2, uint16(binary.LittleEndian.Uint32(b[end+4:])-4))
			return b
		}, ErrChunkSize, end + 4, ""},
		{"pool header size below 28", func(b []byte) []byte { put16(b, pool+2, 20); return b }, ErrStringPool, pool + 2, ""},
		{"huge string count", func(b []byte) []byte { put32(b, pool+8, 0xFFFFFFFF); return b }, ErrStringPool, pool + 8, ""},
		{"huge style count", func(b []byte) []byte { put32(b, pool+12, 0x40000000); return b }, ErrStringPool, pool + 8, ""},
		{"strings start outside the chunk", func(b []byte) []byte { put32(b, pool+20, 0x7FFFFFFF); return b }, ErrStringPool, pool + 20, ""},
		{"string offset outside the data", func(b []byte) []byte { put32(b, pool+28, 0x7FFFFFFF); return b }, ErrStringPool, pool + 28, ""},
		{"string length overruns the data", func(b []byte) []byte {
			b[strStart], b[strStart+1], b[strStart+2], b[strStart+3] = 0xFF, 0xFF, 0xFF, 0xFF
			return b
		}, ErrStringPool, strStart, ""},
		{"element name index out of range", func(b []byte) []byte { put32(b, elem+20, 0x00FFFFFF); return b }, ErrStringIndex, elem, ""},
		{"element name missing", func(b []byte) []byte { put32(b, elem+20, noIndex); return b }, ErrStringIndex, elem, ""},
		{"attribute name index out of range", func(b []byte) []byte { put32(b, withAttrs+36+4, 5000); return b }, ErrStringIndex, withAttrs, ""},
		{"huge attribute count", func(b []byte) []byte { put16(b, elem+28, 0xFFFF); return b }, ErrAttribute, elem + 28, ""},
		{"attribute size below 20", func(b []byte) []byte { put16(b, elem+26, 4); return b }, ErrAttribute, elem + 24, "overlapping data: the attributes overlap each other"},
		{"attribute start inside the extension", func(b []byte) []byte { put16(b, elem+24, 8); return b }, ErrAttribute, elem + 24, "overlapping data: the attributes overlap the attribute extension"},
		{"no node chunk", func([]byte) []byte { return []byte{3, 0, 8, 0, 8, 0, 0, 0} }, ErrNotXML, 0, ""},
		{"no string pool before the first node", func(b []byte) []byte { put16(b, pool, 0x0042); return b }, ErrNoStringPool, firstNode, ""},
		{"chunk size not a multiple of 4", func(b []byte) []byte {
			// The pool claims two more bytes, inserted after it: every
			// byte stays inside a chunk.
			put32(b, pool+4, uint32(poolLen+2))
			return insertChunk(b, pool+poolLen, []byte{0, 0})
		}, ErrChunkSize, pool + 2, ""},
		{"unknown chunk with an 8-byte header among the nodes", func(b []byte) []byte {
			return insertChunk(b, elem, le32Append(nil, 0x00080150, 16, 0, 0))
		}, ErrChunkSize, elem + 2, ""},
		{"first node ends the document", func(b []byte) []byte {
			b = b[:firstNode+int(binary.LittleEndian.Uint32(b[firstNode+4:]))]
			put32(b, 4, uint32(len(b)))
			return b
		}, ErrNotXML, firstNode, ""},
		{"string pool after the first node", func(b []byte) []byte {
			// Moved after the nodes, the pool is not read by the platform.
			return slices.Concat(b[:pool], b[pool+poolLen:], b[pool:pool+poolLen])
		}, ErrNoStringPool, firstNode - poolLen, ""},
	}
}

// TestDecodeBadInput feeds corrupted documents to Decode: each must fail
// with a *FormatError of the right kind at the right offset, without panic
// and without allocating in proportion to the counts it claims.
func TestDecodeBadInput(t *testing.T) {
	base, tests := badCases(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.mutate(bytes.Clone(base))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			d, err := Decode(in)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("Decode succeeded (%d chunks), want %v", len(d.chunks), tt.wantErr)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			if !errors.Is(err, tt.wantErr) || fe.Offset != int64(tt.wantOff) {
				t.Errorf("error %q: want %v at offset %d", err, tt.wantErr, tt.wantOff)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
				t.Errorf("Decode of %d bytes allocated %d bytes", len(in), n)
			}
		})
	}
}

// TestDecodeTruncations cuts a real document at every length, with and
// without the document size patched to match: Decode returns a *FormatError
// or, when the cut falls between chunks, a document that encodes back to
// exactly its input.
func TestDecodeTruncations(t *testing.T) {
	base := testenv.ZipEntry(t, testenv.RealApp(t, "settings_apk-debug.apk"), "res/layout/main.xml")
	for n := range len(base) {
		for _, patch := range []bool{false, true} {
			in := bytes.Clone(base[:n])
			if patch && n >= 8 {
				put32(in, 4, uint32(n))
			}
			d, err := Decode(in)
			if err != nil {
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("cut %d: error %v is not a *FormatError", n, err)
				}
				continue
			}
			if out, err := d.Encode(); err != nil || !bytes.Equal(out, in) {
				t.Fatalf("cut %d: decoded, but encodes differently (%v)", n, err)
			}
		}
	}
}

// synthPool builds a document holding a string pool (see poolChunk), then an
// empty element named by string 0 (the platform reads a pool only when a
// node follows it, and a node only when something follows that).
func synthPool(flags uint32, strOffs []uint32, strData []byte, styOffs []uint32, styData []byte) []byte {
	p := poolChunk(flags, strOffs, strData, styOffs, styData)
	node := le32Append(nil, 0x00100102, 36, 1, noIndex, noIndex, 0, 0x00140014, 0, 0,
		0x00100103, 24, 1, noIndex, noIndex, 0)
	doc := le32Append(nil, 0x00080003, uint32(8+len(p)+len(node)))
	return slices.Concat(doc, p, node)
}

// poolChunk builds a string pool chunk with the given string and style
// offset tables and data.
func poolChunk(flags uint32, strOffs []uint32, strData []byte, styOffs []uint32, styData []byte) []byte {
	strStart := poolHeaderSize + 4*(len(strOffs)+len(styOffs))
	styStart := 0
	if len(styOffs) > 0 {
		styStart = strStart + len(strData)
	}
	p := le32Append(nil, 0, 0, uint32(len(strOffs)), uint32(len(styOffs)), flags, uint32(strStart), uint32(styStart))
	put16(p, 0, typeStringPool)
	put16(p, 2, poolHeaderSize)
	p = le32Append(p, strOffs...)
	p = le32Append(p, styOffs...)
	p = append(append(p, strData...), styData...)
	p = append(p, make([]byte, (4-len(p)%4)%4)...)
	put32(p, 4, uint32(len(p)))
	return p
}

// TestDecodePoolLayouts covers pools laid out unlike aapt's: entries that
// share an offset decode once, round-trip exactly and stay shared after an
// edit; entries or styles that overlap so as to multiply the decoded
// size are refused rather than allocated.
func TestDecodePoolLayouts(t *testing.T) {
	long := strings.Repeat("a", 2000)
	entry, err := encodeString(long, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("shared offsets", func(t *testing.T) {
		in := synthPool(poolUTF8, make([]uint32, 20000), entry, nil, nil)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, err := Decode(in)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 4*uint64(len(in))+40*20000 {
			t.Errorf("Decode of %d bytes allocated %d bytes", len(in), n)
		}
		if d.pool.str(19999) != long {
			t.Errorf("shared entry not decoded")
		}
		if out := mustEncode(t, "shared", d); !bytes.Equal(out, in) {
			t.Error("shared-offset pool does not round-trip")
		}
		// After an edit the pool is re-laid out: shared entries stay shared.
		if err := d.pool.insert(0, "x"); err != nil {
			t.Fatal(err)
		}
		out := mustEncode(t, "edited", d)
		if len(out) > len(in)+16 {
			t.Errorf("edited pool grew from %d to %d bytes", len(in), len(out))
		}
		if d2 := mustDecode(t, "edited", out); d2.pool.str(0) != "x" || d2.pool.str(20000) != long {
			t.Error("edited shared pool reads back wrong")
		}
	})
	t.Run("overlapping strings", func(t *testing.T) {
		data := append(bytes.Repeat([]byte{0x7F}, 1200), 0)
		offs := make([]uint32, 1000)
		for i := range offs {
			offs[i] = uint32(i)
		}
		_, err := Decode(synthPool(poolUTF8, offs, data, nil, nil))
		if !errors.Is(err, ErrStringPool) {
			t.Errorf("Decode = %v, want ErrStringPool", err)
		}
	})
	t.Run("overlapping styles", func(t *testing.T) {
		var spans []byte
		for range 100 {
			spans = le32Append(spans, 0, 0, 1)
		}
		spans = le32Append(spans, spanEnd)
		_, err := Decode(synthPool(poolUTF8, []uint32{0}, entry, make([]uint32, 1000), spans))
		if !errors.Is(err, ErrStringPool) {
			t.Errorf("Decode = %v, want ErrStringPool", err)
		}
	})
	t.Run("styles kept", func(t *testing.T) {
		// One styled string, aapt's layout: spans, END, then END END.
		spans := le32Append(nil, 0, 0, 1, spanEnd, spanEnd, spanEnd)
		padded := append(bytes.Clone(entry), make([]byte, (4-len(entry)%4)%4)...)
		in := synthPool(poolUTF8, []uint32{0}, padded, []uint32{0}, spans)
		d := mustDecode(t, "styled", in)
		if d.pool.raw != nil || len(d.pool.styles) != 1 || len(d.pool.styles[0]) != 1 {
			t.Fatalf("styles not modelled: raw=%v styles=%v", d.pool.raw != nil, d.pool.styles)
		}
		if out := mustEncode(t, "styled", d); !bytes.Equal(out, in) {
			t.Error("styled pool does not round-trip")
		}
		// Inserting before the styled string shifts its style and span name.
		if err := d.pool.insert(0, "new"); err != nil {
			t.Fatal(err)
		}
		if len(d.pool.styles) != 2 || d.pool.styles[0] != nil || d.pool.styles[1][0].name != 1 {
			t.Errorf("after insert at 0: styles %v", d.pool.styles)
		}
		d2 := mustDecode(t, "edited", mustEncode(t, "edited", d))
		if d2.pool.str(1) != long || len(d2.pool.styles) != 2 || d2.pool.styles[1][0] != (span{1, 0, 1}) {
			t.Errorf("edited styled pool decodes as %v", d2.pool.styles)
		}
	})
}

// TestBadInputAgreesWithAapt puts each bad-input document in a copy of the
// settings app and asks aapt, which reads binary XML with libandroidfw's
// ResXMLTree, to dump it: aapt must refuse it too (exit non-zero, crash, or
// a ResXMLTree warning with the dump cut short), except for the cases that
// name why we refuse what aapt reads.
func TestBadInputAgreesWithAapt(t *testing.T) {
	aapt := testenv.Tool(t, "aapt")
	apk := testenv.RealApp(t, "settings_apk-debug.apk")
	base, tests := badCases(t)
	dir := t.TempDir()
	shared := 0
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.mutate(bytes.Clone(base))
			bad := filepath.Join(dir, fmt.Sprintf("bad%d.apk", i))
			testenv.RewriteZip(t, apk, bad, map[string][]byte{badBase: in})
			var stderr strings.Builder
			cmd := exec.Command(aapt, "dump", "xmltree", bad, badBase)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			reads := err == nil && !strings.Contains(stderr.String(), "ResourceType W")
			switch {
			case reads && tt.aaptReads == "":
				t.Errorf("aapt reads what we refuse:\n%s", out)
			case !reads && tt.aaptReads != "":
				t.Errorf("aapt refuses it too (%v, %s): drop the exception %q", err, stderr.String(), tt.aaptReads)
			case !reads:
				shared++
			}
		})
	}
	t.Logf("%d of %d bad inputs refused by aapt too", shared, len(tests))
}
