package codesign

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"strings"
)

// FORMAT: Requirements (Security framework, requirement.h / reqmaker.cpp;
// the language is "Code Signing Requirement Language"). A requirement set is
//
//	magic 0xfade0c01, length, count, count × { type uint32, offset uint32 }
//
// with each entry pointing (from the set's start) at one Requirement blob:
//
//	magic 0xfade0c00, length, kind uint32 (1 = expression form), expression
//
// An expression is a prefix-coded tree of big-endian uint32 opcodes. Data
// arguments are { length uint32, bytes, zero padding to 4 bytes }. The ones
// we write:
//
//	opIdent 2              string                        identifier "…"
//	opAnd 6                expr expr                     … and …
//	opCertField 11         int32 cert, string field, match  certificate leaf[subject.CN] = "…"
//	opCertGeneric 14       int32 cert, data OID body, match certificate 1[field.OID] exists
//	opAppleGenericAnchor 15                              anchor apple generic
//	matchExists 0, matchEqual 1 (followed by the value)
//
// Cert index 0 is the leaf, 1 its issuer, −1 the anchor. codesign nests
// "a and b and c" to the right: opAnd a opAnd b c (both print the same).
const (
	reqTypeDesignated = 3
	reqKindExpr       = 1

	opIdent              = 2
	opAnd                = 6
	opCertField          = 11
	opCertGeneric        = 14
	opAppleGenericAnchor = 15

	matchExists = 0
	matchEqual  = 1
)

// oidAppleWWDRIntermediate marks Apple's Worldwide Developer Relations
// intermediate (1.2.840.113635.100.6.2.1): the issuer of every iOS
// development and distribution certificate.
var oidAppleWWDRIntermediate = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 2, 1}

// EmptyRequirements is the empty requirement set, what codesign writes for
// ad-hoc signatures.
func EmptyRequirements() []byte {
	return requirementSet(nil)
}

// DesignatedRequirement returns the requirement set that codesign writes
// for an identity issued by Apple's WWDR intermediate (the "Apple
// Development", "Apple Distribution", "iPhone Developer" and "iPhone
// Distribution" certificates of iOS):
//
//	designated => identifier "<id>" and anchor apple generic and
//	  certificate leaf[subject.CN] = "<leaf's common name>" and
//	  certificate 1[field.1.2.840.113635.100.6.2.1] /* exists */
//
// leaf == nil (ad hoc) gives the empty set: an ad-hoc signature's designated
// requirement is implicit (its cdhash).
func DesignatedRequirement(identifier string, leaf *x509.Certificate) []byte {
	if leaf == nil {
		return EmptyRequirements()
	}
	// Security's DRMaker nests to the right: and(identifier, and(anchor,
	// and(leaf CN, issuer marker))).
	var e []byte
	e = be32(e, opAnd)
	e = be32(e, opIdent)
	e = reqData(e, []byte(identifier))
	e = be32(e, opAnd)
	e = be32(e, opAppleGenericAnchor)
	e = be32(e, opAnd)
	e = be32(e, opCertField)
	e = be32(e, 0) // leaf
	e = reqData(e, []byte(fieldSubjectCN))
	e = be32(e, matchEqual)
	e = reqData(e, []byte(leaf.Subject.CommonName))
	e = be32(e, opCertGeneric)
	e = be32(e, 1) // the leaf's issuer
	e = reqData(e, wwdrOIDBody())
	e = be32(e, matchExists)

	req := be32(nil, MagicRequirement)
	req = be32(req, uint32(12+len(e)))
	req = be32(req, reqKindExpr)
	req = append(req, e...)
	return requirementSet([]requirement{{reqTypeDesignated, req}})
}

// fieldSubjectCN is the certificate field the designated requirement pins.
const fieldSubjectCN = "subject.CN"

