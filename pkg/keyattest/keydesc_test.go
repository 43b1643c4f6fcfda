package keyattest_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	kat "github.com/trustfuse/trustfuse/internal/keyattesttest"
	. "github.com/trustfuse/trustfuse/pkg/keyattest"
)

func TestParseKeyDescriptionRoundTrip(t *testing.T) {
	k := goodSpec()
	k.Packages = append(k.Packages, PackageInfo{Name: "com.example.shared", Version: 1 << 40})
	rec, err := ParseKeyDescription(kat.EncodeKeyDescription(t, k))
	if err != nil {
		t.Fatal(err)
	}
	if rec.AttestationVersion != 200 || rec.KeyMintVersion != 200 ||
		rec.AttestationSecurityLevel != TrustedEnvironment || rec.KeyMintSecurityLevel != TrustedEnvironment ||
		!bytes.Equal(rec.Challenge, k.Challenge) || rec.OSVersion != 140000 || rec.OSPatchLevel != 202501 {
		t.Fatalf("record %+v", rec)
	}
	if len(rec.Application.Packages) != 2 || rec.Application.Packages[1].Version != 1<<40 ||
		len(rec.Application.SignatureDigests) != 1 || !bytes.Equal(rec.Application.SignatureDigests[0], k.SignatureDigests[0]) {
		t.Fatalf("application %+v", rec.Application)
	}
	rt := rec.RootOfTrust
	if rt == nil || !rec.RootOfTrustHardwareEnforced() || !rt.DeviceLocked || rt.VerifiedBootState != Verified ||
		!bytes.Equal(rt.VerifiedBootKey, k.VerifiedBootKey) || !bytes.Equal(rt.VerifiedBootHash, k.VerifiedBootHash) {
		t.Fatalf("root of trust %+v", rt)
	}
}

// withHardwareList builds a KeyDescription whose hardwareEnforced list is entries.
func withHardwareList(t testing.TB, entries ...[]byte) []byte {
	return kat.DER(t, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(3)
			b.AddASN1Enum(1)
			b.AddASN1Int64(4)
			b.AddASN1Enum(1)
			b.AddASN1OctetString([]byte("abc"))
			b.AddASN1OctetString(nil)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {})
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, e := range entries {
					b.AddBytes(e)
				}
			})
		})
	})
}

func TestParseKeyDescriptionMalformed(t *testing.T) {
	intDER := func(v int64) []byte { return kat.DER(t, func(b *cryptobyte.Builder) { b.AddASN1Int64(v) }) }
	good := kat.EncodeKeyDescription(t, goodSpec())
	cases := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"empty", nil, false},
		{"not a sequence", []byte{0x04, 0x00}, false},
		{"trailing bytes", append(append([]byte{}, good...), 0), false},
		{"truncated", good[:len(good)-1], false},
		{"unknown tags only", withHardwareList(t, kat.ExplicitTag(999, intDER(1)), kat.ExplicitTag(30, intDER(1)), kat.ExplicitTag(31, intDER(1)), kat.ExplicitTag(200000, intDER(1))), true},
		{"repeated osVersion", withHardwareList(t, kat.ExplicitTag(kat.TagOSVersion, intDER(1)), kat.ExplicitTag(kat.TagOSVersion, intDER(2))), false},
		{"repeated unknown tag", withHardwareList(t, kat.ExplicitTag(3, intDER(1)), kat.ExplicitTag(3, intDER(2))), true}, // keySize: not read
		{"purpose not a SET", withHardwareList(t, kat.ExplicitTag(kat.TagPurpose, intDER(2))), false},
		{"repeated purpose", withHardwareList(t, kat.ExplicitTag(kat.TagPurpose, []byte{0x31, 0x03, 0x02, 0x01, 0x02}), kat.ExplicitTag(kat.TagPurpose, []byte{0x31, 0x00})), false},
		{"high tag in short form", withHardwareList(t, append([]byte{0xbf, 0x1e}, 0x00)), false},                                      // tag 30 must use one octet
		{"leading zero septet", withHardwareList(t, []byte{0xbf, 0x80, 0x85, 0x41, 0x03, 0x02, 0x01, 0x00}), false},                   // [705] padded
		{"primitive context tag", withHardwareList(t, []byte{0x9f, 0x85, 0x41, 0x03, 0x02, 0x01, 0x00}), false},                       // not constructed
		{"indefinite length", withHardwareList(t, []byte{0xbf, 0x85, 0x41, 0x80, 0x02, 0x01, 0x00, 0x00, 0x00}), false},               // BER only
		{"non-minimal length", withHardwareList(t, []byte{0xbf, 0x85, 0x41, 0x81, 0x03, 0x02, 0x01, 0x00}), false},                    // DER minimal
		{"huge tag number", withHardwareList(t, []byte{0xbf, 0xff, 0xff, 0xff, 0x7f, 0x03, 0x02, 0x01, 0x00}), false},                 // over cap
		{"length past end", withHardwareList(t, []byte{0xbf, 0x85, 0x41, 0x05, 0x02, 0x01, 0x00}), false},                             // truncated
		{"osVersion not INTEGER", withHardwareList(t, kat.ExplicitTag(kat.TagOSVersion, []byte{0x04, 0x01, 0x00})), false},            // OCTET STRING
		{"osVersion negative", withHardwareList(t, kat.ExplicitTag(kat.TagOSVersion, intDER(-1))), false},                             // range
		{"extra bytes in explicit tag", withHardwareList(t, kat.ExplicitTag(kat.TagOSVersion, append(intDER(1), 0x05, 0x00))), false}, // trailing NULL
		{"rootOfTrust bad state", withHardwareList(t, kat.ExplicitTag(kat.TagRootOfTrust, kat.DER(t, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(nil)
				b.AddASN1Boolean(true)
				b.AddASN1Enum(7)
			})
		}))), false},
		{"rootOfTrust v2 without hash", withHardwareList(t, kat.ExplicitTag(kat.TagRootOfTrust, kat.DER(t, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1OctetString([]byte{1})
				b.AddASN1Boolean(false)
				b.AddASN1Enum(0)
			})
		}))), true},
		{"application id not OCTET STRING", withHardwareList(t, kat.ExplicitTag(kat.TagAttestationApplicationID, intDER(5))), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := ParseKeyDescription(tc.in)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if rec == nil {
					t.Fatal("nil record")
				}
				return
			}
			var ke *Error
			var fe *FormatError
			if !errors.As(err, &ke) || ke.Reason != ReasonMalformed || !errors.As(err, &fe) {
				t.Fatalf("err = %v, want malformed *FormatError", err)
			}
			if fe.Offset < 0 || fe.Offset > len(tc.in) {
				t.Fatalf("offset %d outside input of %d bytes", fe.Offset, len(tc.in))
			}
		})
	}
}

