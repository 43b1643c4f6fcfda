package keys

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// Passwords used by the fixtures. They are distinctive so that a test can
// assert none of them ever appears in an error message.
const (
	storePW = "St0re-pw-7f3a"
	keyPW   = "K3y-pw-9c1e"
	osslPW  = "Op3n-pw-44d2"
)

var allPasswords = []string{storePW, keyPW, osslPW}

// fixtureSet holds the keystores made once per test binary by the real
// keytool and openssl, with the certificate SHA-256 digests those tools
// print for them.
type fixtureSet struct {
	dir string
	// sha maps "file/alias" (alias lower-case, as keytool prints it) or
	// "file" (openssl fixtures) to the lower-case hex SHA-256 of the
	// certificate as printed by keytool -list -v or openssl x509 -fingerprint.
	sha map[string]string
	mu  sync.Mutex
	err error
}

var (
	fxOnce sync.Once
	fx     = &fixtureSet{sha: map[string]string{}}
	fxDir  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trustfuse-keys-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fxDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixtures returns the generated keystores, generating them on first use.
func fixtures(t testing.TB) *fixtureSet {
	t.Helper()
	keytool := testenv.Tool(t, "keytool")
	openssl := testenv.Tool(t, "openssl")
	fxOnce.Do(func() {
		fx.dir = fxDir
		fx.err = fx.generate(keytool, openssl)
	})
	if fx.err != nil {
		t.Fatalf("generating keystores: %v", fx.err)
	}
	return fx
}

func (f *fixtureSet) path(name string) string { return filepath.Join(f.dir, name) }

// digest returns the oracle's SHA-256 for key ("file" or "file/alias").
func (f *fixtureSet) digest(t testing.TB, key string) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.sha[key]
	if !ok {
		t.Fatalf("no oracle digest recorded for %s", key)
	}
	return d
}

func (f *fixtureSet) run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = f.dir
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	if os.Getenv("KEYS_TIMING") != "" {
		fmt.Fprintf(os.Stderr, "%6.2fs %s %s\n", time.Since(t0).Seconds(), filepath.Base(name), strings.Join(args[:min(3, len(args))], " "))
	}
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

const opensslCnf = `[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`

func (f *fixtureSet) generate(keytool, openssl string) error {
	if err := os.WriteFile(f.path("test.cnf"), []byte(opensslCnf), 0o600); err != nil {
		return err
	}
	if err := f.generateOpenSSL(openssl); err != nil {
		return err
	}
	return f.generateKeytool(keytool)
}