// wwdrOIDBody is the WWDR marker OID's content octets (no tag, no length),
// as the requirement language stores OIDs.
func wwdrOIDBody() []byte {
	oid, _ := asn1.Marshal(oidAppleWWDRIntermediate) // a constant OID: cannot fail
	return oid[2:]
}

// DesignatedRequirementText is DesignatedRequirement's requirement in
// Apple's text form (as `codesign -d -r-` prints it after "designated =>",
// and as CodeResources records nested code's requirement). leaf == nil
// means ad hoc: `cdhash H"<hex of cdhash>"`.
//
// Strings are printed as Security's requirement dumper prints them: bare
// when they are alphanumeric (dots allowed in field names), do not start
// with a digit and are no keyword; else quoted with \" and \\ escaped;
// else (control or non-ASCII bytes) as 0x hex.
func DesignatedRequirementText(identifier string, leaf *x509.Certificate, cdhash []byte) string {
	if leaf == nil {
		return fmt.Sprintf("cdhash H\"%x\"", cdhash)
	}
	return "identifier " + reqString(identifier, false) +
		" and anchor apple generic and certificate leaf[" + reqString(fieldSubjectCN, true) + "] = " +
		reqString(leaf.Subject.CommonName, false) +
		" and certificate 1[field." + oidAppleWWDRIntermediate.String() + "] /* exists */"
}

// reqKeywords are the requirement language's reserved words, which the
// dumper quotes (Security's RequirementKeywords.h, and the empty string).
var reqKeywords = map[string]bool{
	"guest": true, "host": true, "designated": true, "library": true, "plugin": true,
	"or": true, "and": true, "always": true, "true": true, "never": true, "false": true,
	"identifier": true, "cdhash": true, "platform": true, "notarized": true, "legacy": true,
	"anchor": true, "apple": true, "generic": true, "certificate": true, "cert": true,
	"trusted": true, "info": true, "entitlement": true, "exists": true, "absent": true,
	"leaf": true, "root": true, "timestamp": true, "": true,
}

// reqString prints a requirement string argument the way Security's
// requirement dumper does (Requirement::Dumper::data).
func reqString(s string, dotOkay bool) string {
	const (
		simple = iota
		printable
		binary
	)
	mode := simple
	for i := 0; i < len(s); i++ {
		c := s[i]
		isAlnum := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		switch {
		case isAlnum || c == '.' && dotOkay:
			if i == 0 && c >= '0' && c <= '9' {
				mode = max(mode, printable)
			}
		case c > ' ' && c < 0x7f || c == ' ' || c >= '\t' && c <= '\r':
			mode = max(mode, printable)
		default:
			mode = binary
		}
	}
	if mode == simple && reqKeywords[s] {
		mode = printable
	}
	switch mode {
	case simple:
		return s
	case printable:
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return fmt.Sprintf("0x%x", s)
}

// requirement is one entry of a requirement set.
type requirement struct {
	typ  uint32
	blob []byte // a 0xfade0c00 Requirement blob
}

// requirementSet wraps requirement blobs into a set.
func requirementSet(reqs []requirement) []byte {
	head := superBlobHeaderSize + superBlobIndexEntrySize*len(reqs)
	total := head
	for _, r := range reqs {
		total += len(r.blob)
	}
	b := be32(nil, MagicRequirements)
	b = be32(b, uint32(total))
	b = be32(b, uint32(len(reqs)))
	off := head
	for _, r := range reqs {
		b = be32(b, r.typ)
		b = be32(b, uint32(off))
		off += len(r.blob)
	}
	for _, r := range reqs {
		b = append(b, r.blob...)
	}
	return b
}

// reqData appends a length-prefixed data argument padded to 4 bytes.
func reqData(b, d []byte) []byte {
	b = be32(b, uint32(len(d)))
	b = append(b, d...)
	return append(b, make([]byte, (4-len(d)%4)%4)...)
}

func be32(b []byte, v uint32) []byte {
	return binary.BigEndian.AppendUint32(b, v)
}
