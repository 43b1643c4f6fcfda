package guard

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestReverseProxy: headers the client sends under X-TrustFuse-* never reach
// the upstream; the ones from the verified token do; a dead upstream is a
// bare 502.
func TestReverseProxy(t *testing.T) {
	e := newEnv(t, nil)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %q %q %q %q %q", r.URL.Path, r.Header.Values(HeaderPackage), r.Header.Values(HeaderRelease),
			r.Header.Values(HeaderVersion), r.Header.Values(HeaderSubject), r.Header.Values("X-Trustfuse-Admin"))
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL + "/base")
	srv := httptest.NewUnstartedServer(e.g.Middleware(NewReverseProxy(u, e.logs.Logger())))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{e.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: e.ca.Pool}
	srv.StartTLS()
	defer srv.Close()

	cfg := &tls.Config{RootCAs: e.ca.Pool, Certificates: []tls.Certificate{e.client}}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
	req.Header.Set(DefaultTokenHeader, e.sig.Mint(t, e.claims(e.client, nil)))
	req.Header.Add(HeaderPackage, "com.spoofed")
	req.Header.Set("X-TrustFuse-Admin", "yes")
	status, body := send(t, c, req)
	want := `/base/x ["com.example.app"] ["rel-7"] ["42"] ["device-hash-1"] []`
	if status != http.StatusOK || body != want {
		t.Fatalf("got %d %s\nwant 200 %s", status, body, want)
	}

	up.Close()
	status, body = send(t, c, req)
	if status != http.StatusBadGateway || body != "" {
		t.Fatalf("dead upstream: %d %q, want a bare 502", status, body)
	}
}

func send(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
