package apk

import (
	"errors"
	"fmt"

	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// Info is the summary `trustfuse inspect` prints. Its JSON form is a stable,
// documented interface (docs/inspect.md): fields are added, never renamed or
// removed.
type Info struct {
	Format           string      `json:"format"` // "apk" ("aab" in aab.Info)
	File             string      `json:"file"`
	Size             int64       `json:"size"`
	SHA256           string      `json:"sha256"`
	Package          string      `json:"package"`
	VersionCode      int64       `json:"versionCode"`
	VersionName      string      `json:"versionName"`
	MinSDK           int         `json:"minSdk"`
	TargetSDK        int         `json:"targetSdk"`
	Application      string      `json:"application"`
	LauncherActivity string      `json:"launcherActivity"`
	Permissions      []string    `json:"permissions"`
	Dex              []string    `json:"dex"`
	ABIs             []string    `json:"abis"`
	NativeLibs       []NativeLib `json:"nativeLibs"`
	// ZipAligned16K: every stored native library starts on a 16 KiB
	// boundary (true when there are none).
	ZipAligned16K bool `json:"zipAligned16k"`
	// ELFAligned16K: every native library's LOAD segments are aligned to at
	// least 16 KiB (true when there are none).
	ELFAligned16K bool    `json:"elfAligned16k"`
	Signing       Signing `json:"signing"`
	// Warnings are the archive oddities Android accepts (zipx.Warning,
	// stable codes listed in docs/inspect.md); empty for a plain archive.
	Warnings []zipx.Warning `json:"warnings"`
}

// Signing summarises the signatures as found, not verified.
type Signing struct {
	// Schemes present: "v1", "v2", "v3", "v3.1", and "v4" when an .idsig
	// file next to the APK signs this very APK (else a warning says why
	// it does not apply).
	Schemes []string `json:"schemes"`
	// Signers are the hex SHA-256 digests of the signer certificates, newest
	// scheme first, each once, as `apksigner verify --print-certs` prints them.
	Signers []string       `json:"signers"`
	Errors  []apksig.Issue `json:"errors,omitempty"`
	// Warnings: V4_SIGNATURE_MALFORMED, V4_SIGNATURE_MISMATCH when the
	// .idsig next to the APK is unreadable or signs another APK.
	Warnings []apksig.Issue `json:"warnings,omitempty"`
}

// Info gathers the summary. It hashes the file and reads the signers from
// the signature blocks without verifying them (apksig.Peek): that is the job
// of `trustfuse verify`, and it would read every entry.
func (a *APK) Info() (*Info, error) {
	sum, err := a.FileSHA256()
	if err != nil {
		return nil, err
	}
	sig := apksig.Peek(a.Zip.Reader)
	idsig, idsigErr := a.Idsig()
	m := a.Manifest
	libs := a.NativeLibs()
	info := &Info{
		Format:           "apk",
		File:             a.baseName(),
		Size:             a.Zip.Size(),
		SHA256:           sum,
		Package:          m.Package,
		VersionCode:      m.VersionCode,
		VersionName:      m.VersionName,
		MinSDK:           m.MinSDK,
		TargetSDK:        m.TargetSDK,
		Application:      m.Application,
		LauncherActivity: m.LauncherActivity,
		Permissions:      nonNil(m.Permissions),
		Dex:              []string{},
		ABIs:             nonNil(ABIs(libs)),
		NativeLibs:       libs,
		ZipAligned16K:    true,
		ELFAligned16K:    true,
		Signing:          signing(sig, idsig, idsigErr),
		Warnings:         append([]zipx.Warning{}, a.Zip.Warnings...),
	}
	if info.NativeLibs == nil {
		info.NativeLibs = []NativeLib{}
	}
	for _, e := range a.DexFiles() {
		info.Dex = append(info.Dex, e.Name)
	}
	for _, l := range libs {
		info.ZipAligned16K = info.ZipAligned16K && l.ZipAligned16K
		info.ELFAligned16K = info.ELFAligned16K && l.ELFAlign >= 16<<10
	}
	return info, nil
}

// signing summarises r and the .idsig check (APK.Idsig): "v4" is claimed
// only for a v4 file that signs this APK.
func signing(r *apksig.Result, idsig bool, idsigErr error) Signing {
	s := Signing{Schemes: []string{}, Signers: r.SignerDigests(), Errors: r.AllErrors()}
	for _, sc := range r.Schemes() {
		s.Schemes = append(s.Schemes, string(sc))
	}
	switch {
	case !idsig:
	case idsigErr == nil:
		s.Schemes = append(s.Schemes, string(apksig.V4))
	case errors.Is(idsigErr, apksig.ErrV4Mismatch):
		s.Warnings = append(s.Warnings, apksig.Issue{Code: "V4_SIGNATURE_MISMATCH",
			Message: fmt.Sprintf("%s next to the APK does not apply to it: %v", apksig.IdsigSuffix, idsigErr)})
	default:
		s.Warnings = append(s.Warnings, apksig.Issue{Code: "V4_SIGNATURE_MALFORMED",
			Message: fmt.Sprintf("%s next to the APK cannot be read: %v", apksig.IdsigSuffix, idsigErr)})
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
