package cms

import (
	"crypto/x509"
	"encoding/asn1"
	"slices"
)

// appleExtensions are the marker extensions Apple puts on the
// certificates of its code signing chains (they carry an ASN.1 NULL; a
// designated requirement tests their presence, as in "certificate
// leaf[field.1.2.840.113635.100.6.1.2]"). Apple marks the leaf's critical,
// which Go's x509 refuses as unhandled unless told otherwise.
//
//	1.2.840.113635.100.6.1.2   iPhone Developer / Apple Development (iOS)
//	1.2.840.113635.100.6.1.4   iPhone Distribution / Apple Distribution (iOS)
//	1.2.840.113635.100.6.1.7   Mac App Distribution / Apple Distribution (macOS)
//	1.2.840.113635.100.6.1.12  Mac Developer / Apple Development (macOS)
//	1.2.840.113635.100.6.1.13  Developer ID Application
//	1.2.840.113635.100.6.2.1   Apple Worldwide Developer Relations CA (intermediate)
//	1.2.840.113635.100.6.2.6   Developer ID Certification Authority (intermediate)
//
// The installer-signing markers (100.6.1.8, 100.6.1.14) are not included:
// they do not sign code.
var appleExtensions = []asn1.ObjectIdentifier{
	{1, 2, 840, 113635, 100, 6, 1, 2},
	{1, 2, 840, 113635, 100, 6, 1, 4},
	{1, 2, 840, 113635, 100, 6, 1, 7},
	{1, 2, 840, 113635, 100, 6, 1, 12},
	{1, 2, 840, 113635, 100, 6, 1, 13},
	{1, 2, 840, 113635, 100, 6, 2, 1},
	{1, 2, 840, 113635, 100, 6, 2, 6},
}

// withAppleExtensionsHandled returns c, or, when c has critical Apple marker
// extensions Go left unhandled, a copy of c without them in
// UnhandledCriticalExtensions (every other unhandled one stays).
func withAppleExtensionsHandled(c *x509.Certificate) *x509.Certificate {
	isApple := func(id asn1.ObjectIdentifier) bool {
		return slices.ContainsFunc(appleExtensions, id.Equal)
	}
	if !slices.ContainsFunc(c.UnhandledCriticalExtensions, isApple) {
		return c
	}
	cc := *c
	cc.UnhandledCriticalExtensions = slices.DeleteFunc(slices.Clone(c.UnhandledCriticalExtensions), isApple)
	return &cc
}
