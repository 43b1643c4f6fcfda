package cms

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// TestVerifyChainApple: one case per class of leaf, each issued by the
// test WWDR (whose own Apple marker is made critical in one case) and
// signed into a CMS: Apple's critical markers pass without changing the
// certificate, an unknown critical extension still fails as Go reports
// it, a SHA-1 signed leaf fails with ErrSHA1Chain, and the parsed
// certificates keep their UnhandledCriticalExtensions.
func TestVerifyChainApple(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id := testenv.NewAppleIdentity(t, "TEAM123456", now.AddDate(0, -1, 0), now.AddDate(1, 0, 0))
	roots := x509.NewCertPool()
	roots.AddCert(id.Root)
	marker := func(oid asn1.ObjectIdentifier) pkix.Extension {
		return pkix.Extension{Id: oid, Critical: true, Value: []byte{0x05, 0x00}}
	}
	issue := func(tmpl, parent *x509.Certificate) *x509.Certificate {
		tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
		tmpl.NotBefore, tmpl.NotAfter = id.Leaf.NotBefore, id.Leaf.NotAfter
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &id.LeafKey.PublicKey, id.WWDRKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// A WWDR with its marker critical, same key and name as id.WWDR.
	wwdrTmpl := *id.WWDR
	wwdrTmpl.ExtraExtensions = []pkix.Extension{marker(asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 2, 1})}
	wwdrDER, err := x509.CreateCertificate(rand.Reader, &wwdrTmpl, id.Root, &id.WWDRKey.PublicKey, id.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	criticalWWDR, _ := x509.ParseCertificate(wwdrDER)
	leafTmpl := func(exts ...asn1.ObjectIdentifier) *x509.Certificate {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: "leaf"}, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
		for _, e := range exts {
			c.ExtraExtensions = append(c.ExtraExtensions, marker(e))
		}
		return c
	}
	sha1Leaf := leafTmpl(asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 1, 2})
	sha1Leaf.SignatureAlgorithm = x509.SHA1WithRSA
	for _, tc := range []struct {
		name  string
		leaf  *x509.Certificate
		wwdr  *x509.Certificate
		check func(error) bool
	}{
		{"testenv leaf (iPhone Distribution critical)", id.Leaf, id.WWDR, func(err error) bool { return err == nil }},
		{"Apple Development iOS + macOS markers", issue(leafTmpl(asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 1, 2}, asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 1, 12}), id.WWDR), id.WWDR, func(err error) bool { return err == nil }},
		{"WWDR marker critical", issue(leafTmpl(asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 1, 4}), criticalWWDR), criticalWWDR, func(err error) bool { return err == nil }},
		{"unknown critical extension", issue(leafTmpl(asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 1, 4}, asn1.ObjectIdentifier{1, 2, 3, 4}), id.WWDR), id.WWDR, func(err error) bool {
			var u x509.UnhandledCriticalExtension
			return errors.Is(err, ErrSignature) && errors.As(err, &u) && !errors.Is(err, ErrSHA1Chain)
		}},
		{"installer marker is not code signing", issue(leafTmpl(asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 1, 14}), id.WWDR), id.WWDR, func(err error) bool {
			var u x509.UnhandledCriticalExtension
			return errors.As(err, &u)
		}},
		{"SHA-1 signed leaf", issue(sha1Leaf, id.WWDR), id.WWDR, func(err error) bool {
			return errors.Is(err, ErrSignature) && errors.Is(err, ErrSHA1Chain)
		}},
	} {
		der, err := SignDetached([]byte("cd"), id.LeafKey, []*x509.Certificate{tc.leaf, tc.wwdr}, now, nil, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := Parse(der)
		if err != nil {
			t.Fatal(err)
		}
		before := slices.Clone(sd.Signer.UnhandledCriticalExtensions)
		if len(before) == 0 {
			t.Fatalf("%s: Go handles the leaf's extensions: the case tests nothing", tc.name)
		}
		_, err = sd.VerifyChain(roots, now)
		if !tc.check(err) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !slices.EqualFunc(before, sd.Signer.UnhandledCriticalExtensions, asn1.ObjectIdentifier.Equal) {
			t.Errorf("%s: VerifyChain changed the parsed certificate", tc.name)
		}
	}
}
