#!/usr/bin/env bash
# Build the iOS fixtures in testdata/ios (DESIGN §5): Mach-O binaries made by
# clang-14 + ld64.lld-14 against a hand-written libSystem .tbd, a minimal
# unsigned Demo.ipa (and DemoFull.ipa: the same app with a watch app, an
# en.lproj resource and a symlink), and a fake Apple PKI with provisioning
# profiles.
#
# The binaries and the .ipa are deterministic (lld hashes the output into
# LC_UUID; the zip has fixed times). Keys and certificates are made once and
# kept when present (openssl 3.0 cannot pin validity dates), so profiles are
# signed without signed attributes (-noattr: no signing time) and come out the
# same on every run. Delete testdata/ios/pki to make a new PKI.
#
# lld writes no LC_CODE_SIGNATURE for iOS targets: every binary here is
# unsigned, as our signer adds the signature. Ends with a self-check by
# independent tools: llvm-objdump-14, Debian's python3 macholib, plistutil,
# openssl cms -verify.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/testdata/ios
pki=$out/pki
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$pki"
export SOURCE_DATE_EPOCH=1700000000
TEAM=ABCDE12345

# --- libSystem stub: the only library the fixtures link against ------------
cat >"$work/libSystem.tbd" <<'EOF'
--- !tapi-tbd
tbd-version:     4
targets:         [ arm64-ios, x86_64-ios-simulator, armv7-ios, arm64_32-watchos ]
install-name:    '/usr/lib/libSystem.B.dylib'
current-version: 1311
exports:
  - targets:     [ arm64-ios, x86_64-ios-simulator, armv7-ios, arm64_32-watchos ]
    symbols:     [ _puts, _strlen, dyld_stub_binder ]
...
EOF

# --- C sources (no SDK here: prototypes are declared, not included) ----------
cat >"$work/kit.c" <<'EOF'
unsigned long strlen(const char *);
int demokit_version(void) { return 3; }
unsigned long demokit_len(const char *s) { return strlen(s); }
EOF
cat >"$work/util.c" <<'EOF'
int demo_util_add(int a, int b) { return a + b; }
EOF
cat >"$work/main.c" <<'EOF'
int puts(const char *);
int demokit_version(void);
int demo_util_add(int, int);
int main(void) { puts("demo"); return demo_util_add(demokit_version(), -3); }
EOF
cat >"$work/widget.c" <<'EOF'
int puts(const char *);
int main(void) { puts("widget"); return 0; }
EOF

# cc TARGET SRC OBJ
cc() { clang-14 --target="$1" -nostdinc -Os -fno-unwind-tables -fno-asynchronous-unwind-tables -c "$2" -o "$3"; }
# ld PLATFORM ARCH OUT OBJ... [extra ld flags after --]
ld() {
  local plat=$1 arch=$2 o=$3; shift 3
  ld64.lld-14 -arch "$arch" -platform_version "$plat" 14.0 16.0 -o "$o" \
    "$work/libSystem.tbd" "$@"
}

# Framework: fat arm64 (device) + x86_64 (simulator), as prebuilt pods ship.
cc arm64-apple-ios14.0 "$work/kit.c" "$work/kit-arm64.o"
cc x86_64-apple-ios14.0-simulator "$work/kit.c" "$work/kit-x86_64.o"
ld ios arm64 "$work/DemoKit-arm64" "$work/kit-arm64.o" -dylib -install_name @rpath/DemoKit.framework/DemoKit
ld ios-simulator x86_64 "$work/DemoKit-x86_64" "$work/kit-x86_64.o" -dylib -install_name @rpath/DemoKit.framework/DemoKit
llvm-lipo-14 -create "$work/DemoKit-arm64" "$work/DemoKit-x86_64" -output "$out/DemoKit.fat"

# Plain dylib, arm64 only.
cc arm64-apple-ios14.0 "$work/util.c" "$work/util.o"
ld ios arm64 "$out/libdemo.dylib" "$work/util.o" -dylib -install_name @rpath/libdemo.dylib

# Main executable: links the framework and the dylib, room for load commands.
cc arm64-apple-ios14.0 "$work/main.c" "$work/main.o"
ld ios arm64 "$out/Demo" "$work/main.o" "$work/DemoKit-arm64" "$out/libdemo.dylib" \
  -rpath @executable_path/Frameworks -headerpad 0x1000

