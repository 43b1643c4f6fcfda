package apksig

import (
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// FORMAT: X.501 Name as used in certificates (RFC 5280 §4.1.2.4):
//
//	Name ::= RDNSequence
//	RDNSequence ::= SEQUENCE OF RelativeDistinguishedName
//	RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
//	AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
//
// Android finds a JAR signer's certificate by comparing the SignerInfo's
// issuer with each certificate's issuer as javax.security.auth.x500.X500Principal
// does: by their RFC 2253 canonical forms (X500Principal.CANONICAL), not by
// their bytes. In that form, a value of an attribute with an RFC 2253 keyword
// (CN, C, L, ST, O, OU, STREET, DC, UID) that is a PrintableString or
// UTF8String is compared as text: runs of spaces collapsed to one, leading
// and trailing whitespace removed, case folded, Unicode NFKD. Any other value
// (other string types, other attributes) is compared by its encoding. The
// attribute values of a multi-valued RDN compare as a set.

// x500Keyword reports whether oid is an attribute type with an RFC 2253 keyword, the only
// ones whose string values the canonical form compares as text.
func x500Keyword(oid asn1.ObjectIdentifier) bool {
	switch oid.String() {
	case "2.5.4.3", // CN
		"2.5.4.6",                    // C
		"2.5.4.7",                    // L
		"2.5.4.8",                    // ST
		"2.5.4.10",                   // O
		"2.5.4.11",                   // OU
		"2.5.4.9",                    // STREET
		"0.9.2342.19200300.100.1.25", // DC
		"0.9.2342.19200300.100.1.1":  // UID
		return true
	}
	return false
}

// errX500Name reports a Name that cannot be decoded.
var errX500Name = errors.New("apksig: malformed X.500 name")

// x500Canonical returns the canonical form of a DER Name: one sorted list of
// "type=value" strings per RDN, in order.
func x500Canonical(der []byte) ([][]string, error) {
	var rdns []asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil {
		return nil, fmt.Errorf("%w: %w", errX500Name, err)
	} else if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the name", errX500Name, len(rest))
	}
	out := make([][]string, 0, len(rdns))
	for _, rdn := range rdns {
		if rdn.Class != asn1.ClassUniversal || rdn.Tag != asn1.TagSet {
			return nil, fmt.Errorf("%w: RDN is not a SET", errX500Name)
		}
		var avas []string
		for rest := rdn.Bytes; len(rest) > 0; {
			var ava struct {
				Type  asn1.ObjectIdentifier
				Value asn1.RawValue
			}
			var err error
			if rest, err = asn1.Unmarshal(rest, &ava); err != nil {
				return nil, fmt.Errorf("%w: %w", errX500Name, err)
			}
			avas = append(avas, ava.Type.String()+"="+x500CanonicalValue(ava.Type, ava.Value))
		}
		if len(avas) == 0 {
			return nil, fmt.Errorf("%w: empty RDN", errX500Name)
		}
		slices.Sort(avas)
		out = append(out, avas)
	}
	return out, nil
}

// x500CanonicalValue returns the canonical text of one attribute value:
// "s:" and the folded text for a string compared as text, "#" and the hex
// of its encoding otherwise.
func x500CanonicalValue(typ asn1.ObjectIdentifier, v asn1.RawValue) string {
	if !x500Keyword(typ) || v.Class != asn1.ClassUniversal || (v.Tag != asn1.TagPrintableString && v.Tag != asn1.TagUTF8String) {
		return "#" + hex.EncodeToString(v.FullBytes)
	}
	s := strings.ToValidUTF8(string(v.Bytes), "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
	}
	// Java's String.trim: every character up to U+0020 at either end.
	s = strings.TrimFunc(b.String(), func(r rune) bool { return r <= ' ' })
	return "s:" + norm.NFKD.String(strings.ToLower(strings.ToUpper(s)))
}

// x500Equal reports whether two DER Names are the same principal for
// Android. A name that does not decode equals none.
func x500Equal(a, b []byte) bool {
	ca, errA := x500Canonical(a)
	cb, errB := x500Canonical(b)
	if errA != nil || errB != nil {
		return false
	}
	return slices.EqualFunc(ca, cb, slices.Equal)
}
