#!/usr/bin/env bash
# Build the small Android App Bundle fixtures in testdata/aab from the sources
# in testdata/fixture-src (aab/, smali/, res/), with Debian's Android tools only
# (DESIGN §5, §9). bundletool is not packaged by Debian and cannot be
# installed here, so the bundle layout is assembled by this script, the way
# `bundletool build-bundle` lays it out:
#
#   BundleConfig.pb                         bundletool's BundleConfig (below)
#   BUNDLE-METADATA/com.android.tools.build.gradle/app-metadata.properties
#   base/manifest/AndroidManifest.xml       aapt2 link --proto-format (XmlNode)
#   base/resources.pb                       aapt2 link --proto-format (ResourceTable)
#   base/dex/classes.dex                    smali
#   base/assets/greeting.txt
#   base/lib/{arm64-v8a,x86_64}/libhello.so the libraries of testdata/apk/native.apk,
#                                           built by make-fixtures.sh from jni/hello.c
#   camera/…                                dynamic feature module (on-demand, dex)
#   textures/…                              asset pack (dist:type="asset-pack", assets only)
#
# Signed variants are signed by jarsigner (JDK 17), the reference for what
# JAR signing of a bundle looks like (bundletool does not sign bundles; Play
# and `jarsigner -verify` check the upload key's JAR signature).
#
# Deterministic where the tools allow: fixed zip timestamps, TZ=UTC, modes,
# no build ids. jarsigner stamps its META-INF entries with the current time
# and its CMS block with a signingTime attribute (and ECDSA is randomised), so
# a signed fixture is kept when every entry but its signature block is
# unchanged and the block still holds the test key's certificate.
# Ends with a self-check of every fixture against the independent oracles.
#
# usage: scripts/make-aab-fixtures.sh [--check]    (--check: self-check only)
#   ANDROID_FRAMEWORK_RES  platform to link against
#                        (default /usr/share/android-framework-res/framework-res.apk)
set -euo pipefail

export LC_ALL=C TZ=UTC
# 1980-01-01 00:00:00 UTC: the earliest ZIP (DOS) time, which aapt2 also writes.
export SOURCE_DATE_EPOCH=315532800
umask 022

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/testdata/fixture-src
asrc=$src/aab
outdir=$root/testdata/aab
keydir=$root/testdata/keys
fw=${ANDROID_FRAMEWORK_RES:-/usr/share/android-framework-res/framework-res.apk}
pass=fixture-pass

check_only=false
case "${1:-}" in
  --check) check_only=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

die() { echo "make-aab-fixtures: $*" >&2; exit 1; }
log() { echo "make-aab-fixtures: $*" >&2; }

for t in aapt2 smali jarsigner dexdump zip unzip python3; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found: run scripts/install-deps.sh"
done
[[ -f $fw ]] || die "$fw not found: apt-get install android-framework-res"
[[ -s $keydir/rsa.jks && -s $keydir/ec.jks ]] || die "test keys missing: run scripts/make-fixtures.sh first"
nativeapk=$root/testdata/apk/native.apk
[[ -s $nativeapk ]] || die "$nativeapk missing: run scripts/make-fixtures.sh first"
py=/usr/bin/python3
[[ -x $py ]] || py=$(command -v python3)

