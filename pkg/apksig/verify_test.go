package apksig

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// tamper makes a variant of a signed APK.
type tamper struct {
	name string
	make func(t *testing.T, signed, other []byte) []byte
}

// layout locates the parts of a signed APK.
func layout(t *testing.T, b []byte) (z *zipx.Reader, sb zipx.Span) {
	t.Helper()
	z, err := zipx.NewReader(bytesReaderAt(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	sb, _ = z.SigningBlock()
	return z, sb
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, os.ErrNotExist
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, os.ErrNotExist
	}
	return n, nil
}

func flip(b []byte, off int64) []byte {
	out := append([]byte(nil), b...)
	out[off] ^= 0x01
	return out
}

// replaceBlock rebuilds b with the given signing block (nil: none) between
// the entries and the central directory.
func replaceBlock(t *testing.T, b, block []byte) []byte {
	z, _ := layout(t, b)
	cd := z.CentralDirectory()
	entries := b[:z.EntriesEnd()]
	out := append(append(append([]byte(nil), entries...), block...), b[cd.Offset:]...)
	binary.LittleEndian.PutUint32(out[len(out)-int(z.EOCD().Size)+16:], uint32(len(entries)+len(block)))
	return out
}

func blockOf(t *testing.T, b []byte) []byte {
	_, sb := layout(t, b)
	return b[sb.Offset:sb.End()]
}

var tampers = []tamper{
	{"as signed", func(t *testing.T, s, _ []byte) []byte { return s }},
	{"byte flipped in classes.dex", func(t *testing.T, s, _ []byte) []byte {
		z, _ := layout(t, s)
		e := z.Entry("classes.dex")
		return flip(s, e.DataOffset+int64(e.CompressedSize/2))
	}},
	{"byte flipped in the central directory", func(t *testing.T, s, _ []byte) []byte {
		z, _ := layout(t, s)
		return flip(s, z.CentralDirectory().Offset+38) // first entry's external attributes
	}},
	{"byte flipped in the signing block", func(t *testing.T, s, _ []byte) []byte {
		_, sb := layout(t, s)
		return flip(s, sb.Offset+sb.Size/3)
	}},
	{"entry added after signing", func(t *testing.T, s, _ []byte) []byte {
		z, _ := layout(t, s)
		block := blockOf(t, s)
		var out bytesBuffer
		w := zipx.NewWriter(&out, zipx.Options{})
		for _, e := range z.Entries {
			if err := w.Copy(e); err != nil {
				t.Fatal(err)
			}
		}
		w.Add(zipx.Header{Name: "assets/extra.txt", Method: zipx.Deflate}, []byte("added later"))
		w.Close()
		return replaceBlock(t, out, block)
	}},
	{"signing block removed (v1 stripping protection)", func(t *testing.T, s, _ []byte) []byte {
		return replaceBlock(t, s, nil)
	}},
	{"signing block from another APK", func(t *testing.T, s, other []byte) []byte {
		return replaceBlock(t, s, blockOf(t, other))
	}},
}

type bytesBuffer []byte

func (b *bytesBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// TestTamperedAgreesWithApksigner signs APKs, tampers with them, and checks
// our verdict equals apksigner's on each variant.
func TestTamperedAgreesWithApksigner(t *testing.T) {
	ks := fixtureKeys(t)
	dir := t.TempDir()
	// v1v2v3 (minSdk 21: v1 + v2 + v3) and the real apps; "other" supplies a
	// foreign signing block.
	srcs := []string{filepath.Join(testenv.Root(t), "testdata", "apk", "v1v2v3.apk")}
	srcs = append(srcs, testenv.RealApps(t)...)
	other := filepath.Join(dir, "other.apk")
	signFile(t, filepath.Join(testenv.Root(t), "testdata", "apk", "multidex.apk"), other, ks["ec-openssl.p12"], Options{MinSDK: 24})
	otherBytes, _ := os.ReadFile(other)
	for _, src := range srcs {
		signed := filepath.Join(dir, filepath.Base(src))
		signFile(t, src, signed, ks["rsa-keytool.p12"], Options{})
		sb, _ := os.ReadFile(signed)
		for _, tc := range tampers {
			t.Run(filepath.Base(src)+"/"+tc.name, func(t *testing.T) {
				variant := tc.make(t, sb, otherBytes)
				p := filepath.Join(t.TempDir(), "variant.apk")
				if err := os.WriteFile(p, variant, 0o644); err != nil {
					t.Fatal(err)
				}
				theirs, _, _, out := apksigner(t, p)
				ours := false
				z, err := zipx.Open(p)
				if err == nil {
					res, verr := Verify(z.Reader, VerifyOptions{MinSDK: minSDKOf(t, z.Reader)})
					z.Close()
					if verr != nil {
						t.Fatal(verr)
					}
					ours = res.Verified
					t.Logf("ours: %v %v", res.Verified, res.AllErrors())
				} else {
					t.Logf("ours: archive refused: %v", err)
				}
				if ours != theirs {
					t.Fatalf("we say verified=%v, apksigner %v:\n%s", ours, theirs, out)
				}
				if tc.name == "as signed" && !ours {
					t.Fatal("untampered APK does not verify")
				}
			})
		}
	}
}
