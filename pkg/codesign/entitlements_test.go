package codesign

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// TestEntitlementsDERMatchesCodesign: the DER entitlements Apple's codesign
// wrote into a real binary (npm @oven/bun-darwin-aarch64 1.4.5, bin/bun,
// SHA-256 e2984124f1514e1e6bbda20adedbf07a02c443c6a5828853a15c7c7abf78e19f:
// the XML in its slot 5, the DER in its slot 7) equal ours for the same
// XML. Its keys discriminate the two candidate orders: codesign sorts
// dictionary keys by their bytes (allow-dyld… before allow-jit), not by
// the DER SET OF rule, which would put the shorter allow-jit entry first.
func TestEntitlementsDERMatchesCodesign(t *testing.T) {
	xml := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>com.apple.security.cs.allow-jit</key>
    <true/>
    <key>com.apple.security.cs.allow-unsigned-executable-memory</key>
    <true/>
    <key>com.apple.security.cs.disable-executable-page-protection</key>
    <true/>
    <key>com.apple.security.cs.allow-dyld-environment-variables</key>
    <true/>
    <key>com.apple.security.cs.disable-library-validation</key>
    <true/>
</dict>
</plist>`)
	want, err := hex.DecodeString("" +
		"7082011d020101b0820116303b0c36636f6d2e6170706c652e73656375726974792e63732e616c6c6f772d64796c642d" +
		"656e7669726f6e6d656e742d7661726961626c65730101ff30240c1f636f6d2e6170706c652e73656375726974792e63" +
		"732e616c6c6f772d6a69740101ff303b0c36636f6d2e6170706c652e73656375726974792e63732e616c6c6f772d756e" +
		"7369676e65642d65786563757461626c652d6d656d6f72790101ff303d0c38636f6d2e6170706c652e73656375726974" +
		"792e63732e64697361626c652d65786563757461626c652d706167652d70726f74656374696f6e0101ff30350c30636f" +
		"6d2e6170706c652e73656375726974792e63732e64697361626c652d6c6962726172792d76616c69646174696f6e0101" +
		"ff")
	if err != nil {
		t.Fatal(err)
	}
	got, err := EntitlementsDER(xml)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("DER entitlements\n%x\ncodesign wrote\n%x", got, want)
	}
}

// TestEntitlementsDERBounds: an oversized or absurdly nested entitlements
// plist is refused with ErrInput (the decoder recurses per level, the
// encoder copies per level) instead of exhausting stack or time.
func TestEntitlementsDERBounds(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>a</key>` + strings.Repeat("<array>", n) + strings.Repeat("</array>", n) + `</dict></plist>`)
	}
	for _, c := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"nested to the limit", nest(maxEntitlementsDepth - 1), true},
		{"nested past the limit", nest(maxEntitlementsDepth), false},
		{"nested 60000 deep", nest(60000), false},
		{"over the size limit", append(nest(1), make([]byte, MaxEntitlementsSize)...), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := EntitlementsDER(c.in)
			if c.ok != (err == nil) || err != nil && !errors.Is(err, ErrInput) {
				t.Fatalf("err %v, want ok %v", err, c.ok)
			}
		})
	}
}
