package apksig

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/cms"
	"github.com/trustfuse/trustfuse/internal/testenv"
)

// pkcs7Content is signed content shaped like a .SF file.
var pkcs7Content = []byte("Signature-Version: 1.0\r\nCreated-By: trustfuse test\r\n\r\nName: classes.dex\r\nSHA-256-Digest: AAAA\r\n\r\n")

// TestPKCS7OpenSSLVerifiesOurs has OpenSSL decode and verify the signature
// blocks pkcs7SignDetached writes, and checks their structure in OpenSSL's
// own dump: detached, no signed attributes, the digest and signature
// algorithms apksig uses, the certificate included.
func TestPKCS7OpenSSLVerifiesOurs(t *testing.T) {
	tests := []struct {
		name            string
		ec              bool
		hash            crypto.Hash
		digest, sigAlgo string
	}{
		{"rsa-sha1", false, crypto.SHA1, "sha1", "rsaEncryption"},
		{"rsa-sha256", false, crypto.SHA256, "sha256", "rsaEncryption"},
		{"ec-sha256", true, crypto.SHA256, "sha256", "id-ecPublicKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := v1TestSigner(t, tc.ec, "pkcs7-"+tc.name)
			blk, err := pkcs7SignDetached(pkcs7Content, s, tc.hash)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			blkPath, content, out := filepath.Join(dir, "CERT.RSA"), filepath.Join(dir, "CERT.SF"), filepath.Join(dir, "out")
			if err := os.WriteFile(blkPath, blk, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(content, pkcs7Content, 0o644); err != nil {
				t.Fatal(err)
			}
			res := testenv.Run(t, "openssl", "cms", "-verify", "-inform", "DER", "-in", blkPath, "-content", content,
				"-noverify", "-binary", "-out", out)
			if !strings.Contains(res, "Verification successful") {
				t.Fatalf("openssl: %s", res)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, pkcs7Content) {
				t.Fatalf("openssl output differs from the content")
			}

			// The same block over other content must fail in OpenSSL too.
			if err := os.WriteFile(content, append([]byte("X"), pkcs7Content...), 0o644); err != nil {
				t.Fatal(err)
			}
			bad, err := exec.Command(testenv.Tool(t, "openssl"), "cms", "-verify", "-inform", "DER", "-in", blkPath,
				"-content", content, "-noverify", "-binary", "-out", out).CombinedOutput()
			if err == nil {
				t.Fatalf("openssl verified tampered content: %s", bad)
			}

			dump := testenv.Run(t, "openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", blkPath)
			for _, want := range []string{
				"contentType: pkcs7-signedData",
				"eContentType: pkcs7-data",
				"eContent: <ABSENT>",
				"signedAttrs:\n          <ABSENT>",
				"algorithm: " + tc.digest,
				"algorithm: " + tc.sigAlgo,
				"CN=pkcs7-" + tc.name,
			} {
				if !strings.Contains(dump, want) {
					t.Errorf("openssl dump lacks %q:\n%s", want, dump)
				}
			}
		})
	}
}

