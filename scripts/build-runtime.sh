#!/usr/bin/env bash
# Assemble the injected Android runtime (hand-written smali, DESIGN §4) into a
# dex with Debian's smali. Deterministic: the same sources give the same bytes,
# so CI rebuilds it and compares with the checked-in copy
# (fusion/runtime/android: TestRuntimeDexIsReproducible).
#
#   scripts/build-runtime.sh [OUT.dex]    default: fusion/runtime/android/runtime.dex
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/fusion/runtime/android/smali"
out=${1:-"$root/fusion/runtime/android/runtime.dex"}
api=21 # Android 5.0: GCMParameterSpec, Cipher.updateAAD (API 19) and dex 035

command -v smali >/dev/null || { echo "build-runtime: smali not installed: run scripts/install-deps.sh" >&2; exit 1; }

tmp=$(mktemp "${out}.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# One job: the output does not depend on thread scheduling. smali sorts the
# classes and strings itself, so file-system order does not matter either.
LC_ALL=C smali assemble --api "$api" --jobs 1 --output "$tmp" "$src"
if command -v dexdump >/dev/null; then
  dexdump -c "$tmp" >/dev/null || { echo "build-runtime: dexdump rejects the output" >&2; exit 1; }
fi
chmod 0644 "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
echo "build-runtime: wrote $out ($(wc -c <"$out") bytes)" >&2
