// Package reporttest is test support for Certified Secure report files
// (pkg/report): it edits them the way someone tampering by hand would. Not
// for production code.
package reporttest

import (
	"encoding/base64"
	"encoding/json"
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
