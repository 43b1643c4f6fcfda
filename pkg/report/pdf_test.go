package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustfuse/trustfuse/internal/testenv"
)

// The -update flag rewrites testdata golden files. Registered only if another
// test file of the package has not done so already.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite testdata golden files")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// pdfHex returns a made-up sha256 hex digest, fixed for a label.
func pdfHex(label string) string {
	sum := sha256.Sum256([]byte(label))
	return hex.EncodeToString(sum[:])
}

// realisticStatement is a statement as `fuse` of a large multi-dex app would
// record it, every field filled, with long lists and some non-ASCII text.
func realisticStatement() *Statement {
	bt := time.Date(2025, 3, 1, 12, 34, 56, 0, time.UTC)
	signer := pdfHex("signer")
	outSHA := pdfHex("output")
	dex := map[string]string{}
	var dexNames []string
	for i := 1; i <= 14; i++ {
		n := "classes.dex"
		if i > 1 {
			n = "classes" + strconv.Itoa(i) + ".dex"
		}
		dex[n] = pdfHex(n)
		dexNames = append(dexNames, n)
	}
	var hosts []string
	for i := 0; i < 12; i++ {
		hosts = append(hosts, fmt.Sprintf("api%02d.payments.example.com", i))
	}
	hosts = append(hosts, strings.Repeat("very-long-label-", 12)+"example.com")
	pins := pdfHex("pin1") + "," + pdfHex("pin2") + "," + pdfHex("pin3")
	prot := func(id, title, mode, status string, ev map[string]string) Protection {
		if ev == nil {
			ev = map[string]string{}
		}
		ev["policy"] = "assets/trustfuse/policy.bin"
		return Protection{ID: id, Title: title, Mode: mode, Status: status, Evidence: ev}
	}
	st := &Statement{
		Type:          StatementType,
		PredicateType: PredicateType,
		Subject: []Subject{{
			Name:   "payments-4.12.0-fused.apk",
			Digest: map[string]string{"sha256": outSHA},
		}},
		Predicate: Predicate{
			Build: Build{
				Tool: "trustfuse", Version: "v0.9.3", Commit: "97af3e3c5b1f0e2d4a6b8c0d1e2f3a4b5c6d7e8f",
				Time: bt, DemoKey: true,
				CI: map[string]string{
					"provider": "github-actions", "job": "release / fuse (ubuntu-24.04)",
					"buildNumber": "4812", "url": "https://github.com/example/payments/actions/runs/13579246810/job/37900000001",
					"commit": "0123456789abcdef0123456789abcdef01234567", "branch": "release/4.12",
					"runner": "Zürich-2", "actor": "release-bot {nb}",
				},
				Reproduce: "SOURCE_DATE_EPOCH=1740832496 trustfuse fuse --fusion-set fusion-set.json --key release.p12 payments-4.12.0.apk",
			},
			Input: Artifact{
				File: "payments-4.12.0.apk", Size: 48_213_904, SHA256: pdfHex("input"),
				Package: "com.example.payments", VersionCode: 412003, VersionName: "4.12.0-rc.3", MinSDK: 24,
				Schemes: []string{"v2", "v3"}, Signers: []string{pdfHex("upload-signer")}, ZipAligned16K: false,
			},
			Output: Artifact{
				File: "payments-4.12.0-fused.apk", Size: 48_540_112, SHA256: outSHA,
				Package: "com.example.payments", VersionCode: 412003, VersionName: "4.12.0-rc.3", MinSDK: 24,
				Schemes: []string{"v2", "v3"}, Signers: []string{signer, pdfHex("rotated-signer")}, ZipAligned16K: true,
			},
			FusionSet: FusionSet{ID: "fs-payments-prod-0007", Name: "決済アプリ 本番", Version: 7, SHA256: pdfHex("fusionset")},
			Protections: []Protection{
				prot("runtime-init", "Runtime starts before the app (init provider)", "on", "applied",
					map[string]string{"provider": "dev.trustfuse.runtime.InitProvider", "initOrder": "2147483647"}),
				prot("tamper", "Repackaging (signer and dex digests)", "defend", "applied",
					map[string]string{"signers": signer, "dex": strings.Join(dexNames, ","),
						"reaction": "client certificate withheld, protected hosts refused; Threat-Event to the app; app exits"}),
				prot("debugger", "Debugger attached", "defend", "applied", map[string]string{"reaction": "client certificate withheld, protected hosts refused"}),
				prot("root", "Rooted device", "detect", "applied", map[string]string{"reaction": "Threat-Event to the app; enforced after 30s if not acknowledged"}),
				prot("emulator", "Emulator", "off", "skipped", map[string]string{"reaction": "not checked", "reason": "mode off"}),
				prot("hooking", "Hooking frameworks (Frida, Xposed)", "defend", "applied", map[string]string{"reaction": "client certificate withheld, protected hosts refused"}),
				prot("mitm", "Connection interception (pinned server CA)", "defend", "applied", map[string]string{"pinnedCAs": pins, "reaction": "client certificate withheld, protected hosts refused"}),
				prot("mtls", "Client certificate for mutual TLS (sealed, AES-256-GCM)", "on", "applied", map[string]string{
					"vault": "assets/trustfuse/vault.bin", "sealedTo": "signer sha256 " + signer,
					"certificate": pdfHex("cert"), "hosts": strings.Join(hosts, ","), "pinnedCAs": pins}),
			},
			Injected: []Injected{
				{Name: "classes15.dex", Size: 184_220, SHA256: pdfHex("runtime-dex"), Action: "added"},
				{Name: "AndroidManifest.xml", Size: 21_904, SHA256: pdfHex("manifest"), Action: "replaced"},
				{Name: "assets/trustfuse/policy.bin", Size: 3_112, SHA256: pdfHex("policy"), Action: "added"},
				{Name: "assets/trustfuse/vault.bin", Size: 4_480, SHA256: pdfHex("vault"), Action: "added"},
				{Name: "lib/arm64-v8a/libtrustfuse.so", Size: 612_344, SHA256: pdfHex("so-arm64"), Action: "added"},
				{Name: "lib/x86_64/libtrustfuse.so", Size: 640_120, SHA256: pdfHex("so-x86_64"), Action: "added"},
				{Name: "META-INF/com/android/build/gradle/app-metadata.properties", Size: 88, SHA256: pdfHex("meta"), Action: "replaced"},
			},
			MTLS: &MTLS{
				Subject: "CN=payments-android,OU=Mobile,O=Example Payments GmbH,L=Zürich,C=CH",
				Issuer:  "CN=Example Payments Client CA 2025,O=Example Payments GmbH,C=CH",
				Serial:  "5f:1e:22:9a:0b:7c:44:e1:90:3d:aa:01:2b:c4:7e:99", NotBefore: bt.Add(-24 * time.Hour),
				NotAfter: bt.AddDate(1, 0, 0), SHA256: pdfHex("cert"), PublicKeyAlgorithm: "ECDSA P-256", Hosts: hosts,
			},
			Attestation: Attestation{
				Endpoint: "https://attest.payments.example.com/v1/attest", MeasurementSHA256: pdfHex("measurement"),
				Package: "com.example.payments", VersionCode: 412003, SignerDigests: []string{signer, pdfHex("rotated-signer")},
				DexDigests: dex, RuntimeDigest: pdfHex("runtime"), ManifestDigest: pdfHex("manifest"),
			},
			Verification: Verification{Verified: true, MinSDK: 24, Schemes: []string{"v2", "v3"}},
			Limits: []string{
				"A fully compromised device (kernel-level root with hiding) can defeat any in-app check; the attestation service is the backstop.",
				"Detection of emulators and hooking is heuristic: new tools may evade it until the runtime is updated.",
				"The client certificate is sealed to the signing key; anyone holding that key can unseal it.",
				"mTLS protects only the listed hosts; other connections of the app are not covered.",
				"Code obfuscation is not part of these protections.",
				"Play App Signing re-signs the app: register the Play signer digest with the attestation service.",
				"The report proves what was applied at build time, not what runs on a given device.",
			},
		},
	}
	return st
}

