package fusionset

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

func examplesDir(t testing.TB) string {
	return filepath.Join(testenv.Root(t), "fusion", "examples")
}

// copyExample copies fusion/examples/name into the world's directory, next
// to the client.p12 and server-ca.pem the world generated.
func copyExample(t *testing.T, w *world, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(examplesDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return w.write(t, name, string(data))
}

func TestExamples(t *testing.T) {
	w := newWorld(t)
	if err := os.WriteFile(filepath.Join(w.dir, "client.p12.pass"), []byte(p12Pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := w.opts(map[string]string{"PAYMENTS_CLIENT_P12_PASS": p12Pass})

	prod, err := Load(copyExample(t, w, "payments-prod.json"), opts)
	if err != nil {
		t.Fatalf("payments-prod.json: %v", err)
	}
	for _, id := range ThreatIDs() {
		if prod.Threats[id].Mode != ModeDefend {
			t.Errorf("payments-prod: %s is %s, want defend", id, prod.Threats[id].Mode)
		}
	}
	if prod.ThreatEvents.Enabled || !prod.ThreatEvents.ExitOnDefend || prod.Attestation.TTL() != 2*time.Minute {
		t.Errorf("payments-prod: events %+v, ttl %s", prod.ThreatEvents, prod.Attestation.TTL())
	}
	if d := prod.Attestation.PlaySigningCertDigests; len(d) != 1 || d[0] != "3a1f0c9b57e284d611afc0427e95b3086d29f4ca105eb78342de910f66a83c75" {
		t.Errorf("payments-prod: Play digests not normalized: %v", d)
	}
	if prod.Threats[ThreatTamper].Message != "This app has been modified. Please reinstall it from Google Play." || prod.Threats[ThreatRoot].Score != 70 {
		t.Errorf("payments-prod: tamper/root = %+v / %+v", prod.Threats[ThreatTamper], prod.Threats[ThreatRoot])
	}

	staging, err := Load(copyExample(t, w, "retail-staging.json"), opts)
	if err != nil {
		t.Fatalf("retail-staging.json: %v", err)
	}
	detect := 0
	for _, id := range ThreatIDs() {
		if staging.Threats[id].Mode == ModeDetect {
			detect++
		}
	}
	if detect != 5 || !staging.ThreatEvents.Enabled || staging.ThreatEvents.Delay() != 2*time.Minute || staging.Threats[ThreatEmulator].Score != 10 {
		t.Errorf("retail-staging: %d detect, events %+v, emulator %+v", detect, staging.ThreatEvents, staging.Threats[ThreatEmulator])
	}
	if staging.Attestation.TokenHeader != DefaultTokenHeader || staging.MTLS.Hosts[1] != "10.20.0.15" {
		t.Errorf("retail-staging: header %q, hosts %v", staging.Attestation.TokenHeader, staging.MTLS.Hosts)
	}
	if len(prod.Warnings)+len(staging.Warnings) != 0 {
		t.Errorf("warnings: %v %v", prod.Warnings, staging.Warnings)
	}

	// The attested example: the world's CA stands in for the client CA.
	writePEM(t, w.dir, "client-ca.pem", certBlock(w.ca.cert))
	att, err := Load(copyExample(t, w, "payments-attested.json"), opts)
	if err != nil {
		t.Fatalf("payments-attested.json: %v", err)
	}
	if m := att.MTLS; m.Identity != IdentityAttested || att.ClientIdentity != nil || len(att.IssuerCAs) != 1 ||
		m.AttestedCertificate.StrongBox != "prefer" || m.AttestedCertificate.Lifetime() != DefaultAttestedValidity || len(att.Warnings) != 0 {
		t.Errorf("payments-attested: mtls %+v, %d issuer CAs, warnings %v", m, len(att.IssuerCAs), att.Warnings)
	}
}

// TestTemplate: what init-fusion-set prints validates once its files exist,
// and its comments do not count in the hash.
func TestTemplate(t *testing.T) {
	w := newWorld(t)
	fs, err := Load(w.write(t, "fusion.json", string(Template())), w.opts(map[string]string{"TRUSTFUSE_CLIENT_P12_PASS": p12Pass}))
	if err != nil {
		t.Fatal(err)
	}
	if fs.FusionSetID != "fs-0001" || len(fs.Warnings) != 0 {
		t.Errorf("id %q, warnings %v", fs.FusionSetID, fs.Warnings)
	}
	// The template has whole-line comments only: drop them and ask node.
	var kept []string
	for _, l := range strings.Split(string(Template()), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "//") {
			kept = append(kept, l)
		}
	}
	if got, want := string(fs.Canonical()), node(t, strings.Join(kept, "\n")); got != want {
		t.Errorf("Canonical =\n%s\nwant\n%s", got, want)
	}
	// Every field the schema knows appears in the template.
	for _, f := range []string{"fusionSetId", "name", "version", "clientCertificate", "password", "hosts", "pinServerCA",
		"endpoint", "tokenHeader", "tokenTTL", "playSigningCertDigests", "keyAttestation", "minSecurityLevel", "requireVerifiedBoot", "appAttest", "allowDevelopment", "tamper", "debugger", "root", "emulator",
		"hooking", "mitm", "message", "score", "enabled", "failSafeEnforce", "failSafeAfter", "exitOnDefend",
		"identity", "issuerCA", "attestedCertificate", "validity", "strongBox"} {
		if !strings.Contains(string(Template()), `"`+f+`"`) {
			t.Errorf("template lacks %q", f)
		}
	}
}

// TestDemoMutualTLS loads fusion/examples/demo.json in place (real clock)
// and uses its client identity and pinned CA for a real mutual-TLS
// exchange with Go's crypto/tls, which checks the chain and clientAuth.
func TestDemoMutualTLS(t *testing.T) {
	fs, err := Load(filepath.Join(examplesDir(t), "demo.json"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs.Warnings) != 1 || !strings.Contains(fs.Warnings[0].Message, "password is written in the Fusion Set") {
		t.Errorf("demo warnings = %v, want the literal-password one", fs.Warnings)
	}
	if !strings.Contains(fs.ClientCertificate().Subject.CommonName, "DEMO") {
		t.Errorf("demo client CN = %q", fs.ClientCertificate().Subject.CommonName)
	}
	// A server certificate for 127.0.0.1 from the demo CA (its key is
	// published in fusion/examples/demo, like everything DEMO).
	keyPEM, err := os.ReadFile(filepath.Join(examplesDir(t), "demo", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(keyPEM)
	caKey, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	srvKey := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "demo server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, fs.PinnedCAs[0], srvKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(fs.PinnedCAs[0]) // the demo CA issued the client certificate too
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		io.WriteString(rw, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: srvKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
	}
	srv.StartTLS()
	defer srv.Close()

	pins := x509.NewCertPool()
	for _, c := range fs.PinnedCAs {
		pins.AddCert(c)
	}
	id := fs.ClientIdentity
	var chain [][]byte
	for _, c := range id.Chain {
		chain = append(chain, c.Raw)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:      pins,
		Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: id.Key, Leaf: id.Certificate}},
	}}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("mTLS request: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != id.Certificate.Subject.CommonName {
		t.Errorf("server saw client %q, want %q", body, id.Certificate.Subject.CommonName)
	}
	// Without the client identity the handshake fails.
	bare := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pins}}}
	if resp, err := bare.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Error("request without a client certificate succeeded")
	}
}

// BenchmarkLoad measures Load of the demo Fusion Set: schema compilation,
// validation, PKCS#12 decoding (PBKDF2, 2048 iterations) and CA parsing.
func BenchmarkLoad(b *testing.B) {
	path := filepath.Join(testenv.Root(b), "fusion", "examples", "demo.json")
	for b.Loop() {
		if _, err := Load(path, LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
