package keyattest_test

import (
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	kat "github.com/trustfuse/trustfuse/internal/keyattesttest"
	"github.com/trustfuse/trustfuse/internal/testenv"

	. "github.com/trustfuse/trustfuse/pkg/keyattest"
)

// asn1Line is one line of `openssl asn1parse` output.
type asn1Line struct {
	offset, depth int
	typ           string // "INTEGER", "cont [ 704 ]", "OCTET STRING", …
	value         string // after the colon: "03", "[HEX DUMP]:616263" is stored as "616263"
}

var asn1LineRE = regexp.MustCompile(`^\s*(\d+):d=(\d+)\s+hl=\s*\d+\s+l=\s*\d+\s+(?:prim|cons):\s*(.*)$`)

func parseASN1Dump(t *testing.T, out string) []asn1Line {
	t.Helper()
	var lines []asn1Line
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		m := asn1LineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("openssl asn1parse: unexpected line %q", l)
		}
		off, _ := strconv.Atoi(m[1])
		d, _ := strconv.Atoi(m[2])
		rest := m[3]
		typ, val := strings.TrimSpace(rest), ""
		if i := strings.Index(rest, "[HEX DUMP]:"); i >= 0 {
			typ, val = strings.TrimSpace(rest[:i]), strings.ToLower(rest[i+len("[HEX DUMP]:"):])
		} else if i := strings.Index(rest, ":"); i >= 0 {
			typ, val = strings.TrimSpace(rest[:i]), rest[i+1:]
		}
		lines = append(lines, asn1Line{offset: off, depth: d, typ: typ, value: strings.TrimSpace(val)})
	}
	return lines
}

// opensslExtension has openssl decode the attestation extension of a leaf:
// it finds the extension's OCTET STRING in the certificate dump and reparses
// its content (-strparse).
func opensslExtension(t *testing.T, dir string, leaf *x509.Certificate) []asn1Line {
	lines, _ := opensslExtensionAt(t, dir, leaf)
	return lines
}

