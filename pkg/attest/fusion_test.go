package attest_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/fusion"
	"github.com/trustfuse/trustfuse/pkg/attest"
)

// TestMeasurementMatchesFusion: the server hashes exactly the bytes the fuse
// pipeline registers (fusion.Measurement.SHA256), so release ids agree, and
// the two types convert into each other field for field.
func TestMeasurementMatchesFusion(t *testing.T) {
	fm := fusion.Measurement{Package: "com.example.app", VersionCode: 42,
		SignerDigests: []string{strings.Repeat("ab", 32)},
		DexDigests:    map[string]string{"classes.dex": strings.Repeat("01", 32), "classes2.dex": strings.Repeat("02", 32)},
		RuntimeDigest: strings.Repeat("02", 32), ManifestDigest: strings.Repeat("03", 32)}
	m := attest.Measurement(fm)
	if got, want := m.SHA256(), fm.SHA256(); got != want {
		t.Fatalf("attest %s, fusion %s", got, want)
	}
	if !bytes.Equal(attest.Measurement{}.Canonical(), fusion.Measurement{}.Canonical()) {
		t.Fatal("empty measurements differ")
	}
}
