package apksig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trustfuse/trustfuse/internal/cms"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
	"software.sslmate.com/src/go-pkcs12"
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
	return verifyV1(z.Reader, minSDK, maxSDK, nil)
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

// v1ExceptionPrefix matches the fixed part of messages that end with a Java
// exception in apksigner ("...: java.security.SignatureException: ...") and
// with a Go error in ours.
var v1ExceptionPrefix = regexp.MustCompile(`^.*?(Failed to verify JAR signature \S+ against \S+|Failed to parse JAR signature \S+): `)

// v1SameMessage reports whether apksigner printed our message m among lines.
func v1SameMessage(lines []string, m string) bool {
	if slices.Contains(lines, m) {
		return true
	}
	p := v1ExceptionPrefix.FindString(m)
	if p == "" {
		return false
	}
	for _, l := range lines {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// v1Agree checks that verifyV1 and apksigner reach the same verdict on apk,
// name the same signer, and that every error and warning verifyV1 reports is
// one apksigner printed (apksigner prefixes signer problems with
// "JAR signer NAME: " like we do).
func v1Agree(t *testing.T, apk string, minSDK, maxSDK int) (SchemeResult, []int, string) {
	t.Helper()
	ok, out := apksignerV1(t, apk, minSDK, maxSDK)
	res, ids := v1Verify(t, apk, minSDK, maxSDK)
	if res.Verified != ok {
		t.Fatalf("%s [%d,%d]: verifyV1 verified=%v (errors %q), apksigner verified=%v:\n%s",
			filepath.Base(apk), minSDK, maxSDK, res.Verified, issueMessages(res.Errors), ok, out)
	}
	if ok {
		if !strings.Contains(out, "Verified using v1 scheme (JAR signing): true") {
			t.Fatalf("apksigner did not verify v1:\n%s", out)
		}
		if len(res.Signers) == 0 || strings.Contains(out, fmt.Sprintf("Signer #%d certificate", len(res.Signers)+1)) {
			t.Fatalf("verifyV1 signers = %d, apksigner prints more:\n%s", len(res.Signers), out)
		}
		for i, si := range res.Signers {
			want := fmt.Sprintf("Signer #%d certificate SHA-256 digest: %s", i+1, si.CertSHA256)
			if !strings.Contains(out, want) {
				t.Fatalf("apksigner does not print %q:\n%s", want, out)
			}
		}
	} else if len(res.Errors) == 0 {
		t.Fatalf("verifyV1 reports no error; apksigner:\n%s", out)
	}
	errs, warns := apksignerLines(out, "ERROR: "), apksignerLines(out, "WARNING: ")
	for _, m := range issueMessages(res.Errors) {
		if !v1SameMessage(errs, m) {
			t.Errorf("verifyV1 error %q not among apksigner's errors %q", m, errs)
		}
	}
	for _, m := range issueMessages(res.Warnings) {
		if !v1SameMessage(warns, m) {
			t.Errorf("verifyV1 warning %q not among apksigner's warnings %q", m, warns)
		}
	}
	return res, ids, out
}

// v1TrustStore writes a PKCS#12 trust store holding certs, so jarsigner can
// validate our self-signed certificates, and returns its path and password.
func v1TrustStore(t testing.TB, certs ...*x509.Certificate) (string, string) {
	t.Helper()
	const pass = "trustfuse-test"
	der, err := pkcs12.Modern.EncodeTrustStore(certs, pass)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "trust.p12")
	if err := os.WriteFile(p, der, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, pass
}

// jarsignerStrict runs jarsigner -verify -strict -verbose with a trust store
// holding the signer's certificate and fails the test unless the JAR
// verifies with no warning that counts under -strict (exit status 0).
func jarsignerStrict(t testing.TB, apk string, cert *x509.Certificate) string {
	t.Helper()
	ts, pass := v1TrustStore(t, cert)
	out := testenv.Run(t, "jarsigner", "-verify", "-strict", "-verbose", "-keystore", ts, "-storepass", pass, apk)
	if !strings.Contains(out, "jar verified.") || strings.Contains(out, "unsigned") {
		t.Fatalf("jarsigner -verify -strict %s:\n%s", filepath.Base(apk), out)
	}
	// Every entry line but the signature files and directories is flagged
	// s (signature verified) and m (listed in manifest).
	unflagged := regexp.MustCompile(`^\s+\d+ `)
	flagged := 0
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) > 2 && strings.HasPrefix(f[0], "sm"):
			flagged++
		case unflagged.MatchString(l) && !isV1SignatureFile(f[len(f)-1]) && !strings.HasSuffix(f[len(f)-1], "/"):
			t.Fatalf("jarsigner lists an entry not signed: %q", l)
		}
	}
	if flagged == 0 {
		t.Fatalf("jarsigner lists no signed entry:\n%s", out)
	}
	return out
}

