// Package harness runs the injected Android runtime on a JVM, since no ART
// runs here: enjarify (Debian) converts runtime.dex to a jar, javac (JDK 17)
// compiles minimal hand-written android.* stand-ins (java/android/…) and a
// Harness main, and java runs the runtime's ContentProvider against a
// FakeContext over a package file, then makes one HTTPS request with the
// JDK's default HttpsURLConnection and reports the outcome and the
// Threat-Events the runtime raised.
//
// It is a test helper: functions take a testing.TB and fail it when a tool
// is missing or the harness itself breaks (not when the request fails: that
// is a Result).
package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
)

//go:embed java
var javaSources embed.FS

// Result is what one harness run reports.
type Result struct {
	// Status is the HTTP status code, 0 when the request failed.
	Status int    `json:"status"`
	Body   string `json:"body"`
	// Error is "exception class: message" when the request failed.
	Error string `json:"error"`
	// InitMillis is the wall time of the provider's attachInfo/onCreate.
	InitMillis float64 `json:"initMillis"`
	// ChecksDone reports ThreatEvents.awaitChecks(10 s) after the request.
	ChecksDone bool `json:"checksDone"`
	// Events are ThreatEvents.recorded(); ListenerCalls counts the calls of
	// a ThreatEvents.Listener registered right after onCreate.
	Events        []map[string]string `json:"events"`
	ListenerCalls int                 `json:"listenerCalls"`
	// Broadcasts are the Intents passed to Context.sendBroadcast.
	Broadcasts []Broadcast `json:"broadcasts"`
	// Toasts are the texts the runtime showed with Toast.
	Toasts []string `json:"toasts"`
	// KMFProvider names the provider of KeyManagerFactory.getInstance(default)
	// (Options.KMF only).
	KMFProvider string `json:"kmfProvider"`
	// Token and AttestError report Attest.token() (Options.Attest only);
	// TokenCached reports that two more calls returned the same, cached
	// token.
	Token       string `json:"token"`
	TokenCached bool   `json:"tokenCached"`
	AttestError string `json:"attestError"`
	// AttestedStatus, AttestedBody and AttestedError report the GET of
	// Options.AttestedURL with Attest.attach (the token header).
	AttestedStatus int    `json:"attestedStatus"`
	AttestedBody   string `json:"attestedBody"`
	AttestedError  string `json:"attestedError"`
	// TokenLater is Attest.token() called again Options.TokenAgainAfter
	// after the first calls.
	TokenLater string `json:"tokenLater"`
	// Gets are the outcomes of Options.Gets, in order.
	Gets []Get `json:"gets"`
	// Identity is io.trustfuse.runtime.Identity.state() at the end:
	// "embedded", "embedded: <why>", "pending", "attested (TEE|StrongBox)"
	// or "none: <why>".
	Identity string `json:"identity"`

	ExitCode       int    `json:"-"` // the java process's exit status
	Stdout, Stderr string `json:"-"`
}

// Get is the outcome of one plain GET (Options.Gets).
type Get struct {
	Status int    `json:"status"` // 0 when the request failed
	Body   string `json:"body"`
	Error  string `json:"error"` // "exception class: message"
}

// Broadcast is one Intent sent by the runtime.
type Broadcast struct {
	Action  string            `json:"action"`
	Package string            `json:"package"`
	Extras  map[string]string `json:"extras"`
}

