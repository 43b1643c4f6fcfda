// Package iosrt holds the runtime injected into fused iOS apps:
// TrustFuse.framework/TrustFuse, built by scripts/build-runtime.sh --ios from
// the platform-independent C core (core/) and the Apple glue (apple/)
// against the .tbd stubs in sdk/, and embedded here.
//
// The binary is an unsigned arm64 iOS 14 dylib; the fuse pipeline adds it
// as Payload/<App>.app/Frameworks/TrustFuse.framework/TrustFuse next to the
// resources it reads (Info.plist, policy.bin, vault.bin, key.bin) and signs
// it with the app. docs/runtime.md ("iOS: Apple glue") says what it does on
// a device and what is proven here only structurally.
package iosrt

import _ "embed"

// Framework is the runtime binary (Mach-O MH_DYLIB, arm64, LC_BUILD_VERSION
// iOS 14.0, unsigned). Callers must not modify it.
//
//go:embed TrustFuse.framework/TrustFuse
var Framework []byte

// InstallName is the binary's LC_ID_DYLIB name: the path the app's
// LC_LOAD_DYLIB names, found through LC_RPATH @executable_path/Frameworks.
const InstallName = "@rpath/TrustFuse.framework/TrustFuse"

// The resources the runtime reads from its own framework directory (the
// directory of the loaded binary, found with dladdr).
const (
	PolicyResource = "policy.bin" // the Android policy encoding; its SHA-256 is the vault's associated data
	VaultResource  = "vault.bin"  // pkg/vault.Seal output for vault.IOSSignerDigest(team id, bundle id)
	KeyResource    = "key.bin"    // the pepper (pkg/vault.PepperSize bytes)
)

// AcknowledgeSymbol is the C function the runtime exports for apps:
// void TrustFuseAcknowledge(const char *threatCode), called (through dlsym)
// after the app acted on a detect-mode Threat-Event, so fail-safe
// enforcement of that threat is skipped.
const AcknowledgeSymbol = "TrustFuseAcknowledge"
