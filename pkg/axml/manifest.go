package axml

import (
	"fmt"
	"strconv"
	"strings"
)

// Intent names that make an activity the launcher entry.
const (
	actionMain       = "android.intent.action.MAIN"
	categoryLauncher = "android.intent.category.LAUNCHER"
)

// devSDK is the API level the platform gives a preview codename
// (Build.VERSION_CODES.CUR_DEVELOPMENT).
const devSDK = 10000

// Manifest is what `inspect` and the fuse pipeline read from
// AndroidManifest.xml. android: attributes are looked up by resource ID, as
// the platform does. A value given as a resource reference is reported as
// "@0xPPTTEEEE" (resolving it needs resources.arsc).
type Manifest struct {
	Package     string
	VersionCode int64  // 0 if absent or not an integer
	VersionName string // "" if absent
	// MinSDK is uses-sdk/@minSdkVersion, 1 if absent (the platform default);
	// a preview codename reads as 10000.
	MinSDK int
	// TargetSDK is uses-sdk/@targetSdkVersion, MinSDK if absent.
	TargetSDK int
	// Application is the fully qualified application/@android:name, "" if none.
	Application string
	// Permissions lists uses-permission/@android:name in document order.
	Permissions []string
	// LauncherActivity is the fully qualified name of the first activity or
	// activity-alias with an intent filter for action MAIN and category
	// LAUNCHER, "" if none.
	LauncherActivity string
}

// ParseManifest reads the Manifest view of a decoded AndroidManifest.xml.
func ParseManifest(d *Document) (*Manifest, error) {
	root := d.Root()
	if root == nil {
		return nil, ErrNoRoot
	}
	return ReadManifest(root)
}

// ManifestNode is the read-only view of an element that ReadManifest needs.
// *Element implements it, and so does the element of the protobuf XML codec
// (pkg/protoxml), so both manifest encodings are read by one piece of code.
type ManifestNode[E any] interface {
	Name() string
	AttrByID(id ResID) (Value, bool)
	Attr(ns, name string) (Value, bool)
	Children() []E
}

// ReadManifest reads the Manifest view from the root element of a manifest.
func ReadManifest[E ManifestNode[E]](root E) (*Manifest, error) {
	if root.Name() != "manifest" {
		return nil, fmt.Errorf("%w: root is <%s>", ErrNotManifest, root.Name())
	}
	m := &Manifest{MinSDK: 1}
	if v, ok := root.Attr("", "package"); ok {
		m.Package = v.String()
	}
	if v, ok := root.AttrByID(AttrVersionCode); ok {
		m.VersionCode, _ = v.Int()
	}
	if v, ok := root.AttrByID(AttrVersionName); ok {
		m.VersionName = v.String()
	}
	target := 0
	if sdks := childrenNamed(root, "uses-sdk"); len(sdks) > 0 {
		if v, ok := sdks[0].AttrByID(AttrMinSdkVersion); ok {
			m.MinSDK = sdkLevel(v)
		}
		if v, ok := sdks[0].AttrByID(AttrTargetSdkVersion); ok {
			target = sdkLevel(v)
		}
	}
	m.TargetSDK = target
	if target == 0 {
		m.TargetSDK = m.MinSDK
	}
	for _, p := range childrenNamed(root, "uses-permission") {
		if v, ok := p.AttrByID(AttrName); ok {
			m.Permissions = append(m.Permissions, v.String())
		}
	}
	apps := childrenNamed(root, "application")
	if len(apps) == 0 {
		return m, nil
	}
	if v, ok := apps[0].AttrByID(AttrName); ok {
		m.Application = ClassName(m.Package, v.String())
	}
	for _, c := range apps[0].Children() {
		if n := c.Name(); n != "activity" && n != "activity-alias" {
			continue
		}
		if isLauncher(c) {
			if v, ok := c.AttrByID(AttrName); ok {
				m.LauncherActivity = ClassName(m.Package, v.String())
				break
			}
		}
	}
	return m, nil
}

// childrenNamed returns the child elements of e with the given local name.
func childrenNamed[E ManifestNode[E]](e E, name string) []E {
	var out []E
	for _, c := range e.Children() {
		if c.Name() == name {
			out = append(out, c)
		}
	}
	return out
}

// isLauncher reports whether an activity has an intent filter with action
// MAIN and category LAUNCHER.
func isLauncher[E ManifestNode[E]](activity E) bool {
	for _, f := range childrenNamed(activity, "intent-filter") {
		var main, launcher bool
		for _, c := range f.Children() {
			v, _ := c.AttrByID(AttrName)
			switch c.Name() {
			case "action":
				main = main || v.String() == actionMain
			case "category":
				launcher = launcher || v.String() == categoryLauncher
			}
		}
		if main && launcher {
			return true
		}
	}
	return false
}

// sdkLevel reads an SDK version: an integer, or a preview codename.
func sdkLevel(v Value) int {
	if n, ok := v.Int(); ok {
		return int(n)
	}
	if s := v.String(); s != "" && !strings.HasPrefix(s, "@") {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
		return devSDK
	}
	return 0
}

// ClassName resolves a component name from the manifest against the package,
// as the platform does: ".Main" and "Main" become "pkg.Main"; a name with a
// dot elsewhere is already fully qualified.
func ClassName(pkg, name string) string {
	switch {
	case name == "" || strings.HasPrefix(name, "@"):
		return name
	case strings.HasPrefix(name, "."):
		return pkg + name
	case !strings.Contains(name, "."):
		return pkg + "." + name
	}
	return name
}

// AddUsesPermission adds <uses-permission android:name=perm/> to the manifest
// (before <application>, where aapt puts it) unless it is already there, and
// reports whether it added it.
func (d *Document) AddUsesPermission(perm string) (bool, error) {
	root := d.Root()
	if root == nil {
		return false, ErrNoRoot
	}
	if root.Name() != "manifest" {
		return false, fmt.Errorf("%w: root is <%s>", ErrNotManifest, root.Name())
	}
	for _, p := range root.FindChildren("uses-permission") {
		if v, ok := p.AttrByID(AttrName); ok && v.String() == perm {
			return false, nil
		}
	}
	el, err := d.insertElement(root, root.FindChild("application"), "uses-permission")
	if err != nil {
		return false, err
	}
	if err := d.SetAndroidAttr(el, AttrName, StringValue(perm)); err != nil {
		return false, err
	}
	return true, nil
}