// Options configures RunWith.
type Options struct {
	APK       string // package file whose assets/ the FakeContext serves
	Package   string // package name
	SignerDER []byte // certificate returned as signatures[0]
	URL       string // HTTPS URL to request

	NoInit  bool          // skip the provider: a plain JVM
	TrustCA []byte        // DER CA the harness trusts when it builds its own SSLContext
	KMF     bool          // own SSLContext from KeyManagerFactory(default).init(null, null) + TrustCA
	Sleep   time.Duration // wait between onCreate and the request
	Ack     string        // the listener acknowledges this threat when its event arrives
	// Attest also calls Attest.token() after the request: the runtime
	// attests to the policy's attest.endpoint.
	Attest bool
	// AttestedURL, when set, is then requested (GET) through a connection
	// on which Attest.attach set the token header.
	AttestedURL string
	// TokenAgainAfter, with Attest, waits this long after the first
	// token() calls and calls it once more (Result.TokenLater).
	TokenAgainAfter time.Duration
	// Gets are requested after the above, each with a plain
	// HttpURLConnection GET and no Attest.attach: any token header on them
	// comes from the runtime's URL handler factory.
	Gets []string
	// GetsNoProxy opens Gets with URL.openConnection(Proxy.NO_PROXY), the
	// handler's other openConnection overload.
	GetsNoProxy bool
	// GetsEvery waits this long before each of Gets.
	GetsEvery time.Duration
	// AppURLHandlerFactory sets a URLStreamHandlerFactory before the
	// provider starts, as an app or library owning it would; the runtime
	// then cannot install its own and falls back to Attest.attach only.
	AppURLHandlerFactory bool
	// KeyAttestMintURL registers the harness's "AndroidKeyStore" JCA
	// provider: its EC KeyPairGenerator POSTs {"challenge","publicKey"}
	// (base64 of the KeyGenParameterSpec's attestation challenge and of the
	// new key's SPKI DER) to this URL and keeps the returned {"chain":
	// [base64 DER, …]}, which its KeyStore's getCertificateChain returns.
	// The request also says whether the key is StrongBox-backed
	// ("strongBox": bool).
	KeyAttestMintURL string
	// NoKeyAttestation makes that AndroidKeyStore a device without
	// attestation: generating a key with a challenge fails.
	NoKeyAttestation bool
	// StrongBox is "" (no StrongBox), "yes", or "unavailable" (declared by
	// PackageManager, but key generation in it throws
	// StrongBoxUnavailableException).
	StrongBox string
	// KeyStoreFile keeps that AndroidKeyStore's keys and chains in a file,
	// so a later run (a restarted app) finds them.
	KeyStoreFile string
	// Props are extra -D system properties, e.g. "harness.build.tags":
	// "test-keys" (see the java/android/os stand-ins).
	Props   map[string]string
	Timeout time.Duration // default 60 s
}

// Run runs the provider over apk (package pkg, signed by signerDER), then
// requests url with the JVM's default HttpsURLConnection.
func Run(t testing.TB, apk, pkg string, signerDER []byte, url string) Result {
	t.Helper()
	return RunWith(t, Options{APK: apk, Package: pkg, SignerDER: signerDER, URL: url})
}

// RunWith is Run with every option.
func RunWith(t testing.TB, o Options) Result {
	t.Helper()
	dir, err := prepared()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	tmp := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	args := []string{"--url", o.URL}
	if o.NoInit {
		args = append(args, "--no-init")
	} else {
		args = append(args, "--apk", o.APK, "--pkg", o.Package, "--signer", write("signer.der", o.SignerDER))
	}
	if o.TrustCA != nil {
		args = append(args, "--trust", write("trust.der", o.TrustCA))
	}
	if o.KMF {
		args = append(args, "--kmf")
	}
	if o.Sleep > 0 {
		args = append(args, "--sleep", strconv.FormatInt(o.Sleep.Milliseconds(), 10))
	}
	if o.Ack != "" {
		args = append(args, "--ack", o.Ack)
	}
	if o.Attest {
		args = append(args, "--attest")
	}
	if o.AttestedURL != "" {
		args = append(args, "--attested-url", o.AttestedURL)
	}
	if o.TokenAgainAfter > 0 {
		args = append(args, "--token-again", strconv.FormatInt(o.TokenAgainAfter.Milliseconds(), 10))
	}
	for _, u := range o.Gets {
		args = append(args, "--get", u)
	}
	if o.GetsNoProxy {
		args = append(args, "--gets-no-proxy")
	}
	if o.GetsEvery > 0 {
		args = append(args, "--gets-every", strconv.FormatInt(o.GetsEvery.Milliseconds(), 10))
	}
	if o.AppURLHandlerFactory {
		args = append(args, "--app-url-factory")
	}
	props := maps.Clone(o.Props)
	if props == nil {
		props = map[string]string{}
	}
	if o.KeyAttestMintURL != "" {
		props["harness.keyattest.mint"] = o.KeyAttestMintURL
	}
	if o.NoKeyAttestation {
		props["harness.keyattest.none"] = "true"
	}
	if o.StrongBox != "" {
		props["harness.strongbox"] = o.StrongBox
	}
	if o.KeyStoreFile != "" {
		props["harness.keystore.file"] = o.KeyStoreFile
	}
	res := java(t, dir, props, o.Timeout, args...)
	if line, ok := resultLine(res.Stdout); ok {
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			t.Fatalf("harness: bad RESULT line %q: %v\nstderr:\n%s", line, err, res.Stderr)
		}
	}
	return res
}

