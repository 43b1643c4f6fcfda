package testenv

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Badging is what `aapt dump badging` reports about an APK's manifest.
type Badging struct {
	Package, VersionName string
	VersionCode          int64
	MinSDK, TargetSDK    int
	// Permissions are the uses-permission names in order, without the
	// permissions aapt adds as implied (each followed by a
	// uses-implied-permission line): those are not in the manifest.
	Permissions []string
	Launcher    string // first launchable-activity
}

var badgingField = regexp.MustCompile(`(\w+)='([^']*)'`)

// AaptBadging runs `aapt dump badging` on path and parses its output.
func AaptBadging(t testing.TB, path string) Badging {
	t.Helper()
	var b Badging
	implied := map[string]bool{}
	fields := func(l string) map[string]string {
		m := map[string]string{}
		for _, f := range badgingField.FindAllStringSubmatch(l, -1) {
			m[f[1]] = f[2]
		}
		return m
	}
	atoi := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("badging: %q is not a number", s)
		}
		return n
	}
	for _, l := range strings.Split(Run(t, "aapt", "dump", "badging", path), "\n") {
		key, rest, _ := strings.Cut(l, ":")
		rest = strings.TrimSpace(rest)
		switch key {
		case "package":
			f := fields(rest)
			b.Package, b.VersionName = f["name"], f["versionName"]
			b.VersionCode = int64(atoi(f["versionCode"]))
		case "sdkVersion":
			b.MinSDK = atoi(strings.Trim(rest, "'"))
		case "targetSdkVersion":
			b.TargetSDK = atoi(strings.Trim(rest, "'"))
		case "uses-permission":
			b.Permissions = append(b.Permissions, fields(rest)["name"])
		case "uses-implied-permission":
			implied[fields(rest)["name"]] = true
		case "launchable-activity":
			if b.Launcher == "" {
				b.Launcher = fields(rest)["name"]
			}
		}
	}
	b.Permissions = slices.DeleteFunc(b.Permissions, func(p string) bool { return implied[p] })
	return b
}
