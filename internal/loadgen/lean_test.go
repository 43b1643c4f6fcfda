package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/pkg/attest"
)

// TestParseAnswer: parseAnswer accepts an answer, and returns its nonce or
// token, exactly when encoding/json decodes it into serve's response type
// with both members present; one case per class of answer.
func TestParseAnswer(t *testing.T) {
	const nonce = "AbC-_9xyzAbC-_9xyzAbC-_9xyzAbC-_9xyzAbC-_9xyzAbC-_9xyzAbC-_9xyzAbC-_9xyzAbC"
	const tok = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"
	cases := []struct {
		name, body string
		token      bool // an attest answer
	}{
		{"challenge as serve writes it", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T09:30:00Z"}` + "\n", false},
		{"attest as serve writes it", `{"token":"` + tok + `","expiresAt":"2026-12-06T09:30:00Z"}` + "\n", true},
		{"nanoseconds and an offset", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T09:30:00.5+01:00"}` + "\n", false},
		{"no newline", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T09:30:00Z"}`, false},
		{"members swapped", `{"expiresAt":"2026-12-06T09:30:00Z","token":"` + tok + `"}`, true},
		{"escaped string", `{"nonce":"a\u0062\/c","expiresAt":"2026-12-06T09:30:00Z"}`, false},
		{"spaces", `{ "token" : "` + tok + `" , "expiresAt" : "2026-12-06T09:30:00Z" }`, true},
		{"empty token", `{"token":"","expiresAt":"2026-12-06T09:30:00Z"}`, true},
		{"no expiresAt", `{"nonce":"` + nonce + `"}`, false},
		{"no token", `{"expiresAt":"2026-12-06T09:30:00Z"}`, true},
		{"other answer's member", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T09:30:00Z"}`, true},
		{"hour 24", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T24:00:00Z"}` + "\n", false},
		{"not a time", `{"token":"` + tok + `","expiresAt":"soon"}` + "\n", true},
		{"trailing data", `{"nonce":"` + nonce + `","expiresAt":"2026-12-06T09:30:00Z"}x`, false},
		{"truncated", `{"token":"` + tok + `","expiresAt":"2026-12-06T09:30:00Z"`, true},
		{"error answer", `{"error":"temporarily unavailable"}` + "\n", false},
		{"not JSON", "<html>", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			open := `{"nonce":"`
			if tc.token {
				open = `{"token":"`
			}
			got, err := parseAnswer([]byte(tc.body), open)
			// The oracle: encoding/json into serve's own response type, and
			// both members present.
			var want string
			var present map[string]json.RawMessage
			wantOK := json.Unmarshal([]byte(tc.body), &present) == nil
			if tc.token {
				var ar attest.AttestResponse
				wantOK = wantOK && json.Unmarshal([]byte(tc.body), &ar) == nil
				want = ar.Token
				_, has := present["token"]
				wantOK = wantOK && has
			} else {
				var cr attest.ChallengeResponse
				wantOK = wantOK && json.Unmarshal([]byte(tc.body), &cr) == nil
				want = cr.Nonce
				_, has := present["nonce"]
				wantOK = wantOK && has
			}
			_, has := present["expiresAt"]
			wantOK = wantOK && has
			if (err == nil) != wantOK || err == nil && string(got) != want {
				t.Errorf("parseAnswer = %q, %v; encoding/json: %q, ok %v", got, err, want, wantOK)
			}
			if err != nil && strings.Contains(tc.name, "serve writes") {
				t.Errorf("serve's own answer refused: %v", err)
			}
		})
	}
}
