package ipa

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gomacho "github.com/blacktop/go-macho"
	"github.com/blacktop/go-macho/types"
	"howett.net/plist"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// superBlobCD returns the primary CodeDirectory and the CMS payload of an
// embedded signature, read from the SuperBlob index (independently of
// pkg/codesign's parser).
func superBlobCD(t *testing.T, sig []byte) (cd, cms []byte) {
	t.Helper()
	be := binary.BigEndian
	if be.Uint32(sig) != 0xfade0cc0 {
		t.Fatalf("signature magic %#x", be.Uint32(sig))
	}
	for i := range int(be.Uint32(sig[8:])) {
		slot, off := be.Uint32(sig[12+8*i:]), be.Uint32(sig[16+8*i:])
		n := be.Uint32(sig[off+4:])
		switch slot {
		case 0:
			cd = sig[off : off+n]
		case 0x10000:
			cms = sig[off+8 : off+n]
		}
	}
	return cd, cms
}

// machoFiles opens name (thin or fat) with go-macho, returning each slice
// and its offset in the file.
func machoFiles(t *testing.T, path string) ([]*gomacho.File, []int64) {
	t.Helper()
	if ff, err := gomacho.OpenFat(path); err == nil {
		t.Cleanup(func() { ff.Close() })
		var fs []*gomacho.File
		var offs []int64
		for _, a := range ff.Arches {
			fs = append(fs, a.File)
			offs = append(offs, int64(a.Offset))
		}
		return fs, offs
	}
	f, err := gomacho.Open(path)
	if err != nil {
		t.Fatalf("go-macho: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return []*gomacho.File{f}, []int64{0}
}

func sum256(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// bundleExec returns the CFBundleExecutable an Info.plist names.
func bundleExec(t *testing.T, info []byte) string {
	t.Helper()
	var p struct {
		Exec string `plist:"CFBundleExecutable"`
	}
	if _, err := plist.Unmarshal(info, &p); err != nil || p.Exec == "" {
		t.Fatalf("Info.plist: CFBundleExecutable %q (%v)", p.Exec, err)
	}
	return p.Exec
}

// TestSignOracles signs the fixtures with the distribution identity and
// their profiles, then reads every output with tools that share no code
// with ours: unzip -t and python's zipfile (the archive), llvm-objdump-14
// (every Mach-O's load commands), go-macho (signature, page hashes
// recomputed here, special slots against the files' hashes), openssl cms
// -verify (each CMS over its CodeDirectory, to the fixture root),
// plistutil (every plist written); and our Verify.
func TestSignOracles(t *testing.T) {
	fx := loadFixture(t)
	legacy := filepath.Join(t.TempDir(), "legacy.ipa")
	testenv.RewriteZip(t, testenv.IOSFixture(t, "Demo.ipa"), legacy, map[string][]byte{appExec: readFixture(t, "Legacy.fat")})
	for _, c := range []struct {
		name, in string
		o        SignOptions
		bundles  []string
	}{
		{"DemoFull", testenv.IOSFixture(t, "DemoFull.ipa"), fx.fullOptions(), []string{kitDir, appDir + "Frameworks/libdemo.dylib", widgetDir, watchDir, appDir}},
		{"armv7+arm64 app", legacy, fx.options(), []string{kitDir, appDir + "Frameworks/libdemo.dylib", widgetDir, appDir}},
	} {
		t.Run(c.name, func(t *testing.T) {
			signed, res := signFile(t, c.in, c.o)
			checkSigned(t, fx, c.in, signed, res, c.bundles)
		})
	}
}

// checkSigned reads the signed IPA with the oracles of TestSignOracles.
func checkSigned(t *testing.T, fx fixture, in, signed string, res *SignResult, wantBundles []string) {
	testenv.Run(t, "unzip", "-tq", signed)
	testenv.Run(t, "python3", "-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None", signed)
	files := testenv.ZipEntries(t, signed)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	if len(res.Bundles) != len(wantBundles) {
		t.Fatalf("%d bundles signed", len(res.Bundles))
	}
	for i, sb := range res.Bundles {
		if sb.Dir != wantBundles[i] || sb.TeamID != "ABCDE12345" || len(sb.CDHash) != 40 {
			t.Errorf("result %d: %+v", i, sb)
		}
	}
	// Unchanged entries are the input's bytes.
	checkRawCopies(t, in, signed)
	inFiles := testenv.ZipEntries(t, in)
	for name, b := range inFiles {
		if strings.HasSuffix(name, "Info.plist") || strings.HasSuffix(name, ".txt") || strings.HasSuffix(name, ".strings") {
			if !bytes.Equal(files[name], b) {
				t.Errorf("%s changed", name)
			}
		}
	}

	for _, sb := range res.Bundles {
		t.Run(sb.Kind.String()+" "+sb.ID, func(t *testing.T) {
			exe := sb.Dir
			var info, codeRes []byte
			if sb.Kind != KindDylib {
				info, codeRes = files[sb.Dir+"Info.plist"], files[sb.Dir+"_CodeSignature/CodeResources"]
				if codeRes == nil {
					t.Fatal("no CodeResources")
				}
				testenv.Run(t, "plistutil", "-i", write(sb.Dir+"CodeResources", codeRes), "-o", filepath.Join(dir, "cr.out"))
				if sb.Kind == KindApp {
					// plistutil's reading of the app's seal lists every input
					// file but the executable and the old seal, each nested
					// bundle's new CodeResources, and symlinks as such.
					xml := testenv.Run(t, "plistutil", "-i", write("app-cr", codeRes), "-f", "xml")
					want := []string{}
					for name := range inFiles {
						if rel, ok := strings.CutPrefix(name, sb.Dir); ok && name != sb.Dir+bundleExec(t, info) && !strings.HasPrefix(rel, "_CodeSignature/") {
							want = append(want, "<key>"+rel+"</key>")
						}
					}
					for _, d := range wantBundles {
						if strings.HasSuffix(d, "/") && d != sb.Dir {
							want = append(want, "<key>"+strings.TrimPrefix(d, sb.Dir)+"_CodeSignature/CodeResources</key>")
						}
					}
					if _, ok := inFiles[sb.Dir+"hello.txt"]; ok {
						want = append(want, "<key>symlink</key>", "<string>greeting.txt</string>")
					}
					for _, w := range want {
						if !strings.Contains(xml, w) {
							t.Errorf("app CodeResources lacks %s", w)
						}
					}
				}
				testenv.Run(t, "plistutil", "-i", write(sb.Dir+"Info.plist", info), "-o", filepath.Join(dir, "info.out"))
				exe = sb.Dir + bundleExec(t, info)
			}
			path := write(exe, files[exe])
			objdump := testenv.Run(t, "llvm-objdump-14", "--macho", "--private-headers", "--arch=all", path)
			macholib := testenv.Run(t, "/usr/bin/python3", "-c", "import sys\nfrom macholib.MachO import MachO\n"+
				"for h in MachO(sys.argv[1]).headers:\n    print([c[0].cmd for c in h.commands].count(0x1d))", path)
			slicesOut, offs := machoFiles(t, path)
			if n := strings.Count(objdump, "cmd LC_CODE_SIGNATURE"); n != len(slicesOut) {
				t.Errorf("llvm-objdump sees %d LC_CODE_SIGNATURE for %d slices", n, len(slicesOut))
			}
			if got := strings.Fields(macholib); len(got) != len(slicesOut) || slices.ContainsFunc(got, func(s string) bool { return s != "1" }) {
				t.Errorf("macholib: LC_CODE_SIGNATURE per slice %v, want one in each of %d", got, len(slicesOut))
			}
			for i, mf := range slicesOut {
				cs := mf.CodeSignature()
				if cs == nil || len(cs.CodeDirectories) != 1 {
					t.Fatalf("slice %d: go-macho reads no signature", i)
				}
				cd := cs.CodeDirectories[0]
				if cd.ID != sb.ID || cd.TeamID != "ABCDE12345" {
					t.Errorf("slice %d: identifier %q team %q", i, cd.ID, cd.TeamID)
				}
				// Page hashes recomputed over the slice's bytes.
				slice := files[exe][offs[i]:]
				if len(cd.CodeSlots) != int((cd.CodeLimit+4095)/4096) {
					t.Fatalf("slice %d: %d code slots for code limit %d", i, len(cd.CodeSlots), cd.CodeLimit)
				}
				for n, cs := range cd.CodeSlots {
					page := slice[n*4096 : min(uint64(n+1)*4096, cd.CodeLimit)]
					if !bytes.Equal(cs.Hash, sum256(page)) {
						t.Errorf("slice %d: page %d hash differs", i, n)
					}
				}
				// Special slots: Info.plist, requirements, CodeResources,
				// entitlements XML and DER.
				sig := slice[cd.CodeLimit:]
				cdRaw, cmsRaw := superBlobCD(t, sig)
				special := map[uint32][]byte{}
				for _, s := range cd.SpecialSlots {
					special[s.Index] = s.Hash
				}
				if info != nil && !bytes.Equal(special[1], sum256(info)) {
					t.Errorf("slice %d: Info.plist slot %x", i, special[1])
				}
				if codeRes != nil && !bytes.Equal(special[3], sum256(codeRes)) {
					t.Errorf("slice %d: CodeResources slot %x", i, special[3])
				}
				isApp := sb.Kind == KindApp || sb.Kind == KindAppExtension || sb.Kind == KindWatchApp
				if isApp {
					ents := append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0xfade7171), uint32(8+len(cs.Entitlements))), cs.Entitlements...)
					der := append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0xfade7172), uint32(8+len(cs.EntitlementsDER))), cs.EntitlementsDER...)
					if !bytes.Equal(special[5], sum256(ents)) || !bytes.Equal(special[7], sum256(der)) {
						t.Errorf("slice %d: entitlements slots differ from the blobs' hashes", i)
					}
					var e map[string]any
					if _, err := plist.Unmarshal([]byte(cs.Entitlements), &e); err != nil || e["application-identifier"] != "ABCDE12345."+sb.ID {
						t.Errorf("slice %d: entitlements %v (%v)", i, e, err)
					}
				} else if cs.Entitlements != "" {
					t.Errorf("slice %d: a %s has entitlements", i, sb.Kind)
				}
				if main := mf.Type == types.MH_EXECUTE; main != (cd.Header.ExecSegFlags&1 != 0) {
					t.Errorf("slice %d (%v): exec seg flags %#x", i, mf.Type, cd.Header.ExecSegFlags)
				}
				if i == len(slicesOut)-1 && cd.CDHash[:40] != sb.CDHash { // the arm64 slice is last in every fixture
					t.Errorf("slice %d: cdhash %s, result says %s", i, cd.CDHash, sb.CDHash)
				}
				if len(cs.Requirements) != 1 || !strings.Contains(cs.Requirements[0].Detail, `identifier "`+sb.ID+`"`) {
					t.Errorf("slice %d: requirements %+v", i, cs.Requirements)
				}
				cdPath, cmsPath := write("cd", cdRaw), write("cms", cmsRaw)
				if hex.EncodeToString(sum256(cdRaw)) != cd.CDHash {
					t.Fatalf("slice %d: CodeDirectory extracted does not hash to go-macho's cdhash", i)
				}
				testenv.Run(t, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", cmsPath, "-content", cdPath,
					"-CAfile", testenv.IOSFixture(t, "pki/root.pem"), "-purpose", "any", "-out", os.DevNull)
			}
		})
	}

	r, err := verifyFile(t, signed, VerifyOptions{Roots: fx.roots, Now: fixedTime})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range r.Bundles {
		if !v.OK || v.AdHoc || !v.ChainVerified || v.TeamID != "ABCDE12345" {
			t.Errorf("verdict %+v", v)
		}
	}
	// Without roots the signatures still verify, but their origin is not
	// claimed.
	r, err = verifyFile(t, signed, VerifyOptions{Now: fixedTime})
	if err != nil || r.Bundles[0].ChainVerified {
		t.Errorf("without roots: %v, %+v", err, r.Bundles[0])
	}
}

