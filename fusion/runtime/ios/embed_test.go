package iosrt_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	gomacho "github.com/blacktop/go-macho"

	iosrt "github.com/trustfuse/trustfuse/fusion/runtime/ios"
	"github.com/trustfuse/trustfuse/internal/testenv"
)

// The libraries the runtime links, by install name (sdk/*.tbd).
var wantDylibs = []string{
	"/usr/lib/libSystem.B.dylib",
	"/usr/lib/libobjc.A.dylib",
	"/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation",
	"/System/Library/Frameworks/Foundation.framework/Foundation",
	"/System/Library/Frameworks/Security.framework/Security",
	"/System/Library/Frameworks/CFNetwork.framework/CFNetwork",
}

// writeFramework writes the embedded binary to a file for the oracles.
func writeFramework(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "TrustFuse")
	if err := os.WriteFile(p, iosrt.Framework, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFrameworkIsReproducible rebuilds the framework binary from the C
// sources with scripts/build-runtime.sh --ios (clang-14, ld64.lld-14, the
// .tbd stubs) and requires the checked-in binary byte for byte.
func TestFrameworkIsReproducible(t *testing.T) {
	testenv.Tool(t, "clang-14")
	testenv.Tool(t, "ld64.lld-14")
	out := filepath.Join(t.TempDir(), "TrustFuse")
	cmd := exec.Command(filepath.Join(testenv.Root(t), "scripts", "build-runtime.sh"), "--ios", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build-runtime.sh --ios: %v\n%s", err, b)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, iosrt.Framework) {
		t.Fatalf("TrustFuse.framework/TrustFuse is stale: rebuilt %d bytes (sha256 %x), checked in %d bytes: run scripts/build-runtime.sh --ios",
			len(built), sha256.Sum256(built), len(iosrt.Framework))
	}
}

// loadCommands splits llvm-objdump --private-headers output into its load
// commands, each as the text of its block.
func loadCommands(out string) []string {
	parts := regexp.MustCompile(`(?m)^Load command \d+\n`).Split(out, -1)
	return parts[1:]
}

func cmdName(block string) string {
	m := regexp.MustCompile(`(?m)^\s*cmd (\S+)`).FindStringSubmatch(block)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestFrameworkHeaders reads the Mach-O header and load commands with
// llvm-objdump: an arm64 MH_DYLIB with a two-level namespace, the install
// name the app's LC_LOAD_DYLIB names, LC_BUILD_VERSION iOS 14.0, exactly
// the six system libraries, no code signature yet (fuse signs it) and no
// encryption.
func TestFrameworkHeaders(t *testing.T) {
	out := testenv.Run(t, "llvm-objdump-14", "--macho", "--private-headers", writeFramework(t))
	hdr := regexp.MustCompile(`(?m)^MH_MAGIC_64\s+ARM64\s+ALL\s+0x00\s+DYLIB\s+\d+\s+\d+\s+(.*)$`).FindStringSubmatch(out)
	if hdr == nil {
		t.Fatalf("no arm64 MH_DYLIB header line:\n%s", out)
	}
	if !slices.Contains(strings.Fields(hdr[1]), "TWOLEVEL") {
		t.Errorf("header flags %q lack TWOLEVEL: imports would not name their library", hdr[1])
	}
	var dylibs []string
	count := map[string]int{}
	for _, b := range loadCommands(out) {
		name := cmdName(b)
		count[name]++
		switch name {
		case "LC_ID_DYLIB":
			if !strings.Contains(b, "name "+iosrt.InstallName+" (offset 24)") {
				t.Errorf("LC_ID_DYLIB is not %s:\n%s", iosrt.InstallName, b)
			}
		case "LC_BUILD_VERSION":
			for _, re := range []string{`platform ios\n`, `minos 14\.0\n`, `sdk 16\.0\n`} {
				if !regexp.MustCompile(re).MatchString(b) {
					t.Errorf("LC_BUILD_VERSION lacks %q:\n%s", re, b)
				}
			}
		case "LC_LOAD_DYLIB":
			m := regexp.MustCompile(`name (\S+) \(offset`).FindStringSubmatch(b)
			if m != nil {
				dylibs = append(dylibs, m[1])
			}
		case "LC_ENCRYPTION_INFO_64":
			if !strings.Contains(b, "cryptid 0\n") {
				t.Errorf("the runtime is marked encrypted:\n%s", b)
			}
		}
	}
	for _, c := range []struct {
		cmd  string
		want int
	}{
		{"LC_ID_DYLIB", 1},
		{"LC_BUILD_VERSION", 1},
		{"LC_UUID", 1},
		{"LC_CODE_SIGNATURE", 0}, // added by the signer
		{"LC_RPATH", 0},          // the app's, not the runtime's
		{"LC_VERSION_MIN_IPHONEOS", 0},
	} {
		if count[c.cmd] != c.want {
			t.Errorf("%d %s, want %d", count[c.cmd], c.cmd, c.want)
		}
	}
	if !slices.Equal(dylibs, wantDylibs) {
		t.Errorf("LC_LOAD_DYLIB %q, want %q", dylibs, wantDylibs)
	}
}

// tbdExports reads the install name and exported symbols of each stub in
// sdk/ (the stubs are what the linker resolved the imports against).
func tbdExports(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.Root(t), "fusion", "runtime", "ios", "sdk", "*.tbd"))
	if err != nil || len(files) != len(wantDylibs) {
		t.Fatalf("sdk stubs: %v %v", files, err)
	}
	owner := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := regexp.MustCompile(`install-name:\s+'([^']+)'`).FindSubmatch(b)
		if name == nil {
			t.Fatalf("%s: no install-name", f)
		}
		for _, list := range regexp.MustCompile(`symbols:\s+\[([^\]]*)\]`).FindAllSubmatch(b, -1) {
			for _, s := range strings.Split(string(list[1]), ",") {
				owner[strings.TrimSpace(s)] = string(name[1])
			}
		}
	}
	return owner
}

