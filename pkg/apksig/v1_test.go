package apksig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// v1TestSigner makes a key (RSA 2048 or EC P-256) and a self-signed
// certificate for it.
func v1TestSigner(t testing.TB, ec bool, cn string) *Signer {
	t.Helper()
	var key crypto.Signer
	var err error
	if ec {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"TrustFuse tests"}},
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2060, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{Key: key, Certs: []*x509.Certificate{cert}}
}

// v1Inputs opens src and returns its entries without the JAR signature
// files, and those of them that signV1 should cover.
func v1Inputs(t testing.TB, src string) (*zipx.File, []*zipx.Entry, []v1Entry) {
	t.Helper()
	z, err := zipx.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })
	var keep []*zipx.Entry
	var entries []v1Entry
	for _, e := range z.Entries {
		if isV1SignatureFile(e.Name) {
			continue
		}
		keep = append(keep, e)
		entries = append(entries, v1Entry{Name: e.Name, Open: func() (io.ReadCloser, error) { return e.Open(), nil }})
	}
	return z, keep, entries
}

// v1Edit describes how v1Rewrite changes an archive.
type v1Edit struct {
	drop    func(name string) bool // entries to leave out
	replace map[string][]byte      // new content, written deflated
	add     []v1File               // appended, deflated
}

// v1Rewrite writes a copy of src edited by ed into dir and returns its path.
// Unchanged entries are copied raw; the APK Signing Block is not kept.
func v1Rewrite(t testing.TB, src, dst string, ed v1Edit) string {
	t.Helper()
	z, err := zipx.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := zipx.NewWriter(f, zipx.Options{})
	for _, e := range z.Entries {
		if ed.drop != nil && ed.drop(e.Name) {
			continue
		}
		if data, ok := ed.replace[e.Name]; ok {
			err = w.Add(zipx.Header{Name: e.Name, Method: zipx.Deflate}, data)
		} else {
			err = w.Copy(e)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range ed.add {
		if err := w.Add(zipx.Header{Name: a.Name, Method: zipx.Deflate}, a.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// v1SignAPK re-signs src with only a JAR signature made by signV1 (old
// signature files and the APK Signing Block dropped) and writes it to dst.
func v1SignAPK(t testing.TB, src, dst string, s *Signer, cfg v1Config) []v1File {
	t.Helper()
	_, _, entries := v1Inputs(t, src)
	files, err := signV1(entries, s, cfg)
	if err != nil {
		t.Fatalf("signV1(%s): %v", filepath.Base(src), err)
	}
	v1Rewrite(t, src, dst, v1Edit{drop: isV1SignatureFile, add: files})
	return files
}

// v1TestAPKs returns the fixtures in testdata/apk (when made) and the real apps.
func v1TestAPKs(t testing.TB) []string {
	t.Helper()
	fixtures, _ := filepath.Glob(filepath.Join(testenv.Root(t), "testdata", "apk", "*.apk"))
	return append(fixtures, testenv.RealApps(t)...)
}

// apksignerV1 runs apksigner verify over [minSDK, maxSDK] and returns whether
// it verified and what it printed.
func apksignerV1(t testing.TB, apk string, minSDK, maxSDK int) (bool, string) {
	t.Helper()
	cmd := exec.Command(testenv.Tool(t, "apksigner"), "verify", "-v", "--print-certs",
		"--min-sdk-version", fmt.Sprint(minSDK), "--max-sdk-version", fmt.Sprint(maxSDK), apk)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("apksigner: %v", err)
	}
	return err == nil, string(out)
}

// apksignerLines returns apksigner's lines starting with prefix ("ERROR: ",
// "WARNING: "), prefix removed.
func apksignerLines(out, prefix string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), prefix); ok {
			lines = append(lines, s)
		}
	}
	return lines
}

func v1Verify(t testing.TB, apk string, minSDK, maxSDK int) (SchemeResult, []int) {
	t.Helper()
	z, err := zipx.Open(apk)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	return verifyV1(z.Reader, minSDK, maxSDK)
}

func issueCodes(is []Issue) []string {
	var c []string
	for _, i := range is {
		c = append(c, i.Code)
	}
	return c
}

func issueMessages(is []Issue) []string {
	var m []string
	for _, i := range is {
		m = append(m, i.Message)
	}
	return m
}

// v1Agree checks that verifyV1 and apksigner reach the same verdict on apk,
// name the same signer, and that every error and warning verifyV1 reports is
// one apksigner printed (apksigner prefixes signer problems with
// "JAR signer NAME: " like we do).
func v1Agree(t *testing.T, apk string, minSDK, maxSDK int) (SchemeResult, string) {
	t.Helper()
	ok, out := apksignerV1(t, apk, minSDK, maxSDK)
	res, _ := v1Verify(t, apk, minSDK, maxSDK)
	if res.Verified != ok {
		t.Fatalf("%s: verifyV1 verified=%v (errors %q), apksigner verified=%v:\n%s",
			filepath.Base(apk), res.Verified, issueMessages(res.Errors), ok, out)
	}
	if ok {
		if !strings.Contains(out, "Verified using v1 scheme (JAR signing): true") {
			t.Fatalf("apksigner did not verify v1:\n%s", out)
		}
		if len(res.Signers) != 1 {
			t.Fatalf("verifyV1 signers = %d, want 1", len(res.Signers))
		}
		want := "Signer #1 certificate SHA-256 digest: " + res.Signers[0].CertSHA256
		if !strings.Contains(out, want) {
			t.Fatalf("apksigner does not print %q:\n%s", want, out)
		}
	}
	errs, warns := apksignerLines(out, "ERROR: "), apksignerLines(out, "WARNING: ")
	for _, m := range issueMessages(res.Errors) {
		if !slices.Contains(errs, m) {
			t.Errorf("verifyV1 error %q not among apksigner's errors %q", m, errs)
		}
	}
	if !ok && len(res.Errors) == 0 {
		t.Errorf("verifyV1 reports no error, apksigner: %q", errs)
	}
	for _, m := range issueMessages(res.Warnings) {
		if !slices.Contains(warns, m) {
			t.Errorf("verifyV1 warning %q not among apksigner's warnings %q", m, warns)
		}
	}
	return res, out
}

