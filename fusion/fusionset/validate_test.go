package fusionset

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// issueExample is the Fusion Set of the issue ("Fusion Set and fuse for
// APK"), verbatim. Every bad-input case below edits it.
const issueExample = `{
  "fusionSetId": "fs-0001", "name": "Payments app prod", "version": 1,
  "mtls": { "clientCertificate": "file:client.p12", "password": "env:CLIENT_P12_PASS",
            "hosts": ["api.example.com"], "pinServerCA": "file:server-ca.pem" },
  "attestation": { "endpoint": "https://attest.example.com", "tokenHeader": "TrustFuse-Token",
                   "tokenTTL": "5m", "playSigningCertDigests": [] },
  "threats": {
    "tamper": {"mode": "defend"}, "debugger": {"mode": "detect"}, "root": {"mode": "detect"},
    "emulator": {"mode": "off"}, "hooking": {"mode": "defend"}, "mitm": {"mode": "defend"}
  },
  "threatEvents": { "failSafeEnforce": true, "exitOnDefend": false }
}
`

// embeddedMTLS opens issueExample's mtls object; the identity cases edit it.
const embeddedMTLS = `"mtls": { "clientCertificate": "file:client.p12", "password": "env:CLIENT_P12_PASS",`

// attestationObject is issueExample's attestation object.
const attestationObject = `"attestation": { "endpoint": "https://attest.example.com", "tokenHeader": "TrustFuse-Token",
                   "tokenTTL": "5m", "playSigningCertDigests": [] },`

// attestedExample is issueExample in attested mode: no client certificate,
// the world's CA as issuer CA.
var attestedExample = strings.Replace(issueExample, embeddedMTLS, `"mtls": { "identity": "attested", "issuerCA": "file:./server-ca.pem",`, 1)

// position returns the 1-based line and character column where marker
// first starts in doc, counted by hand (independently of lineCol).
func position(t *testing.T, doc, marker string) (int, int) {
	t.Helper()
	i := strings.Index(doc, marker)
	if i < 0 {
		t.Fatalf("marker %q not in document", marker)
	}
	line, col := 1, 1
	for _, r := range doc[:i] {
		if r == '\n' {
			line, col = line+1, 1
			continue
		}
		col++
	}
	return line, col
}