# App extension executable: lld's default (small) header padding.
cc arm64-apple-ios14.0 "$work/widget.c" "$work/widget.o"
ld ios arm64 "$out/DemoWidget" "$work/widget.o" -rpath @executable_path/../../Frameworks

# 32-bit slices real IPAs still carry: an old app's armv7 + arm64 fat
# executable (lld-14 cannot relocate armv7 calls: that slice calls nothing)
# and a watch app's arm64_32 executable.
echo 'int main(void) { return 7; }' >"$work/legacy.c"
cc armv7-apple-ios10.0 "$work/legacy.c" "$work/legacy-armv7.o"
ld ios armv7 "$work/Legacy-armv7" "$work/legacy-armv7.o"
ld ios arm64 "$work/Legacy-arm64" "$work/widget.o"
llvm-lipo-14 -create "$work/Legacy-armv7" "$work/Legacy-arm64" -output "$out/Legacy.fat"
cc arm64_32-apple-watchos7.0 "$work/widget.c" "$work/watch.o"
ld64.lld-14 -arch arm64_32 -platform_version watchos 7.0 9.0 -o "$out/DemoWatch" "$work/libSystem.tbd" "$work/watch.o"

# --- Payload/Demo.app -> Demo.ipa (unsigned) ---------------------------------
info() { # BUNDLE-ID EXECUTABLE PACKAGE-TYPE [extra plist XML]
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CFBundleExecutable</key>
	<string>$2</string>
	<key>CFBundleIdentifier</key>
	<string>$1</string>
	<key>CFBundleName</key>
	<string>$2</string>
	<key>CFBundlePackageType</key>
	<string>$3</string>
	<key>CFBundleShortVersionString</key>
	<string>1.0</string>
	<key>CFBundleVersion</key>
	<string>1</string>
	<key>MinimumOSVersion</key>
	<string>14.0</string>
	<key>CFBundleSupportedPlatforms</key>
	<array>
		<string>iPhoneOS</string>
	</array>${4-}
</dict>
</plist>
EOF
}
app=$work/Payload/Demo.app
mkdir -p "$app/Frameworks/DemoKit.framework" "$app/PlugIns/DemoWidget.appex"
cp "$out/Demo" "$app/Demo"
cp "$out/libdemo.dylib" "$app/Frameworks/libdemo.dylib"
cp "$out/DemoKit.fat" "$app/Frameworks/DemoKit.framework/DemoKit"
cp "$out/DemoWidget" "$app/PlugIns/DemoWidget.appex/DemoWidget"
# The app's Info.plist is binary, as Xcode ships it; the others stay XML.
info com.example.demo Demo APPL "
	<key>UIDeviceFamily</key>
	<array>
		<integer>1</integer>
	</array>" >"$work/Info.xml"
plistutil -i "$work/Info.xml" -o "$app/Info.plist" -f bin
info com.example.demo.DemoKit DemoKit FMWK >"$app/Frameworks/DemoKit.framework/Info.plist"
info com.example.demo.widget DemoWidget XPC! "
	<key>NSExtension</key>
	<dict>
		<key>NSExtensionPointIdentifier</key>
		<string>com.apple.widgetkit-extension</string>
	</dict>" >"$app/PlugIns/DemoWidget.appex/Info.plist"
printf 'hello\n' >"$app/greeting.txt"
cat >"$work/zipdir.py" <<'EOF'
# zipdir.py BASE DST: zip BASE/Payload into DST, sorted, fixed times;
# a symlink is stored as one (Unix mode 0120777, the target as content).
import os, sys, zipfile
base, dst = sys.argv[1], sys.argv[2]
paths = []
for d, dirs, files in os.walk(os.path.join(base, "Payload")):
    dirs.sort()
    paths += [os.path.join(d, f) for f in sorted(files)]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    for p in paths:
        zi = zipfile.ZipInfo(os.path.relpath(p, base), (2023, 11, 14, 22, 13, 20))
        zi.compress_type = zipfile.ZIP_DEFLATED
        if os.path.islink(p):
            zi.external_attr = 0o120777 << 16
            z.writestr(zi, os.readlink(p))
            continue
        zi.external_attr = (0o100755 if os.access(p, os.X_OK) else 0o100644) << 16
        with open(p, "rb") as f:
            z.writestr(zi, f.read())
EOF
/usr/bin/python3 "$work/zipdir.py" "$work" "$out/Demo.ipa"

