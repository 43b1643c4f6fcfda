package iosrt_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	iosrt "github.com/trustfuse/trustfuse/fusion/runtime/ios"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/report"
)

const (
	appDir     = "Payload/Demo.app/"
	demoTeam   = "ABCDE12345"
	demoBundle = "com.example.demo"
	otherTeam  = "OTHER12345"
)

// trustfuse runs the CLI in dir and returns its combined output and exit
// code.
func trustfuse(t *testing.T, bin, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "P12_PASS=fixture")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return string(out), 0
}

func mustTrustfuse(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	out, code := trustfuse(t, bin, dir, args...)
	if code != 0 {
		t.Fatalf("trustfuse %s: exit %d\n%s", args[0], code, out)
	}
	return out
}

// launched is what the runtime reads from an installed app at launch, as
// the host-built core reads it from the IPA's entries: the team id and
// cdhash of the main executable's and the runtime's code signatures (core
// `macho`), the app's bundle id and versions (Info.plist: NSBundle on the
// device, howett.net/plist here), and the vault opened with them (core
// `unseal`: exit 0, or 3 when refused).
type launched struct {
	m        attest.IOSMeasurement
	sum      string // the core's SHA-256 of m's canonical JSON
	code     int
	identity struct {
		Key, AttestKey string
		Chain          []string
	}
	policy string // policy.bin, written out
}

func launch(t *testing.T, ipaPath string) launched {
	t.Helper()
	e := testenv.ZipEntries(t, ipaPath)
	var info struct {
		ID      string `plist:"CFBundleIdentifier"`
		Version string `plist:"CFBundleShortVersionString"`
		Build   string `plist:"CFBundleVersion"`
	}
	if _, err := plist.Unmarshal(e[appDir+"Info.plist"], &info); err != nil {
		t.Fatal(err)
	}
	app := readCodesig(t, writeFile(t, "Demo", e[appDir+"Demo"]), 0)
	rt := readCodesig(t, writeFile(t, "TrustFuse", e[appDir+iosrt.Executable]), 0)
	l := launched{m: attest.IOSMeasurement{Platform: attest.PlatformIOS, BundleID: info.ID, TeamID: app.TeamID, AppCDHash: app.CDHash,
		RuntimeCDHash: rt.CDHash, Version: info.Version, Build: info.Build}, policy: writeFile(t, "policy.bin", e[appDir+iosrt.PolicyResource])}
	out := mustRun(t, append([]string{"measure"}, measureArgs(l.m)...)...)
	_, l.sum, _ = strings.Cut(out, "\n")
	out, l.code = run(t, "unseal", writeFile(t, "vault.bin", e[appDir+iosrt.VaultResource]), writeFile(t, "key.bin", e[appDir+iosrt.PepperResource]),
		app.TeamID, info.ID, l.policy)
	if l.code == 0 {
		if err := json.Unmarshal([]byte(out), &l.identity); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	} else if out != "" {
		t.Fatalf("unseal refused (exit %d) but wrote %q", l.code, out)
	}
	return l
}

