package report

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/trustfuse/trustfuse/internal/reporttest"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// Certificate digests of the fixture keys (testdata/keys/README.md, as
// apksigner prints them).
const (
	rsaDigest = "e1c2fcfce79abfed94a74c8d90062f4fb710498205b49de38da0fe7a96c7a33e"
	ecDigest  = "6b04f6959e509cc3764bc3c1b184655069ef5f42e2026d16a0822d9a72cf287d"
	outSHA    = "3f1ad1e3a0c0b5e25b0f7f43b34dd1c4ac8b9a5e0f0ad6f3b0ff1a1c2d3e4f50"
)

func fixtureKey(t testing.TB, kind string) *keys.Signer {
	t.Helper()
	dir := filepath.Join(testenv.Root(t), "testdata", "keys")
	k, err := os.ReadFile(filepath.Join(dir, kind+".key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := os.ReadFile(filepath.Join(dir, kind+".x509.pem"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.LoadPEM(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sampleStatement is a complete statement for an output signed by signer.
func sampleStatement(signer string) *Statement {
	t0 := time.Unix(1700000000, 0).UTC()
	return &Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: "app.secured.apk", Digest: map[string]string{"sha256": outSHA}}},
		PredicateType: PredicateType,
		Predicate: Predicate{
			Build: Build{Tool: "trustfuse", Version: "test", Commit: "none", Time: t0,
				CI: map[string]string{"provider": "jenkins", "buildNumber": "7"}, Reproduce: "SOURCE_DATE_EPOCH=1700000000"},
			Input: Artifact{File: "app.apk", Size: 100, SHA256: strings.Repeat("a", 64), Package: "com.example",
				VersionCode: 42, VersionName: "1.0", MinSDK: 21, Schemes: []string{"v2"}, Signers: []string{strings.Repeat("b", 64)}, ZipAligned16K: true},
			Output: Artifact{File: "app.secured.apk", Size: 200, SHA256: outSHA, Package: "com.example",
				VersionCode: 42, VersionName: "1.0", MinSDK: 21, Schemes: []string{"v1", "v2", "v3"}, Signers: []string{signer}, ZipAligned16K: true},
			FusionSet: FusionSet{ID: "fs-test", Name: "test <&>", Version: 1, SHA256: strings.Repeat("c", 64)},
			Protections: []Protection{
				{ID: "tamper", Title: "Tamper", Mode: "defend", Status: "applied", Evidence: map[string]string{"signers": signer}},
				{ID: "emulator", Title: "Emulator", Mode: "off", Status: "skipped"},
			},
			Injected: []Injected{{Name: "classes2.dex", Size: 10, SHA256: strings.Repeat("d", 64), Action: "added"}},
			MTLS: &MTLS{Subject: "CN=client", Issuer: "CN=ca", Serial: "2a", NotBefore: t0, NotAfter: t0.Add(time.Hour),
				SHA256: strings.Repeat("e", 64), PublicKeyAlgorithm: "ECDSA P-256", Hosts: []string{"api.example.com"}},
			Attestation: Attestation{MeasurementSHA256: strings.Repeat("f", 64), Package: "com.example", VersionCode: 42,
				SignerDigests: []string{signer}, DexDigests: map[string]string{"classes.dex": strings.Repeat("1", 64)},
				RuntimeDigest: strings.Repeat("2", 64), ManifestDigest: strings.Repeat("3", 64)},
			Verification: Verification{Verified: true, MinSDK: 24, Schemes: []string{"v2", "v3"}},
			Limits:       []string{"no device ran the runtime"},
		},
	}
}