// renderFile renders st into a temporary report.pdf and returns its path and bytes.
func renderFile(t *testing.T, st *Statement) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := RenderPDF(st, &buf); err != nil {
		t.Fatalf("RenderPDF: %v", err)
	}
	p := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, buf.Bytes()
}

// popplerTrouble matches the messages poppler prints for a broken PDF.
var popplerTrouble = regexp.MustCompile(`(Syntax|Internal|I/O|Permission) (Error|Warning)`)

// pdfText runs pdftotext and fails on any poppler complaint.
func pdfText(t *testing.T, path string, args ...string) string {
	t.Helper()
	out := testenv.Run(t, "pdftotext", append(append([]string{}, args...), path, "-")...)
	if m := popplerTrouble.FindString(out); m != "" {
		t.Fatalf("pdftotext %s: %s\n%s", path, m, out)
	}
	return out
}

func noSpace(s string) string { return strings.Join(strings.Fields(s), "") }

// pdfPages returns pdfinfo's page count, failing on any complaint.
func pdfPages(t *testing.T, path string) (int, string) {
	t.Helper()
	out := testenv.Run(t, "pdfinfo", "-isodates", path)
	if m := popplerTrouble.FindString(out); m != "" {
		t.Fatalf("pdfinfo: %s\n%s", m, out)
	}
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("pdfinfo prints no page count:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n, out
}

// rasterize renders pages first..last (0 = all) at dpi and returns the PNGs in page order.
func rasterize(t *testing.T, path string, dpi, first, last int) [][]byte {
	t.Helper()
	dir := t.TempDir()
	args := []string{"-png", "-r", strconv.Itoa(dpi)}
	if first > 0 {
		args = append(args, "-f", strconv.Itoa(first), "-l", strconv.Itoa(last))
	}
	out := testenv.Run(t, "pdftoppm", append(args, path, filepath.Join(dir, "p"))...)
	if strings.TrimSpace(out) != "" {
		t.Fatalf("pdftoppm complains:\n%s", out)
	}
	files, err := filepath.Glob(filepath.Join(dir, "p-*.png"))
	if err != nil {
		t.Fatal(err)
	}
	// pdftoppm pads page numbers to a common width, so names sort in page order.
	var pngs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pngs = append(pngs, b)
	}
	return pngs
}

