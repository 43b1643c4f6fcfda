package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/guardtest"
)

// TestGuardCommand runs `trustfuse guard` as a real TLS reverse proxy in
// front of an upstream and checks what gets through, what the upstream
// sees, the log, and the graceful stop.
func TestGuardCommand(t *testing.T) {
	dir := t.TempDir()
	ca := guardtest.NewPKI(t, "Fusion Set client CA")
	server := ca.Server(t)
	client := ca.Client(t, "app install")
	guardtest.WriteCertPEM(t, filepath.Join(dir, "ca.pem"), ca.Cert.Raw)
	guardtest.WriteCertPEM(t, filepath.Join(dir, "server.pem"), server.Certificate[0])
	guardtest.WriteKeyPEM(t, filepath.Join(dir, "server.key"), server.PrivateKey)
	sig := guardtest.NewSigner(t, "k1")
	jwks := guardtest.NewJWKS(t, sig.JWK())
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "path=%s pkg=%s rel=%s ver=%s sub=%s token=%t",
			r.URL.Path, r.Header.Get("X-TrustFuse-Package"), r.Header.Get("X-TrustFuse-Release"),
			r.Header.Get("X-TrustFuse-Version"), r.Header.Get("X-TrustFuse-Subject"), r.Header.Get("TrustFuse-Token") != "")
	}))
	defer up.Close()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &guardtest.LogBuffer{}
	exit := make(chan int, 1)
	go func() {
		exit <- execute(ctx, newApp(io.Discard, stderr), []string{appName, "guard",
			"--listen", "127.0.0.1:0", "--upstream", up.URL + "/api",
			"--tls-cert", filepath.Join(dir, "server.pem"), "--tls-key", filepath.Join(dir, "server.key"),
			"--client-ca", filepath.Join(dir, "ca.pem"), "--jwks-url", jwks.URL + "/.well-known/jwks.json",
			"--issuer", "https://attest.example", "--audience", "api.example",
			"--package", "com.example.app", "--package", "com.example.lite"}, stderr, false)
	}()
	addrRE := regexp.MustCompile(`guard: listening" addr=(\S+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
		select {
		case code := <-exit:
			t.Fatalf("guard exited with %d:\n%s", code, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("guard did not start:\n%s", stderr)
		}
	}

	now := time.Now()
	valid := sig.Mint(t, guardtest.Claims("https://attest.example", "api.example", "com.example.app", now, &client))
	expired := sig.Mint(t, guardtest.Claims("https://attest.example", "api.example", "com.example.app", now.Add(-time.Hour), &client))
	otherApp := sig.Mint(t, guardtest.Claims("https://attest.example", "api.example", "com.other.app", now, &client))
	get := func(cert *tls.Certificate, token string) (int, string, error) {
		cfg := &tls.Config{RootCAs: ca.Pool}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		defer c.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/orders", nil)
		req.Header.Set("X-TrustFuse-Package", "spoofed")
		if token != "" {
			req.Header.Set("TrustFuse-Token", token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}

	tests := []struct {
		name     string
		cert     *tls.Certificate
		token    string
		status   int
		body     string
		logCode  string
		tlsError bool
	}{
		{name: "accepted", cert: &client, token: valid, status: 200,
			body: "path=/api/orders pkg=com.example.app rel=rel-7 ver=42 sub=device-hash-1 token=true"},
		{name: "no client certificate", token: valid, tlsError: true},
		{name: "no token", cert: &client, status: 401, logCode: "no_token"},
		{name: "expired token", cert: &client, token: expired, status: 401, logCode: "token_expired"},
		{name: "token for another app", cert: &client, token: otherApp, status: 401, logCode: "token_package"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, err := get(tt.cert, tt.token)
			if tt.tlsError {
				if err == nil {
					t.Fatalf("got %d, want a TLS failure", status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status || body != tt.body {
				t.Fatalf("got %d %q, want %d %q", status, body, tt.status, tt.body)
			}
			if tt.logCode != "" && !strings.Contains(stderr.String(), "code="+tt.logCode) {
				t.Fatalf("stderr lacks code=%s:\n%s", tt.logCode, stderr)
			}
		})
	}

	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit %d after shutdown, want 0:\n%s", code, stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("guard did not stop")
	}
	if !strings.Contains(stderr.String(), "guard: shutting down") {
		t.Fatalf("no shutdown line:\n%s", stderr)
	}
}
