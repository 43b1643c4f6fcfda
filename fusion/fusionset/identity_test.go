package fusionset

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// fusionWith is the issue's example with other mtls references.
func fusionWith(cert, password, pin string) string {
	doc := strings.Replace(issueExample, `"file:client.p12"`, `"`+cert+`"`, 1)
	doc = strings.Replace(doc, `"env:CLIENT_P12_PASS"`, `"`+password+`"`, 1)
	return strings.Replace(doc, `"file:server-ca.pem"`, `"`+pin+`"`, 1)
}

// loadProblems loads doc from w and returns its *ValidationError (nil if
// the document is valid).
func loadProblems(t *testing.T, w *world, doc string, opts LoadOptions) (*FusionSet, *ValidationError, error) {
	t.Helper()
	fs, err := Load(w.write(t, "fusion.json", doc), opts)
	var ve *ValidationError
	if err != nil && !errors.As(err, &ve) {
		t.Fatalf("Load: %v (not a *ValidationError)", err)
	}
	return fs, ve, err
}

func TestWrongPasswordIsCredentialError(t *testing.T) {
	w := newWorld(t)
	const wrong = "wrong-Pa55-do-not-print"
	for _, tt := range []struct {
		name, ref string
		env       map[string]string
		kind      error
	}{
		{"env", "env:CLIENT_P12_PASS", map[string]string{"CLIENT_P12_PASS": wrong}, keys.ErrBadPassword},
		{"literal", "pass:" + wrong, nil, keys.ErrBadPassword},
		{"absent", "", nil, keys.ErrBadPassword},
		{"unset variable", "env:NOT_SET_ANYWHERE", map[string]string{}, keys.ErrSecretRef},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := fusionWith("file:client.p12", tt.ref, "file:server-ca.pem")
			if tt.ref == "" {
				doc = strings.Replace(doc, `"password": "", `, ``, 1)
			}
			_, ve, err := loadProblems(t, w, doc, w.opts(tt.env))
			if ve == nil {
				t.Fatal("Load succeeded")
			}
			var ce *keys.CredentialError
			if !errors.As(err, &ce) || !errors.Is(err, tt.kind) {
				t.Fatalf("Load = %v, want a *keys.CredentialError %v", err, tt.kind)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Error("not ErrInvalid")
			}
			if len(ve.Problems) != 1 || ve.Problems[0].Path != "$.mtls.password" {
				t.Errorf("problems = %v, want one at $.mtls.password", ve.Problems)
			}
			if strings.Contains(err.Error(), wrong) || strings.Contains(fmt.Sprint(ve.Problems, ve.Warnings), wrong) {
				t.Errorf("the password leaks: %v", err)
			}
		})
	}
}

// TestClientCertificateChecks covers validity, key usage, a PKCS#12 without
// key, and files that are not PKCS#12.
func TestClientCertificateChecks(t *testing.T) {
	w := newWorld(t)
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tests := []struct {
		name    string
		spec    leafSpec
		noKey   bool
		msg     string // "" = valid
		warning string
	}{
		{name: "good", spec: leafSpec{eku: client, ku: x509.KeyUsageDigitalSignature}},
		{name: "no EKU, no KU", spec: leafSpec{}},
		{name: "clientAuth and serverAuth", spec: leafSpec{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}},
		{name: "expired", spec: leafSpec{eku: client, notBefore: testNow.AddDate(-2, 0, 0), notAfter: testNow.Add(-time.Hour)}, msg: `expired on 2026-06-01T11:00:00Z`},
		{name: "not yet valid", spec: leafSpec{eku: client, notBefore: testNow.Add(24 * time.Hour)}, msg: `is not valid before 2026-06-02T12:00:00Z`},
		{name: "expires soon", spec: leafSpec{eku: client, notAfter: testNow.Add(10 * 24 * time.Hour)}, warning: "expires in 10 days"},
		{name: "serverAuth only", spec: leafSpec{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, msg: "has extended key usage serverAuth but not clientAuth"},
		{name: "anyExtendedKeyUsage only", spec: leafSpec{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}, msg: "has extended key usage anyExtendedKeyUsage but not clientAuth"},
		{name: "unknown EKU only", spec: leafSpec{unknownEKU: []asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 99999, 1}}}, msg: "1.3.6.1.4.1.99999.1 but not clientAuth"},
		{name: "key usage without digitalSignature", spec: leafSpec{eku: client, ku: x509.KeyUsageKeyEncipherment}, msg: "key usage without digitalSignature"},
		{name: "no private key", spec: leafSpec{eku: client}, noKey: true, msg: "holds no private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.cn = tt.name
			k, cert := w.ca.issue(t, tt.spec)
			var key crypto.Signer = k
			if tt.noKey {
				key = nil
			}
			name := strings.ReplaceAll(tt.name, " ", "_") + ".p12"
			writeP12(t, w.dir, name, key, cert, p12Pass)
			fs, ve, err := loadProblems(t, w, fusionWith("file:"+name, "env:CLIENT_P12_PASS", "file:server-ca.pem"), w.opts(nil))
			switch {
			case tt.msg == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tt.msg == "":
				if fs.ClientCertificate().Subject.CommonName != tt.name {
					t.Errorf("leaf CN = %q", fs.ClientCertificate().Subject.CommonName)
				}
				if tt.warning != "" && (len(fs.Warnings) != 1 || !strings.Contains(fs.Warnings[0].Message, tt.warning)) {
					t.Errorf("warnings = %v, want %q", fs.Warnings, tt.warning)
				}
				if tt.warning == "" && len(fs.Warnings) != 0 {
					t.Errorf("warnings = %v", fs.Warnings)
				}
			default:
				if ve == nil {
					t.Fatal("Load succeeded")
				}
				if keys.IsCredential(err) {
					t.Errorf("%v is a credential error; want a plain problem (exit 2)", err)
				}
				p := ve.Problems[0]
				line, col := position(t, fusionWith("file:"+name, "", ""), `"file:`+name)
				if len(ve.Problems) != 1 || p.Path != "$.mtls.clientCertificate" || !strings.Contains(p.Message, tt.msg) || p.Line != line || p.Col != col {
					t.Errorf("problems = %v\nwant one at %d:%d $.mtls.clientCertificate containing %q", ve.Problems, line, col, tt.msg)
				}
			}
		})
	}
}