// hasColor reports whether the PNG has a pixel of exactly colour c.
func hasColor(t *testing.T, pngBytes []byte, c [3]int) bool {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("pdftoppm output does not decode: %v", err)
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if int(r>>8) == c[0] && int(g>>8) == c[1] && int(bl>>8) == c[2] {
				return true
			}
		}
	}
	return false
}

// TestRenderPDFText checks with pdftotext that the report says what the
// statement says: package, version, Fusion Set, each protection with its
// status on its row, the output digest, and cp1252 text.
func TestRenderPDFText(t *testing.T) {
	st := realisticStatement()
	path, _ := renderFile(t, st)
	raw := pdfText(t, path)
	layout := pdfText(t, path, "-layout")
	flat := noSpace(raw)
	p := &st.Predicate
	for _, want := range []string{
		"Certified Secure report", p.Output.Package, p.Output.VersionName, "412003",
		p.FusionSet.ID, p.FusionSet.SHA256, "DEMO KEY", "VERIFIED", "2025-03-01 12:34:56 UTC",
		p.Input.File, p.Output.File, p.MTLS.Serial, p.Attestation.MeasurementSHA256,
		p.Build.Commit, "Zürich", p.Limits[len(p.Limits)-1], "release-bot {nb}",
	} {
		if !strings.Contains(flat, noSpace(want)) {
			t.Errorf("pdftotext output lacks %q", want)
		}
	}
	if strings.Contains(raw, "NOT VERIFIED") {
		t.Error("a verified statement reads NOT VERIFIED")
	}
	if !strings.Contains(flat, "sha256:"+p.Output.SHA256) {
		t.Error("the digest under the QR code is missing")
	}
	for _, in := range p.Injected {
		if !strings.Contains(flat, in.SHA256) || !strings.Contains(flat, noSpace(in.Name)) {
			t.Errorf("injected entry %s missing", in.Name)
		}
	}
	for name, d := range p.Attestation.DexDigests {
		if !strings.Contains(flat, name+d) {
			t.Errorf("dex digest of %s missing", name)
		}
	}
	// The Japanese Fusion Set name cannot be set in cp1252: it reads as '?',
	// and a note says so.
	if !strings.Contains(raw, "????? ??") || !strings.Contains(raw, "are printed as '?'") {
		t.Error("non-cp1252 text not replaced by '?' with a note")
	}
	// Dex files are listed in natural order.
	if i, j := strings.Index(raw, "classes2.dex "), strings.Index(raw, "classes10.dex "); i < 0 || j < i {
		t.Errorf("dex digests not in natural order (classes2.dex at %d, classes10.dex at %d)", i, j)
	}
	for _, pr := range p.Protections {
		row := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(pr.ID) + `\s.*\b` + strings.ToUpper(pr.Status) + `\b`)
		if !row.MatchString(layout) {
			t.Errorf("no table row with %s and %s", pr.ID, strings.ToUpper(pr.Status))
		}
	}
}

