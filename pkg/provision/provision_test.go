package provision

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

const team = "ABCDE12345"

var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// profileSpec is what a test profile says.
type profileSpec struct {
	appID        string
	entitlements map[string]any
	created      time.Time
	expires      time.Time
	certs        [][]byte
	platform     []string
}

// makeProfile writes the profile plist and signs it with openssl cms -sign
// -nodetach -outform DER, as Apple's profiles are made, with signer
// ("profile" = the test root's profile-signing cert, or "leaf").
func makeProfile(t *testing.T, id *testenv.AppleIdentity, s profileSpec, signer string) []byte {
	t.Helper()
	ent := map[string]any{
		"application-identifier":              s.appID,
		"com.apple.developer.team-identifier": team,
		"get-task-allow":                      false,
		"keychain-access-groups":              []any{team + ".*"},
		"aps-environment":                     "production",
	}
	for k, v := range s.entitlements {
		ent[k] = v
	}
	pl := map[string]any{
		"Name": "Test Distribution", "UUID": "11111111-2222-3333-4444-555555555555",
		"TeamIdentifier": []string{team}, "TeamName": "Test Team",
		"ApplicationIdentifierPrefix": []string{team},
		"Entitlements":                ent,
		"CreationDate":                s.created, "ExpirationDate": s.expires,
		"DeveloperCertificates": s.certs,
		"ProvisionedDevices":    []string{"00008030-000000000000002E"},
		"Platform":              s.platform,
	}
	xml, err := plist.MarshalIndent(pl, plist.XMLFormat, "\t")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "profile.plist"), filepath.Join(dir, "app.mobileprovision")
	os.WriteFile(in, xml, 0o600)
	testenv.Run(t, "openssl", "cms", "-sign", "-nodetach", "-binary", "-outform", "DER", "-md", "sha256",
		"-in", in, "-out", out, "-signer", filepath.Join(id.Dir, signer+".pem"), "-inkey", filepath.Join(id.Dir, signer+".key"))
	der, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParse(t *testing.T) {
	id := testenv.NewAppleIdentity(t, team, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	der := makeProfile(t, id, profileSpec{appID: team + ".com.example.*", created: now.AddDate(0, -1, 0), expires: now.AddDate(0, 11, 0), certs: [][]byte{id.Leaf.Raw}, platform: []string{"iOS"}}, "profile")
	p, err := Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if p.TeamID != team || p.ApplicationIdentifier != team+".com.example.*" || p.BundlePattern() != "com.example.*" ||
		len(p.DeveloperCertificates) != 1 || !p.DeveloperCertificates[0].Equal(id.Leaf) || !p.ExpirationDate.Equal(now.AddDate(0, 11, 0)) ||
		len(p.ProvisionedDevices) != 1 || p.ProvisionsAllDevices || p.Name != "Test Distribution" || p.AppIDPrefix[0] != team ||
		p.Entitlements["aps-environment"] != "production" {
		t.Errorf("parsed %+v", p)
	}
}

// TestCheck: one case per rule, good and bad.
func TestCheck(t *testing.T) {
	id := testenv.NewAppleIdentity(t, team, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	other := testenv.NewAppleIdentity(t, team, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	roots := x509.NewCertPool()
	roots.AddCert(id.Root)
	good := profileSpec{appID: team + ".com.example.app", created: now.AddDate(0, -1, 0), expires: now.AddDate(0, 11, 0), certs: [][]byte{other.Leaf.Raw, id.Leaf.Raw}, platform: []string{"iOS"}}
	with := func(f func(*profileSpec)) profileSpec { s := good; f(&s); return s }
	for _, tc := range []struct {
		name     string
		spec     profileSpec
		signer   string
		opts     func(*CheckOptions)
		want     Reason // "" = allowed
		noChain  bool
		inDetail string
	}{
		{name: "exact app id", spec: good},
		{name: "team wildcard", spec: with(func(s *profileSpec) { s.appID = team + ".*" }), opts: func(o *CheckOptions) { o.BundleID = "org.other.thing" }},
		{name: "prefix wildcard", spec: with(func(s *profileSpec) { s.appID = team + ".com.example.*" }), opts: func(o *CheckOptions) { o.BundleID = "com.example.app.widget" }},
		{name: "prefix wildcard mismatch", spec: with(func(s *profileSpec) { s.appID = team + ".com.example.*" }), opts: func(o *CheckOptions) { o.BundleID = "com.examplex.app" }, want: ReasonBundleID},
		{name: "bundle id mismatch", spec: good, opts: func(o *CheckOptions) { o.BundleID = "com.example.other" }, want: ReasonBundleID, inDetail: "com.example.other"},
		{name: "expired", spec: with(func(s *profileSpec) { s.expires = now.Add(-time.Hour) }), want: ReasonExpired},
		{name: "not yet valid", spec: with(func(s *profileSpec) { s.created = now.Add(time.Hour) }), want: ReasonNotYetValid},
		{name: "other certificate", spec: with(func(s *profileSpec) { s.certs = [][]byte{other.Leaf.Raw} }), want: ReasonCertificate},
		{name: "macOS profile", spec: with(func(s *profileSpec) { s.platform = []string{"OSX"} }), want: ReasonPlatform},
		{name: "signed under another root", spec: good, signer: "other", want: ReasonSignature},
		{name: "signer without its chain", spec: good, signer: "leaf", want: ReasonSignature},
		{name: "no root pool: integrity only", spec: good, opts: func(o *CheckOptions) { o.Roots = nil }, noChain: true},
		{name: "keychain group under wildcard", spec: good, opts: func(o *CheckOptions) {
			o.Entitlements["keychain-access-groups"] = []any{team + ".com.example.shared", team + ".com.example.app"}
		}},
		{name: "keychain group of another team", spec: good, opts: func(o *CheckOptions) {
			o.Entitlements["keychain-access-groups"] = []any{"ZZZZZ99999.shared"}
		}, want: ReasonEntitlement, inDetail: "keychain-access-groups"},
		{name: "get-task-allow on distribution", spec: good, opts: func(o *CheckOptions) { o.Entitlements["get-task-allow"] = true }, want: ReasonEntitlement, inDetail: "get-task-allow"},
		{name: "get-task-allow on development", spec: with(func(s *profileSpec) { s.entitlements = map[string]any{"get-task-allow": true} }), opts: func(o *CheckOptions) { o.Entitlements["get-task-allow"] = true }},
		{name: "aps development on production", spec: good, opts: func(o *CheckOptions) { o.Entitlements["aps-environment"] = "development" }, want: ReasonEntitlement, inDetail: "aps-environment"},
		{name: "entitlement not in profile", spec: good, opts: func(o *CheckOptions) { o.Entitlements["com.apple.developer.healthkit"] = true }, want: ReasonEntitlement, inDetail: "healthkit"},
		{name: "application-identifier of another bundle", spec: with(func(s *profileSpec) { s.appID = team + ".*" }), opts: func(o *CheckOptions) {
			o.Entitlements["application-identifier"] = team + ".com.example.other"
		}, want: ReasonEntitlement, inDetail: "application-identifier"},
		{name: "associated domains wildcard", spec: with(func(s *profileSpec) { s.entitlements = map[string]any{"com.apple.developer.associated-domains": "*"} }), opts: func(o *CheckOptions) {
			o.Entitlements["com.apple.developer.associated-domains"] = []any{"applinks:example.com"}
		}},
	} {
		signer, by := tc.signer, id
		switch signer {
		case "":
			signer = "profile"
		case "other":
			signer, by = "profile", other
		}
		p, err := Parse(makeProfile(t, by, tc.spec, signer))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		o := CheckOptions{
			BundleID: "com.example.app", Certificate: id.Leaf, Now: now, Roots: roots,
			Entitlements: map[string]any{"application-identifier": team + ".com.example.app", "com.apple.developer.team-identifier": team, "get-task-allow": false},
		}
		if tc.opts != nil {
			tc.opts(&o)
			if o.BundleID != "com.example.app" {
				o.Entitlements["application-identifier"] = team + "." + o.BundleID
			}
		}
		res, err := p.Check(o)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else if res.ChainVerified == tc.noChain {
				t.Errorf("%s: ChainVerified %v", tc.name, res.ChainVerified)
			}
			continue
		}
		var pe *ProfileError
		if !errors.As(err, &pe) || pe.Reason != tc.want || !errors.Is(err, ErrProfile) || pe.Bundle != o.BundleID || !strings.Contains(err.Error(), tc.inDetail) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
}

// TestParseMalformed: one case per class of bad input.
func TestParseMalformed(t *testing.T) {
	id := testenv.NewAppleIdentity(t, team, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	dir := t.TempDir()
	sign := func(content string) []byte {
		in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
		os.WriteFile(in, []byte(content), 0o600)
		testenv.Run(t, "openssl", "cms", "-sign", "-nodetach", "-binary", "-outform", "DER", "-in", in, "-out", out,
			"-signer", filepath.Join(id.Dir, "profile.pem"), "-inkey", filepath.Join(id.Dir, "profile.key"))
		b, _ := os.ReadFile(out)
		return b
	}
	good := makeProfile(t, id, profileSpec{appID: team + ".x", expires: now, certs: [][]byte{id.Leaf.Raw}}, "profile")
	for _, tc := range []struct {
		name string
		der  []byte
	}{
		{"not CMS", []byte("<plist/>")},
		{"truncated CMS", good[:len(good)/2]},
		{"not a plist", sign("hello")},
		{"no team", sign(`<plist version="1.0"><dict><key>ExpirationDate</key><date>2030-01-01T00:00:00Z</date><key>Entitlements</key><dict><key>application-identifier</key><string>T.x</string></dict></dict></plist>`)},
		{"no application-identifier", sign(`<plist version="1.0"><dict><key>TeamIdentifier</key><array><string>T</string></array><key>ExpirationDate</key><date>2030-01-01T00:00:00Z</date></dict></plist>`)},
		{"bad certificate", sign(`<plist version="1.0"><dict><key>TeamIdentifier</key><array><string>T</string></array><key>ExpirationDate</key><date>2030-01-01T00:00:00Z</date><key>Entitlements</key><dict><key>application-identifier</key><string>T.x</string></dict><key>DeveloperCertificates</key><array><data>AAAA</data></array></dict></plist>`)},
	} {
		if _, err := Parse(tc.der); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v is not ErrMalformed", err)
			}
			return
		}
		_, _ = p.Check(CheckOptions{Now: now})
	})
}