// short names llvm-objdump prints in its bind tables.
var shortName = map[string]string{
	"/usr/lib/libSystem.B.dylib": "libSystem",
	"/usr/lib/libobjc.A.dylib":   "libobjc",
	"/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation": "CoreFoundation",
	"/System/Library/Frameworks/Foundation.framework/Foundation":         "Foundation",
	"/System/Library/Frameworks/Security.framework/Security":             "Security",
	"/System/Library/Frameworks/CFNetwork.framework/CFNetwork":           "CFNetwork",
}

// TestFrameworkImports reads the bind and lazy-bind tables with
// llvm-objdump: every imported symbol is bound to the library whose stub
// exports it (two-level namespace: dyld looks it up there on the device),
// every stub symbol is used, and the APIs the glue rests on come from the
// right library. No class is bound at link time: NSURLSession and the other
// classes are looked up by name through the Objective-C runtime.
func TestFrameworkImports(t *testing.T) {
	out := testenv.Run(t, "llvm-objdump-14", "--macho", "--bind", "--lazy-bind", writeFramework(t))
	got := map[string]string{} // symbol -> library short name
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.HasPrefix(f[0], "__") {
			got[f[len(f)-1]] = f[len(f)-2]
		}
	}
	owner := tbdExports(t)
	if len(got) == 0 || len(got) != len(owner) {
		t.Errorf("%d imports, %d stub symbols: every stub symbol must be used and every import stubbed", len(got), len(owner))
	}
	for sym, lib := range got {
		if want := shortName[owner[sym]]; lib != want {
			t.Errorf("%s bound to %q, want %q (the stub that exports it)", sym, lib, want)
		}
	}
	for _, c := range []struct{ sym, lib string }{
		{"_objc_msgSend", "libobjc"},        // every Objective-C call
		{"_class_replaceMethod", "libobjc"}, // delegate and task-factory swizzling
		{"_method_setImplementation", "libobjc"},
		{"_objc_allocateClassPair", "libobjc"}, // TFSessionDelegate
		{"_SecKeyCreateWithData", "Security"},  // the identity
		{"_SecItemCopyMatching", "Security"},
		{"_SecTrustSetAnchorCertificatesOnly", "Security"}, // pinning
		{"_SecTrustEvaluateWithError", "Security"},
		{"_SecKeyCreateRandomKey", "Security"}, // the attested identity: a Secure Enclave key
		{"_kSecAttrTokenIDSecureEnclave", "Security"},
		{"_SecAccessControlCreateWithFlags", "Security"},  // private-key-usage, this device only
		{"_SecKeyCopyExternalRepresentation", "Security"}, // its public point, for the SPKI
		{"_SecIdentityCopyCertificate", "Security"},       // the issued certificate's validity
		{"_CFNumberCreate", "CoreFoundation"},
		{"_CFNotificationCenterPostNotification", "CoreFoundation"}, // Threat-Events
		{"___CFConstantStringClassReference", "CoreFoundation"},
		{"_NSLog", "Foundation"},
		{"_sysctl", "libSystem"}, // debugger
		{"_fork", "libSystem"},   // sandbox probe
		{"__dyld_image_count", "libSystem"},
		{"__dyld_get_image_name", "libSystem"},  // hooking
		{"_dladdr", "libSystem"},                // the framework's directory
		{"_dlopen", "libSystem"},                // DeviceCheck, only when App Attest is on
		{"_dispatch_async_f", "libSystem"},      // checks off the main thread
		{"__NSConcreteStackBlock", "libSystem"}, // the completion handler block
	} {
		if got[c.sym] != c.lib {
			t.Errorf("%s imported from %q, want %q", c.sym, got[c.sym], c.lib)
		}
	}
	for _, bad := range []string{"flat-namespace", "dynamic-lookup"} {
		if strings.Contains(out, bad) {
			t.Errorf("a symbol is bound by %s:\n%s", bad, out)
		}
	}
}

