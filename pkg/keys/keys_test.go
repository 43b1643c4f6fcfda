package keys

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// verifyWithOpenSSL signs a message with the loaded key and has openssl
// verify it against the public key of the loaded leaf certificate: proof
// that the key and certificate we return belong together, checked outside
// our code.
func verifyWithOpenSSL(t *testing.T, s *Signer) {
	t.Helper()
	dir := t.TempDir()
	msg := []byte("trustfuse keys test message")
	digest := sha256.Sum256(msg)
	sig, err := s.Key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	cert := filepath.Join(dir, "cert.pem")
	mustWrite(t, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate.Raw}))
	mustWrite(t, filepath.Join(dir, "msg"), msg)
	mustWrite(t, filepath.Join(dir, "sig"), sig)
	pub := testenv.Run(t, "openssl", "x509", "-in", cert, "-noout", "-pubkey")
	mustWrite(t, filepath.Join(dir, "pub.pem"), []byte(pub))
	out := testenv.Run(t, "openssl", "dgst", "-sha256", "-verify", filepath.Join(dir, "pub.pem"),
		"-signature", filepath.Join(dir, "sig"), filepath.Join(dir, "msg"))
	if !strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl did not verify the signature: %s", out)
	}
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func certHex(s *Signer) string {
	d := s.CertSHA256()
	return hex.EncodeToString(d[:])
}

func TestLoadKeystores(t *testing.T) {
	fx := fixtures(t)
	tests := []struct {
		name      string
		file      string
		storePass string
		alias     string
		keyPass   string
		wantAlias string
		wantKey   string
		wantFmt   string
		oracle    []string // oracle digest keys of the expected chain, leaf first
	}{
		{"keytool PKCS12 RSA 2048", "kt-rsa2048.p12", storePW, "", "", "rsa2048", "RSA 2048", "pkcs12", []string{"kt-rsa2048.p12/rsa2048"}},
		{"keytool PKCS12 RSA 2048 alias any case", "kt-rsa2048.p12", storePW, "RSA2048", "", "rsa2048", "RSA 2048", "pkcs12", []string{"kt-rsa2048.p12/rsa2048"}},
		{"keytool JKS RSA 2048 distinct key password", "kt-rsa2048.jks", storePW, "", keyPW, "jksrsa", "RSA 2048", "jks", []string{"kt-rsa2048.jks/jksrsa"}},
		{"keytool JKS two keys, first, key password defaults", "kt-multi.jks", storePW, "first", "", "first", "RSA 2048", "jks", []string{"kt-multi.jks/first"}},
		{"keytool JKS two keys, Second EC P-256", "kt-multi.jks", storePW, "SECOND", keyPW, "second", "ECDSA P-256", "jks", []string{"kt-multi.jks/second"}},
		{"keytool PKCS12 two keys + trusted cert, alpha EC P-256", "kt-multi.p12", storePW, "ALPHA", "", "alpha", "ECDSA P-256", "pkcs12", []string{"kt-multi.p12/alpha"}},
		{"keytool PKCS12 two keys + trusted cert, beta RSA 4096", "kt-multi.p12", storePW, "beta", "", "beta", "RSA 4096", "pkcs12", []string{"kt-multi.p12/beta"}},
		{"openssl 3 default PKCS12", "o-default.p12", osslPW, "", "", "ossl", "RSA 2048", "pkcs12", []string{"o-rsa.crt"}},
		{"openssl 3 -legacy PKCS12", "o-legacy.p12", osslPW, "ossl", "", "ossl", "RSA 2048", "pkcs12", []string{"o-rsa.crt"}},
		{"openssl chain leaf/intermediate/root", "o-chain.p12", osslPW, "", "", "chained", "ECDSA P-256", "pkcs12", []string{"leaf.crt", "inter.crt", "root.crt"}},
		{"openssl EC P-384", "o-p384.p12", osslPW, "", "", "", "ECDSA P-384", "pkcs12", []string{"p384.crt"}},
		{"PKCS12 password passed as key password", "o-default.p12", "", "", osslPW, "ossl", "RSA 2048", "pkcs12", []string{"o-rsa.crt"}},
		{"PEM file with cert and PKCS#8 key", "o-rsa.combined.pem", "", "", "", "", "RSA 2048", "pem", []string{"o-rsa.crt"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var kp []byte
			if tc.keyPass != "" {
				kp = []byte(tc.keyPass)
			}
			path := fx.path(tc.file)
			s, err := Load(path, []byte(tc.storePass), tc.alias, kp)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if s.Alias != tc.wantAlias || s.KeyDescription() != tc.wantKey || s.Format != tc.wantFmt || s.Source != path {
				t.Errorf("got alias %q key %q format %q source %q, want %q %q %q %q",
					s.Alias, s.KeyDescription(), s.Format, s.Source, tc.wantAlias, tc.wantKey, tc.wantFmt, path)
			}
			if got, want := certHex(s), fx.digest(t, tc.oracle[0]); got != want {
				t.Errorf("leaf SHA-256 %s, oracle says %s", got, want)
			}
			if len(s.Chain) != len(tc.oracle) || s.Chain[0] != s.Certificate {
				t.Fatalf("chain has %d certificates (first is leaf: %v), want %d", len(s.Chain), s.Chain[0] == s.Certificate, len(tc.oracle))
			}
			for i, c := range s.Chain {
				d := sha256.Sum256(c.Raw)
				if got, want := hex.EncodeToString(d[:]), fx.digest(t, tc.oracle[i]); got != want {
					t.Errorf("chain[%d] SHA-256 %s, oracle (%s) says %s", i, got, tc.oracle[i], want)
				}
			}
			if s.IsDemo() {
				t.Error("IsDemo true for a test key")
			}
			verifyWithOpenSSL(t, s)
		})
	}
}

