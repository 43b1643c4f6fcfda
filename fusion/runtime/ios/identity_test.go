package iosrt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// TestP256SPKI: the SubjectPublicKeyInfo the core builds from
// SecKeyCopyExternalRepresentation's 65-byte point is Go's
// x509.MarshalPKIXPublicKey DER byte for byte, and openssl reads it as a
// prime256v1 key with that point; other encodings are refused.
func TestP256SPKI(t *testing.T) {
	openssl := testenv.Tool(t, "openssl")
	for i := range 3 {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		point, _ := k.PublicKey.Bytes()
		got := mustRun(t, "p256-spki", hex.EncodeToString(point))
		want, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if got != hex.EncodeToString(want) {
			t.Fatalf("key %d: core SPKI %s, Go %x", i, got, want)
		}
		der, _ := hex.DecodeString(got)
		out, err := exec.Command(openssl, "pkey", "-pubin", "-inform", "DER", "-in", writeFile(t, "spki.der", der), "-noout", "-text").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl pkey: %v\n%s", err, out)
		}
		hexPoint := strings.NewReplacer(" ", "", "\n", "", ":", "").Replace(string(out))
		if !strings.Contains(string(out), "ASN1 OID: prime256v1") || !strings.Contains(hexPoint, hex.EncodeToString(point)) {
			t.Fatalf("openssl reads:\n%s", out)
		}
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	point, _ := k.PublicKey.Bytes()
	for name, bad := range map[string][]byte{
		"compressed":      elliptic.MarshalCompressed(elliptic.P256(), k.X, k.Y),
		"64 bytes":        point[1:],
		"66 bytes":        append(append([]byte{}, point...), 0),
		"hybrid prefix 6": append([]byte{6}, point[1:]...),
		"empty":           {},
	} {
		if out, code := run(t, "p256-spki", hex.EncodeToString(bad)); code != 2 {
			t.Errorf("%s: exit %d (%s), want 2 (format)", name, code, out)
		}
	}
}

// identityRelease is an iOS release registered as fuse --register would,
// with the attestation key the vault holds.
func identityRelease(t *testing.T) (attest.IOSMeasurement, *attest.Release, []byte) {
	m := measurements["ascii"]
	key := randBytes(t, 32)
	return m, &attest.Release{ID: m.SHA256(), IOS: &m, AttestKey: key}, key
}

// TestCertificateRequestVerifies: the /v1/certificate body the core builds
// (clientDataHash from the core, the App Attest object minted for it under
// a test root by internal/keyattesttest) is accepted by
// attest.VerifyIOSIdentity, the key it returns is the identity key, and the
// proof is the one /v1/attest checks; a body naming another key, or whose
// object was made for another nonce, is refused.
func TestCertificateRequestVerifies(t *testing.T) {
	now := time.Now()
	root, mid := keyattesttest.NewAppAttestCA(t)
	v, err := keyattest.NewAppAttestVerifier([]*x509.Certificate{root.Cert})
	if err != nil {
		t.Fatal(err)
	}
	m, rel, attestKey := identityRelease(t)
	aaKey := keyattesttest.NewKey(t, "p256").(*ecdsa.PrivateKey)
	keyID := base64.StdEncoding.EncodeToString(keyattesttest.AppAttestKeyID(t, aaKey))
	idKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spkiHex := func(k *ecdsa.PrivateKey) string {
		p, _ := k.PublicKey.Bytes()
		return mustRun(t, "p256-spki", hex.EncodeToString(p))
	}
	raw, otherRaw := randBytes(t, 56), randBytes(t, 56)
	nonce := base64.RawURLEncoding.EncodeToString(raw)
	object := func(nonceRaw []byte, spki string) string {
		cdh, _ := hex.DecodeString(mustRun(t, "client-data-hash", base64.RawURLEncoding.EncodeToString(nonceRaw), spki))
		der, _ := hex.DecodeString(spki)
		if want := sha256.Sum256(append(append([]byte{}, nonceRaw...), der...)); hex.EncodeToString(want[:]) != hex.EncodeToString(cdh) {
			t.Fatalf("core clientDataHash %x, SHA-256(nonce || SPKI) %x", cdh, want)
		}
		return base64.StdEncoding.EncodeToString(keyattesttest.MintAppAttest(t, mid, aaKey, keyattesttest.AppAttestSpec{
			TeamID: m.TeamID, BundleID: m.BundleID, ClientDataHash: cdh, NotBefore: now.Add(-time.Minute)}))
	}
	for _, c := range []struct {
		name       string
		objectFor  []byte // nonce the object was made for
		hashed     string // SPKI the object was made for
		sent       string // SPKI in the body
		wantReason string
	}{
		{"accepted", raw, spkiHex(idKey), spkiHex(idKey), ""},
		{"another key sent than attested", raw, spkiHex(idKey), spkiHex(otherKey), "certificate_app_attest_challenge_mismatch"},
		{"object for another nonce", otherRaw, spkiHex(idKey), spkiHex(idKey), "certificate_app_attest_challenge_mismatch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := mustRun(t, append(append([]string{"certificate-request"}, measureArgs(m)...), nonce, hex.EncodeToString(attestKey),
				"device-1", "1", keyID, object(c.objectFor, c.hashed), c.sent)...)
			var req attest.AttestRequest
			if err := json.Unmarshal([]byte(body), &req); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			proof, err := base64.RawURLEncoding.DecodeString(req.Proof)
			if err != nil || string(proof) != string(attest.Proof(attestKey, raw, req.IOS.Sum())) || req.Nonce != nonce ||
				req.IOS.SHA256() != rel.ID || req.AppAttestKeyID != keyID {
				t.Fatalf("body %s: not the /v1/attest body of this release", body)
			}
			id, reason := attest.VerifyIOSIdentity(v, &req, rel, raw, now)
			if reason != c.wantReason {
				t.Fatalf("reason %q, want %q", reason, c.wantReason)
			}
			if reason == "" && hex.EncodeToString(id.SPKI) != c.sent {
				t.Fatalf("identity SPKI %x, sent %s", id.SPKI, c.sent)
			}
		})
	}
	if out, code := run(t, append(append([]string{"certificate-request"}, measureArgs(m)...), nonce, "00", "", "0", keyID, "x", "")...); code != 1 {
		t.Errorf("no identity key: exit %d (%s), want 1 (argument)", code, out)
	}
	if out, code := run(t, "client-data-hash", "not*base64url", "00"); code != 2 {
		t.Errorf("malformed nonce: exit %d (%s), want 2", code, out)
	}
}