func TestIssueExampleLoads(t *testing.T) {
	w := newWorld(t)
	fs, err := Load(w.write(t, "fusion.json", issueExample), w.opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if fs.FusionSetID != "fs-0001" || fs.Name != "Payments app prod" || fs.Version != 1 {
		t.Errorf("header = %q %q %d", fs.FusionSetID, fs.Name, fs.Version)
	}
	want := map[ThreatID]Mode{ThreatTamper: ModeDefend, ThreatDebugger: ModeDetect, ThreatRoot: ModeDetect,
		ThreatEmulator: ModeOff, ThreatHooking: ModeDefend, ThreatMITM: ModeDefend}
	for id, m := range want {
		if got := fs.Threats[id]; got.Mode != m || got.Score != DefaultScore(id) || got.Message != DefaultMessage(id) {
			t.Errorf("threat %s = %+v, want mode %s with defaults", id, got, m)
		}
	}
	if !fs.ThreatEvents.Enabled || !fs.ThreatEvents.FailSafeEnforce || fs.ThreatEvents.Delay().String() != "30s" {
		t.Errorf("threatEvents = %+v", fs.ThreatEvents)
	}
	if a := fs.Attestation; !fs.HasAttestation() || a.TTL().String() != "5m0s" || a.TokenHeader != "TrustFuse-Token" ||
		a.AppAttest != (AppAttest{Mode: KeyAttestationOff}) {
		t.Errorf("attestation = %+v", a)
	}
	if fs.ClientIdentity == nil || fs.ClientCertificate().Subject.CommonName != "client" {
		t.Errorf("client identity not loaded")
	}
	if len(fs.PinnedCAs) != 1 || fs.PinnedCAs[0].Subject.CommonName != "Test CA" {
		t.Errorf("pinned CAs = %v", fs.PinnedCAs)
	}
	if len(fs.Warnings) != 0 {
		t.Errorf("warnings: %v", fs.Warnings)
	}
}

// TestBadInput edits the issue's example so that one rule breaks, and checks
// the problem's path, its line:col (the marker's position, counted by
// hand) and message.
func TestBadInput(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name     string
		old, new string // edit of issueExample (old must occur once)
		path     string
		at       string // the problem's position is where this first starts in the edited document
		msg      string // in the message
		extra    int    // other problems expected besides this one
		attested bool   // edit attestedExample instead
	}{
		// Missing required fields: the position is the object lacking it.
		{name: "missing fusionSetId", old: `"fusionSetId": "fs-0001", `, new: ``, path: "$.fusionSetId", at: "{", msg: `missing required field "fusionSetId"`},
		{name: "missing name", old: `"name": "Payments app prod", `, new: ``, path: "$.name", at: "{", msg: `missing required field "name"`},
		{name: "missing version", old: `, "version": 1`, new: ``, path: "$.version", at: "{", msg: `missing required field "version"`},
		{name: "missing mtls.hosts", old: `"hosts": ["api.example.com"], `, new: ``, path: "$.mtls.hosts", at: `{ "clientCertificate"`, msg: `missing required field "hosts"`},
		{name: "missing mtls.clientCertificate", old: `"clientCertificate": "file:client.p12", `, new: ``, path: "$.mtls.clientCertificate", at: `{ "password"`, msg: "missing required field"},
		{name: "missing attestation.endpoint", old: `"endpoint": "https://attest.example.com", `, new: ``, path: "$.attestation.endpoint", at: `{ "tokenHeader"`, msg: "missing required field"},
		{name: "missing threat mode", old: `"root": {"mode": "detect"}`, new: `"root": {"score": 5}`, path: "$.threats.root.mode", at: `{"score"`, msg: `missing required field "mode"`},
		{name: "missing threats", old: `"threats": {`, new: `"threatz": {`, path: "$.threats", at: "{", msg: "missing required field", extra: 1},

		// Unknown fields, at every level: the position is the key.
		{name: "unknown top-level field", old: `"version": 1,`, new: `"version": 1, "versoin": 2,`, path: "$.versoin", at: `"versoin"`, msg: `unknown field "versoin"; known fields: attestation, fusionSetId, mtls, name, threatEvents, threats, version`},
		{name: "unknown mtls field", old: `"password":`, new: `"pasword": "x", "password":`, path: "$.mtls.pasword", at: `"pasword"`, msg: `unknown field "pasword"; known fields: attestedCertificate, clientCertificate, hosts, identity, issuerCA, password, pinServerCA`},
		{name: "unknown attestation field", old: `"tokenTTL": "5m"`, new: `"tokenTtl": "5m"`, path: "$.attestation.tokenTtl", at: `"tokenTtl"`, msg: `unknown field "tokenTtl"`},
		{name: "unknown threat", old: `"threats": {`, new: `"threats": { "jailbreak": {"mode": "off"},`, path: "$.threats.jailbreak", at: `"jailbreak"`, msg: `unknown field "jailbreak"; known fields: debugger, emulator, hooking, mitm, root, tamper`},
		{name: "unknown threat field", old: `"tamper": {"mode": "defend"}`, new: `"tamper": {"mode": "defend", "mesage": "x"}`, path: "$.threats.tamper.mesage", at: `"mesage"`, msg: `unknown field "mesage"; known fields: message, mode, score`},
		{name: "unknown threatEvents field", old: `"exitOnDefend": false`, new: `"exitOnDefend": false, "failsafe": true`, path: "$.threatEvents.failsafe", at: `"failsafe"`, msg: `unknown field "failsafe"`},

		// Wrong types.
		{name: "version is a string", old: `"version": 1`, new: `"version": "1"`, path: "$.version", at: `"1"`, msg: "must be an integer, not a string"},
		{name: "version is fractional", old: `"version": 1`, new: `"version": 1.5`, path: "$.version", at: `1.5`, msg: "must be an integer, not a number"},
		{name: "mtls is an array", old: `"mtls": { "clientCertificate": "file:client.p12", "password": "env:CLIENT_P12_PASS",
            "hosts": ["api.example.com"], "pinServerCA": "file:server-ca.pem" }`, new: `"mtls": []`, path: "$.mtls", at: `[]`, msg: "must be an object, not an array"},
		{name: "hosts is a string", old: `["api.example.com"]`, new: `"api.example.com"`, path: "$.mtls.hosts", at: `"api.example.com"`, msg: "must be an array, not a string"},
		{name: "mode is a number", old: `"emulator": {"mode": "off"}`, new: `"emulator": {"mode": 0}`, path: "$.threats.emulator.mode", at: `0}`, msg: `0 is not one of: off, detect, defend`},
		{name: "appAttest is a string", old: `"playSigningCertDigests": []`, new: `"playSigningCertDigests": [], "appAttest": "required"`, path: "$.attestation.appAttest", at: `"required"`, msg: "must be an object, not a string"},
		{name: "appAttest bad mode", old: `"playSigningCertDigests": []`, new: `"playSigningCertDigests": [], "appAttest": {"mode": "always"}`, path: "$.attestation.appAttest.mode", at: `"always"`, msg: `"always" is not one of: off, optional, required`},
		{name: "appAttest allowDevelopment is a string", old: `"playSigningCertDigests": []`, new: `"playSigningCertDigests": [], "appAttest": {"mode": "optional", "allowDevelopment": "yes"}`, path: "$.attestation.appAttest.allowDevelopment", at: `"yes"`, msg: "must be a boolean, not a string"},
		{name: "appAttest unknown field", old: `"playSigningCertDigests": []`, new: `"playSigningCertDigests": [], "appAttest": {"mode": "required", "teamId": "ABCDE12345"}`, path: "$.attestation.appAttest.teamId", at: `"teamId"`, msg: `unknown field "teamId"; known fields: allowDevelopment, mode`},
		{name: "failSafeEnforce is a string", old: `"failSafeEnforce": true`, new: `"failSafeEnforce": "yes"`, path: "$.threatEvents.failSafeEnforce", at: `"yes"`, msg: "must be a boolean, not a string"},
		{name: "score is a string", old: `"tamper": {"mode": "defend"}`, new: `"tamper": {"mode": "defend", "score": "high"}`, path: "$.threats.tamper.score", at: `"high"`, msg: "must be an integer, not a string"},
		{name: "password is a number", old: `"env:CLIENT_P12_PASS"`, new: `1234`, path: "$.mtls.password", at: `1234`, msg: "must be a string, not a number"},

		// Bad values.
		{name: "bad mode", old: `"hooking": {"mode": "defend"}`, new: `"hooking": {"mode": "defnd"}`, path: "$.threats.hooking.mode", at: `"defnd"`, msg: `"defnd" is not one of: off, detect, defend`},
		{name: "score over 100", old: `"root": {"mode": "detect"}`, new: `"root": {"mode": "detect", "score": 101}`, path: "$.threats.root.score", at: `101`, msg: "101 is too large: the maximum is 100"},
		{name: "empty message", old: `"tamper": {"mode": "defend"}`, new: `"tamper": {"mode": "defend", "message": ""}`, path: "$.threats.tamper.message", at: `""`, msg: "must not be empty"},
		{name: "version 0", old: `"version": 1`, new: `"version": 0`, path: "$.version", at: `0,`, msg: "0 is too small: the minimum is 1"},
		{name: "empty name", old: `"Payments app prod"`, new: `""`, path: "$.name", at: `""`, msg: "must not be empty"},
		{name: "bad id uppercase", old: `"fs-0001"`, new: `"FS-0001"`, path: "$.fusionSetId", at: `"FS-0001"`, msg: `"FS-0001" must be 3 to 64 lowercase letters`},
		{name: "bad id too short", old: `"fs-0001"`, new: `"fs"`, path: "$.fusionSetId", at: `"fs"`, msg: "must be 3 to 64"},
		{name: "bad id leading dash", old: `"fs-0001"`, new: `"-fs-0001"`, path: "$.fusionSetId", at: `"-fs-0001"`, msg: "starting with a letter or digit"},
		{name: "bad id too long", old: `"fs-0001"`, new: `"` + strings.Repeat("a", 65) + `"`, path: "$.fusionSetId", at: `"aaa`, msg: "must be 3 to 64"},
		{name: "bad duration", old: `"tokenTTL": "5m"`, new: `"tokenTTL": "5 minutes"`, path: "$.attestation.tokenTTL", at: `"5 minutes"`, msg: `"5 minutes" must be a duration such as 30s, 5m or 1h30m`},
		{name: "bad failSafeAfter", old: `"exitOnDefend": false`, new: `"exitOnDefend": false, "failSafeAfter": "soon"`, path: "$.threatEvents.failSafeAfter", at: `"soon"`, msg: "must be a duration"},
		{name: "TTL too short", old: `"tokenTTL": "5m"`, new: `"tokenTTL": "10s"`, path: "$.attestation.tokenTTL", at: `"10s"`, msg: "10s is out of range: must be between 30s and 1h"},
		{name: "TTL too long", old: `"tokenTTL": "5m"`, new: `"tokenTTL": "1h0m1s"`, path: "$.attestation.tokenTTL", at: `"1h0m1s"`, msg: "out of range"},
		{name: "TTL overflows", old: `"tokenTTL": "5m"`, new: `"tokenTTL": "9999999999h"`, path: "$.attestation.tokenTTL", at: `"9999999999h"`, msg: "is not a duration"},
		{name: "failSafeAfter too long", old: `"exitOnDefend": false`, new: `"exitOnDefend": false, "failSafeAfter": "2h"`, path: "$.threatEvents.failSafeAfter", at: `"2h"`, msg: "between 1s and 1h"},
		{name: "http endpoint", old: `"https://attest.example.com"`, new: `"http://attest.example.com"`, path: "$.attestation.endpoint", at: `"http://`, msg: "must use https (http is accepted only for localhost"},
		{name: "ftp endpoint", old: `"https://attest.example.com"`, new: `"ftp://attest.example.com"`, path: "$.attestation.endpoint", at: `"ftp://`, msg: "must be an https:// URL"},
		{name: "endpoint with credentials", old: `"https://attest.example.com"`, new: `"https://u:p@attest.example.com"`, path: "$.attestation.endpoint", at: `"https://u`, msg: "must not contain a user name or password"},
		{name: "endpoint with query", old: `"https://attest.example.com"`, new: `"https://attest.example.com/?x=1"`, path: "$.attestation.endpoint", at: `"https://attest`, msg: "must not have a query or fragment"},
		{name: "endpoint without host", old: `"https://attest.example.com"`, new: `"https:///v1"`, path: "$.attestation.endpoint", at: `"https:///`, msg: "has no host"},
		{name: "reserved token header", old: `"TrustFuse-Token"`, new: `"Authorization"`, path: "$.attestation.tokenHeader", at: `"Authorization"`, msg: "choose another name"},
		{name: "bad token header", old: `"TrustFuse-Token"`, new: `"Trust Fuse"`, path: "$.attestation.tokenHeader", at: `"Trust Fuse"`, msg: "must be an HTTP header name"},
		{name: "host with scheme", old: `["api.example.com"]`, new: `["https://api.example.com"]`, path: "$.mtls.hosts[0]", at: `"https://api`, msg: "must be a DNS name or IP address, without scheme, port or path"},
		{name: "host with port", old: `["api.example.com"]`, new: `["api.example.com:443"]`, path: "$.mtls.hosts[0]", at: `"api.example.com:443"`, msg: "without scheme, port or path"},
		{name: "host with path", old: `["api.example.com"]`, new: `["ok.example.com", "api.example.com/v1"]`, path: "$.mtls.hosts[1]", at: `"api.example.com/v1"`, msg: "without scheme, port or path"},
		{name: "host label starts with dash", old: `["api.example.com"]`, new: `["-api.example.com"]`, path: "$.mtls.hosts[0]", at: `"-api`, msg: "must be a DNS name"},
		{name: "host bad IPv4", old: `["api.example.com"]`, new: `["999.1.1.1"]`, path: "$.mtls.hosts[0]", at: `"999.1.1.1"`, msg: "is not a valid IPv4 address"},
		{name: "host bad IPv6", old: `["api.example.com"]`, new: `["fe80::1::2"]`, path: "$.mtls.hosts[0]", at: `"fe80::1::2"`, msg: "is not a valid IPv6 address"},
		{name: "host empty", old: `["api.example.com"]`, new: `[""]`, path: "$.mtls.hosts[0]", at: `""]`, msg: "must be a DNS name"},
		{name: "no hosts", old: `["api.example.com"]`, new: `[]`, path: "$.mtls.hosts", at: `[]`, msg: "must list at least 1 item(s)"},
		{name: "repeated host", old: `["api.example.com"]`, new: `["api.example.com", "api.example.com"]`, path: "$.mtls.hosts[1]", at: `"api.example.com"]`, msg: "repeats item 0"},
		{name: "repeated host other case", old: `["api.example.com"]`, new: `["api.example.com", "API.example.com"]`, path: "$.mtls.hosts[1]", at: `"API`, msg: "repeats hosts[0] (host names are case-insensitive)"},
		{name: "digest too short", old: `"playSigningCertDigests": []`, new: `"playSigningCertDigests": ["` + strings.Repeat("ab", 31) + `a"]`, path: "$.attestation.playSigningCertDigests[0]", at: `"abab`, msg: "must be a SHA-256 digest"},
		{name: "digest not hex", old: `"playSigningCertDigests": []`, new: `"playSigningCertDigests": ["` + strings.Repeat("zz", 32) + `"]`, path: "$.attestation.playSigningCertDigests[0]", at: `"zz`, msg: "must be a SHA-256 digest"},
		{name: "digest 31 pairs", old: `"playSigningCertDigests": []`, new: `"playSigningCertDigests": ["` + strings.Repeat("AB:", 30) + `AB"]`, path: "$.attestation.playSigningCertDigests[0]", at: `"AB:`, msg: "must be a SHA-256 digest"},
		{name: "digest repeated in other form", old: `"playSigningCertDigests": []`, new: `"playSigningCertDigests": ["` + strings.Repeat("ab", 32) + `", "` + strings.Repeat("AB:", 31) + `AB"]`, path: "$.attestation.playSigningCertDigests[1]", at: `"AB:`, msg: "repeats playSigningCertDigests[0]"},
		{name: "clientCertificate not a file reference", old: `"file:client.p12"`, new: `"client.p12"`, path: "$.mtls.clientCertificate", at: `"client.p12"`, msg: "must be a file reference, file:PATH"},
		{name: "clientCertificate missing file", old: `"file:client.p12"`, new: `"file:nope.p12"`, path: "$.mtls.clientCertificate", at: `"file:nope.p12"`, msg: "nope.p12: no such file or directory"},
		{name: "pinServerCA missing file", old: `"file:server-ca.pem"`, new: `"file:nope.pem"`, path: "$.mtls.pinServerCA", at: `"file:nope.pem"`, msg: "nope.pem: no such file or directory"},

		// Identity modes (mtls.identity); attested edits replace the client
		// certificate and password with identity + issuerCA.
		{name: "identity bad value", old: embeddedMTLS, new: `"mtls": { "identity": "hardware", ` + embeddedMTLS[10:], path: "$.mtls.identity", at: `"hardware"`, msg: `"hardware" is not one of: embedded, attested, attested-or-embedded`},
		{name: "identity is a boolean", old: embeddedMTLS, new: `"mtls": { "identity": true, ` + embeddedMTLS[10:], path: "$.mtls.identity", at: `true`, msg: `true is not one of: embedded, attested, attested-or-embedded`},
		{name: "attested with clientCertificate", old: embeddedMTLS, new: `"mtls": { "identity": "attested", "issuerCA": "file:server-ca.pem", ` + embeddedMTLS[10:], path: "$.mtls.clientCertificate", at: `"file:client.p12"`, msg: "attested mode ships no private key: remove mtls.clientCertificate/password, set mtls.issuerCA", extra: 1},
		{name: "attested with password", old: embeddedMTLS, new: `"mtls": { "identity": "attested", "issuerCA": "file:server-ca.pem", "password": "env:X",`, path: "$.mtls.password", at: `"env:X"`, msg: "attested mode ships no private key"},
		{name: "attested without issuerCA", old: embeddedMTLS, new: `"mtls": { "identity": "attested",`, path: "$.mtls.issuerCA", at: `{ "identity"`, msg: `missing required field "issuerCA": identity "attested" needs the CA certificate(s)`},
		{name: "attested-or-embedded without issuerCA", old: embeddedMTLS, new: `"mtls": { "identity": "attested-or-embedded", ` + embeddedMTLS[10:], path: "$.mtls.issuerCA", at: `{ "identity"`, msg: `missing required field "issuerCA"`},
		{name: "attested-or-embedded without clientCertificate", old: embeddedMTLS, new: `"mtls": { "identity": "attested-or-embedded", "issuerCA": "file:server-ca.pem",`, path: "$.mtls.clientCertificate", at: `{ "identity"`, msg: `missing required field "clientCertificate": identity "attested-or-embedded" seals a client certificate`},
		{name: "attested without attestation", old: attestationObject, new: ``, path: "$.attestation.endpoint", at: "{", msg: `missing required field "endpoint": identity "attested" gets device certificates from the attestation service`, attested: true},
		{name: "issuerCA not a file reference", old: `"file:./server-ca.pem"`, new: `"server-ca.pem"`, path: "$.mtls.issuerCA", at: `"server-ca.pem"`, msg: "must be a file reference", attested: true},
		{name: "issuerCA missing file", old: `"file:./server-ca.pem"`, new: `"file:nope.pem"`, path: "$.mtls.issuerCA", at: `"file:nope.pem"`, msg: "nope.pem: no such file or directory", attested: true},
		{name: "issuerCA not a CA", old: `"file:./server-ca.pem"`, new: `"file:client.p12.cert.pem"`, path: "$.mtls.issuerCA", at: `"file:client.p12.cert.pem"`, msg: `issuer CA "CN=client" is not a CA certificate (basic constraints CA:true)`, attested: true},
		{name: "issuerCA holds a private key", old: `"file:./server-ca.pem"`, new: `"file:client.p12.key.pem"`, path: "$.mtls.issuerCA", at: `"file:client.p12.key.pem"`, msg: "holds a private key: issuerCA must hold only the CA certificate(s)", attested: true},
		{name: "issuerCA not certificates", old: `"file:./server-ca.pem"`, new: `"file:client.p12"`, path: "$.mtls.issuerCA", at: `"file:client.p12"`, msg: "neither PEM certificates nor a DER certificate", attested: true},
		{name: "attestedCertificate is a string", old: `"hosts":`, new: `"attestedCertificate": "24h", "hosts":`, path: "$.mtls.attestedCertificate", at: `"24h"`, msg: "must be an object, not a string", attested: true},
		{name: "attestedCertificate unknown field", old: `"hosts":`, new: `"attestedCertificate": {"lifetime": "1h"}, "hosts":`, path: "$.mtls.attestedCertificate.lifetime", at: `"lifetime"`, msg: `unknown field "lifetime"; known fields: minSecurityLevel, requireVerifiedBoot, strongBox, validity`, attested: true},
		{name: "validity not a duration", old: `"hosts":`, new: `"attestedCertificate": {"validity": "1 day"}, "hosts":`, path: "$.mtls.attestedCertificate.validity", at: `"1 day"`, msg: "must be a duration such as 30s, 5m or 1h30m", attested: true},
		{name: "validity below 5m", old: `"hosts":`, new: `"attestedCertificate": {"validity": "4m59s"}, "hosts":`, path: "$.mtls.attestedCertificate.validity", at: `"4m59s"`, msg: "4m59s is out of range: must be between 5m and 168h", attested: true},
		{name: "validity above 7 days", old: `"hosts":`, new: `"attestedCertificate": {"validity": "168h1s"}, "hosts":`, path: "$.mtls.attestedCertificate.validity", at: `"168h1s"`, msg: "168h1s is out of range: must be between 5m and 168h", attested: true},
		{name: "minSecurityLevel bad", old: `"hosts":`, new: `"attestedCertificate": {"minSecurityLevel": "hardware"}, "hosts":`, path: "$.mtls.attestedCertificate.minSecurityLevel", at: `"hardware"`, msg: `"hardware" is not one of: software, tee, strongbox`, attested: true},
		{name: "minSecurityLevel strongbox without strongBox", old: `"hosts":`, new: `"attestedCertificate": {"minSecurityLevel": "strongbox"}, "hosts":`, path: "$.mtls.attestedCertificate.minSecurityLevel", at: `"strongbox"`, msg: `strongbox needs "strongBox": "prefer"`, attested: true},
		{name: "strongBox bad", old: `"hosts":`, new: `"attestedCertificate": {"strongBox": "on"}, "hosts":`, path: "$.mtls.attestedCertificate.strongBox", at: `"on"`, msg: `"on" is not one of: prefer, off`, attested: true},
		{name: "requireVerifiedBoot is a string", old: `"hosts":`, new: `"attestedCertificate": {"requireVerifiedBoot": "yes"}, "hosts":`, path: "$.mtls.attestedCertificate.requireVerifiedBoot", at: `"yes"`, msg: "must be a boolean, not a string", attested: true},

		// Rules between fields.
		{name: "detect with events off", old: `"failSafeEnforce": true`, new: `"enabled": false`, path: "$.threats.debugger.mode", at: `"detect"`, msg: "threatEvents.enabled turns off", extra: 1},
		{name: "failSafeEnforce with events off", old: `"failSafeEnforce": true`, new: `"failSafeEnforce": true, "enabled": false`, path: "$.threatEvents.failSafeEnforce", at: `true`, msg: "failSafeEnforce acts on Threat-Events", extra: 2},
		{name: "mitm defend without pin", old: `, "pinServerCA": "file:server-ca.pem"`, new: ``, path: "$.threats.mitm.mode", at: `"defend"}
  }`, msg: "defend needs mtls.pinServerCA"},
		{name: "duplicate field", old: `"version": 1`, new: `"version": 1, "name": "again"`, path: "$.name", at: `"name": "again"`, msg: "duplicate field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := issueExample
			if tt.attested {
				base = attestedExample
			}
			if strings.Count(base, tt.old) != 1 {
				t.Fatalf("edit %q does not occur exactly once", tt.old)
			}
			doc := strings.Replace(base, tt.old, tt.new, 1)
			name := strings.ReplaceAll(tt.name, " ", "-") + ".json"
			_, err := Load(w.write(t, name, doc), w.opts(nil))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Load = %v, want *ValidationError", err)
			}
			line, col := position(t, doc, tt.at)
			var found *Problem
			for i, p := range ve.Problems {
				if p.Path == tt.path {
					found = &ve.Problems[i]
				}
			}
			if found == nil {
				t.Fatalf("no problem at %s; got:\n%v", tt.path, err)
			}
			if found.Line != line || found.Col != col || !strings.Contains(found.Message, tt.msg) {
				t.Errorf("problem = %d:%d %q\nwant %d:%d containing %q", found.Line, found.Col, found.Message, line, col, tt.msg)
			}
			if len(ve.Problems) != 1+tt.extra {
				t.Errorf("%d problems, want %d:\n%v", len(ve.Problems), 1+tt.extra, err)
			}
			wantLine := fmt.Sprintf("%s:%d:%d: %s: %s", w.dir+"/"+name, line, col, tt.path, found.Message)
			if !strings.Contains(err.Error(), wantLine) {
				t.Errorf("Error() lacks %q:\n%s", wantLine, err)
			}
			if ve.Cause != nil {
				t.Errorf("Cause = %v, want none (not a credential problem)", ve.Cause)
			}
		})
	}
}