// TestClientAuthAgreesWithOpenSSL checks our extended-key-usage verdict
// against OpenSSL's sslclient purpose check (what nginx's
// ssl_verify_client applies) for the same certificates.
func TestClientAuthAgreesWithOpenSSL(t *testing.T) {
	w := newWorld(t)
	caPath := filepath.Join(w.dir, "server-ca.pem")
	specs := map[string]leafSpec{
		"no EKU":            {},
		"clientAuth":        {eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		"client and server": {eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		"serverAuth":        {eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		"any":               {eku: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}},
		"codeSigning":       {eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}},
		"KU digitalSig":     {ku: x509.KeyUsageDigitalSignature},
		"KU certSign only":  {ku: x509.KeyUsageCertSign},
	}
	openssl := testenv.Tool(t, "openssl")
	for name, spec := range specs {
		_, cert := w.ca.issue(t, spec)
		leaf := writePEM(t, w.dir, "leaf.pem", certBlock(cert))
		out, err := exec.Command(openssl, "verify", "-purpose", "sslclient", "-no_check_time", "-CAfile", caPath, leaf).CombinedOutput()
		theirs := err == nil
		if err != nil && !strings.Contains(string(out), "error 26 at 0 depth lookup: unsuitable certificate purpose") {
			t.Fatalf("%s: openssl verify: %v\n%s", name, err, out)
		}
		ps := &problems{}
		ours := checkClientCert(ps, "", cert, testNow)
		if ours != theirs {
			t.Errorf("%s: we accept = %v, openssl verify -purpose sslclient accepts = %v (%s)", name, ours, theirs, strings.TrimSpace(string(out)))
		}
	}
}

func TestPasswordReferences(t *testing.T) {
	w := newWorld(t)
	if err := os.WriteFile(filepath.Join(w.dir, "p12.pass"), []byte(p12Pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// file: relative to the Fusion Set's directory, not the working directory.
	if _, err := Load(w.write(t, "fusion.json", fusionWith("file:client.p12", "file:p12.pass", "file:server-ca.pem")), w.opts(nil)); err != nil {
		t.Errorf("file: reference: %v", err)
	}
	opts := w.opts(nil)
	opts.Stdin = strings.NewReader(p12Pass + "\n")
	if _, err := Load(w.write(t, "fusion.json", fusionWith("file:client.p12", "stdin", "file:server-ca.pem")), opts); err != nil {
		t.Errorf("stdin reference: %v", err)
	}
	// An absolute path works too.
	abs := filepath.Join(w.dir, "client.p12")
	fs, err := Load(w.write(t, "fusion.json", fusionWith("file:"+abs, "pass:"+p12Pass, "file:server-ca.pem")), w.opts(nil))
	if err != nil {
		t.Fatalf("literal: %v", err)
	}
	if len(fs.Warnings) != 1 || fs.Warnings[0].Path != "$.mtls.password" || !strings.Contains(fs.Warnings[0].Message, "use env:NAME or file:PATH") {
		t.Errorf("literal password warnings = %v", fs.Warnings)
	}
	// The literal never shows: not in String, %v, %+v, %#v or JSON of the model.
	for _, s := range []string{fs.String(), fmt.Sprint(fs), fmt.Sprintf("%v %+v %#v", *fs, *fs, *fs), fmt.Sprintf("%+v %#v", fs.MTLS, fs.MTLS), fmt.Sprint(fs.Warnings)} {
		if strings.Contains(s, p12Pass) {
			t.Errorf("password in %q", s)
		}
	}
	if b, _ := fs.MTLS.Password.MarshalJSON(); strings.Contains(string(b), p12Pass) {
		t.Errorf("password in JSON %s", b)
	}
}

func TestNotPKCS12(t *testing.T) {
	w := newWorld(t)
	key, cert := w.ca.issue(t, leafSpec{cn: "pem"})
	writePEM(t, w.dir, "client.pem", keyBlock(t, key), certBlock(cert))
	if err := os.WriteFile(filepath.Join(w.dir, "garbage.p12"), []byte("not a keystore"), 0o600); err != nil {
		t.Fatal(err)
	}
	for ref, msg := range map[string]string{
		"file:client.pem":  "is a PEM file: clientCertificate must be PKCS#12",
		"file:garbage.p12": "not a PKCS#12, JKS or PEM keystore",
	} {
		_, ve, err := loadProblems(t, w, fusionWith(ref, "env:CLIENT_P12_PASS", "file:server-ca.pem"), w.opts(nil))
		if ve == nil || len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].Message, msg) || keys.IsCredential(err) {
			t.Errorf("%s: Load = %v, want one problem containing %q (not a credential error)", ref, err, msg)
		}
	}
}

func TestPinnedCAs(t *testing.T) {
	w := newWorld(t)
	old := newCA(t, "Old CA", testNow.AddDate(-5, 0, 0), testNow.AddDate(0, 0, -1))
	key, leaf := w.ca.issue(t, leafSpec{cn: "server leaf"})
	writePEM(t, w.dir, "two.pem", certBlock(w.ca.cert), certBlock(newCA(t, "Second CA", testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0)).cert))
	writePEM(t, w.dir, "expired.pem", certBlock(old.cert))
	writePEM(t, w.dir, "withkey.pem", certBlock(w.ca.cert), keyBlock(t, key))
	writePEM(t, w.dir, "leaf.pem", certBlock(leaf))
	writePEM(t, w.dir, "csr.pem", &pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}})
	if err := os.WriteFile(filepath.Join(w.dir, "ca.der"), w.ca.cert.Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "junk.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, msg, warning string
		n                  int
	}{
		{file: "two.pem", n: 2},
		{file: "ca.der", n: 1},
		{file: "leaf.pem", n: 1, warning: "is not a CA certificate"},
		{file: "expired.pem", msg: `pinned CA "CN=Old CA" expired on`},
		{file: "withkey.pem", msg: "holds a private key"},
		{file: "csr.pem", msg: `unexpected PEM block "CERTIFICATE REQUEST"`},
		{file: "junk.pem", msg: "neither PEM certificates nor a DER certificate"},
	}
	for _, tt := range tests {
		fs, ve, err := loadProblems(t, w, fusionWith("file:client.p12", "env:CLIENT_P12_PASS", "file:"+tt.file), w.opts(nil))
		switch {
		case tt.msg != "":
			if ve == nil || len(ve.Problems) != 1 || ve.Problems[0].Path != "$.mtls.pinServerCA" || !strings.Contains(ve.Problems[0].Message, tt.msg) {
				t.Errorf("%s: Load = %v, want one problem at $.mtls.pinServerCA containing %q", tt.file, err, tt.msg)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.file, err)
		default:
			if len(fs.PinnedCAs) != tt.n {
				t.Errorf("%s: %d pinned CAs, want %d", tt.file, len(fs.PinnedCAs), tt.n)
			}
			if (tt.warning == "") != (len(fs.Warnings) == 0) || (tt.warning != "" && !strings.Contains(fs.Warnings[0].Message, tt.warning)) {
				t.Errorf("%s: warnings = %v, want %q", tt.file, fs.Warnings, tt.warning)
			}
		}
	}
}