// LoadProperties parses data with java.util.Properties.load, the reader the
// runtime uses for the policy, and returns every key and value.
func LoadProperties(t testing.TB, data []byte) map[string]string {
	t.Helper()
	dir, err := prepared()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	p := filepath.Join(t.TempDir(), "policy.bin")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res := java(t, dir, nil, 0, "--props", p)
	line, ok := resultLine(res.Stdout)
	if !ok || res.ExitCode != 0 {
		t.Fatalf("harness: Properties.load failed (exit %d):\n%s\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return m
}

func resultLine(stdout string) (string, bool) {
	for _, l := range strings.Split(stdout, "\n") {
		if s, ok := strings.CutPrefix(l, "RESULT "); ok {
			return s, true
		}
	}
	return "", false
}

func java(t testing.TB, dir string, props map[string]string, timeout time.Duration, args ...string) Result {
	t.Helper()
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	jargs := []string{
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss1m",
		"-cp", filepath.Join(dir, "classes") + string(os.PathListSeparator) + filepath.Join(dir, "runtime.jar"),
	}
	for _, k := range slices.Sorted(maps.Keys(props)) {
		jargs = append(jargs, "-D"+k+"="+props[k])
	}
	jargs = append(jargs, "trustfuse.harness.Harness")
	jargs = append(jargs, args...)
	cmd := exec.CommandContext(ctx, "java", jargs...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("harness: java timed out after %v\nstdout:\n%s\nstderr:\n%s", timeout, res.Stdout, res.Stderr)
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
	case err != nil:
		t.Fatalf("harness: java: %v", err)
	}
	return res
}

// prepared converts the runtime dex and compiles the stand-ins once per test
// binary, into a directory keyed by the hash of their inputs (so later test
// runs reuse it).
var prepared = sync.OnceValues(prepare)

func prepare() (string, error) {
	for _, tool := range []string{"enjarify", "javac", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("%s not installed: run scripts/install-deps.sh", tool)
		}
	}
	dex := androidrt.Dex()
	h := sha256.New()
	h.Write(dex)
	var sources []string
	err := fs.WalkDir(javaSources, "java", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := javaSources.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		sources = append(sources, p)
		return nil
	})
	if err != nil {
		return "", err
	}
	if v, err := exec.Command("java", "-version").CombinedOutput(); err == nil {
		h.Write(v)
	}
	dir := filepath.Join(os.TempDir(), "trustfuse-harness-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "ok")); err == nil {
		return dir, nil
	}
	work, err := os.MkdirTemp(os.TempDir(), "trustfuse-harness-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if err := os.WriteFile(filepath.Join(work, "runtime.dex"), dex, 0o644); err != nil {
		return "", err
	}
	jar := filepath.Join(work, "runtime.jar")
	cmd := exec.Command("enjarify", "-f", "-o", jar, filepath.Join(work, "runtime.dex"))
	cmd.Dir = work
	// /usr/bin/enjarify picks the first python3 on PATH; its module lives in
	// the system interpreter's dist-packages.
	cmd.Env = os.Environ()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		cmd.Env = append(cmd.Env, "PYTHON=/usr/bin/python3")
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(" 0 classes had errors")) {
		return "", fmt.Errorf("enjarify: %v\n%s", err, out)
	}
	src := filepath.Join(work, "src")
	var files []string
	for _, p := range sources {
		b, _ := javaSources.ReadFile(p)
		dst := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return "", err
		}
		files = append(files, dst)
	}
	classes := filepath.Join(work, "classes")
	jc := exec.Command("javac", append([]string{"--release", "17", "-nowarn", "-d", classes, "-cp", jar}, files...)...)
	if out, err := jc.CombinedOutput(); err != nil {
		return "", fmt.Errorf("javac: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(work, "ok"), nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(work, dir); err != nil {
		// Another test binary finished first; use its copy.
		if _, serr := os.Stat(filepath.Join(dir, "ok")); serr == nil {
			return dir, nil
		}
		return "", err
	}
	return dir, nil
}
