package keyattesttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/keyattest"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func policy(s Spec) keyattest.Policy {
	return keyattest.Policy{
		Challenge:           s.Challenge,
		Package:             s.Packages[0].Name,
		SignerDigests:       s.SignatureDigests,
		MinSecurityLevel:    keyattest.TrustedEnvironment,
		RequireVerifiedBoot: true,
	}
}

// TestMintVerifies: a minted chain for a given key passes keyattest with a
// strict policy, carries that key, and openssl (independent) verifies it.
func TestMintVerifies(t *testing.T) {
	for _, kind := range []string{"rsa", "ecdsa"} {
		t.Run(kind, func(t *testing.T) {
			root := NewRoot(t, kind, "m1nt"+kind)
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			s := GoodSpec([]byte("challenge-1"), "com.example.app", SignerDigest("signer"))
			chain := Mint(t, root, key.Public(), s)
			if len(chain) != 3 {
				t.Fatalf("%d certificates, want 3", len(chain))
			}
			v, err := keyattest.NewVerifier([]*x509.Certificate{root.Cert}, nil)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := v.Verify(chain, policy(s), now)
			if err != nil {
				t.Fatal(err)
			}
			if rec.AttestationVersion != 200 || rec.OSVersion != 140000 || string(rec.Challenge) != "challenge-1" {
				t.Fatalf("record %+v", rec)
			}
			leaf, err := x509.ParseCertificate(chain[0])
			if err != nil {
				t.Fatal(err)
			}
			if !key.PublicKey.Equal(leaf.PublicKey) {
				t.Fatal("leaf does not carry the given key")
			}

			dir := t.TempDir()
			write := func(name string, ders ...[]byte) string {
				var data []byte
				for _, d := range ders {
					data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
				}
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			out := testenv.Run(t, "openssl", "verify", "-no_check_time", "-CAfile", write("root.pem", chain[2]),
				"-untrusted", write("inter.pem", chain[1]), write("leaf.pem", chain[0]))
			if !strings.Contains(out, "leaf.pem: OK") {
				t.Fatalf("openssl verify: %s", out)
			}
		})
	}
}

// TestSpecFieldsReachVerifier: each field keyattest checks changes its
// verdict, so the encoder really writes them.
func TestSpecFieldsReachVerifier(t *testing.T) {
	root := NewRoot(t, "ecdsa", "f1elds")
	v, err := keyattest.NewVerifier([]*x509.Certificate{root.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := GoodSpec([]byte("c"), "com.example.app", SignerDigest("signer"))
	for _, tc := range []struct {
		name   string
		mod    func(*Spec)
		reason string
	}{
		{"challenge", func(s *Spec) { s.Challenge = []byte("d") }, keyattest.ReasonChallenge},
		{"package", func(s *Spec) { s.Packages[0].Name = "com.other" }, keyattest.ReasonApplication},
		{"digests", func(s *Spec) { s.SignatureDigests = [][]byte{SignerDigest("other")} }, keyattest.ReasonApplication},
		{"keymint level", func(s *Spec) { s.KeyMintLevel = keyattest.Software }, keyattest.ReasonSecurityLevel},
		{"rot in software", func(s *Spec) { s.RootOfTrustInSoftware = true }, keyattest.ReasonSecurityLevel},
		{"no rot", func(s *Spec) { s.NoRootOfTrust = true }, keyattest.ReasonSecurityLevel},
		{"boot state", func(s *Spec) { s.BootState = keyattest.Unverified }, keyattest.ReasonVerifiedBoot},
		{"unlocked", func(s *Spec) { s.DeviceLocked = false }, keyattest.ReasonVerifiedBoot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			s.Packages = append([]keyattest.PackageInfo(nil), good.Packages...)
			tc.mod(&s)
			_, err := v.Verify(Mint(t, root, nil, s), policy(good), now)
			if ke, ok := err.(*keyattest.Error); !ok || ke.Reason != tc.reason {
				t.Fatalf("Verify = %v, want reason %s", err, tc.reason)
			}
		})
	}
}

// recorder is a testing.TB that records Errorf instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}

// TestMintFailureIsNotFatal: a bad root makes Mint report through Errorf
// and return nil, not stop the goroutine.
func TestMintFailureIsNotFatal(t *testing.T) {
	r := &recorder{TB: t}
	if chain := Mint(r, &CA{}, nil, GoodSpec(nil, "p")); chain != nil || len(r.errs) != 1 {
		t.Fatalf("chain %v, errors %q", chain, r.errs)
	}
}

// TestMintFromHandler: the mint endpoint use — Mint inside HTTP handlers
// running on server goroutines, several at once.
func TestMintFromHandler(t *testing.T) {
	root := NewRoot(t, "ecdsa", "h4ndler")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chain := Mint(t, root, nil, GoodSpec([]byte(r.URL.Query().Get("c")), "com.example.app"))
		if chain == nil {
			http.Error(w, "mint failed", http.StatusInternalServerError)
			return
		}
		for _, c := range chain {
			_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: c})
		}
	}))
	defer srv.Close()
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			resp, err := http.Get(fmt.Sprintf("%s/?c=n%d", srv.URL, i))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil && strings.Count(string(body), "BEGIN CERTIFICATE") != 3 {
				err = fmt.Errorf("status %s, body %q", resp.Status, body)
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