func mustSign(t testing.TB, st *Statement, s *keys.Signer) []byte {
	t.Helper()
	b, err := Sign(st, s.Key, s.Chain)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// specPAE is the DSSE v1 pre-authentication encoding written from the
// specification (secure-systems-lab/dsse protocol.md), independently of
// the library Sign uses:
//
//	PAE(type, body) = "DSSEv1" + SP + LEN(type) + SP + type + SP + LEN(body) + SP + body
func specPAE(payloadType string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(fmt.Sprint(len(payloadType)))
	b.WriteString(" ")
	b.WriteString(payloadType)
	b.WriteString(" ")
	b.WriteString(fmt.Sprint(len(body)))
	b.WriteString(" ")
	b.Write(body)
	return b.Bytes()
}

func TestPAEKnownAnswer(t *testing.T) {
	// The example of the DSSE protocol specification.
	const want = "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if got := string(specPAE("http://example.com/HelloWorld", []byte("hello world"))); got != want {
		t.Fatalf("specPAE = %q", got)
	}
	if got := string(PAE("http://example.com/HelloWorld", []byte("hello world"))); got != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
}

// rawFile is the report file decoded without our types.
type rawFile struct {
	MediaType    string `json:"mediaType"`
	DSSEEnvelope struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   string `json:"sig"`
		} `json:"signatures"`
	} `json:"dsseEnvelope"`
	CertificateChain []string `json:"certificateChain"`
}

func decodeRaw(t testing.TB, data []byte) (rawFile, []byte) {
	t.Helper()
	var f rawFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(f.DSSEEnvelope.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return f, payload
}

// schemaFromDisk compiles pkg/report/report.schema.json as shipped (read
// from the file, not the embedded copy) at loc.
func schemaFromDisk(t testing.TB, loc string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validateWith(t testing.TB, sch *jsonschema.Schema, data []byte) error {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(doc)
}

// TestSignIndependentChecks signs with the RSA and the EC fixture key and
// checks the file with tools other than our verifier: the shipped schema,
// compiled by santhosh-tekuri/jsonschema from disk, and `openssl dgst
// -verify` on a PAE computed from the specification, with the public key
// openssl extracts from the certificate the report carries.
func TestSignIndependentChecks(t *testing.T) {
	fileSchema := schemaFromDisk(t, SchemaID)
	stSchema := schemaFromDisk(t, SchemaID+"#/$defs/statement")
	for _, tc := range []struct{ kind, digest string }{{"rsa", rsaDigest}, {"ec", ecDigest}} {
		t.Run(tc.kind, func(t *testing.T) {
			s := fixtureKey(t, tc.kind)
			data := mustSign(t, sampleStatement(tc.digest), s)
			if err := validateWith(t, fileSchema, data); err != nil {
				t.Fatalf("report file does not match the schema: %v", err)
			}
			f, payload := decodeRaw(t, data)
			if err := validateWith(t, stSchema, payload); err != nil {
				t.Fatalf("payload does not match the schema: %v", err)
			}
			if f.MediaType != MediaType || f.DSSEEnvelope.PayloadType != "application/vnd.in-toto+json" ||
				len(f.DSSEEnvelope.Signatures) != 1 || f.DSSEEnvelope.Signatures[0].KeyID != tc.digest || len(f.CertificateChain) != 1 {
				t.Fatalf("unexpected envelope: %+v", f)
			}
			var st map[string]any
			if err := json.Unmarshal(payload, &st); err != nil {
				t.Fatal(err)
			}
			if st["_type"] != "https://in-toto.io/Statement/v1" || st["predicateType"] != "https://trustfuse.dev/certified-secure/v1" {
				t.Fatalf("statement header: %v %v", st["_type"], st["predicateType"])
			}

			dir := t.TempDir()
			der, err := base64.StdEncoding.DecodeString(f.CertificateChain[0])
			if err != nil {
				t.Fatal(err)
			}
			sig, err := base64.StdEncoding.DecodeString(f.DSSEEnvelope.Signatures[0].Sig)
			if err != nil {
				t.Fatal(err)
			}
			write := func(name string, b []byte) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			certPath := write("cert.der", der)
			pub := testenv.Run(t, "openssl", "x509", "-inform", "DER", "-in", certPath, "-pubkey", "-noout")
			pubPath := write("pub.pem", []byte(pub))
			fp := testenv.Run(t, "openssl", "x509", "-inform", "DER", "-in", certPath, "-fingerprint", "-sha256", "-noout")
			if got := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(fp[strings.Index(fp, "=")+1:]), ":", "")); got != tc.digest {
				t.Fatalf("carried certificate has sha256 %s, want %s", got, tc.digest)
			}
			sigPath := write("sig.bin", sig)
			pae := specPAE(f.DSSEEnvelope.PayloadType, payload)
			paePath := write("pae.bin", pae)
			out := testenv.Run(t, "openssl", "dgst", "-sha256", "-verify", pubPath, "-signature", sigPath, paePath)
			if !strings.Contains(out, "Verified OK") {
				t.Fatalf("openssl: %s", out)
			}
			// The fixture's own certificate file verifies it too.
			fixturePub := testenv.Run(t, "openssl", "x509", "-in", filepath.Join(testenv.Root(t), "testdata", "keys", tc.kind+".x509.pem"), "-pubkey", "-noout")
			testenv.Run(t, "openssl", "dgst", "-sha256", "-verify", write("fixture.pem", []byte(fixturePub)), "-signature", sigPath, paePath)

			// openssl must reject a PAE with one payload byte changed.
			bad := bytes.Clone(pae)
			bad[len(bad)-2] ^= 1
			badPath := write("bad.bin", bad)
			cmd := exec.Command(testenv.Tool(t, "openssl"), "dgst", "-sha256", "-verify", pubPath, "-signature", sigPath, badPath)
			if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Verification failure") {
				t.Fatalf("openssl accepted a changed payload: %v %s", err, out)
			}
		})
	}
}