func TestLoadPEM(t *testing.T) {
	fx := fixtures(t)
	read := func(name string) []byte {
		b, err := os.ReadFile(fx.path(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		key     string // PEM file names
		certs   string
		wantKey string
		oracle  []string
		head    string // the key file's PEM type, checked so each encoding is really covered
	}{
		{"PKCS#8 RSA", "o-rsa.key", "o-rsa.crt", "RSA 2048", []string{"o-rsa.crt"}, "PRIVATE KEY"},
		{"PKCS#1 RSA", "o-rsa.pkcs1.pem", "o-rsa.crt", "RSA 2048", []string{"o-rsa.crt"}, "RSA PRIVATE KEY"},
		{"SEC1 EC with unordered chain", "leaf.sec1.pem", "chain.pem", "ECDSA P-256", []string{"leaf.crt", "inter.crt", "root.crt"}, "EC PRIVATE KEY"},
		{"PKCS#8 EC", "leaf.key", "chain.pem", "ECDSA P-256", []string{"leaf.crt", "inter.crt", "root.crt"}, "PRIVATE KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keyPEM := read(tc.key)
			if b, _ := pem.Decode(keyPEM); b == nil || b.Type != tc.head {
				t.Fatalf("%s is not a %s PEM file", tc.key, tc.head)
			}
			s, err := LoadPEM(keyPEM, read(tc.certs))
			if err != nil {
				t.Fatalf("LoadPEM: %v", err)
			}
			if s.KeyDescription() != tc.wantKey || s.Format != "pem" {
				t.Errorf("key %q format %q, want %q pem", s.KeyDescription(), s.Format, tc.wantKey)
			}
			if len(s.Chain) != len(tc.oracle) {
				t.Fatalf("chain length %d, want %d", len(s.Chain), len(tc.oracle))
			}
			for i, c := range s.Chain {
				d := sha256.Sum256(c.Raw)
				if got, want := hex.EncodeToString(d[:]), fx.digest(t, tc.oracle[i]); got != want {
					t.Errorf("chain[%d] SHA-256 %s, openssl says %s", i, got, want)
				}
			}
			verifyWithOpenSSL(t, s)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	fx := fixtures(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		mustWrite(t, p, b)
		return p
	}
	jks, err := os.ReadFile(fx.path("kt-rsa2048.jks"))
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := os.ReadFile(fx.path("o-rsa.key"))
	leafCert, _ := os.ReadFile(fx.path("leaf.crt"))
	edKey, _ := os.ReadFile(fx.path("ed25519.key"))
	edCert, _ := os.ReadFile(fx.path("ed25519.crt"))
	random := make([]byte, 3000)
	for i := range random {
		random[i] = byte(i*7 + i/13)
	}
	// A JKS with a trailing digest made for its content under storePW, but
	// cut short: the structure walk must catch it, at an offset.
	cut := slices.Clone(jks[:len(jks)/2])
	cut = append(cut, jksDigest(cut, []byte(storePW))...)

	tests := []struct {
		name      string
		path      string
		storePass string
		alias     string
		keyPass   string
		kind      error
		contains  []string
		aliases   []string
	}{
		{"PKCS12 keytool wrong store password", fx.path("kt-rsa2048.p12"), "wrong-" + storePW, "", "", ErrBadPassword, []string{"keys: wrong password for " + fx.path("kt-rsa2048.p12")}, nil},
		{"PKCS12 openssl default wrong password", fx.path("o-default.p12"), storePW, "", "", ErrBadPassword, []string{"keys: wrong password for "}, nil},
		{"PKCS12 openssl legacy wrong password", fx.path("o-legacy.p12"), keyPW, "", "", ErrBadPassword, []string{"keys: wrong password for "}, nil},
		{"PKCS12 multi-key wrong password", fx.path("kt-multi.p12"), osslPW, "alpha", "", ErrBadPassword, []string{"keys: wrong password for "}, nil},
		{"JKS wrong store password", fx.path("kt-rsa2048.jks"), keyPW, "", keyPW, ErrBadPassword, []string{"keys: wrong password for " + fx.path("kt-rsa2048.jks"), "store password"}, nil},
		{"JKS wrong key password", fx.path("kt-rsa2048.jks"), storePW, "", "wrong-" + keyPW, ErrBadPassword, []string{"keys: wrong password for ", `key password of alias "jksrsa"`}, nil},
		{"JKS key password needed but not given", fx.path("kt-rsa2048.jks"), storePW, "", "", ErrBadPassword, []string{"differs from the store password"}, nil},
		{"JKS missing alias", fx.path("kt-multi.jks"), storePW, "nope", "", ErrAlias, []string{`alias "nope" not found`, "first, second"}, []string{"first", "second"}},
		{"JKS several keys, no alias", fx.path("kt-multi.jks"), storePW, "", "", ErrAlias, []string{"holds 2 private keys", "first, second"}, []string{"first", "second"}},
		{"JKS single key, wrong alias", fx.path("kt-rsa2048.jks"), storePW, "other", keyPW, ErrAlias, []string{"jksrsa"}, []string{"jksrsa"}},
		{"PKCS12 several keys, no alias", fx.path("kt-multi.p12"), storePW, "", "", ErrAlias, []string{"holds 2 private keys", "alpha, beta"}, []string{"alpha", "beta"}},
		{"PKCS12 trusted cert alias", fx.path("kt-multi.p12"), storePW, "ca", "", ErrAlias, []string{`alias "ca" not found`}, []string{"alpha", "beta"}},
		{"PKCS12 single key, wrong alias", fx.path("kt-rsa2048.p12"), storePW, "other", "", ErrAlias, []string{"rsa2048"}, []string{"rsa2048"}},
		{"PKCS12 unnamed key, alias given", fx.path("o-p384.p12"), osslPW, "x", "", ErrAlias, []string{"no alias"}, nil},
		{"RSA 1024 (openssl)", fx.path("o-rsa1024.p12"), osslPW, "", "", ErrUnsupportedKey, []string{"RSA 1024-bit"}, nil},
		{"Ed25519 (openssl)", fx.path("o-ed25519.p12"), osslPW, "", "", ErrUnsupportedKey, []string{"Ed25519"}, nil},
		{"Ed25519 PEM", write("ed.pem", append(slices.Clone(edKey), edCert...)), "", "", "", ErrUnsupportedKey, []string{"Ed25519"}, nil},
		{"key and certificate do not match", write("mismatch.pem", append(slices.Clone(rsaKey), leafCert...)), "", "", "", ErrKeyMismatch, []string{"public key"}, nil},
		{"certificate only", fx.path("leaf.crt"), "", "", "", ErrFormat, []string{"no private key"}, nil},
		{"random bytes", write("random.bin", random), storePW, "", "", ErrFormat, []string{"not a PKCS#12, JKS or PEM keystore"}, nil},
		{"empty file", write("empty", nil), storePW, "", "", ErrFormat, nil, nil},
		{"ZIP file", write("app.apk", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00")), storePW, "", "", ErrFormat, nil, nil},
		{"JCEKS", write("x.jceks", append([]byte{0xCE, 0xCE, 0xCE, 0xCE}, jks[4:]...)), storePW, "", "", ErrFormat, []string{"JCEKS", "-deststoretype PKCS12"}, nil},
		{"truncated JKS", write("cut.jks", cut), storePW, "", "", ErrFormat, []string{"malformed JKS", "offset"}, nil},
		{"missing file", filepath.Join(dir, "nope.p12"), storePW, "", "", ErrUnreadable, []string{"nope.p12"}, nil},
		{"PEM with alias", fx.path("o-rsa.combined.pem"), "", "x", "", ErrAlias, []string{"PEM files have no aliases"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var kp []byte
			if tc.keyPass != "" {
				kp = []byte(tc.keyPass)
			}
			s, err := Load(tc.path, []byte(tc.storePass), tc.alias, kp)
			if err == nil {
				t.Fatalf("Load succeeded (%s), want %v", s.Certificate.Subject, tc.kind)
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %q is not %v", err, tc.kind)
			}
			if !IsCredential(err) {
				t.Errorf("IsCredential(%q) = false", err)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, "keys: ") {
				t.Errorf("message %q lacks the keys: prefix", msg)
			}
			for _, c := range tc.contains {
				if !strings.Contains(msg, c) {
					t.Errorf("message %q does not contain %q", msg, c)
				}
			}
			for _, pw := range append(allPasswords, tc.storePass, tc.keyPass) {
				if pw != "" && strings.Contains(msg, pw) {
					t.Errorf("message %q contains a password", msg)
				}
			}
			var ce *CredentialError
			if !errors.As(err, &ce) {
				t.Fatal("not a *CredentialError")
			}
			if tc.aliases != nil && !slices.Equal(ce.Aliases, tc.aliases) {
				t.Errorf("Aliases = %q, want %q", ce.Aliases, tc.aliases)
			}
			if tc.name == "truncated JKS" {
				var fe *FormatError
				if !errors.As(err, &fe) || fe.Format != "jks" || fe.Offset <= 12 || fe.Offset > int64(len(cut)) {
					t.Errorf("want a *FormatError with an offset inside the file, got %#v", fe)
				}
			}
		})
	}
}

func TestLoadTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.p12")
	mustWrite(t, p, bytes.Repeat([]byte{0x30}, maxKeystoreLen+1))
	_, err := Load(p, nil, "", nil)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "larger than 4 MiB") {
		t.Fatalf("err = %v, want ErrFormat (too large)", err)
	}
}

// jksDigest computes the JKS integrity digest independently of jks.go:
// SHA-1 over the password as UTF-16BE, "Mighty Aphrodite", then the data.
// (ASCII passwords only.)
func jksDigest(data, pass []byte) []byte {
	h := sha1.New()
	for _, c := range pass {
		h.Write([]byte{0, c})
	}
	h.Write([]byte("Mighty Aphrodite"))
	h.Write(data)
	return h.Sum(nil)
}

func TestJKSPasswordEncoding(t *testing.T) {
	// Java encodes each UTF-16 code unit big-endian.
	tests := []struct {
		in   string
		want string
	}{
		{"ab", "00610062"},
		{"é€", "00e920ac"},
		{"😀", "d83dde00"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := hex.EncodeToString(jksPassword([]byte(tc.in))); got != tc.want {
			t.Errorf("jksPassword(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if _, ok := libPassword([]byte("€")); ok {
		t.Error("libPassword accepted a character beyond Latin-1")
	}
	if got, ok := libPassword([]byte("pé")); !ok || !bytes.Equal(got, []byte{'p', 0xE9}) {
		t.Errorf("libPassword(pé) = %x, %v", got, ok)
	}
}

func TestDemo(t *testing.T) {
	a, b := Demo(), Demo()
	if !a.IsDemo() || a.Format != "demo" {
		t.Fatalf("Demo().IsDemo() = %v, format %q", a.IsDemo(), a.Format)
	}
	if !bytes.Equal(a.Certificate.Raw, b.Certificate.Raw) || !a.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(b.Key.Public()) {
		t.Error("Demo() is not deterministic")
	}
	if a.Certificate.Subject.CommonName != DemoSubjectCN || a.KeyDescription() != "RSA 2048" {
		t.Errorf("demo subject %q key %s", a.Certificate.Subject.CommonName, a.KeyDescription())
	}
	if a.Certificate.NotAfter.Year() < 2070 {
		t.Errorf("demo certificate expires %v", a.Certificate.NotAfter)
	}
	// openssl reads the embedded certificate the same way.
	out := testenv.Run(t, "openssl", "x509", "-in", filepath.Join("demo", "cert.pem"), "-noout", "-subject", "-fingerprint", "-sha256")
	if !strings.Contains(out, "CN = TrustFuse DEMO key - do not ship") {
		t.Errorf("openssl subject: %s", out)
	}
	if !strings.Contains(normFP(strings.ReplaceAll(out, "\n", " ")), certHex(a)) {
		t.Errorf("openssl fingerprint %s does not match %s", out, certHex(a))
	}
	verifyWithOpenSSL(t, a)

	// The demo key inside a keystore is still recognised as the demo key.
	fx := fixtures(t)
	s, err := Load(fx.path("o-demo.p12"), []byte(osslPW), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsDemo() {
		t.Error("demo key loaded from a PKCS#12 file: IsDemo() = false")
	}
}

// The iteration counts our PKCS#12 walk finds (and caps) are the ones
// openssl pkcs12 -info reports, one per MAC, encrypted content and key bag.
func TestPKCS12Iterations(t *testing.T) {
	fx := fixtures(t)
	tests := []struct {
		file, pass string
		legacy     bool
	}{
		{"o-default.p12", osslPW, false},
		{"o-legacy.p12", osslPW, true},
		{"kt-rsa2048.p12", storePW, false},
		{"kt-multi.p12", storePW, false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			args := []string{"pkcs12", "-in", fx.path(tc.file), "-info", "-noout", "-passin", "pass:" + tc.pass}
			if tc.legacy {
				args = append(args, "-legacy")
			}
			var want []int
			for _, f := range strings.FieldsFunc(testenv.Run(t, "openssl", args...), func(r rune) bool { return r == ',' || r == '\n' }) {
				if n, ok := strings.CutPrefix(strings.TrimSpace(f), "Iteration "); ok {
					v, err := strconv.Atoi(n)
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, v)
				}
			}
			data, err := os.ReadFile(fx.path(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			l, err := readP12Layout(data)
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(slices.Values(l.iterations))
			slices.Sort(want)
			if len(want) < 3 || !slices.Equal(got, want) {
				t.Errorf("iterations %v, openssl -info says %v", got, want)
			}
		})
	}

	// A file asking for 8388607 iterations is refused before any key
	// derivation runs (it would otherwise keep the CPU busy for seconds
	// per derivation; billions would hang).
	d := Demo()
	p12, err := gopkcs12.Modern.WithIterations(0x010000).Encode(d.Key, d.Certificate, nil, osslPW)
	if err != nil {
		t.Fatal(err)
	}
	patched := bytes.ReplaceAll(p12, []byte{2, 3, 1, 0, 0}, []byte{2, 3, 0x7F, 0xFF, 0xFF})
	if bytes.Equal(patched, p12) {
		t.Fatal("no iteration count patched")
	}
	_, err = Parse(patched, "slow.p12", []byte(osslPW), "", nil)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "iteration count 8388607") {
		t.Fatalf("err = %v, want ErrFormat about the iteration count", err)
	}
}
