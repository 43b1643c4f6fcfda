package attest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// decodeOutcome is what a request body decoding answered and yielded.
type decodeOutcome struct {
	ok   bool
	code int
	body string
	req  AttestRequest
}

// decodeWith runs read on body (Content-Length known unless chunked).
func decodeWith(body []byte, chunked bool, read func(http.ResponseWriter, *http.Request, *AttestRequest) bool) decodeOutcome {
	r := httptest.NewRequest(http.MethodPost, "/v1/attest", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if chunked {
		r.ContentLength = -1
	}
	w := httptest.NewRecorder()
	var o decodeOutcome
	o.ok = read(w, r, &o.req)
	o.code, o.body = w.Code, w.Body.String()
	return o
}

// referenceRead is the encoding/json path every request took before.
func referenceRead(w http.ResponseWriter, r *http.Request, req *AttestRequest) bool {
	return readJSON(w, r, req, false)
}

// checkSameDecoding fails t unless readAttestRequest answers body exactly as
// the encoding/json path does (status, error body, decoded request) and
// reports whether it took the fast path.
func checkSameDecoding(t *testing.T, body []byte, chunked bool) (fast bool) {
	t.Helper()
	got := decodeWith(body, chunked, readAttestRequest)
	want := decodeWith(body, chunked, referenceRead)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body %.200q:\n got  %+v\n want %+v", body, got, want)
	}
	return !chunked && len(body) <= MaxBodyBytes && decodeAttestFast(body, new(AttestRequest))
}

// TestAttestRequestDecoding: the reflection-free decoding of attestation
// requests answers and decodes exactly as encoding/json with
// DisallowUnknownFields does, one case per class of input; the cases of
// the common shape take the fast path, the others fall back.
func TestAttestRequestDecoding(t *testing.T) {
	valid := `{"nonce":"bm9uY2U","proof":"cHJvb2Y","deviceInfo":{"id":"device-3"},"package":"com.example.app",` +
		`"versionCode":42,"signerDigests":["ab","cd"],"dexDigests":{"classes.dex":"ef","classes2.dex":"01"},` +
		`"runtimeDigest":"23","manifestDigest":"45"}`
	all := `{"nonce":"n","proof":"p","package":"","versionCode":0,"signerDigests":[],"dexDigests":{},"runtimeDigest":"r",` +
		`"manifestDigest":"m","deviceInfo":{},"threats":["root","hook"],"keyAttestationChain":["MIIB","MIIC"],` +
		`"appAttestKeyId":"k","appAttestation":"a","identityPublicKey":"i"}`
	cases := []struct {
		name    string
		body    string
		chunked bool
		fast    bool
	}{
		{"generator shape", valid, false, true},
		{"every field", all, false, true},
		{"empty object", `{}`, false, true},
		{"whitespace around and inside", " \t\r\n{ \"nonce\" : \"n\" ,\n\"threats\" : [ \"a\" , \"b\" ] , \"deviceInfo\" : { \"id\" : \"x\" } }\n ", false, true},
		{"unknown length (chunked)", valid, true, false},
		{"unknown field", `{"nonce":"n","extra":1}`, false, false},
		{"case-folded key", `{"Nonce":"n"}`, false, false},
		{"duplicate string field", `{"nonce":"a","nonce":"b"}`, false, false},
		{"duplicate map field", `{"deviceInfo":{"a":"1"},"deviceInfo":{"b":"2"}}`, false, false},
		{"duplicate slice field", `{"threats":["a","b"],"threats":["c"]}`, false, false},
		{"duplicate map key", `{"deviceInfo":{"id":"1","id":"2"}}`, false, false},
		{"string where a number goes", `{"versionCode":"42"}`, false, false},
		{"number where a string goes", `{"nonce":42}`, false, false},
		{"object where an array goes", `{"threats":{}}`, false, false},
		{"number in a string map", `{"deviceInfo":{"id":1}}`, false, false},
		{"null field", `{"nonce":null,"threats":null}`, false, false},
		{"null body", `null`, false, false},
		{"array body", `[]`, false, false},
		{"escaped string", `{"nonce":"a\"b\u00e9\/"}`, false, false},
		{"non-ASCII string", `{"package":"com.exämple"}`, false, false},
		{"invalid UTF-8", "{\"package\":\"a\xffb\"}", false, false},
		{"control character", "{\"package\":\"a\x01b\"}", false, false},
		{"negative versionCode", `{"versionCode":-7}`, false, false},
		{"leading zero", `{"versionCode":042}`, false, false},
		{"versionCode 18 digits", `{"versionCode":999999999999999999}`, false, true},
		{"versionCode 19 digits", `{"versionCode":9223372036854775807}`, false, false},
		{"versionCode overflow", `{"versionCode":9223372036854775808}`, false, false},
		{"float versionCode", `{"versionCode":1.0}`, false, false},
		{"exponent versionCode", `{"versionCode":1e3}`, false, false},
		{"ios measurement", `{"nonce":"n","ios":{"platform":"ios"}}`, false, false},
		{"trailing data", valid + `{}`, false, false},
		{"trailing garbage", valid + ` x`, false, false},
		{"trailing comma", `{"nonce":"n",}`, false, false},
		{"truncated", valid[:len(valid)-5], false, false},
		{"empty body", ``, false, false},
		{"empty body, unknown length", ``, true, false},
		{"huge body", `{"nonce":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, false, false},
		{"huge body, unknown length", `{"nonce":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, true, false},
		{"huge trailing whitespace", valid + strings.Repeat(" ", MaxBodyBytes), false, false},
		{"at the limit", `{"nonce":"` + strings.Repeat("a", MaxBodyBytes-13) + `"}`, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if fast := checkSameDecoding(t, []byte(tc.body), tc.chunked); fast != tc.fast {
				t.Errorf("fast path %v, want %v", fast, tc.fast)
			}
		})
	}
}

// TestAttestRequestShortBody: a body shorter than its Content-Length (the
// client went away) is answered as encoding/json answers it.
func TestAttestRequestShortBody(t *testing.T) {
	for _, body := range []string{`{"nonce":"n"}`, `{"nonce":"n"`, ``} {
		var got, want decodeOutcome
		for _, o := range []struct {
			out  *decodeOutcome
			read func(http.ResponseWriter, *http.Request, *AttestRequest) bool
		}{{&got, readAttestRequest}, {&want, referenceRead}} {
			r := httptest.NewRequest(http.MethodPost, "/v1/attest", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.ContentLength = int64(len(body)) + 10
			w := httptest.NewRecorder()
			o.out.ok = o.read(w, r, &o.out.req)
			o.out.code, o.out.body = w.Code, w.Body.String()
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("body %q: got %+v, want %+v", body, got, want)
		}
	}
}

// FuzzAttestRequestDecoding compares the reflection-free decoding with
// encoding/json on arbitrary bodies.
func FuzzAttestRequestDecoding(f *testing.F) {
	for _, s := range []string{
		`{"nonce":"n","proof":"p","deviceInfo":{"id":"d"},"versionCode":3,"signerDigests":["a"],"dexDigests":{"x":"y"}}`,
		`{"threats":[],"keyAttestationChain":["a","b"],"appAttestKeyId":"k"}`, `{}`, ` {"versionCode":0} `,
		`{"nonce":"a","nonce":"b"}`, `{"Nonce":"n"}`, `{"versionCode":-1}`, `{"nonce":"\u0041"}`, `{"ios":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSameDecoding(t, body, false)
	})
}
