// Package keyattest verifies Android Key Attestation certificate chains.
//
// An app that generates a key in AndroidKeyStore with
// setAttestationChallenge(nonce) gets back a certificate chain, leaf first,
// whose leaf carries the KeyDescription extension
// (OID 1.3.6.1.4.1.11129.2.1.17). The chain ends at one of Google's hardware
// attestation roots when the key lives in a TEE or StrongBox. Verifier checks
// the chain (signatures, issuer links, trusted root, validity, revocation
// through the list published at https://android.googleapis.com/attestation/status)
// and then the attested facts against a Policy: the challenge, the calling
// app's package and signing certificates, the security level and the
// verified-boot state.
//
// Specifications followed:
//   - https://source.android.com/docs/security/features/keystore/attestation
//     (KeyDescription, AuthorizationList, RootOfTrust, AttestationApplicationId)
//   - https://developer.android.com/privacy-and-security/security-key-attestation
//     (root certificates, revocation status list)
package keyattest

import (
	"fmt"
)

// OIDKeyDescription is the dotted form of the attestation extension's OID.
const OIDKeyDescription = "1.3.6.1.4.1.11129.2.1.17"

// Reasons carried by Error: stable codes the caller can log or count.
const (
	ReasonMalformed     = "malformed"            // undecodable chain or extension, caps exceeded
	ReasonChain         = "chain_invalid"        // bad signature, broken link, expired CA
	ReasonRoot          = "root_untrusted"       // chain does not end at a trusted root
	ReasonRevoked       = "revoked"              // a serial is on the revocation list
	ReasonChallenge     = "challenge_mismatch"   // attested challenge differs from the expected one
	ReasonApplication   = "application_mismatch" // package or signer digests differ
	ReasonSecurityLevel = "security_level"       // below the policy's minimum
	ReasonVerifiedBoot  = "verified_boot"        // device not in Verified state or unlocked
)

// Error is the error every Verify failure returns; Reason is one of the
// Reason constants.
type Error struct {
	Reason string
	Err    error
}

// Error returns "keyattest: <reason>: <detail>".
func (e *Error) Error() string {
	if e.Err == nil {
		return "keyattest: " + e.Reason
	}
	return "keyattest: " + e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the detail error.
func (e *Error) Unwrap() error { return e.Err }

func fail(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// FormatError reports undecodable KeyDescription DER with the byte offset,
// relative to the start of the extension value, where decoding stopped.
type FormatError struct {
	Offset int
	Msg    string
}

// Error returns "key description at offset N: msg".
func (e *FormatError) Error() string {
	return fmt.Sprintf("key description at offset %d: %s", e.Offset, e.Msg)
}

// SecurityLevel says where a key (or its attestation) lives.
type SecurityLevel int

// Security levels, as the KeyDescription's ENUMERATED values.
const (
	Software           SecurityLevel = 0
	TrustedEnvironment SecurityLevel = 1
	StrongBox          SecurityLevel = 2
)

// String returns "software", "tee" or "strongbox".
func (l SecurityLevel) String() string {
	switch l {
	case Software:
		return "software"
	case TrustedEnvironment:
		return "tee"
	case StrongBox:
		return "strongbox"
	}
	return fmt.Sprintf("SecurityLevel(%d)", int(l))
}

// ParseSecurityLevel parses "software", "tee" or "strongbox".
func ParseSecurityLevel(s string) (SecurityLevel, error) {
	switch s {
	case "software":
		return Software, nil
	case "tee":
		return TrustedEnvironment, nil
	case "strongbox":
		return StrongBox, nil
	}
	return 0, fmt.Errorf("keyattest: unknown security level %q (want software, tee or strongbox)", s)
}

// VerifiedBootState is the RootOfTrust's verifiedBootState.
type VerifiedBootState int

// Verified boot states, as the RootOfTrust's ENUMERATED values.
const (
	Verified   VerifiedBootState = 0
	SelfSigned VerifiedBootState = 1
	Unverified VerifiedBootState = 2
	Failed     VerifiedBootState = 3
)

// String returns "verified", "self_signed", "unverified" or "failed".
func (s VerifiedBootState) String() string {
	switch s {
	case Verified:
		return "verified"
	case SelfSigned:
		return "self_signed"
	case Unverified:
		return "unverified"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("VerifiedBootState(%d)", int(s))
}

// Record is the decoded KeyDescription of an attested key.
type Record struct {
	AttestationVersion       int
	AttestationSecurityLevel SecurityLevel
	KeyMintVersion           int
	KeyMintSecurityLevel     SecurityLevel
	Challenge                []byte
	// Purposes (tag 1) are the key's purposes (KeyMint KeyPurpose: 0
	// ENCRYPT, 1 DECRYPT, 2 SIGN, 3 VERIFY, 5 WRAP_KEY, 6 AGREE_KEY,
	// 7 ATTEST_KEY), from hardwareEnforced when present there, else from
	// softwareEnforced; nil if absent from both.
	Purposes []int
	// Application is the attestationApplicationId (tag 709), nil if absent.
	Application *ApplicationID
	// RootOfTrust (tag 704) is taken from hardwareEnforced when present there,
	// else from softwareEnforced; nil if absent from both.
	RootOfTrust *RootOfTrust
	// OSVersion (tag 705) and OSPatchLevel (tag 706, YYYYMM), 0 if absent.
	OSVersion, OSPatchLevel int

	// rootOfTrustHardware records that RootOfTrust came from hardwareEnforced.
	rootOfTrustHardware bool
}

// RootOfTrustHardwareEnforced reports whether RootOfTrust came from the
// hardwareEnforced AuthorizationList.
func (r *Record) RootOfTrustHardwareEnforced() bool { return r.rootOfTrustHardware }

// PurposeSign is KeyMint's KeyPurpose SIGN.
const PurposeSign = 2

// ApplicationID is the AttestationApplicationId: the packages sharing the
// calling UID and the SHA-256 digests of their signing certificates.
type ApplicationID struct {
	Packages         []PackageInfo
	SignatureDigests [][]byte
}

// PackageInfo is one AttestationPackageInfo.
type PackageInfo struct {
	Name    string
	Version int64
}

// RootOfTrust describes the device's verified-boot state.
type RootOfTrust struct {
	VerifiedBootKey   []byte
	DeviceLocked      bool
	VerifiedBootState VerifiedBootState
	// VerifiedBootHash is present from attestation version 3 on.
	VerifiedBootHash []byte
}