# Short-lived JVMs: C1 only and the serial collector halve their start-up CPU.
jvm_opts=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC)
export JAVA_ARGS="${jvm_opts[*]}"  # read by smali's java-wrappers script
jarsigner() { command jarsigner "${jvm_opts[@]/#/-J}" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------------------
# The fixtures. Fields: name | key (- = unsigned) | jarsigner -sigalg | purpose
fixtures=(
  "bundle|-|-|unsigned bundle: base (dex, assets, native libs for arm64-v8a and x86_64), dynamic feature module camera (on-demand, dex), asset pack textures (install-time)"
  "bundle-rsa|rsa|SHA256withRSA|bundle.aab signed by jarsigner with the RSA key of rsa.jks (SHA-256 digests, META-INF/RSA.SF + RSA.RSA first in the archive)"
  "bundle-ec|ec|SHA256withECDSA|bundle.aab signed by jarsigner with the EC P-256 key of ec.jks (META-INF/EC.SF + EC.EC; randomised signature: kept while only it differs)"
)

# payload.py NEW OLD CERT.pem: exit 0 when the ZIPs NEW and OLD hold the same
# entries with the same contents, except their JAR signature blocks
# (META-INF/*.RSA|*.EC) and jarsigner's timestamps, and OLD's block holds CERT.
cat >"$work/payload.py" <<'PY'
import base64, sys, zipfile

def payload(path):
    z = zipfile.ZipFile(path)
    return [(i.filename, z.read(i)) for i in z.infolist()
            if not (i.filename.startswith("META-INF/") and i.filename.endswith((".RSA", ".EC")))]

def blocks(path):
    z = zipfile.ZipFile(path)
    return b"".join(z.read(i) for i in z.infolist() if i.filename.endswith((".RSA", ".EC")))

pem = open(sys.argv[3]).read()
der = base64.b64decode("".join(l for l in pem.splitlines() if l and not l.startswith("-----")))
sys.exit(0 if payload(sys.argv[1]) == payload(sys.argv[2]) and der in blocks(sys.argv[2]) else 1)
PY

# FORMAT: BundleConfig.pb is bundletool's android.bundle.BundleConfig
# (config.proto, proto3), written here byte by byte:
#   0a 08                 field 1 (bundletool), length 8: Bundletool
#     12 06 "1.15.6"        field 2 (version), the bundletool version
#   12 06                 field 2 (optimizations), length 6: Optimizations
#     0a 04                 field 1 (splits_config), length 4: SplitsConfig
#       0a 02                 field 1 (split_dimension), length 2: SplitDimension
#         08 01                 field 1 (value) = 1 (ABI)
bundle_config() { printf '\x0a\x08\x12\x061.15.6\x12\x06\x0a\x04\x0a\x02\x08\x01'; }

# The native libraries are those of native.apk (one source, one build: the
# two ABIs' libhello.so from jni/hello.c, ELF LOAD segments 16 KiB aligned).
copy_libs() { # module dir
  local abi
  for abi in arm64-v8a x86_64; do
    mkdir -p "$1/lib/$abi"
    unzip -p "$nativeapk" "lib/$abi/libhello.so" >"$1/lib/$abi/libhello.so"
  done
}

proto_link() { # manifest out.apk [flats...]: aapt2 link --proto-format
  local m=$1 o=$2; shift 2
  aapt2 link --proto-format -I "$fw" --manifest "$m" -o "$o" "$@"
}

build_unsigned() { # -> $work/out/bundle.aab
  local b=$work/tree
  mkdir -p "$b" "$work/out"
  aapt2 compile --dir "$src/res" -o "$work/res.zip"

  # base: manifest and resource table from aapt2, dex, assets, native libs.
  proto_link "$asrc/manifests/base.xml" "$work/base.apk" "$work/res.zip"
  mkdir -p "$b/base/manifest" "$b/base/dex" "$b/base/assets"
  unzip -p "$work/base.apk" AndroidManifest.xml >"$b/base/manifest/AndroidManifest.xml"
  unzip -p "$work/base.apk" resources.pb >"$b/base/resources.pb"
  smali assemble --api 24 -j 1 -o "$b/base/dex/classes.dex" "$src/smali/main" "$src/smali/native"
  cp "$asrc/assets/base/greeting.txt" "$b/base/assets/"
  copy_libs "$b/base"

  # camera: a dynamic feature module with its own dex and resource table.
  proto_link "$asrc/manifests/camera.xml" "$work/camera.apk" "$work/res.zip"
  mkdir -p "$b/camera/manifest" "$b/camera/dex"
  unzip -p "$work/camera.apk" AndroidManifest.xml >"$b/camera/manifest/AndroidManifest.xml"
  unzip -p "$work/camera.apk" resources.pb >"$b/camera/resources.pb"
  smali assemble --api 24 -j 1 -o "$b/camera/dex/classes.dex" "$asrc/smali/camera"

  # textures: an asset pack, manifest and assets only (no resource table).
  proto_link "$asrc/manifests/textures.xml" "$work/textures.apk"
  mkdir -p "$b/textures/manifest" "$b/textures/assets/textures"
  unzip -p "$work/textures.apk" AndroidManifest.xml >"$b/textures/manifest/AndroidManifest.xml"
  cp "$asrc/assets/textures/level1.txt" "$b/textures/assets/textures/"

  bundle_config >"$b/BundleConfig.pb"
  mkdir -p "$b/BUNDLE-METADATA/com.android.tools.build.gradle"
  printf 'appMetadataVersion=1.1\nandroidGradlePluginVersion=8.5.0\n' \
    >"$b/BUNDLE-METADATA/com.android.tools.build.gradle/app-metadata.properties"

  find "$b" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} + -exec chmod u=rwX,go=rX {} +
  # bundletool's order: BundleConfig.pb, metadata, then module by module.
  (cd "$b" && zip -X -D -q -9 "$work/out/bundle.aab" BundleConfig.pb \
    $(find BUNDLE-METADATA base camera textures -type f | sort))
}

