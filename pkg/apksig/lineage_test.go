package apksig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/keys"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// rotationKit is a key rotation made by the oracles: two RSA keys from
// keytool and the lineage `apksigner rotate` links them with.
type rotationKit struct {
	dir         string
	old, new    *Signer
	oldKS       string
	newKS       string
	lineagePath string
	lineage     []byte
}

const rotationPass = "rotation-pass"

// newRotationKit generates the keys and the lineage (about 3 s of JVM starts).
func newRotationKit(t *testing.T) *rotationKit {
	t.Helper()
	dir := t.TempDir()
	k := &rotationKit{dir: dir, oldKS: filepath.Join(dir, "old.p12"), newKS: filepath.Join(dir, "new.p12"),
		lineagePath: filepath.Join(dir, "lineage.bin")}
	for _, ks := range []struct{ path, cn string }{{k.oldKS, "Rotation Old"}, {k.newKS, "Rotation New"}} {
		testenv.Run(t, "keytool", "-genkeypair", "-keystore", ks.path, "-storetype", "PKCS12",
			"-storepass", rotationPass, "-alias", "key", "-keyalg", "RSA", "-keysize", "2048",
			"-validity", "10000", "-dname", "CN="+ks.cn, "-noprompt")
	}
	testenv.Run(t, "apksigner", "rotate", "--out", k.lineagePath,
		"--old-signer", "--ks", k.oldKS, "--ks-pass", "pass:"+rotationPass,
		"--new-signer", "--ks", k.newKS, "--ks-pass", "pass:"+rotationPass)
	var err error
	if k.lineage, err = os.ReadFile(k.lineagePath); err != nil {
		t.Fatal(err)
	}
	load := func(p string) *Signer {
		s, err := keys.Load(p, []byte(rotationPass), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return &Signer{Key: s.Key, Certs: s.Chain}
	}
	k.old, k.new = load(k.oldKS), load(k.newKS)
	return k
}

// apksignerSignedBy returns the signer digests apksigner reports for the
// platforms in [min, max] (max 0: no bound).
func apksignerSignedBy(t *testing.T, path string, min, max int) (bool, []string, []string, string) {
	t.Helper()
	args := []string{"--min-sdk-version", strconv.Itoa(min)}
	if max > 0 {
		args = append(args, "--max-sdk-version", strconv.Itoa(max))
	}
	return apksigner(t, path, args...)
}

var reLineageDigest = regexp.MustCompile(`Signer #(\d+) in lineage certificate SHA-256 digest: ([0-9a-f]{64})`)

// apksignerLineage runs `apksigner lineage --in path --print-certs` (path: a
// lineage file or a signed APK) and returns the certificate digests, oldest first.
func apksignerLineage(t *testing.T, path string) []string {
	t.Helper()
	out := testenv.Run(t, "apksigner", "lineage", "--in", path, "--print-certs")
	var d []string
	for _, m := range reLineageDigest.FindAllStringSubmatch(out, -1) {
		d = append(d, m[2])
	}
	return d
}

// TestLineage signs with a key rotation made by apksigner and checks the
// result with apksigner and with our verifier.
func TestLineage(t *testing.T) {
	k := newRotationKit(t)
	oldD, newD := CertDigest(k.old.Certs[0]), CertDigest(k.new.Certs[0])
	root := testenv.Root(t)

	t.Run("apksigner lineage file", func(t *testing.T) {
		l, err := ParseLineage(k.lineage)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range l.Certificates() {
			got = append(got, CertDigest(c))
		}
		if want := []string{oldD, newD}; !slices.Equal(got, want) {
			t.Fatalf("certificates %v, want %v", got, want)
		}
		if want := apksignerLineage(t, k.lineagePath); !slices.Equal(got, want) {
			t.Fatalf("apksigner reads %v, we read %v", want, got)
		}
		for i, n := range l.Nodes {
			if n.Capabilities != DefaultCapabilities {
				t.Errorf("node %d capabilities %#x, want %#x", i, n.Capabilities, DefaultCapabilities)
			}
		}
		b, err := l.MarshalBinary()
		if err != nil || !bytes.Equal(b, k.lineage) {
			t.Fatalf("re-encoded lineage differs from apksigner's file (%v)", err)
		}
	})

	t.Run("Rotate equals apksigner rotate", func(t *testing.T) {
		// RSA PKCS#1 v1.5 signatures are deterministic, so our rotation of
		// the same keys must be byte-identical to apksigner's.
		l, err := Rotate(nil, k.old, k.new, DefaultCapabilities)
		if err != nil {
			t.Fatal(err)
		}
		b, err := l.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, k.lineage) {
			t.Fatalf("our lineage (%d bytes) differs from apksigner rotate's (%d bytes)", len(b), len(k.lineage))
		}
		if _, err := Rotate(l, k.old, k.new, DefaultCapabilities); !errors.Is(err, ErrOptions) {
			t.Errorf("rotating from a key that is not the newest: %v", err)
		}
	})

	for _, tc := range []struct {
		fixture string
		minSDK  int
		schemes []string // apksigner verifies these for [minSDK, ∞)
	}{
		{"v1v2v3.apk", 21, []string{"v1", "v2", "v3"}},
		{"v2-only.apk", 24, []string{"v2", "v3"}},
	} {
		t.Run("sign "+tc.fixture, func(t *testing.T) {
			src := filepath.Join(root, "testdata", "apk", tc.fixture)
			dst := filepath.Join(t.TempDir(), "rotated.apk")
			opts := Options{Lineage: k.lineage, OldSigner: k.old, Modified: time.Unix(1700000000, 0)}
			signFile(t, src, dst, k.new, opts)

			// Android 9+: v3 by the new key.
			ok, verified, digests, out := apksignerSignedBy(t, dst, tc.minSDK, 0)
			if !ok {
				t.Fatalf("apksigner verify:\n%s", out)
			}
			if !slices.Equal(verified, tc.schemes) || !slices.Equal(digests, []string{newD}) {
				t.Fatalf("apksigner: schemes %v signers %v, want %v by the new key %s\n%s", verified, digests, tc.schemes, newD, out)
			}
			// Android 8.1 and older: v1/v2 by the old key.
			ok, _, digests, out = apksignerSignedBy(t, dst, tc.minSDK, 27)
			if !ok || !slices.Equal(digests, []string{oldD}) {
				t.Fatalf("apksigner up to API 27: ok=%v signers %v, want the old key %s\n%s", ok, digests, oldD, out)
			}
			// The lineage apksigner reads out of our v3 signature.
			if got := apksignerLineage(t, dst); !slices.Equal(got, []string{oldD, newD}) {
				t.Fatalf("apksigner lineage --in signed.apk: %v, want [old new]", got)
			}

			z, err := zipx.Open(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			res, err := Verify(z.Reader, VerifyOptions{MinSDK: tc.minSDK})
			if err != nil || !res.Verified {
				t.Fatalf("our verifier: %v %v", err, res.AllErrors())
			}
			want := map[Scheme][]string{V2: {oldD}, V3: {newD}}
			if tc.minSDK < sdkN {
				want[V1] = []string{oldD}
			}
			for s, w := range want {
				var got []string
				for _, si := range res.Scheme(s).Signers {
					got = append(got, si.CertSHA256)
				}
				if !slices.Equal(got, w) {
					t.Errorf("%s signers %v, want %v", s, got, w)
				}
			}
			l, err := ReadLineage(z.Reader)
			if err != nil || l == nil {
				t.Fatalf("ReadLineage: %v %v", l, err)
			}
			if b, _ := l.MarshalBinary(); !bytes.Equal(b, k.lineage) {
				t.Error("the lineage in the APK differs from the lineage file")
			}
		})
	}

	t.Run("same attribute as apksigner sign", func(t *testing.T) {
		src := filepath.Join(root, "testdata", "apk", "v2-only.apk")
		dir := t.TempDir()
		theirs := filepath.Join(dir, "theirs.apk")
		testenv.Run(t, "apksigner", "sign", "--ks", k.oldKS, "--ks-pass", "pass:"+rotationPass,
			"--next-signer", "--ks", k.newKS, "--ks-pass", "pass:"+rotationPass,
			"--lineage", k.lineagePath, "--v4-signing-enabled", "false", "--out", theirs, src)
		ours := filepath.Join(dir, "ours.apk")
		signFile(t, src, ours, k.new, Options{Lineage: k.lineage, OldSigner: k.old})
		attr := func(p string) []byte {
			// Read the signing block by hand: zipx (rightly) refuses the
			// bytes apksigner leaves between entries.
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			eocd := bytes.LastIndex(b, []byte("PK\x05\x06"))
			if eocd < 0 || eocd+22 > len(b) {
				t.Fatalf("%s: no end of central directory", p)
			}
			cdOff := int(binary.LittleEndian.Uint32(b[eocd+16:]))
			if cdOff < 32 || cdOff > eocd || string(b[cdOff-16:cdOff]) != "APK Sig Block 42" {
				t.Fatalf("%s: no APK Signing Block", p)
			}
			pairs := b[cdOff-int(binary.LittleEndian.Uint64(b[cdOff-24:])) : cdOff-24]
			var v3 []byte
			for len(pairs) >= 12 {
				n := int(binary.LittleEndian.Uint64(pairs))
				if binary.LittleEndian.Uint32(pairs[8:]) == blockIDV3 {
					v3 = pairs[12 : 8+n]
				}
				pairs = pairs[8+n:]
			}
			signers, _ := items(lpSeqValue(v3))
			if len(signers) != 1 {
				t.Fatalf("%s: %d v3 signers", p, len(signers))
			}
			attrs, err := v3SignerAttributes(signers[0])
			if err != nil || len(attrs) != 1 {
				t.Fatalf("%s: attributes %d %v", p, len(attrs), err)
			}
			return attrs[0]
		}
		if a, b := attr(theirs), attr(ours); !bytes.Equal(a, b) {
			t.Fatalf("v3 proof-of-rotation attribute differs from apksigner's (%d vs %d bytes)", len(b), len(a))
		}
	})

	t.Run("deterministic", func(t *testing.T) {
		src := filepath.Join(root, "testdata", "apk", "v1v2v3.apk")
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a.apk"), filepath.Join(dir, "b.apk")
		opts := Options{Lineage: k.lineage, OldSigner: k.old, Modified: time.Unix(1700000000, 0)}
		signFile(t, src, a, k.new, opts)
		signFile(t, src, b, k.new, opts)
		if fileSum(t, a) != fileSum(t, b) {
			t.Fatal("two signatures of the same input with the same lineage differ")
		}
	})

	t.Run("bad options", func(t *testing.T) {
		third := fixtureKeys(t)["rsa-keytool.p12"]
		src := filepath.Join(root, "testdata", "apk", "v2-only.apk")
		in, err := zipx.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		for _, tc := range []struct {
			name   string
			signer *Signer
			opts   Options
			want   string
		}{
			{"lineage does not end with the signer", k.old, Options{Lineage: k.lineage, OldSigner: k.old},
				"the lineage must end with the signing certificate"},
			{"signer not in the lineage", third, Options{Lineage: k.lineage, OldSigner: k.old}, "is not in it"},
			{"no old signer", k.new, Options{Lineage: k.lineage}, "a lineage needs the old signer"},
			{"old signer is not the first", k.new, Options{Lineage: k.lineage, OldSigner: third}, "is not the lineage's first certificate"},
			{"old signer key and certificate differ", k.new, Options{Lineage: k.lineage, OldSigner: &Signer{Key: third.Key, Certs: k.old.Certs}},
				"does not belong to certificate"},
			{"old signer without lineage", k.new, Options{OldSigner: k.old}, "an old signer without a lineage"},
			{"not a lineage file", k.new, Options{Lineage: []byte("PK\x03\x04 not a lineage"), OldSigner: k.old}, "not a lineage file"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.opts.MinSDK = 24
				var out bytesOutput
				err := Sign(&out, InputsFrom(in.Reader), tc.signer, tc.opts)
				if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want ErrOptions saying %q", err, tc.want)
				}
				if len(out) != 0 {
					t.Fatalf("%d bytes written before the options were checked", len(out))
				}
			})
		}
	})

	t.Run("tampered lineage file", func(t *testing.T) {
		// Flip a byte of the new certificate's signature (the file's last byte).
		bad := append([]byte(nil), k.lineage...)
		bad[len(bad)-1] ^= 0x01
		p := filepath.Join(t.TempDir(), "tampered.bin")
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(root, "testdata", "apk", "v2-only.apk")
		out, err := exec.Command(testenv.Tool(t, "apksigner"), "sign", "--ks", k.oldKS, "--ks-pass", "pass:"+rotationPass,
			"--next-signer", "--ks", k.newKS, "--ks-pass", "pass:"+rotationPass,
			"--lineage", p, "--out", filepath.Join(t.TempDir(), "x.apk"), src).CombinedOutput()
		if err == nil {
			t.Fatalf("apksigner signed with a tampered lineage:\n%s", out)
		}
		_, err = ParseLineage(bad)
		var le *LineageError
		if !errors.Is(err, ErrLineageSignature) || !errors.As(err, &le) || le.Node != 2 {
			t.Fatalf("ParseLineage: %v, want ErrLineageSignature at certificate #2", err)
		}
		in, _ := zipx.Open(src)
		defer in.Close()
		var o bytesOutput
		err = Sign(&o, InputsFrom(in.Reader), k.new, Options{MinSDK: 24, Lineage: bad, OldSigner: k.old})
		if !errors.Is(err, ErrOptions) || !errors.Is(err, ErrLineageSignature) {
			t.Fatalf("Sign: %v", err)
		}
	})

	t.Run("tampered signed APK", func(t *testing.T) {
		third := fixtureKeys(t)["rsa-keytool.p12"]
		l, err := ParseLineage(k.lineage)
		if err != nil {
			t.Fatal(err)
		}
		good := append(u32(attrProofOfRotation), l.encode()...)
		flipped := append([]byte(nil), good...)
		flipped[len(flipped)-1] ^= 0x01 // the new certificate's signature by the old key
		for _, tc := range []struct {
			name          string
			v3            *Signer
			rot           *rotation
			wantCode      string
			apksignerSays string
		}{
			{"as signed", k.new, &rotation{past: k.old, attr: good}, "", "Verifies"},
			{"lineage signature flipped", k.new, &rotation{past: k.old, attr: flipped}, "V3_SIG_POR_DID_NOT_VERIFY",
				"proof-of-rotation record with signature(s) that did not verify"},
			{"lineage does not end with the v3 signer", third, &rotation{past: k.old, attr: good}, "V3_SIG_POR_CERT_MISMATCH",
				"differs from the associated certificate found in the signer's SigningCertificateLineage"},
			{"v2 by a key outside the lineage", k.new, &rotation{past: third, attr: good}, "SIGNERS_MISMATCH",
				"v3 signer differs from v1/v2 signer without proper signing certificate lineage"},
			{"v2 by the new key, not the lineage's first", k.new, &rotation{past: k.new, attr: good}, "SIGNERS_MISMATCH",
				"v3 signer differs from v1/v2 signer without proper signing certificate lineage"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// v2 + v3 signed over a lineage Sign would refuse: the v3
				// signature itself is valid, only the rotation is wrong.
				p := filepath.Join(t.TempDir(), "variant.apk")
				signWithRotation(t, filepath.Join(root, "testdata", "apk", "v2-only.apk"), p, tc.v3, tc.rot)
				theirs, _, _, out := apksigner(t, p)
				if !strings.Contains(out, tc.apksignerSays) {
					t.Errorf("apksigner does not say %q:\n%s", tc.apksignerSays, out)
				}
				z, err := zipx.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer z.Close()
				res, err := Verify(z.Reader, VerifyOptions{MinSDK: 24})
				if err != nil {
					t.Fatal(err)
				}
				if theirs != res.Verified || theirs != (tc.wantCode == "") {
					t.Fatalf("apksigner verified=%v, we %v (%v); want %v\n%s", theirs, res.Verified, res.AllErrors(), tc.wantCode == "", out)
				}
				if tc.wantCode != "" && !slices.ContainsFunc(res.AllErrors(), func(i Issue) bool { return i.Code == tc.wantCode }) {
					t.Fatalf("errors %v, want %s", res.AllErrors(), tc.wantCode)
				}
			})
		}
	})

	t.Run("no lineage", func(t *testing.T) {
		z, err := zipx.Open(filepath.Join(root, "testdata", "apk", "v1v2v3.apk"))
		if err != nil {
			t.Fatal(err)
		}
		defer z.Close()
		if l, err := ReadLineage(z.Reader); l != nil || err != nil {
			t.Fatalf("ReadLineage of an APK without rotation: %v %v", l, err)
		}
	})
}