// TestPositionsByHand pins a few positions counted by hand in the issue's
// example, so the marker arithmetic above cannot drift with the code.
func TestPositionsByHand(t *testing.T) {
	w := newWorld(t)
	doc := strings.Replace(issueExample, `"hooking": {"mode": "defend"}`, `"hooking": {"mode": "defnd"}`, 1)
	doc = strings.Replace(doc, `"tokenTTL": "5m"`, `"tokenTTL": "2h"`, 1)
	doc = strings.Replace(doc, `"name": "Payments app prod"`, `"name": "Zahlungs-App für Händler", "x": 1`, 1)
	_, err := Load(w.write(t, "hand.json", doc), w.opts(nil))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, fmt.Sprintf("%d:%d %s", p.Line, p.Col, p.Path))
	}
	// Line 2: `  "fusionSetId": "fs-0001", "name": "Zahlungs-App für Händler", "x": 1, ...`
	// the "x" key is character 65 (ü and ä count once each; they are 2 bytes).
	want := []string{"2:65 $.x", "6:32 $.attestation.tokenTTL", "9:54 $.threats.hooking.mode"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("positions = %v, want %v", got, want)
	}
}

// TestCommentsKeepPositions checks that // comments, including ones holding
// quotes, braces and JSON, are ignored and do not shift positions.
func TestCommentsKeepPositions(t *testing.T) {
	w := newWorld(t)
	doc := "// a comment with \"quotes\" and { braces\n" +
		strings.Replace(strings.Replace(issueExample, "{\n", "{ // trailing comment\n  // \"hooking\": {\"mode\": \"defnd\"}\n", 1),
			`"hooking": {"mode": "defend"}`, `"hookng": {"mode": "defend"}`, 1)
	_, err := Load(w.write(t, "c.json", doc), w.opts(nil))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatal(err)
	}
	line, col := position(t, doc, `"hookng"`)
	if len(ve.Problems) != 1 || ve.Problems[0].Path != "$.threats.hookng" || ve.Problems[0].Line != line || ve.Problems[0].Col != col {
		t.Errorf("problems = %v, want only $.threats.hookng at %d:%d", ve.Problems, line, col)
	}
	if line != 11 {
		t.Errorf("marker on line %d, want 11 (the edit moved)", line)
	}
}

