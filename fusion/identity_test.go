package fusion

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/fusion/fusionset"
	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/fusion/runtime/android/harness"
	"github.com/trustfuse/trustfuse/internal/reporttest"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/ipa"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/provision"
	"github.com/trustfuse/trustfuse/pkg/report"
	"github.com/trustfuse/trustfuse/pkg/vault"
)

// identityWorld is a directory with an issuer CA (client-ca.pem, its key
// kept), an embedded client identity (client.p12) and one Fusion Set per
// identity mode and package kind, with every private key the tests use.
type identityWorld struct {
	dir    string
	caKey  *ecdsa.PrivateKey
	ca     *x509.Certificate
	client *ecdsa.PrivateKey
	signer *keys.Signer
	// keys names every private key of the test: the package signer (APK
	// signer and bundle upload key), the Play App Signing stand-in, the
	// embedded client key and the issuer CA key.
	keys map[string]any
}

const identityP12Pass = "identity-p12-pass"

func newIdentityWorld(t *testing.T) *identityWorld {
	t.Helper()
	w := &identityWorld{dir: t.TempDir(), signer: fixtureSigner(t)}
	var err error
	if w.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(18), Subject: pkix.Name{CommonName: "TrustFuse test client CA", Organization: []string{"Example"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(2, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &w.caKey.PublicKey, w.caKey)
	if err != nil {
		t.Fatal(err)
	}
	w.ca, _ = x509.ParseCertificate(der)
	if err := os.WriteFile(filepath.Join(w.dir, "client-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	w.client = testenv.WriteClientP12(t, filepath.Join(w.dir, "client.p12"), identityP12Pass, testenv.ClientIdentity{})
	play, err := os.ReadFile(filepath.Join(testenv.Root(t), "testdata", "keys", "ec.pk8"))
	if err != nil {
		t.Fatal(err)
	}
	playKey, err := x509.ParsePKCS8PrivateKey(play)
	if err != nil {
		t.Fatal(err)
	}
	w.keys = map[string]any{"signing key": w.signer.Key, "Play signing key": playKey, "client key": w.client, "issuer CA key": w.caKey}
	return w
}

// fusionSet writes and loads a Fusion Set in mode; bundle adds the Play
// App Signing stand-in's digest; extra is spliced into "mtls".
func (w *identityWorld) fusionSet(t *testing.T, mode fusionset.IdentityMode, bundle bool, extra string) *fusionset.FusionSet {
	t.Helper()
	mtls := `"identity": "` + string(mode) + `", "hosts": ["api.example.com"]` + extra
	if mode.Embeds() {
		mtls += `, "clientCertificate": "file:client.p12", "password": "env:IDENTITY_P12_PASS"`
	}
	if mode.Attested() {
		mtls += `, "issuerCA": "file:client-ca.pem"`
	}
	play := ""
	if bundle {
		play = `"` + testenv.PlaySigningDigest + `"`
	}
	doc := fmt.Sprintf(`{"fusionSetId": "fs-identity", "name": "identity %s", "version": 1,
  "mtls": {%s},
  "attestation": {"endpoint": "https://attest.example.com", "playSigningCertDigests": [%s]},
  "threats": {"tamper": {"mode": "defend"}}}`, mode, mtls, play)
	p := filepath.Join(w.dir, fmt.Sprintf("fs-%s-%v-%x.json", mode, bundle, sha256.Sum256([]byte(extra))))
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	fs, err := fusionset.Load(p, fusionset.LoadOptions{LookupEnv: func(k string) (string, bool) {
		return identityP12Pass, k == "IDENTITY_P12_PASS"
	}})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// keyBytes returns, for every private key of the world, the encodings that
// would give it away: its PKCS#8 DER, its PKCS#1 (RSA) or SEC1 (EC) DER,
// its raw private scalar (EC D) or exponent and primes (RSA D, P, Q), big
// endian, and reporttest.KeyNeedles' fragments of its DER, PEM, base64 and
// hex forms.
func (w *identityWorld) keyBytes(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, k := range w.keys {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		out[name+" PKCS#8"] = der
		switch k := k.(type) {
		case *ecdsa.PrivateKey:
			sec1, err := x509.MarshalECPrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			out[name+" SEC1"] = sec1
			out[name+" scalar"] = k.D.FillBytes(make([]byte, (k.Curve.Params().BitSize+7)/8))
		case *rsa.PrivateKey:
			out[name+" PKCS#1"] = x509.MarshalPKCS1PrivateKey(k)
			out[name+" exponent"] = k.D.Bytes()
			out[name+" prime p"] = k.Primes[0].Bytes()
			out[name+" prime q"] = k.Primes[1].Bytes()
		default:
			t.Fatalf("%s: unexpected key type %T", name, k)
		}
		maps.Copy(out, reporttest.KeyNeedles(t, name, k))
	}
	return out
}

// vaultPlaintext decrypts a vault by its documented FORMAT (pkg/vault;
// checked against OpenSSL's HKDF there) with the runtime's pepper, without
// pkg/vault's parser, so the scan sees every plaintext byte.
func vaultPlaintext(t *testing.T, blob []byte, signer [32]byte, policy []byte) ([]byte, error) {
	t.Helper()
	return testenv.OpenVault(t, blob, androidrt.Pepper(), signer, policy)
}

// scanned is what a key scan of a fused package found: "needle in
// haystack" for each hit.
type scanned []string

func (s scanned) has(needle, haystack string) bool {
	return slices.Contains(s, needle+" in "+haystack)
}

// scanPackage inflates every entry of the package at out (archive/zip,
// not our reader), reads its raw bytes and unseals each vault with the
// signer digests it may be sealed to (an IPA's: team id + bundle id), and
// searches all of them for every encoding of every private key of the
// world. It returns the hits and the vault plaintexts by entry name.
func (w *identityWorld) scanPackage(t *testing.T, out string, res *Result) (scanned, map[string][]byte) {
	t.Helper()
	entries := testenv.ZipEntries(t, out)
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	haystacks := map[string][]byte{"the package file": raw}
	for name, data := range entries {
		haystacks["entry "+name] = data
	}
	isVault := func(name string) bool { return strings.Contains(name, "assets/trustfuse/vault") }
	var digests [][32]byte
	for _, d := range res.Measurement.SignerDigests {
		digests = append(digests, digestBytes(t, d))
	}
	var policy []byte
	if m := res.IOSMeasurement; m != nil {
		isVault = func(name string) bool { return name == iosTFDir+"vault.bin" }
		digests = [][32]byte{vault.IOSSignerDigest(m.TeamID, m.BundleID)}
		policy = entries[iosTFDir+"policy.bin"]
	} else {
		policy = entries[policyEntry(t, entries)]
	}
	plaintexts := map[string][]byte{}
	for name, blob := range entries {
		if !isVault(name) {
			continue
		}
		for _, d := range digests {
			if pt, err := vaultPlaintext(t, blob, d, policy); err == nil {
				plaintexts[name] = pt
				haystacks["plaintext of "+name] = pt
			}
		}
		if plaintexts[name] == nil {
			t.Fatalf("%s unseals for none of the signers %x", name, digests)
		}
	}
	if len(plaintexts) == 0 {
		t.Fatal("no vault in the package")
	}
	var hits scanned
	for hn, h := range haystacks {
		for nn, n := range w.keyBytes(t) {
			if bytes.Contains(h, n) || bytes.Contains(bytes.ToLower(h), bytes.ToLower(n)) {
				hits = append(hits, nn+" in "+hn)
			}
		}
	}
	slices.Sort(hits)
	return hits, plaintexts
}

// policyEntry names the policy asset among entries (an APK's or a
// bundle's base module's).
func policyEntry(t *testing.T, entries map[string][]byte) string {
	t.Helper()
	for name := range entries {
		if strings.HasSuffix(name, androidrt.PolicyAsset) {
			return name
		}
	}
	t.Fatal("no policy asset")
	return ""
}

// TestFuseAttestedKeyScan fuses the APK fixtures, a real app and the
// bundle fixtures with an attested identity, and checks the output with
// apksigner (APK) or jarsigner -verify -strict (bundle), then scans every
// inflated entry, the file itself and the unsealed vault plaintext for
// every encoding of every private key of the test: none may be there. The
// vault holds exactly the issuer CA chain and the attestation key derived
// from the signing key, java.util.Properties reads mtls.identity from the
// policy, the registration carries the identity policy, and the signed
// report (schema-checked) says no private key is in the package and lists
// the issuer CA with OpenSSL's fingerprint.
func TestFuseAttestedKeyScan(t *testing.T) {
	w := newIdentityWorld(t)
	caFingerprint := opensslFingerprint(t, filepath.Join(w.dir, "client-ca.pem"))
	inputs := append(testenv.Fixtures(t), testenv.RealApp(t, "ApiDemos-debug.apk"))
	inputs = append(inputs, testenv.AABFixtures(t)...)
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			bundle := strings.HasSuffix(in, ".aab")
			fs := w.fusionSet(t, fusionset.IdentityAttested, bundle, `, "attestedCertificate": {"validity": "12h", "strongBox": "prefer"}`)
			out := filepath.Join(t.TempDir(), "fused"+filepath.Ext(in))
			data, res := fuseReport(t, in, out, fs, w.signer)
			if bundle {
				if ok, msg := testenv.JarsignerVerify(t, out, "rsa"); !ok {
					t.Fatalf("jarsigner -verify -strict:\n%s", msg)
				}
			} else {
				testenv.Run(t, "apksigner", "verify", out)
			}

			hits, plaintexts := w.scanPackage(t, out, res)
			if len(hits) > 0 {
				t.Fatalf("private key material in the attested package:\n%s", strings.Join(hits, "\n"))
			}
			signerDER, _ := x509.MarshalPKCS8PrivateKey(w.signer.Key)
			wantKey := attest.DeriveAttestKeyFromSigner(signerDER, res.Measurement.Sum())
			for name, pt := range plaintexts {
				// u32 0 (no key) | u16 1 | u32 len | the CA's DER | u32 32 | attest key.
				want := []byte{0, 0, 0, 0, 0, 1}
				want = append(want, byte(len(w.ca.Raw)>>24), byte(len(w.ca.Raw)>>16), byte(len(w.ca.Raw)>>8), byte(len(w.ca.Raw)))
				want = append(append(want, w.ca.Raw...), 0, 0, 0, 32)
				want = append(want, wantKey...)
				if !bytes.Equal(pt, want) {
					t.Errorf("%s plaintext is not (no key, the issuer CA, the attest key from the signing key)", name)
				}
			}
			if !bytes.Equal(res.Registration.AttestKey, wantKey) {
				t.Error("registered attestation key is not DeriveAttestKeyFromSigner of the signing key")
			}
			if got, want := res.Registration.Identity, (&attest.IdentityPolicy{Mode: "attested", ValiditySeconds: 12 * 3600,
				MinSecurityLevel: "tee", RequireVerifiedBoot: true}); got == nil || *got != *want {
				t.Errorf("registration identity %+v, want %+v", got, want)
			}
			entries := testenv.ZipEntries(t, out)
			props := harness.LoadProperties(t, entries[policyEntry(t, entries)])
			if props["mtls.identity"] != "attested" || props["mtls.strongBox"] != "prefer" {
				t.Errorf("policy mtls.identity=%q mtls.strongBox=%q", props["mtls.identity"], props["mtls.strongBox"])
			}

			var st struct {
				Predicate struct {
					MTLS   report.MTLS `json:"mtls"`
					Limits []string    `json:"limits"`
				} `json:"predicate"`
			}
			if err := json.Unmarshal(payloadOf(t, data), &st); err != nil {
				t.Fatal(err)
			}
			m := st.Predicate.MTLS
			if m.Identity != "attested" || m.PrivateKeyInPackage == nil || *m.PrivateKeyInPackage || m.Vault == nil || m.Vault.HasPrivateKey ||
				!slices.Equal(m.Vault.Chain, []report.CertRef{{Subject: w.ca.Subject.String(), SHA256: caFingerprint}}) ||
				m.SHA256 != caFingerprint || m.Subject != w.ca.Subject.String() {
				t.Errorf("report mtls = %+v", m)
			}
			if a := m.AttestedCertificate; a == nil || *a != (report.AttestedCertificate{Validity: "12h", MinSecurityLevel: "tee", StrongBox: "prefer", RequireVerifiedBoot: true}) {
				t.Errorf("report attestedCertificate = %+v", a)
			}
			if !strings.HasPrefix(st.Predicate.Limits[0], "No client private key is in the package") {
				t.Errorf("limits do not say the package holds no private key: %q", st.Predicate.Limits[0])
			}
		})
	}
}

// TestFuseEmbeddedKeyScanFindsKey proves the scan of
// TestFuseAttestedKeyScan finds what it looks for: with an embedded
// identity (and attested-or-embedded, which embeds it too) it finds the
// client key's PKCS#8 in the unsealed vault and nowhere in the package's
// bytes (sealed), and the report says a private key is in the package.
func TestFuseEmbeddedKeyScanFindsKey(t *testing.T) {
	w := newIdentityWorld(t)
	apk := filepath.Join(testenv.Root(t), "testdata", "apk", "v1v2v3.apk")
	aabIn := filepath.Join(testenv.Root(t), "testdata", "aab", "bundle.aab")
	for _, tc := range []struct {
		in   string
		mode fusionset.IdentityMode
	}{{apk, fusionset.IdentityEmbedded}, {aabIn, fusionset.IdentityEmbedded}, {apk, fusionset.IdentityAttestedOrEmbedded}} {
		t.Run(string(tc.mode)+"/"+filepath.Base(tc.in), func(t *testing.T) {
			bundle := strings.HasSuffix(tc.in, ".aab")
			fs := w.fusionSet(t, tc.mode, bundle, "")
			out := filepath.Join(t.TempDir(), "fused"+filepath.Ext(tc.in))
			data, res := fuseReport(t, tc.in, out, fs, w.signer)
			hits, plaintexts := w.scanPackage(t, out, res)
			for name := range plaintexts {
				if !hits.has("client key PKCS#8", "plaintext of "+name) || !hits.has("client key scalar", "plaintext of "+name) {
					t.Errorf("the scan does not find the client key in %s's plaintext; hits:\n%s", name, strings.Join(hits, "\n"))
				}
			}
			for _, h := range hits {
				if !strings.Contains(h, " in plaintext of ") || !strings.HasPrefix(h, "client key") {
					t.Errorf("unexpected hit: %s", h)
				}
			}
			var st struct {
				Predicate struct {
					MTLS report.MTLS `json:"mtls"`
				} `json:"predicate"`
			}
			if err := json.Unmarshal(payloadOf(t, data), &st); err != nil {
				t.Fatal(err)
			}
			m := st.Predicate.MTLS
			if m.Identity != string(tc.mode) || m.PrivateKeyInPackage == nil || !*m.PrivateKeyInPackage || !m.Vault.HasPrivateKey ||
				(m.AttestedCertificate != nil) != tc.mode.Attested() || res.Registration.Identity == nil == tc.mode.Attested() {
				t.Errorf("report mtls = %+v, registration identity %+v", m, res.Registration.Identity)
			}
		})
	}
}

// TestFuseAttestedDeterministic: the same attested fuse twice (fixed build
// time, as SOURCE_DATE_EPOCH gives) writes the same package and report
// bytes, for an APK and a bundle.
func TestFuseAttestedDeterministic(t *testing.T) {
	w := newIdentityWorld(t)
	for _, in := range []string{filepath.Join(testenv.Root(t), "testdata", "apk", "multidex.apk"), filepath.Join(testenv.Root(t), "testdata", "aab", "bundle-ec.aab")} {
		t.Run(filepath.Base(in), func(t *testing.T) {
			fs := w.fusionSet(t, fusionset.IdentityAttested, strings.HasSuffix(in, ".aab"), "")
			a, b := filepath.Join(t.TempDir(), "out"+filepath.Ext(in)), filepath.Join(t.TempDir(), "out"+filepath.Ext(in))
			ra, _ := fuseReport(t, in, a, fs, w.signer)
			rb, _ := fuseReport(t, in, b, fs, w.signer)
			if fileSum(t, a) != fileSum(t, b) || !bytes.Equal(ra, rb) {
				t.Fatal("two attested fuses of the same input differ")
			}
		})
	}
}

// TestFuseIPAAttested fuses Demo.ipa with each attested identity mode,
// signed with the fixture profile that grants App Attest, and checks the
// output with ipa.Verify and Python's plistlib (the app's CodeResources
// seals the framework's policy and vault), then scans every inflated entry,
// the file and the unsealed vault plaintext (opened for team + bundle id
// by the vault's documented FORMAT, not pkg/vault) for every encoding of
// every private key of the test, the Apple signing key included. Attested:
// none is there, the vault holds exactly the issuer CA chain and the
// attestation key DeriveAttestKeyFromSigner(Apple key, SHA-256(policy)),
// the registration carries it and the identity policy, the policy says
// mtls.identity=attested, and the signed report says no private key is in
// the package. Attested-or-embedded: the client key is in the vault
// plaintext (the embedded fallback) and nowhere else. A second attested
// fuse writes the same bytes.
func TestFuseIPAAttested(t *testing.T) {
	w := newIdentityWorld(t)
	fx := loadIOSFixture(t)
	w.keys["Apple signing key"] = fx.signer.Key
	fx.opts.Profiles[""] = mustReadFile(t, testenv.IOSFixture(t, "appattest.mobileprovision"))
	caFingerprint := opensslFingerprint(t, filepath.Join(w.dir, "client-ca.pem"))
	for _, mode := range []fusionset.IdentityMode{fusionset.IdentityAttested, fusionset.IdentityAttestedOrEmbedded} {
		t.Run(string(mode), func(t *testing.T) {
			fs := w.fusionSet(t, mode, false, `, "attestedCertificate": {"validity": "12h"}`)
			out := filepath.Join(t.TempDir(), "fused.ipa")
			res, err := Fuse(Request{In: testenv.IOSFixture(t, "Demo.ipa"), Out: out, FusionSet: fs, Signer: fx.signer, Now: buildTime, ToolVersion: "trustfuse test", IOS: fx.opts})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Warnings) != 0 {
				t.Errorf("warnings with a profile granting App Attest: %v", res.Warnings)
			}
			f, err := ipa.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ipa.Verify(f.IPA, ipa.VerifyOptions{Roots: fx.opts.Roots, Now: iosClock})
			f.Close()
			if err != nil || !res.Verification.Verified {
				t.Fatalf("ipa.Verify: %v", err)
			}
			entries := testenv.ZipEntries(t, out)
			seal := writeTemp(t, entries[iosAppDir+"_CodeSignature/CodeResources"])
			for _, n := range []string{"policy.bin", "vault.bin"} {
				got := testenv.Run(t, "python3", "-c", "import plistlib,sys; print(plistlib.load(open(sys.argv[1],'rb'))['files2'][sys.argv[2]]['hash2'].hex())",
					seal, "Frameworks/TrustFuse.framework/"+n)
				if want := sha256.Sum256(entries[iosTFDir+n]); strings.TrimSpace(got) != fmt.Sprintf("%x", want) {
					t.Errorf("the app seals %s as %s, the file's SHA-256 is %x", n, got, want)
				}
			}
			props := harness.LoadProperties(t, entries[iosTFDir+"policy.bin"])
			if props["mtls.identity"] != string(mode) {
				t.Errorf("policy mtls.identity=%q", props["mtls.identity"])
			}
			if got, want := res.Registration.Identity, (&attest.IdentityPolicy{Mode: string(mode), ValiditySeconds: 12 * 3600,
				MinSecurityLevel: "tee", RequireVerifiedBoot: true}); got == nil || *got != *want || res.Registration.IOS == nil {
				t.Errorf("registration identity %+v, want %+v (iOS %v)", got, want, res.Registration.IOS)
			}

			hits, plaintexts := w.scanPackage(t, out, res)
			st := res.Statement(report.Build{Version: "test", Commit: "none"}, fs)
			data, err := report.Sign(st, fx.signer.Key, fx.signer.Chain)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := report.Open(data); err != nil {
				t.Fatalf("report: %v", err)
			}
			m := st.Predicate.MTLS
			if mode == fusionset.IdentityAttestedOrEmbedded {
				want := scanned{"client key PKCS#8 in plaintext of " + iosTFDir + "vault.bin", "client key scalar in plaintext of " + iosTFDir + "vault.bin"}
				for _, h := range want {
					if !slices.Contains(hits, h) {
						t.Errorf("the scan does not find %q; hits:\n%s", h, strings.Join(hits, "\n"))
					}
				}
				for _, h := range hits {
					if !strings.HasPrefix(h, "client key") || !strings.HasSuffix(h, " in plaintext of "+iosTFDir+"vault.bin") {
						t.Errorf("unexpected hit: %s", h)
					}
				}
				if m.Identity != string(mode) || m.PrivateKeyInPackage == nil || !*m.PrivateKeyInPackage {
					t.Errorf("report mtls = %+v", m)
				}
				return
			}
			if len(hits) > 0 {
				t.Fatalf("private key material in the attested IPA:\n%s", strings.Join(hits, "\n"))
			}
			signerDER, _ := x509.MarshalPKCS8PrivateKey(fx.signer.Key)
			wantKey := attest.DeriveAttestKeyFromSigner(signerDER, sha256.Sum256(entries[iosTFDir+"policy.bin"]))
			// u32 0 (no key) | u16 1 | u32 len | the CA's DER | u32 32 | attest key.
			want := []byte{0, 0, 0, 0, 0, 1}
			want = append(want, byte(len(w.ca.Raw)>>24), byte(len(w.ca.Raw)>>16), byte(len(w.ca.Raw)>>8), byte(len(w.ca.Raw)))
			want = append(append(want, w.ca.Raw...), 0, 0, 0, 32)
			want = append(want, wantKey...)
			if !bytes.Equal(plaintexts[iosTFDir+"vault.bin"], want) {
				t.Error("vault plaintext is not (no key, the issuer CA, the attest key from the Apple signing key)")
			}
			if !bytes.Equal(res.Registration.AttestKey, wantKey) {
				t.Error("registered attestation key is not DeriveAttestKeyFromSigner of the Apple signing key over the policy")
			}
			if m.Identity != "attested" || m.PrivateKeyInPackage == nil || *m.PrivateKeyInPackage || m.Vault == nil || m.Vault.HasPrivateKey ||
				!slices.Equal(m.Vault.Chain, []report.CertRef{{Subject: w.ca.Subject.String(), SHA256: caFingerprint}}) || m.SHA256 != caFingerprint {
				t.Errorf("report mtls = %+v", m)
			}
			if l := st.Predicate.Limits; !strings.HasPrefix(l[0], "No client private key is in the package") || !strings.Contains(l[0], "Secure Enclave") {
				t.Errorf("limits do not say the package holds no private key: %q", l[0])
			}
			// Same inputs and build time: the same bytes.
			again := filepath.Join(t.TempDir(), "again.ipa")
			if _, err := Fuse(Request{In: testenv.IOSFixture(t, "Demo.ipa"), Out: again, FusionSet: fs, Signer: fx.signer, Now: buildTime, ToolVersion: "trustfuse test", IOS: fx.opts}); err != nil {
				t.Fatal(err)
			}
			if fileSum(t, again) != fileSum(t, out) {
				t.Error("two attested fuses of the same IPA differ")
			}
		})
	}
}

// TestFuseIPAAppAttestEntitlement: an attested identity needs the profile
// (or the entitlements given) to grant App Attest. Attested without it is
// refused as a profile problem (exit 4) naming the entitlement and the
// profile, before anything is written; attested-or-embedded goes on with a
// warning that every device falls back; entitlements given that include
// it are enough.
func TestFuseIPAAppAttestEntitlement(t *testing.T) {
	w := newIdentityWorld(t)
	appattest := mustReadFile(t, testenv.IOSFixture(t, "appattest.mobileprovision"))
	ents := func(extra string) []byte {
		return []byte(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict>` +
			`<key>application-identifier</key><string>ABCDE12345.com.example.demo</string>` +
			`<key>com.apple.developer.team-identifier</key><string>ABCDE12345</string>` + extra + `</dict></plist>`)
	}
	for _, tc := range []struct {
		name    string
		mode    fusionset.IdentityMode
		profile []byte // nil: app.mobileprovision (no App Attest)
		ents    []byte
		refused bool
		warned  bool
	}{
		{"attested, profile without App Attest", fusionset.IdentityAttested, nil, nil, true, false},
		{"attested, profile grants it, entitlements given without it", fusionset.IdentityAttested, appattest, ents(""), true, false},
		{"attested, profile grants it, entitlements given with it", fusionset.IdentityAttested, appattest,
			ents(`<key>` + AppAttestEntitlement + `</key><string>production</string>`), false, false},
		{"attested-or-embedded, profile without App Attest", fusionset.IdentityAttestedOrEmbedded, nil, nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := loadIOSFixture(t)
			if tc.profile != nil {
				fx.opts.Profiles[""] = tc.profile
			}
			fx.opts.Entitlements = tc.ents
			dir := t.TempDir()
			out := filepath.Join(dir, "out.ipa")
			res, err := Fuse(Request{In: testenv.IOSFixture(t, "Demo.ipa"), Out: out, FusionSet: w.fusionSet(t, tc.mode, false, ""), Signer: fx.signer, Now: buildTime, IOS: fx.opts})
			if tc.refused {
				var pe *provision.ProfileError
				if !errors.As(err, &pe) || pe.Reason != provision.ReasonEntitlement || !strings.Contains(err.Error(), AppAttestEntitlement) ||
					(tc.ents == nil && !strings.Contains(err.Error(), "profile Demo (")) {
					t.Fatalf("Fuse = %v, want a ProfileError naming %s and the profile", err, AppAttestEntitlement)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Fatalf("files left behind: %v", entries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if warned := len(res.Warnings) == 1 && strings.Contains(res.Warnings[0], AppAttestEntitlement) &&
				strings.Contains(res.Warnings[0], "every device falls back"); warned != tc.warned || (!tc.warned && len(res.Warnings) != 0) {
				t.Fatalf("warnings %q, want a fallback warning: %v", res.Warnings, tc.warned)
			}
		})
	}
}

// opensslFingerprint is `openssl x509 -fingerprint -sha256` of a PEM
// certificate, lowercase hex without colons.
func opensslFingerprint(t *testing.T, path string) string {
	t.Helper()
	out := testenv.Run(t, "openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", path)
	_, fp, ok := strings.Cut(strings.TrimSpace(out), "=")
	if !ok {
		t.Fatalf("openssl fingerprint output %q", out)
	}
	return strings.ToLower(strings.ReplaceAll(fp, ":", ""))
}
