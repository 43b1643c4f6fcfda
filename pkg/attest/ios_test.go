package attest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

var testIOS = IOSMeasurement{Platform: PlatformIOS, BundleID: "com.example.demo", TeamID: "ABCDE12345",
	AppCDHash: strings.Repeat("ab", 20), RuntimeCDHash: strings.Repeat("01", 20), Version: "1.2", Build: "42"}

// TestIOSMeasurementCanonical: the canonical JSON equals Python's json.dumps
// with sorted keys and no whitespace (RFC 8785 for an object of strings).
func TestIOSMeasurementCanonical(t *testing.T) {
	py := testenv.Tool(t, "python3")
	cases := map[string]IOSMeasurement{
		"ascii":        testIOS,
		"non-ascii":    {BundleID: "com.exämple.dëmo", TeamID: "ABCDE12345", Version: "１.０", Build: "🚀"},
		"escapes":      {BundleID: "a\"b\\c", TeamID: "T\x01\x1f", Version: "\b\f\n\r\t", Build: "/<>&\u2028"},
		"empty":        {},
		"platform set": {Platform: "android", BundleID: "x"},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			in, _ := json.Marshal(map[string]string{"platform": "ios", "bundleId": m.BundleID, "teamId": m.TeamID,
				"appCdhash": m.AppCDHash, "runtimeCdhash": m.RuntimeCDHash, "version": m.Version, "build": m.Build})
			cmd := exec.Command(py, "-c", `import json,sys; sys.stdout.write(json.dumps(json.load(sys.stdin), sort_keys=True, separators=(",",":"), ensure_ascii=False))`)
			cmd.Stdin = bytes.NewReader(in)
			want, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Canonical(); !bytes.Equal(got, want) {
				t.Fatalf("canonical\n got %s\nwant %s", got, want)
			}
		})
	}
	// Invalid UTF-8: one U+FFFD per bad byte, as encoding/json writes it.
	bad := IOSMeasurement{BundleID: "a\xffb"}
	if got := bad.Canonical(); !bytes.Contains(got, []byte(`"bundleId":"a`+"\ufffd"+`b"`)) {
		t.Fatalf("invalid UTF-8: %s", got)
	}
}

func iosRequest(t *testing.T, nonce string, send *IOSMeasurement, android Measurement, prove IOSMeasurement, key []byte) []byte {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(AttestRequest{Nonce: nonce, IOS: send, Measurement: android,
		Proof: base64.RawURLEncoding.EncodeToString(Proof(key, raw, prove.Sum()))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIOSAttest: an iOS release is registered under its measurement's
// SHA-256 and attests; each hostile variant is refused for its own reason.
func TestIOSAttest(t *testing.T) {
	f := newFixture(t, true, nil, "")
	rel, _, err := f.reg.Add(Registration{Format: RegistrationFormat, IOS: &testIOS, AttestKey: testAttestKey}, Event{At: f.clk.t})
	if err != nil {
		t.Fatal(err)
	}
	if rel.ID != testIOS.SHA256() {
		t.Fatalf("release id %s, want %s", rel.ID, testIOS.SHA256())
	}
	other := testIOS
	other.AppCDHash = strings.Repeat("cd", 20) // a re-signed or patched executable
	wrongPlatform := testIOS
	wrongPlatform.Platform = "android"
	cases := []struct {
		name    string
		send    *IOSMeasurement
		android Measurement
		prove   IOSMeasurement
		key     []byte
		code    int
		reason  string
	}{
		{"valid", &testIOS, Measurement{}, testIOS, testAttestKey, 200, ""},
		{"other cdhash", &other, Measurement{}, other, testAttestKey, 403, reasonUnknown},
		{"proof over another measurement", &testIOS, Measurement{}, other, testAttestKey, 403, reasonProof},
		{"wrong key", &testIOS, Measurement{}, testIOS, bytes.Repeat([]byte{1}, 32), 403, reasonProof},
		{"wrong platform", &wrongPlatform, Measurement{}, wrongPlatform, testAttestKey, 400, "malformed iOS measurement"},
		{"android fields too", &testIOS, Measurement{Package: "com.example.demo"}, testIOS, testAttestKey, 400, "malformed iOS measurement"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := do(f.h, "POST", "/v1/attest", "application/json", iosRequest(t, f.challenge(t), c.send, c.android, c.prove, c.key))
			if w.Code != c.code {
				t.Fatalf("code %d, want %d: %s", w.Code, c.code, w.Body)
			}
			if c.code != 200 {
				if !strings.Contains(w.Body.String(), c.reason) {
					t.Fatalf("body %s, want reason %s", w.Body, c.reason)
				}
				return
			}
			var resp AttestResponse
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(resp.Token, ".")
			payload, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			var cl Claims
			if err := json.Unmarshal(payload, &cl); err != nil {
				t.Fatal(err)
			}
			if cl.Release != testIOS.SHA256() || cl.Package != testIOS.BundleID || cl.Version != 0 {
				t.Fatalf("claims %+v", cl)
			}
		})
	}
}

// TestIOSRegistration: registrations the registry refuses, and the record
// read back.
func TestIOSRegistration(t *testing.T) {
	f := newFixture(t, true, nil, "")
	badHash := testIOS
	badHash.AppCDHash = strings.ToUpper(testIOS.AppCDHash)
	noTeam := testIOS
	noTeam.TeamID = ""
	noPlatform := testIOS
	noPlatform.Platform = ""
	for name, reg := range map[string]Registration{
		"uppercase cdhash":  {IOS: &badHash, AttestKey: testAttestKey},
		"no team":           {IOS: &noTeam, AttestKey: testAttestKey},
		"no platform":       {IOS: &noPlatform, AttestKey: testAttestKey},
		"both measurements": {IOS: &testIOS, Measurement: testMeasurement, AttestKey: testAttestKey},
		"id of android":     {IOS: &testIOS, ID: testMeasurement.SHA256(), AttestKey: testAttestKey},
	} {
		if _, _, err := f.reg.Add(reg, Event{At: f.clk.t}); !errors.Is(err, ErrRegistry) {
			t.Errorf("%s: %v, want ErrRegistry", name, err)
		}
	}
	if _, _, err := f.reg.Add(Registration{IOS: &testIOS, ID: testIOS.SHA256(), AttestKey: testAttestKey}, Event{At: f.clk.t}); err != nil {
		t.Fatal(err)
	}
	rel, err := f.reg.Lookup(context.Background(), testIOS.SHA256())
	if err != nil {
		t.Fatal(err)
	}
	if rel.IOS == nil || *rel.IOS != testIOS || !bytes.Equal(rel.AttestKey, testAttestKey) {
		t.Fatalf("looked up %+v", rel)
	}
}