// TestFrameworkExportsAndInitializer: the export trie holds only the C API
// apps may call, and the constructor is in __mod_init_func, where dyld runs
// it when the app loads the framework.
func TestFrameworkExportsAndInitializer(t *testing.T) {
	p := writeFramework(t)
	trie := testenv.Run(t, "llvm-objdump-14", "--macho", "--exports-trie", p)
	var exports []string
	for _, m := range regexp.MustCompile(`(?m)^0x[0-9A-F]+\s+(\S+)$`).FindAllStringSubmatch(trie, -1) {
		exports = append(exports, m[1])
	}
	if want := []string{"_" + iosrt.AcknowledgeSymbol}; !slices.Equal(exports, want) {
		t.Errorf("exports %q, want %q", exports, want)
	}
	init := testenv.Run(t, "llvm-objdump-14", "--macho", "--section=__DATA_CONST,__mod_init_func", p)
	if n := len(regexp.MustCompile(`(?m)^0x[0-9a-f]+ 0x[0-9a-f]+ _trustfuse_init$`).FindAllString(init, -1)); n != 1 {
		t.Errorf("__mod_init_func holds _trustfuse_init %d times, want once:\n%s", n, init)
	}
}

// TestFrameworkMacholib reads the binary with Debian's python3 macholib (an
// independent Mach-O reader): file type, CPU, install name, platform and
// minimum OS, linked libraries.
func TestFrameworkMacholib(t *testing.T) {
	script := `import json, struct, sys
from macholib.MachO import MachO
from macholib import mach_o
m = MachO(sys.argv[1])
h = m.headers[0]
out = {"n": len(m.headers), "filetype": h.header.filetype, "cputype": h.header.cputype, "dylibs": [], "id": None}
for lc, cmd, data in h.commands:
    if lc.cmd == mach_o.LC_ID_DYLIB:
        out["id"] = data.rstrip(b"\0").decode()
    elif lc.cmd == mach_o.LC_LOAD_DYLIB:
        out["dylibs"].append(data.rstrip(b"\0").decode())
    elif lc.cmd == mach_o.LC_BUILD_VERSION:
        out["platform"] = cmd.platform
        out["minos"] = cmd.minos
print(json.dumps(out))
`
	var got struct {
		N        int      `json:"n"`
		Filetype int      `json:"filetype"`
		CPUType  int      `json:"cputype"`
		ID       string   `json:"id"`
		Dylibs   []string `json:"dylibs"`
		Platform int      `json:"platform"`
		MinOS    int      `json:"minos"`
	}
	out := testenv.Run(t, "/usr/bin/python3", "-c", script, writeFramework(t))
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("macholib: %v\n%s", err, out)
	}
	// MH_DYLIB 6, CPU_TYPE_ARM64 0x0100000c, PLATFORM_IOS 2, 14.0 = 0x000e0000.
	if got.N != 1 || got.Filetype != 6 || got.CPUType != 0x0100000c || got.Platform != 2 || got.MinOS != 0x000e0000 {
		t.Errorf("macholib: %+v, want one arm64 MH_DYLIB for iOS 14.0", got)
	}
	if got.ID != iosrt.InstallName {
		t.Errorf("macholib: LC_ID_DYLIB %q, want %q", got.ID, iosrt.InstallName)
	}
	if !slices.Equal(got.Dylibs, wantDylibs) {
		t.Errorf("macholib: LC_LOAD_DYLIB %q, want %q", got.Dylibs, wantDylibs)
	}
}