// v1EdgeAPK builds an unsigned APK from a small base plus entries that stress
// the manifest format: names longer than a 72-byte line, multi-byte UTF-8
// across the wrap point, a directory, META-INF files that are and are not
// signature files, and signature-looking files in a META-INF subdirectory.
func v1EdgeAPK(t testing.TB) string {
	t.Helper()
	long := "assets/" + strings.Repeat("very-long-directory-name/", 6) + "file.txt"
	utf := "assets/" + strings.Repeat("é", 30) + "-名前-" + strings.Repeat("ü", 40) + "-😀.txt"
	return v1Rewrite(t, v1SmallBase(t), filepath.Join(t.TempDir(), "edge.apk"), v1Edit{
		drop: isV1SignatureFile,
		add: []v1File{
			{long, []byte("long name")},
			{utf, []byte("utf-8 name")},
			{"assets/dir/", nil},
			{"META-INF/services/io.trustfuse.Example", []byte("io.trustfuse.Impl\n")},
			{"META-INF/extra.txt", []byte("extra")},
			{"META-INF/sub/OTHER.SF", []byte("no block: not a signer\n")},
			{"assets/sig-like/CERT.SF", []byte("x")},
		},
	})
}

// v1SmallBase returns a small unsigned APK: the unsigned fixture, or the
// settings app without its signatures when fixtures are not made yet.
func v1SmallBase(t testing.TB) string {
	t.Helper()
	p := filepath.Join(testenv.Root(t), "testdata", "apk", "unsigned.apk")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return v1Rewrite(t, testenv.RealApp(t, "settings_apk-debug.apk"), filepath.Join(t.TempDir(), "base.apk"), v1Edit{drop: isV1SignatureFile})
}

// TestSignV1Oracles signs every fixture and real app with signV1 and checks
// the result with apksigner (SDK range below 24, so only v1 counts), with
// jarsigner -verify -strict for SHA-256 signatures (JDK 17 treats SHA-1 JARs
// as unsigned), and with verifyV1. RSA/SHA-1 (minSdk 17) covers every APK
// (only the real apps with -short); EC/SHA-256 covers the real apps and the
// edge-case APK, RSA/SHA-256 the edge-case APK. Each oracle run costs a JVM
// start, so the matrix is kept to what adds coverage.
func TestSignV1Oracles(t *testing.T) {
	rsaS := v1TestSigner(t, false, "trustfuse-v1-rsa")
	ecS := v1TestSigner(t, true, "trustfuse-v1-ec")
	type run struct {
		src    string
		s      *Signer
		minSDK int
		jar    bool // also check with jarsigner
	}
	var runs []run
	for _, src := range v1TestAPKs(t) {
		runs = append(runs, run{src, rsaS, 17, false})
	}
	real := testenv.RealApps(t)
	if testing.Short() {
		runs = nil
		for _, src := range real {
			runs = append(runs, run{src, rsaS, 17, false})
		}
	}
	edge := v1EdgeAPK(t)
	for _, src := range append(real, edge) {
		runs = append(runs, run{src, ecS, 18, true})
	}
	runs = append(runs, run{edge, rsaS, 18, true})

	for _, r := range runs {
		kind := "rsa"
		if r.s.isEC() {
			kind = "ec"
		}
		t.Run(fmt.Sprintf("%s-min%d/%s", kind, r.minSDK, filepath.Base(r.src)), func(t *testing.T) {
			t.Parallel()
			dst := filepath.Join(t.TempDir(), "signed.apk")
			files := v1SignAPK(t, r.src, dst, r.s, v1Config{SignerName: "CERT", MinSDK: r.minSDK, CreatedBy: "trustfuse test"})
			wantBlock := map[bool]string{false: "META-INF/CERT.RSA", true: "META-INF/CERT.EC"}[r.s.isEC()]
			if files[0].Name != v1ManifestName || files[1].Name != "META-INF/CERT.SF" || files[2].Name != wantBlock {
				t.Fatalf("files %s %s %s", files[0].Name, files[1].Name, files[2].Name)
			}
			wantAttr := map[bool]string{false: "\r\nSHA1-Digest: ", true: "\r\nSHA-256-Digest: "}[r.minSDK >= 18]
			if !bytes.Contains(files[0].Data, []byte(wantAttr)) {
				t.Errorf("manifest lacks %q", wantAttr)
			}
			res, _, _ := v1Agree(t, dst, r.minSDK, 23)
			if !res.Verified || res.Signers[0].CertSHA256 != CertDigest(r.s.Certs[0]) {
				t.Fatalf("verifyV1: %+v", res)
			}
			if r.jar {
				jarsignerStrict(t, dst, r.s.Certs[0])
			}
		})
	}
}