// TestRenderPDFPages checks with pdfinfo the page count, the metadata dates
// and title, and that every page's footer reads "Page i of N".
func TestRenderPDFPages(t *testing.T) {
	st := realisticStatement()
	path, _ := renderFile(t, st)
	n, info := pdfPages(t, path)
	if n < 3 {
		t.Fatalf("realistic report has %d pages, want >= 3 (cover + body)", n)
	}
	for key, want := range map[string]string{
		"CreationDate": "2025-03-01T12:34:56", "ModDate": "2025-03-01T12:34:56",
		"Title": "Certified Secure report: com.example.payments 4.12.0-rc.3", "Page size": "595.28 x 841.89 pts (A4)",
	} {
		re := regexp.MustCompile(`(?m)^` + key + `:\s+` + regexp.QuoteMeta(want))
		if !re.MatchString(info) {
			t.Errorf("pdfinfo has no %s %q:\n%s", key, want, info)
		}
	}
	text := pdfText(t, path)
	for i := 1; i <= n; i++ {
		if !strings.Contains(text, fmt.Sprintf("Page %d of %d", i, n)) {
			t.Errorf("no footer \"Page %d of %d\"", i, n)
		}
	}
	// Each page is delimited by a form feed in pdftotext's output.
	if got := strings.Count(text, "\f"); got != n {
		t.Errorf("pdftotext sees %d pages, pdfinfo %d", got, n)
	}
}

// TestRenderPDFWithinPage checks with pdftotext -bbox that no word, however
// long (digests, a 200-character host, 2000-character values everywhere),
// runs into the side margins or off the top or bottom of a page.
func TestRenderPDFWithinPage(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 100) + " " + strings.Repeat("word ", 200)
	for name, st := range map[string]*Statement{
		"realistic": realisticStatement(),
		"long":      stringStatement(long),
	} {
		t.Run(name, func(t *testing.T) {
			path, _ := renderFile(t, st)
			out := pdfText(t, path, "-bbox")
			re := regexp.MustCompile(`<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>`)
			words := re.FindAllStringSubmatch(out, -1)
			if len(words) < 500 {
				t.Fatalf("pdftotext -bbox found only %d words", len(words))
			}
			const mm = 72 / 25.4
			left, right := pdfMargin*mm-0.5, (pdfPageW-pdfMargin)*mm+0.5
			top, bottom := 5*mm, (pdfPageH-5)*mm
			for _, w := range words {
				var v [4]float64
				for i := range v {
					v[i], _ = strconv.ParseFloat(w[i+1], 64)
				}
				if v[0] < left || v[2] > right || v[1] < top || v[3] > bottom {
					t.Errorf("word %.40q at (%.1f,%.1f)-(%.1f,%.1f) pt is outside the text area", w[5], v[0], v[1], v[2], v[3])
				}
			}
		})
	}
}

