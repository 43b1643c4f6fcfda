package keyattest

import (
	"fmt"
	"math"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// AuthorizationList tags this package reads; every other tag is skipped.
const (
	tagPurpose                  = 1
	tagRootOfTrust              = 704
	tagOSVersion                = 705
	tagOSPatchLevel             = 706
	tagAttestationApplicationID = 709
)

// Caps on input-sized work.
const (
	maxKeyDescription = 16 << 10 // bytes; a certificate is capped at this size too
	maxAuthEntries    = 512      // entries in one AuthorizationList
	maxPackages       = 256      // package_infos in an AttestationApplicationId
	maxDigests        = 64       // signature_digests in an AttestationApplicationId
	maxTagNumber      = 1 << 21  // at most three base-128 tag octets
)

// parser decodes one extension value; base is the whole value, so offsets of
// sub-slices can be reported (cryptobyte only ever reslices forward, which
// keeps cap(sub) == cap(base) - offset).
type parser struct {
	base []byte
}

func (p *parser) errAt(s cryptobyte.String, format string, args ...any) error {
	off := cap(p.base) - cap(s)
	if off < 0 || off > len(p.base) {
		off = 0
	}
	return &Error{Reason: ReasonMalformed, Err: &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...)}}
}

// ParseKeyDescription decodes the value of the attestation extension
// (OID 1.3.6.1.4.1.11129.2.1.17). Unknown AuthorizationList tags are skipped,
// so records from newer Android versions still parse. A failure is an *Error
// with Reason ReasonMalformed wrapping a *FormatError.
//
// FORMAT (source.android.com, "Key and ID attestation", schema):
//
//	KeyDescription ::= SEQUENCE {
//	    attestationVersion         INTEGER,
//	    attestationSecurityLevel   SecurityLevel,   -- ENUMERATED
//	    keyMintVersion             INTEGER,
//	    keyMintSecurityLevel       SecurityLevel,
//	    attestationChallenge       OCTET STRING,
//	    uniqueId                   OCTET STRING,
//	    softwareEnforced           AuthorizationList,
//	    hardwareEnforced           AuthorizationList }
//	AuthorizationList ::= SEQUENCE { -- every field OPTIONAL, EXPLICIT [tag]
//	    rootOfTrust [704] RootOfTrust, osVersion [705] INTEGER,
//	    osPatchLevel [706] INTEGER, attestationApplicationId [709] OCTET STRING,
//	    ... }
func ParseKeyDescription(der []byte) (*Record, error) {
	p := &parser{base: der}
	in := cryptobyte.String(der)
	if len(der) > maxKeyDescription {
		return nil, p.errAt(in, "%d bytes, over the %d-byte cap", len(der), maxKeyDescription)
	}
	var seq cryptobyte.String
	if at := in; !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil, p.errAt(at, "KeyDescription is not a DER SEQUENCE")
	}
	if !in.Empty() {
		return nil, p.errAt(in, "%d trailing bytes after KeyDescription", len(in))
	}
	r := &Record{}
	var err error
	if r.AttestationVersion, err = p.readInt(&seq, "attestationVersion"); err != nil {
		return nil, err
	}
	if r.AttestationSecurityLevel, err = p.readLevel(&seq, "attestationSecurityLevel"); err != nil {
		return nil, err
	}
	if r.KeyMintVersion, err = p.readInt(&seq, "keyMintVersion"); err != nil {
		return nil, err
	}
	if r.KeyMintSecurityLevel, err = p.readLevel(&seq, "keyMintSecurityLevel"); err != nil {
		return nil, err
	}
	var challenge, uniqueID []byte
	if at := seq; !seq.ReadASN1Bytes(&challenge, cbasn1.OCTET_STRING) {
		return nil, p.errAt(at, "attestationChallenge: want OCTET STRING")
	}
	r.Challenge = append([]byte{}, challenge...)
	if at := seq; !seq.ReadASN1Bytes(&uniqueID, cbasn1.OCTET_STRING) {
		return nil, p.errAt(at, "uniqueId: want OCTET STRING")
	}
	sw, err := p.readAuthList(&seq, "softwareEnforced")
	if err != nil {
		return nil, err
	}
	hw, err := p.readAuthList(&seq, "hardwareEnforced")
	if err != nil {
		return nil, err
	}
	// Later schema versions may append fields: they are ignored.

	switch {
	case hw.rootOfTrust != nil:
		r.RootOfTrust, r.rootOfTrustHardware = hw.rootOfTrust, true
	case sw.rootOfTrust != nil:
		r.RootOfTrust = sw.rootOfTrust
	}
	r.Application = sw.application
	if r.Application == nil {
		r.Application = hw.application
	}
	r.Purposes = sw.purposes
	if hw.hasPurpose {
		r.Purposes = hw.purposes
	}
	r.OSVersion, r.OSPatchLevel = sw.osVersion, sw.osPatchLevel
	if hw.hasOSVersion {
		r.OSVersion = hw.osVersion
	}
	if hw.hasOSPatch {
		r.OSPatchLevel = hw.osPatchLevel
	}
	return r, nil
}

