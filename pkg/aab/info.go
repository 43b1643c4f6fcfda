package aab

import (
	"sort"

	"github.com/trustfuse/trustfuse/pkg/apksig"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// SchemeJAR names JAR signing in Info.Signing.Schemes: a bundle's only
// signature (an APK's JAR signature is listed as "v1").
const SchemeJAR = "jar"

// Info is the summary `trustfuse inspect` prints for a bundle. Fields that
// mean the same as in apk.Info have the same JSON names; docs/inspect.md
// documents both. Fields are added, never renamed or removed.
type Info struct {
	Format           string   `json:"format"` // "aab"
	File             string   `json:"file"`
	Size             int64    `json:"size"`
	SHA256           string   `json:"sha256"`
	Package          string   `json:"package"`
	VersionCode      int64    `json:"versionCode"`
	VersionName      string   `json:"versionName"`
	MinSDK           int      `json:"minSdk"`
	TargetSDK        int      `json:"targetSdk"`
	Application      string   `json:"application"`
	LauncherActivity string   `json:"launcherActivity"`
	Permissions      []string `json:"permissions"` // the base module's
	// Dex lists every module's dex entries, base first.
	Dex []string `json:"dex"`
	// ABIs is the union of the modules' ABIs, sorted.
	ABIs    []string     `json:"abis"`
	Modules []ModuleInfo `json:"modules"`
	Signing Signing      `json:"signing"`
	// Warnings are the archive oddities Android accepts (zipx.Warning).
	Warnings []zipx.Warning `json:"warnings"`
}

// ModuleInfo summarises one module.
type ModuleInfo struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`     // base, feature, asset-pack, ml-pack
	Delivery string   `json:"delivery"` // install-time, on-demand, fast-follow, "" if unsaid
	Dex      []string `json:"dex"`
	ABIs     []string `json:"abis"`
	Assets   int      `json:"assets"` // files under <module>/assets/
}

// Signing summarises the JAR signature as found, not verified (same shape
// as apk.Signing).
type Signing struct {
	Schemes []string       `json:"schemes"` // ["jar"] when signed
	Signers []string       `json:"signers"` // hex SHA-256 of the signer certificates
	Errors  []apksig.Issue `json:"errors,omitempty"`
}

// Info gathers the summary of the bundle read from the file named file. It
// hashes the file and reads the signers from the signature blocks without
// verifying them (`trustfuse verify` does).
func (b *Bundle) Info(file string) (*Info, error) {
	sum, err := b.FileSHA256()
	if err != nil {
		return nil, err
	}
	m := b.Base().Manifest
	info := &Info{
		Format: "aab", File: file, Size: b.Zip.Size(), SHA256: sum,
		Package: m.Package, VersionCode: m.VersionCode, VersionName: m.VersionName,
		MinSDK: m.MinSDK, TargetSDK: m.TargetSDK,
		Application: m.Application, LauncherActivity: m.LauncherActivity,
		Permissions: nonNil(m.Permissions), Dex: []string{}, ABIs: []string{}, Modules: []ModuleInfo{},
		Warnings: append([]zipx.Warning{}, b.Zip.Warnings...),
	}
	abis := map[string]bool{}
	for _, mod := range b.Modules {
		mi := ModuleInfo{Name: mod.Name, Type: string(mod.Type), Delivery: mod.Delivery,
			Dex: []string{}, ABIs: nonNil(mod.ABIs), Assets: mod.Assets}
		for _, e := range mod.Dex {
			mi.Dex = append(mi.Dex, e.Name)
			info.Dex = append(info.Dex, e.Name)
		}
		for _, a := range mod.ABIs {
			abis[a] = true
		}
		info.Modules = append(info.Modules, mi)
	}
	for a := range abis {
		info.ABIs = append(info.ABIs, a)
	}
	sort.Strings(info.ABIs)

	peek := apksig.Peek(b.Zip)
	info.Signing = Signing{Schemes: []string{}, Signers: peek.SignerDigests(), Errors: peek.AllErrors()}
	if info.Signing.Signers == nil {
		info.Signing.Signers = []string{}
	}
	if peek.V1.Present {
		info.Signing.Schemes = append(info.Signing.Schemes, SchemeJAR)
	}
	return info, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
