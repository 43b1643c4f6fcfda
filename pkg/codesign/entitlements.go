package codesign

import (
	"encoding/asn1"
	"fmt"
	"maps"
	"math/big"
	"slices"

	"howett.net/plist"

	"github.com/trustfuse/trustfuse/internal/cms"
)

// FORMAT: entitlements blobs. The XML form (slot 5) is the plist bytes as
// given, behind a blob header with magic 0xfade7171. The DER form (slot 7,
// magic 0xfade7172; checked by iOS 15 and later) encodes the same plist as
//
//	[APPLICATION 16] IMPLICIT SEQUENCE {      -- tag 0x70
//	  version  INTEGER 1,
//	  [CONTEXT 16] IMPLICIT SET OF KeyValue } -- tag 0xb0: the top dictionary
//	KeyValue ::= SEQUENCE { key UTF8String, value Value }
//	Value: BOOLEAN | INTEGER | UTF8String | SEQUENCE OF Value (array) |
//	       SET OF KeyValue (dictionary)
//
// Dictionary entries are in ascending key order (byte-wise), as Apple's
// CoreEntitlements, which looks keys up by binary search, requires — not
// in DER's SET OF order (by encoding, shorter entries first): codesign's
// own output sorts by key (TestEntitlementsDERMatchesCodesign holds a real
// codesign'd binary's blobs). Data, date and real values have no DER form
// in entitlements and are refused. (References: rcodesign's
// entitlements.rs; Apple's CoreEntitlements.)
const (
	tagDEREntitlements = 0x70 // [APPLICATION 16] constructed
	tagDERTopDict      = 0xb0 // [CONTEXT 16] constructed
)

// EntitlementsBlob wraps an XML entitlements plist in its blob header.
func EntitlementsBlob(xml []byte) []byte {
	return wrapBlob(MagicEntitlements, xml)
}

// EntitlementsDERBlob encodes an entitlements plist (XML or binary) in
// Apple's DER form and wraps it in its blob header.
func EntitlementsDERBlob(plistBytes []byte) ([]byte, error) {
	der, err := EntitlementsDER(plistBytes)
	if err != nil {
		return nil, err
	}
	return wrapBlob(MagicEntitlementsDER, der), nil
}

// MaxEntitlementsSize caps the entitlements plist EntitlementsDER reads:
// real ones are a few KiB, and the plist decoder recurses once per nesting
// level, so an unbounded input could exhaust the stack.
const MaxEntitlementsSize = 1 << 20

// EntitlementsDER encodes an entitlements plist in Apple's DER form.
func EntitlementsDER(plistBytes []byte) ([]byte, error) {
	if len(plistBytes) > MaxEntitlementsSize {
		return nil, fmt.Errorf("%w: entitlements plist of %d bytes exceeds the %d-byte limit", ErrInput, len(plistBytes), MaxEntitlementsSize)
	}
	var v any
	if _, err := plist.Unmarshal(plistBytes, &v); err != nil {
		return nil, fmt.Errorf("%w: entitlements plist: %w", ErrInput, err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: entitlements plist is a %T, not a dictionary", ErrInput, v)
	}
	body, err := derDictBody(d, 1)
	if err != nil {
		return nil, err
	}
	ver, _ := asn1.Marshal(1) // an int: cannot fail
	inner := append(ver, cms.TLV(tagDERTopDict, body)...)
	return cms.TLV(tagDEREntitlements, inner), nil
}

// maxEntitlementsDepth bounds the nesting of entitlement values (real
// ones nest two or three deep); each level re-copies its content.
const maxEntitlementsDepth = 32

// derDictBody encodes a dictionary's KeyValue sequences in key order; depth
// is the dictionary's nesting level (the top one is 1).
func derDictBody(d map[string]any, depth int) ([]byte, error) {
	var body []byte
	for _, k := range slices.Sorted(maps.Keys(d)) {
		key, err := asn1.MarshalWithParams(k, "utf8")
		if err != nil {
			return nil, fmt.Errorf("%w: entitlement key %q: %w", ErrInput, k, err)
		}
		val, err := derValue(d[k], k, depth+1)
		if err != nil {
			return nil, err
		}
		body = append(body, cms.TLV(0x30, append(key, val...))...)
	}
	return body, nil
}

// derValue encodes one plist value at nesting level depth; key names it in
// errors.
func derValue(v any, key string, depth int) ([]byte, error) {
	switch v.(type) {
	case []any, map[string]any:
		if depth > maxEntitlementsDepth {
			return nil, fmt.Errorf("%w: entitlement %q nested deeper than %d", ErrInput, key, maxEntitlementsDepth)
		}
	}
	switch x := v.(type) {
	case bool:
		return asn1.Marshal(x)
	case string:
		return asn1.MarshalWithParams(x, "utf8")
	case uint64:
		return asn1.Marshal(new(big.Int).SetUint64(x))
	case int64:
		return asn1.Marshal(x)
	case []any:
		var body []byte
		for _, e := range x {
			b, err := derValue(e, key, depth+1)
			if err != nil {
				return nil, err
			}
			body = append(body, b...)
		}
		return cms.TLV(0x30, body), nil
	case map[string]any:
		body, err := derDictBody(x, depth)
		if err != nil {
			return nil, err
		}
		return cms.TLV(0x31, body), nil
	}
	return nil, fmt.Errorf("%w: entitlement %q: a %T value has no DER form", ErrInput, key, v)
}

// wrapBlob prefixes data with a { magic, length } blob header.
func wrapBlob(magic uint32, data []byte) []byte {
	b := be32(make([]byte, 0, blobHeaderSize+len(data)), magic)
	b = be32(b, uint32(blobHeaderSize+len(data)))
	return append(b, data...)
}
