package iosrt_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

func hx(s string) string { return strings.ReplaceAll(s, " ", "") }

// TestCryptoVectors: the published test vectors. SHA-256: FIPS 180-2
// appendix B (one- and two-block messages) and the empty message; HMAC:
// RFC 4231 cases 1, 2 and 6 (key longer than a block); HKDF: RFC 5869
// A.1 and A.3; AES-256: FIPS 197 appendix C.3; GCM: McGrew–Viega "The
// Galois/Counter Mode of Operation" test cases 13–18 (AES-256; 12-, 8- and
// 60-byte IVs).
func TestCryptoVectors(t *testing.T) {
	ascii := func(s string) string { return hex.EncodeToString([]byte(s)) }
	gcmKey := strings.Repeat("feffe9928665731c6d6a8f9467308308", 2)
	gcmPT := "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
	gcmAAD := "feedfacedeadbeeffeedfacedeadbeefabaddad2"
	iv60 := "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"sha256 empty", []string{"sha256", ""}, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"sha256 abc", []string{"sha256", ascii("abc")}, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"sha256 two blocks", []string{"sha256", ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")},
			"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{"hmac rfc4231 1", []string{"hmac", strings.Repeat("0b", 20), ascii("Hi There")},
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"hmac rfc4231 2", []string{"hmac", ascii("Jefe"), ascii("what do ya want for nothing?")},
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"hmac rfc4231 6", []string{"hmac", strings.Repeat("aa", 131), ascii("Test Using Larger Than Block-Size Key - Hash Key First")},
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
		{"hkdf rfc5869 A.1", []string{"hkdf", strings.Repeat("0b", 22), "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", "42"},
			"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
		{"hkdf rfc5869 A.3", []string{"hkdf", strings.Repeat("0b", 22), "", "", "42"},
			"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
		{"aes-256 fips197 C.3", []string{"aes", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "00112233445566778899aabbccddeeff"},
			"8ea2b7ca516745bfeafc49904b496089"},
		{"gcm 13", []string{"gcm-seal", strings.Repeat("00", 32), strings.Repeat("00", 12), "", ""}, "530f8afbc74536b9a963b4f1c4cb738b"},
		{"gcm 14", []string{"gcm-seal", strings.Repeat("00", 32), strings.Repeat("00", 12), "", strings.Repeat("00", 16)},
			"cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919"},
		{"gcm 15", []string{"gcm-seal", gcmKey, "cafebabefacedbaddecaf888", "", gcmPT + "1aafd255"},
			hx("522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa 8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662898015ad") +
				"b094dac5d93471bdec1a502270e3cc6c"},
		{"gcm 16", []string{"gcm-seal", gcmKey, "cafebabefacedbaddecaf888", gcmAAD, gcmPT},
			hx("522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa 8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662") +
				"76fc6ece0f4e1768cddf8853bb2d551b"},
		{"gcm 17 (8-byte IV)", []string{"gcm-seal", gcmKey, "cafebabefacedbad", gcmAAD, gcmPT},
			hx("c3762df1ca787d32ae47c13bf19844cb af1ae14d0b976afac52ff7d79bba9de0 feb582d33934a4f0954cc2363bc73f78 62ac430e64abe499f47c9b1f") +
				"3a337dbf46a792c45e454913fe2ea8f2"},
		{"gcm 18 (60-byte IV)", []string{"gcm-seal", gcmKey, iv60, gcmAAD, gcmPT},
			hx("5a8def2f0c9e53f1f75d7853659e2a20 eeb2b22aafde6419a058ab4f6f746bf4 0fc0c3b780f244452da3ebf1c5d82cde a2418997200ef82e44ae7e3f") +
				"a44a8266ee1c8eb0c8b5d4cf5ae9f19a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := mustRun(t, c.args...); got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
			if c.args[0] != "gcm-seal" {
				return
			}
			// The sealed vector opens back to its plaintext; any flipped bit is refused.
			open := append([]string{"gcm-open"}, c.args[1:4]...)
			if got := mustRun(t, append(open, c.want)...); got != c.args[4] {
				t.Fatalf("open: %s, want %s", got, c.args[4])
			}
			b, _ := hex.DecodeString(c.want)
			for _, i := range []int{0, len(b) / 2, len(b) - 1} {
				bad := append([]byte(nil), b...)
				bad[i] ^= 0x01
				if _, code := run(t, append(open, hex.EncodeToString(bad))...); code != 3 {
					t.Fatalf("flipped byte %d: exit %d, want 3 (refused)", i, code)
				}
			}
		})
	}
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func randN(t *testing.T, n int) int {
	t.Helper()
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		t.Fatal(err)
	}
	return int(v.Int64())
}