func TestMalformedJSON(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name, doc string
		line, col int
		msg       string
	}{
		{"missing value", "{\n  \"a\": ,\n}", 2, 8, "invalid character ','"},
		{"trailing comma", "{\n  \"a\": 1,\n}\n", 3, 1, "invalid character '}'"},
		{"truncated", "{\n  \"a\": [1, 2", 2, 13, "unexpected end of file"},
		{"empty", "", 1, 1, "unexpected end of file"},
		{"only a comment", "// nothing\n", 1, 1, "unexpected end of file"},
		{"two documents", "{}\n{}", 2, 1, "data after the end of the document"},
		{"block comment", "/* no */ {}", 1, 1, "invalid character '/'"},
		{"single quotes", "{'a': 1}", 1, 2, "invalid character '\\''"},
		{"after multibyte", "{\"name\": \"é\" x}", 1, 14, "invalid character 'x'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(w.write(t, "m.json", tt.doc), w.opts(nil))
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 {
				t.Fatalf("Load = %v, want one problem", err)
			}
			p := ve.Problems[0]
			if p.Line != tt.line || p.Col != tt.col || !strings.Contains(p.Message, tt.msg) || p.Path != "" {
				t.Errorf("problem = %d:%d %q %q, want %d:%d containing %q", p.Line, p.Col, p.Path, p.Message, tt.line, tt.col, tt.msg)
			}
		})
	}
}