sign_fixture() { # name key sigalg: jarsigner-signed copy of bundle.aab
  local name=$1 key=$2 sigalg=$3
  cp "$work/out/bundle.aab" "$work/out/$name.aab"
  jarsigner -keystore "$keydir/$key.jks" -storetype JKS -storepass "$pass" \
    -digestalg SHA-256 -sigalg "$sigalg" "$work/out/$name.aab" "$key" >/dev/null
}

if ! $check_only; then
  start=$SECONDS
  mkdir -p "$outdir"
  build_unsigned
  for spec in "${fixtures[@]}"; do
    IFS='|' read -r name key sigalg _ <<<"$spec"
    [[ $key == - ]] || sign_fixture "$name" "$key" "$sigalg"
  done
  for spec in "${fixtures[@]}"; do
    IFS='|' read -r name key _ _ <<<"$spec"
    new=$work/out/$name.aab old=$outdir/$name.aab
    if [[ -f $old ]] && cmp -s "$new" "$old"; then
      log "$name.aab unchanged"
      continue
    fi
    if [[ -f $old && $key != - ]] && "$py" "$work/payload.py" "$new" "$old" "$keydir/$key.x509.pem"; then
      log "$name.aab unchanged (but for jarsigner's timestamps and signature)"
      continue
    fi
    cp "$new" "$old.tmp" && chmod 644 "$old.tmp" && mv "$old.tmp" "$old"
    log "$name.aab written"
  done

  {
    echo "# Android App Bundle fixtures"
    echo
    echo "Made by \`scripts/make-aab-fixtures.sh\` from \`../fixture-src\` and the native"
    echo "libraries of \`../apk/native.apk\` (do not edit by hand; rerun the script, which also"
    echo "self-checks them with aapt2, dexdump and jarsigner). bundletool is not"
    echo "packaged by Debian and cannot be installed here: the script lays the"
    echo "bundle out itself (see its header). Keys: see \`../keys/README.md\`."
    echo "Package \`io.trustfuse.fixture.bundle\`, versionCode 7, minSdk 24, targetSdk 34."
    echo
    echo "| file | modules | signed by | exists to test |"
    echo "|---|---|---|---|"
    for spec in "${fixtures[@]}"; do
      IFS='|' read -r name key sigalg purpose <<<"$spec"
      by="unsigned"
      [[ $key == - ]] || by="jarsigner, $key.jks, $sigalg"
      echo "| $name.aab | base, camera (feature), textures (asset pack) | $by | $purpose |"
    done
  } >"$outdir/README.md"
  log "built in $((SECONDS - start)) s"
