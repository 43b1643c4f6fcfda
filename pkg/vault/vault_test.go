package vault

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

var testPepper = bytes.Repeat([]byte{0x5a}, PepperSize)

func selfSigned(t testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Unix(1700000000, 0),
		NotAfter:     time.Unix(1900000000, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return certify(t, key, tmpl)
}

// caCert returns a self-signed CA certificate for key.
func caCert(t testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	return certify(t, key, &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1900000000, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
}

// certify self-signs tmpl with key.
func certify(t testing.TB, key crypto.Signer, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func identities(t testing.TB) map[string]Identity {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Identity{
		"rsa":          {Key: rk, Chain: []*x509.Certificate{selfSigned(t, rk, "rsa client")}, AttestKey: []byte("attest-key")},
		"ec-chain":     {Key: ek, Chain: []*x509.Certificate{selfSigned(t, ek, "ec client"), selfSigned(t, ca, "some ca")}},
		"ec-no-attest": {Key: ek, Chain: []*x509.Certificate{selfSigned(t, ek, "ec client")}},
		// An attested identity: no key, the issuer CA chain (CA first).
		"attested": {Chain: []*x509.Certificate{caCert(t, ca, "client CA"), caCert(t, rk, "root CA")}, AttestKey: []byte("attest-key")},
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	signer := sha256.Sum256([]byte("signer cert"))
	policy := []byte("package=com.example\n")
	for name, id := range identities(t) {
		t.Run(name, func(t *testing.T) {
			blob, err := Seal(id, testPepper, signer, policy)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Seal(id, testPepper, signer, policy)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(blob, again) {
				t.Fatal("Seal is not deterministic")
			}
			got, err := Open(blob, testPepper, signer, policy)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case id.Key == nil:
				if got.Key != nil || !got.Attested() {
					t.Errorf("keyless identity opened with key %T (Attested %v)", got.Key, got.Attested())
				}
			case got.Attested() || !got.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(id.Key.Public()):
				t.Error("key differs after round trip")
			}
			if len(got.Chain) != len(id.Chain) {
				t.Fatalf("chain has %d certificates, want %d", len(got.Chain), len(id.Chain))
			}
			for i := range id.Chain {
				if !got.Chain[i].Equal(id.Chain[i]) {
					t.Errorf("certificate %d differs", i)
				}
			}
			if !bytes.Equal(got.AttestKey, id.AttestKey) {
				t.Errorf("attest key %q, want %q", got.AttestKey, id.AttestKey)
			}
			if string(blob[:4]) != "TFV1" || blob[4] != 1 {
				t.Errorf("header % x", blob[:5])
			}
		})
	}
}

// TestOpenRejects proves every part of the key split and the policy binding:
// changing any one of them makes Open fail with ErrUnseal.
func TestOpenRejects(t *testing.T) {
	id := identities(t)["rsa"]
	signer := sha256.Sum256([]byte("signer cert"))
	policy := []byte("package=com.example\nthreat.tamper.mode=defend\n")
	blob, err := Seal(id, testPepper, signer, policy)
	if err != nil {
		t.Fatal(err)
	}
	otherPepper := bytes.Clone(testPepper)
	otherPepper[31] ^= 1
	otherSigner := signer
	otherSigner[0] ^= 0x80
	flip := func(i int) []byte { b := bytes.Clone(blob); b[i] ^= 1; return b }
	tests := []struct {
		name   string
		blob   []byte
		pepper []byte
		signer [32]byte
		policy []byte
		want   error
	}{
		{"wrong signer digest", blob, testPepper, otherSigner, policy, ErrUnseal},
		{"wrong pepper", blob, otherPepper, signer, policy, ErrUnseal},
		{"edited policy", blob, testPepper, signer, []byte("package=com.example\nthreat.tamper.mode=off\n"), ErrUnseal},
		{"flipped ciphertext byte", flip(headerSize + 10), testPepper, signer, policy, ErrUnseal},
		{"flipped tag byte", flip(len(blob) - 1), testPepper, signer, policy, ErrUnseal},
		{"flipped salt byte", flip(6), testPepper, signer, policy, ErrUnseal},
		{"flipped nonce byte", flip(40), testPepper, signer, policy, ErrUnseal},
		{"bad magic", flip(0), testPepper, signer, policy, ErrFormat},
		{"bad version", flip(4), testPepper, signer, policy, ErrFormat},
		{"truncated", blob[:headerSize+15], testPepper, signer, policy, ErrFormat},
		{"short pepper", blob, testPepper[:16], signer, policy, ErrPepper},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Open(tc.blob, tc.pepper, tc.signer, tc.policy)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestSealRejectsBadIdentity(t *testing.T) {
	ids := identities(t)
	signer := [32]byte{}
	mismatch := Identity{Key: ids["rsa"].Key, Chain: ids["ec-chain"].Chain}
	tests := map[string]Identity{
		"no chain":                    {Key: ids["rsa"].Key},
		"no key, client certificate":  {Chain: ids["rsa"].Chain},
		"no key, CA then client cert": {Chain: []*x509.Certificate{ids["attested"].Chain[0], ids["rsa"].Chain[0]}},
		"nothing":                     {},
		"key mismatch":                mismatch,
	}
	for name, id := range tests {
		if _, err := Seal(id, testPepper, signer, nil); !errors.Is(err, ErrIdentity) {
			t.Errorf("%s: Seal err = %v, want ErrIdentity", name, err)
		}
	}
}

// TestKeyDerivationMatchesOpenSSL derives K with `openssl kdf HKDF` (an
// independent implementation), then decrypts the vault with plain AES-GCM
// and checks the documented salt, nonce and plaintext layout byte by byte.
// Run for an embedded identity and a keyless (attested) one.
func TestKeyDerivationMatchesOpenSSL(t *testing.T) {
	ids := identities(t)
	for _, name := range []string{"ec-chain", "attested"} {
		t.Run(name, func(t *testing.T) { checkLayoutWithOpenSSL(t, ids[name]) })
	}
}

func checkLayoutWithOpenSSL(t *testing.T, id Identity) {
	signer := sha256.Sum256([]byte("another signer"))
	policy := []byte("a=b\n")
	blob, err := Seal(id, testPepper, signer, policy)
	if err != nil {
		t.Fatal(err)
	}
	salt, nonce := blob[5:37], blob[37:49]
	ikm := append(bytes.Clone(testPepper), signer[:]...)
	out, err := exec.Command(testenv.Tool(t, "openssl"), "kdf", "-keylen", "32",
		"-kdfopt", "digest:SHA256",
		"-kdfopt", "hexkey:"+hex.EncodeToString(ikm),
		"-kdfopt", "hexsalt:"+hex.EncodeToString(salt),
		"-kdfopt", "info:trustfuse vault v1", "HKDF").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl kdf: %v\n%s", err, out)
	}
	key, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(string(out)), ":", ""))
	if err != nil || len(key) != 32 {
		t.Fatalf("openssl kdf output %q: %v", out, err)
	}
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	pSum := sha256.Sum256(policy)
	pt, err := gcm.Open(nil, nonce, blob[49:], append(bytes.Clone(blob[:37]), pSum[:]...))
	if err != nil {
		t.Fatalf("AES-GCM with the OpenSSL-derived key: %v", err)
	}
	wantSalt := sha256.Sum256(append([]byte("trustfuse vault salt"), pt...))
	if !bytes.Equal(salt, wantSalt[:]) {
		t.Error("salt is not SHA-256(label || plaintext)")
	}
	m := hmac.New(sha256.New, key)
	m.Write(pt)
	if !bytes.Equal(nonce, m.Sum(nil)[:12]) {
		t.Error("nonce is not HMAC-SHA256(K, plaintext)[:12]")
	}
	// Plaintext layout: u32+PKCS#8 | u16 count | (u32+DER)* | u32+attest.
	var der []byte // empty for a keyless identity
	if id.Key != nil {
		der, _ = x509.MarshalPKCS8PrivateKey(id.Key)
	}
	var want bytes.Buffer
	want.Write([]byte{0, 0, byte(len(der) >> 8), byte(len(der))})
	want.Write(der)
	want.Write([]byte{0, 2})
	for _, c := range id.Chain {
		want.Write([]byte{0, 0, byte(len(c.Raw) >> 8), byte(len(c.Raw))})
		want.Write(c.Raw)
	}
	want.Write([]byte{0, 0, byte(len(id.AttestKey) >> 8), byte(len(id.AttestKey))})
	want.Write(id.AttestKey)
	if !bytes.Equal(pt, want.Bytes()) {
		t.Errorf("plaintext layout differs from the documented format")
	}
}

// TestUnmarshalRejectsKeylessLeaf: a plaintext with no private key whose
// chain holds a certificate that is not a CA (what a forged or corrupted
// vault would hold: a client certificate without its key) is refused.
func TestUnmarshalRejectsKeylessLeaf(t *testing.T) {
	ids := identities(t)
	for name, chain := range map[string][]*x509.Certificate{
		"client certificate":     ids["rsa"].Chain,
		"CA then client":         {ids["attested"].Chain[0], ids["rsa"].Chain[0]},
		"client with a CA chain": ids["ec-chain"].Chain,
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			putBytes(&b, nil)
			b.Write([]byte{0, byte(len(chain))})
			for _, c := range chain {
				putBytes(&b, c.Raw)
			}
			putBytes(&b, nil)
			if id, err := unmarshal(b.Bytes()); !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), "not a CA certificate") {
				t.Fatalf("unmarshal = %v, %v; want ErrIdentity naming the non-CA certificate", id, err)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	id := identities(f)["ec-no-attest"]
	signer := [32]byte{1}
	blob, err := Seal(id, testPepper, signer, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blob)
	f.Add([]byte("TFV1\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Open(b, testPepper, signer, nil)
		if err == nil && len(got.Chain) == 0 {
			t.Fatal("Open succeeded without an identity")
		}
	})
}

// FuzzUnmarshal exercises the plaintext parser directly (Open only reaches it
// after authentication).
func FuzzUnmarshal(f *testing.F) {
	pt, err := marshal(identities(f)["ec-chain"])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pt)
	keyless, err := marshal(identities(f)["attested"])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(keyless)
	f.Add([]byte{0, 0, 0, 5, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := unmarshal(b)
		if err == nil {
			again, err := marshal(*id)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-marshal differs: %v", err)
			}
		}
	})
}