// TestResign: a signed IPA re-signed with no profiles given keeps each
// bundle's embedded profile, and its signatures are replaced (not added):
// the second signing verifies and has one LC_CODE_SIGNATURE per slice.
func TestResign(t *testing.T) {
	fx := loadFixture(t)
	first, _ := signFile(t, testenv.IOSFixture(t, "DemoFull.ipa"), fx.fullOptions())
	o := fx.options()
	o.Profiles, o.Time = nil, fixedTime.Add(24*time.Hour)
	second, res := signFile(t, first, o)
	if _, err := verifyFile(t, second, VerifyOptions{Roots: fx.roots, Now: o.Time}); err != nil {
		t.Fatal(err)
	}
	for _, sb := range res.Bundles {
		if (sb.Kind == KindApp || sb.Kind == KindAppExtension || sb.Kind == KindWatchApp) && sb.ProfileUUID == "" {
			t.Errorf("%s: no profile kept", sb.Dir)
		}
	}
	a, b := testenv.ZipEntries(t, first), testenv.ZipEntries(t, second)
	for _, p := range []string{appDir, widgetDir, watchDir} {
		if !bytes.Equal(a[p+"embedded.mobileprovision"], b[p+"embedded.mobileprovision"]) {
			t.Errorf("%s: embedded profile changed", p)
		}
	}
	path := filepath.Join(t.TempDir(), "Demo")
	if err := os.WriteFile(path, b[appExec], 0o644); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(testenv.Run(t, "llvm-objdump-14", "--macho", "--private-headers", path), "cmd LC_CODE_SIGNATURE"); n != 1 {
		t.Errorf("%d LC_CODE_SIGNATURE after re-signing", n)
	}
	if len(b[appExec]) != len(a[appExec]) {
		t.Errorf("re-signed executable %d bytes, first signing %d", len(b[appExec]), len(a[appExec]))
	}
}