// TestVerifyV1AsShipped compares verifyV1 with apksigner on APKs signed by
// other tools: the real apps (ApiDemos: v1 by the Android Gradle Plugin;
// settings: no v1) and the v1-signed fixtures (apksigner's own output).
func TestVerifyV1AsShipped(t *testing.T) {
	for _, src := range v1TestAPKs(t) {
		if !v1HasManifest(t, src) && !strings.HasPrefix(filepath.Base(src), "settings") {
			continue // unsigned for v1: settings_apk-debug.apk stands for them
		}
		t.Run(filepath.Base(src), func(t *testing.T) {
			t.Parallel()
			res, ids, out := v1Agree(t, src, 17, 23)
			switch filepath.Base(src) {
			case "ApiDemos-debug.apk":
				if !res.Verified || res.Signers[0].CertSHA256 != "18e8534fed30cbf9959e4073e723e3395a3f92fd6b41756d5fbc788f280c1107" {
					t.Fatalf("ApiDemos: %+v", res)
				}
				if !slices.Equal(ids, []int{2}) {
					t.Errorf("X-Android-APK-Signed = %v, want [2]", ids)
				}
				// apksigner warns about each unprotected META-INF file; so must we, all of them.
				var ours []string
				for _, w := range res.Warnings {
					if w.Code == "V1_NOT_PROTECTED" {
						ours = append(ours, w.Message)
					}
				}
				theirs := apksignerLines(out, "WARNING: ")
				sort.Strings(ours)
				sort.Strings(theirs)
				if len(ours) < 30 || !slices.Equal(ours, theirs) {
					t.Errorf("warnings differ:\nours   %q\ntheirs %q", ours, theirs)
				}
			case "settings_apk-debug.apk":
				if res.Verified || !slices.Contains(issueCodes(res.Errors), "V1_MISSING_MANIFEST") || res.Present {
					t.Fatalf("settings: %+v", res)
				}
			}
		})
	}
}

func v1HasManifest(t testing.TB, apk string) bool {
	t.Helper()
	z, err := zipx.Open(apk)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	return z.Entry(v1ManifestName) != nil
}

// TestVerifyV1Tampered signs a small APK, breaks it in the ways an attacker
// or a broken tool would, and checks that verifyV1 and apksigner agree on
// every variant and that verifyV1 names the expected problem.
func TestVerifyV1Tampered(t *testing.T) {
	s := v1TestSigner(t, false, "trustfuse-v1-tamper")
	other := v1TestSigner(t, false, "trustfuse-v1-other")
	ecS := v1TestSigner(t, true, "trustfuse-v1-tamper-ec")
	dir := t.TempDir()
	signed := filepath.Join(dir, "signed.apk")
	files := v1SignAPK(t, v1SmallBase(t), signed, s, v1Config{MinSDK: 18, AndroidSigned: []int{2, 3}})
	mf, sf := files[0].Data, files[1].Data
	ecSigned := filepath.Join(dir, "ec.apk")
	v1SignAPK(t, v1SmallBase(t), ecSigned, ecS, v1Config{MinSDK: 18})

	// The entry to tamper with: classes.dex if present, else the last
	// entry outside META-INF/.
	z, err := zipx.Open(signed)
	if err != nil {
		t.Fatal(err)
	}
	var victim *zipx.Entry
	for _, e := range z.Entries {
		if !strings.HasPrefix(e.Name, "META-INF/") && !e.IsDir() && (victim == nil || victim.Name != "classes.dex") {
			victim = e
		}
	}
	content, err := victim.ReadAll(64 << 20)
	z.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A manifest whose digest for victim names other content.
	fakeDigest := base64.StdEncoding.EncodeToString(v1Hash(crypto.SHA256, []byte("other content")))
	sec := regexp.MustCompile(`Name: ` + regexp.QuoteMeta(victim.Name) + `\r\nSHA-256-Digest: ([^\r]*)\r\n`)
	m := sec.FindSubmatch(mf)
	if m == nil {
		t.Fatalf("no manifest section for %s", victim.Name)
	}
	badMF := bytes.Replace(mf, m[1], []byte(fakeDigest), 1)
	badSF := bytes.Replace(sf, []byte("Created-By: trustfuse"), []byte("Created-By: trustfusE"), 1)
	otherBlock, err := pkcs7SignDetached(sf, other, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	// Our certificate, someone else's signature: the key does not match,
	// so build the block without pkcs7SignDetached's self-check.
	forged := v1ForgeBlock(t, sf, other, s.Certs[0])

	tests := []struct {
		name     string
		apk      string
		min, max int
		verified bool
		code     string // expected in errors (or warnings when verified)
	}{
		{"as signed", signed, 18, 23, true, ""},
		{"entry content changed", v1Rewrite(t, signed, filepath.Join(dir, "content.apk"), v1Edit{replace: map[string][]byte{victim.Name: append(content, 0)}}), 18, 23, false, "V1_ENTRY_DIGEST_MISMATCH"},
		{"manifest digest changed", v1Rewrite(t, signed, filepath.Join(dir, "mf.apk"), v1Edit{replace: map[string][]byte{v1ManifestName: badMF}}), 18, 23, false, "V1_MANIFEST_SECTION_DIGEST_MISMATCH"},
		{"signature file changed", v1Rewrite(t, signed, filepath.Join(dir, "sf.apk"), v1Edit{replace: map[string][]byte{"META-INF/CERT.SF": badSF}}), 18, 23, false, "V1_SIG_DOES_NOT_VERIFY"},
		{"block re-signed by another key", v1Rewrite(t, signed, filepath.Join(dir, "other.apk"), v1Edit{replace: map[string][]byte{"META-INF/CERT.RSA": otherBlock}}), 18, 23, true, ""},
		{"block signed by another key, our certificate", v1Rewrite(t, signed, filepath.Join(dir, "forged.apk"), v1Edit{replace: map[string][]byte{"META-INF/CERT.RSA": forged}}), 18, 23, false, "V1_SIG_DOES_NOT_VERIFY"},
		{"entry added after signing", v1Rewrite(t, signed, filepath.Join(dir, "added.apk"), v1Edit{add: []v1File{{"assets/added.txt", []byte("added")}}}), 18, 23, false, "V1_ENTRY_NOT_IN_MANIFEST"},
		{"MANIFEST.MF removed", v1Rewrite(t, signed, filepath.Join(dir, "nomf.apk"), v1Edit{drop: func(n string) bool { return n == v1ManifestName }}), 18, 23, false, "V1_MISSING_MANIFEST"},
		{".SF removed", v1Rewrite(t, signed, filepath.Join(dir, "nosf.apk"), v1Edit{drop: func(n string) bool { return n == "META-INF/CERT.SF" }}), 18, 23, false, "V1_NO_SIGNATURES"},
		{"META-INF file added after signing", v1Rewrite(t, signed, filepath.Join(dir, "meta.apk"), v1Edit{add: []v1File{{"META-INF/added.txt", []byte("added")}}}), 18, 23, true, "V1_NOT_PROTECTED"},
		{"SHA-256 below API 18", signed, 17, 23, false, "V1_UNSUPPORTED_SIG_ALG"},
		{"EC below API 18", ecSigned, 16, 23, false, "V1_UNSUPPORTED_SIG_ALG"},
		{"EC from API 18", ecSigned, 18, 23, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, ids, _ := v1Agree(t, tc.apk, tc.min, tc.max)
			t.Logf("errors %q, %d warnings", issueMessages(res.Errors), len(res.Warnings))
			if res.Verified != tc.verified {
				t.Fatalf("verified = %v, want %v (errors %q)", res.Verified, tc.verified, issueMessages(res.Errors))
			}
			codes := issueCodes(res.Errors)
			if tc.verified {
				codes = issueCodes(res.Warnings)
			}
			if tc.code != "" && !slices.Contains(codes, tc.code) {
				t.Fatalf("codes %q lack %s", codes, tc.code)
			}
			if tc.verified && tc.apk != ecSigned && !slices.Equal(ids, []int{2, 3}) {
				t.Errorf("X-Android-APK-Signed = %v, want [2 3]", ids)
			}
		})
	}
}