// signWithRotation writes src's entries to dst and signs v2 with rot.past
// and v3 with v3 plus rot.attr, skipping the checks Sign makes.
func signWithRotation(t *testing.T, src, dst string, v3 *Signer, rot *rotation) {
	t.Helper()
	in, err := zipx.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := zipx.NewWriter(out, zipx.Options{})
	for _, e := range InputsFrom(in.Reader) {
		if err := w.Copy(e.Entry); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := insertSigningBlock(out, w, v3, rot, Options{MinSDK: 24}); err != nil {
		t.Fatal(err)
	}
}

// bytesOutput is an in-memory Output.
type bytesOutput []byte

func (b *bytesOutput) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

func (b *bytesOutput) ReadAt(p []byte, off int64) (int, error) {
	return bytesReaderAt(*b).ReadAt(p, off)
}

func (b *bytesOutput) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(*b) {
		*b = append(*b, make([]byte, end-len(*b))...)
	}
	return copy((*b)[off:], p), nil
}

// ecSigner makes a throwaway P-256 identity with a self-signed certificate.
func ecSigner(t testing.TB, cn string, serial int64) *Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(2000000000, 0)}
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

// TestLineageErrors checks that malformed lineages are refused with the
// offset of the problem.
func TestLineageErrors(t *testing.T) {
	a, b, c := ecSigner(t, "A", 1), ecSigner(t, "B", 2), ecSigner(t, "C", 3)
	l, err := Rotate(nil, a, b, DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	l, err = Rotate(l, b, c, CapInstalledData)
	if err != nil {
		t.Fatal(err)
	}
	good, err := l.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParseLineage(good); err != nil || len(got.Nodes) != 3 || got.Nodes[2].Capabilities != CapInstalledData {
		t.Fatalf("three-certificate lineage: %v", err)
	}
	// Offset of node 3's parent-algorithm field, right after its certificate.
	third := bytes.Index(good, c.Certs[0].Raw) + len(c.Certs[0].Raw)
	for _, tc := range []struct {
		name   string
		edit   func([]byte) []byte
		kind   error
		detail string
	}{
		{"empty", func([]byte) []byte { return nil }, ErrLineage, "too short"},
		{"bad magic", func(b []byte) []byte { b[0] ^= 1; return b }, ErrLineage, "magic"},
		{"bad file version", func(b []byte) []byte { b[4] = 2; return b }, ErrLineage, "file version 2"},
		{"length disagrees", func(b []byte) []byte { return b[:len(b)-1] }, ErrLineage, "encoded lineage of"},
		{"bad lineage version", func(b []byte) []byte { b[12] = 9; return b }, ErrLineage, "version 9"},
		{"no certificates", func(b []byte) []byte {
			return append(append(b[:8:8], u32(4)...), u32(1)...)
		}, ErrLineage, "no certificates"},
		{"parent algorithm changed", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[third:], algRSAPKCS1SHA256)
			return b
		}, ErrLineageSignature, "signed with algorithm"},
		{"last signature flipped", func(b []byte) []byte { b[len(b)-2] ^= 0x40; return b }, ErrLineageSignature, "signature by certificate #2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLineage(tc.edit(append([]byte(nil), good...)))
			var le *LineageError
			if !errors.Is(err, tc.kind) || !errors.As(err, &le) || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("got %v, want %v saying %q", err, tc.kind, tc.detail)
			}
		})
	}
	if _, err := Rotate(l, c, b, DefaultCapabilities); !errors.Is(err, ErrOptions) {
		t.Errorf("rotating back to a certificate already in the lineage: %v", err)
	}

	// A -> B -> A, each link validly signed: a certificate may appear once.
	ab, err := Rotate(nil, a, b, DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	sd := append(lp(nil, a.Certs[0].Raw), u32(algECDSASHA256)...)
	h := algorithms[algECDSASHA256].hash.New()
	h.Write(sd)
	sig, err := b.sign(h.Sum(nil), algorithms[algECDSASHA256].hash)
	if err != nil {
		t.Fatal(err)
	}
	ab.Nodes[1].alg = algECDSASHA256
	ab.Nodes = append(ab.Nodes, LineageNode{Certificate: a.Certs[0], parentAlg: algECDSASHA256, signature: sig})
	loop, _ := ab.MarshalBinary()
	if _, err := ParseLineage(loop); !errors.Is(err, ErrLineage) || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("A -> B -> A: %v", err)
	}
}

// FuzzParseLineage checks that any input either is refused or re-encodes to
// the same bytes.
func FuzzParseLineage(f *testing.F) {
	a, b := ecSigner(f, "A", 1), ecSigner(f, "B", 2)
	l, err := Rotate(nil, a, b, DefaultCapabilities)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := l.MarshalBinary()
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte{0xd1, 0x39, 0xff, 0x3e, 1, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := ParseLineage(in)
		if err != nil {
			return
		}
		out, err := l.MarshalBinary()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("parsed lineage re-encodes differently (%v)", err)
		}
	})
}