func TestSignDeterministic(t *testing.T) {
	for _, tc := range []struct{ kind, digest string }{{"rsa", rsaDigest}, {"ec", ecDigest}} {
		s := fixtureKey(t, tc.kind)
		a := mustSign(t, sampleStatement(tc.digest), s)
		b := mustSign(t, sampleStatement(tc.digest), s)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two signatures of the same statement differ", tc.kind)
		}
	}
}

func TestSignRefuses(t *testing.T) {
	rsa, ec := fixtureKey(t, "rsa"), fixtureKey(t, "ec")
	noLimits := sampleStatement(rsaDigest)
	noLimits.Predicate.Limits = nil
	badStatus := sampleStatement(rsaDigest)
	badStatus.Predicate.Protections[0].Status = "maybe"
	tests := []struct {
		name  string
		st    *Statement
		s     *keys.Signer
		chain []*x509.Certificate
		want  string
	}{
		{"key is not the leaf's", sampleStatement(rsaDigest), rsa, ec.Chain, "is not the key of the certificate"},
		{"no chain", sampleStatement(rsaDigest), rsa, []*x509.Certificate{}, "no certificate chain"},
		{"limits missing", noLimits, rsa, rsa.Chain, "payload/predicate/limits"},
		{"status outside the enum", badStatus, rsa, rsa.Chain, "payload/predicate/protections/0/status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Sign(tt.st, tt.s.Key, tt.chain)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sign: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// editFile rewrites the outer JSON of the file.
func editFile(t testing.TB, data []byte, edit func(f map[string]any)) []byte {
	t.Helper()
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	edit(f)
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerify(t *testing.T) {
	rsa, ec := fixtureKey(t, "rsa"), fixtureKey(t, "ec")
	good := mustSign(t, sampleStatement(rsaDigest), rsa)
	goodEC := mustSign(t, sampleStatement(ecDigest), ec)
	resigned := mustSign(t, sampleStatement(rsaDigest), ec) // another key signs the same claims
	want := Expect{Name: "app.secured.apk", SHA256: outSHA, Signers: []string{rsaDigest}}
	// A self-signed certificate for a throwaway key: a valid report chain
	// whose signature was not made by it.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0)}
	otherDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &other.PublicKey, other)
	if err != nil {
		t.Fatal(err)
	}
	otherSum := sha256.Sum256(otherDER)

	type kind int
	const (
		ok kind = iota
		mismatch
		malformed
	)
	tests := []struct {
		name   string
		data   []byte
		want   Expect
		kind   kind
		fields []string // mismatching fields, or a substring of the format error
	}{
		{"good", good, want, ok, nil},
		{"good, EC key", goodEC, Expect{SHA256: outSHA, Signers: []string{ecDigest}}, ok, nil},
		{"good, upper-case digests", good, Expect{SHA256: strings.ToUpper(outSHA), Signers: []string{strings.ToUpper(rsaDigest)}}, ok, nil},
		{"versionCode changed in the payload", reporttest.EditPayload(t, good, func(st map[string]any) {
			st["predicate"].(map[string]any)["output"].(map[string]any)["versionCode"] = 43
		}), want, mismatch, []string{FieldSignature}},
		{"subject digest changed in the payload", reporttest.EditPayload(t, good, func(st map[string]any) {
			st["subject"].([]any)[0].(map[string]any)["digest"].(map[string]any)["sha256"] = strings.Repeat("0", 64)
		}), want, mismatch, []string{FieldSignature}},
		{"re-signed with another key", resigned, want, mismatch, []string{FieldSigner}},
		{"chain replaced by another certificate", editFile(t, good, func(f map[string]any) {
			f["certificateChain"] = []any{base64.StdEncoding.EncodeToString(otherDER)}
		}), want, mismatch, []string{FieldSignature}},
		{"keyid changed", editFile(t, good, func(f map[string]any) {
			f["dsseEnvelope"].(map[string]any)["signatures"].([]any)[0].(map[string]any)["keyid"] = hex.EncodeToString(otherSum[:])
		}), want, mismatch, []string{FieldSignature}},
		{"another artifact", good, Expect{Name: "app.secured.apk", SHA256: strings.Repeat("9", 64), Signers: []string{rsaDigest}},
			mismatch, []string{FieldSubjectDigest, FieldOutputSHA256}},
		{"renamed artifact", good, Expect{Name: "other.apk", SHA256: outSHA, Signers: []string{rsaDigest}}, mismatch, []string{FieldSubjectName}},
		{"APK has an extra signer", good, Expect{SHA256: outSHA, Signers: []string{rsaDigest, ecDigest}}, mismatch, []string{FieldOutputSigners}},
		{"APK unsigned", good, Expect{SHA256: outSHA}, mismatch, []string{FieldSigner}},
		{"not JSON", []byte(`{"mediaType": `), want, malformed, []string{"not JSON", "at byte"}},
		{"trailing data", append(bytes.Clone(good), "{}"...), want, malformed, []string{"data after the JSON value"}},
		{"empty", nil, want, malformed, []string{"not JSON"}},
		{"no signatures", editFile(t, good, func(f map[string]any) {
			f["dsseEnvelope"].(map[string]any)["signatures"] = []any{}
		}), want, malformed, []string{"/dsseEnvelope/signatures"}},
		{"unknown field", editFile(t, good, func(f map[string]any) { f["extra"] = 1 }), want, malformed, []string{"extra"}},
		{"wrong payload type", editFile(t, good, func(f map[string]any) {
			f["dsseEnvelope"].(map[string]any)["payloadType"] = "text/plain"
		}), want, malformed, []string{"/dsseEnvelope/payloadType"}},
		{"certificate garbage", editFile(t, good, func(f map[string]any) {
			f["certificateChain"] = []any{"AAAA"}
		}), want, malformed, []string{"/certificateChain/0", "not an X.509 certificate"}},
		{"payload base64 broken", editFile(t, good, func(f map[string]any) {
			f["dsseEnvelope"].(map[string]any)["payload"] = "e30=e30="
		}), want, malformed, []string{"/dsseEnvelope/payload"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Verify(tt.data, tt.want)
			switch tt.kind {
			case ok:
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if r.Statement.Predicate.Output.VersionCode != 42 || len(r.Matched) < 4 {
					t.Fatalf("unexpected result %+v", r)
				}
			case mismatch:
				var got []string
				for _, e := range unjoin(err) {
					var me *MismatchError
					if !errors.As(e, &me) {
						t.Fatalf("Verify: %v (%T), want *MismatchError", err, err)
					}
					got = append(got, me.Field)
				}
				if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
					t.Fatalf("mismatching fields %v, want %v (%v)", got, tt.fields, err)
				}
			case malformed:
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("Verify: %v (%T), want *FormatError", err, err)
				}
				for _, s := range tt.fields {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
			}
		})
	}
}

// unjoin splits an errors.Join result into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestMismatchErrorMessage(t *testing.T) {
	err := &MismatchError{Field: FieldSubjectDigest, Want: "aa", Got: "bb"}
	if got, want := err.Error(), "report: subject.digest.sha256 does not match: the artifact has aa, the report has bb"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestCIContext(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string
	}{
		{"none", map[string]string{"HOME": "/root"}, nil},
		{"github actions", map[string]string{
			"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "123", "GITHUB_RUN_NUMBER": "7",
			"GITHUB_SHA": "abc", "GITHUB_REF": "refs/heads/main", "GITHUB_SERVER_URL": "https://github.com/", "GITHUB_TOKEN": "secret",
		}, map[string]string{"provider": "github-actions", "repository": "acme/app", "runId": "123", "buildNumber": "7",
			"commit": "abc", "ref": "refs/heads/main", "buildUrl": "https://github.com/acme/app/actions/runs/123"}},
		{"github actions says false", map[string]string{"GITHUB_ACTIONS": "false", "GITHUB_SHA": "abc"}, nil},
		{"jenkins, credentials in the URL", map[string]string{
			"JENKINS_URL": "https://ci.example/", "BUILD_NUMBER": "42", "JOB_NAME": "app/release",
			"BUILD_URL": "https://bob:hunter2@ci.example/job/app/42/", "GIT_COMMIT": "def", "GIT_BRANCH": "origin/main",
		}, map[string]string{"provider": "jenkins", "buildNumber": "42", "job": "app/release",
			"buildUrl": "https://ci.example/job/app/42/", "commit": "def", "ref": "origin/main"}},
		{"bitrise", map[string]string{
			"BITRISE_IO": "true", "BITRISE_BUILD_NUMBER": "5", "BITRISE_BUILD_URL": "https://app.bitrise.io/build/x",
			"BITRISE_GIT_COMMIT": "0123",
		}, map[string]string{"provider": "bitrise", "buildNumber": "5", "buildUrl": "https://app.bitrise.io/build/x", "commit": "0123"}},
		{"circleci", map[string]string{
			"CIRCLECI": "true", "CIRCLE_BUILD_NUM": "9", "CIRCLE_BUILD_URL": "https://circleci.com/gh/a/b/9", "CIRCLE_SHA1": "fed",
			"CIRCLE_BRANCH": "main", "CIRCLE_JOB": "build",
		}, map[string]string{"provider": "circleci", "buildNumber": "9", "buildUrl": "https://circleci.com/gh/a/b/9",
			"commit": "fed", "ref": "main", "job": "build"}},
		{"bad URL dropped", map[string]string{"JENKINS_URL": "x", "BUILD_URL": "http://a b\x7f"}, map[string]string{"provider": "jenkins"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CIContext(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tt.want)
			if string(gb) != string(wb) {
				t.Fatalf("CIContext = %s, want %s", gb, wb)
			}
		})
	}
	if CIContext(nil) != nil {
		t.Fatal("CIContext(nil) != nil")
	}
}

// FuzzOpen feeds arbitrary bytes to the report reader: it must never
// panic, and a report it accepts must have a statement and a chain.
func FuzzOpen(f *testing.F) {
	s := fixtureKey(f, "rsa")
	good := mustSign(f, sampleStatement(rsaDigest), s)
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"mediaType":"application/vnd.trustfuse.report.v1+json","dsseEnvelope":{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AAAA"}]},"certificateChain":["AAAA"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Open(data)
		if err == nil && (r.Statement == nil || len(r.Chain) == 0) {
			t.Fatalf("accepted without statement or chain: %+v", r)
		}
	})
}
