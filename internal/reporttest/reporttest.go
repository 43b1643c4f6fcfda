// Package reporttest is test support for Certified Secure report files
// (pkg/report): it edits them the way someone tampering by hand would, and
// names the key bytes that must never appear in them. Not for production
// code.
package reporttest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"testing"
)

// EditPayload rewrites the report file data's DSSE payload with edit
// applied to the decoded statement (as a generic map), keeping the
// signature, and returns the file (indented JSON).
func EditPayload(t testing.TB, data []byte, edit func(st map[string]any)) []byte {
	t.Helper()
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	env, ok := f["dsseEnvelope"].(map[string]any)
	if !ok {
		t.Fatal("reporttest: no dsseEnvelope object")
	}
	p, _ := env["payload"].(string)
	payload, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	edit(st)
	if payload, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	env["payload"] = base64.StdEncoding.EncodeToString(payload)
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// KeyNeedles returns, for a private key, byte strings that must not appear
// in anything written about it (report, payload, PDF text): 24 bytes of its
// PKCS#8 DER and 48 characters of its PEM, base64 and hex forms, each taken
// a third of the way in, inside the private exponent (RSA) or scalar (EC)
// rather than public bytes. Keys are name + " DER", " PEM", " base64", " hex".
func KeyNeedles(t testing.TB, name string, key any) map[string][]byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	third := func(b []byte, n int) []byte { return b[len(b)/3 : len(b)/3+n] }
	return map[string][]byte{
		name + " DER":    third(der, 24),
		name + " PEM":    third(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 48),
		name + " base64": third([]byte(base64.StdEncoding.EncodeToString(der)), 48),
		name + " hex":    third([]byte(hex.EncodeToString(der)), 48),
	}
}