// readIntSet reads a SET OF INTEGER (at most maxAuthEntries members).
func (p *parser) readIntSet(s *cryptobyte.String, what string) ([]int, error) {
	var set cryptobyte.String
	if at := *s; !s.ReadASN1(&set, cbasn1.SET) {
		return nil, p.errAt(at, "%s: want SET OF INTEGER", what)
	}
	out := []int{}
	for !set.Empty() {
		if len(out) >= maxAuthEntries {
			return nil, p.errAt(set, "%s: more than %d members", what, maxAuthEntries)
		}
		v, err := p.readInt(&set, what)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (p *parser) readInt(s *cryptobyte.String, what string) (int, error) {
	var v int64
	start := *s
	if !s.ReadASN1Int64WithTag(&v, cbasn1.INTEGER) {
		return 0, p.errAt(start, "%s: want INTEGER fitting 64 bits", what)
	}
	if v < 0 || v > math.MaxInt32 {
		return 0, p.errAt(start, "%s: %d out of range", what, v)
	}
	return int(v), nil
}

func (p *parser) readLevel(s *cryptobyte.String, what string) (SecurityLevel, error) {
	var v int
	start := *s
	if !s.ReadASN1Enum(&v) {
		return 0, p.errAt(start, "%s: want ENUMERATED", what)
	}
	if v < int(Software) || v > int(StrongBox) {
		return 0, p.errAt(start, "%s: unknown value %d", what, v)
	}
	return SecurityLevel(v), nil
}

// authList holds the AuthorizationList fields this package uses.
type authList struct {
	purposes                 []int
	hasPurpose               bool
	rootOfTrust              *RootOfTrust
	application              *ApplicationID
	osVersion, osPatchLevel  int
	hasOSVersion, hasOSPatch bool
}

// readAuthList decodes one AuthorizationList, skipping unknown tags. A tag
// this package reads may appear at most once.
func (p *parser) readAuthList(s *cryptobyte.String, what string) (*authList, error) {
	var list cryptobyte.String
	if at := *s; !s.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, p.errAt(at, "%s: want SEQUENCE", what)
	}
	out := &authList{}
	seen := map[uint32]bool{}
	for n := 0; !list.Empty(); n++ {
		if n >= maxAuthEntries {
			return nil, p.errAt(list, "%s: more than %d entries", what, maxAuthEntries)
		}
		start := list
		tag, body, ok := readTagged(&list)
		if !ok {
			return nil, p.errAt(start, "%s: entry is not a DER context-specific constructed element", what)
		}
		switch tag {
		case tagPurpose, tagRootOfTrust, tagOSVersion, tagOSPatchLevel, tagAttestationApplicationID:
			if seen[tag] {
				return nil, p.errAt(start, "%s: tag [%d] repeated", what, tag)
			}
			seen[tag] = true
		default:
			continue // unknown or unused tag: newer Android versions add tags
		}
		var err error
		switch tag {
		case tagPurpose:
			out.purposes, err = p.readIntSet(&body, "purpose")
			out.hasPurpose = true
		case tagRootOfTrust:
			out.rootOfTrust, err = p.readRootOfTrust(&body)
		case tagOSVersion:
			out.osVersion, err = p.readInt(&body, "osVersion")
			out.hasOSVersion = true
		case tagOSPatchLevel:
			out.osPatchLevel, err = p.readInt(&body, "osPatchLevel")
			out.hasOSPatch = true
		case tagAttestationApplicationID:
			out.application, err = p.readApplicationID(&body)
		}
		if err != nil {
			return nil, err
		}
		if !body.Empty() {
			return nil, p.errAt(body, "%s: [%d]: trailing bytes in explicit tag", what, tag)
		}
	}
	return out, nil
}

// readTagged reads one EXPLICIT context-specific element, in low- or
// high-tag-number form (X.690 §8.1.2.4; cryptobyte handles only tags < 31),
// with a DER definite length, and returns its tag number and content.
func readTagged(s *cryptobyte.String) (tag uint32, body cryptobyte.String, ok bool) {
	var id uint8
	if !s.ReadUint8(&id) || id&0xe0 != 0xa0 { // class context-specific, constructed
		return 0, nil, false
	}
	tag = uint32(id & 0x1f)
	if tag == 0x1f {
		tag = 0
		for i := 0; ; i++ {
			var b uint8
			if !s.ReadUint8(&b) || (i == 0 && b == 0x80) { // DER: no leading zero septet
				return 0, nil, false
			}
			tag = tag<<7 | uint32(b&0x7f)
			if tag >= maxTagNumber {
				return 0, nil, false
			}
			if b&0x80 == 0 {
				break
			}
		}
		if tag < 0x1f { // DER: must have used the one-octet form
			return 0, nil, false
		}
	}
	var l0 uint8
	if !s.ReadUint8(&l0) {
		return 0, nil, false
	}
	length := uint32(l0)
	if l0&0x80 != 0 {
		n := int(l0 & 0x7f)
		if n == 0 || n > 3 { // indefinite, or over 16 MiB
			return 0, nil, false
		}
		length = 0
		for i := 0; i < n; i++ {
			var b uint8
			if !s.ReadUint8(&b) || (i == 0 && b == 0) {
				return 0, nil, false
			}
			length = length<<8 | uint32(b)
		}
		if length < 0x80 {
			return 0, nil, false
		}
	}
	if !s.ReadBytes((*[]byte)(&body), int(length)) {
		return 0, nil, false
	}
	return tag, body, true
}

// readRootOfTrust decodes
//
//	RootOfTrust ::= SEQUENCE { verifiedBootKey OCTET STRING, deviceLocked BOOLEAN,
//	    verifiedBootState VerifiedBootState, verifiedBootHash OCTET STRING -- v3+ }
func (p *parser) readRootOfTrust(s *cryptobyte.String) (*RootOfTrust, error) {
	var seq cryptobyte.String
	if at := *s; !s.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil, p.errAt(at, "rootOfTrust: want SEQUENCE")
	}
	rt := &RootOfTrust{}
	var key, locked []byte
	if at := seq; !seq.ReadASN1Bytes(&key, cbasn1.OCTET_STRING) {
		return nil, p.errAt(at, "rootOfTrust.verifiedBootKey: want OCTET STRING")
	}
	rt.VerifiedBootKey = append([]byte{}, key...)
	// BER rule for BOOLEAN (any non-zero octet is TRUE): some devices do not
	// encode TRUE as DER's 0xff.
	if at := seq; !seq.ReadASN1Bytes(&locked, cbasn1.BOOLEAN) || len(locked) != 1 {
		return nil, p.errAt(at, "rootOfTrust.deviceLocked: want BOOLEAN")
	}
	rt.DeviceLocked = locked[0] != 0
	var state int
	at := seq
	if !seq.ReadASN1Enum(&state) {
		return nil, p.errAt(at, "rootOfTrust.verifiedBootState: want ENUMERATED")
	}
	if state < int(Verified) || state > int(Failed) {
		return nil, p.errAt(at, "rootOfTrust.verifiedBootState: unknown value %d", state)
	}
	rt.VerifiedBootState = VerifiedBootState(state)
	if !seq.Empty() {
		var hash []byte
		if at := seq; !seq.ReadASN1Bytes(&hash, cbasn1.OCTET_STRING) {
			return nil, p.errAt(at, "rootOfTrust.verifiedBootHash: want OCTET STRING")
		}
		rt.VerifiedBootHash = append([]byte{}, hash...)
	}
	return rt, nil
}

