#!/usr/bin/env bash
# Build the injected runtimes. Deterministic: the same sources give the same
# bytes, so CI rebuilds them and compares with the checked-in copies.
#
# Android: hand-written smali (DESIGN §4) assembled into a dex with Debian's
# smali (fusion/runtime/android: TestRuntimeDexIsReproducible).
# iOS: C (the platform-independent core in fusion/runtime/ios/core, the
# Apple glue in fusion/runtime/ios/apple) compiled by clang-14 for
# arm64-apple-ios14.0 and linked by ld64.lld-14 against the hand-written
# .tbd stubs in fusion/runtime/ios/sdk into TrustFuse.framework/TrustFuse
# (fusion/runtime/ios: TestFrameworkIsReproducible). lld's LC_UUID is a hash
# of the output, so it is as stable as the rest; no timestamps are written.
#
#   scripts/build-runtime.sh                 both, to their checked-in paths
#   scripts/build-runtime.sh OUT.dex         the Android dex only
#   scripts/build-runtime.sh --ios [OUT]     the iOS framework binary only
#                                            (default fusion/runtime/ios/TrustFuse.framework/TrustFuse)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT
# build_android OUT: assemble the smali sources into OUT.
build_android() {
  local src="$root/fusion/runtime/android/smali"
  local out=$1
  local api=21 # Android 5.0: GCMParameterSpec, Cipher.updateAAD (API 19) and dex 035

  command -v smali >/dev/null || { echo "build-runtime: smali not installed: run scripts/install-deps.sh" >&2; exit 1; }

  local tmp
  tmp=$(mktemp "${out}.XXXXXX")
  cleanup+=("$tmp")
  # One job: the output does not depend on thread scheduling. smali sorts the
  # classes and strings itself, so file-system order does not matter either.
  LC_ALL=C smali assemble --api "$api" --jobs 1 --output "$tmp" "$src"
  if command -v dexdump >/dev/null; then
    dexdump -c "$tmp" >/dev/null || { echo "build-runtime: dexdump rejects the output" >&2; exit 1; }
  fi
  chmod 0644 "$tmp"
  mv -f "$tmp" "$out"
  echo "build-runtime: wrote $out ($(wc -c <"$out") bytes)" >&2
}

# build_ios OUT: compile every core/*.c and apple/*.c (sorted, paths relative
# to the repository so nothing machine-specific reaches the output) and link.
build_ios() {
  local out=$1 ios=fusion/runtime/ios work
  for t in clang-14 ld64.lld-14; do
    command -v "$t" >/dev/null || { echo "build-runtime: $t not installed: run scripts/install-deps.sh" >&2; exit 1; }
  done
  work=$(mktemp -d)
  cleanup+=("$work")
  local objs=() src
  cd "$root"
  for src in $(LC_ALL=C ls "$ios"/core/*.c "$ios"/apple/*.c 2>/dev/null); do
    local o
    o="$work/$(echo "$src" | tr / _).o"
    # -ffreestanding -nostdlibinc: clang's own stddef/stdint/stdbool only
    # (no SDK here: apple/apple.h declares the Apple API the glue calls,
    # apple/libc the few libc functions the core calls).
    clang-14 --target=arm64-apple-ios14.0 -ffreestanding -nostdlibinc -fblocks -Os \
      -fvisibility=hidden -Wall -Wextra -Werror -isystem "$ios/apple/libc" -I "$ios/core" -I "$ios/apple" \
      -fdebug-prefix-map="$root"=. -fmacro-prefix-map="$root"=. -c "$src" -o "$o"
    objs+=("$o")
  done
  ld64.lld-14 -arch arm64 -platform_version ios 14.0 16.0 -dylib \
    -install_name @rpath/TrustFuse.framework/TrustFuse -current_version 1.0 -compatibility_version 1.0 \
    -o "$work/TrustFuse" "${objs[@]}" "$ios"/sdk/libSystem.tbd "$ios"/sdk/libobjc.tbd \
    "$ios"/sdk/CoreFoundation.tbd "$ios"/sdk/Foundation.tbd "$ios"/sdk/Security.tbd \
    -needed_library "$ios"/sdk/CFNetwork.tbd
  mkdir -p "$(dirname "$out")"
  chmod 0755 "$work/TrustFuse"
  mv -f "$work/TrustFuse" "$out"
  echo "build-runtime: wrote $out ($(wc -c <"$out") bytes)" >&2
}

case "${1-}" in
--ios) build_ios "$(realpath -m "${2:-$root/fusion/runtime/ios/TrustFuse.framework/TrustFuse}")" ;;
"") build_android "$root/fusion/runtime/android/runtime.dex"
  build_ios "$root/fusion/runtime/ios/TrustFuse.framework/TrustFuse" ;;
*) build_android "$1" ;;
esac
