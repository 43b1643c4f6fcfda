// Package androidrt holds the runtime injected into fused Android apps: the
// hand-written smali sources under smali/, the dex assembled from them by
// scripts/build-runtime.sh (embedded here), and the Go side of the contract
// between the fuse pipeline and that runtime: asset names, the policy
// encoding and the key part (pepper) compiled into the dex.
//
// docs/runtime.md describes what the runtime does on the device, the formats
// of the two assets and the limits of the protection.
package androidrt

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
)

//go:embed runtime.dex
var runtimeDex []byte

// Dex returns a copy of the runtime dex, to be added as the app's next
// classesN.dex.
func Dex() []byte { return append([]byte(nil), runtimeDex...) }

// ProviderClass is the runtime's android.content.ContentProvider subclass that
// the fuse pipeline declares in the manifest. Providers are created before
// Application.onCreate, so the identity is in place before app code runs.
const ProviderClass = "io.trustfuse.runtime.Init"

// Asset names, relative to the APK root.
const (
	VaultAsset  = "assets/trustfuse/vault.bin"  // sealed identity (pkg/vault format)
	PolicyAsset = "assets/trustfuse/policy.bin" // Policy.Encode output
)

// VaultAssetFor names a vault sealed to one particular signer. The runtime
// first looks for the vault named after the digest of the certificate that
// signed the installed app, then falls back to VaultAsset. A pipeline that
// allows several signers (the upload key and Google Play App Signing) seals
// one vault per signer digest under these names, since each vault only
// unseals for the signer it was sealed to.
func VaultAssetFor(signerDigest [32]byte) string {
	return "assets/trustfuse/vault-" + hex.EncodeToString(signerDigest[:]) + ".bin"
}

// pepperHex is the key part compiled into runtime.dex: the 32 bytes of the
// fill-array-data payload in smali/io/trustfuse/runtime/Vault.smali. It is
// the same for every app fused with this runtime build (see docs/runtime.md).
const pepperHex = "fcb17ba1511db027df94ef1ea512a1a2e7bfa20e066ce3b5c4c32a61cec0be9d"

// Pepper returns the 32-byte key part compiled into the runtime dex, for
// vault.Seal and vault.Open.
func Pepper() []byte {
	p, err := hex.DecodeString(pepperHex)
	if err != nil || len(p) != 32 {
		panic(fmt.Sprintf("androidrt: bad pepper constant: %v", err))
	}
	return p
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
