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
