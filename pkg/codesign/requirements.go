package codesign

import (
	"encoding/asn1"
	"encoding/binary"
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
//	opCertField 11         int32 cert, string field, match  certificate leaf[subject.OU] = "…"
//	opCertGeneric 14       int32 cert, data OID body, match certificate 1[field.OID] exists
//	opAppleGenericAnchor 15                              anchor apple generic
//	matchExists 0, matchEqual 1 (followed by the value)
//
// Cert index 0 is the leaf, 1 its issuer, −1 the anchor. "a and b and c" is
// left-associative: opAnd opAnd a b c.
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

// DesignatedRequirement returns the requirement set that codesign writes for
// an identity issued by Apple's WWDR intermediate:
//
//	designated => identifier "<id>" and anchor apple generic and
//	  certificate leaf[subject.OU] = "<team>" and
//	  certificate 1[field.1.2.840.113635.100.6.2.1] exists
func DesignatedRequirement(identifier, teamID string) []byte {
	var e []byte
	e = be32(e, opAnd)
	e = be32(e, opAnd)
	e = be32(e, opAnd)
	e = be32(e, opIdent)
	e = reqData(e, []byte(identifier))
	e = be32(e, opAppleGenericAnchor)
	e = be32(e, opCertField)
	e = be32(e, 0) // leaf
	e = reqData(e, []byte("subject.OU"))
	e = be32(e, matchEqual)
	e = reqData(e, []byte(teamID))
	e = be32(e, opCertGeneric)
	e = be32(e, 1)                                   // the leaf's issuer
	oid, _ := asn1.Marshal(oidAppleWWDRIntermediate) // a constant OID: cannot fail
	e = reqData(e, oid[2:])                          // the OID's content octets, without tag and length
	e = be32(e, matchExists)

	req := be32(nil, MagicRequirement)
	req = be32(req, uint32(12+len(e)))
	req = be32(req, reqKindExpr)
	req = append(req, e...)
	return requirementSet([]requirement{{reqTypeDesignated, req}})
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