func TestStripCommentsUTF8(t *testing.T) {
	if !utf8.Valid(stripComments([]byte("\xEF\xBB\xBFab\ncé\u20acd // x\n"))) {
		t.Error("stripComments broke UTF-8")
	}
}

func TestStripComments(t *testing.T) {
	in := "// head \"q\nx // tail\n\"a // not a comment \\\" // still not\" // yes\n\"\\\\\" // after escaped backslash\n"
	want := strings.Repeat(" ", 10) + "\nx" + strings.Repeat(" ", 8) + "\n\"a // not a comment \\\" // still not\"" +
		strings.Repeat(" ", 7) + "\n\"\\\\\"" + strings.Repeat(" ", 27) + "\n"
	if got := string(stripComments([]byte(in))); got != want {
		t.Errorf("stripComments =\n%q\nwant\n%q", got, want)
	}
}

// TestSchemaCompiles: the embedded schema is a valid draft 2020-12 schema
// (the compiler checks it against the meta-schema) and Schema returns it.
func TestSchemaCompiles(t *testing.T) {
	if _, _, err := compiledSchema(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(Schema()), `"$id": "`+SchemaID+`"`) {
		t.Error("Schema() lacks its $id")
	}
}

// TestAppAttestLoads: attestation.appAttest as written is what Load
// returns; absent, it is off.
func TestAppAttestLoads(t *testing.T) {
	w := newWorld(t)
	for _, c := range []struct {
		name, obj string
		want      AppAttest
	}{
		{"required", `, "appAttest": {"mode": "required"}`, AppAttest{Mode: KeyAttestationRequired}},
		{"optional, development", `, "appAttest": {"mode": "optional", "allowDevelopment": true}`, AppAttest{Mode: KeyAttestationOptional, AllowDevelopment: true}},
		{"empty object", `, "appAttest": {}`, AppAttest{Mode: KeyAttestationOff}},
		{"absent", ``, AppAttest{Mode: KeyAttestationOff}},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(issueExample, `"playSigningCertDigests": []`, `"playSigningCertDigests": []`+c.obj, 1)
			fs, err := Load(w.write(t, strings.ReplaceAll(c.name, " ", "-")+".json", doc), w.opts(nil))
			if err != nil {
				t.Fatal(err)
			}
			if fs.Attestation.AppAttest != c.want {
				t.Errorf("appAttest = %+v, want %+v", fs.Attestation.AppAttest, c.want)
			}
		})
	}
}

