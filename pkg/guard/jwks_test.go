package guard

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestParseJWKS reads key sets written by go-jose and by hand.
func TestParseJWKS(t *testing.T) {
	es := newSigner(t, "es")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := func(keys ...jose.JSONWebKey) string {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	good := es.JWK()
	enc := good
	enc.Use = "enc"
	noKid := good
	noKid.KeyID = ""
	tests := []struct {
		name    string
		doc     string
		wantKid []string
		wantErr bool
	}{
		{name: "one key", doc: set(good), wantKid: []string{"es"}},
		{name: "others skipped", doc: set(jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "rsa", Algorithm: "RS256", Use: "sig"},
			jose.JSONWebKey{Key: &p384.PublicKey, KeyID: "p384", Algorithm: "ES384", Use: "sig"}, good, enc), wantKid: []string{"es"}},
		{name: "no usable key", doc: set(jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "rsa", Algorithm: "RS256"}), wantErr: true},
		{name: "no kid", doc: set(noKid), wantErr: true},
		{name: "empty", doc: `{"keys":[]}`, wantErr: true},
		{name: "not JSON", doc: `<html>`, wantErr: true},
		{name: "point off the curve", doc: `{"keys":[{"kty":"EC","crv":"P-256","kid":"x","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE","y":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}]}`, wantErr: true},
		{name: "short coordinate", doc: `{"keys":[{"kty":"EC","crv":"P-256","kid":"x","x":"AQ","y":"AQ"}]}`, wantErr: true},
		{name: "duplicate kid", doc: set(good, good), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := parseJWKS([]byte(tt.doc))
			if tt.wantErr {
				if !errors.Is(err, ErrJWKS) {
					t.Fatalf("err %v, want ErrJWKS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(tt.wantKid) {
				t.Fatalf("got %d keys, want %v", len(keys), tt.wantKid)
			}
			for _, kid := range tt.wantKid {
				if k := keys[kid]; k == nil || !k.Equal(&es.Key.PublicKey) {
					t.Fatalf("key %q missing or wrong", kid)
				}
			}
		})
	}
}

// TestJWKSBodyLimit: a JWKS document over the limit is refused.
func TestJWKSBodyLimit(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`))
	}))
	defer big.Close()
	_, err := New(t.Context(), Config{ClientCAs: x509.NewCertPool(), JWKSURL: big.URL, Issuer: "i", Audience: "a", Packages: []string{"p"}})
	if !errors.Is(err, ErrJWKS) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("New: %v, want the body limit", err)
	}
}

func FuzzParseJWKS(f *testing.F) {
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{newSigner(f, "k").JWK()}})
	f.Add(b)
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"x","x":"AQ","y":"AQ"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b)
		if err == nil && (len(keys) == 0 || len(keys) > maxJWKSKeys) {
			t.Fatalf("%d keys without error", len(keys))
		}
	})
}

func FuzzParseCompact(f *testing.F) {
	s := newSigner(f, "k1")
	tok := s.Mint(f, map[string]any{"iss": "i", "exp": 1})
	f.Add(tok)
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		j, rf := parseCompact(tok)
		if rf == nil {
			if j.header.Alg != "ES256" || len(j.sig) != 64 || j.header.Kid == "" {
				t.Fatalf("accepted %q: %+v", tok, j.header)
			}
			_ = j.verifyES256(&s.Key.PublicKey)
		}
	})
}

// BenchmarkVerify measures the middleware's verify path for one request
// (client-certificate re-check, JWS parse, ES256 verify, claims), with
// the TLS state a handshake would have left.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b, nil)
	tok := e.sig.Mint(b, e.claims(e.client, nil))
	req := httptest.NewRequest(http.MethodGet, "https://guard/", nil)
	req.Header.Set(DefaultTokenHeader, tok)
	req.TLS = &tls.ConnectionState{
		PeerCertificates: []*x509.Certificate{e.client.Leaf},
		VerifiedChains:   [][]*x509.Certificate{{e.client.Leaf, e.ca.Cert}},
	}
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.g.Verify(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Middleware-parallel", func(b *testing.B) {
		h := e.g.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	})
}