// TestPKCS7ReadsOpenSSL verifies signature blocks made by OpenSSL, with and
// without signed attributes, with the test keys whose certificate digests
// testdata/keys/README.md records.
func TestPKCS7ReadsOpenSSL(t *testing.T) {
	keys := filepath.Join(testenv.Root(t), "testdata", "keys")
	dir := t.TempDir()
	content := filepath.Join(dir, "CERT.SF")
	if err := os.WriteFile(content, pkcs7Content, 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"rsa": "e1c2fcfce79abfed94a74c8d90062f4fb710498205b49de38da0fe7a96c7a33e",
		"ec":  "6b04f6959e509cc3764bc3c1b184655069ef5f42e2026d16a0822d9a72cf287d",
	}
	for _, key := range []string{"rsa", "ec"} {
		for _, attrs := range []bool{true, false} {
			name := key + map[bool]string{true: "-attrs", false: "-noattr"}[attrs]
			t.Run(name, func(t *testing.T) {
				blkPath := filepath.Join(dir, name+".p7s")
				args := []string{"cms", "-sign", "-binary", "-md", "sha256", "-in", content, "-outform", "DER", "-out", blkPath,
					"-signer", filepath.Join(keys, key+".x509.pem"), "-inkey", filepath.Join(keys, key+".key.pem")}
				if !attrs {
					args = append(args, "-noattr")
				}
				testenv.Run(t, "openssl", args...)
				der, err := os.ReadFile(blkPath)
				if err != nil {
					t.Fatal(err)
				}
				p7, err := parsePKCS7(der)
				if err != nil {
					t.Fatal(err)
				}
				if len(p7.signers) != 1 || (len(p7.signers[0].SignedAttrs.FullBytes) > 0) != attrs {
					t.Fatalf("%d signers, signed attributes %d bytes", len(p7.signers), len(p7.signers[0].SignedAttrs.FullBytes))
				}
				si := &p7.signers[0]
				cert, err := p7.verify(si, pkcs7Content, pkcs7VerifyOpts{checkContentType: true})
				if err != nil || cert == nil {
					t.Fatalf("verify: %v, %v", cert, err)
				}
				if CertDigest(cert) != want[key] {
					t.Errorf("signer %s, want %s", CertDigest(cert), want[key])
				}
				if c, err := p7.verify(si, append([]byte("X"), pkcs7Content...), pkcs7VerifyOpts{}); c != nil || err != nil {
					t.Errorf("tampered content: %v, %v", c, err)
				}
				_, err = p7.verify(si, pkcs7Content, pkcs7VerifyOpts{rejectSignedAttrs: true})
				if attrs != (err != nil) {
					t.Errorf("rejectSignedAttrs: %v", err)
				}
			})
		}
	}
}

func TestParsePKCS7Malformed(t *testing.T) {
	s := v1TestSigner(t, true, "pkcs7-malformed")
	good, err := pkcs7SignDetached(pkcs7Content, s, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	dataCI, _ := asn1.Marshal(cms.ContentInfo{ContentType: pkcs7OID(pkcs7OIDData),
		Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: []byte{0x04, 0x00}}})
	trailing, _ := asn1.Marshal(cms.ContentInfo{ContentType: pkcs7OID(pkcs7OIDSignedData),
		Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(v1Inner(t, good), 0x05, 0x00)}})
	badCert := v1ReplaceCerts(t, good, []byte{0x30, 0x03, 0x02, 0x01, 0x01})
	tests := map[string][]byte{
		"empty":                  nil,
		"garbage":                []byte("not DER at all"),
		"truncated":              good[:len(good)/2],
		"data content type":      dataCI,
		"trailing in SignedData": trailing,
		"certificates not DER":   v1ReplaceCerts(t, good, []byte{0x30, 0x80}),
	}
	for name, in := range tests {
		if _, err := parsePKCS7(in); !errors.Is(err, errPKCS7Malformed) {
			t.Errorf("%s: error %v, want errPKCS7Malformed", name, err)
		}
	}
	// A certificate that does not parse is reported when the signer needs it.
	p7, err := parsePKCS7(badCert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p7.verify(&p7.signers[0], pkcs7Content, pkcs7VerifyOpts{}); !errors.Is(err, errPKCS7Malformed) {
		t.Errorf("unparsable certificate: %v", err)
	}
}

// v1Inner returns the SignedData TLV of a ContentInfo.
func v1Inner(t testing.TB, ci []byte) []byte {
	t.Helper()
	var c cms.ContentInfo
	if _, err := asn1.Unmarshal(ci, &c); err != nil {
		t.Fatal(err)
	}
	return c.Content.Bytes
}

