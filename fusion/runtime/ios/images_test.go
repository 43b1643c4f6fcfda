package iosrt_test

import "testing"

// TestImageExpected: which dyld image paths the tamper check accepts in
// the app's process — iOS's own code locations as dyld names them on a
// device (the shared cache's /usr/lib and /System/Library paths, the
// iOS 16+ cryptexes, the DeveloperDiskImage) and the app's bundle — and
// which it reports as unexpected dylibs: a rootless jailbreak's /var/jb,
// a rootful one's /Library/MobileSubstrate, a library next to the app,
// paths that climb out of the app with "..", relative paths.
func TestImageExpected(t *testing.T) {
	const app = "/private/var/containers/Bundle/Application/0C3B7E1E-6F43-4D0B-9B0C-6A5F1E2D3C4B/Demo.app"
	for _, c := range []struct {
		image, appDir string
		want          string
	}{
		{"/usr/lib/libobjc.A.dylib", app, "1"},
		{"/usr/lib/system/libsystem_kernel.dylib", app, "1"},
		{"/System/Library/Frameworks/Foundation.framework/Foundation", app, "1"},
		{"/System/Library/PrivateFrameworks/UIKitCore.framework/UIKitCore", app, "1"},
		{"/System/Cryptexes/OS/System/Library/Frameworks/WebKit.framework/WebKit", app, "1"},
		{"/private/preboot/Cryptexes/OS/usr/lib/libswiftCore.dylib", app, "1"},
		{"/Developer/usr/lib/libMainThreadChecker.dylib", app, "1"},
		{app + "/Demo", app, "1"},
		{app + "/Frameworks/TrustFuse.framework/TrustFuse", app, "1"},
		{app + "/Frameworks/TrustFuse.framework/TrustFuse", app + "/", "1"},
		{"", app, "1"}, // dyld names no path: nothing to judge
		{"/var/jb/usr/lib/TweakInject/Evil.dylib", app, "0"},
		{"/Library/MobileSubstrate/DynamicLibraries/Evil.dylib", app, "0"},
		{"/private/var/mobile/Library/evil.dylib", app, "0"},
		{app + ".evil/x.dylib", app, "0"},
		{app + "/../Evil.app/x.dylib", app, "0"},
		{app + "/./Frameworks/x.dylib", app, "0"},
		{"/usr/lib/../../var/jb/x.dylib", app, "0"},
		{"usr/lib/libobjc.A.dylib", app, "0"},
		{"/usr/lib/", app, "0"},
		{app, app, "0"},
		{app + "/Frameworks/x.dylib", "", "0"},
	} {
		if got := mustRun(t, "image-expected", c.image, c.appDir); got != c.want {
			t.Errorf("image-expected %q %q = %s, want %s", c.image, c.appDir, got, c.want)
		}
	}
}
