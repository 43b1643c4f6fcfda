package guard

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/guardtest"
)

// TestAttestedRelease: the release URI SAN is accepted only once, well
// formed, and naming the certificate's own key (the end-to-end test with
// serve-issued certificates is pkg/attest's TestAttestedCertThroughGuard).
func TestAttestedRelease(t *testing.T) {
	spki, err := x509.MarshalPKIXPublicKey(&guardtest.Key(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(spki)
	own := hex.EncodeToString(sum[:])
	rel := strings.Repeat("0a", 32)
	uri := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	good := uri(releaseURIPrefix + rel + ":key:" + own)
	for _, tc := range []struct {
		name string
		uris []*url.URL
		want string // release, or "" for a refusal
	}{
		{"own key", []*url.URL{good}, rel},
		{"own key, other URIs beside", []*url.URL{uri("https://example.com/x"), good}, rel},
		{"no URI", nil, ""},
		{"two release URIs", []*url.URL{good, good}, ""},
		{"another key", []*url.URL{uri(releaseURIPrefix + rel + ":key:" + strings.Repeat("ff", 32))}, ""},
		{"upper-case hex", []*url.URL{uri(releaseURIPrefix + strings.ToUpper(rel) + ":key:" + own)}, ""},
		{"short release id", []*url.URL{uri(releaseURIPrefix + "0a0a:key:" + own)}, ""},
		{"no key part", []*url.URL{uri(releaseURIPrefix + rel)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, rf := attestedRelease(&x509.Certificate{RawSubjectPublicKeyInfo: spki, URIs: tc.uris})
			switch {
			case tc.want == "" && (rf == nil || rf.Reason != ReasonAttestedCert):
				t.Fatalf("accepted %q (%v)", got, rf)
			case tc.want != "" && (rf != nil || got != tc.want):
				t.Fatalf("got %q %v, want %q", got, rf, tc.want)
			}
		})
	}
}
