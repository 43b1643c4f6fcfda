// Package apk models an Android application package as the rest of TrustFuse
// needs it: the strictly parsed archive (pkg/zipx), the decoded manifest
// (pkg/axml), the dex files in load order, the native libraries and their
// 16 KiB alignment, and the signatures (pkg/apksig).
package apk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/axml"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// ManifestName is the path of the binary manifest inside an APK.
const ManifestName = "AndroidManifest.xml"

// maxManifestSize caps the manifest read into memory.
const maxManifestSize = 16 << 20

// ErrNoManifest reports an archive without AndroidManifest.xml.
var ErrNoManifest = errors.New("apk: no AndroidManifest.xml: not an APK")

// ManifestError reports a manifest that cannot be decoded.
type ManifestError struct{ Err error }

func (e *ManifestError) Error() string { return "apk: AndroidManifest.xml: " + e.Err.Error() }
func (e *ManifestError) Unwrap() error { return e.Err }

// APK is an opened package. Close it when done.
type APK struct {
	Path        string
	Zip         *zipx.File
	ManifestDoc *axml.Document
	Manifest    *axml.Manifest
}

// Open opens and parses the APK at p: the archive strictly and the manifest.
func Open(p string) (*APK, error) {
	z, err := zipx.Open(p)
	if err != nil {
		return nil, err
	}
	a := &APK{Path: p, Zip: z}
	if err := a.readManifest(); err != nil {
		z.Close()
		return nil, err
	}
	return a, nil
}

// Close closes the archive.
func (a *APK) Close() error { return a.Zip.Close() }

func (a *APK) readManifest() error {
	e := a.Zip.Entry(ManifestName)
	if e == nil {
		return ErrNoManifest
	}
	b, err := e.ReadAll(maxManifestSize)
	if err != nil {
		return &ManifestError{Err: err}
	}
	if a.ManifestDoc, err = axml.Decode(b); err != nil {
		return &ManifestError{Err: err}
	}
	if a.Manifest, err = axml.ParseManifest(a.ManifestDoc); err != nil {
		return &ManifestError{Err: err}
	}
	return nil
}

// VerifyOptions returns the options that verify this APK as Android would
// install it: from its minSdkVersion to the newest platform, with the
// refusals its targetSdkVersion and android:targetSandboxVersion bring.
func (a *APK) VerifyOptions() apksig.VerifyOptions {
	opts := apksig.VerifyOptions{MinSDK: a.Manifest.MinSDK, TargetSDK: a.Manifest.TargetSDK, TargetSandbox: 1}
	if v, ok := a.ManifestDoc.Root().AttrByID(axml.AttrTargetSandboxVersion); ok {
		if n, ok := v.Int(); ok {
			opts.TargetSandbox = int(n)
		}
	}
	return opts
}

// DexFiles returns the top-level classes*.dex entries in the order the
// platform loads them: classes.dex, classes2.dex, classes3.dex, ...
func (a *APK) DexFiles() []*zipx.Entry {
	var out []*zipx.Entry
	for _, e := range a.Zip.Entries {
		if _, ok := DexIndex(e.Name); ok {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := DexIndex(out[i].Name)
		b, _ := DexIndex(out[j].Name)
		return a < b
	})
	return out
}

// DexIndex returns N for "classesN.dex" (1 for "classes.dex"), or false.
func DexIndex(name string) (int, bool) {
	if !strings.HasPrefix(name, "classes") || !strings.HasSuffix(name, ".dex") {
		return 0, false
	}
	mid := strings.TrimSuffix(strings.TrimPrefix(name, "classes"), ".dex")
	if mid == "" {
		return 1, true
	}
	if mid[0] == '0' || len(mid) > 9 || strings.Trim(mid, "0123456789") != "" {
		return 0, false // only the names ART loads: classes2.dex, classes3.dex, …
	}
	n, _ := strconv.Atoi(mid)
	if n < 2 {
		return 0, false
	}
	return n, true
}

// NextDexName returns the name of the next free classesN.dex.
func (a *APK) NextDexName() string {
	last := 0
	for _, e := range a.DexFiles() {
		last, _ = DexIndex(e.Name)
	}
	if last == 0 {
		return "classes.dex"
	}
	return fmt.Sprintf("classes%d.dex", last+1)
}

// NativeLib is one lib/<abi>/*.so entry.
type NativeLib struct {
	Name   string `json:"name"`
	ABI    string `json:"abi"`
	Stored bool   `json:"stored"`
	// ZipAligned16K: a stored library starts on a 16 KiB boundary in the
	// archive, so it can be mapped in place on 16 KiB page devices.
	// Compressed libraries are extracted at install and need no alignment.
	ZipAligned16K bool `json:"zipAligned16k"`
	// ELFAlign is the smallest p_align of the library's PT_LOAD segments;
	// Android 15+ devices with 16 KiB pages need >= 16384. 0 if unreadable.
	ELFAlign uint64 `json:"elfAlign"`
}

// NativeLibs lists lib/<abi>/*.so entries.
func (a *APK) NativeLibs() []NativeLib {
	var out []NativeLib
	for _, e := range a.Zip.Entries {
		dir, file := path.Split(e.Name)
		parts := strings.Split(strings.TrimSuffix(dir, "/"), "/")
		if len(parts) != 2 || parts[0] != "lib" || !strings.HasSuffix(file, ".so") {
			continue
		}
		lib := NativeLib{Name: e.Name, ABI: parts[1], Stored: e.Stored()}
		lib.ZipAligned16K = !lib.Stored || e.DataOffset%zipx.DefaultSoAlign == 0
		lib.ELFAlign = elfLoadAlign(e)
		out = append(out, lib)
	}
	return out
}

// ABIs lists the ABIs with native libraries, sorted.
func ABIs(libs []NativeLib) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range libs {
		if !seen[l.ABI] {
			seen[l.ABI] = true
			out = append(out, l.ABI)
		}
	}
	sort.Strings(out)
	return out
}

// FileSHA256 returns the hex SHA-256 of the whole file.
func (a *APK) FileSHA256() (string, error) { return a.Zip.FileSHA256() }

// Idsig checks the APK Signature Scheme v4 file next to the APK
// (<apk>.idsig; v4 signatures live outside the archive). present says
// whether there is one; err, when not nil, says why it does not apply to
// this APK: unreadable or malformed (apksig.ErrV4Malformed), or signing
// another build (apksig.ErrV4Mismatch). It reads the APK twice when a file
// is present, nothing otherwise.
func (a *APK) Idsig() (present bool, err error) {
	f, err := os.Open(a.Path + apksig.IdsigSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return true, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false, err
	}
	v, err := apksig.ReadV4(f)
	if err != nil {
		return true, err
	}
	return true, v.Check(a.Zip.Reader)
}

// baseName is filepath.Base of the APK path.
func (a *APK) baseName() string { return filepath.Base(a.Path) }
