package testenv

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// SealVault seals the vault plaintext pt for signer digest signer and
// policy bytes policy, written straight from the FORMAT comment of
// pkg/vault with Go's crypto and no pkg/vault code: an independent writer
// for the runtimes' readers and for pkg/vault's own.
func SealVault(t testing.TB, pt, pepper []byte, signer [32]byte, policy []byte) []byte {
	t.Helper()
	salt := sha256.Sum256(append([]byte("trustfuse vault salt"), pt...))
	k := vaultKey(t, pepper, signer, salt[:])
	m := hmac.New(sha256.New, k)
	m.Write(pt)
	nonce := m.Sum(nil)[:12]
	head := append(append(append([]byte("TFV1"), 1), salt[:]...), nonce...)
	return vaultGCM(t, k).Seal(head, nonce, pt, vaultAAD(head, policy))
}

// OpenVault is SealVault's inverse, written from the same FORMAT: the
// plaintext of blob, or the GCM error when pepper, signer or policy is not
// what it was sealed for. A blob too short to be a vault fails the test.
func OpenVault(t testing.TB, blob, pepper []byte, signer [32]byte, policy []byte) ([]byte, error) {
	t.Helper()
	if len(blob) < 49+16 || string(blob[:4]) != "TFV1" {
		t.Fatalf("not a vault: % x", blob[:min(len(blob), 8)])
	}
	k := vaultKey(t, pepper, signer, blob[5:37])
	return vaultGCM(t, k).Open(nil, blob[37:49], blob[49:], vaultAAD(blob[:37], policy))
}

// vaultKey is HKDF-SHA256(pepper || signer, salt, "trustfuse vault v1").
func vaultKey(t testing.TB, pepper []byte, signer [32]byte, salt []byte) []byte {
	k, err := hkdf.Key(sha256.New, append(append([]byte(nil), pepper...), signer[:]...), salt, "trustfuse vault v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func vaultGCM(t testing.TB, k []byte) cipher.AEAD {
	block, err := aes.NewCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return gcm
}

// vaultAAD is the first 37 bytes of the vault followed by SHA-256(policy).
func vaultAAD(head, policy []byte) []byte {
	sum := sha256.Sum256(policy)
	return append(append([]byte(nil), head[:37]...), sum[:]...)
}