// TestRenderPDFRaster renders every page with pdftoppm, checks the status
// colours are painted, and compares page 1 with the golden PNG.
func TestRenderPDFRaster(t *testing.T) {
	path, _ := renderFile(t, realisticStatement())
	n, _ := pdfPages(t, path)
	pages := rasterize(t, path, 50, 0, 0)
	if len(pages) != n {
		t.Fatalf("pdftoppm made %d pages, pdfinfo says %d", len(pages), n)
	}
	for i, pg := range pages {
		img, err := png.Decode(bytes.NewReader(pg))
		if err != nil {
			t.Fatalf("page %d: %v", i+1, err)
		}
		// A4 at 50 dpi.
		if b := img.Bounds(); b.Dx() != 414 || b.Dy() != 585 {
			t.Errorf("page %d is %v, want 414x585", i+1, b.Size())
		}
	}
	if !hasColor(t, pages[0], pdfGreen) || !hasColor(t, pages[0], pdfRed) {
		t.Error("page 1 lacks the green verdict or the red demo-key banner")
	}
	if !hasColor(t, pages[1], pdfGreen) || !hasColor(t, pages[1], pdfGrey) {
		t.Error("page 2 lacks the green (applied) or grey (skipped) status fill")
	}

	// Golden image of page 1, kept only because pdftoppm is byte-stable here.
	again := rasterize(t, path, 50, 1, 1)
	if !bytes.Equal(pages[0], again[0]) {
		t.Fatal("pdftoppm output is not byte-stable across runs; cannot keep a golden PNG")
	}
	golden := filepath.Join("testdata", "report-page1.png")
	if updateGolden() {
		if err := os.WriteFile(golden, pages[0], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestRenderPDFRaster -update)", err)
	}
	if !bytes.Equal(pages[0], want) {
		bad := filepath.Join(t.TempDir(), "report-page1.png")
		_ = os.WriteFile(bad, pages[0], 0o644)
		t.Errorf("page 1 differs from %s (got %s; -update to accept)", golden, bad)
	}
}

// TestRenderPDFQR decodes the cover's QR code with zbarimg: it must carry
// "sha256:<output digest>".
func TestRenderPDFQR(t *testing.T) {
	st := realisticStatement()
	path, _ := renderFile(t, st)
	pg := rasterize(t, path, 150, 1, 1)
	png1 := filepath.Join(t.TempDir(), "page1.png")
	if err := os.WriteFile(png1, pg[0], 0o644); err != nil {
		t.Fatal(err)
	}
	// zbarimg may print D-Bus noise on stderr: read stdout only.
	out, err := exec.Command(testenv.Tool(t, "zbarimg"), "--quiet", "--raw", png1).Output()
	if err != nil {
		t.Fatalf("zbarimg finds no code: %v", err)
	}
	got := strings.TrimSpace(string(out))
	if want := "sha256:" + st.Predicate.Output.SHA256; got != want {
		t.Errorf("zbarimg decodes %q, want %q", got, want)
	}
}

