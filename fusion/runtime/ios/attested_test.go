package iosrt_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/guardtest"
	"github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// TestFusedIPAAttested is the iOS attested identity end to end on the
// host: Demo.ipa fused by `trustfuse fuse` with mtls.identity "attested"
// and the fixture profile that grants App Attest (--register export). The
// host-built core
//   - reads mtls.identity=attested from the fused policy.bin
//     (tf_policy_identity) and opens the vault for team + bundle id: no
//     private key, the issuer CA chain only (the CA's DER as the test
//     wrote it), the attestation key of the export;
//   - builds the /v1/certificate body for an identity key (a Go P-256 key
//     standing in for the Secure Enclave's) with an App Attest object that
//     internal/keyattesttest mints, under a root shaped like Apple's, for
//     the clientDataHash the core computes (SHA-256(nonce || SPKI));
//
// and an in-process attest.Server, its registry filled with the export and
// its issuer the test CA, answers 200 with a certificate that `openssl
// verify -CAfile` accepts for client auth, for the identity key, which the
// core's answer parser reads back. The same body with the object made for
// another key is refused (debug: 403 and the reason).
func TestFusedIPAAttested(t *testing.T) {
	bin := testenv.Trustfuse(t)
	dir := t.TempDir()
	ca := guardtest.NewPKI(t, "TrustFuse test client CA")
	caFile := filepath.Join(dir, "client-ca.pem")
	guardtest.WriteCertPEM(t, caFile, ca.Cert.Raw)
	fsDoc := `{"fusionSetId": "fs-ios-attested", "name": "iOS attested", "version": 1,
  "mtls": {"identity": "attested", "issuerCA": "file:client-ca.pem", "hosts": ["api.example.com"], "attestedCertificate": {"validity": "2h"}},
  "attestation": {"endpoint": "https://attest.example.com"},
  "threats": {"tamper": {"mode": "defend"}}}`
	if err := os.WriteFile(filepath.Join(dir, "attested.json"), []byte(fsDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	fx := func(name string) string { return testenv.IOSFixture(t, name) }
	mustTrustfuse(t, bin, dir, "fuse", "--in", fx("Demo.ipa"), "--fusion-set", "attested.json", "--out", "app.secured.ipa",
		"--keystore", fx("pki/dist.p12"), "--ks-pass", "env:P12_PASS", "--apple-root", fx("pki/root.pem"),
		"--profile", fx("appattest.mobileprovision"), "--profile", "com.example.demo.widget="+fx("widget.mobileprovision"),
		"--register", "release.json")
	var export attest.Registration
	if err := json.Unmarshal(mustReadFile(t, filepath.Join(dir, "release.json")), &export); err != nil {
		t.Fatal(err)
	}
	if export.Identity == nil || export.Identity.Mode != attest.IdentityAttested || export.Identity.ValiditySeconds != 7200 {
		t.Fatalf("export identity %+v", export.Identity)
	}

	// The core reads the fused app.
	l := launch(t, filepath.Join(dir, "app.secured.ipa"))
	if l.code != 0 {
		t.Fatalf("unseal exit %d", l.code)
	}
	if l.identity.Key != "" || len(l.identity.Chain) != 1 || l.identity.Chain[0] != hex.EncodeToString(ca.Cert.Raw) {
		t.Fatalf("unsealed key %q, chain %v: want no key and the issuer CA only", l.identity.Key, l.identity.Chain)
	}
	if l.identity.AttestKey != hex.EncodeToString(export.AttestKey) || l.m != *export.IOS {
		t.Fatal("the unsealed attestation key or the measurement is not the export's")
	}
	var pc struct{ Identity int }
	if err := json.Unmarshal([]byte(mustRun(t, "policy-check", l.policy, l.m.TeamID, l.m.BundleID, "api.example.com")), &pc); err != nil {
		t.Fatal(err)
	}
	if pc.Identity != 1 { // TF_ID_ATTESTED
		t.Fatalf("tf_policy_identity = %d, want 1 (attested)", pc.Identity)
	}

	// serve, in process, with the export registered.
	reg, err := attest.OpenRegistry(filepath.Join(dir, "reg.db"), randBytes(t, 32), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Add(export, attest.Event{At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	root, mid := keyattesttest.NewAppAttestCA(t)
	aa, err := keyattest.NewAppAttestVerifier([]*x509.Certificate{root.Cert})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := attest.NewServer(attest.Config{Issuer: "https://attest.example", Audience: "api", TokenTTL: time.Minute,
		SigningKey: guardtest.Key(t), NonceKey: randBytes(t, 32), Registry: reg, Replay: attest.NewMemoryReplay(100, time.Now),
		AppAttest: aa, Debug: true, CertificateIssuer: &attest.CertificateIssuer{Chain: []*x509.Certificate{ca.Cert}, Key: ca.Key}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	aaKey := keyattesttest.NewKey(t, "p256").(*ecdsa.PrivateKey)
	keyID := base64.StdEncoding.EncodeToString(keyattesttest.AppAttestKeyID(t, aaKey))
	spkiOf := func(k *ecdsa.PrivateKey) string {
		p, _ := k.PublicKey.Bytes()
		return mustRun(t, "p256-spki", hex.EncodeToString(p))
	}
	identity, other := guardtest.Key(t), guardtest.Key(t)
	for _, c := range []struct {
		name         string
		hashed, sent string // the SPKI the object is made for, the one sent
		reason       string
	}{
		{"issued", spkiOf(identity), spkiOf(identity), ""},
		{"object made for another key", spkiOf(other), spkiOf(identity), "certificate_app_attest_challenge_mismatch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, b := postJSON(t, hs.URL, "/v1/challenge", nil)
			var ch attest.ChallengeResponse
			if err := json.Unmarshal(b, &ch); code != 200 || err != nil {
				t.Fatalf("challenge: %d %s", code, b)
			}
			cdh, _ := hex.DecodeString(mustRun(t, "client-data-hash", ch.Nonce, c.hashed))
			obj := base64.StdEncoding.EncodeToString(keyattesttest.MintAppAttest(t, mid, aaKey, keyattesttest.AppAttestSpec{
				TeamID: l.m.TeamID, BundleID: l.m.BundleID, ClientDataHash: cdh, NotBefore: time.Now().Add(-time.Minute)}))
			body := mustRun(t, append(append([]string{"certificate-request"}, measureArgs(l.m)...), ch.Nonce, l.identity.AttestKey,
				"device-1", "0", keyID, obj, c.sent)...)
			code, b = postJSON(t, hs.URL, "/v1/certificate", []byte(body))
			if c.reason != "" {
				if code != 403 || !strings.Contains(string(b), c.reason) {
					t.Fatalf("got %d %s, want 403 %s", code, b, c.reason)
				}
				return
			}
			if code != 200 {
				t.Fatalf("/v1/certificate: %d %s", code, b)
			}
			var got struct {
				Certificate string
				Chain       []string
			}
			if err := json.Unmarshal([]byte(mustRun(t, "certificate-response", writeFile(t, "answer.json", b))), &got); err != nil {
				t.Fatal(err)
			}
			der, _ := hex.DecodeString(got.Certificate)
			if len(got.Chain) != 1 || got.Chain[0] != hex.EncodeToString(ca.Cert.Raw) {
				t.Fatalf("the core reads chain %v, want the issuer CA", got.Chain)
			}
			certFile := filepath.Join(t.TempDir(), "issued.pem")
			guardtest.WriteCertPEM(t, certFile, der)
			if out := testenv.Run(t, "openssl", "verify", "-CAfile", caFile, "-purpose", "sslclient", certFile); !strings.Contains(out, ": OK") {
				t.Fatalf("openssl verify: %s", out)
			}
			pubDER := filepath.Join(t.TempDir(), "pub.der")
			testenv.Run(t, "openssl", "x509", "-in", certFile, "-noout", "-pubkey", "-out", filepath.Join(filepath.Dir(pubDER), "pub.pem"))
			testenv.Run(t, "openssl", "pkey", "-pubin", "-in", filepath.Join(filepath.Dir(pubDER), "pub.pem"), "-outform", "DER", "-out", pubDER)
			if spki := hex.EncodeToString(mustReadFile(t, pubDER)); spki != c.sent {
				t.Fatalf("openssl reads the issued key %s, the identity key is %s", spki, c.sent)
			}
		})
	}
}