// TestSignEntitlements: SignOptions.Entitlements replaces the app's (the
// blob go-macho reads is the XML given), the extensions keep their
// profile's.
func TestSignEntitlements(t *testing.T) {
	fx := loadFixture(t)
	ents := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>application-identifier</key>
	<string>ABCDE12345.com.example.demo</string>
	<key>get-task-allow</key>
	<false/>
</dict>
</plist>
`)
	o := fx.options()
	o.Entitlements = ents
	signed, res := signFile(t, testenv.IOSFixture(t, "Demo.ipa"), o)
	for _, sb := range res.Bundles {
		want := map[Kind][]string{
			KindApp:          {"application-identifier", "get-task-allow"},
			KindAppExtension: {"application-identifier", "com.apple.developer.team-identifier", "get-task-allow", "keychain-access-groups"},
		}[sb.Kind]
		if !slices.Equal(sb.Entitlements, want) {
			t.Errorf("%s: entitlements %v, want %v", sb.Dir, sb.Entitlements, want)
		}
	}
	path := filepath.Join(t.TempDir(), "Demo")
	if err := os.WriteFile(path, testenv.ZipEntry(t, signed, appExec), 0o644); err != nil {
		t.Fatal(err)
	}
	fs, _ := machoFiles(t, path)
	if cs := fs[0].CodeSignature(); cs == nil || cs.Entitlements != string(ents) {
		t.Errorf("go-macho reads other entitlements than given")
	}
	if _, err := verifyFile(t, signed, VerifyOptions{Roots: fx.roots, Now: fixedTime}); err != nil {
		t.Error(err)
	}
}

// TestVerifyTamper: each change to a signed IPA fails Verify, naming the
// bundle and the reason.
func TestVerifyTamper(t *testing.T) {
	fx := loadFixture(t)
	signed, _ := signFile(t, testenv.IOSFixture(t, "DemoFull.ipa"), fx.fullOptions())
	files := testenv.ZipEntries(t, signed)
	flip := func(name string, off int) []byte {
		b := bytes.Clone(files[name])
		b[off] ^= 0x40
		return b
	}
	var info map[string]any
	if _, err := plist.Unmarshal(files[appDir+"Info.plist"], &info); err != nil {
		t.Fatal(err)
	}
	info["CFBundleVersion"] = "99"
	newInfo, err := plist.Marshal(info, plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	removed := map[string][]byte{}
	for k, v := range files {
		if k != appDir+"greeting.txt" {
			removed[k] = v
		}
	}
	for _, c := range []struct {
		name    string
		replace map[string][]byte
		add     []testenv.ZipFile
		files   map[string][]byte
		bundle  string
		want    string
	}{
		{name: "code page", replace: map[string][]byte{appExec: flip(appExec, 0x2000)}, bundle: appDir, want: "code page 2"},
		{name: "Info.plist", replace: map[string][]byte{appDir + "Info.plist": newInfo}, bundle: appDir, want: "special slot 1 (Info.plist)"},
		{name: "resource file", replace: map[string][]byte{appDir + "greeting.txt": []byte("tampered")}, bundle: appDir, want: "greeting.txt"},
		{name: "nested framework binary", replace: map[string][]byte{kitDir + "DemoKit": flip(kitDir+"DemoKit", 0x4100)}, bundle: kitDir, want: "code page"},
		{name: "embedded profile", replace: map[string][]byte{appDir + "embedded.mobileprovision": readFixture(t, "othercert.mobileprovision")}, bundle: appDir, want: "embedded.mobileprovision"},
		{name: "file added", add: []testenv.ZipFile{{Name: appDir + "extra.txt", Data: []byte("new")}}, bundle: appDir, want: "extra.txt"},
		{name: "file removed", files: removed, bundle: appDir, want: "greeting.txt"},
		{name: "signature blob", replace: map[string][]byte{appExec: flip(appExec, bytes.LastIndex(files[appExec], []byte{0xfa, 0xde, 0x0c, 0xc0}))}, bundle: appDir, want: "code signature"},
		{name: "symlink made a file", replace: map[string][]byte{appDir + "hello.txt": []byte("greeting.txt")}, bundle: appDir, want: "hello.txt"},
		{name: "watch app code page", replace: map[string][]byte{watchDir + "DemoWatch": flip(watchDir+"DemoWatch", 0x1000)}, bundle: watchDir, want: "arm64_32 slice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tampered.ipa")
			if c.files != nil {
				testenv.WriteZip(t, p, c.files)
			} else {
				testenv.RewriteZip(t, signed, p, c.replace, c.add...)
			}
			r, err := verifyFile(t, p, VerifyOptions{Roots: fx.roots, Now: fixedTime})
			if !errors.Is(err, ErrVerify) {
				t.Fatalf("Verify: %v, want ErrVerify", err)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), c.bundle+": ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: does not name %s and %q", err, c.bundle, c.want)
			}
			bad := slices.IndexFunc(r.Bundles, func(v BundleVerdict) bool { return !v.OK })
			if bad < 0 || r.Bundles[bad].Dir != c.bundle {
				t.Errorf("first failing verdict %d: %+v", bad, r.Bundles)
			}
		})
	}
}

// TestSignDeterministic: the same inputs and time give the same bytes; a
// different time reaches the CMS signing time.
func TestSignDeterministic(t *testing.T) {
	fx := loadFixture(t)
	demo := testenv.IOSFixture(t, "Demo.ipa")
	a, _ := signFile(t, demo, fx.options())
	b, _ := signFile(t, demo, fx.options())
	o := fx.options()
	o.Time = fixedTime.Add(time.Hour)
	c, _ := signFile(t, demo, o)
	ab, bb, cb := mustRead(t, a), mustRead(t, b), mustRead(t, c)
	if !bytes.Equal(ab, bb) {
		t.Error("two signings of the same input differ")
	}
	if bytes.Equal(ab, cb) {
		t.Fatal("a different signing time gives the same bytes")
	}
	// The signing time is in each CMS (UTCTime YYMMDDhhmmssZ).
	exe := testenv.ZipEntry(t, c, appExec)
	if !bytes.Contains(exe, []byte(o.Time.Format("060102150405Z"))) || bytes.Contains(exe, []byte(fixedTime.Format("060102150405Z"))) {
		t.Error("the CMS signing time is not the one given")
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignAdHoc: an ad-hoc signature (no identity, no profile) verifies
// and is reported as ad hoc; go-macho sees the CS_ADHOC flag and no CMS.
func TestSignAdHoc(t *testing.T) {
	signed, res := signFile(t, testenv.IOSFixture(t, "Demo.ipa"), SignOptions{AdHoc: true, Time: fixedTime})
	for _, sb := range res.Bundles {
		if sb.TeamID != "" || sb.ProfileUUID != "" {
			t.Errorf("ad hoc result %+v", sb)
		}
	}
	if _, ok := testenv.ZipEntries(t, signed)[appDir+"embedded.mobileprovision"]; ok {
		t.Error("ad hoc signing embedded a profile")
	}
	r, err := verifyFile(t, signed, VerifyOptions{Now: fixedTime})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range r.Bundles {
		if !v.OK || !v.AdHoc {
			t.Errorf("verdict %+v", v)
		}
	}
	path := filepath.Join(t.TempDir(), "Demo")
	if err := os.WriteFile(path, testenv.ZipEntry(t, signed, appExec), 0o644); err != nil {
		t.Fatal(err)
	}
	fs, _ := machoFiles(t, path)
	cs := fs[0].CodeSignature()
	if cs == nil || cs.CodeDirectories[0].Header.Flags&0x2 == 0 || len(cs.CMSSignature) != 0 {
		t.Errorf("go-macho: not an ad-hoc signature: %+v", cs)
	}
}

// BenchmarkSign re-signs the IPA named by $TRUSTFUSE_BENCH_IPA (the 200 MiB
// input of scripts/bench.sh BENCH=ipa, made by scripts/make-bench-ipa.sh)
// with the fixture identity and profiles, to a file as the CLI does.
func BenchmarkSign(b *testing.B) {
	in := os.Getenv("TRUSTFUSE_BENCH_IPA")
	if in == "" {
		b.Skip("set TRUSTFUSE_BENCH_IPA to an IPA made by scripts/make-bench-ipa.sh")
	}
	fx := loadFixture(b)
	st, err := os.Stat(in)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	for b.Loop() {
		signFile(b, in, fx.options())
	}
}

// checkRawCopies checks with archive/zip that every input entry Sign does
// not replace is in the output with the same method, CRC-32 and
// compressed bytes.
func checkRawCopies(t *testing.T, in, out string) {
	t.Helper()
	zin, err := zip.OpenReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer zin.Close()
	zout, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zout.Close()
	byName := map[string]*zip.File{}
	for _, f := range zout.File {
		byName[f.Name] = f
	}
	raw := func(f *zip.File) []byte {
		r, err := f.OpenRaw()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	copied := 0
	for _, f := range zin.File {
		g := byName[f.Name]
		if g == nil || g.CRC32 != f.CRC32 {
			continue // replaced: an executable or a profile
		}
		copied++
		if g.Method != f.Method || !bytes.Equal(raw(f), raw(g)) {
			t.Errorf("%s: copied entry not byte-identical (method %d → %d)", f.Name, f.Method, g.Method)
		}
	}
	if copied == 0 {
		t.Error("no entry copied")
	}
}

// TestSignToStream: signed to a writer that cannot seek (no io.WriterAt),
// the new executables carry data descriptors; unzip and our reader take
// the archive and it verifies.
func TestSignToStream(t *testing.T) {
	fx := loadFixture(t)
	a, err := Open(testenv.IOSFixture(t, "Demo.ipa"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var buf bytes.Buffer
	if _, err := Sign(&buf, a.IPA, fx.options()); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "stream.ipa")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "unzip", "-tq", p)
	z, err := zipx.NewReaderZip64(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := FromZip(z)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := Verify(b, VerifyOptions{Roots: fx.roots, Now: fixedTime}); err != nil {
		t.Error(err)
	}
}

// BenchmarkVerify verifies the IPA named by $TRUSTFUSE_BENCH_IPA once
// signed (see BenchmarkSign).
func BenchmarkVerify(b *testing.B) {
	in := os.Getenv("TRUSTFUSE_BENCH_IPA")
	if in == "" {
		b.Skip("set TRUSTFUSE_BENCH_IPA to an IPA made by scripts/make-bench-ipa.sh")
	}
	fx := loadFixture(b)
	signed, _ := signFile(b, in, fx.options())
	for b.Loop() {
		if _, err := verifyFile(b, signed, VerifyOptions{Roots: fx.roots, Now: fixedTime}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifyUnsigned: the unsigned fixture fails Verify, every bundle
// reported (first the deepest, DemoKit), each slice named.
func TestVerifyUnsigned(t *testing.T) {
	r, err := verifyFile(t, testenv.IOSFixture(t, "Demo.ipa"), VerifyOptions{Now: fixedTime})
	if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), kitDir+": ") {
		t.Fatalf("Verify: %v", err)
	}
	if !slices.Contains(r.Bundles[0].Problems, "x86_64 slice: not signed") || !slices.Contains(r.Bundles[0].Problems, "arm64 slice: not signed") {
		t.Errorf("DemoKit problems %q", r.Bundles[0].Problems)
	}
	for _, v := range r.Bundles {
		if v.OK || len(v.Problems) == 0 {
			t.Errorf("%s: %+v", v.Dir, v)
		}
		if v.Kind != KindDylib && !slices.ContainsFunc(v.Problems, func(p string) bool { return strings.Contains(p, "bundle not sealed") }) {
			t.Errorf("%s: problems %q do not say it is not sealed", v.Dir, v.Problems)
		}
	}
}

// TestSignTimeAndIdentity: the CMS signing time lies in the certificate's
// validity whatever Time (SOURCE_DATE_EPOCH) says, and an identity that is
// not valid at Now (the real clock) is refused as codesign refuses it.
func TestSignTimeAndIdentity(t *testing.T) {
	fx := loadFixture(t)
	leaf := fx.signer.Certificate
	demo := testenv.IOSFixture(t, "Demo.ipa")
	for _, tc := range []struct {
		name      string
		time, now time.Time
		want      time.Time // the signing time; zero: ErrIdentity
	}{
		{"inside validity", fixedTime, fixedTime, fixedTime},
		{"before notBefore", leaf.NotBefore.Add(-365 * 24 * time.Hour), fixedTime, leaf.NotBefore},
		{"after notAfter", leaf.NotAfter.Add(time.Hour), fixedTime, leaf.NotAfter},
		{"expired now", fixedTime, leaf.NotAfter.Add(time.Second), time.Time{}},
		{"not yet valid now", fixedTime, leaf.NotBefore.Add(-time.Second), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := fx.options()
			o.Time, o.Now = tc.time, tc.now
			a, err := Open(demo)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			var out bytes.Buffer
			res, err := Sign(&out, a.IPA, o)
			if tc.want.IsZero() {
				if !errors.Is(err, ErrIdentity) || out.Len() != 0 {
					t.Fatalf("Sign = %v, %d bytes written; want ErrIdentity and nothing", err, out.Len())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !res.SigningTime.Equal(tc.want) {
				t.Errorf("SigningTime = %s, want %s", res.SigningTime, tc.want)
			}
			signed := filepath.Join(t.TempDir(), "signed.ipa")
			if err := os.WriteFile(signed, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := verifyFile(t, signed, VerifyOptions{Roots: fx.roots, Now: fixedTime}); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}