// otherTeamIdentity writes, for `trustfuse sign`, a PEM keystore (key,
// leaf, WWDR) of a test Apple identity of team OTHER12345 and, for each
// bundle id, a profile for it (application-identifier OTHER12345.<id>,
// signed with openssl cms as Apple's profiles are). It returns the sign
// flags.
func otherTeamIdentity(t *testing.T, bundleIDs []string) []string {
	t.Helper()
	now := time.Now()
	id := testenv.NewAppleIdentity(t, otherTeam, now.AddDate(0, -1, 0), now.AddDate(1, 0, 0))
	var ks []byte
	for _, f := range []string{"leaf.key", "leaf.pem", "wwdr.pem"} {
		b, err := os.ReadFile(filepath.Join(id.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, b...)
	}
	flags := []string{"--keystore", writeFile(t, "other.pem", ks), "--apple-root", filepath.Join(id.Dir, "root.pem")}
	for i, bid := range bundleIDs {
		pl := map[string]any{
			"Name": "Other " + bid, "UUID": "22222222-3333-4444-5555-66666666666" + string(rune('0'+i)),
			"TeamIdentifier": []string{otherTeam}, "TeamName": "Other Corp", "ApplicationIdentifierPrefix": []string{otherTeam},
			"Platform": []string{"iOS"}, "ProvisionsAllDevices": true, "DeveloperCertificates": [][]byte{id.Leaf.Raw},
			"CreationDate": now.AddDate(0, -1, 0).UTC().Truncate(time.Second), "ExpirationDate": now.AddDate(1, 0, 0).UTC().Truncate(time.Second),
			"Entitlements": map[string]any{"application-identifier": otherTeam + "." + bid,
				"com.apple.developer.team-identifier": otherTeam, "get-task-allow": false},
		}
		xml, err := plist.MarshalIndent(pl, plist.XMLFormat, "\t")
		if err != nil {
			t.Fatal(err)
		}
		in := writeFile(t, "profile.plist", xml)
		out := filepath.Join(t.TempDir(), "other.mobileprovision")
		testenv.Run(t, "openssl", "cms", "-sign", "-nodetach", "-binary", "-noattr", "-outform", "DER", "-md", "sha256",
			"-in", in, "-out", out, "-signer", filepath.Join(id.Dir, "profile.pem"), "-inkey", filepath.Join(id.Dir, "profile.key"),
			"-certfile", filepath.Join(id.Dir, "root.pem"))
		if i == 0 {
			flags = append(flags, "--profile", out)
		} else {
			flags = append(flags, "--profile", bid+"="+out)
		}
	}
	return flags
}

// serveCLI starts `trustfuse serve` in dir on a free loopback port, on
// the registry dir/reg.db with the key in dir/rk.hex and a new ES256
// signing key, and returns its base URL and the key's public half. It is
// stopped (SIGINT) when t ends.
func serveCLI(t *testing.T, bin, dir string) (string, *ecdsa.PublicKey) {
	t.Helper()
	sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signing.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `{"listen": "127.0.0.1:0", "registry": "reg.db", "registryKey": "file:rk.hex", "signingKey": "signing.pem",
 "issuer": "https://attest.example", "audience": "api", "tokenTTL": "1m", "debug": true}`
	if err := os.WriteFile(filepath.Join(dir, "serve.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", "serve.json")
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The line saying where it listens comes after the start-up notes
	// (such as certificate issuance being off); everything is kept for a
	// failure.
	sc := bufio.NewScanner(stderr)
	var log bytes.Buffer
	listening := regexp.MustCompile(`serving on (127\.0\.0\.1:\d+) `)
	var m []string
	for m == nil {
		if !sc.Scan() {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("trustfuse serve did not say where it listens: %v\n%s", sc.Err(), log.String())
		}
		log.WriteString(sc.Text() + "\n")
		m = listening.FindStringSubmatch(sc.Text())
	}
	read := make(chan struct{})
	go func() {
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
		close(read)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		<-read
		if err := cmd.Wait(); err != nil {
			t.Errorf("trustfuse serve: %v\n%s", err, log.String())
		}
	})
	return "http://" + m[1], &sk.PublicKey
}

// attestOnce runs the protocol against the serve at base as the runtime
// does: a challenge, then the attestation request the core builds for it
// with attestKey (hex), the device id, the threat bits and, when app is
// not nil, the App Attest key id and object app returns for the nonce's
// raw bytes. It returns serve's status and body, and the request body.
func attestOnce(t *testing.T, base string, m attest.IOSMeasurement, attestKey, device, threats string, app func(raw []byte) (keyID, object string)) (int, []byte, string) {
	t.Helper()
	code, b := postJSON(t, base, "/v1/challenge", nil)
	var ch attest.ChallengeResponse
	if err := json.Unmarshal(b, &ch); code != 200 || err != nil {
		t.Fatalf("challenge: %d %s", code, b)
	}
	var kid, obj string
	if app != nil {
		raw, err := base64.RawURLEncoding.DecodeString(ch.Nonce)
		if err != nil {
			t.Fatalf("challenge nonce: %v", err)
		}
		kid, obj = app(raw)
	}
	body := mustRun(t, append(append([]string{"attest-request"}, measureArgs(m)...), ch.Nonce, attestKey, device, threats, kid, obj)...)
	code, b = postJSON(t, base, "/v1/attest", []byte(body))
	return code, b, body
}

// postJSON posts body (JSON) to base+path and returns the status and the
// answer.
func postJSON(t *testing.T, base, path string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(base+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestFusedIPA is the host half of the acceptance on real
// pipeline output: Demo.ipa and DemoFull.ipa fused by `trustfuse fuse`
// (the checked-in runtime, demo.json, the fixture Apple identity and
// profiles; --report and --register export), then read entry by entry as
// the runtime reads the installed app. The core
//   - reads team ABCDE12345 and the cdhashes the report lists for the app
//     and the framework from their LC_CODE_SIGNATUREs, and unseals the
//     exact client key (PKCS#8) and chain fusionset loads from demo.json,
//     and the attestation key of the --register export;
//   - computes the measurement the report's attestation.ios and the export
//     name, and its attestation request gets a token for that release from
//     `trustfuse serve` on the registry `trustfuse releases add` filled
//     from the export;
//   - refuses the vault of the same IPA re-signed by `trustfuse sign` with
//     team OTHER12345 (and its profiles) or ad hoc, and serve refuses the
//     measurement of those copies even with the stolen attestation key;
//   - refuses the vault once one byte of policy.bin changes after fuse
//     (which `trustfuse verify` also refuses: exit 3, the framework's
//     CodeResources names the file);
//   - its tamper signer check (tf_policy_signer_allowed with the fused
//     policy's signers) accepts team ABCDE12345 + com.example.demo only,
//     and its verdicts and Threat-Events follow demo.json's threats.
func TestFusedIPA(t *testing.T) {
	bin := testenv.Trustfuse(t)
	fs, err := fusionset.Load(filepath.Join(testenv.Root(t), "fusion", "examples", "demo.json"), fusionset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantKey, err := x509.MarshalPKCS8PrivateKey(fs.ClientIdentity.Key)
	if err != nil {
		t.Fatal(err)
	}
	fx := func(name string) string { return testenv.IOSFixture(t, name) }
	// The fixture profiles of the nested bundles, by bundle id.
	profiles := map[string]string{"com.example.demo.widget": "widget.mobileprovision", "com.example.demo.watchkitapp": "watch.mobileprovision"}
	for _, c := range []struct {
		name   string
		nested []string // bundle ids of the nested bundles
	}{
		{"Demo.ipa", []string{"com.example.demo.widget"}},
		{"DemoFull.ipa", []string{"com.example.demo.widget", "com.example.demo.watchkitapp"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"fuse", "--in", fx(c.name), "--fusion-set", filepath.Join(testenv.Root(t), "fusion", "examples", "demo.json"),
				"--out", "app.secured.ipa", "--keystore", fx("pki/dist.p12"), "--ks-pass", "env:P12_PASS",
				"--apple-root", fx("pki/root.pem"), "--profile", fx("app.mobileprovision"), "--report", "app.report.json", "--register", "release.json"}
			for _, id := range c.nested {
				args = append(args, "--profile", id+"="+fx(profiles[id]))
			}
			mustTrustfuse(t, bin, dir, args...)
			fused := filepath.Join(dir, "app.secured.ipa")
			var export attest.Registration
			if err := json.Unmarshal(mustReadFile(t, filepath.Join(dir, "release.json")), &export); err != nil {
				t.Fatal(err)
			}
			st := readReport(t, filepath.Join(dir, "app.report.json"))

			// 1. The fused app unseals the Fusion Set's exact identity.
			l := launch(t, fused)
			if l.code != 0 {
				t.Fatalf("fused app: unseal exit %d", l.code)
			}
			if l.identity.Key != hex.EncodeToString(wantKey) || len(l.identity.Chain) != len(fs.ClientIdentity.Chain) {
				t.Fatalf("unsealed key matches: %t; chain of %d, want %d", l.identity.Key == hex.EncodeToString(wantKey),
					len(l.identity.Chain), len(fs.ClientIdentity.Chain))
			}
			for i, cert := range fs.ClientIdentity.Chain {
				if l.identity.Chain[i] != hex.EncodeToString(cert.Raw) {
					t.Fatalf("unsealed certificate %d differs from demo.json's", i)
				}
			}
			if len(export.AttestKey) == 0 || l.identity.AttestKey != hex.EncodeToString(export.AttestKey) {
				t.Fatal("the unsealed attestation key is not the --register export's")
			}
			cd := map[string]report.Bundle{}
			for _, b := range st.Predicate.Output.Bundles {
				cd[b.Dir] = b
			}
			app, rt := cd[appDir], cd[appDir+iosrt.FrameworkDir]
			if l.m.TeamID != demoTeam || l.m.BundleID != demoBundle || l.m.AppCDHash != app.CDHash || l.m.RuntimeCDHash != rt.CDHash ||
				app.TeamID != demoTeam || rt.TeamID != demoTeam {
				t.Fatalf("the core read %+v; the report lists app %+v, runtime %+v", l.m, app, rt)
			}

			// 3. The measurement is the report's and the export's.
			ri := st.Predicate.Attestation.IOS
			if ri == nil || export.IOS == nil {
				t.Fatal("the report or the export has no iOS measurement")
			}
			fromReport := attest.IOSMeasurement{Platform: attest.PlatformIOS, BundleID: ri.BundleID, TeamID: ri.TeamID,
				AppCDHash: ri.AppCDHash, RuntimeCDHash: ri.RuntimeCDHash, Version: ri.Version, Build: ri.Build}
			if l.m != fromReport || l.m != *export.IOS {
				t.Fatalf("the core measures %+v\nreport %+v\nexport %+v", l.m, fromReport, *export.IOS)
			}
			if l.sum != ri.SHA256 || l.sum != st.Predicate.Attestation.MeasurementSHA256 || l.sum != l.m.SHA256() {
				t.Fatalf("the core's measurement %s; report %s (measurementSha256 %s)", l.sum, ri.SHA256, st.Predicate.Attestation.MeasurementSHA256)
			}

			// 2. Re-signed by another team or ad hoc: the core reads the new
			// signature and the vault stays shut.
			other := filepath.Join(dir, "other.ipa")
			mustTrustfuse(t, bin, dir, append([]string{"sign", "--in", fused, "--out", other}, otherTeamIdentity(t, append([]string{demoBundle}, c.nested...))...)...)
			adhoc := filepath.Join(dir, "adhoc.ipa")
			mustTrustfuse(t, bin, dir, "sign", "--adhoc", "--in", fused, "--out", adhoc)
			copies := map[string]launched{}
			for name, p := range map[string]string{otherTeam: other, "": adhoc} {
				lc := launch(t, p)
				if lc.m.TeamID != name || lc.m.BundleID != demoBundle || lc.m.AppCDHash == l.m.AppCDHash {
					t.Fatalf("copy signed by team %q: the core read %+v", name, lc.m)
				}
				if lc.code != 3 {
					t.Fatalf("copy signed by team %q: unseal exit %d, want 3 (refused)", name, lc.code)
				}
				copies[name] = lc
			}

			// 3. `trustfuse serve`, its registry filled by `releases add` from the
			// export, gives the fused app a token and refuses the copies.
			rk := randBytes(t, 32)
			if err := os.WriteFile(filepath.Join(dir, "rk.hex"), []byte(hex.EncodeToString(rk)), 0o600); err != nil {
				t.Fatal(err)
			}
			mustTrustfuse(t, bin, dir, "releases", "add", "--registry", "reg.db", "--registry-key", "file:rk.hex", "release.json")
			base, pub := serveCLI(t, bin, dir)
			code, b, _ := attestOnce(t, base, l.m, l.identity.AttestKey, "device-1", "0", nil)
			if code != 200 {
				t.Fatalf("fused app: attest %d %s", code, b)
			}
			var resp attest.AttestResponse
			if err := json.Unmarshal(b, &resp); err != nil {
				t.Fatal(err)
			}
			if claims := verifyES256(t, resp.Token, pub); claims.Release != l.sum || claims.Package != demoBundle {
				t.Fatalf("token claims %+v, want release %s of %s", claims, l.sum, demoBundle)
			}
			for name, lc := range copies {
				if code, b, _ := attestOnce(t, base, lc.m, l.identity.AttestKey, "device-1", "0", nil); code != 403 || !strings.Contains(string(b), "unknown_release") {
					t.Fatalf("copy signed by team %q with the stolen attestation key: attest %d %s, want 403 unknown_release", name, code, b)
				}
			}

			// 4. Tampering after fuse: one byte of policy.bin.
			pol := testenv.ZipEntry(t, fused, appDir+iosrt.PolicyResource)
			pol[len(pol)/2] ^= 0x01
			tampered := filepath.Join(dir, "tampered.ipa")
			testenv.RewriteZip(t, fused, tampered, map[string][]byte{appDir + iosrt.PolicyResource: pol})
			if lt := launch(t, tampered); lt.code != 3 || lt.m != l.m {
				t.Fatalf("policy.bin changed: unseal exit %d (want 3), measurement %+v", lt.code, lt.m)
			}
			if out, code := trustfuse(t, bin, dir, "verify", "--apple-root", fx("pki/root.pem"), tampered); code != 3 ||
				!strings.Contains(out, `resource "policy.bin" modified`) {
				t.Fatalf("trustfuse verify of the tampered IPA: exit %d, want 3\n%s", code, out)
			}
			// The tamper signer check on the fused policy: the team and bundle
			// id the core read from the fused app pass, those of the copies do
			// not; hosts are demo.json's mtls.hosts.
			for _, sc := range []struct {
				team, bundle, host string
				signer, protected  int
			}{
				{l.m.TeamID, l.m.BundleID, "localhost", 1, 1},
				{copies[otherTeam].m.TeamID, copies[otherTeam].m.BundleID, "127.0.0.1", 0, 1},
				{copies[""].m.TeamID, copies[""].m.BundleID, "localhost", 0, 1},
				{demoTeam, "com.example.other", "api.example.com", 0, 0},
			} {
				var got struct{ SignerAllowed, HostProtected int }
				if err := json.Unmarshal([]byte(mustRun(t, "policy-check", l.policy, sc.team, sc.bundle, sc.host)), &got); err != nil {
					t.Fatal(err)
				}
				if got.SignerAllowed != sc.signer || got.HostProtected != sc.protected {
					t.Errorf("policy-check %s %s %s: %+v, want signer %d host %d", sc.team, sc.bundle, sc.host, got, sc.signer, sc.protected)
				}
			}

			// Threat-Events from the fused policy: each threat's verdict is
			// demo.json's mode (and the report's protection), the event (sent:
			// threatEvents.enabled) names the app, fail-safe (after
			// threatEvents.failSafeAfter) applies to detect.
			modes := map[fusionset.Mode]int{fusionset.ModeOff: 0, fusionset.ModeDetect: 1, fusionset.ModeDefend: 2}
			reported := map[string]string{}
			for _, p := range st.Predicate.Protections {
				reported[p.ID] = p.Mode
			}
			for i, code := range []string{"tamper", "debugger", "root", "emulator", "hooking", "mitm"} {
				th := fs.Threats[fusionset.ThreatID(code)]
				var v verdict
				if err := json.Unmarshal([]byte(mustRun(t, "threat", l.policy, strconv.Itoa(i), "reason", "data", "0")), &v); err != nil {
					t.Fatal(err)
				}
				want, score := modes[th.Mode], th.Score
				if want == 0 {
					score = 0 // an off threat is not counted
				}
				failSafe := want == 1 && fs.ThreatEvents.FailSafeEnforce
				if v.Mode != want || reported[code] != string(th.Mode) || v.Score != score || (failSafe && v.FailSafeMs != fs.ThreatEvents.Delay().Milliseconds()) ||
					(v.Event != nil) != (want != 0 && fs.ThreatEvents.Enabled) || v.EnforceNow != btoi(want == 2) ||
					v.FailSafe != btoi(failSafe) {
					t.Fatalf("%s: the core's verdict %+v; demo.json %+v, report mode %q", code, v, th, reported[code])
				}
				if v.Event != nil && (v.Event.values["package"] != demoBundle || v.Event.values["threatCode"] != code) {
					t.Fatalf("%s: Threat-Event %v", code, v.Event.values)
				}
			}
		})
	}
}

// readReport opens the report `fuse --report` wrote with report.Open
// (schema and DSSE signature checked) and returns its statement.
func readReport(t *testing.T, path string) *report.Statement {
	t.Helper()
	r, err := report.Open(mustReadFile(t, path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r.Statement
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
