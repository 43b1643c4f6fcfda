package attest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/fusion"
	"github.com/trustfuse/trustfuse/fusion/fusionset"
	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/vault"
)

// TestFusedAppAttests: an APK fused by the pipeline is registered, and the
// measurement recomputed independently from the files (archive/zip for the
// entries, apksigner for the signer digest) is the registered release id;
// the key unsealed from the APK's vault proves it and gets a token, and the
// derivation is reproducible.
func TestFusedAppAttests(t *testing.T) {
	root := testenv.Root(t)
	in := filepath.Join(root, "testdata", "apk", "multidex.apk")
	fs, err := fusionset.Load(filepath.Join(root, "fusion", "examples", "demo.json"), fusionset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.Load(filepath.Join(root, "testdata", "keys", "rsa-keytool.p12"), []byte("fixture-pass"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	now := time.Unix(1700000000, 0).UTC()
	var regs []*attest.Registration
	for _, name := range []string{"a.apk", "b.apk"} {
		res, err := fusion.Fuse(fusion.Request{In: in, Out: filepath.Join(dir, name), FusionSet: fs, Signer: signer, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(res); bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(res.Registration.AttestKey))) {
			t.Fatal("attestation key leaks into the JSON result")
		}
		regs = append(regs, res.Registration)
	}
	reg := regs[0]
	if !bytes.Equal(reg.AttestKey, regs[1].AttestKey) || len(reg.AttestKey) != 32 {
		t.Fatal("attestation key not reproducible")
	}
	out := filepath.Join(dir, "a.apk")

	// Independent measurement.
	hexSum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	inE, outE := testenv.ZipEntries(t, in), testenv.ZipEntries(t, out)
	m := attest.Measurement{Package: reg.Measurement.Package, VersionCode: reg.Measurement.VersionCode, DexDigests: map[string]string{}}
	dexName := regexp.MustCompile(`^classes\d*\.dex$`)
	for name, b := range outE {
		if !dexName.MatchString(name) {
			continue
		}
		if _, ok := inE[name]; ok {
			m.DexDigests[name] = hexSum(b)
		} else {
			m.RuntimeDigest = hexSum(b)
		}
	}
	m.ManifestDigest = hexSum(outE["AndroidManifest.xml"])
	certs := testenv.Run(t, "apksigner", "verify", "--print-certs", out)
	for _, mm := range regexp.MustCompile(`certificate SHA-256 digest: ([0-9a-f]{64})`).FindAllStringSubmatch(certs, -1) {
		m.SignerDigests = append(m.SignerDigests, mm[1])
	}
	if got := m.SHA256(); got != reg.ID || got != reg.Measurement.SHA256() {
		t.Fatalf("independent measurement %s, registered %s\n%+v\n%+v", got, reg.ID, m, reg.Measurement)
	}

	// The key in the vault is the registered key.
	d, _ := hex.DecodeString(m.SignerDigests[0])
	var digest [32]byte
	copy(digest[:], d)
	id, err := vault.Open(outE[androidrt.VaultAsset], androidrt.Pepper(), digest, outE[androidrt.PolicyAsset])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(id.AttestKey, reg.AttestKey) {
		t.Fatal("vault attestation key differs from the registered one")
	}

	// Register and attest with what the app holds.
	r, err := attest.OpenRegistry(filepath.Join(dir, "reg.db"), bytes.Repeat([]byte{3}, 32), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Add(*reg, attest.Event{At: now}); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv, err := attest.NewServer(attest.Config{Issuer: "i", Audience: "a", TokenTTL: time.Minute, SigningKey: key,
		NonceKey: bytes.Repeat([]byte{4}, 32), Registry: r, Replay: attest.NewMemoryReplay(10, nil), Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/challenge", nil))
	var ch attest.ChallengeResponse
	if err := json.Unmarshal(w.Body.Bytes(), &ch); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(ch.Nonce)
	body, _ := json.Marshal(attest.AttestRequest{Nonce: ch.Nonce, Measurement: m,
		Proof: base64.RawURLEncoding.EncodeToString(attest.Proof(id.AttestKey, raw, m.Sum()))})
	req := httptest.NewRequest("POST", "/v1/attest", bytes.NewReader(body)).WithContext(context.Background())
	req.Header.Set("Content-Type", "application/json")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"token":"`) {
		t.Fatalf("attest: %d %s", w.Code, w.Body)
	}
}