// generateOpenSSL makes the OpenSSL 3 fixtures:
//
//	o-default.p12  RSA 2048, default PBES2/AES-256-CBC + HMAC-SHA256, name "ossl"
//	o-legacy.p12   the same key with -legacy (RC2-40 certs, 3DES key, SHA-1 MAC)
//	o-chain.p12    EC P-256 leaf ← EC P-256 intermediate ← EC P-384 root, plus a
//	               decoy certificate, given to -certfile root-first
//	o-p384.p12     EC P-384; o-rsa1024.p12 and o-ed25519.p12 (unsupported keys)
//	PEM files      o-rsa.key (PKCS#8), o-rsa.pkcs1.pem, leaf.sec1.pem, certs
func (f *fixtureSet) generateOpenSSL(openssl string) error {
	steps := [][]string{
		{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "o-rsa.key"},
		{"req", "-new", "-x509", "-config", "test.cnf", "-extensions", "leaf_ext", "-key", "o-rsa.key", "-subj", "/CN=openssl rsa2048", "-days", "30", "-out", "o-rsa.crt"},
		{"pkcs12", "-export", "-inkey", "o-rsa.key", "-in", "o-rsa.crt", "-name", "ossl", "-passout", "pass:" + osslPW, "-out", "o-default.p12"},
		{"pkcs12", "-export", "-legacy", "-inkey", "o-rsa.key", "-in", "o-rsa.crt", "-name", "ossl", "-passout", "pass:" + osslPW, "-out", "o-legacy.p12"},
		{"rsa", "-in", "o-rsa.key", "-traditional", "-out", "o-rsa.pkcs1.pem"},

		{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "root.key"},
		{"req", "-new", "-x509", "-config", "test.cnf", "-extensions", "ca_ext", "-key", "root.key", "-subj", "/CN=Test Root CA", "-days", "30", "-out", "root.crt"},
		{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "inter.key"},
		{"req", "-new", "-config", "test.cnf", "-key", "inter.key", "-subj", "/CN=Test Intermediate CA", "-out", "inter.csr"},
		{"x509", "-req", "-in", "inter.csr", "-CA", "root.crt", "-CAkey", "root.key", "-set_serial", "2", "-days", "30", "-extfile", "test.cnf", "-extensions", "ca_ext", "-out", "inter.crt"},
		{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "leaf.key"},
		{"req", "-new", "-config", "test.cnf", "-key", "leaf.key", "-subj", "/CN=Test Leaf", "-out", "leaf.csr"},
		{"x509", "-req", "-in", "leaf.csr", "-CA", "inter.crt", "-CAkey", "inter.key", "-set_serial", "3", "-days", "30", "-extfile", "test.cnf", "-extensions", "leaf_ext", "-out", "leaf.crt"},
		{"ec", "-in", "leaf.key", "-out", "leaf.sec1.pem"},

		{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "p384.key"},
		{"req", "-new", "-x509", "-config", "test.cnf", "-key", "p384.key", "-subj", "/CN=openssl p384", "-days", "30", "-out", "p384.crt"},
		{"pkcs12", "-export", "-inkey", "p384.key", "-in", "p384.crt", "-passout", "pass:" + osslPW, "-out", "o-p384.p12"},
		{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", "rsa1024.key"},
		{"req", "-new", "-x509", "-config", "test.cnf", "-key", "rsa1024.key", "-subj", "/CN=openssl rsa1024", "-days", "30", "-out", "rsa1024.crt"},
		{"pkcs12", "-export", "-inkey", "rsa1024.key", "-in", "rsa1024.crt", "-passout", "pass:" + osslPW, "-out", "o-rsa1024.p12"},
		{"genpkey", "-algorithm", "ed25519", "-out", "ed25519.key"},
		{"req", "-new", "-x509", "-config", "test.cnf", "-key", "ed25519.key", "-subj", "/CN=openssl ed25519", "-days", "30", "-out", "ed25519.crt"},
		{"pkcs12", "-export", "-inkey", "ed25519.key", "-in", "ed25519.crt", "-passout", "pass:" + osslPW, "-out", "o-ed25519.p12"},
		{"pkcs12", "-export", "-inkey", "../demo/key.pem", "-in", "../demo/cert.pem", "-passout", "pass:" + osslPW, "-out", "o-demo.p12"},
	}
	for _, s := range steps {
		for i, a := range s {
			if strings.HasPrefix(a, "../demo/") {
				abs, err := filepath.Abs(strings.TrimPrefix(a, "../"))
				if err != nil {
					return err
				}
				s[i] = abs
			}
		}
		if _, err := f.run(openssl, s...); err != nil {
			return err
		}
	}
	// -certfile root first, then a decoy, then the intermediate: the loader
	// must order the chain itself and leave the decoy out.
	if err := concat(f.path("cas.pem"), f.path("root.crt"), f.path("o-rsa.crt"), f.path("inter.crt")); err != nil {
		return err
	}
	if _, err := f.run(openssl, "pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.crt", "-certfile", "cas.pem",
		"-name", "chained", "-passout", "pass:"+osslPW, "-out", "o-chain.p12"); err != nil {
		return err
	}
	if err := concat(f.path("o-rsa.combined.pem"), f.path("o-rsa.crt"), f.path("o-rsa.key")); err != nil {
		return err
	}
	if err := concat(f.path("chain.pem"), f.path("root.crt"), f.path("leaf.crt"), f.path("inter.crt")); err != nil {
		return err
	}
	for _, c := range []string{"o-rsa.crt", "root.crt", "inter.crt", "leaf.crt", "p384.crt"} {
		out, err := f.run(openssl, "x509", "-in", c, "-noout", "-fingerprint", "-sha256")
		if err != nil {
			return err
		}
		_, fp, ok := strings.Cut(strings.TrimSpace(out), "=")
		if !ok {
			return fmt.Errorf("openssl fingerprint output %q", out)
		}
		f.sha[c] = normFP(fp)
	}
	return nil
}

func concat(dst string, srcs ...string) error {
	var b []byte
	for _, s := range srcs {
		d, err := os.ReadFile(s)
		if err != nil {
			return err
		}
		b = append(b, d...)
	}
	return os.WriteFile(dst, b, 0o600)
}

func normFP(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
}

// generateKeytool makes the keytool fixtures (keytool -genkeypair, JDK 17):
//
//	kt-rsa2048.p12  PKCS12, one RSA 2048 key "rsa2048"
//	kt-rsa2048.jks  JKS, one RSA 2048 key "jksrsa" with a key password distinct from the store's
//	kt-multi.jks    JKS, "first" RSA 2048 (key password = store password) and
//	                "Second" EC P-256 (distinct key password)
//	kt-multi.p12    PKCS12, "alpha" EC P-256, "Beta" RSA 4096 and a trusted
//	                certificate entry "ca"
//
// Each store is then listed with keytool -list -v for its digests. A JVM
// start costs 0.5–2 s on a busy machine, so the set is kept small and the
// recipes run two at a time.
func (f *fixtureSet) generateKeytool(keytool string) error {
	gen := func(store, storetype, alias, dname string, keyArgs ...string) []string {
		a := []string{"-J-XX:+UseSerialGC", "-genkeypair", "-noprompt", "-keystore", store, "-storetype", storetype,
			"-storepass", storePW, "-alias", alias, "-dname", dname, "-validity", "3650"}
		return append(a, keyArgs...)
	}
	rsa := func(bits string) []string { return []string{"-keyalg", "RSA", "-keysize", bits} }
	ec := []string{"-keyalg", "EC", "-groupname", "secp256r1"}
	with := func(a []string, more ...string) []string { return append(slices.Clone(a), more...) }
	recipes := map[string][][]string{
		"kt-rsa2048.p12": {gen("kt-rsa2048.p12", "PKCS12", "rsa2048", "CN=keytool rsa2048, O=TrustFuse Test", rsa("2048")...)},
		"kt-rsa2048.jks": {gen("kt-rsa2048.jks", "JKS", "jksrsa", "CN=keytool jks rsa2048", with(rsa("2048"), "-keypass", keyPW)...)},
		"kt-multi.jks": {
			gen("kt-multi.jks", "JKS", "first", "CN=keytool first", rsa("2048")...),
			gen("kt-multi.jks", "JKS", "Second", "CN=keytool second", with(ec, "-keypass", keyPW)...),
		},
		"kt-multi.p12": {
			gen("kt-multi.p12", "PKCS12", "alpha", "CN=keytool alpha", ec...),
			gen("kt-multi.p12", "PKCS12", "Beta", "CN=keytool beta rsa4096", rsa("4096")...),
			{"-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-importcert", "-noprompt", "-keystore", "kt-multi.p12",
				"-storepass", storePW, "-alias", "ca", "-file", "root.crt"},
		},
	}
	// The slowest first, so the two workers finish together.
	order := []string{"kt-multi.p12", "kt-multi.jks", "kt-rsa2048.p12", "kt-rsa2048.jks"}
	work := make(chan string)
	errs := make(chan error, len(order))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for store := range work {
				errs <- f.keytoolRecipe(keytool, store, recipes[store])
			}
		}()
	}
	for _, s := range order {
		work <- s
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (f *fixtureSet) keytoolRecipe(keytool, store string, cmds [][]string) error {
	for _, c := range cmds {
		if _, err := f.run(keytool, c...); err != nil {
			return err
		}
	}
	out, err := f.run(keytool, "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-list", "-v", "-keystore", store, "-storepass", storePW)
	if err != nil {
		return err
	}
	digests := parseKeytoolList(out)
	if len(digests) == 0 {
		return fmt.Errorf("keytool -list -v %s: no SHA256 lines in\n%s", store, out)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for alias, d := range digests {
		f.sha[store+"/"+alias] = d
	}
	return nil
}

// parseKeytoolList maps each alias of `keytool -list -v` output to the
// SHA-256 of its first certificate (the leaf of a key entry).
func parseKeytoolList(out string) map[string]string {
	m := map[string]string{}
	alias := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if a, ok := strings.CutPrefix(line, "Alias name: "); ok {
			alias = a
			continue
		}
		if d, ok := strings.CutPrefix(line, "SHA256: "); ok && alias != "" {
			if _, seen := m[alias]; !seen {
				m[alias] = normFP(d)
			}
		}
	}
	return m
}
