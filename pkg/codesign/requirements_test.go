package codesign

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"strings"
	"testing"

	gotypes "github.com/blacktop/go-macho/pkg/codesign/types"
)

// goMachoRequirements decompiles a requirement set with go-macho.
func goMachoRequirements(t *testing.T, set []byte) []gotypes.Requirement {
	t.Helper()
	be := binary.BigEndian
	hdr := gotypes.RequirementsBlob{Magic: gotypes.Magic(be.Uint32(set)), Length: be.Uint32(set[4:]), Data: be.Uint32(set[8:])}
	reqs, err := gotypes.ParseRequirementSet(hdr, set[12:])
	if err != nil {
		t.Fatalf("go-macho: %v", err)
	}
	return reqs
}

// TestDesignatedRequirement: for each kind of iOS signing identity,
// go-macho's decompilation of our binary requirement equals our text form,
// and the text is what codesign prints for it (the Airbnb case is codesign's
// output for a real App Store binary, quoted in a public write-up).
func TestDesignatedRequirement(t *testing.T) {
	for _, c := range []struct {
		name, id, cn string
		want         string // codesign's text, when known from a real binary
	}{
		{"iPhone Distribution (real codesign output)", "com.airbnb.app", "iPhone Distribution: Airbnb, Inc. (xxxxxxxxxx)",
			`identifier "com.airbnb.app" and anchor apple generic and certificate leaf[subject.CN] = "iPhone Distribution: Airbnb, Inc. (xxxxxxxxxx)" and certificate 1[field.1.2.840.113635.100.6.2.1] /* exists */`},
		{"Apple Distribution", "com.example.app", "Apple Distribution: Example Corp (ABCDE12345)", ""},
		{"Apple Development", "com.example.app.widget", "Apple Development: Jane Doe (Q1W2E3R4T5)", ""},
		{"iPhone Developer", "com.example.app", "iPhone Developer: John Appleseed (XXXXXXXXXX)", ""},
		{"test fixture identity", testID, "iPhone Distribution: Test (" + testTeam + ")", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			leaf := &x509.Certificate{Subject: pkix.Name{CommonName: c.cn, OrganizationalUnit: []string{testTeam}}}
			text := DesignatedRequirementText(c.id, leaf, nil)
			if c.want != "" && text != c.want {
				t.Errorf("text\n%s\nwant codesign's\n%s", text, c.want)
			}
			set := DesignatedRequirement(c.id, leaf)
			// Nested to the right as Security's DRMaker writes it (and as
			// real codesign'd binaries carry it): and, identifier, …, and, anchor.
			expr := set[12+8+12:]
			if be := binary.BigEndian; be.Uint32(expr) != opAnd || be.Uint32(expr[4:]) != opIdent {
				t.Errorf("expression starts %x, want opAnd opIdent", expr[:8])
			}
			reqs := goMachoRequirements(t, set)
			if len(reqs) != 1 || reqs[0].Type != gotypes.DesignatedRequirementType {
				t.Fatalf("go-macho sees %+v, want one designated requirement", reqs)
			}
			// go-macho spaces the match operators twice; compare words.
			if got := strings.Join(strings.Fields(reqs[0].Detail), " "); got != text {
				t.Errorf("go-macho decompiles\n%s\nour text\n%s", got, text)
			}
		})
	}
}

// TestDesignatedRequirementAdHoc: an ad-hoc signature has no explicit
// designated requirement (the empty set, as codesign writes); its implicit
// one is its cdhash.
func TestDesignatedRequirementAdHoc(t *testing.T) {
	set := DesignatedRequirement(testID, nil)
	if len(goMachoRequirements(t, set)) != 0 || !bytes.Equal(set, EmptyRequirements()) {
		t.Errorf("ad-hoc set %x", set)
	}
	cdhash := bytes.Repeat([]byte{0xab, 0x01}, 10)
	if got, want := DesignatedRequirementText(testID, nil, cdhash), `cdhash H"ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01"`; got != want {
		t.Errorf("ad-hoc text %s, want %s", got, want)
	}
}

// TestRequirementStrings: string arguments print as Security's requirement
// dumper (reqdumper.cpp, Dumper::data) prints them: bare when alphanumeric
// (dots only in field names), not starting with a digit and no keyword;
// quoted with escapes when printable; else hex.
func TestRequirementStrings(t *testing.T) {
	for _, c := range []struct {
		in      string
		dotOkay bool
		want    string
	}{
		{"Demo", false, `Demo`},
		{"com.example.app", false, `"com.example.app"`},
		{"subject.CN", true, `subject.CN`},
		{"9lives", false, `"9lives"`},
		{"lives9", false, `lives9`},
		{"leaf", false, `"leaf"`},
		{"timestamp", false, `"timestamp"`},
		{"", false, `""`},
		{`say "hi" \o/`, false, `"say \"hi\" \\o/"`},
		{"tab\there", false, "\"tab\there\""},
		{"Müller", false, `0x4dc3bc6c6c6572`},
		{"bell\a", false, `0x62656c6c07`},
	} {
		if got := reqString(c.in, c.dotOkay); got != c.want {
			t.Errorf("reqString(%q, %v) = %s, want %s", c.in, c.dotOkay, got, c.want)
		}
	}
	// A bare identifier in the full text.
	leaf := &x509.Certificate{Subject: pkix.Name{CommonName: "Apple Development: A (B)"}}
	if got := DesignatedRequirementText("Demo", leaf, nil); !strings.HasPrefix(got, "identifier Demo and anchor apple generic") {
		t.Errorf("text %s", got)
	}
}
