package androidrt_test

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/fusion/runtime/android/harness"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/vault"
)

const testPkg = "com.example.fused"

// eventKeys are the extras every Threat-Event must carry.
var eventKeys = []string{"threatCode", "threatEventName", "message", "reasonCode", "reasonData",
	"failSafeEnforce", "deviceID", "osVersion", "deviceModel", "deviceManufacturer", "deviceBrand",
	"sdkVersion", "fusedAppToken", "buildDate", "timeZone", "externalID", "threatScore", "totalScore"}

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newKey(t testing.TB, rsaBits int) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	if rsaBits > 0 {
		k, err = rsa.GenerateKey(rand.Reader, rsaBits)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue creates a certificate for key, signed by parent (self-signed if nil).
func issue(t testing.TB, parent *ca, key crypto.Signer, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newCA(t testing.TB, cn string) *ca {
	k := newKey(t, 0)
	return &ca{issue(t, nil, k, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}), k}
}

func clientIdentity(t testing.TB, issuer *ca, cn string, rsaBits int) vault.Identity {
	k := newKey(t, rsaBits)
	leaf := issue(t, issuer, k, &x509.Certificate{Subject: pkix.Name{CommonName: cn},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return vault.Identity{Key: k, Chain: []*x509.Certificate{leaf}}
}

// world is the PKI, the signer certificates and the mTLS server of a test.
type world struct {
	clientCA, serverCA, otherCA *ca
	rsaClient, ecClient         vault.Identity
	signer, resigner            []byte // DER of the app signer and of a repackager's cert
	url                         string
	serverLog                   *testenv.SyncBuffer
	dir                         string
}

func newWorld(t *testing.T) *world {
	w := &world{clientCA: newCA(t, "Test Client CA"), serverCA: newCA(t, "Test Server CA"), otherCA: newCA(t, "Some Other CA"), dir: t.TempDir()}
	w.rsaClient = clientIdentity(t, w.clientCA, "rsa-client", 2048)
	w.ecClient = clientIdentity(t, w.clientCA, "ec-client", 0)
	sk, rk := newKey(t, 0), newKey(t, 0)
	w.signer = issue(t, nil, sk, &x509.Certificate{Subject: pkix.Name{CommonName: "App Signer"}}).Raw
	w.resigner = issue(t, nil, rk, &x509.Certificate{Subject: pkix.Name{CommonName: "Repackager"}}).Raw

	srvKey := newKey(t, 0)
	srvCert := issue(t, w.serverCA, srvKey, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	pool := x509.NewCertPool()
	pool.AddCert(w.clientCA.cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "hello %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey, Leaf: srvCert}},
	}
	w.serverLog = &testenv.SyncBuffer{}
	srv.Config.ErrorLog = log.New(w.serverLog, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	w.url = srv.URL + "/api"
	return w
}

func digestHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var appDex = []byte("dex\n035\x00 stand-in for the app's own classes.dex")

func (w *world) policy() *androidrt.Policy {
	return &androidrt.Policy{
		FusionSetID: "fs-harness",
		Package:     testPkg,
		Threats: map[androidrt.Threat]androidrt.ThreatPolicy{
			androidrt.ThreatTamper:   {Mode: androidrt.ModeDefend, Message: "This copy of the app was modified.", Score: 100},
			androidrt.ThreatDebugger: {Mode: androidrt.ModeDetect, Score: 10},
			androidrt.ThreatRoot:     {Mode: androidrt.ModeDetect, Message: "Rooted device", Score: 30},
			androidrt.ThreatEmulator: {Mode: androidrt.ModeDetect, Score: 20},
			androidrt.ThreatHooking:  {Mode: androidrt.ModeDetect, Score: 50},
			androidrt.ThreatMITM:     {Mode: androidrt.ModeDefend, Message: "Insecure network", Score: 80},
		},
		EventsEnabled:  true,
		SignerDigests:  []string{digestHex(w.signer)},
		DexDigests:     map[string]string{"classes.dex": digestHex(appDex)},
		MTLSHosts:      []string{"127.0.0.1"},
		PinnedCASPKI:   []string{androidrt.SPKIDigest(w.serverCA.cert)},
		PinnedCAs:      [][]byte{w.serverCA.cert.Raw},
		AttestEndpoint: "https://attest.example.com",
		TokenHeader:    "TrustFuse-Token",
		TokenTTL:       5 * time.Minute,
		BuildDate:      "2025-01-02T03:04:05Z",
		FusedAppToken:  "c0ffee",
	}
}

// worldManifest is the AndroidManifest.xml entry of the world's packages.
const worldManifest = "not parsed by the harness"

// apk writes a package holding the runtime dex, the app dex, the policy and
// the identity sealed to the app signer; edit may change the policy bytes
// after sealing and the app dex.
func (w *world) apk(t *testing.T, p *androidrt.Policy, id vault.Identity, edit func(policy, dex *[]byte)) string {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	pol := p.Encode()
	sealed, err := vault.Seal(id, androidrt.Pepper(), sha256.Sum256(w.signer), pol)
	if err != nil {
		t.Fatal(err)
	}
	dex := slices.Clone(appDex)
	if edit != nil {
		edit(&pol, &dex)
	}
	path := filepath.Join(w.dir, fmt.Sprintf("app-%d.apk", time.Now().UnixNano()))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{
		{"AndroidManifest.xml", []byte(worldManifest)},
		{"classes.dex", dex},
		{"classes2.dex", androidrt.Dex()},
		{androidrt.PolicyAsset, pol},
		{androidrt.VaultAsset, sealed},
	} {
		fw, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

func (w *world) run(t *testing.T, o harness.Options) harness.Result {
	t.Helper()
	if o.Package == "" {
		o.Package = testPkg
	}
	if o.SignerDER == nil {
		o.SignerDER = w.signer
	}
	if o.URL == "" {
		o.URL = w.url
	}
	r := harness.RunWith(t, o)
	t.Logf("harness: status=%d error=%q init=%.1fms events=%d exit=%d", r.Status, r.Error, r.InitMillis, len(r.Events), r.ExitCode)
	if testing.Verbose() {
		t.Logf("java stderr:\n%s", r.Stderr)
	}
	return r
}

// checkEvent asserts one recorded Threat-Event, its broadcast twin and the keys.
func checkEvent(t *testing.T, r harness.Result, i int, want map[string]string) {
	t.Helper()
	if len(r.Events) <= i {
		t.Fatalf("event %d not recorded; events: %v\nstderr:\n%s", i, r.Events, r.Stderr)
	}
	ev := r.Events[i]
	for _, k := range eventKeys {
		if _, ok := ev[k]; !ok {
			t.Errorf("event %d lacks key %q: %v", i, k, ev)
		}
	}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("event %d: %s = %q, want %q", i, k, ev[k], v)
		}
	}
	if len(ev["deviceID"]) != 64 || ev["sdkVersion"] != "34" || ev["deviceModel"] != "Pixel 6" || ev["fusedAppToken"] != "c0ffee" || ev["buildDate"] != "2025-01-02T03:04:05Z" {
		t.Errorf("event %d device/build fields: %v", i, ev)
	}
	if len(r.Broadcasts) <= i {
		t.Fatalf("event %d not broadcast: %v", i, r.Broadcasts)
	}
	b := r.Broadcasts[i]
	if b.Action != testPkg+".trustfuse.THREAT" || b.Package != testPkg {
		t.Errorf("broadcast %d: action %q package %q", i, b.Action, b.Package)
	}
	if fmt.Sprint(b.Extras) != fmt.Sprint(ev) {
		t.Errorf("broadcast extras %v differ from recorded event %v", b.Extras, ev)
	}
}

func refused(t *testing.T, r harness.Result) {
	t.Helper()
	if r.Status != 0 || r.Error == "" {
		t.Fatalf("request succeeded (status %d, body %q), want a failed handshake\nstderr:\n%s", r.Status, r.Body, r.Stderr)
	}
}

func TestHarnessMTLS(t *testing.T) {
	w := newWorld(t)
	// SHA-256 of "9774d56d682e549c", the harness's ANDROID_ID.
	wantDeviceID := digestHex([]byte("9774d56d682e549c"))

	t.Run("runtime presents the sealed client certificate", func(t *testing.T) {
		r := w.run(t, harness.Options{APK: w.apk(t, w.policy(), w.rsaClient, nil)})
		if r.Status != 200 || r.Body != "hello rsa-client" {
			t.Fatalf("status %d body %q error %q\nstderr:\n%s", r.Status, r.Body, r.Error, r.Stderr)
		}
		if len(r.Events) != 0 || len(r.Broadcasts) != 0 || !r.ChecksDone {
			t.Errorf("clean run raised events %v (checks done: %v)", r.Events, r.ChecksDone)
		}
	})

	t.Run("plain JVM without the runtime is refused", func(t *testing.T) {
		before := len(w.serverLog.String())
		r := w.run(t, harness.Options{NoInit: true, TrustCA: w.serverCA.cert.Raw})
		refused(t, r)
		if !strings.Contains(w.serverLog.String()[before:], "client didn't provide a certificate") {
			t.Errorf("server log does not show a missing client certificate:\n%s", w.serverLog)
		}
	})

	t.Run("re-signed app with tamper=defend", func(t *testing.T) {
		r := w.run(t, harness.Options{APK: w.apk(t, w.policy(), w.rsaClient, nil), SignerDER: w.resigner})
		refused(t, r)
		if !strings.Contains(r.Error, "trustfuse: connection to a protected host refused") {
			t.Errorf("error %q does not come from the runtime's refusal", r.Error)
		}
		checkEvent(t, r, 0, map[string]string{"threatCode": "tamper", "reasonCode": "SIGNER_MISMATCH",
			"reasonData": digestHex(w.resigner), "threatEventName": "AppTampered", "mode": "defend",
			"message": "This copy of the app was modified.", "threatScore": "100", "totalScore": "100",
			"failSafeEnforce": "false", "deviceID": wantDeviceID})
		if len(r.Events) != 1 || r.ListenerCalls != 1 {
			t.Errorf("events %d, listener calls %d; want 1 and 1", len(r.Events), r.ListenerCalls)
		}
		if !slices.Equal(r.Toasts, []string{"This copy of the app was modified."}) {
			t.Errorf("toasts %q", r.Toasts)
		}
	})

	t.Run("re-signed app with tamper=detect cannot unseal", func(t *testing.T) {
		p := w.policy()
		p.Threats[androidrt.ThreatTamper] = androidrt.ThreatPolicy{Mode: androidrt.ModeDetect, Score: 100}
		before := len(w.serverLog.String())
		r := w.run(t, harness.Options{APK: w.apk(t, p, w.rsaClient, nil), SignerDER: w.resigner})
		refused(t, r)
		checkEvent(t, r, 0, map[string]string{"threatCode": "tamper", "reasonCode": "SIGNER_MISMATCH", "mode": "detect"})
		if !strings.Contains(r.Stderr, "vault not unsealed") {
			t.Errorf("runtime did not report the sealed vault:\n%s", r.Stderr)
		}
		if !strings.Contains(w.serverLog.String()[before:], "client didn't provide a certificate") {
			t.Errorf("server did not see a certificate-less handshake:\n%s", w.serverLog.String()[before:])
		}
		if len(r.Toasts) != 0 {
			t.Errorf("detect mode showed %q", r.Toasts)
		}
	})

	t.Run("edited policy leaves the vault sealed", func(t *testing.T) {
		apk := w.apk(t, w.policy(), w.rsaClient, func(pol, _ *[]byte) {
			*pol = []byte(strings.Replace(string(*pol), "threat.tamper.mode=defend", "threat.tamper.mode=off", 1))
		})
		r := w.run(t, harness.Options{APK: apk})
		refused(t, r)
		if !strings.Contains(r.Stderr, "vault not unsealed") {
			t.Errorf("runtime unsealed a vault bound to another policy:\n%s", r.Stderr)
		}
	})

	t.Run("EC identity through the KeyManagerFactory provider", func(t *testing.T) {
		r := w.run(t, harness.Options{APK: w.apk(t, w.policy(), w.ecClient, nil), KMF: true, TrustCA: w.serverCA.cert.Raw})
		if r.Status != 200 || r.Body != "hello ec-client" {
			t.Fatalf("status %d body %q error %q\nstderr:\n%s", r.Status, r.Body, r.Error, r.Stderr)
		}
		if r.KMFProvider != "TrustFuse" {
			t.Errorf("KeyManagerFactory served by %q, want the runtime's provider", r.KMFProvider)
		}
	})

	t.Run("server not issued by the pinned CA", func(t *testing.T) {
		p := w.policy()
		p.PinnedCAs = [][]byte{w.otherCA.cert.Raw}
		p.PinnedCASPKI = []string{androidrt.SPKIDigest(w.otherCA.cert)}
		r := w.run(t, harness.Options{APK: w.apk(t, p, w.rsaClient, nil)})
		refused(t, r)
		checkEvent(t, r, 0, map[string]string{"threatCode": "mitm", "reasonCode": "PIN_MISMATCH", "threatEventName": "MitMDetected", "message": "Insecure network"})
		if !strings.HasPrefix(r.Events[0]["reasonData"], "127.0.0.1: ") {
			t.Errorf("reasonData %q does not name the host", r.Events[0]["reasonData"])
		}
	})

	t.Run("modified app dex with tamper=detect", func(t *testing.T) {
		p := w.policy()
		p.Threats[androidrt.ThreatTamper] = androidrt.ThreatPolicy{Mode: androidrt.ModeDetect, Score: 100}
		apk := w.apk(t, p, w.rsaClient, func(_, dex *[]byte) { (*dex)[20] ^= 1 })
		r := w.run(t, harness.Options{APK: apk})
		if r.Status != 200 {
			t.Fatalf("detect mode blocked the request: %q", r.Error)
		}
		checkEvent(t, r, 0, map[string]string{"threatCode": "tamper", "reasonCode": "DEX_MODIFIED", "reasonData": "classes.dex", "mode": "detect"})
	})

	failSafe := func() string {
		p := w.policy()
		p.Threats[androidrt.ThreatTamper] = androidrt.ThreatPolicy{Mode: androidrt.ModeDetect, Message: "Enforced after a grace period", Score: 100}
		p.FailSafeEnforce, p.FailSafeAfter = true, 200*time.Millisecond
		return w.apk(t, p, w.rsaClient, func(_, dex *[]byte) { (*dex)[20] ^= 1 })
	}()
	t.Run("fail-safe enforces an unacknowledged detect event", func(t *testing.T) {
		r := w.run(t, harness.Options{APK: failSafe, Sleep: 1500 * time.Millisecond})
		refused(t, r)
		checkEvent(t, r, 0, map[string]string{"threatCode": "tamper", "reasonCode": "DEX_MODIFIED", "failSafeEnforce": "true"})
		if !strings.Contains(r.Stderr, "fail-safe") || !slices.Equal(r.Toasts, []string{"Enforced after a grace period"}) {
			t.Errorf("no fail-safe enforcement in stderr / toasts %q:\n%s", r.Toasts, r.Stderr)
		}
	})
	t.Run("fail-safe spares an acknowledged event", func(t *testing.T) {
		r := w.run(t, harness.Options{APK: failSafe, Sleep: 1500 * time.Millisecond, Ack: "tamper"})
		if r.Status != 200 {
			t.Fatalf("acknowledged event was enforced: %q\n%s", r.Error, r.Stderr)
		}
	})

	t.Run("root and emulator markers raise scored events", func(t *testing.T) {
		r := w.run(t, harness.Options{APK: w.apk(t, w.policy(), w.rsaClient, nil), Props: map[string]string{
			"harness.build.tags":        "test-keys",
			"harness.build.fingerprint": "google/sdk_gphone64_x86_64/emu64x:14/UE1A/1:userdebug/dev-keys",
			"harness.android_id":        "",
		}})
		if r.Status != 200 {
			t.Fatalf("detect mode blocked the request: %q", r.Error)
		}
		checkEvent(t, r, 0, map[string]string{"threatCode": "root", "reasonCode": "TEST_KEYS", "reasonData": "test-keys", "threatScore": "30", "totalScore": "30"})
		checkEvent(t, r, 1, map[string]string{"threatCode": "emulator", "reasonCode": "EMULATOR_PROPERTY", "threatScore": "20", "totalScore": "50"})
		if !strings.HasPrefix(r.Events[1]["reasonData"], "FINGERPRINT=google/sdk_gphone64") {
			t.Errorf("emulator reasonData %q", r.Events[1]["reasonData"])
		}
		if r.Events[0]["deviceID"] == wantDeviceID || r.Events[0]["deviceID"] != r.Events[1]["deviceID"] {
			t.Errorf("without ANDROID_ID the deviceID must be a stable per-process id: %q %q", r.Events[0]["deviceID"], r.Events[1]["deviceID"])
		}
	})

	t.Run("defend with exitOnDefend ends the process", func(t *testing.T) {
		p := w.policy()
		p.Threats[androidrt.ThreatRoot] = androidrt.ThreatPolicy{Mode: androidrt.ModeDefend, Message: "Rooted device"}
		p.ExitOnDefend = true
		r := w.run(t, harness.Options{APK: w.apk(t, p, w.rsaClient, nil), Props: map[string]string{"harness.build.tags": "test-keys"}})
		if r.ExitCode != 78 || strings.Contains(r.Stdout, "RESULT") {
			t.Fatalf("exit code %d, stdout %q; want exit 78 before any request completes", r.ExitCode, r.Stdout)
		}
		if !strings.Contains(r.Stderr, "killProcess(") || !strings.Contains(r.Stderr, "toast: Rooted device") {
			t.Errorf("no killProcess / toast before exit:\n%s", r.Stderr)
		}
	})
}

// TestAttestClient runs Attest.token() and Attest.attach against a stand-in
// of `trustfuse serve` that checks the request the way pkg/attest does:
// strict JSON into attest.AttestRequest (unknown fields refused), the
// measurement fields equal to the policy's, and the proof recomputed with
// attest.Proof over the decoded nonce.
func TestAttestClient(t *testing.T) {
	w := newWorld(t)
	m := attest.Measurement{Package: testPkg, VersionCode: 7, SignerDigests: []string{digestHex(w.signer)},
		DexDigests: map[string]string{"classes.dex": digestHex(appDex)},
		// What the world's package holds: the runtime re-measures both.
		RuntimeDigest: digestHex(androidrt.Dex()), ManifestDigest: digestHex([]byte(worldManifest))}
	key := []byte("0123456789abcdef0123456789abcdef")
	registered := m // the release the stand-in knows
	var (
		mu    sync.Mutex
		got   []string
		nonce []byte
		req   attest.AttestRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Method+" "+r.URL.Path)
		switch r.URL.Path {
		case "/v1/challenge":
			nonce = make([]byte, 56)
			rand.Read(nonce)
			fmt.Fprintf(rw, `{"nonce":%q,"expiresAt":"2030-01-01T00:00:00Z"}`, base64.RawURLEncoding.EncodeToString(nonce))
		case "/v1/attest":
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil || r.Header.Get("Content-Type") != "application/json" {
				http.Error(rw, fmt.Sprintf("bad request %v: %s", err, body), 400)
				return
			}
			want := base64.RawURLEncoding.EncodeToString(attest.Proof(key, nonce, registered.Sum()))
			if req.Proof != want || req.Nonce != base64.RawURLEncoding.EncodeToString(nonce) ||
				!bytes.Equal(req.Measurement.Canonical(), registered.Canonical()) {
				http.Error(rw, fmt.Sprintf("refused: %s", body), 403)
				return
			}
			fmt.Fprint(rw, `{"token":"tok-123","expiresAt":"2030-01-01T00:00:00Z"}`)
		case "/api":
			fmt.Fprintf(rw, "token header %q", r.Header.Get("TrustFuse-Token"))
		default:
			http.NotFound(rw, r)
		}
	}))
	defer srv.Close()
	p := w.policy()
	p.AttestEndpoint = srv.URL
	p.AttestMeasurement = string(m.Canonical())
	p.AttestRuntimeDex = "classes2.dex"
	id := w.rsaClient
	id.AttestKey = key

	t.Run("token and header", func(t *testing.T) {
		r := w.run(t, harness.Options{APK: w.apk(t, p, id, nil), Attest: true, AttestedURL: srv.URL + "/api"})
		mu.Lock()
		defer mu.Unlock()
		if r.Token != "tok-123" || r.AttestError != "" {
			t.Fatalf("token %q, error %q; requests %q\n%s", r.Token, r.AttestError, got, r.Stderr)
		}
		if !r.TokenCached {
			t.Error("a second Attest.token() did not return the cached token")
		}
		// One challenge and one attest for three token() calls and attach.
		if want := []string{"POST /v1/challenge", "POST /v1/attest", "GET /api"}; !slices.Equal(got, want) {
			t.Errorf("requests %q, want %q", got, want)
		}
		if r.AttestedStatus != 200 || r.AttestedBody != `token header "tok-123"` {
			t.Errorf("attach: status %d body %q error %q", r.AttestedStatus, r.AttestedBody, r.AttestedError)
		}
		if id := req.DeviceInfo["id"]; len(id) != 64 || len(req.Threats) != 0 {
			t.Errorf("deviceInfo %v threats %v", req.DeviceInfo, req.Threats)
		}
	})

	t.Run("fired threats are reported", func(t *testing.T) {
		mu.Lock()
		got = nil
		mu.Unlock()
		// root is in detect mode: the event fires, connections go on.
		r := w.run(t, harness.Options{APK: w.apk(t, p, id, nil), Attest: true,
			Props: map[string]string{"harness.build.tags": "test-keys"}})
		mu.Lock()
		defer mu.Unlock()
		if r.Token != "tok-123" || !slices.Contains(req.Threats, "root") {
			t.Fatalf("token %q error %q threats %v\n%s", r.Token, r.AttestError, req.Threats, r.Stderr)
		}
	})

	t.Run("measured, not asserted", func(t *testing.T) {
		// A policy claiming other manifest and runtime digests: the runtime
		// sends (and proves over) what the installed package holds, which
		// here is the registered release, so the server accepts.
		mu.Lock()
		req = attest.AttestRequest{}
		mu.Unlock()
		claimed := m
		claimed.ManifestDigest, claimed.RuntimeDigest = strings.Repeat("ab", 32), strings.Repeat("cd", 32)
		p := *p
		p.AttestMeasurement = string(claimed.Canonical())
		r := w.run(t, harness.Options{APK: w.apk(t, &p, id, nil), Attest: true})
		mu.Lock()
		defer mu.Unlock()
		if r.Token != "tok-123" {
			t.Fatalf("token %q error %q", r.Token, r.AttestError)
		}
		if req.ManifestDigest != m.ManifestDigest || req.RuntimeDigest != m.RuntimeDigest {
			t.Errorf("sent manifest %s runtime %s, want the package's %s %s",
				req.ManifestDigest, req.RuntimeDigest, m.ManifestDigest, m.RuntimeDigest)
		}
	})

	t.Run("package differs from the release", func(t *testing.T) {
		// Policy and registration agree on digests the installed package
		// does not have (as after editing the manifest): refused.
		claimed := m
		claimed.ManifestDigest = strings.Repeat("ab", 32)
		mu.Lock()
		registered = claimed
		mu.Unlock()
		defer func() { mu.Lock(); registered = m; mu.Unlock() }()
		p := *p
		p.AttestMeasurement = string(claimed.Canonical())
		r := w.run(t, harness.Options{APK: w.apk(t, &p, id, nil), Attest: true})
		if r.Token != "" || !strings.Contains(r.AttestError, "HTTP status 403") {
			t.Fatalf("token %q error %q", r.Token, r.AttestError)
		}
	})

	t.Run("no attestation key", func(t *testing.T) {
		r := w.run(t, harness.Options{APK: w.apk(t, p, w.rsaClient, nil), Attest: true})
		if r.Token != "" || !strings.Contains(r.AttestError, "attestation unavailable") {
			t.Fatalf("token %q error %q", r.Token, r.AttestError)
		}
	})
}