// v1ForgeBlock returns a signature block naming cert whose signature over sf
// is made by s's key.
func v1ForgeBlock(t testing.TB, sf []byte, s *Signer, cert *x509.Certificate) []byte {
	t.Helper()
	good, err := pkcs7SignDetached(sf, &Signer{Key: s.Key, Certs: s.Certs}, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	// Swap the certificate bytes: same length is not guaranteed, so
	// re-encode through the parsed structure.
	var ci cms.ContentInfo
	if _, err := asn1.Unmarshal(good, &ci); err != nil {
		t.Fatal(err)
	}
	var sd cms.SignedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		t.Fatal(err)
	}
	sid, err := asn1.Marshal(cms.IssuerAndSerial{Issuer: asn1.RawValue{FullBytes: cert.RawIssuer}, Serial: cert.SerialNumber})
	if err != nil {
		t.Fatal(err)
	}
	sd.Certificates = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: cert.Raw}
	sd.SignerInfos[0].SID = asn1.RawValue{FullBytes: sid}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		t.Fatal(err)
	}
	out, err := asn1.Marshal(cms.ContentInfo{ContentType: ci.ContentType, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyV1JarsignerSigned checks signatures with signed attributes, made
// by jarsigner (which also rewrites the manifest its own way), against
// apksigner: accepted from API 19, rejected below (Android before 4.4 did not
// check the attributes' message digest); the ecdsa-with-SHA256 OID jarsigner
// writes is accepted only from API 21.
func TestVerifyV1JarsignerSigned(t *testing.T) {
	keys := filepath.Join(testenv.Root(t), "testdata", "keys")
	base := v1SmallBase(t)
	tests := []struct {
		key, sigalg string
		min         int
		verified    bool
		code        string
	}{
		{"rsa", "SHA256withRSA", 19, true, ""},
		{"rsa", "SHA256withRSA", 18, false, "V1_SIG_VERIFY_ERROR"},
		{"ec", "SHA256withECDSA", 21, true, ""},
		{"ec", "SHA256withECDSA", 19, false, "V1_UNSUPPORTED_SIG_ALG"},
	}
	signed := map[string]string{}
	for _, k := range []string{"rsa", "ec"} {
		dst := filepath.Join(t.TempDir(), k+".apk")
		sigalg := map[string]string{"rsa": "SHA256withRSA", "ec": "SHA256withECDSA"}[k]
		testenv.Run(t, "jarsigner", "-keystore", filepath.Join(keys, k+".jks"), "-storepass", "fixture-pass", "-keypass", "fixture-pass",
			"-digestalg", "SHA-256", "-sigalg", sigalg, "-signedjar", dst, base, k)
		signed[k] = dst
		// jarsigner's block does carry signed attributes.
		z, err := zipx.Open(dst)
		if err != nil {
			t.Fatal(err)
		}
		ext := map[string]string{"rsa": ".RSA", "ec": ".EC"}[k]
		blk, err := z.Entry("META-INF/" + strings.ToUpper(k) + ext).ReadAll(1 << 20)
		z.Close()
		if err != nil {
			t.Fatal(err)
		}
		p7, err := parsePKCS7(blk)
		if err != nil || len(p7.signers) != 1 || len(p7.signers[0].SignedAttrs.FullBytes) == 0 {
			t.Fatalf("%s: jarsigner block %v, signed attributes %d bytes", k, err, len(p7.signers[0].SignedAttrs.FullBytes))
		}
	}
	want := map[string]string{
		"rsa": "e1c2fcfce79abfed94a74c8d90062f4fb710498205b49de38da0fe7a96c7a33e",
		"ec":  "6b04f6959e509cc3764bc3c1b184655069ef5f42e2026d16a0822d9a72cf287d",
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s-%s-min%d", tc.key, tc.sigalg, tc.min), func(t *testing.T) {
			t.Parallel()
			res, _, _ := v1Agree(t, signed[tc.key], tc.min, 23)
			if res.Verified != tc.verified {
				t.Fatalf("verified = %v, want %v", res.Verified, tc.verified)
			}
			if tc.verified && res.Signers[0].CertSHA256 != want[tc.key] {
				t.Errorf("signer %s, want %s", res.Signers[0].CertSHA256, want[tc.key])
			}
			if tc.code != "" && !slices.Contains(issueCodes(res.Errors), tc.code) {
				t.Errorf("errors %q lack %s", issueCodes(res.Errors), tc.code)
			}
		})
	}
}

