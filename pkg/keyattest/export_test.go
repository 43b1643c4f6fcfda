package keyattest

// Caps and the extension OID, for the external tests in package
// keyattest_test.
const (
	MaxKeyDescription = maxKeyDescription
	MaxAuthEntries    = maxAuthEntries
	MaxDigests        = maxDigests
	MaxChain          = maxChain
	MaxCert           = maxCert
)

// OIDKeyDescriptionASN1 is the parsed form of OIDKeyDescription.
var OIDKeyDescriptionASN1 = oidKeyDescription

// DecodeCBOR is the attestation object's CBOR decoder.
var DecodeCBOR = decodeCBOR

// MaxCBORSize caps the decoder's input.
const MaxCBORSize = maxCBORSize
