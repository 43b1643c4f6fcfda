package apksig

import (
	"encoding/asn1"
	"errors"
	"testing"

	"github.com/trustfuse/trustfuse/internal/cms"
)

// x500Name encodes a Name from RDNs, each a list of (OID, tag, text)
// attribute values, with the string type chosen by tag.
type x500AVA struct {
	oid  string
	tag  int
	text string
}

func x500Name(t testing.TB, rdns ...[]x500AVA) []byte {
	t.Helper()
	var seq []byte
	for _, rdn := range rdns {
		var set []byte
		for _, a := range rdn {
			ava, err := asn1.Marshal(struct {
				Type  asn1.ObjectIdentifier
				Value asn1.RawValue
			}{pkcs7OID(a.oid), asn1.RawValue{Tag: a.tag, Bytes: []byte(a.text)}})
			if err != nil {
				t.Fatal(err)
			}
			set = append(set, ava...)
		}
		seq = append(seq, cms.TLV(0x31, set)...)
	}
	return cms.TLV(0x30, seq)
}

func TestX500Equal(t *testing.T) {
	const cn, o, email = "2.5.4.3", "2.5.4.10", "1.2.840.113549.1.9.1"
	pr, utf, ia5 := asn1.TagPrintableString, asn1.TagUTF8String, asn1.TagIA5String
	name := func(avas ...x500AVA) []byte { return x500Name(t, avas) }
	base := x500Name(t, []x500AVA{{o, utf, "TrustFuse tests"}}, []x500AVA{{cn, utf, "Signer One"}})
	tests := []struct {
		name  string
		other []byte
		want  bool
	}{
		{"same bytes", base, true},
		{"PrintableString for UTF8String", x500Name(t, []x500AVA{{o, pr, "TrustFuse tests"}}, []x500AVA{{cn, pr, "Signer One"}}), true},
		{"case differs", x500Name(t, []x500AVA{{o, utf, "TRUSTFUSE TESTS"}}, []x500AVA{{cn, pr, "signer one"}}), true},
		{"extra inner, leading and trailing spaces", x500Name(t, []x500AVA{{o, pr, "  TrustFuse   tests "}}, []x500AVA{{cn, utf, "Signer  One"}}), true},
		{"IA5String is compared by encoding", x500Name(t, []x500AVA{{o, ia5, "TrustFuse tests"}}, []x500AVA{{cn, utf, "Signer One"}}), false},
		{"other text", x500Name(t, []x500AVA{{o, utf, "TrustFuse tests"}}, []x500AVA{{cn, utf, "Signer Two"}}), false},
		{"RDNs in another order", x500Name(t, []x500AVA{{cn, utf, "Signer One"}}, []x500AVA{{o, utf, "TrustFuse tests"}}), false},
		{"one multi-valued RDN", name(x500AVA{o, utf, "TrustFuse tests"}, x500AVA{cn, utf, "Signer One"}), false},
		{"not a Name", []byte{0x30, 0x03, 0x31, 0x01, 0x00}, false},
	}
	for _, tc := range tests {
		if got := x500Equal(base, tc.other); got != tc.want {
			t.Errorf("%s: x500Equal = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Inside a multi-valued RDN the order of values does not count; for an
	// attribute without an RFC 2253 keyword, case does.
	a := name(x500AVA{o, utf, "x"}, x500AVA{cn, utf, "y"})
	b := name(x500AVA{cn, pr, "Y"}, x500AVA{o, pr, "X"})
	if !x500Equal(a, b) {
		t.Error("multi-valued RDN in another order: not equal")
	}
	if x500Equal(name(x500AVA{email, ia5, "a@b"}), name(x500AVA{email, ia5, "A@B"})) {
		t.Error("emailAddress values that differ in case: equal")
	}
	if _, err := x500Canonical(append(base, 0)); !errors.Is(err, errX500Name) {
		t.Errorf("trailing byte: %v, want errX500Name", err)
	}
}