// TestAllProblemsAtOnce checks that a credential failure does not hide the
// other problems, and that the error still maps to the credential kind.
func TestAllProblemsAtOnce(t *testing.T) {
	w := newWorld(t)
	doc := strings.Replace(fusionWith("file:client.p12", "pass:nope", "file:server-ca.pem"), `"tokenTTL": "5m"`, `"tokenTTL": "2h"`, 1)
	doc = strings.Replace(doc, `"mode": "off"`, `"mode": "of"`, 1)
	_, ve, err := loadProblems(t, w, doc, w.opts(nil))
	if ve == nil || len(ve.Problems) != 3 || !errors.Is(err, keys.ErrBadPassword) {
		t.Fatalf("Load = %v, want 3 problems, one a wrong password", err)
	}
	want := []string{"$.mtls.password", "$.attestation.tokenTTL", "$.threats.emulator.mode"}
	for i, p := range ve.Problems {
		if p.Path != want[i] {
			t.Errorf("problem %d at %s, want %s (file order)", i, p.Path, want[i])
		}
	}
	if len(ve.Warnings) != 1 {
		t.Errorf("warnings = %v, want the literal-password one", ve.Warnings)
	}
}

// TestIssuerCAs loads mtls.issuerCA files of each class in attested mode:
// a CA bundle (issuer first, as given), a DER CA, and each refusal — not
// yet valid, expired, not a CA, keyCertSign missing, an extended key usage
// without clientAuth — at the value's line and column; one close to expiry
// warns.
func TestIssuerCAs(t *testing.T) {
	w := newWorld(t)
	root := newCA(t, "Root CA", testNow.AddDate(-1, 0, 0), testNow.AddDate(5, 0, 0))
	_, sub := root.issue(t, leafSpec{cn: "Issuing CA", isCA: true, ku: x509.KeyUsageCertSign})
	_, leaf := w.ca.issue(t, leafSpec{cn: "Leaf", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	_, noSign := w.ca.issue(t, leafSpec{cn: "CRL Only CA", isCA: true, ku: x509.KeyUsageCRLSign})
	_, serverOnly := w.ca.issue(t, leafSpec{cn: "Server CA", isCA: true, ku: x509.KeyUsageCertSign, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	writePEM(t, w.dir, "bundle.pem", certBlock(sub), certBlock(root.cert))
	writePEM(t, w.dir, "future.pem", certBlock(newCA(t, "Future CA", testNow.AddDate(0, 0, 1), testNow.AddDate(1, 0, 0)).cert))
	writePEM(t, w.dir, "expired.pem", certBlock(newCA(t, "Old CA", testNow.AddDate(-5, 0, 0), testNow.AddDate(0, 0, -1)).cert))
	writePEM(t, w.dir, "soon.pem", certBlock(newCA(t, "Soon CA", testNow.AddDate(-1, 0, 0), testNow.AddDate(0, 0, 10)).cert))
	writePEM(t, w.dir, "leaf.pem", certBlock(leaf))
	writePEM(t, w.dir, "nosign.pem", certBlock(noSign))
	writePEM(t, w.dir, "server.pem", certBlock(serverOnly))
	if err := os.WriteFile(filepath.Join(w.dir, "ca.der"), w.ca.cert.Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, msg, warning string
		subjects           []string
	}{
		{file: "bundle.pem", subjects: []string{"CN=Issuing CA", "CN=Root CA"}},
		{file: "ca.der", subjects: []string{"CN=Test CA"}},
		{file: "soon.pem", subjects: []string{"CN=Soon CA"}, warning: `issuer CA "CN=Soon CA" expires in 10 days`},
		{file: "future.pem", msg: `issuer CA "CN=Future CA" is not valid before 2026-06-02T12:00:00Z`},
		{file: "expired.pem", msg: `issuer CA "CN=Old CA" expired on 2026-05-31T12:00:00Z`},
		{file: "leaf.pem", msg: `issuer CA "CN=Leaf" is not a CA certificate (basic constraints CA:true)`},
		{file: "nosign.pem", msg: `issuer CA "CN=CRL Only CA" has key usage without keyCertSign`},
		{file: "server.pem", msg: `issuer CA "CN=Server CA" has extended key usage serverAuth, which excludes clientAuth`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ref := `"file:` + tt.file + `"`
			doc := strings.Replace(attestedExample, `"file:./server-ca.pem"`, ref, 1)
			fs, ve, err := loadProblems(t, w, doc, w.opts(nil))
			if tt.msg != "" {
				line, col := position(t, doc, ref)
				if ve == nil || len(ve.Problems) != 1 {
					t.Fatalf("Load = %v, want one problem", err)
				}
				p := ve.Problems[0]
				if p.Path != "$.mtls.issuerCA" || p.Line != line || p.Col != col || !strings.Contains(p.Message, tt.msg) {
					t.Errorf("problem %d:%d %s: %s\nwant %d:%d $.mtls.issuerCA containing %q", p.Line, p.Col, p.Path, p.Message, line, col, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range fs.IssuerCAs {
				got = append(got, c.Subject.String())
			}
			if !slices.Equal(got, tt.subjects) {
				t.Errorf("issuer CAs %v, want %v", got, tt.subjects)
			}
			if (tt.warning == "") != (len(fs.Warnings) == 0) || (tt.warning != "" && !strings.Contains(fs.Warnings[0].Message, tt.warning)) {
				t.Errorf("warnings = %v, want %q", fs.Warnings, tt.warning)
			}
		})
	}
}
