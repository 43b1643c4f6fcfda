package androidrt_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	androidrt "github.com/trustfuse/trustfuse/fusion/runtime/android"
	"github.com/trustfuse/trustfuse/fusion/runtime/android/harness"
	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestRuntimeDexIsReproducible rebuilds the runtime from the smali sources
// with scripts/build-runtime.sh and requires the checked-in dex byte for byte.
func TestRuntimeDexIsReproducible(t *testing.T) {
	testenv.Tool(t, "smali")
	out := filepath.Join(t.TempDir(), "runtime.dex")
	cmd := exec.Command(filepath.Join(testenv.Root(t), "scripts", "build-runtime.sh"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build-runtime.sh: %v\n%s", err, b)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, androidrt.Dex()) {
		t.Fatalf("runtime.dex is stale: rebuilt %d bytes (sha256 %x), checked in %d bytes: run scripts/build-runtime.sh",
			len(built), sha256.Sum256(built), len(androidrt.Dex()))
	}
}

// TestRuntimeDexDump checks the dex with dexdump (an independent reader):
// it disassembles every method, the provider class extends ContentProvider,
// and the classes the pipeline and apps rely on are there.
func TestRuntimeDexDump(t *testing.T) {
	p := filepath.Join(t.TempDir(), "runtime.dex")
	if err := os.WriteFile(p, androidrt.Dex(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := testenv.Run(t, "dexdump", "-d", p)
	if strings.Contains(out, "Failure") || strings.Contains(out, "ERROR") {
		t.Fatalf("dexdump reports a problem:\n%s", out)
	}
	for _, want := range []string{
		"Opened '" + p + "', DEX version '035'",
		"Class descriptor  : 'Lio/trustfuse/runtime/Init;'\n  Access flags      : 0x0001 (PUBLIC)\n  Superclass        : 'Landroid/content/ContentProvider;'",
		"Class descriptor  : 'Lio/trustfuse/runtime/ThreatEvents;'",
		"Class descriptor  : 'Lio/trustfuse/runtime/ThreatEvents$Listener;'",
		"Class descriptor  : 'Lio/trustfuse/runtime/Attest;'",
		"Superclass        : 'Ljava/security/Provider;'",
		"Superclass        : 'Ljavax/net/ssl/X509ExtendedTrustManager;'",
		"Superclass        : 'Ljavax/net/ssl/X509ExtendedKeyManager;'",
		"Landroid/content/pm/PackageManager;.getPackageInfo:(Ljava/lang/String;I)Landroid/content/pm/PackageInfo;",
		"Ljavax/crypto/Cipher;.updateAAD:([B)V",
		"Ljava/security/Security;.insertProviderAt:(Ljava/security/Provider;I)I",
		"Ljavax/net/ssl/HttpsURLConnection;.setDefaultSSLSocketFactory:(Ljavax/net/ssl/SSLSocketFactory;)V",
		// the token header without app code, and key attestation
		"Class descriptor  : 'Lio/trustfuse/runtime/UrlHandler;'\n  Access flags      : 0x0010 (FINAL)\n  Superclass        : 'Ljava/net/URLStreamHandler;'",
		"Class descriptor  : 'Lio/trustfuse/runtime/Urls;'",
		"#0              : 'Ljava/net/URLStreamHandlerFactory;'",
		"Ljava/net/URL;.setURLStreamHandlerFactory:(Ljava/net/URLStreamHandlerFactory;)V",
		"Ljava/net/URL;.<init>:(Ljava/net/URL;Ljava/lang/String;)V",
		"Landroid/security/keystore/KeyGenParameterSpec$Builder;.setAttestationChallenge:([B)Landroid/security/keystore/KeyGenParameterSpec$Builder;",
		// the attested identity (StrongBox, the issued chain on the keystore entry)
		"Class descriptor  : 'Lio/trustfuse/runtime/Identity;'\n  Access flags      : 0x0011 (PUBLIC FINAL)",
		"Landroid/security/keystore/KeyGenParameterSpec$Builder;.setIsStrongBoxBacked:(Z)Landroid/security/keystore/KeyGenParameterSpec$Builder;",
		"Ljava/security/KeyStore;.setKeyEntry:(Ljava/lang/String;Ljava/security/Key;[C[Ljava/security/cert/Certificate;)V",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dexdump output lacks %q", want)
		}
	}
	if got := strings.Count(out, "Class descriptor"); got != 20 {
		t.Errorf("dexdump lists %d classes, want 20", got)
	}
	// The class the manifest names must be the provider in the dex.
	desc := "L" + strings.ReplaceAll(androidrt.ProviderClass, ".", "/") + ";"
	if !strings.Contains(out, "Class descriptor  : '"+desc+"'\n  Access flags      : 0x0001 (PUBLIC)\n  Superclass        : 'Landroid/content/ContentProvider;'") {
		t.Errorf("ProviderClass %s is not a public ContentProvider in the dex", androidrt.ProviderClass)
	}
}

// TestPepperIsInTheDex proves Pepper() returns the bytes of the dex's
// fill-array-data payload (the Java side of the vault derives K from them;
// TestHarnessMTLS proves that end to end).
func TestPepperIsInTheDex(t *testing.T) {
	p := androidrt.Pepper()
	if len(p) != 32 {
		t.Fatalf("pepper has %d bytes", len(p))
	}
	// fill-array-data payload: ident 0x0300, element width 1, count 32, data.
	payload := append([]byte{0x00, 0x03, 0x01, 0x00, 0x20, 0x00, 0x00, 0x00}, p...)
	if n := bytes.Count(androidrt.Dex(), payload); n != 1 {
		t.Fatalf("pepper payload found %d times in runtime.dex, want 1", n)
	}
	p[0] ^= 0xff
	if bytes.Equal(p, androidrt.Pepper()) {
		t.Error("Pepper returns shared storage")
	}
}

func TestVaultAssetFor(t *testing.T) {
	d := sha256.Sum256([]byte("x"))
	want := "assets/trustfuse/vault-" + hex.EncodeToString(d[:]) + ".bin"
	if got := androidrt.VaultAssetFor(d); got != want {
		t.Errorf("VaultAssetFor = %q, want %q", got, want)
	}
}

func goldenPolicy() *androidrt.Policy {
	return &androidrt.Policy{
		FusionSetID: "fs-1",
		Package:     "com.example.app",
		Threats: map[androidrt.Threat]androidrt.ThreatPolicy{
			androidrt.ThreatTamper: {Mode: androidrt.ModeDefend, Message: " Leading space, = : # ! \\ tab\there\nnewline é 日本 😀", Score: 100},
			androidrt.ThreatRoot:   {Mode: androidrt.ModeDetect, Score: -5},
		},
		EventsEnabled:   true,
		FailSafeEnforce: true,
		FailSafeAfter:   1500 * time.Millisecond,
		SignerDigests:   []string{strings.Repeat("AB", 32), strings.Repeat("01", 32)},
		DexDigests:      map[string]string{"classes2.dex": strings.Repeat("22", 32), "classes.dex": strings.Repeat("11", 32)},
		MTLSHosts:       []string{"API.example.com", "10.0.0.1"},
		PinnedCASPKI:    []string{strings.Repeat("cd", 32)},
		PinnedCAs:       [][]byte{{0x30, 0x82, 0x01, 0x0a}},
		AttestEndpoint:  "https://attest.example.com:8443/base",
		TokenHeader:     "TrustFuse-Token",
		TokenTTL:        5 * time.Minute,
		BuildDate:       "2025-01-02T03:04:05Z",
		FusedAppToken:   "00ff",
		KeyAttestation:  attest.KeyAttestationRequired,
		Identity:        androidrt.IdentityAttested,
		StrongBox:       androidrt.StrongBoxPrefer,
	}
}

// TestPolicyEncode checks the encoding against a golden file and against
// java.util.Properties.load (the runtime's reader, run on the JDK): every key
// reads back as the value the runtime expects, including escapes and
// non-Latin-1 text.
func TestPolicyEncode(t *testing.T) {
	p := goldenPolicy()
	enc := p.Encode()
	if !bytes.Equal(enc, p.Encode()) {
		t.Fatal("Encode is not deterministic")
	}
	for i, c := range enc {
		if c >= 0x80 {
			t.Fatalf("byte %d (0x%02x) is not ASCII", i, c)
		}
	}
	golden := filepath.Join("testdata", "policy.golden")
	if *update {
		if err := os.WriteFile(golden, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(enc, want) {
		t.Errorf("Encode differs from %s (run with -update):\n%s", golden, enc)
	}

	got := harness.LoadProperties(t, enc)
	wantKV := map[string]string{
		"version":               "1",
		"fusionSetId":           "fs-1",
		"package":               "com.example.app",
		"threat.tamper.mode":    "defend",
		"threat.tamper.message": " Leading space, = : # ! \\ tab\there\nnewline é 日本 😀",
		"threat.tamper.score":   "100",
		"threat.root.mode":      "detect",
		"threat.root.message":   "",
		"threat.root.score":     "-5",
		"events":                "true",
		"failSafe.enforce":      "true",
		"failSafe.afterMs":      "1500",
		"exitOnDefend":          "false",
		"signers":               strings.Repeat("ab", 32) + "," + strings.Repeat("01", 32),
		"dex":                   "classes.dex:" + strings.Repeat("11", 32) + ",classes2.dex:" + strings.Repeat("22", 32),
		"mtls.hosts":            "api.example.com,10.0.0.1",
		"pin.spki":              strings.Repeat("cd", 32),
		"pin.cas":               "3082010a",
		"attest.endpoint":       "https://attest.example.com:8443/base",
		"attest.tokenHeader":    "TrustFuse-Token",
		"attest.tokenTtlMs":     "300000",
		"attest.keyAttestation": "required",
		"buildDate":             "2025-01-02T03:04:05Z",
		"fusedAppToken":         "00ff",
		"mtls.identity":         "attested",
		"mtls.strongBox":        "prefer",
	}
	for k, v := range wantKV {
		if got[k] != v {
			t.Errorf("Properties.load: %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(wantKV) {
		t.Errorf("Properties.load read %d keys, want %d: %v", len(got), len(wantKV), got)
	}
}

func TestPolicyValidate(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name string
		edit func(*androidrt.Policy)
		want string // substring of the error, "" for valid
	}{
		{"valid", func(*androidrt.Policy) {}, ""},
		{"unknown mode", func(p *androidrt.Policy) { p.Threats[androidrt.ThreatRoot] = androidrt.ThreatPolicy{Mode: "block"} }, `unknown mode "block"`},
		{"unknown threat", func(p *androidrt.Policy) { p.Threats["jailbreak"] = androidrt.ThreatPolicy{Mode: "off"} }, `unknown threat "jailbreak"`},
		{"short signer digest", func(p *androidrt.Policy) { p.SignerDigests = []string{"abcd"} }, "not hex SHA-256"},
		{"no signer", func(p *androidrt.Policy) { p.SignerDigests = nil }, "no signer digest"},
		{"comma in host", func(p *androidrt.Policy) { p.MTLSHosts = []string{"a.com,b.com"} }, "mTLS host"},
		{"dex name with colon", func(p *androidrt.Policy) { p.DexDigests = map[string]string{"c:lasses.dex": strings.Repeat("0", 64)} }, "dex digest"},
		{"pinned CA not pinned", func(p *androidrt.Policy) { p.PinnedCASPKI = []string{strings.Repeat("0", 64)} }, "SPKI digest not in PinnedCASPKI"},
		{"pinned CA garbage", func(p *androidrt.Policy) { p.PinnedCAs = [][]byte{{1, 2, 3}} }, "pinned CA 0"},
		{"key attestation optional", func(p *androidrt.Policy) { p.KeyAttestation = attest.KeyAttestationOptional }, ""},
		{"key attestation unknown", func(p *androidrt.Policy) { p.KeyAttestation = "always" }, `unknown key attestation mode "always"`},
		{"app attest required", func(p *androidrt.Policy) { p.AppAttest = attest.KeyAttestationRequired }, ""},
		{"app attest unknown", func(p *androidrt.Policy) { p.AppAttest = "always" }, `unknown App Attest mode "always"`},
		{"attested", func(p *androidrt.Policy) {
			p.Identity, p.StrongBox = androidrt.IdentityAttested, androidrt.StrongBoxPrefer
		}, ""},
		{"identity unknown", func(p *androidrt.Policy) { p.Identity = "hardware" }, `unknown identity mode "hardware"`},
		{"attested without endpoint", func(p *androidrt.Policy) { p.Identity, p.AttestEndpoint = androidrt.IdentityAttestedOrEmbedded, "" }, "needs an attestation endpoint"},
		{"strongBox for embedded", func(p *androidrt.Policy) { p.StrongBox = androidrt.StrongBoxPrefer }, "attested modes only"},
		{"strongBox unknown", func(p *androidrt.Policy) { p.Identity, p.StrongBox = androidrt.IdentityAttested, "always" }, `unknown strongBox preference "always"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := w.policy()
			tc.edit(p)
			err := p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, androidrt.ErrPolicy)):
				t.Fatalf("Validate = %v, want an ErrPolicy containing %q", err, tc.want)
			}
		})
	}
}

// TestPolicyAppAttest: attest.appAttest is written only for an iOS
// release that asks for App Attest, so Android policies keep their bytes;
// java.util.Properties.load reads it back.
func TestPolicyAppAttest(t *testing.T) {
	for _, c := range []struct{ mode, want string }{
		{"", ""}, {attest.KeyAttestationOff, ""}, {attest.KeyAttestationOptional, "optional"}, {attest.KeyAttestationRequired, "required"},
	} {
		p := goldenPolicy()
		base := p.Encode()
		p.AppAttest = c.mode
		enc := p.Encode()
		if got := harness.LoadProperties(t, enc)["attest.appAttest"]; got != c.want {
			t.Errorf("mode %q: attest.appAttest = %q, want %q", c.mode, got, c.want)
		}
		if c.want == "" && !bytes.Equal(enc, base) {
			t.Errorf("mode %q changed the policy bytes", c.mode)
		}
	}
}

// TestPolicyIdentity: mtls.identity is always written ("" as embedded),
// mtls.strongBox only in the attested modes ("" as off); read back with
// java.util.Properties.load.
func TestPolicyIdentity(t *testing.T) {
	for _, c := range []struct{ identity, strongBox, wantIdentity, wantStrongBox string }{
		{"", "", "embedded", ""},
		{androidrt.IdentityEmbedded, "", "embedded", ""},
		{androidrt.IdentityAttested, "", "attested", "off"},
		{androidrt.IdentityAttestedOrEmbedded, androidrt.StrongBoxPrefer, "attested-or-embedded", "prefer"},
	} {
		p := goldenPolicy()
		p.Identity, p.StrongBox = c.identity, c.strongBox
		got := harness.LoadProperties(t, p.Encode())
		if got["mtls.identity"] != c.wantIdentity || got["mtls.strongBox"] != c.wantStrongBox {
			t.Errorf("identity %q strongBox %q: read mtls.identity=%q mtls.strongBox=%q, want %q %q",
				c.identity, c.strongBox, got["mtls.identity"], got["mtls.strongBox"], c.wantIdentity, c.wantStrongBox)
		}
		if _, ok := got["mtls.strongBox"]; ok != (c.wantStrongBox != "") {
			t.Errorf("identity %q: mtls.strongBox present = %v", c.identity, ok)
		}
	}
}

// FuzzPolicyEncode checks that any message and package name encode to
// printable ASCII, one line per key (no raw newline can split a value into
// a new key).
func FuzzPolicyEncode(f *testing.F) {
	f.Add("plain", "com.example")
	f.Add(" x=y\n#z:\\", "\u2028\x00")
	f.Fuzz(func(t *testing.T, msg, pkg string) {
		p := &androidrt.Policy{Package: pkg, Threats: map[androidrt.Threat]androidrt.ThreatPolicy{androidrt.ThreatRoot: {Mode: "detect", Message: msg}}}
		enc := p.Encode()
		// A comment line, 19 fixed keys and 3 per threat: no value may
		// spill onto a line of its own.
		if lines := strings.Count(string(enc), "\n"); lines != 1+19+3 {
			t.Fatalf("%d lines, want 23: %q", lines, enc)
		}
		for _, c := range enc {
			if c >= 0x80 || (c < 0x20 && c != '\n') {
				t.Fatalf("non-ASCII or control byte 0x%02x in %q", c, enc)
			}
		}
		if n := strings.Count(string(enc), "\nthreat.root.message="); n != 1 {
			t.Fatalf("message key appears %d times: %q", n, enc)
		}
	})
}