// TestIdentityModesLoad loads each identity mode and checks what Load
// fills in: the issuer CAs, the client identity (embedded modes only) and
// the attestedCertificate defaults; an issuer CA in embedded mode is a
// warning.
func TestIdentityModesLoad(t *testing.T) {
	w := newWorld(t)
	custom := `"attestedCertificate": {"validity": "168h", "minSecurityLevel": "strongbox", "strongBox": "prefer", "requireVerifiedBoot": false}, "hosts":`
	tests := []struct {
		name      string
		doc       string
		mode      IdentityMode
		issuers   int
		client    bool
		validity  time.Duration
		level     string
		strongBox string
		boot      bool
		warnings  []string
	}{
		{"embedded (default)", issueExample, IdentityEmbedded, 0, true, DefaultAttestedValidity, "tee", "off", true, nil},
		{"attested, defaults", attestedExample, IdentityAttested, 1, false, 24 * time.Hour, "tee", "off", true, nil},
		{"attested, every field", strings.Replace(attestedExample, `"hosts":`, custom, 1), IdentityAttested, 1, false, 7 * 24 * time.Hour, "strongbox", "prefer", false, nil},
		{"attested-or-embedded", strings.Replace(issueExample, embeddedMTLS, `"mtls": { "identity": "attested-or-embedded", "issuerCA": "file:./server-ca.pem", `+embeddedMTLS[10:], 1),
			IdentityAttestedOrEmbedded, 1, true, DefaultAttestedValidity, "tee", "off", true, nil},
		{"embedded with issuerCA and attestedCertificate", strings.Replace(issueExample, embeddedMTLS, `"mtls": { "identity": "embedded", "issuerCA": "file:./server-ca.pem", "attestedCertificate": {}, `+embeddedMTLS[10:], 1),
			IdentityEmbedded, 0, true, DefaultAttestedValidity, "tee", "off", true,
			[]string{"$.mtls.issuerCA: issuerCA is used only when identity is attested", "$.mtls.attestedCertificate: attestedCertificate is used only when identity is attested"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := Load(w.write(t, "fusion.json", tt.doc), w.opts(nil))
			if err != nil {
				t.Fatal(err)
			}
			m := fs.MTLS
			if m.Identity != tt.mode || len(fs.IssuerCAs) != tt.issuers || (fs.ClientIdentity != nil) != tt.client {
				t.Errorf("identity %q, %d issuer CAs, client identity %v; want %q, %d, %v", m.Identity, len(fs.IssuerCAs), fs.ClientIdentity != nil, tt.mode, tt.issuers, tt.client)
			}
			if tt.issuers > 0 && !fs.IssuerCAs[0].Equal(w.ca.cert) {
				t.Errorf("issuer CA %s, want the world's CA", fs.IssuerCAs[0].Subject)
			}
			ac := m.AttestedCertificate
			if ac.Lifetime() != tt.validity || ac.MinSecurityLevel != tt.level || ac.StrongBox != tt.strongBox || *ac.RequireVerifiedBoot != tt.boot {
				t.Errorf("attestedCertificate = %s %s %s %v", ac.Validity, ac.MinSecurityLevel, ac.StrongBox, *ac.RequireVerifiedBoot)
			}
			var got []string
			for _, p := range fs.Warnings {
				got = append(got, p.Path+": "+p.Message)
			}
			if len(got) != len(tt.warnings) {
				t.Fatalf("warnings %q, want %q", got, tt.warnings)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.warnings[i]) {
					t.Errorf("warning %q, want %q…", got[i], tt.warnings[i])
				}
			}
		})
	}
}