// TestSignV1Deterministic signs the same entries twice with each key type:
// the files must be byte-identical (RSA PKCS#1 v1.5; ECDSA with RFC 6979).
func TestSignV1Deterministic(t *testing.T) {
	_, _, entries := v1Inputs(t, testenv.RealApp(t, "ApiDemos-debug.apk"))
	for _, ec := range []bool{false, true} {
		s := v1TestSigner(t, ec, "trustfuse-v1-det")
		cfg := v1Config{MinSDK: 21, AndroidSigned: []int{2, 3}, CreatedBy: "trustfuse 1.2.3"}
		a, err := signV1(entries, s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := signV1(entries, s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if a[i].Name != b[i].Name || !bytes.Equal(a[i].Data, b[i].Data) {
				t.Errorf("ec=%v: %s differs between runs", ec, a[i].Name)
			}
		}
	}
}

// TestSignV1Layout checks the manifest and .SF structure signV1 writes: all
// entries but directories and signature files, in archive order; the main
// attributes; X-Android-APK-Signed; and the .SF digests recomputed here.
func TestSignV1Layout(t *testing.T) {
	s := v1TestSigner(t, true, "trustfuse-v1-layout")
	_, keep, entries := v1Inputs(t, v1EdgeAPK(t))
	files, err := signV1(entries, s, v1Config{SignerName: "TF_1", MinSDK: 24, AndroidSigned: []int{2, 3}, CreatedBy: "trustfuse 9.9"})
	if err != nil {
		t.Fatal(err)
	}
	if files[1].Name != "META-INF/TF_1.SF" || files[2].Name != "META-INF/TF_1.EC" {
		t.Fatalf("names %s %s", files[1].Name, files[2].Name)
	}
	mf := v1ParseSections(files[0].Data)
	if v, _ := mf[0].get("Manifest-Version"); v != "1.0" {
		t.Errorf("Manifest-Version %q", v)
	}
	if v, _ := mf[0].get("Created-By"); v != "trustfuse 9.9" {
		t.Errorf("Created-By %q", v)
	}
	var want []string
	for _, e := range keep {
		if !e.IsDir() {
			want = append(want, e.Name)
		}
	}
	var got []string
	for _, sec := range mf[1:] {
		n, _ := sec.name()
		got = append(got, n)
		data := v1ReadEntry(t, keep, n)
		if d, _ := sec.get("SHA-256-Digest"); d != base64.StdEncoding.EncodeToString(v1Hash(crypto.SHA256, data)) {
			t.Errorf("%s: digest %s", n, d)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("manifest names\n got %q\nwant %q", got, want)
	}
	if !slices.Contains(got, "META-INF/sub/OTHER.SF") || !slices.Contains(got, "META-INF/extra.txt") || slices.Contains(got, "assets/dir/") {
		t.Errorf("coverage of META-INF files or directories wrong: %q", got)
	}
	for _, l := range bytes.Split(files[0].Data, []byte("\r\n")) {
		if len(l) > 72 {
			t.Errorf("manifest line of %d bytes: %q", len(l), l)
		}
	}

	sf := v1ParseSections(files[1].Data)
	for name, wantV := range map[string]string{
		"Signature-Version":       "1.0",
		"Created-By":              "trustfuse 9.9",
		"X-Android-APK-Signed":    "2, 3",
		"SHA-256-Digest-Manifest": base64.StdEncoding.EncodeToString(v1Hash(crypto.SHA256, files[0].Data)),
		"SHA-256-Digest-Manifest-Main-Attributes": base64.StdEncoding.EncodeToString(
			v1Hash(crypto.SHA256, files[0].Data[mf[0].start:mf[0].end])),
	} {
		if v, _ := sf[0].get(name); v != wantV {
			t.Errorf(".SF %s = %q, want %q", name, v, wantV)
		}
	}
	if len(sf) != len(mf) {
		t.Fatalf(".SF has %d sections, manifest %d", len(sf), len(mf))
	}
	for i := 1; i < len(sf); i++ {
		d, _ := sf[i].get("SHA-256-Digest")
		if d != base64.StdEncoding.EncodeToString(v1Hash(crypto.SHA256, files[0].Data[mf[i].start:mf[i].end])) {
			t.Errorf(".SF section %d digest wrong", i)
		}
	}
}

func v1ReadEntry(t testing.TB, entries []*zipx.Entry, name string) []byte {
	t.Helper()
	for _, e := range entries {
		if e.Name == name {
			d, err := e.ReadAll(64 << 20)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("no entry %s", name)
	return nil
}

// TestSignV1SigFile1024 checks the workaround for Android 1.x, which fails on
// a .SF whose length is a multiple of 1024: varying Created-By walks the .SF
// length across such a multiple.
func TestSignV1SigFile1024(t *testing.T) {
	s := v1TestSigner(t, true, "trustfuse-v1-1024")
	entries := []v1Entry{{Name: "a.txt", Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("a")), nil }}}
	padded := 0
	for n := 0; n < 1100 && padded == 0; n++ {
		files, err := signV1(entries, s, v1Config{MinSDK: 18, CreatedBy: strings.Repeat("x", n)})
		if err != nil {
			t.Fatal(err)
		}
		sf := files[1].Data
		if len(sf)%1024 == 0 {
			t.Fatalf("Created-By of %d bytes: .SF is %d bytes", n, len(sf))
		}
		if len(sf)%1024 == 2 && bytes.HasSuffix(sf, []byte("\r\n\r\n\r\n")) {
			padded++
		}
	}
	if padded == 0 {
		t.Fatal("no .SF length hit a multiple of 1024")
	}
}

func TestSignV1Errors(t *testing.T) {
	rsaS := v1TestSigner(t, false, "trustfuse-v1-err")
	ecS := v1TestSigner(t, true, "trustfuse-v1-err-ec")
	ok := func(name string) v1Entry {
		return v1Entry{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(name)), nil }}
	}
	boom := errors.New("boom")
	tests := []struct {
		name    string
		entries []v1Entry
		s       *Signer
		cfg     v1Config
		want    error  // errors.Is target, or nil
		substr  string // in the message
	}{
		{"EC below API 18", []v1Entry{ok("a")}, ecS, v1Config{MinSDK: 17}, ErrUnsupportedKey, "minSdkVersion 18"},
		{"bad signer name", []v1Entry{ok("a")}, rsaS, v1Config{SignerName: "cert"}, nil, "signer name"},
		{"long signer name", []v1Entry{ok("a")}, rsaS, v1Config{SignerName: "ABCDEFGHI"}, nil, "signer name"},
		{"newline in name", []v1Entry{ok("a\nb")}, rsaS, v1Config{}, nil, "cannot be signed"},
		{"duplicate", []v1Entry{ok("a"), ok("a")}, rsaS, v1Config{}, nil, "duplicate"},
		{"open fails", []v1Entry{ok("a"), {Name: "b", Open: func() (io.ReadCloser, error) { return nil, boom }}}, rsaS, v1Config{}, boom, `"b"`},
		{"read fails", []v1Entry{{Name: "b", Open: func() (io.ReadCloser, error) { return io.NopCloser(iotestErrReader{boom}), nil }}}, rsaS, v1Config{}, boom, `"b"`},
		{"no key", []v1Entry{ok("a")}, &Signer{}, v1Config{}, nil, "needs a key"},
		{"key and certificate differ", []v1Entry{ok("a")}, &Signer{Key: ecS.Key, Certs: v1TestSigner(t, true, "x").Certs}, v1Config{MinSDK: 18}, ErrOptions, "does not belong to certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := signV1(tc.entries, tc.s, tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v is not %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %q lacks %q", err, tc.substr)
			}
		})
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestIsV1SignatureFile(t *testing.T) {
	tests := map[string]bool{
		"META-INF/MANIFEST.MF":     true,
		"META-INF/manifest.mf":     true,
		"META-INF/CERT.SF":         true,
		"META-INF/cert.sf":         true,
		"META-INF/CERT.RSA":        true,
		"META-INF/X.DSA":           true,
		"META-INF/X.EC":            true,
		"META-INF/x.ec":            true,
		"META-INF/SIG-FOO":         true,
		"META-INF/sig-foo.bar":     true,
		"META-INF/":                false,
		"META-INF/sub/CERT.SF":     false,
		"META-INF/services/a.b":    false,
		"META-INF/extra.txt":       false,
		"META-INF/CERT.RSA.bak":    false,
		"meta-inf/CERT.SF":         false,
		"assets/META-INF/CERT.SF":  false,
		"CERT.SF":                  false,
		"META-INF/MANIFEST.MF.txt": false,
	}
	for name, want := range tests {
		if got := isV1SignatureFile(name); got != want {
			t.Errorf("isV1SignatureFile(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestV1WriterWrap checks 72-byte line wrapping: values of every length
// around the limits, and UTF-8 sequences straddling the cut, come back from
// the parser unchanged, with no line over 72 bytes and every line valid UTF-8.
func TestV1WriterWrap(t *testing.T) {
	var values []string
	for n := 0; n < 220; n++ {
		values = append(values, strings.Repeat("a", n))
	}
	for pad := 0; pad < 4; pad++ {
		values = append(values, strings.Repeat("a", 60+pad)+strings.Repeat("é😀名", 20))
		// Invalid UTF-8 (continuation bytes only) must still be cut.
		values = append(values, strings.Repeat("a", pad)+strings.Repeat("\xac", 300))
	}
	for _, v := range values {
		var w v1Writer
		w.attr("Name", v)
		w.end()
		data := w.buf.Bytes()
		lines := bytes.Split(bytes.TrimSuffix(data, []byte("\r\n\r\n")), []byte("\r\n"))
		for i, l := range lines {
			if len(l) > 72 || (utf8.ValidString(v) && !utf8.Valid(l)) || (i > 0) != (len(l) > 0 && l[0] == ' ') {
				t.Fatalf("value of %d bytes: bad line %d %q", len(v), i, l)
			}
			if i < len(lines)-1 && len(l) < 68 {
				t.Fatalf("value of %d bytes: short inner line %d (%d bytes)", len(v), i, len(l))
			}
		}
		secs := v1ParseSections(data)
		if len(secs) != 1 || secs[0].start != 0 || secs[0].end != len(data) {
			t.Fatalf("sections %+v", secs)
		}
		if got, _ := secs[0].name(); got != v {
			t.Fatalf("round trip %q → %q", v, got)
		}
	}
}

func TestV1ParseSections(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  [][]v1Attr
		spans [][2]int
	}{
		{"crlf", "A: 1\r\nB: 2\r\n\r\nName: x\r\nD: 3\r\n\r\n",
			[][]v1Attr{{{"A", "1"}, {"B", "2"}}, {{"Name", "x"}, {"D", "3"}}}, [][2]int{{0, 14}, {14, 31}}},
		{"lf and cr", "A: 1\n\nName: x\rD: 3\r\r",
			[][]v1Attr{{{"A", "1"}}, {{"Name", "x"}, {"D", "3"}}}, [][2]int{{0, 6}, {6, 20}}},
		{"continuation", "Name: ab\r\n cd\r\n e\r\n\r\n",
			[][]v1Attr{{{"Name", "abcde"}}}, [][2]int{{0, 21}}},
		{"blank lines between and no final blank", "A: 1\r\n\r\n\r\n\r\nName: y",
			[][]v1Attr{{{"A", "1"}}, {{"Name", "y"}}}, [][2]int{{0, 8}, {12, 19}}},
		{"no separator", "Junk\r\nA:b\r\nC: d: e\r\n",
			[][]v1Attr{{{"Junk", ""}, {"A:b", ""}, {"C", "d: e"}}}, [][2]int{{0, 20}}},
		{"leading space opens a section", " x: 1\r\n y\r\n",
			[][]v1Attr{{{" x", "1y"}}}, [][2]int{{0, 11}}},
		{"empty", "", nil, nil},
		{"only blank lines", "\r\n\r\n\n", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := v1ParseSections([]byte(tc.in))
			if len(got) != len(tc.want) {
				t.Fatalf("%d sections, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, s := range got {
				if !slices.Equal(s.attrs, tc.want[i]) || s.start != tc.spans[i][0] || s.end != tc.spans[i][1] {
					t.Errorf("section %d = %+v [%d,%d), want %+v %v", i, s.attrs, s.start, s.end, tc.want[i], tc.spans[i])
				}
			}
		})
	}
}

// TestV1UnsupportedLevels checks the API levels reported for algorithm pairs
// (apksig's table; TestVerifyV1Tampered and TestVerifyV1JarsignerSigned
// check several pairs against apksigner itself).
func TestV1UnsupportedLevels(t *testing.T) {
	const (
		sha1, sha256, sha512 = pkcs7OIDSHA1, pkcs7OIDSHA256, pkcs7OIDSHA512
		rsaE, ecKey          = pkcs7OIDRSA, pkcs7OIDECPublicKey
		sha256RSA            = "1.2.840.113549.1.1.11"
		sha1RSA              = "1.2.840.113549.1.1.5"
		ecdsa256             = "1.2.840.10045.4.3.2"
	)
	tests := []struct {
		d, s     string
		min, max int
		want     string
	}{
		{sha1, rsaE, 1, maxSDKUnbounded, ""},
		{sha256, rsaE, 17, 23, "17"},
		{sha256, rsaE, 5, 30, "9-17"},
		{sha256, rsaE, 18, maxSDKUnbounded, ""},
		{sha256, sha256RSA, 14, 17, "14-17"},
		{sha256, sha1RSA, 21, 22, "22"},
		{sha1, sha256RSA, 20, 30, "20, 24-30"},
		{sha256, ecKey, 16, 23, "16-17"},
		{sha256, ecdsa256, 18, 40, "18-20"},
		{sha256, ecdsa256, 16, maxSDKUnbounded, "16-20"},
		{sha512, rsaE, 18, 30, ""},
		{"1.2.3.4", rsaE, 18, maxSDKUnbounded, "18+"},
		{sha256, "1.2.3.4", 18, 18, "18"},
	}
	for _, tc := range tests {
		if got := v1UnsupportedLevels(tc.d, tc.s, tc.min, tc.max); got != tc.want {
			t.Errorf("%s with %s on [%d,%d] = %q, want %q", tc.d, tc.s, tc.min, tc.max, got, tc.want)
		}
	}
}

// FuzzV1ParseSections checks the manifest parser never panics, keeps
// sections in order inside the input, and agrees with itself on a
// re-encoding of what it parsed.
func FuzzV1ParseSections(f *testing.F) {
	f.Add([]byte("Manifest-Version: 1.0\r\nCreated-By: x\r\n\r\nName: a\r\nSHA-256-Digest: AAAA\r\n\r\n"))
	f.Add([]byte("A: 1\n\nName: x\rD: 3\r\r  \r\n x"))
	// Regression: a value of UTF-8 continuation bytes made the line
	// wrapper loop forever (found by this fuzzer).
	f.Add([]byte("00000099999000: 00000000000000000000000000000000" + strings.Repeat("\xac", 200)))
	f.Fuzz(func(t *testing.T, data []byte) {
		secs := v1ParseSections(data)
		prev := 0
		for _, s := range secs {
			if s.start < prev || s.end < s.start || s.end > len(data) || len(s.attrs) == 0 {
				t.Fatalf("bad section %+v (prev end %d, len %d)", s, prev, len(data))
			}
			prev = s.end
		}
		var w v1Writer
		for _, s := range secs {
			for _, a := range s.attrs {
				if strings.ContainsAny(a.name+a.value, "\r\n") || a.name == "" || a.name[0] == ' ' {
					return // not writable as is
				}
				w.attr(a.name, a.value)
			}
			w.end()
		}
		again := v1ParseSections(w.buf.Bytes())
		if len(again) != len(secs) {
			t.Fatalf("re-parse: %d sections, want %d", len(again), len(secs))
		}
		for i := range secs {
			if !slices.Equal(again[i].attrs, secs[i].attrs) {
				t.Fatalf("section %d: %+v != %+v", i, again[i].attrs, secs[i].attrs)
			}
		}
	})
}

// BenchmarkSignV1ApiDemos measures signV1 over the ApiDemos entries (inflate
// and SHA-256 of ~11 MB of content, then one RSA signature); MB/s counts
// uncompressed bytes.
func BenchmarkSignV1ApiDemos(b *testing.B) {
	_, keep, entries := v1Inputs(b, testenv.RealApp(b, "ApiDemos-debug.apk"))
	var total int64
	for _, e := range keep {
		total += int64(e.UncompressedSize)
	}
	s := v1TestSigner(b, false, "bench")
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		if _, err := signV1(entries, s, v1Config{MinSDK: 21}); err != nil {
			b.Fatal(err)
		}
	}
}