// TestCryptoMatchesGo: on random inputs of the lengths where block and
// padding logic changes (0, 1, 15–17, 55–57, 63–65, 1000, up to 20 KiB),
// every primitive agrees with Go's crypto packages.
func TestCryptoMatchesGo(t *testing.T) {
	lengths := []int{0, 1, 15, 16, 17, 55, 56, 57, 63, 64, 65, 119, 1000, 20000}
	for _, n := range lengths {
		msg := randBytes(t, n)
		sum := sha256.Sum256(msg)
		if got := mustRun(t, "sha256", hex.EncodeToString(msg)); got != hex.EncodeToString(sum[:]) {
			t.Errorf("sha256 of %d bytes: %s, Go %x", n, got, sum)
		}
		key := randBytes(t, []int{0, 1, 32, 64, 65, 200}[randN(t, 6)])
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		if got := mustRun(t, "hmac", hex.EncodeToString(key), hex.EncodeToString(msg)); got != hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("hmac of %d bytes, key %d: %s", n, len(key), got)
		}
		if n <= 1000 {
			salt, info, l := randBytes(t, randN(t, 80)), randBytes(t, randN(t, 80)), 1+randN(t, 255*32)
			want, err := hkdf.Key(sha256.New, msg, salt, string(info), l)
			if err != nil {
				t.Fatal(err)
			}
			got := mustRun(t, "hkdf", hex.EncodeToString(msg), hex.EncodeToString(salt), hex.EncodeToString(info), strconv.Itoa(l))
			if got != hex.EncodeToString(want) {
				t.Errorf("hkdf ikm %d salt %d info %d L %d differs", n, len(salt), len(info), l)
			}
		}
		k, aad := randBytes(t, 32), randBytes(t, randN(t, 70))
		ivLen := []int{12, 12, 1, 8, 16, 60}[randN(t, 6)]
		iv := randBytes(t, ivLen)
		block, _ := aes.NewCipher(k)
		gcm, err := cipher.NewGCMWithNonceSize(block, ivLen)
		if err != nil {
			t.Fatal(err)
		}
		want := hex.EncodeToString(gcm.Seal(nil, iv, msg, aad))
		if got := mustRun(t, "gcm-seal", hex.EncodeToString(k), hex.EncodeToString(iv), hex.EncodeToString(aad), hex.EncodeToString(msg)); got != want {
			t.Errorf("gcm seal of %d bytes, iv %d, aad %d differs", n, ivLen, len(aad))
		}
		if got := mustRun(t, "gcm-open", hex.EncodeToString(k), hex.EncodeToString(iv), hex.EncodeToString(aad), want); got != hex.EncodeToString(msg) {
			t.Errorf("gcm open of %d bytes differs", n)
		}
		blk := randBytes(t, 16)
		var ct [16]byte
		block.Encrypt(ct[:], blk)
		if got := mustRun(t, "aes", hex.EncodeToString(k), hex.EncodeToString(blk)); got != hex.EncodeToString(ct[:]) {
			t.Errorf("aes block differs")
		}
	}
}
