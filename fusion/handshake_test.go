package fusion

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/fusion/runtime/android/harness"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// demoServer starts a TLS server on loopback with a certificate issued by
// the DEMO CA (which demo.json pins) that requires a client certificate from
// that same CA, and answers with the client certificate's subject.
func demoServer(t *testing.T) *httptest.Server {
	t.Helper()
	cert, pool := demoTLS(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestFusedAppHandshake is the proof of the mTLS protection on a real app:
// ApiDemos fused by the pipeline, its runtime dex run on a JVM (enjarify)
// over the fused package's own assets, connecting with the JDK's default
// HttpsURLConnection to a server that requires a client certificate.
func TestFusedAppHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("starts JVMs")
	}
	fs := demoFusionSet(t)
	signer := fixtureSigner(t)
	dir := t.TempDir()
	fused := filepath.Join(dir, "ApiDemos.secured.apk")
	res := fuse(t, testenv.RealApp(t, "ApiDemos-debug.apk"), fused, fs, signer)
	srv := demoServer(t)
	url := srv.URL + "/api"

	t.Run("fused app connects", func(t *testing.T) {
		r := harness.Run(t, fused, res.Output.Package, signer.Certificate.Raw, url)
		if r.Status != 200 || !strings.Contains(r.Body, "TrustFuse DEMO client") {
			t.Fatalf("status %d body %q error %q\n%s", r.Status, r.Body, r.Error, r.Stderr)
		}
		if len(r.Events) != 0 {
			t.Errorf("a clean run raised %v", r.Events)
		}
	})

	t.Run("plain JVM is refused", func(t *testing.T) {
		ca, _ := os.ReadFile(filepath.Join(testenv.Root(t), "fusion", "examples", "demo", "server-ca.pem"))
		b, _ := pem.Decode(ca)
		r := harness.RunWith(t, harness.Options{APK: fused, Package: res.Output.Package, URL: url, NoInit: true, TrustCA: b.Bytes})
		if r.Status == 200 || r.Error == "" {
			t.Fatalf("connected without the runtime: %+v", r)
		}
	})

	t.Run("re-signed by another key, tamper=defend", func(t *testing.T) {
		// What a repackager does: same package, another signing key.
		other := keys.Demo()
		r := harness.Run(t, fused, res.Output.Package, other.Certificate.Raw, url)
		if r.Status == 200 {
			t.Fatal("a re-signed app connected")
		}
		if len(r.Events) == 0 {
			t.Fatalf("no Threat-Event recorded:\n%s", r.Stderr)
		}
		ev := r.Events[0]
		if ev["threatCode"] != "tamper" || ev["reasonCode"] != "SIGNER_MISMATCH" {
			t.Errorf("event %v", ev)
		}
		for _, k := range []string{"threatCode", "message", "reasonCode", "failSafeEnforce", "deviceID", "osVersion",
			"deviceModel", "deviceManufacturer", "deviceBrand", "sdkVersion", "fusedAppToken", "buildDate",
			"timeZone", "externalID"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("Threat-Event lacks %s: %v", k, ev)
			}
		}
		if ev["fusedAppToken"] == "" || ev["buildDate"] != buildTime.Format(time.RFC3339) {
			t.Errorf("event does not carry this build's token and date: %v", ev)
		}
	})
}
