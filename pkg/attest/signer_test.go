package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
)

// TestTokenSignatureRFC6979: the token signer's primitive (deterministic
// ECDSA with HMAC-SHA-256 nonces, converted to JWS r‖s) reproduces the
// P-256/SHA-256 test vector of RFC 6979 §A.2.5 (message "sample") byte for
// byte, the RFC being the oracle.
func TestTokenSignatureRFC6979(t *testing.T) {
	hexInt := func(s string) *big.Int {
		n, ok := new(big.Int).SetString(s, 16)
		if !ok {
			t.Fatalf("bad hex %q", s)
		}
		return n
	}
	key := &ecdsa.PrivateKey{D: hexInt("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")}
	key.Curve = elliptic.P256()
	key.X = hexInt("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6")
	key.Y = hexInt("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299")
	const wantR = "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
	const wantS = "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"

	j := newJWTSigner(key, "kid")
	digest := sha256.Sum256([]byte("sample"))
	der, err := j.key.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var sig [64]byte
	if !rawSignature(sig[:], der) {
		t.Fatalf("rawSignature refused %x", der)
	}
	if got := strings.ToUpper(hex.EncodeToString(sig[:])); got != wantR+wantS {
		t.Errorf("r‖s\n%s\nwant (RFC 6979 A.2.5)\n%s", got, wantR+wantS)
	}

	// The signer itself is deterministic: the same claims, the same token.
	c := &Claims{Issuer: "https://attest.example", Subject: "s", Audience: "a", IssuedAt: 1, Expiry: 2, Threats: []string{}}
	a, err := j.sign(c)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := j.sign(c)
	if a != b {
		t.Errorf("two tokens for the same claims:\n%s\n%s", a, b)
	}
}

// TestRawSignature: the DER to r‖s conversion pads short integers, drops
// the sign byte, and refuses whatever is not exactly SEQUENCE { INTEGER,
// INTEGER } with halves that fit.
func TestRawSignature(t *testing.T) {
	integer := func(b ...byte) []byte { return append([]byte{0x02, byte(len(b))}, b...) }
	seq := func(parts ...[]byte) []byte {
		body := bytes.Join(parts, nil)
		return append([]byte{0x30, byte(len(body))}, body...)
	}
	full := bytes.Repeat([]byte{0x81}, 4) // high bit set: DER adds a 0x00
	for _, tc := range []struct {
		name string
		der  []byte
		want string // hex of the 8-byte r‖s; "" = refused
	}{
		{"sign bytes dropped", seq(integer(append([]byte{0}, full...)...), integer(append([]byte{0}, full...)...)), "8181818181818181"},
		{"short halves padded", seq(integer(0x01), integer(0x7f, 0x02)), "0000000100007f02"},
		{"zero", seq(integer(0x00), integer(0x01)), "0000000000000001"},
		{"half too long", seq(integer(1, 2, 3, 4, 5), integer(1)), ""},
		{"trailing data after the sequence", append(seq(integer(1), integer(1)), 0), ""},
		{"third integer", seq(integer(1), integer(1), integer(1)), ""},
		{"one integer", seq(integer(1)), ""},
		{"not a sequence", integer(1), ""},
		{"negative", seq(integer(0x80), integer(1)), ""},
		{"empty", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig := make([]byte, 8)
			ok := rawSignature(sig, tc.der)
			switch {
			case tc.want == "" && ok:
				t.Errorf("accepted %x as %x", tc.der, sig)
			case tc.want != "" && !ok:
				t.Errorf("refused %x", tc.der)
			case tc.want != "" && hex.EncodeToString(sig) != tc.want:
				t.Errorf("got %x, want %s", sig, tc.want)
			}
		})
	}
}

// TestProofMatchesHMAC: the stack HMAC behind Proof equals crypto/hmac's
// HMAC-SHA256 for keys shorter than, equal to and longer than a SHA-256
// block, and nonces of other lengths take crypto/hmac itself.
func TestProofMatchesHMAC(t *testing.T) {
	sum := sha256.Sum256([]byte("measurement"))
	for _, keyLen := range []int{0, 1, 31, 32, 33, 63, 64, 65, 100, 200} {
		for _, nonceLen := range []int{0, NonceLen - 1, NonceLen, NonceLen + 1} {
			key := bytes.Repeat([]byte{byte(keyLen) + 1}, keyLen)
			nonce := bytes.Repeat([]byte{byte(nonceLen) + 7}, nonceLen)
			m := hmac.New(sha256.New, key)
			m.Write(nonce)
			m.Write(sum[:])
			if got, want := Proof(key, nonce, sum), m.Sum(nil); !bytes.Equal(got, want) {
				t.Errorf("key %d bytes, nonce %d bytes: %x, want %x", keyLen, nonceLen, got, want)
			}
		}
	}
}
