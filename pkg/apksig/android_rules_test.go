package apksig

import (
	"crypto"
	"crypto/dsa" //nolint:staticcheck // DSA JAR signers, which Android accepts
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/cms"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// This file checks the JAR (v1) signatures Android accepts although a plain
// reading of the specifications would not, and the ones it refuses, against
// apksigner: signer certificates found by X.500 name equality, the whole
// digest × signature algorithm table by API level (MD5 and DSA included),
// certificates crypto/x509 refuses (BER, a negative RSA modulus), and the
// limit of 10 signers. Every input apksigner accepts is re-signed and fused by
// the trustfuse binary, and both outputs must pass apksigner.

// v1BlockSpec describes a crafted signature block: the key that signs the .SF
// file, the certificates field (DER or BER, as given), the signer identifier
// and the algorithm OIDs of the SignerInfo.
type v1BlockSpec struct {
	key               any // *rsa.PrivateKey, *ecdsa.PrivateKey or *dsa.PrivateKey
	certs             [][]byte
	sid               []byte
	digestOID, sigOID string
}

// v1CraftBlock signs sf as spec says and returns the ContentInfo. The
// signature hash is the signature algorithm's own, or the digest
// algorithm's for key-only OIDs, as Android computes it.
func v1CraftBlock(t testing.TB, sf []byte, spec v1BlockSpec) []byte {
	t.Helper()
	alg, ok := pkcs7SigAlgByOID(spec.sigOID)
	h, ok2 := pkcs7DigestHash(spec.digestOID)
	if !ok || !ok2 {
		t.Fatalf("unknown algorithm %s / %s", spec.digestOID, spec.sigOID)
	}
	if alg.hash != 0 {
		h = alg.hash
	}
	digest := pkcs7Hash(h, sf)
	var sig []byte
	var err error
	switch k := spec.key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(nil, k, h, digest)
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, k, digest)
	case *dsa.PrivateKey:
		sig = v1DSASign(t, k, digest)
	default:
		t.Fatalf("key %T", k)
	}
	if err != nil {
		t.Fatal(err)
	}
	digestAlg := pkix.AlgorithmIdentifier{Algorithm: pkcs7OID(spec.digestOID), Parameters: asn1.NullRawValue}
	sd := cms.SignedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{digestAlg},
		EncapContentInfo: cms.EncapContent{ContentType: pkcs7OID(pkcs7OIDData)},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: joinBytes(spec.certs)},
		SignerInfos: []cms.SignerInfo{{
			Version:            1,
			SID:                asn1.RawValue{FullBytes: spec.sid},
			DigestAlgorithm:    digestAlg,
			SignatureAlgorithm: pkix.AlgorithmIdentifier{Algorithm: pkcs7OID(spec.sigOID), Parameters: asn1.NullRawValue},
			Signature:          sig,
		}},
	}
	out, err := cms.Encode(sd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// v1DSASign signs a digest with DSA, using its leftmost bits as FIPS 186-3
// says, and encodes (r, s) as Java expects.
func v1DSASign(t testing.TB, k *dsa.PrivateKey, digest []byte) []byte {
	t.Helper()
	if n := (k.Q.BitLen() + 7) / 8; len(digest) > n {
		digest = digest[:n]
	}
	r, s, err := dsa.Sign(rand.Reader, k, digest)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// v1IssuerSerial encodes an IssuerAndSerialNumber signer identifier.
func v1IssuerSerial(t testing.TB, issuer []byte, serial *big.Int) []byte {
	t.Helper()
	sid, err := asn1.Marshal(cms.IssuerAndSerial{Issuer: asn1.RawValue{FullBytes: issuer}, Serial: serial})
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

// v1NamedCert returns an RSA key and a self-signed certificate whose subject
// and issuer are the DER name given, with a SubjectKeyIdentifier.
func v1NamedCert(t testing.TB, name []byte) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x5eed),
		RawSubject:   name,
		SubjectKeyId: []byte("trustfuse-ski-01"),
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2060, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, c
}

// v1DSACert returns a DSA key (1024-bit p, 160-bit q: SHA-1 and SHA-256
// both work with it) and a self-signed certificate, encoded here because
// crypto/x509 cannot write DSA certificates.
func v1DSACert(t testing.TB) (*dsa.PrivateKey, []byte) {
	t.Helper()
	k := new(dsa.PrivateKey)
	if err := dsa.GenerateParameters(&k.Parameters, rand.Reader, dsa.L1024N160); err != nil {
		t.Fatal(err)
	}
	if err := dsa.GenerateKey(k, rand.Reader); err != nil {
		t.Fatal(err)
	}
	y, err := asn1.Marshal(k.Y)
	if err != nil {
		t.Fatal(err)
	}
	params, err := asn1.Marshal(struct{ P, Q, G *big.Int }{k.P, k.Q, k.G})
	if err != nil {
		t.Fatal(err)
	}
	name := x500Name(t, []x500AVA{{"2.5.4.3", asn1.TagUTF8String, "TrustFuse DSA signer"}})
	sigAlg := pkix.AlgorithmIdentifier{Algorithm: pkcs7OID("1.2.840.10040.4.3")}
	tbs, err := asn1.Marshal(struct {
		Version  int `asn1:"explicit,tag:0"`
		Serial   *big.Int
		SigAlg   pkix.AlgorithmIdentifier
		Issuer   asn1.RawValue
		Validity struct{ NotBefore, NotAfter time.Time }
		Subject  asn1.RawValue
		SPKI     struct {
			Alg pkix.AlgorithmIdentifier
			Key asn1.BitString
		}
	}{
		Version: 2, Serial: big.NewInt(0xd5a), SigAlg: sigAlg,
		Issuer:   asn1.RawValue{FullBytes: name},
		Validity: struct{ NotBefore, NotAfter time.Time }{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2049, 1, 1, 0, 0, 0, 0, time.UTC)},
		Subject:  asn1.RawValue{FullBytes: name},
		SPKI: struct {
			Alg pkix.AlgorithmIdentifier
			Key asn1.BitString
		}{pkix.AlgorithmIdentifier{Algorithm: pkcs7OID(pkcs7OIDDSA), Parameters: asn1.RawValue{FullBytes: params}}, asn1.BitString{Bytes: y, BitLength: 8 * len(y)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := sha1.Sum(tbs)
	sig := v1DSASign(t, k, d[:])
	cert, err := asn1.Marshal(struct {
		TBS    asn1.RawValue
		SigAlg pkix.AlgorithmIdentifier
		Sig    asn1.BitString
	}{asn1.RawValue{FullBytes: tbs}, sigAlg, asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		t.Fatal(err)
	}
	return k, cert
}

// berLongLength re-encodes the outer length of a DER value in the 4-byte
// long form BER allows and DER forbids.
func berLongLength(t testing.TB, der []byte) []byte {
	t.Helper()
	var v asn1.RawValue
	if _, err := asn1.Unmarshal(der, &v); err != nil {
		t.Fatal(err)
	}
	n := len(v.Bytes)
	return append([]byte{der[0], 0x84, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, v.Bytes...)
}

// berIndefinite re-encodes a DER SEQUENCE with the indefinite length.
func berIndefinite(t testing.TB, der []byte) []byte {
	t.Helper()
	var v asn1.RawValue
	if _, err := asn1.Unmarshal(der, &v); err != nil {
		t.Fatal(err)
	}
	return append(append([]byte{der[0], 0x80}, v.Bytes...), 0, 0)
}

// negativeModulus returns cert with its RSA modulus INTEGER stripped of its
// leading zero byte, so it reads as a negative number (Java reads it
// unsigned, crypto/x509 refuses it). The certificate's own signature no
// longer matches, which nobody checks for an APK signer.
func negativeModulus(t testing.TB, cert []byte) []byte {
	t.Helper()
	certParts, _ := derChildren(cert)
	tbsParts, ok := derChildren(certParts[0])
	if !ok {
		t.Fatal("bad certificate")
	}
	spkiParts, _ := derChildren(tbsParts[6])
	var bits asn1.BitString
	if _, err := asn1.Unmarshal(spkiParts[1], &bits); err != nil {
		t.Fatal(err)
	}
	keyParts, _ := derChildren(bits.Bytes)
	var n asn1.RawValue
	if _, err := asn1.Unmarshal(keyParts[0], &n); err != nil || n.Bytes[0] != 0 || n.Bytes[1]&0x80 == 0 {
		t.Fatalf("modulus %x…: want a leading zero byte", n.Bytes[:2])
	}
	keyParts[0] = cms.TLV(asn1.TagInteger, n.Bytes[1:])
	key := cms.TLV(0x30, joinBytes(keyParts))
	spkiParts[1] = cms.TLV(asn1.TagBitString, append([]byte{0}, key...))
	tbsParts[6] = cms.TLV(0x30, joinBytes(spkiParts))
	certParts[0] = cms.TLV(0x30, joinBytes(tbsParts))
	return cms.TLV(0x30, joinBytes(certParts))
}

// v1CraftedAPK writes an APK of the small base signed with a JAR manifest
// and .SF (from v1ManifestFiles or v1MD5ManifestFiles) and one signature
// block per signer name, made by blocks from the .SF bytes ("CERT.RSA" →
// block). Each name gets its own copy of the .SF.
func v1CraftedAPK(t testing.TB, dst string, mf, sf []byte, blocks func(sf []byte) map[string][]byte) string {
	t.Helper()
	add := []v1File{{v1ManifestName, mf}}
	bs := blocks(sf)
	names := make([]string, 0, len(bs))
	for n := range bs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		base := strings.TrimSuffix(n, filepath.Ext(n))
		add = append(add, v1File{"META-INF/" + base + ".SF", sf}, v1File{"META-INF/" + n, bs[n]})
	}
	return v1Rewrite(t, v1SmallBase(t), dst, v1Edit{drop: isV1SignatureFile, add: add})
}

// v1ManifestFiles returns the JAR manifest and .SF signV1 writes for the
// small base and minSDK.
func v1ManifestFiles(t testing.TB, minSDK int) (mf, sf []byte) {
	t.Helper()
	_, _, entries := v1Inputs(t, v1SmallBase(t))
	files, err := signV1(entries, v1TestSigner(t, false, "trustfuse-manifest-only"), v1Config{MinSDK: minSDK})
	if err != nil {
		t.Fatal(err)
	}
	return files[0].Data, files[1].Data
}

// v1MD5ManifestFiles returns a JAR manifest and .SF for the small base with
// MD5 digests only, chosen by Digest-Algorithms as the oldest tools wrote
// them: Android before 4.3 (API 18) reads them, later versions find no
// digest they use.
func v1MD5ManifestFiles(t testing.TB) (mf, sf []byte) {
	t.Helper()
	_, _, entries := v1Inputs(t, v1SmallBase(t))
	md5B64 := func(b []byte) string { return v1B64(v1Hash(crypto.MD5, b)) }
	var m, f v1Writer
	m.attr("Manifest-Version", "1.0")
	m.end()
	var sections [][2]int
	for _, e := range entries {
		rc, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		start := m.buf.Len()
		m.attr("Name", e.Name)
		m.attr("Digest-Algorithms", "MD5")
		m.attr("MD5-Digest", md5B64(content))
		m.end()
		sections = append(sections, [2]int{start, m.buf.Len()})
	}
	mf = m.buf.Bytes()
	f.attr("Signature-Version", "1.0")
	f.attr("Digest-Algorithms", "MD5")
	f.attr("MD5-Digest-Manifest", md5B64(mf))
	f.end()
	for i, e := range entries {
		f.attr("Name", e.Name)
		f.attr("Digest-Algorithms", "MD5")
		f.attr("MD5-Digest", md5B64(mf[sections[i][0]:sections[i][1]]))
		f.end()
	}
	return mf, f.buf.Bytes()
}

// TestVerifyV1AndroidRules compares our JAR signature verdict with
// apksigner's for one crafted APK per class of input, then re-signs and fuses
// every APK apksigner accepts with the trustfuse binary and checks the
// outputs with apksigner. Peek must name the same signer as Verify.
func TestVerifyV1AndroidRules(t *testing.T) {
	bin := testenv.Trustfuse(t)
	const (
		cnOID, oOID                = "2.5.4.3", "2.5.4.10"
		md5, sha1, sha256, sha512  = pkcs7OIDMD5, pkcs7OIDSHA1, pkcs7OIDSHA256, pkcs7OIDSHA512
		sha384                     = pkcs7OIDSHA384
		rsaKey, dsaKey, ecKey      = pkcs7OIDRSA, pkcs7OIDDSA, pkcs7OIDECPublicKey
		md5RSA, sha1RSA, sha256RSA = "1.2.840.113549.1.1.4", "1.2.840.113549.1.1.5", "1.2.840.113549.1.1.11"
		sha384RSA, sha256DSA       = "1.2.840.113549.1.1.12", "2.16.840.1.101.3.4.3.2"
		unbounded                  = 34
	)
	utf, pr, ia5 := asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String
	certName := x500Name(t, []x500AVA{{oOID, utf, "TrustFuse tests"}}, []x500AVA{{cnOID, utf, "AOSP Style Signer"}})
	namedKey, namedCert := v1NamedCert(t, certName)
	rsaS := v1TestSigner(t, false, "trustfuse-v1-rules")
	rsaK := rsaS.Key.(*rsa.PrivateKey)
	rsaCert := rsaS.Certs[0]
	ecS := v1TestSigner(t, true, "trustfuse-v1-rules-ec")
	dsaK, dsaCert := v1DSACert(t)
	dsaParsed, err := x509.ParseCertificate(dsaCert)
	if err != nil {
		t.Fatal(err)
	}

	// named signs with the AOSP-style certificate, naming its issuer as given.
	named := func(issuer []byte, serial *big.Int) func(sf []byte) map[string][]byte {
		return func(sf []byte) map[string][]byte {
			return map[string][]byte{"CERT.RSA": v1CraftBlock(t, sf, v1BlockSpec{namedKey, [][]byte{namedCert.Raw}, v1IssuerSerial(t, issuer, serial), sha256, rsaKey})}
		}
	}
	// algs signs with key (its certificate cert) and the given OIDs.
	algs := func(key any, cert *x509.Certificate, file, digestOID, sigOID string) func(sf []byte) map[string][]byte {
		return func(sf []byte) map[string][]byte {
			return map[string][]byte{file: v1CraftBlock(t, sf, v1BlockSpec{key, [][]byte{cert.Raw}, v1IssuerSerial(t, cert.RawIssuer, cert.SerialNumber), digestOID, sigOID})}
		}
	}
	// certBytes signs with the RSA signer, its certificate encoded as given.
	certBytes := func(der []byte) func(sf []byte) map[string][]byte {
		return func(sf []byte) map[string][]byte {
			return map[string][]byte{"CERT.RSA": v1CraftBlock(t, sf, v1BlockSpec{rsaK, [][]byte{der}, v1IssuerSerial(t, rsaCert.RawIssuer, rsaCert.SerialNumber), sha256, rsaKey})}
		}
	}
	signers := func(n int) func(sf []byte) map[string][]byte {
		return func(sf []byte) map[string][]byte {
			out := map[string][]byte{}
			for i := range n {
				out[fmt.Sprintf("S%02d.RSA", i)] = algs(rsaK, rsaCert, "x", sha256, rsaKey)(sf)["x"]
			}
			return out
		}
	}

	tests := []struct {
		name        string
		min, max    int
		blocks      func(sf []byte) map[string][]byte
		verified    bool
		code        string // expected among the errors when refused
		md5Manifest bool   // v1MD5ManifestFiles instead of signV1's files
	}{
		// Item 1: the signer's certificate is found by X.500 name equality
		// and serial number, never by SubjectKeyIdentifier.
		{"issuer PrintableString, certificate UTF8String", 21, unbounded, named(x500Name(t, []x500AVA{{oOID, pr, "TrustFuse tests"}}, []x500AVA{{cnOID, pr, "AOSP Style Signer"}}), namedCert.SerialNumber), true, "", false},
		{"issuer in other case and spacing", 21, unbounded, named(x500Name(t, []x500AVA{{oOID, pr, " TRUSTFUSE  tests"}}, []x500AVA{{cnOID, utf, "aosp style  SIGNER "}}), namedCert.SerialNumber), true, "", false},
		{"issuer IA5String", 21, unbounded, named(x500Name(t, []x500AVA{{oOID, ia5, "TrustFuse tests"}}, []x500AVA{{cnOID, utf, "AOSP Style Signer"}}), namedCert.SerialNumber), false, "V1_SIG_VERIFY_ERROR", false},
		{"issuer names another signer", 21, unbounded, named(x500Name(t, []x500AVA{{oOID, utf, "TrustFuse tests"}}, []x500AVA{{cnOID, utf, "Other Signer"}}), namedCert.SerialNumber), false, "V1_SIG_VERIFY_ERROR", false},
		{"serial number differs", 21, unbounded, named(certName, big.NewInt(0x5eee)), false, "V1_SIG_VERIFY_ERROR", false},
		{"signer named by SubjectKeyIdentifier", 21, unbounded, func(sf []byte) map[string][]byte {
			return map[string][]byte{"CERT.RSA": v1CraftBlock(t, sf, v1BlockSpec{namedKey, [][]byte{namedCert.Raw}, cms.TLV(0x80, namedCert.SubjectKeyId), sha256, rsaKey})}
		}, false, "V1_SIG_PARSE_ERROR", false},

		// Item 2: apksig's digest × signature algorithm table.
		{"MD5 with rsaEncryption", 15, unbounded, algs(rsaK, rsaCert, "CERT.RSA", md5, rsaKey), true, "", false},
		{"MD5 with md5WithRSA from API 21", 21, unbounded, algs(rsaK, rsaCert, "CERT.RSA", md5, md5RSA), true, "", false},
		{"MD5 with md5WithRSA on API 18-20", 18, unbounded, algs(rsaK, rsaCert, "CERT.RSA", md5, md5RSA), false, "V1_UNSUPPORTED_SIG_ALG", false},
		{"SHA-1 digest, sha256WithRSA on API 21-23", 21, 23, algs(rsaK, rsaCert, "CERT.RSA", sha1, sha256RSA), true, "", false},
		{"SHA-1 digest, sha256WithRSA up to API 24", 21, 24, algs(rsaK, rsaCert, "CERT.RSA", sha1, sha256RSA), false, "V1_UNSUPPORTED_SIG_ALG", false},
		{"SHA-256 digest, sha1WithRSA on API 21 only", 21, 21, algs(rsaK, rsaCert, "CERT.RSA", sha256, sha1RSA), true, "", false},
		{"SHA-384 with sha384WithRSA", 21, unbounded, algs(rsaK, rsaCert, "CERT.RSA", sha384, sha384RSA), true, "", false},
		{"DSA, SHA-1", 15, unbounded, algs(dsaK, dsaParsed, "CERT.DSA", sha1, dsaKey), true, "", false},
		{"DSA, SHA-256 from API 22", 22, unbounded, algs(dsaK, dsaParsed, "CERT.DSA", sha256, dsaKey), true, "", false},
		{"DSA, SHA-256 on API 21", 21, unbounded, algs(dsaK, dsaParsed, "CERT.DSA", sha256, dsaKey), false, "V1_UNSUPPORTED_SIG_ALG", false},
		{"dsa-with-sha256 from API 21", 21, unbounded, algs(dsaK, dsaParsed, "CERT.DSA", sha256, sha256DSA), true, "", false},
		{"ECDSA, SHA-512", 18, unbounded, algs(ecS.Key, ecS.Certs[0], "CERT.EC", sha512, ecKey), true, "", false},
		{"ECDSA, MD5", 18, unbounded, algs(ecS.Key, ecS.Certs[0], "CERT.EC", md5, ecKey), false, "V1_UNSUPPORTED_SIG_ALG", false},
		{"MD5 manifest digests before API 18", 15, 17, algs(rsaK, rsaCert, "CERT.RSA", sha1, rsaKey), true, "", true},
		{"MD5 manifest digests from API 18 only", 18, unbounded, algs(rsaK, rsaCert, "CERT.RSA", sha1, rsaKey), false, "V1_NO_SIG_FILE_DIGEST", true},

		// Item 5: certificates crypto/x509 refuses and Android reads.
		{"certificate with a long-form BER length", 21, unbounded, certBytes(berLongLength(t, rsaCert.Raw)), true, "", false},
		{"certificate with an indefinite BER length", 21, unbounded, certBytes(berIndefinite(t, rsaCert.Raw)), true, "", false},
		{"RSA modulus encoded negative", 21, unbounded, certBytes(negativeModulus(t, rsaCert.Raw)), true, "", false},

		// Item 6: the most signers current Android accepts (see
		// TestVerifyV1TooManySigners for one more).
		{"10 signers", 21, unbounded, signers(10), true, "", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mf, sf := v1ManifestFiles(t, tc.min)
			if tc.md5Manifest {
				mf, sf = v1MD5ManifestFiles(t)
			}
			apk := v1CraftedAPK(t, filepath.Join(t.TempDir(), fmt.Sprintf("case%02d.apk", i)), mf, sf, tc.blocks)
			res, _, out := v1Agree(t, apk, tc.min, tc.max)
			if res.Verified != tc.verified {
				t.Fatalf("verified = %v, want %v (errors %q)\napksigner:\n%s", res.Verified, tc.verified, issueMessages(res.Errors), out)
			}
			if !tc.verified {
				if !slices.Contains(issueCodes(res.Errors), tc.code) {
					t.Errorf("errors %q lack %s", issueCodes(res.Errors), tc.code)
				}
				return
			}
			z, err := zipx.Open(apk)
			if err != nil {
				t.Fatal(err)
			}
			peek := Peek(z.Reader)
			z.Close()
			if len(peek.V1.Signers) == 0 || peek.V1.Signers[0].CertSHA256 != res.Signers[0].CertSHA256 {
				t.Errorf("Peek signers %v, Verify %s", peek.V1.Signers, res.Signers[0].CertSHA256)
			}
			testenv.SignAndFuse(t, bin, apk)
		})
	}
}

// TestVerifyV1TooManySigners: current apksig (and Android) refuse more than
// 10 JAR signers (JAR_SIG_MAX_SIGNATURES_EXCEEDED). Debian's apksigner
// 31.0.2 predates that rule and accepts 11, so this case asserts the
// current-apksig verdict against our own result and records what the old
// apksigner says, to notice when the oracle catches up.
func TestVerifyV1TooManySigners(t *testing.T) {
	s := v1TestSigner(t, false, "trustfuse-v1-eleven")
	mf, sf := v1ManifestFiles(t, 21)
	apk := v1CraftedAPK(t, filepath.Join(t.TempDir(), "eleven.apk"), mf, sf, func(sf []byte) map[string][]byte {
		out := map[string][]byte{}
		for i := range 11 {
			out[fmt.Sprintf("S%02d.RSA", i)] = v1CraftBlock(t, sf, v1BlockSpec{s.Key, [][]byte{s.Certs[0].Raw}, v1IssuerSerial(t, s.Certs[0].RawIssuer, s.Certs[0].SerialNumber), pkcs7OIDSHA256, pkcs7OIDRSA})
		}
		return out
	})
	res, _ := v1Verify(t, apk, 21, 34)
	want := "APK Signature Scheme v1 only supports a maximum of 10 signers, found 11"
	if res.Verified || !slices.Contains(issueMessages(res.Errors), want) || !slices.Contains(issueCodes(res.Errors), "V1_TOO_MANY_SIGNERS") {
		t.Fatalf("verified %v, errors %q: want V1_TOO_MANY_SIGNERS %q", res.Verified, issueMessages(res.Errors), want)
	}
	ok, out := apksignerV1(t, apk, 21, 34)
	if !ok && !strings.Contains(out, want) {
		t.Fatalf("apksigner refuses 11 signers for another reason:\n%s", out)
	}
	t.Logf("apksigner (older than the 10-signer rule) verified=%v", ok)
}

// TestV1DSASignatureRoundTrip checks that the DSA keys above verify through
// pkcs7CheckSignature with its digest truncation (not only in apksigner).
func TestV1DSASignatureRoundTrip(t *testing.T) {
	k, der := v1DSACert(t)
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("signature file")
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		sig := v1DSASign(t, k, pkcs7Hash(h, content))
		if ok, err := pkcs7CheckSignature(c.PublicKey, pkcs7SigAlg{key: "DSA"}, h, content, sig); !ok || err != nil {
			t.Errorf("%v: %v, %v", h, ok, err)
		}
	}
}

// TestV1AlgorithmTableAgreesWithApksigner crafts one JAR signer for every
// pair of digest algorithm (MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512)
// and signature algorithm OID Android knows (RSA, DSA and ECDSA, key-only
// and hash-specific), ten signers per APK (the most Android accepts), and
// verifies each APK with apksigner and with verifyV1 over three ranges of API
// levels. apksigner names, per signer, the API levels on which its pair is
// not supported, so equal verdicts and error lines prove every cell of the
// table (v1SigAlgLevels, apksig's OidConstants) and its boundaries, and that
// the signatures of the pairs supported in a range verify in both.
func TestV1AlgorithmTableAgreesWithApksigner(t *testing.T) {
	rsaS := v1TestSigner(t, false, "trustfuse-v1-table")
	ecS := v1TestSigner(t, true, "trustfuse-v1-table-ec")
	dsaK, dsaCert := v1DSACert(t)
	dsaParsed, err := x509.ParseCertificate(dsaCert)
	if err != nil {
		t.Fatal(err)
	}
	type signer struct {
		key       any
		cert      *x509.Certificate
		ext       string
		digestOID string
		sigOID    string
	}
	digests := []string{pkcs7OIDMD5, pkcs7OIDSHA1, pkcs7OIDSHA224, pkcs7OIDSHA256, pkcs7OIDSHA384, pkcs7OIDSHA512}
	families := []struct {
		key  any
		cert *x509.Certificate
		ext  string
		sigs []string
	}{
		{rsaS.Key, rsaS.Certs[0], "RSA", []string{pkcs7OIDRSA, "1.2.840.113549.1.1.4", "1.2.840.113549.1.1.5",
			"1.2.840.113549.1.1.14", "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13"}},
		{dsaK, dsaParsed, "DSA", []string{pkcs7OIDDSA, "1.2.840.10040.4.3", "2.16.840.1.101.3.4.3.1",
			"2.16.840.1.101.3.4.3.2", "2.16.840.1.101.3.4.3.3", "2.16.840.1.101.3.4.3.4"}},
		{ecS.Key, ecS.Certs[0], "EC", []string{pkcs7OIDECPublicKey, "1.2.840.10045.4.1", "1.2.840.10045.4.3.1",
			"1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4"}},
	}
	var all []signer
	for _, f := range families {
		for _, s := range f.sigs {
			for _, d := range digests {
				all = append(all, signer{f.key, f.cert, f.ext, d, s})
			}
		}
	}
	// 1-34 names every pair's unsupported levels; on 21-23 and 21 most pairs
	// are supported, so both verifiers check their signatures.
	windows := [][2]int{{1, 34}, {21, 23}, {21, 21}}
	mf, sf := v1ManifestFiles(t, 1)
	t.Logf("%d digest × signature algorithm pairs in %d APKs", len(all), (len(all)+9)/10)
	for start := 0; start < len(all); start += 10 {
		group := all[start:min(start+10, len(all))]
		t.Run(fmt.Sprintf("pairs %d-%d", start+1, start+len(group)), func(t *testing.T) {
			t.Parallel()
			apk := v1CraftedAPK(t, filepath.Join(t.TempDir(), "table.apk"), mf, sf, func(sf []byte) map[string][]byte {
				out := map[string][]byte{}
				for i, s := range group {
					c := s.cert
					out[fmt.Sprintf("T%03d.%s", start+i, s.ext)] = v1CraftBlock(t, sf, v1BlockSpec{s.key, [][]byte{c.Raw},
						v1IssuerSerial(t, c.RawIssuer, c.SerialNumber), s.digestOID, s.sigOID})
				}
				return out
			})
			for _, w := range windows {
				ok, out := apksignerV1(t, apk, w[0], w[1])
				res, _ := v1Verify(t, apk, w[0], w[1])
				theirs := apksignerLines(out, "ERROR: ")
				ours := issueMessages(res.Errors)
				slices.Sort(theirs)
				slices.Sort(ours)
				if res.Verified != ok || !slices.Equal(ours, theirs) {
					t.Fatalf("API %d-%d: verified %v, apksigner %v; errors differ.\napksigner:\n%s\nours:\n%s",
						w[0], w[1], res.Verified, ok, strings.Join(theirs, "\n"), strings.Join(ours, "\n"))
				}
			}
		})
	}
}
