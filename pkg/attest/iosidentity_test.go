package attest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

// TestVerifyIOSIdentity: App Attest objects minted under a test root shaped
// like Apple's (internal/keyattesttest) for clientDataHash =
// SHA-256(nonce || SPKI) are accepted for that key only; one case per way
// a request can be wrong, each with its reason.
func TestVerifyIOSIdentity(t *testing.T) {
	now := time.Now()
	root, mid := keyattesttest.NewAppAttestCA(t)
	_, otherMid := keyattesttest.NewAppAttestCA(t)
	v, err := keyattest.NewAppAttestVerifier([]*x509.Certificate{root.Cert})
	if err != nil {
		t.Fatal(err)
	}
	m := IOSMeasurement{Platform: PlatformIOS, BundleID: "com.example.demo", TeamID: "ABCDE12345",
		AppCDHash: "a1", RuntimeCDHash: "0f", Version: "1", Build: "1"}
	other := m
	other.BundleID = "com.example.other"
	iosRel := &Release{ID: m.SHA256(), IOS: &m}
	idKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	spki := spkiOf(t, &idKey.PublicKey)
	compressed := append(append([]byte{}, spki[:26]...), elliptic.MarshalCompressed(elliptic.P256(), idKey.X, idKey.Y)...)
	compressed[1], compressed[24] = byte(len(compressed)-2), 34 // SEQUENCE and BIT STRING lengths

	nonce, otherNonce := []byte("a 56-byte challenge nonce as serve makes, padded to size"), []byte("another nonce")
	aaKey := keyattesttest.NewKey(t, "p256").(*ecdsa.PrivateKey)
	keyID := base64.StdEncoding.EncodeToString(keyattesttest.AppAttestKeyID(t, aaKey))
	// object mints an attestation for SHA-256(n || key) under ca for team.bundle.
	object := func(ca *keyattesttest.CA, n, key []byte, team, bundle string) string {
		h := sha256.New()
		h.Write(n)
		h.Write(key)
		return base64.StdEncoding.EncodeToString(keyattesttest.MintAppAttest(t, ca, aaKey, keyattesttest.AppAttestSpec{
			TeamID: team, BundleID: bundle, ClientDataHash: h.Sum(nil), NotBefore: now.Add(-time.Minute)}))
	}
	b64 := base64.StdEncoding.EncodeToString
	req := func(obj string, key []byte) *AttestRequest {
		r := &AttestRequest{AppAttestation: obj, IdentityPublicKey: b64(key)}
		if obj != "" {
			r.AppAttestKeyID = keyID
		}
		return r
	}
	good := object(mid, nonce, spki, "ABCDE12345", m.BundleID)
	cases := []struct {
		name   string
		rel    *Release
		req    *AttestRequest
		reason string
	}{
		{"accepted", iosRel, req(good, spki), ""},
		{"accepted, release App Attest off: the measurement's team",
			&Release{IOS: &m, AppAttest: &AppAttestPolicy{Mode: KeyAttestationOff}}, req(good, spki), ""},
		{"object for another nonce", iosRel, req(object(mid, otherNonce, spki, "ABCDE12345", m.BundleID), spki),
			"certificate_app_attest_challenge_mismatch"},
		{"object for the SHA-256 of the nonce alone (a /v1/attest object)", iosRel,
			req(object(mid, nil, nonce, "ABCDE12345", m.BundleID), spki), "certificate_app_attest_challenge_mismatch"},
		{"another identity key than the one hashed", iosRel, req(good, spkiOf(t, &otherKey.PublicKey)),
			"certificate_app_attest_challenge_mismatch"},
		{"app id of another team", iosRel, req(object(mid, nonce, spki, "ZZZZZ99999", m.BundleID), spki),
			"certificate_app_attest_application_mismatch"},
		{"app id of another bundle", iosRel, req(object(mid, nonce, spki, "ABCDE12345", other.BundleID), spki),
			"certificate_app_attest_application_mismatch"},
		{"release's App Attest team differs", &Release{IOS: &m, AppAttest: &AppAttestPolicy{Mode: KeyAttestationOptional,
			TeamID: "ZZZZZ99999"}}, req(good, spki), "certificate_app_attest_application_mismatch"},
		{"object under an untrusted root", iosRel, req(object(otherMid, nonce, spki, "ABCDE12345", m.BundleID), spki),
			"certificate_app_attest_root_untrusted"},
		{"object not base64", iosRel, req("!!", spki), "certificate_app_attest_malformed"},
		{"missing object", iosRel, req("", spki), "certificate_app_attest_missing"},
		{"missing identity key", iosRel, &AttestRequest{AppAttestation: good, AppAttestKeyID: keyID},
			"certificate_identity_key_missing"},
		{"P-384 key", iosRel, req(object(mid, nonce, spkiOf(t, &p384.PublicKey), "ABCDE12345", m.BundleID), spkiOf(t, &p384.PublicKey)),
			"certificate_key_not_p256"},
		{"RSA key", iosRel, req(good, spkiOf(t, &rsaKey.PublicKey)), "certificate_key_not_p256"},
		{"Ed25519 key", iosRel, req(good, spkiOf(t, edPub)), "certificate_key_not_p256"},
		{"SPKI with a trailing byte", iosRel, req(good, append(append([]byte{}, spki...), 0)), "certificate_key_malformed"},
		{"SPKI truncated", iosRel, req(good, spki[:len(spki)-1]), "certificate_key_malformed"},
		{"compressed point", iosRel, req(good, compressed), "certificate_key_malformed"},
		{"raw X9.63 point, not an SPKI", iosRel, req(good, spki[26:]), "certificate_key_malformed"},
		{"identity key not base64", iosRel, &AttestRequest{AppAttestation: good, AppAttestKeyID: keyID, IdentityPublicKey: "%%"},
			"certificate_key_malformed"},
		{"Android release", &Release{Measurement: Measurement{Package: m.BundleID}}, req(good, spki), "certificate_release_not_ios"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, reason := VerifyIOSIdentity(v, c.req, c.rel, nonce, now)
			if reason != c.reason {
				t.Fatalf("reason %q, want %q", reason, c.reason)
			}
			if c.reason != "" {
				if id != nil {
					t.Fatal("an identity with a refusal")
				}
				return
			}
			if !id.PublicKey.Equal(&idKey.PublicKey) || string(id.SPKI) != string(spki) || id.AppAttest != keyattest.EnvironmentProduction {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

// FuzzVerifyIOSIdentity: arbitrary identity keys and App Attest objects
// never panic and are accepted only with the key the object was minted
// for.
func FuzzVerifyIOSIdentity(f *testing.F) {
	now := time.Now()
	root, mid := keyattesttest.NewAppAttestCA(f)
	v, err := keyattest.NewAppAttestVerifier([]*x509.Certificate{root.Cert})
	if err != nil {
		f.Fatal(err)
	}
	m := IOSMeasurement{Platform: PlatformIOS, BundleID: "com.example.demo", TeamID: "ABCDE12345"}
	rel := &Release{IOS: &m}
	idKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&idKey.PublicKey)
	nonce := []byte("nonce")
	aaKey := keyattesttest.NewKey(f, "p256").(*ecdsa.PrivateKey)
	keyID := base64.StdEncoding.EncodeToString(keyattesttest.AppAttestKeyID(f, aaKey))
	cdh := sha256.Sum256(append(append([]byte{}, nonce...), spki...))
	obj := keyattesttest.MintAppAttest(f, mid, aaKey, keyattesttest.AppAttestSpec{TeamID: m.TeamID, BundleID: m.BundleID,
		ClientDataHash: cdh[:], NotBefore: now.Add(-time.Minute)})
	f.Add(spki, obj)
	f.Add(spki[:10], obj[:10])
	f.Fuzz(func(t *testing.T, key, object []byte) {
		req := &AttestRequest{AppAttestKeyID: keyID, AppAttestation: base64.StdEncoding.EncodeToString(object),
			IdentityPublicKey: base64.StdEncoding.EncodeToString(key)}
		id, reason := VerifyIOSIdentity(v, req, rel, nonce, now)
		if (id == nil) == (reason == "") {
			t.Fatalf("identity %v with reason %q", id, reason)
		}
		if id != nil && string(id.SPKI) != string(spki) {
			t.Fatalf("accepted another key %x", key)
		}
	})
}