// v1ReplaceCerts returns ci with its certificates field set to certs.
func v1ReplaceCerts(t testing.TB, ci, certs []byte) []byte {
	t.Helper()
	var sd cms.SignedData
	if _, err := asn1.Unmarshal(v1Inner(t, ci), &sd); err != nil {
		t.Fatal(err)
	}
	sd.Certificates = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs}
	out, err := cms.Encode(sd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPKCS7VerifyRejects covers SignerInfos that cannot be checked at all:
// unknown algorithms, a missing certificate, a certificate whose key usage
// forbids signatures, and a signature algorithm of another key type.
func TestPKCS7VerifyRejects(t *testing.T) {
	s := v1TestSigner(t, false, "pkcs7-rejects")
	blk, err := pkcs7SignDetached(pkcs7Content, s, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	p7, err := parsePKCS7(blk)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := p7.verify(&p7.signers[0], pkcs7Content, pkcs7VerifyOpts{}); err != nil || c == nil {
		t.Fatalf("good block: %v %v", c, err)
	}
	mutate := func(f func(si *cms.SignerInfo, b *pkcs7Block)) (*x509.Certificate, error) {
		b := *p7
		b.certs = append([]*x509.Certificate(nil), p7.certs...)
		si := p7.signers[0]
		f(&si, &b)
		return b.verify(&si, pkcs7Content, pkcs7VerifyOpts{})
	}
	caCert := v1CertWithKeyUsage(t, s, x509.KeyUsageCertSign)
	tests := []struct {
		name string
		f    func(si *cms.SignerInfo, b *pkcs7Block)
		want string
	}{
		{"unknown digest", func(si *cms.SignerInfo, _ *pkcs7Block) { si.DigestAlgorithm.Algorithm = pkcs7OID("1.2.3.4") }, "unsupported digest"},
		{"unknown signature algorithm", func(si *cms.SignerInfo, _ *pkcs7Block) { si.SignatureAlgorithm.Algorithm = pkcs7OID("1.2.3.4") }, "unsupported signature"},
		{"ECDSA algorithm, RSA key", func(si *cms.SignerInfo, _ *pkcs7Block) {
			si.SignatureAlgorithm.Algorithm = pkcs7OID(pkcs7OIDECPublicKey)
		}, "with an RSA key"},
		{"certificate missing", func(_ *cms.SignerInfo, b *pkcs7Block) { b.certs = nil }, "not found"},
		{"key usage forbids signing", func(_ *cms.SignerInfo, b *pkcs7Block) { b.certs = []*x509.Certificate{caCert} }, "keyUsage"},
	}
	for _, tc := range tests {
		c, err := mutate(tc.f)
		if c != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, %v (want error containing %q)", tc.name, c, err, tc.want)
		}
	}
	// A wrong signature is "does not verify", not an error.
	if c, err := mutate(func(si *cms.SignerInfo, _ *pkcs7Block) {
		si.Signature = append([]byte(nil), si.Signature...)
		si.Signature[10] ^= 1
	}); c != nil || err != nil {
		t.Errorf("flipped signature bit: %v, %v", c, err)
	}
}

// v1CertWithKeyUsage returns a certificate for s's key with the same issuer
// and serial as s's certificate, but with the given key usage.
func v1CertWithKeyUsage(t testing.TB, s *Signer, ku x509.KeyUsage) *x509.Certificate {
	t.Helper()
	leaf := s.Certs[0]
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).Set(leaf.SerialNumber),
		Subject:      pkix.Name{CommonName: leaf.Subject.CommonName, Organization: leaf.Subject.Organization},
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2060, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     ku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Key.Public(), s.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzParsePKCS7 checks that decoding and verifying arbitrary signature
// blocks never panics, and that whatever decodes verifies only if the
// content is the signed one.
func FuzzParsePKCS7(f *testing.F) {
	for _, ec := range []bool{false, true} {
		s := v1TestSigner(f, ec, "pkcs7-fuzz")
		blk, err := pkcs7SignDetached(pkcs7Content, s, crypto.SHA256)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(blk)
	}
	f.Add([]byte{0x30, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		p7, err := parsePKCS7(der)
		if err != nil {
			return
		}
		for i := range p7.signers {
			for _, opts := range []pkcs7VerifyOpts{{}, {checkContentType: true}, {rejectSignedAttrs: true}} {
				_, _ = p7.verify(&p7.signers[i], pkcs7Content, opts)
			}
			if c, err := p7.verify(&p7.signers[i], []byte("other content"), pkcs7VerifyOpts{}); c != nil && err == nil {
				t.Fatalf("signer %d verifies other content", i)
			}
		}
	})
}