// TestFormatErrorOffset: the offset points at the element that failed.
func TestFormatErrorOffset(t *testing.T) {
	in := withHardwareList(t, kat.ExplicitTag(kat.TagOSVersion, []byte{0x04, 0x01, 0x00}))
	_, err := ParseKeyDescription(in)
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatal(err)
	}
	// The OCTET STRING inside [705] is the last 3 bytes of the input.
	if fe.Offset != len(in)-3 {
		t.Fatalf("offset %d, want %d (%v)", fe.Offset, len(in)-3, err)
	}
}

func TestParseKeyDescriptionCaps(t *testing.T) {
	if _, err := ParseKeyDescription(make([]byte, MaxKeyDescription+1)); err == nil {
		t.Fatal("oversized input accepted")
	}
	many := make([][]byte, MaxAuthEntries+1)
	for i := range many {
		many[i] = kat.ExplicitTag(600+i%50, []byte{0x05, 0x00})
	}
	if _, err := ParseKeyDescription(withHardwareList(t, many...)); err == nil {
		t.Fatal("too many entries accepted")
	}
	k := goodSpec()
	for i := 0; i <= MaxDigests; i++ {
		k.SignatureDigests = append(k.SignatureDigests, []byte{byte(i)})
	}
	if _, err := ParseKeyDescription(kat.EncodeKeyDescription(t, k)); err == nil {
		t.Fatal("too many digests accepted")
	}
}

func FuzzParseKeyDescription(f *testing.F) {
	f.Add(kat.EncodeKeyDescription(f, goodSpec()))
	f.Add(withHardwareList(f, kat.ExplicitTag(200000, []byte{0x05, 0x00})))
	for _, name := range []string{"ec-tee.pem", "rsa-tee.pem", "rsa-strongbox.pem"} {
		for _, c := range readPEMChain(f, filepath.Join("testdata", "real", name)) {
			for _, e := range c.Extensions {
				if e.Id.Equal(OIDKeyDescriptionASN1) {
					f.Add(e.Value)
				}
			}
		}
	}
	if _, err := os.Stat(filepath.Join("testdata", "real")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := ParseKeyDescription(data)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Offset < 0 || fe.Offset > len(data) {
				t.Fatalf("error %v without a valid offset", err)
			}
			return
		}
		if len(rec.Challenge) > len(data) {
			t.Fatal("challenge longer than input")
		}
		if rec.AttestationSecurityLevel > StrongBox || rec.KeyMintSecurityLevel > StrongBox {
			t.Fatal("unknown level accepted")
		}
		if rec.RootOfTrust != nil && rec.RootOfTrust.VerifiedBootState > Failed {
			t.Fatal("unknown boot state accepted")
		}
	})
}
