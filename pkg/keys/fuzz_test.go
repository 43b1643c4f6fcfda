package keys

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// fuzzSeeds builds small keystores in-process (no JVM, so fuzz workers start
// fast) from the demo identity: PKCS#12 with modern and legacy algorithms,
// a JKS written by keystore-go, and PEM. The keytool/openssl-made files are
// covered by the table tests. One PBKDF iteration keeps executions fast.
func fuzzSeeds(tb testing.TB, pass string) [][]byte {
	tb.Helper()
	d := Demo()
	modern, err := gopkcs12.Modern.WithIterations(1).Encode(d.Key, d.Certificate, nil, pass)
	if err != nil {
		tb.Fatal(err)
	}
	legacy, err := gopkcs12.LegacyDES.WithIterations(1).Encode(d.Key, d.Certificate, nil, pass)
	if err != nil {
		tb.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(d.Key)
	if err != nil {
		tb.Fatal(err)
	}
	ks := keystore.New()
	err = ks.SetPrivateKeyEntry("demo", keystore.PrivateKeyEntry{
		CreationTime:     time.Unix(1_800_000_000, 0),
		PrivateKey:       pkcs8,
		CertificateChain: []keystore.Certificate{{Type: "X.509", Content: d.Certificate.Raw}},
	}, []byte(pass))
	if err != nil {
		tb.Fatal(err)
	}
	var jks bytes.Buffer
	if err := ks.Store(&jks, []byte(pass)); err != nil {
		tb.Fatal(err)
	}
	return [][]byte{modern, legacy, jks.Bytes(), []byte(demoKeyPEM + demoCertPEM)}
}

// The in-process seeds load, so the fuzzer starts from valid inputs.
func TestFuzzSeedsLoad(t *testing.T) {
	for i, b := range fuzzSeeds(t, "seed-pw") {
		s, err := Parse(b, "seed", []byte("seed-pw"), "", nil)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		if !s.IsDemo() {
			t.Errorf("seed %d: not recognised as the demo key", i)
		}
	}
}

// FuzzParse feeds arbitrary bytes to the format detection and the JKS,
// PKCS#12 and PEM readers. For inputs with the JKS magic the trailing digest
// is recomputed for the password, so mutations reach the structure walk and
// keystore-go instead of stopping at the integrity check.
func FuzzParse(f *testing.F) {
	for _, b := range fuzzSeeds(f, "pw") {
		f.Add(b, "pw", "")
	}
	f.Add([]byte{0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0xFF, 0xFF, 0xFF, 0xFF}, "pw", "")
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"), "", "")
	f.Fuzz(func(t *testing.T, data []byte, pass, alias string) {
		if len(data) >= 32 && binary.BigEndian.Uint32(data) == 0xFEEDFEED && isASCII(pass) {
			copy(data[len(data)-20:], jksDigest(data[:len(data)-20], []byte(pass)))
		}
		s, err := Parse(data, "fuzz", []byte(pass), alias, nil)
		if err != nil {
			if !IsCredential(err) {
				t.Fatalf("error is not a *CredentialError: %v", err)
			}
			// (Only the fixtures' distinctive passwords are checked: a short
			// fuzzed one may well occur in an ordinary message.)
			for _, pw := range allPasswords {
				if strings.Contains(err.Error(), pw) {
					t.Fatalf("error %q contains a password", err)
				}
			}
			return
		}
		if s.Certificate == nil || len(s.Chain) == 0 || s.Chain[0] != s.Certificate {
			t.Fatal("success without a leaf certificate first in the chain")
		}
		pub, ok := s.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(s.Certificate.PublicKey) {
			t.Fatal("returned key does not match the returned certificate")
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