// TestFrameworkSignsInAnIPA puts the runtime into the fixture app as
// Frameworks/TrustFuse.framework (with the Info.plist the fuse pipeline
// writes) and runs `trustfuse sign` and `trustfuse verify` on it: the
// framework is signed like any other (LC_CODE_SIGNATURE added, read back by
// llvm-objdump) and verifies.
func TestFrameworkSignsInAnIPA(t *testing.T) {
	bin := testenv.Trustfuse(t)
	root := testenv.Root(t)
	fix := filepath.Join(root, "testdata", "ios")
	dir := t.TempDir()
	info := []byte(iosrt.InfoPlist)
	fw := "Payload/Demo.app/Frameworks/TrustFuse.framework/"
	in := filepath.Join(dir, "in.ipa")
	testenv.RewriteZip(t, filepath.Join(fix, "Demo.ipa"), in, nil,
		testenv.ZipFile{Name: fw + "Info.plist", Data: info},
		testenv.ZipFile{Name: fw + "TrustFuse", Data: iosrt.Framework})
	signed := filepath.Join(dir, "signed.ipa")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "P12_PASS=fixture")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("trustfuse %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("sign", "--in", in, "--out", signed, "--keystore", filepath.Join(fix, "pki", "dist.p12"), "--ks-pass", "env:P12_PASS",
		"--profile", filepath.Join(fix, "app.mobileprovision"),
		"--profile", "com.example.demo.widget="+filepath.Join(fix, "widget.mobileprovision"),
		"--apple-root", filepath.Join(fix, "pki", "root.pem"))
	out := run("verify", "--apple-root", filepath.Join(fix, "pki", "root.pem"), signed)
	if !regexp.MustCompile(`(?m)^framework ` + regexp.QuoteMeta(fw) + ` io\.trustfuse\.runtime: ok `).MatchString(out) {
		t.Errorf("verify does not list the runtime framework as ok:\n%s", out)
	}
	p := filepath.Join(dir, "TrustFuse")
	if err := os.WriteFile(p, testenv.ZipEntry(t, signed, fw+"TrustFuse"), 0o644); err != nil {
		t.Fatal(err)
	}
	hdr := testenv.Run(t, "llvm-objdump-14", "--macho", "--private-headers", p)
	var cmds []string
	for _, b := range loadCommands(hdr) {
		cmds = append(cmds, cmdName(b))
	}
	if n := strings.Count(strings.Join(cmds, " "), "LC_CODE_SIGNATURE"); n != 1 {
		t.Errorf("signed runtime has %d LC_CODE_SIGNATURE, want 1: %v", n, cmds)
	}
	if !strings.Contains(hdr, "name "+iosrt.InstallName+" (offset 24)") {
		t.Error("signing changed the install name")
	}
}

// TestFrameworkGoMacho reads the binary with github.com/blacktop/go-macho (a
// third Mach-O reader): install name, libraries, the bind opcodes (every
// import from the library whose stub exports it) and the export trie.
func TestFrameworkGoMacho(t *testing.T) {
	f, err := gomacho.NewFile(bytes.NewReader(iosrt.Framework))
	if err != nil {
		t.Fatalf("go-macho: %v", err)
	}
	defer f.Close()
	if id := f.DylibID(); id == nil || id.Name != iosrt.InstallName {
		t.Errorf("go-macho: LC_ID_DYLIB %v, want %s", id, iosrt.InstallName)
	}
	if got := f.ImportedLibraries(); !slices.Equal(got, wantDylibs) {
		t.Errorf("go-macho: libraries %q, want %q", got, wantDylibs)
	}
	binds, err := f.GetBindInfo()
	if err != nil {
		t.Fatalf("go-macho: binds: %v", err)
	}
	owner := tbdExports(t)
	seen := map[string]bool{}
	for _, b := range binds {
		seen[b.Name] = true
		if want := filepath.Base(owner[b.Name]); b.Dylib != want {
			t.Errorf("go-macho: %s bound to %q, want %q", b.Name, b.Dylib, want)
		}
	}
	if len(seen) != len(owner) {
		t.Errorf("go-macho: %d bound symbols, %d stub symbols", len(seen), len(owner))
	}
	exports, err := f.GetExports()
	if err != nil {
		t.Fatalf("go-macho: exports: %v", err)
	}
	if len(exports) != 1 || exports[0].Name != "_"+iosrt.AcknowledgeSymbol {
		t.Errorf("go-macho: exports %+v, want only _%s", exports, iosrt.AcknowledgeSymbol)
	}
}