// TestRenderPDFDeterministic: the same statement gives the same bytes; a
// different build time changes the dates and nothing else.
func TestRenderPDFDeterministic(t *testing.T) {
	st := realisticStatement()
	render := func(st *Statement, compress bool) []byte {
		var b bytes.Buffer
		if err := renderPDF(st, &b, compress); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	first := render(st, true)
	for i := 0; i < 4; i++ { // map iteration order changes between runs
		if !bytes.Equal(first, render(realisticStatement(), true)) {
			t.Fatal("two renders of the same statement differ")
		}
	}
	if bytes.Contains(first, []byte("/ID")) {
		t.Error("the PDF carries a document /ID")
	}

	later := realisticStatement()
	later.Predicate.Build.Time = st.Predicate.Build.Time.Add(36*time.Hour + 7*time.Second)
	if bytes.Equal(first, render(later, true)) {
		t.Fatal("a different build time gives the same bytes")
	}
	a, b := render(st, false), render(later, false)
	t0, t1 := st.Predicate.Build.Time, later.Predicate.Build.Time
	n := 0
	for _, layout := range []string{"D:20060102150405", pdfDateLayout} {
		x, y := []byte(t0.Format(layout)), []byte(t1.Format(layout))
		n += bytes.Count(a, x)
		b = bytes.ReplaceAll(b, y, x)
	}
	if n < 3 { // CreationDate, ModDate, at least one printed date
		t.Fatalf("the build time appears %d times in the uncompressed PDF", n)
	}
	if !bytes.Equal(a, b) {
		t.Error("with the dates put back, the PDFs for two build times still differ")
	}
}

// TestRenderPDFVerdict checks the cover's verdict (read back by pdftotext
// and by colour) for statements that should and should not pass.
func TestRenderPDFVerdict(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Predicate)
		ok     bool
		reason string
	}{
		{"all applied or off", func(p *Predicate) {}, true, ""},
		{"verification failed", func(p *Predicate) {
			p.Verification.Verified = false
			p.Verification.Errors = []string{"ERROR: APK Signature Scheme v2 signer #1: digest mismatch"}
		}, false, "failed self-verification"},
		{"protection failed", func(p *Predicate) { p.Protections[2].Status = "failed" }, false, "protection debugger is failed"},
		{"mitm skipped without pin", func(p *Predicate) {
			p.Protections[6].Status = "skipped"
			p.Protections[6].Evidence["reason"] = "no pinServerCA in the Fusion Set"
		}, false, "no pinServerCA in the Fusion Set"},
		{"no protections", func(p *Predicate) { p.Protections = nil }, false, "no protections are recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := realisticStatement()
			st.Predicate.Build.DemoKey = false // keep red for the verdict alone
			tt.change(&st.Predicate)
			path, _ := renderFile(t, st)
			text := pdfText(t, path, "-f", "1", "-l", "1")
			if got := strings.Contains(text, "NOT VERIFIED"); got == tt.ok {
				t.Errorf("cover NOT VERIFIED = %v, want %v", got, !tt.ok)
			}
			if tt.reason != "" && !strings.Contains(noSpace(text), noSpace(tt.reason)) {
				t.Errorf("cover does not give the reason %q:\n%s", tt.reason, text)
			}
			cover := rasterize(t, path, 50, 1, 1)[0]
			if hasColor(t, cover, pdfGreen) != tt.ok || hasColor(t, cover, pdfRed) == tt.ok {
				t.Errorf("verdict colour wrong (want green = %v)", tt.ok)
			}
			if tt.name == "protection failed" && !hasColor(t, rasterize(t, path, 50, 2, 2)[0], pdfRed) {
				t.Error("the failed status is not painted red")
			}
		})
	}
}

