// Package nginx holds the nginx example (nginx.conf, README.md) and the test
// that runs it with real nginx: with ssl_verify_client on, only clients with a
// certificate from the Fusion Set's CA reach the upstream.
package nginx

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/guardtest"
	"github.com/trustfuse/trustfuse/internal/testenv"
)

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// render rewrites the EDIT lines of the shipped nginx.conf for this run;
// every one must be found, so the test breaks if the example changes shape.
func render(t *testing.T, conf string, repl map[string]string) string {
	t.Helper()
	for old, new := range repl {
		if strings.Count(conf, old) != 1 {
			t.Fatalf("nginx.conf: %q found %d times, want once", old, strings.Count(conf, old))
		}
		conf = strings.Replace(conf, old, new, 1)
	}
	return conf
}

func TestNginxClientCertificate(t *testing.T) {
	nginx := testenv.Tool(t, "nginx")
	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ca := guardtest.NewPKI(t, "Fusion Set client CA")
	rogue := guardtest.NewPKI(t, "rogue CA")
	server := ca.Server(t)
	client := ca.Client(t, "app install")
	alien := rogue.Client(t, "not our app")
	guardtest.WriteCertPEM(t, filepath.Join(dir, "client-ca.pem"), ca.Cert.Raw)
	guardtest.WriteCertPEM(t, filepath.Join(dir, "server.pem"), server.Certificate[0])
	guardtest.WriteKeyPEM(t, filepath.Join(dir, "server.key"), server.PrivateKey)

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream: verify=%s dn=%s token=%s",
			r.Header.Get("X-SSL-Client-Verify"), r.Header.Get("X-SSL-Client-S-DN"), r.Header.Get("TrustFuse-Token"))
	}))
	defer up.Close()

	shipped, err := os.ReadFile("nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	tmp := filepath.Join(dir, "tmp")
	conf := render(t, string(shipped), map[string]string{
		"server 127.0.0.1:8080;":        "server " + up.Listener.Addr().String() + ";",
		"listen 8443 ssl;":              fmt.Sprintf("listen 127.0.0.1:%d ssl;", port),
		"/etc/trustfuse/server.pem;":    filepath.Join(dir, "server.pem") + ";",
		"/etc/trustfuse/server.key;":    filepath.Join(dir, "server.key") + ";",
		"/etc/trustfuse/client-ca.pem;": filepath.Join(dir, "client-ca.pem") + ";",
		"http {\n":                      "http {\n    access_log " + filepath.Join(dir, "logs", "access.log") + ";\n    client_body_temp_path " + tmp + "/body;\n    proxy_temp_path " + tmp + "/proxy;\n    fastcgi_temp_path " + tmp + "/fastcgi;\n    uwsgi_temp_path " + tmp + "/uwsgi;\n    scgi_temp_path " + tmp + "/scgi;\n",
	})
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	global := "daemon off; pid " + filepath.Join(dir, "nginx.pid") + "; error_log " + filepath.Join(dir, "logs", "error.log") + " info;"
	if os.Geteuid() == 0 {
		global += " user root;" // workers must read the 0600 key in the test's temp dir
	}
	errLog := filepath.Join(dir, "logs", "error.log")
	if out, err := exec.Command(nginx, "-t", "-p", dir, "-e", errLog, "-c", confPath, "-g", global).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(nginx, "-p", dir, "-e", errLog, "-c", confPath, "-g", global)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		// Graceful stop of the master we started, then a kill if it hangs.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(errLog)
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out.String(), log)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %s", addr)
		}
	}

	tests := []struct {
		name   string
		cert   *tls.Certificate
		status int
		body   string // substring
	}{
		{"client certificate from the Fusion Set CA", &client, 200, "upstream: verify=SUCCESS dn=CN=app install token=tok-123"},
		{"no client certificate", nil, 400, "No required SSL certificate was sent"},
		{"certificate from another CA", &alien, 400, "The SSL certificate error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}
			if tt.cert != nil {
				// Sent whatever CA names nginx asks for: Go's client would
				// otherwise keep a certificate from another CA to itself.
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tt.cert, nil }
			}
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
			defer c.CloseIdleConnections()
			req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/v1/orders", nil)
			req.Header.Set("TrustFuse-Token", "tok-123")
			req.Header.Set("X-SSL-Client-Verify", "SUCCESS") // spoof attempt: nginx overwrites it
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.body) {
				t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, b, tt.status, tt.body)
			}
			if tt.status != 200 && strings.Contains(string(b), "upstream") {
				t.Fatalf("refused request reached the upstream: %q", b)
			}
		})
	}
}