# --- DemoFull.ipa: Demo.app plus a watch app, a localized resource, a symlink --
full=$work/full
mkdir -p "$full"
cp -a "$work/Payload" "$full/Payload"
fapp=$full/Payload/Demo.app
mkdir -p "$fapp/Watch/DemoWatch.app" "$fapp/en.lproj"
cp "$out/DemoWatch" "$fapp/Watch/DemoWatch.app/DemoWatch"
info com.example.demo.watchkitapp DemoWatch APPL "
	<key>WKApplication</key>
	<true/>
	<key>WKCompanionAppBundleIdentifier</key>
	<string>com.example.demo</string>" |
  sed 's|<string>14.0</string>|<string>7.0</string>|; s|iPhoneOS|WatchOS|' >"$fapp/Watch/DemoWatch.app/Info.plist"
printf '"greeting" = "Hello";\n' >"$fapp/en.lproj/Localizable.strings"
ln -s greeting.txt "$fapp/hello.txt"
/usr/bin/python3 "$work/zipdir.py" "$full" "$out/DemoFull.ipa"

# --- Fake Apple PKI (made once) -------------------------------------------------
if [[ ! -f $pki/dist.p12 ]]; then
  mk() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/$1.key" 2>/dev/null; }
  mk root; mk wwdr; mk dist; mk other
  cat >"$work/ext.cnf" <<'EOF'
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  openssl req -x509 -new -key "$pki/root.key" -days 36500 -set_serial 1 -sha256 \
    -subj "/C=US/O=Apple Inc./OU=Apple Certification Authority/CN=Apple Root CA" \
    -config "$work/ext.cnf" -extensions ca -out "$pki/root.pem"
  openssl req -new -key "$pki/wwdr.key" -subj "/C=US/O=Apple Inc./OU=G3/CN=Apple Worldwide Developer Relations Certification Authority" -out "$work/wwdr.csr"
  openssl x509 -req -in "$work/wwdr.csr" -CA "$pki/root.pem" -CAkey "$pki/root.key" -set_serial 2 -days 36000 -sha256 \
    -extfile "$work/ext.cnf" -extensions ca -out "$pki/wwdr.pem" 2>/dev/null
  leaf() { # NAME SERIAL UID CN
    openssl req -new -key "$pki/$1.key" -subj "/UID=$3/CN=$4/OU=$TEAM/O=Example Corp/C=US" -out "$work/$1.csr"
    openssl x509 -req -in "$work/$1.csr" -CA "$pki/wwdr.pem" -CAkey "$pki/wwdr.key" -set_serial "$2" -days 35000 -sha256 \
      -extfile "$work/ext.cnf" -extensions leaf -out "$pki/$1.pem" 2>/dev/null
  }
  leaf dist 3 "$TEAM" "iPhone Distribution: Example Corp ($TEAM)"
  leaf other 4 OTHER12345 "iPhone Distribution: Example Corp ($TEAM)"
  openssl pkcs12 -export -inkey "$pki/dist.key" -in "$pki/dist.pem" -certfile "$pki/wwdr.pem" \
    -name "iPhone Distribution: Example Corp ($TEAM)" -passout pass:fixture -out "$pki/dist.p12"
  rm -f "$pki/dist.key" "$pki/other.key"
fi