// readApplicationID decodes the OCTET STRING wrapping
//
//	AttestationApplicationId ::= SEQUENCE {
//	    package_infos  SET OF AttestationPackageInfo,
//	    signature_digests SET OF OCTET STRING }
//	AttestationPackageInfo ::= SEQUENCE { package_name OCTET STRING, version INTEGER }
func (p *parser) readApplicationID(s *cryptobyte.String) (*ApplicationID, error) {
	var wrapped, seq, infos, digests cryptobyte.String
	if at := *s; !s.ReadASN1(&wrapped, cbasn1.OCTET_STRING) {
		return nil, p.errAt(at, "attestationApplicationId: want OCTET STRING")
	}
	if at := wrapped; !wrapped.ReadASN1(&seq, cbasn1.SEQUENCE) || !wrapped.Empty() {
		return nil, p.errAt(at, "attestationApplicationId: want one SEQUENCE")
	}
	if at := seq; !seq.ReadASN1(&infos, cbasn1.SET) {
		return nil, p.errAt(at, "attestationApplicationId.package_infos: want SET")
	}
	if at := seq; !seq.ReadASN1(&digests, cbasn1.SET) {
		return nil, p.errAt(at, "attestationApplicationId.signature_digests: want SET")
	}
	app := &ApplicationID{}
	for !infos.Empty() {
		if len(app.Packages) >= maxPackages {
			return nil, p.errAt(infos, "attestationApplicationId: more than %d packages", maxPackages)
		}
		var info cryptobyte.String
		var name []byte
		var version int64
		at := infos
		if !infos.ReadASN1(&info, cbasn1.SEQUENCE) ||
			!info.ReadASN1Bytes(&name, cbasn1.OCTET_STRING) ||
			!info.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) {
			return nil, p.errAt(at, "attestationApplicationId: bad AttestationPackageInfo")
		}
		app.Packages = append(app.Packages, PackageInfo{Name: string(name), Version: version})
	}
	for !digests.Empty() {
		if len(app.SignatureDigests) >= maxDigests {
			return nil, p.errAt(digests, "attestationApplicationId: more than %d signature digests", maxDigests)
		}
		var d []byte
		if at := digests; !digests.ReadASN1Bytes(&d, cbasn1.OCTET_STRING) {
			return nil, p.errAt(at, "attestationApplicationId: signature digest: want OCTET STRING")
		}
		app.SignatureDigests = append(app.SignatureDigests, append([]byte{}, d...))
	}
	return app, nil
}
