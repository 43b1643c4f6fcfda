package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// IOSFixture returns the path of testdata/ios/name (made by
// scripts/make-ios-fixtures.sh; the fake Apple PKI is under "pki/").
func IOSFixture(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Root(t), "testdata", "ios", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: %v: run scripts/make-ios-fixtures.sh", err)
	}
	return p
}
