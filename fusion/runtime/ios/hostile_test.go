package iosrt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/internal/testenv"
)

// mutate returns b with n random bytes changed, or truncated to a random
// shorter length (one in four); the result always differs from b.
func mutate(t *testing.T, b []byte, n int) []byte {
	t.Helper()
	if randN(t, 4) == 0 {
		return append([]byte(nil), b[:randN(t, len(b))]...)
	}
	c := append([]byte(nil), b...)
	for range n {
		c[randN(t, len(c))] ^= byte(1 + randN(t, 255))
	}
	return c
}

// TestHostileInputs: randomly corrupted code signatures, vaults and
// policies never crash the core or read out of bounds (each runs under
// ASan/UBSan too, see run) and end with one of the documented results.
func TestHostileInputs(t *testing.T) {
	signed, _ := signDemo(t, false)
	exe := testenv.ZipEntry(t, signed, "Payload/Demo.app/Demo")
	sigOff := codeSignatureOffset(t, exe)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	w := newSealed(t, ek, randBytes(t, 32))
	full := (&androidrt.Policy{FusionSetID: "fs", Package: "p", SignerDigests: []string{"00"},
		Threats: map[androidrt.Threat]androidrt.ThreatPolicy{androidrt.ThreatTamper: {Mode: "defend", Message: "é \\ 日本", Score: 3}}}).Encode()
	for i := range 40 {
		// Mach-O: corrupt the load commands or the signature.
		b := append([]byte(nil), exe...)
		region := b[:4096]
		if i%2 == 1 {
			region = b[sigOff:]
		}
		copy(region, mutate(t, region, 1+randN(t, 8)))
		if i%8 == 0 {
			b = mutate(t, b, 1)
		}
		if _, code := run(t, "macho", writeFile(t, "bin", b)); code != 0 && code != 2 && code != 4 {
			t.Fatalf("macho mutation %d: exit %d", i, code)
		}
		// Vault: malformed or refused, never opened.
		if _, code := run(t, "unseal", writeFile(t, "v", mutate(t, w.blob, 1+randN(t, 4))), w.pepperPath, "ABCDE12345",
			"com.example.demo", w.pPath); code != 2 && code != 3 {
			t.Fatalf("vault mutation %d: exit %d", i, code)
		}
		// Policy: read or refused as malformed.
		if _, code := run(t, "policy", writeFile(t, "p", mutate(t, full, 1+randN(t, 16)))); code != 0 && code != 2 {
			t.Fatalf("policy mutation %d: exit %d", i, code)
		}
	}
}
