package provision

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/cms"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/codesign"
)

// TestRealProfileSHA1Chain checks a real Apple-signed profile (2015, in
// node-ios-device's TestApp.app): its SHA-1 CMS signature verifies, and its
// chain to codesign.AppleRoots (Apple Root CA, which anchors profiles as
// well as code), SHA-1 signed, is reported as such rather than as a bad
// signature; openssl cms -verify to the same root file is the oracle that
// the chain is Apple's and sound.
func TestRealProfileSHA1Chain(t *testing.T) {
	if testing.Short() {
		t.Skip("real iOS inputs are fetched with npm")
	}
	var path string
	for _, b := range testenv.RealIOS(t) {
		if b.ID == "node-ios-device@1.13.0/TestApp.app" {
			path = filepath.Join(b.Dir, "embedded.mobileprovision")
		}
	}
	der, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	// The CMS also carries the 2005 "Apple Root Certificate Authority",
	// which anchors nothing here: the chain ends at Apple Root CA (2006).
	rootPath := filepath.Join(testenv.Root(t), "pkg", "codesign", "AppleRootCA.pem")
	testenv.Run(t, "openssl", "cms", "-verify", "-inform", "DER", "-in", path, "-CAfile", rootPath,
		"-purpose", "any", "-attime", strconv.FormatInt(p.CreationDate.Unix(), 10), "-out", os.DevNull)

	if err := p.signed.VerifySignature(nil); err != nil {
		t.Fatalf("SHA-1 CMS signature: %v", err)
	}
	roots := codesign.AppleRoots()
	if _, err := p.signed.VerifyChain(roots, p.CreationDate); !errors.Is(err, cms.ErrSHA1Chain) {
		t.Errorf("VerifyChain: %v, want ErrSHA1Chain", err)
	}
	_, err = p.Check(CheckOptions{BundleID: "com.appcelerator.TestApp", Certificate: p.DeveloperCertificates[0], Now: p.CreationDate, Roots: roots})
	var pe *ProfileError
	if !errors.As(err, &pe) || pe.Reason != ReasonSignature || !strings.Contains(pe.Detail, "SHA-1") {
		t.Errorf("Check: %v; want a signature ProfileError saying SHA-1", err)
	}
}
