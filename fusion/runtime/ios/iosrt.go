// Package iosrt holds the iOS runtime's contract with the fuse pipeline:
// the layout of TrustFuse.framework inside a fused app. The runtime itself
// is C: core/ is the platform-independent part (policy, vault, threat
// scoring, Threat-Events, measurement, code-signature reading; the host
// tests of this package compile and run it), apple/ the glue to Apple's
// frameworks. docs/runtime.md describes what runs on the device.
package iosrt

// Paths inside the app bundle (Payload/<App>.app/).
const (
	// FrameworkDir is the runtime framework's bundle.
	FrameworkDir = "Frameworks/TrustFuse.framework/"
	// Executable is the runtime binary; InstallName is its LC_ID_DYLIB and
	// the LC_LOAD_DYLIB the fuse pipeline adds to the main executable.
	Executable  = FrameworkDir + "TrustFuse"
	InstallName = "@rpath/TrustFuse.framework/TrustFuse"
	// PolicyResource holds the policy: the Android runtime's encoding
	// (androidrt.Policy.Encode); its SHA-256 is the vault's associated data.
	PolicyResource = FrameworkDir + "policy.bin"
	// VaultResource holds the vault.Seal output, sealed to
	// vault.IOSSignerDigest(team id, bundle id).
	VaultResource = FrameworkDir + "vault.bin"
	// PepperResource holds the vault's pepper (vault.PepperSize bytes).
	PepperResource = FrameworkDir + "key.bin"
)

// BundleID is the runtime framework's CFBundleIdentifier.
const BundleID = "io.trustfuse.runtime"

// InfoPlist is the runtime framework's Info.plist (FrameworkDir +
// "Info.plist"): the keys a framework bundle needs, and the version keys
// App Store validation asks of an embedded framework.
const InfoPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CFBundleExecutable</key>
	<string>TrustFuse</string>
	<key>CFBundleIdentifier</key>
	<string>` + BundleID + `</string>
	<key>CFBundleInfoDictionaryVersion</key>
	<string>6.0</string>
	<key>CFBundlePackageType</key>
	<string>FMWK</string>
	<key>CFBundleShortVersionString</key>
	<string>1.0</string>
	<key>CFBundleVersion</key>
	<string>1</string>
	<key>MinimumOSVersion</key>
	<string>14.0</string>
</dict>
</plist>
`