// TestRenderPDFSecrets: a password or key put into a field shows up in
// pdftotext's output (so the check can see one), and a normal report holds
// neither the p12 passwords nor the bytes of a private key.
func TestRenderPDFSecrets(t *testing.T) {
	keyPEM, err := os.ReadFile(filepath.Join(testenv.Root(t), "testdata", "keys", "ec.key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		t.Fatal("ec.key.pem: no PEM block")
	}
	body := strings.Fields(string(keyPEM))
	secrets := []string{"demo-pass", "fixture-pass", "-----BEGIN PRIVATE KEY-----", hex.EncodeToString(blk.Bytes)}
	for _, l := range body {
		if len(l) >= 16 && !strings.Contains(l, "-----") {
			secrets = append(secrets, l)
		}
	}
	find := func(st *Statement) []string {
		path, _ := renderFile(t, st)
		// pdftotext joins a line ending in '-' to the next and drops the
		// '-': compare without whitespace and hyphens.
		norm := func(s string) string { return strings.ReplaceAll(noSpace(s), "-", "") }
		flat := norm(pdfText(t, path))
		var found []string
		for _, s := range secrets {
			if strings.Contains(flat, norm(s)) {
				found = append(found, s)
			}
		}
		return found
	}

	leaky := realisticStatement()
	leaky.Predicate.Build.CI["password"] = "demo-pass fixture-pass"
	leaky.Predicate.Protections[7].Evidence["key"] = string(keyPEM)
	leaky.Predicate.Protections[7].Evidence["keyHex"] = hex.EncodeToString(blk.Bytes)
	if got := find(leaky); len(got) != len(secrets) {
		t.Errorf("the check finds %d of %d planted secrets: %q", len(got), len(secrets), got)
	}
	if got := find(realisticStatement()); len(got) != 0 {
		t.Errorf("a normal report contains %q", got)
	}
}

// TestRenderPDFMinimal: an empty statement (no dates, no digest, no
// certificate) still renders to a valid PDF.
func TestRenderPDFMinimal(t *testing.T) {
	path, _ := renderFile(t, &Statement{})
	if n, _ := pdfPages(t, path); n < 2 {
		t.Errorf("minimal report has %d pages", n)
	}
	text := pdfText(t, path)
	for _, want := range []string{"NOT VERIFIED", "No client certificate was injected", "No output digest is recorded", "not recorded"} {
		if !strings.Contains(text, want) {
			t.Errorf("minimal report lacks %q", want)
		}
	}
	if err := RenderPDF(nil, &bytes.Buffer{}); err == nil {
		t.Error("RenderPDF(nil) succeeded")
	}
}

// TestRenderPDFSize records the size and render time of the realistic report.
func TestRenderPDFSize(t *testing.T) {
	st := realisticStatement()
	var b bytes.Buffer
	start := time.Now()
	if err := RenderPDF(st, &b); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("realistic report: %d bytes in %v", b.Len(), el)
	if b.Len() > 256<<10 {
		t.Errorf("report is %d bytes, want < 256 KiB", b.Len())
	}
	if el > 2*time.Second {
		t.Errorf("render took %v", el)
	}
}

func BenchmarkRenderPDF(b *testing.B) {
	st := realisticStatement()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := RenderPDF(st, &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

// stringStatement has s in every string field, map key and list.
func stringStatement(s string) *Statement {
	st := &Statement{Subject: []Subject{{Name: s, Digest: map[string]string{s: s}}}}
	p := &st.Predicate
	p.Build = Build{Tool: s, Version: s, Commit: s, CI: map[string]string{s: s}, Reproduce: s}
	p.Input = Artifact{File: s, SHA256: s, Package: s, VersionName: s, Schemes: []string{s}, Signers: []string{s}}
	p.Output = p.Input
	p.FusionSet = FusionSet{ID: s, Name: s, SHA256: s}
	p.Protections = []Protection{{ID: s, Title: s, Mode: s, Status: s, Evidence: map[string]string{s: s}}}
	p.Injected = []Injected{{Name: s, SHA256: s, Action: s}}
	p.MTLS = &MTLS{Subject: s, Issuer: s, Serial: s, SHA256: s, PublicKeyAlgorithm: s, Hosts: []string{s}}
	p.Attestation = Attestation{Endpoint: s, MeasurementSHA256: s, Package: s, SignerDigests: []string{s},
		DexDigests: map[string]string{s: s}, RuntimeDigest: s, ManifestDigest: s}
	p.Verification.Errors = []string{s}
	p.Limits = []string{s}
	return st
}

// FuzzRenderPDF puts arbitrary text in every kind of field: rendering must
// not fail or panic, and the output must be a PDF.
func FuzzRenderPDF(f *testing.F) {
	for _, s := range []string{"", "決済アプリ", "a(b)c\\d", "\xff\xfe\x00", strings.Repeat("f", 400), "x\ny\tz", "Zürich €"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st := stringStatement(s)
		var b bytes.Buffer
		if err := RenderPDF(st, &b); err != nil {
			t.Fatalf("RenderPDF: %v", err)
		}
		if !bytes.HasPrefix(b.Bytes(), []byte("%PDF-")) || !bytes.HasSuffix(bytes.TrimSpace(b.Bytes()), []byte("%%EOF")) {
			t.Fatal("output is not a PDF")
		}
	})
}

func TestPDFNaturalLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"classes.dex", "classes2.dex", true},
		{"classes2.dex", "classes10.dex", true},
		{"classes10.dex", "classes2.dex", false},
		{"classes02.dex", "classes10.dex", true},
		{"a", "a", false},
		{"a", "ab", true},
		{"b1", "a2", false},
	}
	for _, tt := range tests {
		if got := pdfNaturalLess(tt.a, tt.b); got != tt.want {
			t.Errorf("pdfNaturalLess(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

func TestPDFSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 bytes", 999: "999 bytes", 1024: "1,024 bytes (1.0 KiB)",
		48_540_112: "48,540,112 bytes (46.3 MiB)", -1500: "-1,500 bytes",
	} {
		if got := pdfSize(n); got != want {
			t.Errorf("pdfSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestRenderPDFIdentity reads with pdftotext the client certificate
// section of each identity mode: attested says no private key is in the
// package and names the issuer CA and the device certificate policy;
// embedded keeps the certificate's subject and says the vault holds a key.
func TestRenderPDFIdentity(t *testing.T) {
	no, yes := false, true
	ca := CertRef{Subject: "CN=Example Client CA", SHA256: pdfHex("client-ca")}
	tests := []struct {
		name    string
		mtls    MTLS
		want    []string
		notWant []string
	}{
		{"attested", MTLS{Subject: ca.Subject, Issuer: ca.Subject, Serial: "01", SHA256: ca.SHA256, PublicKeyAlgorithm: "ECDSA P-256",
			Hosts: []string{"api.example.com"}, Identity: "attested", PrivateKeyInPackage: &no,
			Vault:               &VaultContents{Chain: []CertRef{ca}},
			AttestedCertificate: &AttestedCertificate{Validity: "24h", MinSecurityLevel: "tee", StrongBox: "prefer", RequireVerifiedBoot: true}},
			[]string{"No private key is in the package", "Identity attested", "Issuer CA CN=Example Client CA", "Vault holds no private key",
				"CN=Example Client CA sha256 " + ca.SHA256, "valid 24h; keystore tee or better; StrongBox prefer; verified boot and locked bootloader required"},
			[]string{"The public part of the certificate sealed into the app"}},
		{"embedded", MTLS{Subject: "CN=client", Issuer: ca.Subject, Serial: "02", SHA256: pdfHex("leaf"), PublicKeyAlgorithm: "ECDSA P-256",
			Hosts: []string{"api.example.com"}, Identity: "embedded", PrivateKeyInPackage: &yes,
			Vault: &VaultContents{Chain: []CertRef{{Subject: "CN=client", SHA256: pdfHex("leaf")}, ca}, HasPrivateKey: true}},
			[]string{"The public part of the certificate sealed into the app", "Identity embedded", "Subject CN=client", "Vault holds private key (sealed)"},
			[]string{"No private key is in the package", "Device certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := realisticStatement()
			st.Predicate.MTLS = &tt.mtls
			path, _ := renderFile(t, st)
			flat := noSpace(pdfText(t, path, "-layout")) // label and value on one line
			for _, w := range tt.want {
				if !strings.Contains(flat, noSpace(w)) {
					t.Errorf("pdftotext output lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(flat, noSpace(w)) {
					t.Errorf("pdftotext output has %q", w)
				}
			}
		})
	}
}