# --- Provisioning profiles: CMS SignedData (by the WWDR key) around a plist ----
profile() { # OUT NAME APP-ID CERT-PEM EXPIRATION DEVICES-XML [EXTRA-ENTITLEMENTS-XML]
  local der
  der=$(openssl x509 -in "$4" -outform DER | base64 -w0)
  cat >"$work/profile.plist" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>AppIDName</key>
	<string>$2</string>
	<key>ApplicationIdentifierPrefix</key>
	<array>
		<string>$TEAM</string>
	</array>
	<key>CreationDate</key>
	<date>2023-11-14T22:13:20Z</date>
	<key>Platform</key>
	<array>
		<string>iOS</string>
	</array>
	<key>DeveloperCertificates</key>
	<array>
		<data>$der</data>
	</array>
	<key>Entitlements</key>
	<dict>
		<key>application-identifier</key>
		<string>$TEAM.$3</string>
		<key>com.apple.developer.team-identifier</key>
		<string>$TEAM</string>
		<key>get-task-allow</key>
		<false/>
		<key>keychain-access-groups</key>
		<array>
			<string>$TEAM.*</string>
		</array>${7-}
	</dict>
	<key>ExpirationDate</key>
	<date>$5</date>
	<key>Name</key>
	<string>$2</string>${6-}
	<key>TeamIdentifier</key>
	<array>
		<string>$TEAM</string>
	</array>
	<key>TeamName</key>
	<string>Example Corp</string>
	<key>TimeToLive</key>
	<integer>365</integer>
	<key>UUID</key>
	<string>$(printf '%s' "$1" | sha256sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')</string>
	<key>Version</key>
	<integer>1</integer>
</dict>
</plist>
EOF
  openssl cms -sign -nodetach -binary -noattr -outform DER -md sha256 \
    -signer "$pki/wwdr.pem" -inkey "$pki/wwdr.key" -certfile "$pki/root.pem" \
    -in "$work/profile.plist" -out "$out/$1"
}
all='
	<key>ProvisionsAllDevices</key>
	<true/>'
devices='
	<key>ProvisionedDevices</key>
	<array>
		<string>00008030-001A2B3C4D5E6F70</string>
	</array>'
profile app.mobileprovision "Demo" com.example.demo "$pki/dist.pem" 2099-01-01T00:00:00Z "$all"
profile widget.mobileprovision "Demo Widget" com.example.demo.widget "$pki/dist.pem" 2099-01-01T00:00:00Z "$devices"
profile expired.mobileprovision "Demo Expired" com.example.demo "$pki/dist.pem" 2020-01-01T00:00:00Z "$all"
profile othercert.mobileprovision "Demo Other Cert" com.example.demo "$pki/other.pem" 2099-01-01T00:00:00Z "$all"
profile watch.mobileprovision "Demo Watch" com.example.demo.watchkitapp "$pki/dist.pem" 2099-01-01T00:00:00Z "$all"
# The app's profile granting App Attest (fuse in an attested identity mode).
profile appattest.mobileprovision "Demo App Attest" com.example.demo "$pki/dist.pem" 2099-01-01T00:00:00Z "$all" '
		<key>com.apple.developer.devicecheck.appattest-environment</key>
		<string>production</string>'

# --- Self-check with independent tools -------------------------------------------
for f in Demo DemoWidget libdemo.dylib DemoKit.fat Legacy.fat DemoWatch; do
  llvm-objdump-14 --macho --private-headers "$out/$f" >"$work/hdr"
  grep -q LC_CODE_SIGNATURE "$work/hdr" && { echo "$f: unexpected LC_CODE_SIGNATURE" >&2; exit 1; }
  grep -q 'platform 2\|platform IOS\|LC_BUILD_VERSION' "$work/hdr" || { echo "$f: no LC_BUILD_VERSION" >&2; exit 1; }
done
/usr/bin/python3 - "$out" <<'EOF'
import sys
from macholib.MachO import MachO
# cputype: arm64 0x0100000c, x86_64 0x01000007, arm 12, arm64_32 0x0200000c
A64, X64, ARM, A6432 = 0x0100000C, 0x01000007, 12, 0x0200000C
want = {"Demo": [A64], "DemoWidget": [A64], "libdemo.dylib": [A64], "DemoKit.fat": [X64, A64],
        "Legacy.fat": [ARM, A64], "DemoWatch": [A6432]}
for f, archs in want.items():
    m = MachO(sys.argv[1] + "/" + f)
    got = [h.header.cputype for h in m.headers]
    assert got == archs, (f, got)
EOF
for f in "$app/Info.plist" "$app/PlugIns/DemoWidget.appex/Info.plist" "$app/Frameworks/DemoKit.framework/Info.plist" \
  "$fapp/Watch/DemoWatch.app/Info.plist"; do
  plistutil -i "$f" -f xml | grep -q CFBundleIdentifier
done
for p in app widget expired othercert watch appattest; do
  openssl cms -verify -binary -inform DER -in "$out/$p.mobileprovision" -CAfile "$pki/root.pem" \
    -purpose any -out "$work/$p.plist" 2>/dev/null
  plistutil -i "$work/$p.plist" -f bin -o /dev/null
done
unzip -tq "$out/Demo.ipa" >/dev/null
unzip -tq "$out/DemoFull.ipa" >/dev/null
echo "make-ios-fixtures: ok ($(du -sb "$out" | cut -f1) bytes in testdata/ios)" >&2