fi

# ---------------------------------------------------------------------------
# Self-check with the independent oracles.

fail=0
bad() { echo "make-aab-fixtures: SELF-CHECK FAILED: $*" >&2; fail=1; }

check_fixture() { # name key
  local name=$1 key=$2 aab=$outdir/$1.aab d=$work/check/$1 mod out
  [[ -f $aab ]] || { bad "$name.aab missing"; return; }
  mkdir -p "$d"
  unzip -q -o "$aab" -d "$d"
  [[ $(od -An -tx1 "$d/BundleConfig.pb" | tr -d ' \n') == $(bundle_config | od -An -tx1 | tr -d ' \n') ]] ||
    bad "$name.aab: BundleConfig.pb differs"
  for mod in base camera textures; do
    # A module's manifest, laid out as aapt2 lays out a proto APK, read by aapt2.
    rm -f "$d/$mod-proto.apk"
    (cd "$d/$mod/manifest" && zip -X -q "$d/$mod-proto.apk" AndroidManifest.xml)
    out=$(aapt2 dump xmltree --file AndroidManifest.xml "$d/$mod-proto.apk" 2>&1) ||
      bad "$name.aab: aapt2 cannot read $mod's manifest: $out"
    grep -q 'A: package="io.trustfuse.fixture.bundle"' <<<"$out" || bad "$name.aab: $mod: package"
    case $mod in
      base) grep -q 'versionCode(0x0101021b)=7' <<<"$out" || bad "$name.aab: base: versionCode" ;;
      camera) grep -q 'distribution:on-demand' <<<"$out" || bad "$name.aab: camera: not on-demand" ;;
      textures) grep -q 'distribution:type="asset-pack"' <<<"$out" || bad "$name.aab: textures: not an asset pack" ;;
    esac
    if [[ -f $d/$mod/dex/classes.dex ]]; then
      dexdump -c "$d/$mod/dex/classes.dex" >/dev/null 2>&1 || bad "$name.aab: dexdump -c $mod/dex/classes.dex"
      dexdump "$d/$mod/dex/classes.dex" 2>&1 | grep -q "Class descriptor" || bad "$name.aab: $mod dex has no class"
    fi
  done
  [[ -f $d/textures/dex/classes.dex ]] && bad "$name.aab: the asset pack has dex"
  for abi in arm64-v8a x86_64; do
    [[ -f $d/base/lib/$abi/libhello.so ]] || bad "$name.aab: no base/lib/$abi/libhello.so"
  done
  if [[ $key == - ]]; then
    [[ ! -d $d/META-INF ]] || bad "$name.aab: unsigned fixture has META-INF"
  else
    # -strict makes an untrusted (self-signed) chain an error: trust the test key.
    out=$(jarsigner -verify -strict -verbose -keystore "$keydir/$key.jks" -storepass "$pass" "$aab" 2>&1) ||
      bad "$name.aab: jarsigner -verify -strict failed: $out"
    grep -q "^jar verified" <<<"$out" || bad "$name.aab: jarsigner did not say 'jar verified'"
    grep -q "Digest algorithm: SHA-256" <<<"$out" || bad "$name.aab: not SHA-256"
  fi
}

for spec in "${fixtures[@]}"; do
  IFS='|' read -r name key _ _ <<<"$spec"
  check_fixture "$name" "$key"
done
total=$(du -cb "$outdir" | tail -n1 | cut -f1)
((total < 262144)) || bad "testdata/aab is $total bytes, more than 256 KiB"
((fail == 0)) || exit 1
log "self-check ok: ${#fixtures[@]} fixtures, testdata/aab $total bytes"