// TestIOSSignerDigest: the digest is sha256sum of the application
// identifier "<team>.<bundle>", and a vault sealed to one team does not open
// for another team or bundle.
func TestIOSSignerDigest(t *testing.T) {
	bin := testenv.Tool(t, "sha256sum")
	for _, c := range []struct{ team, bundle string }{
		{"ABCDE12345", "com.example.demo"},
		{"ZYXWV98765", "com.example.demo"},
		{"ABCDE12345", "io.trustfuse.ünïcode"},
	} {
		cmd := exec.Command(bin)
		cmd.Stdin = strings.NewReader(c.team + "." + c.bundle)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		d := IOSSignerDigest(c.team, c.bundle)
		if got := hex.EncodeToString(d[:]); got != strings.Fields(string(out))[0] {
			t.Errorf("%s.%s: %s, sha256sum %s", c.team, c.bundle, got, out)
		}
	}
	id := identities(t)["ec-chain"]
	pol := []byte("policy")
	blob, err := Seal(id, testPepper, IOSSignerDigest("ABCDE12345", "com.example.demo"), pol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(blob, testPepper, IOSSignerDigest("ABCDE12345", "com.example.demo"), pol); err != nil {
		t.Fatal(err)
	}
	for _, other := range [][32]byte{IOSSignerDigest("ZYXWV98765", "com.example.demo"), IOSSignerDigest("ABCDE12345", "com.example.demo2")} {
		if _, err := Open(blob, testPepper, other, pol); !errors.Is(err, ErrUnseal) {
			t.Errorf("opened for another signer: %v", err)
		}
	}
}
