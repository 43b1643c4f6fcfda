// The runtime binary: TrustFuse.framework/TrustFuse, built by
// scripts/build-runtime.sh --ios from core/ and apple/ against the .tbd
// stubs in sdk/ (docs/runtime.md, "iOS: Apple glue", says what it does on a
// device and what is proven here only structurally).

package iosrt

import _ "embed"

// Framework is the runtime binary (Mach-O MH_DYLIB, arm64, LC_BUILD_VERSION
// iOS 14.0, install name InstallName, unsigned: the fuse pipeline writes it
// to Executable and signs it with the app). Callers must not modify it.
//
//go:embed TrustFuse.framework/TrustFuse
var Framework []byte

// AcknowledgeSymbol is the C function the runtime exports for apps:
// void TrustFuseAcknowledge(const char *threatCode), called (through dlsym)
// after the app acted on a detect-mode Threat-Event, so fail-safe
// enforcement of that threat is skipped.
const AcknowledgeSymbol = "TrustFuseAcknowledge"