// issue makes a DER certificate for a fresh P-256 key under itself, valid
// from nb to na.
func issue(t *testing.T, nb, na time.Time) []byte {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "TrustFuse attested device"},
		NotBefore: nb, NotAfter: na}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestCertValidity: the core reads notBefore and notAfter as Go's x509
// does, across UTCTime (1950-2049) and GeneralizedTime (other years) and
// with and without a version field (openssl's v1 certificate).
func TestCertValidity(t *testing.T) {
	d := func(y int, mo time.Month, day, h, mi, s int) time.Time {
		return time.Date(y, mo, day, h, mi, s, 0, time.UTC)
	}
	certs := map[string][]byte{
		"now, 24 h":                   issue(t, time.Now().Add(-5*time.Minute).Truncate(time.Second), time.Now().Add(24*time.Hour).Truncate(time.Second)),
		"UTCTime edges 1950 and 2049": issue(t, d(1950, 1, 1, 0, 0, 0), d(2049, 12, 31, 23, 59, 59)),
		"GeneralizedTime 1949, 2050":  issue(t, d(1949, 12, 31, 23, 59, 59), d(2050, 1, 1, 0, 0, 0)),
		"leap day, far future":        issue(t, d(2028, 2, 29, 12, 0, 0), d(9999, 12, 31, 23, 59, 59)),
	}
	key := filepath.Join(t.TempDir(), "k.pem")
	testenv.Run(t, "openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
	v1 := filepath.Join(t.TempDir(), "v1.der")
	csr := filepath.Join(t.TempDir(), "r.csr")
	testenv.Run(t, "openssl", "req", "-new", "-key", key, "-subj", "/CN=v1", "-out", csr)
	testenv.Run(t, "openssl", "x509", "-req", "-in", csr, "-signkey", key, "-days", "3", "-outform", "DER", "-out", v1)
	v1der, err := os.ReadFile(v1)
	if err != nil {
		t.Fatal(err)
	}
	certs["openssl v1 certificate (no version field)"] = v1der
	for name, der := range certs {
		t.Run(name, func(t *testing.T) {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			want := strconv.FormatInt(c.NotBefore.Unix(), 10) + " " + strconv.FormatInt(c.NotAfter.Unix(), 10)
			if got := mustRun(t, "cert-validity", writeFile(t, "c.der", der)); got != want {
				t.Fatalf("core %s, Go %s", got, want)
			}
		})
	}
	good := certs["now, 24 h"]
	for name, bad := range map[string][]byte{
		"truncated":      good[:100],
		"not a sequence": append([]byte{0x31}, good[1:]...),
		"empty":          {},
		"an SPKI":        good[len(good)-91:],
	} {
		if out, code := run(t, "cert-validity", writeFile(t, "c.der", bad)); code != 2 {
			t.Errorf("%s: exit %d (%s), want 2", name, code, out)
		}
	}
}

// TestRenewal: renew when less than a third of the lifetime is left, or
// after expiry; a certificate with an empty validity is always renewed.
func TestRenewal(t *testing.T) {
	const nb, na = 1_000_000, 1_000_000 + 86_400 // 24 h; a third is 28 800 s
	for _, c := range []struct {
		name string
		now  int64
		want string
	}{
		{"just issued", nb, "0"},
		{"before validity", nb - 100, "0"},
		{"half way", nb + 43_200, "0"},
		{"exactly a third left", na - 28_800, "0"},
		{"a second less than a third left", na - 28_799, "1"},
		{"last second", na - 1, "1"},
		{"expired", na, "1"},
		{"long expired", na + 1e9, "1"},
	} {
		if got := mustRun(t, "renew", strconv.FormatInt(c.now, 10), strconv.Itoa(nb), strconv.Itoa(na)); got != c.want {
			t.Errorf("%s: renew %s, want %s", c.name, got, c.want)
		}
	}
	if got := mustRun(t, "renew", "5", "10", "10"); got != "1" {
		t.Errorf("empty validity: renew %s, want 1", got)
	}
}

// certificateAnswer is the 200 answer of POST /v1/certificate as the
// contract defines it and serve's encoding/json writes it.
type certificateAnswer struct {
	Certificate    string    `json:"certificate"`
	Chain          []string  `json:"chain"`
	ExpiresAt      time.Time `json:"expiresAt"`
	Token          string    `json:"token"`
	TokenExpiresAt time.Time `json:"tokenExpiresAt"`
}

// parsedAnswer is what the hosttest driver prints for a parsed answer.
type parsedAnswer struct {
	Certificate    string   `json:"certificate"`
	Chain          []string `json:"chain"`
	ExpiresAt      int64    `json:"expiresAt"`
	Token          string   `json:"token"`
	TokenExpiresAt int64    `json:"tokenExpiresAt"`
}

// TestCertificateResponse: the core parses answers encoded by Go's
// encoding/json (times as RFC 3339 with nanoseconds, in UTC or with an
// offset; extra keys; indentation) into the DER and times Go decodes, and
// refuses each kind of malformed answer.
func TestCertificateResponse(t *testing.T) {
	now := time.Now()
	leaf, ca1, ca2 := issue(t, now, now.Add(24*time.Hour)), issue(t, now, now.AddDate(1, 0, 0)), issue(t, now, now.AddDate(2, 0, 0))
	b64 := base64.StdEncoding.EncodeToString
	ans := certificateAnswer{Certificate: b64(leaf), Chain: []string{b64(ca1), b64(ca2)}, ExpiresAt: now.Add(24 * time.Hour).UTC(),
		Token: "eyJhbGciOiJFUzI1NiJ9.eyJyZWwiOiJ4In0.c2ln", TokenExpiresAt: now.Add(5 * time.Minute).UTC()}
	marshal := func(v any, indent bool) string {
		var b []byte
		var err error
		if indent {
			b, err = json.MarshalIndent(v, "", "  ")
		} else {
			b, err = json.Marshal(v)
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	plain := marshal(ans, false)
	offset := ans
	offset.ExpiresAt = ans.ExpiresAt.In(time.FixedZone("", -(5*3600 + 30*60)))
	offset.TokenExpiresAt = ans.TokenExpiresAt.In(time.FixedZone("", 2*3600))
	whole := ans
	whole.ExpiresAt, whole.TokenExpiresAt = ans.ExpiresAt.Truncate(time.Second), ans.TokenExpiresAt.Truncate(time.Second)
	extra := strings.Replace(plain, "{", `{"n":-1.5e3,"b":true,"z":null,"s":"x",`, 1)
	for name, body := range map[string]string{
		"encoding/json":          plain,
		"indented":               marshal(ans, true),
		"offset times":           marshal(offset, false),
		"whole seconds":          marshal(whole, false),
		"extra scalar keys":      extra,
		"one issuer certificate": strings.Replace(plain, `,"`+b64(ca2)+`"`, "", 1),
	} {
		t.Run(name, func(t *testing.T) {
			var want certificateAnswer
			if err := json.Unmarshal([]byte(body), &want); err != nil {
				t.Fatal(err)
			}
			var got parsedAnswer
			if err := json.Unmarshal([]byte(mustRun(t, "certificate-response", writeFile(t, "a.json", []byte(body)))), &got); err != nil {
				t.Fatal(err)
			}
			der := func(s string) string {
				b, _ := base64.StdEncoding.DecodeString(s)
				return hex.EncodeToString(b)
			}
			var chain []string
			for _, c := range want.Chain {
				chain = append(chain, der(c))
			}
			if got.Certificate != der(want.Certificate) || strings.Join(got.Chain, ",") != strings.Join(chain, ",") ||
				got.ExpiresAt != want.ExpiresAt.Unix() || got.Token != want.Token || got.TokenExpiresAt != want.TokenExpiresAt.Unix() {
				t.Fatalf("core %+v\nGo %+v", got, want)
			}
		})
	}
	nine := ans
	nine.Chain = make([]string, 9)
	for i := range nine.Chain {
		nine.Chain[i] = b64(ca1)
	}
	exp := ans.ExpiresAt.Format(time.RFC3339Nano)
	for name, body := range map[string]string{
		"token missing":            strings.Replace(plain, `"token":"`+ans.Token+`",`, "", 1),
		"certificate twice":        strings.Replace(plain, "{", `{"certificate":"`+b64(leaf)+`",`, 1),
		"empty chain":              strings.Replace(plain, `["`+b64(ca1)+`","`+b64(ca2)+`"]`, "[]", 1),
		"chain not an array":       strings.Replace(plain, `["`+b64(ca1)+`","`+b64(ca2)+`"]`, `"`+b64(ca1)+`"`, 1),
		"nine issuer certificates": marshal(nine, false),
		"escape in the token":      strings.Replace(plain, ans.Token, `a\/b`, 1),
		"empty token":              strings.Replace(plain, ans.Token, "", 1),
		"certificate not base64":   strings.Replace(plain, b64(leaf), "*"+b64(leaf)[1:], 1),
		"certificate unpadded":     strings.Replace(plain, b64(leaf), "MA", 1), // "MA==" without its padding
		"month 13":                 strings.Replace(plain, exp, "2026-13-01T00:00:00Z", 1),
		"30 February":              strings.Replace(plain, exp, "2028-02-30T00:00:00Z", 1),
		"leap second":              strings.Replace(plain, exp, "2016-12-31T23:59:60Z", 1),
		"no zone":                  strings.Replace(plain, exp, "2026-12-07T08:00:00", 1),
		"empty fraction":           strings.Replace(plain, exp, "2026-12-07T08:00:00.Z", 1),
		"nested object key":        strings.Replace(plain, "{", `{"o":{},`, 1),
		"trailing garbage":         plain + "x",
		"an array":                 "[" + plain + "]",
		"truncated":                plain[:len(plain)-1],
	} {
		if out, code := run(t, "certificate-response", writeFile(t, "a.json", []byte(body))); code != 2 {
			t.Errorf("%s: exit %d (%s), want 2 (format)", name, code, out)
		}
	}
	if out, code := run(t, "certificate-response", writeFile(t, "a.json", []byte(plain)), "100"); code != 1 {
		t.Errorf("100-byte buffer: exit %d (%s), want 1 (space)", code, out)
	}
}

// TestIdentityHostileInputs: randomly corrupted /v1/certificate answers and
// certificates never crash the core or read out of bounds (ASan/UBSan, see
// run): parsed or refused as malformed.
func TestIdentityHostileInputs(t *testing.T) {
	now := time.Now()
	cert := issue(t, now, now.Add(24*time.Hour))
	b64 := base64.StdEncoding.EncodeToString
	answer, err := json.Marshal(certificateAnswer{Certificate: b64(cert), Chain: []string{b64(cert)}, ExpiresAt: now,
		Token: "a.b.c", TokenExpiresAt: now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if _, code := run(t, "certificate-response", writeFile(t, "a.json", mutate(t, answer, 1+randN(t, 8)))); code != 0 && code != 2 {
			t.Fatalf("answer mutation %d: exit %d", i, code)
		}
		if _, code := run(t, "cert-validity", writeFile(t, "c.der", mutate(t, cert, 1+randN(t, 8)))); code != 0 && code != 2 {
			t.Fatalf("certificate mutation %d: exit %d", i, code)
		}
	}
}