// opensslExtensionAt is opensslExtension, also returning openssl's arguments
// that select the extension, for deeper -strparse.
func opensslExtensionAt(t *testing.T, dir string, leaf *x509.Certificate) ([]asn1Line, []string) {
	t.Helper()
	p := filepath.Join(dir, "leaf.der")
	if err := os.WriteFile(p, leaf.Raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cert := parseASN1Dump(t, testenv.Run(t, "openssl", "asn1parse", "-inform", "DER", "-in", p))
	for i, l := range cert {
		if l.typ == "OBJECT" && l.value == OIDKeyDescription && i+1 < len(cert) && cert[i+1].typ == "OCTET STRING" {
			args := []string{"asn1parse", "-inform", "DER", "-in", p, "-strparse", strconv.Itoa(cert[i+1].offset)}
			out := testenv.Run(t, "openssl", args...)
			if strings.Contains(strings.ToLower(out), "error") {
				t.Fatalf("openssl asn1parse reports an error:\n%s", out)
			}
			return parseASN1Dump(t, out), args
		}
	}
	t.Fatal("openssl found no attestation extension in the leaf")
	return nil, nil
}

// opensslApplicationID has openssl decode the OCTET STRING inside [709]
// and returns the package names, versions and digests it sees.
func opensslApplicationID(t *testing.T, lines []asn1Line, args []string) (pkgs []PackageInfo, digests []string) {
	t.Helper()
	for i, l := range lines {
		if l.typ != "cont [ 709 ]" || i+1 >= len(lines) {
			continue
		}
		out := testenv.Run(t, "openssl", append(args, "-strparse", strconv.Itoa(lines[i+1].offset))...)
		app := parseASN1Dump(t, out)
		for j, a := range app {
			switch {
			case a.depth == 3 && a.typ == "OCTET STRING" && j+1 < len(app):
				v, err := strconv.ParseInt(app[j+1].value, 16, 64)
				if err != nil {
					t.Fatalf("openssl package version %q: %v", app[j+1].value, err)
				}
				pkgs = append(pkgs, PackageInfo{Name: a.value, Version: v})
			case a.depth == 2 && a.typ == "OCTET STRING":
				digests = append(digests, a.value)
			}
		}
		return pkgs, digests
	}
	t.Fatal("openssl sees no [709] attestationApplicationId")
	return nil, nil
}

// checkApplicationAgainstOpenSSL compares our AttestationApplicationId with
// openssl's decoding.
func checkApplicationAgainstOpenSSL(t *testing.T, lines []asn1Line, args []string, rec *Record) {
	t.Helper()
	pkgs, digests := opensslApplicationID(t, lines, args)
	if rec.Application == nil {
		t.Fatal("no application id decoded")
	}
	if fmt.Sprint(pkgs) != fmt.Sprint(rec.Application.Packages) {
		t.Errorf("packages: openssl %v, ours %v", pkgs, rec.Application.Packages)
	}
	var ours []string
	for _, d := range rec.Application.SignatureDigests {
		ours = append(ours, hex.EncodeToString(d))
	}
	if fmt.Sprint(digests) != fmt.Sprint(ours) {
		t.Errorf("digests: openssl %v, ours %v", digests, ours)
	}
}

// hexInt renders v as openssl prints an INTEGER/ENUMERATED (upper-case hex,
// even number of digits).
func hexInt(v int) string {
	s := fmt.Sprintf("%X", v)
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}

// checkAgainstOpenSSL compares our decoding of a leaf with openssl's
// independent decoding of the same extension bytes.
func checkAgainstOpenSSL(t *testing.T, lines []asn1Line, rec *Record) {
	t.Helper()
	var top []asn1Line // the KeyDescription's own fields
	for _, l := range lines {
		if l.depth == 1 {
			top = append(top, l)
		}
	}
	if len(top) < 8 {
		t.Fatalf("openssl sees %d KeyDescription fields, want 8: %+v", len(top), top)
	}
	want := []asn1Line{
		{typ: "INTEGER", value: hexInt(rec.AttestationVersion)},
		{typ: "ENUMERATED", value: hexInt(int(rec.AttestationSecurityLevel))},
		{typ: "INTEGER", value: hexInt(rec.KeyMintVersion)},
		{typ: "ENUMERATED", value: hexInt(int(rec.KeyMintSecurityLevel))},
		{typ: "OCTET STRING", value: hex.EncodeToString(rec.Challenge)},
	}
	for i, w := range want {
		got := top[i]
		if w.typ == "OCTET STRING" && got.typ == "OCTET STRING" && got.value != w.value {
			// openssl prints printable OCTET STRINGs as text.
			if got.value == string(rec.Challenge) {
				continue
			}
		}
		if got.typ != w.typ || got.value != w.value {
			t.Errorf("field %d: openssl %s %q, we decoded %s %q", i, got.typ, got.value, w.typ, w.value)
		}
	}
	// osVersion/osPatchLevel: the last occurrence is in hardwareEnforced.
	for _, c := range []struct {
		tag  string
		want int
	}{{"cont [ 705 ]", rec.OSVersion}, {"cont [ 706 ]", rec.OSPatchLevel}} {
		got := ""
		for i, l := range lines {
			if l.typ == c.tag && i+1 < len(lines) {
				got = lines[i+1].value
			}
		}
		if got != hexInt(c.want) {
			t.Errorf("%s: openssl %q, ours %d (%s)", c.tag, got, c.want, hexInt(c.want))
		}
	}
	// purpose [1] SET OF INTEGER: the last occurrence is in hardwareEnforced.
	var purposes []string
	for i, l := range lines {
		if l.typ != "cont [ 1 ]" {
			continue
		}
		purposes = []string{}
		for _, m := range lines[i+1:] {
			if m.depth <= l.depth {
				break
			}
			if m.typ == "INTEGER" {
				purposes = append(purposes, m.value)
			}
		}
	}
	var ours []string
	for _, p := range rec.Purposes {
		ours = append(ours, hexInt(p))
	}
	if fmt.Sprint(purposes) != fmt.Sprint(ours) {
		t.Errorf("purpose: openssl %v, ours %v", purposes, ours)
	}
	if top[6].typ != "SEQUENCE" || top[7].typ != "SEQUENCE" {
		t.Errorf("authorization lists: openssl sees %s, %s", top[6].typ, top[7].typ)
	}
	// rootOfTrust: the first [704] whose list matches ours.
	if rt := rec.RootOfTrust; rt != nil {
		found := false
		for i, l := range lines {
			if l.typ != "cont [ 704 ]" || i+5 >= len(lines) {
				continue
			}
			key, locked, state := lines[i+2], lines[i+3], lines[i+4]
			lockedWant := "0"
			if rt.DeviceLocked {
				lockedWant = "255"
			}
			if key.value == hex.EncodeToString(rt.VerifiedBootKey) && locked.typ == "BOOLEAN" && locked.value == lockedWant &&
				state.typ == "ENUMERATED" && state.value == hexInt(int(rt.VerifiedBootState)) {
				found = true
			}
		}
		if !found {
			t.Errorf("openssl's [704] rootOfTrust does not match ours %+v:\n%+v", rt, lines)
		}
	}
}

// TestOpenSSLAgreesOnSelfMadeChains: openssl, an independent X.509
// implementation, verifies our test chains (so they really chain), rejects the
// forged one we reject, and decodes our KeyDescription DER to the same values.
func TestOpenSSLAgreesOnSelfMadeChains(t *testing.T) {
	testenv.Tool(t, "openssl")
	for _, kind := range []string{"rsa", "p384"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			f := newFixture(t, kind)
			root := writePEM(t, dir, "root.pem", f.root.Cert)
			inter := writePEM(t, dir, "inter.pem", f.inter.Cert)
			leaf := writePEM(t, dir, "leaf.pem", f.leaf)
			out := testenv.Run(t, "openssl", "verify", "-no_check_time", "-partial_chain", "-CAfile", root, "-untrusted", inter, leaf)
			if !strings.Contains(out, "leaf.pem: OK") {
				t.Fatalf("openssl verify: %s", out)
			}
			v, _ := NewVerifier([]*x509.Certificate{f.root.Cert}, nil)
			rec, err := v.Verify(raws(f.leaf, f.inter.Cert, f.root.Cert), goodPolicy(f.spec), testNow)
			if err != nil {
				t.Fatal(err)
			}

			// A leaf signed by a different key under the same issuer name:
			// both openssl and Verify reject it.
			forger := kat.NewIntermediate(t, f.root, kat.IntermediateName("2dc58b2d1a241326"), f.inter.Cert.NotAfter)
			forged := kat.NewLeaf(t, forger, nil, kat.KeyDescriptionExtension(kat.EncodeKeyDescription(t, f.spec)))
			bad := writePEM(t, dir, "forged.pem", forged)
			cmd := exec.Command(testenv.Tool(t, "openssl"), "verify", "-no_check_time", "-partial_chain", "-CAfile", root, "-untrusted", inter, bad)
			if o, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("openssl accepted the forged leaf: %s", o)
			}
			if _, err := v.Verify(raws(forged, f.inter.Cert, f.root.Cert), goodPolicy(f.spec), testNow); !isReason(err, ReasonChain) {
				t.Fatalf("Verify(forged) = %v", err)
			}

			lines, args := opensslExtensionAt(t, dir, f.leaf)
			checkAgainstOpenSSL(t, lines, rec)
			checkApplicationAgainstOpenSSL(t, lines, args, rec)
			var tags []string
			for _, l := range lines {
				if strings.HasPrefix(l.typ, "cont [") {
					tags = append(tags, l.typ)
				}
			}
			for _, want := range []string{"cont [ 1 ]", "cont [ 701 ]", "cont [ 704 ]", "cont [ 709 ]", "cont [ 1234 ]", "cont [ 718 ]"} {
				if !strings.Contains(strings.Join(tags, ","), want) {
					t.Errorf("openssl does not see %s in our encoding; tags %v", want, tags)
				}
			}
		})
	}
}
