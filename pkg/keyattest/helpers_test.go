package keyattest_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	kat "github.com/trustfuse/trustfuse/internal/keyattesttest"
	. "github.com/trustfuse/trustfuse/pkg/keyattest"
)

// The tests of this package are an external test package (keyattest_test),
// because the chain builder they share with other packages,
// internal/keyattesttest, imports keyattest. They dot-import keyattest (the
// use Go's review guide allows for tests that cannot be part of the package
// for a dependency cycle); export_test.go exposes the caps they probe.

// goodSpec is a KeyDescription every policy in the tests accepts.
func goodSpec() kat.Spec {
	return kat.GoodSpec([]byte("nonce-0123456789abcdef"), "com.example.app",
		kat.SignerDigest("release signing certificate"))
}

func goodPolicy(k kat.Spec) Policy {
	return Policy{
		Challenge:           k.Challenge,
		Package:             "com.example.app",
		SignerDigests:       k.SignatureDigests,
		MinSecurityLevel:    TrustedEnvironment,
		RequireVerifiedBoot: true,
	}
}

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func raws(certs ...*x509.Certificate) [][]byte {
	out := make([][]byte, len(certs))
	for i, c := range certs {
		out[i] = c.Raw
	}
	return out
}

func writePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var data []byte
	for _, c := range certs {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readPEMChain(t testing.TB, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, c)
	}
	return out
}
