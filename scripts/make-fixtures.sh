#!/usr/bin/env bash
# Build the small APK fixtures in testdata/apk from the sources in
# testdata/fixture-src, with Debian's Android tools only (DESIGN §9):
#
#   aapt2 compile/link   manifest + resources, linked against framework-res.apk
#   smali                classes*.dex from .smali sources
#   gcc, clang-14+lld-14 lib/x86_64 and lib/arm64-v8a libhello.so from jni/hello.c
#   zip -X, zipalign     assembly and 4-byte alignment (zipalign -p gives 4 KiB .so)
#   python3 (below)      16 KiB alignment of stored .so (Debian's zipalign has no -P)
#   apksigner            v1 / v2 / v3 signing
#   keytool, openssl     test keys in testdata/keys (made only when missing)
#
# Idempotent: everything is built in a temporary directory and a fixture is
# replaced only when its bytes change. Deterministic where the tools allow:
# fixed zip timestamps, TZ=UTC, file modes, no build ids. ECDSA signatures are
# randomised, so an EC-signed fixture is kept when everything but its APK
# Signing Block is unchanged and its signer is still the EC test key.
# Ends with a self-check of every fixture against the independent oracles.
#
# usage: scripts/make-fixtures.sh [--check]    (--check: self-check only)
#   ZIPALIGN16           path of the 16 KiB alignment oracle
#                        (default scripts/zipalign16, the project's own checker)
#   ANDROID_FRAMEWORK_RES  platform to link against
#                        (default /usr/share/android-framework-res/framework-res.apk)
set -euo pipefail

export LC_ALL=C TZ=UTC
# 1980-01-01 00:00:00 UTC: the earliest ZIP (DOS) time, which aapt2 also writes.
export SOURCE_DATE_EPOCH=315532800
umask 022

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/testdata/fixture-src
apkdir=$root/testdata/apk
keydir=$root/testdata/keys
fw=${ANDROID_FRAMEWORK_RES:-/usr/share/android-framework-res/framework-res.apk}
za16=${ZIPALIGN16:-$root/scripts/zipalign16}
pass=fixture-pass

check_only=false
case "${1:-}" in
  --check) check_only=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

die() { echo "make-fixtures: $*" >&2; exit 1; }
log() { echo "make-fixtures: $*" >&2; }

for t in aapt aapt2 smali zipalign apksigner keytool openssl gcc clang-14 ld.lld-14 \
         dexdump zip unzip python3; do
  command -v "$t" >/dev/null 2>&1 ||
    die "$t not found: run scripts/install-deps.sh (clang-14 and lld-14: apt-get install clang-14 lld-14)"
done
[[ -f $fw ]] || die "$fw not found: apt-get install android-framework-res"
[[ -f $za16 ]] || die "zipalign16 oracle not found at $za16 (set ZIPALIGN16)"
# Debian's interpreter when present: a pyenv shim costs ~1 s per start.
py=/usr/bin/python3
[[ -x $py ]] || py=$(command -v python3)

# Short-lived JVMs (apksigner, smali): C1 only and the serial collector
# roughly halve their start-up CPU on this 2-core machine.
jvm_opts=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC)
export JAVA_ARGS="${jvm_opts[*]}"  # read by smali's java-wrappers script
apksigner() { command apksigner "${jvm_opts[@]/#-/-J}" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------------------
# Python helpers (standard library only).

# realign.py IN OUT: rewrite a ZIP (no signing block) copying every entry's
# bytes raw, so that STORED data starts on a multiple of 4 and STORED
# lib/**/*.so on a multiple of 16384. Padding goes in the local header's extra
# field as an apksig-style 0xD935 record (u16 alignment + zero bytes); old
# padding (0xD935 records, zipalign's bare zero bytes) is dropped first.
cat >"$work/realign.py" <<'PY'
import struct, sys

SO_ALIGN, ALIGN = 16384, 4

def clean_extra(x):
    out, i = b"", 0
    while i + 4 <= len(x):
        hid, n = struct.unpack_from("<HH", x, i)
        if hid == 0 or i + 4 + n > len(x):
            break  # zipalign's zero padding or a torn record: drop the rest
        if hid != 0xD935:
            out += x[i:i + 4 + n]
        i += 4 + n
    return out

def main(src, dst):
    d = open(src, "rb").read()
    eocd = d.rfind(b"PK\x05\x06", max(0, len(d) - 65557))
    if eocd < 0:
        sys.exit("realign: no end of central directory")
    n, cd_size, cd_off = struct.unpack_from("<HII", d, eocd + 10)
    if cd_off + cd_size != eocd or d[cd_off - 16:cd_off] == b"APK Sig Block 42":
        sys.exit("realign: input is signed or has data after the central directory")
    out, cd, p, last = bytearray(), bytearray(), cd_off, -1
    for _ in range(n):
        if d[p:p + 4] != b"PK\x01\x02":
            sys.exit("realign: bad central directory entry at %d" % p)
        flags, method = struct.unpack_from("<HH", d, p + 8)
        csize, = struct.unpack_from("<I", d, p + 20)
        nlen, xlen, clen = struct.unpack_from("<HHH", d, p + 28)
        lho, = struct.unpack_from("<I", d, p + 42)
        name = d[p + 46:p + 46 + nlen]
        if lho <= last:
            sys.exit("realign: entries are not in file order")
        last = lho
        if d[lho:lho + 4] != b"PK\x03\x04":
            sys.exit("realign: no local header for %r" % name)
        lnlen, lxlen = struct.unpack_from("<HH", d, lho + 26)
        start = lho + 30 + lnlen + lxlen
        end = start + csize
        if flags & 8:  # data descriptor, with or without its signature
            end += 16 if d[end:end + 4] == b"PK\x07\x08" else 12
        lx = clean_extra(d[lho + 30 + lnlen:start])
        if method == 0:
            a = SO_ALIGN if name.startswith(b"lib/") and name.endswith(b".so") else ALIGN
            off = len(out) + 30 + lnlen + len(lx)
            if off % a:
                pad = 6 + (-(off + 6)) % a
                lx += struct.pack("<HHH", 0xD935, pad - 4, a) + bytes(pad - 6)
        new_lho = len(out)
        out += d[lho:lho + 28] + struct.pack("<H", len(lx)) + d[lho + 30:lho + 30 + lnlen] + lx
        out += d[start:end]
        cd += d[p:p + 42] + struct.pack("<I", new_lho) + d[p + 46:p + 46 + nlen + xlen + clen]
        p += 46 + nlen + xlen + clen
    new_cd = len(out)
    out += cd
    out += d[eocd:eocd + 16] + struct.pack("<I", new_cd) + d[eocd + 20:]
    open(dst, "wb").write(out)

main(sys.argv[1], sys.argv[2])
PY

# payload.py NEW OLD CERT.pem: exit 0 when NEW and OLD are the same ZIP once
# their APK Signing Blocks are cut out (central directory offset patched
# accordingly) and OLD's signing block holds CERT (DER), i.e. OLD is signed by
# the current test key.
cat >"$work/payload.py" <<'PY'
import base64, struct, sys

def payload(path):
    d = open(path, "rb").read()
    eocd = d.rfind(b"PK\x05\x06", max(0, len(d) - 65557))
    cd_off, = struct.unpack_from("<I", d, eocd + 16)
    start = cd_off
    if d[cd_off - 16:cd_off] == b"APK Sig Block 42":
        start = cd_off - struct.unpack_from("<Q", d, cd_off - 24)[0] - 8
    return d[:start] + d[cd_off:eocd + 16] + struct.pack("<I", start) + d[eocd + 20:]

pem = open(sys.argv[3]).read()
der = base64.b64decode("".join(l for l in pem.splitlines() if l and not l.startswith("-----")))
same = payload(sys.argv[1]) == payload(sys.argv[2])
sys.exit(0 if same and der in open(sys.argv[2], "rb").read() else 1)
PY

# inspect.py APK: one line per fact the self-check needs: the manifest string
# pool encoding (flag 0x100 of its ResStringPool_header), the dex entries and
# how every lib/**/*.so is stored.
cat >"$work/inspect.py" <<'PY'
import struct, sys, zipfile

z = zipfile.ZipFile(sys.argv[1])
m = z.read("AndroidManifest.xml")
typ, = struct.unpack_from("<H", m, 0)
ptyp, = struct.unpack_from("<H", m, 8)
flags, = struct.unpack_from("<I", m, 8 + 16)
if typ != 0x0003 or ptyp != 0x0001:
    sys.exit("inspect: AndroidManifest.xml is not binary XML with a string pool")
print("pool", "UTF-8" if flags & 0x100 else "UTF-16")
for i in z.infolist():
    if i.filename.startswith("classes") and i.filename.endswith(".dex"):
        print("dex", i.filename)
    if i.filename.startswith("lib/") and i.filename.endswith(".so"):
        print("so", i.filename, "stored" if i.compress_type == zipfile.ZIP_STORED else "compressed")
PY

# ---------------------------------------------------------------------------
# Test keys: made once, then kept, so the fixtures' signers stay stable.
# <kind>-keytool.p12 is the master; the other files are derived from it.

keygen() { # kind keyalg-args... ; (re)creates testdata/keys/<kind>*
  local kind=$1 dname=$2; shift 2
  local k=$keydir/$kind
  if [[ ! -s $k-keytool.p12 ]]; then
    log "generating $kind test key"
    rm -f "$k".* "$k"-*.p12
    keytool -genkeypair -storetype PKCS12 -keystore "$k-keytool.p12" \
      -storepass "$pass" -keypass "$pass" -alias "$kind" "$@" \
      -validity 10000 -startdate "2025/01/01 00:00:00" -dname "$dname" 2>/dev/null
  fi
  [[ -s $k.key.pem ]] ||
    openssl pkcs12 -in "$k-keytool.p12" -passin "pass:$pass" -nocerts -nodes |
      openssl pkey -out "$k.key.pem"
  [[ -s $k.pk8 ]] || openssl pkcs8 -topk8 -nocrypt -in "$k.key.pem" -outform DER -out "$k.pk8"
  [[ -s $k.x509.pem ]] ||
    openssl pkcs12 -in "$k-keytool.p12" -passin "pass:$pass" -nokeys -clcerts |
      openssl x509 -out "$k.x509.pem"
  # OpenSSL 3 defaults: PBES2/PBKDF2/AES-256-CBC, HMAC-SHA256 MAC.
  [[ -s $k-openssl.p12 ]] ||
    openssl pkcs12 -export -inkey "$k.key.pem" -in "$k.x509.pem" -name "$kind" \
      -passout "pass:$pass" -out "$k-openssl.p12"
  # The pre-2021 JDK format (3DES key bag, RC2-40 certificate bag, SHA-1 MAC)
  # still found in old release keystores.
  [[ $kind != rsa || -s $k-legacy.p12 ]] ||
    keytool -J-Dkeystore.pkcs12.legacy -importkeystore -noprompt \
      -srckeystore "$k-keytool.p12" -srcstoretype PKCS12 -srcstorepass "$pass" -srcalias "$kind" \
      -destkeystore "$k-legacy.p12" -deststoretype PKCS12 -deststorepass "$pass" \
      -destkeypass "$pass" -destalias "$kind" 2>/dev/null
  [[ -s $k.jks ]] ||
    keytool -importkeystore -noprompt -srckeystore "$k-keytool.p12" -srcstoretype PKCS12 \
      -srcstorepass "$pass" -srcalias "$kind" -destkeystore "$k.jks" -deststoretype JKS \
      -deststorepass "$pass" -destkeypass "$pass" -destalias "$kind" 2>/dev/null
  chmod 644 "$k".* "$k"-*.p12
}

certsha256() { # x509.pem -> lowercase hex SHA-256 of the DER certificate
  openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

if ! $check_only; then
  mkdir -p "$keydir" "$apkdir"
  keygen rsa "CN=TrustFuse Fixture RSA, OU=Test key - do not trust, O=TrustFuse, C=US" \
    -keyalg RSA -keysize 2048 -sigalg SHA256withRSA
  keygen ec "CN=TrustFuse Fixture EC, OU=Test key - do not trust, O=TrustFuse, C=US" \
    -keyalg EC -groupname secp256r1 -sigalg SHA256withECDSA

  {
    echo "# Test signing keys (DO NOT TRUST: the private keys are public)"
    echo
    echo "Made by \`scripts/make-fixtures.sh\` only when missing, then kept so the"
    echo "fixtures in ../apk keep their signers. Every password (store and key) is"
    echo "\`$pass\`. Each kind holds ONE key pair and self-signed certificate in"
    echo "every container below."
    echo
    echo "| file | kind | container | alias | made by |"
    echo "|---|---|---|---|---|"
    for kind in rsa ec; do
      typ="RSA 2048, SHA256withRSA"; [[ $kind == ec ]] && typ="EC P-256, SHA256withECDSA"
      echo "| $kind-keytool.p12 | $typ | PKCS#12 (JDK 17 keytool defaults: PBES2/AES-256-CBC, HMAC-SHA256 MAC, 10000 iterations) | \`$kind\` | keytool -genkeypair (the master copy) |"
      echo "| $kind-openssl.p12 | $typ | PKCS#12 (OpenSSL 3 defaults: PBES2/AES-256-CBC, HMAC-SHA256 MAC, 2048 iterations) | \`$kind\` (friendlyName) | openssl pkcs12 -export |"
      [[ $kind != rsa ]] ||
        echo "| $kind-legacy.p12 | $typ | PKCS#12 (legacy JDK: pbeWithSHA1And3-KeyTripleDES-CBC key, pbeWithSHA1And40BitRC2-CBC certs, SHA-1 MAC; OpenSSL 3 needs -legacy) | \`$kind\` | keytool -J-Dkeystore.pkcs12.legacy -importkeystore |"
      echo "| $kind.jks | $typ | JKS | \`$kind\` | keytool -importkeystore |"
      echo "| $kind.key.pem | $typ | unencrypted PKCS#8 PEM | – | openssl pkey |"
      echo "| $kind.pk8 | $typ | unencrypted PKCS#8 DER (apksigner --key) | – | openssl pkcs8 -topk8 |"
      echo "| $kind.x509.pem | $typ | X.509 certificate PEM (apksigner --cert) | – | openssl x509 |"
    done
    echo
    echo "Certificate SHA-256 digests (what \`apksigner verify --print-certs\` prints):"
    echo
    for kind in rsa ec; do
      echo "- $kind: \`$(certsha256 "$keydir/$kind.x509.pem")\`"
    done
  } >"$keydir/README.md"
fi

# ---------------------------------------------------------------------------
# The fixtures. Fields:
#   name | dex files (',' between dex files, '+' between smali dirs of one dex)
#   | native libs (none, 16k, 4) | schemes | key | keystore args for apksigner | purpose
# Package and minSdk come from manifests/<manifest>.xml; utf8 gets a UTF-8 pool.
fixtures=(
  "v1-only|v1-only|main|none|v1|rsa|--ks rsa.jks --ks-type JKS --ks-key-alias rsa|JAR signing only; minSdk 17 makes apksigner use SHA-1 digests (META-INF/RSA.SF, no X-Android-APK-Signed); dex 035; key from a JKS"
  "v2-only|v2-only|main|none|v2|rsa|--ks rsa-openssl.p12 --ks-key-alias rsa|APK Signature Scheme v2 only, no META-INF; dex 037; signed from the OpenSSL 3 PKCS#12"
  "v1v2v3|v1v2v3|main|none|v1+v2+v3|rsa|--ks rsa-keytool.p12 --ks-key-alias rsa|all three schemes (SHA-256 JAR digests, X-Android-APK-Signed: 2, 3); non-ASCII and non-BMP literal activity label in a UTF-16 manifest pool"
  "ec-v2v3|ec-v2v3|main|none|v2+v3|ec|--ks ec-openssl.p12 --ks-key-alias ec|ECDSA P-256 signer, v2+v3 (randomised signatures: the script keeps the file while only they differ)"
  "native|native|main+native|16k|v2+v3|rsa|--ks rsa-keytool.p12 --ks-key-alias rsa|STORED lib/{arm64-v8a,x86_64}/libhello.so at 16 KiB offsets (0xD935 extra padding), ELF LOAD align 16 KiB, extractNativeLibs=false"
  "native-unaligned|native|main+native|4|v2+v3|ec|--ks ec-keytool.p12 --ks-key-alias ec|native.apk with its .so only 4-byte aligned (not 4 KiB either): must be reported as not 16 KiB aligned"
  "multidex|multidex|main+multidex1,multidex2|none|v1+v2|rsa|--key rsa.pk8 --cert rsa.x509.pem|classes.dex + classes2.dex, Application android:name=\".FixtureApp\" (kept relative by aapt2), launcher, 4 uses-permission incl. INTERNET; signed from PKCS#8 + PEM"
  "utf8|utf8|main|none|v2+v3|ec|--ks ec.jks --ks-type JKS --ks-key-alias ec|AndroidManifest.xml with a UTF-8 string pool (flag 0x100, aapt2 res/xml flattening; the emoji is CESU-8: surrogates as 3-byte sequences); no compileSdkVersion attributes"
  "unsigned|unsigned|main|none|none|-||aligned, never signed: no META-INF, no APK Signing Block"
)

manifest_attr() { # file attr -> value of the first android:attr="..."
  sed -n "s/.*$2=\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -n1
}

build_libs() { # outdir: lib/<abi>/libhello.so from jni/hello.c
  local o=$1 common=(-O2 -fPIC -shared -nostdlib -g0 -s -ffile-prefix-map="$src"=.
    -Wl,--build-id=none -Wl,-soname,libhello.so -Wl,-z,max-page-size=16384 -Wl,-z,norelro)
  mkdir -p "$o/lib/x86_64" "$o/lib/arm64-v8a"
  gcc "${common[@]}" -Wl,--hash-style=gnu -Wl,-z,noseparate-code -o "$o/lib/x86_64/libhello.so" "$src/jni/hello.c"
  clang-14 --target=aarch64-linux-android24 -fuse-ld=lld "${common[@]}" \
    -o "$o/lib/arm64-v8a/libhello.so" "$src/jni/hello.c"
}

zipadd() { # archive dir zip-args... files...: add files (times and modes already fixed)
  local archive=$1 dir=$2; shift 2
  (cd "$dir" && zip -X -D -q "$archive" "$@")
}

build_fixture() { # spec -> $work/out/<name>.apk
  local name manifest dexspec libs schemes key ks purpose
  IFS='|' read -r name manifest dexspec libs schemes key ks purpose <<<"$1"
  local w=$work/$name m=$src/manifests/$manifest.xml
  local minsdk
  minsdk=$(manifest_attr "$m" android:minSdkVersion)
  mkdir -p "$w/stage"

  # Resources and manifest.
  local flats=("$work/res.zip")
  if [[ $name == utf8 ]]; then
    # aapt2 link (and aapt package) always write AndroidManifest.xml with a
    # UTF-16 pool, but aapt2 flattens res/xml files with a UTF-8 pool: compile
    # the same manifest as res/xml/utf8_manifest.xml and use that binary XML.
    mkdir -p "$w/xres/res/xml"
    cp "$m" "$w/xres/res/xml/utf8_manifest.xml"
    aapt2 compile -o "$w" "$w/xres/res/xml/utf8_manifest.xml"
    flats+=("$w/xml_utf8_manifest.xml.flat")
  fi
  aapt2 link -I "$fw" --manifest "$m" -o "$w/base.apk" "${flats[@]}"
  if [[ $name == utf8 ]]; then
    unzip -p "$w/base.apk" res/xml/utf8_manifest.xml >"$w/stage/AndroidManifest.xml"
  fi

  # Dex files.
  local i=0 group groups parts dirs d dex
  IFS=',' read -r -a groups <<<"$dexspec"
  for group in "${groups[@]}"; do
    i=$((i + 1)); dex=classes.dex; ((i > 1)) && dex=classes$i.dex
    dirs=()
    IFS='+' read -r -a parts <<<"$group"
    for d in "${parts[@]}"; do dirs+=("$src/smali/$d"); done
    # The same sources at the same API level give the same dex: assemble once.
    local cached=$work/dex-cache/${group//+/_}-api$minsdk.dex
    if [[ ! -f $cached ]]; then  # parallel builds: write aside, then rename
      smali assemble --api "$minsdk" -j 1 -o "$w/$dex" "${dirs[@]}"
      mv "$w/$dex" "$cached"
    fi
    cp "$cached" "$w/stage/$dex"
  done
  [[ $libs == none ]] || cp -r "$work/libs/lib" "$w/stage/"

  find "$w/stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} + -exec chmod u=rwX,go=rX {} +
  [[ $name == utf8 ]] && zipadd "$w/base.apk" "$w/stage" AndroidManifest.xml
  zipadd "$w/base.apk" "$w/stage" -9 $(cd "$w/stage" && ls classes*.dex | sort -V)
  if [[ $libs != none ]]; then
    zipadd "$w/base.apk" "$w/stage" -0 lib/arm64-v8a/libhello.so lib/x86_64/libhello.so
  fi

  # Alignment, then signing (never the other way round: zipalign breaks v2).
  case $libs in
    none) zipalign -f -p 4 "$w/base.apk" "$w/aligned.apk" ;;
    16k)  zipalign -f -p 4 "$w/base.apk" "$w/page.apk"
          "$py" "$work/realign.py" "$w/page.apk" "$w/aligned.apk" ;;
    4)    zipalign -f 4 "$w/base.apk" "$w/aligned.apk" ;;
  esac

  if [[ $schemes == none ]]; then
    cp "$w/aligned.apk" "$work/out/$name.apk"
  else
    local v1=false v2=false v3=false
    [[ +$schemes+ == *+v1+* ]] && v1=true
    [[ +$schemes+ == *+v2+* ]] && v2=true
    [[ +$schemes+ == *+v3+* ]] && v3=true
    # ks holds file names relative to testdata/keys.
    (cd "$keydir" && apksigner sign $ks --ks-pass "pass:$pass" \
      --v1-signing-enabled $v1 --v2-signing-enabled $v2 --v3-signing-enabled $v3 \
      --v4-signing-enabled false --out "$w/signed.apk" "$w/aligned.apk")
    mv "$w/signed.apk" "$work/out/$name.apk"
  fi
}

# each_fixture FUNC: FUNC spec for every fixture, $njobs at a time (2 by
# default: the machine is shared); fails when any of them failed.
njobs=${FIXTURE_JOBS:-2}
each_fixture() {
  local pids=() rc=0 spec
  for spec in "${fixtures[@]}"; do
    "$1" "$spec" &
    pids+=($!)
    if ((${#pids[@]} >= njobs)); then
      wait "${pids[0]}" || rc=1
      pids=("${pids[@]:1}")
    fi
  done
  for spec in "${pids[@]}"; do wait "$spec" || rc=1; done
  return $rc
}

if ! $check_only; then
  start=$SECONDS
  mkdir -p "$work/out" "$work/libs" "$work/dex-cache"
  aapt2 compile --dir "$src/res" -o "$work/res.zip"
  build_libs "$work/libs"
  each_fixture build_fixture || die "building the fixtures failed"

  for spec in "${fixtures[@]}"; do
    IFS='|' read -r name _ _ _ _ key _ _ <<<"$spec"
    new=$work/out/$name.apk old=$apkdir/$name.apk
    if [[ -f $old ]] && cmp -s "$new" "$old"; then
      log "$name.apk unchanged"
      continue
    fi
    if [[ -f $old && $key == ec ]] &&
       "$py" "$work/payload.py" "$new" "$old" "$keydir/ec.x509.pem"; then
      log "$name.apk unchanged (but for its randomised ECDSA signature)"
      continue
    fi
    cp "$new" "$old.tmp" && chmod 644 "$old.tmp" && mv "$old.tmp" "$old"
    log "$name.apk written"
  done

  {
    echo "# APK fixtures"
    echo
    echo "Made by \`scripts/make-fixtures.sh\` from \`../fixture-src\` (do not edit by"
    echo "hand; rerun the script, which also self-checks them with apksigner, aapt,"
    echo "zipalign, zipalign16 and dexdump). Keys: see \`../keys/README.md\`."
    echo "\`internal/testenv/fixtures_test.go\` checks this table against the files."
    echo "Schemes are exactly what \`apksigner verify -v\` reports; \`none\` = unsigned."
    echo
    echo "| file | package | minSdk | schemes | key | exists to test |"
    echo "|---|---|---|---|---|---|"
    for spec in "${fixtures[@]}"; do
      IFS='|' read -r name manifest _ _ schemes key ks purpose <<<"$spec"
      m=$src/manifests/$manifest.xml
      keycol=$key
      [[ $key == - ]] || keycol="$key ($(awk '{print $2}' <<<"$ks"))"
      echo "| $name.apk | $(manifest_attr "$m" package) | $(manifest_attr "$m" android:minSdkVersion) | $schemes | $keycol | $purpose |"
    done
  } >"$apkdir/README.md"
  log "built in $((SECONDS - start)) s"
fi

# ---------------------------------------------------------------------------
# Self-check with the independent oracles.

check_fixture() { # spec: every oracle must agree with the fixture table
  local name manifest libs schemes key apk m out rc s want badging facts abi dex dump fail=0
  IFS='|' read -r name manifest _ libs schemes key _ _ <<<"$1"
  apk=$apkdir/$name.apk m=$src/manifests/$manifest.xml
  [[ -f $apk ]] || { bad "$name.apk missing"; return 1; }

  # Signatures: apksigner must agree with the scheme list, and name our key.
  out=$(apksigner verify -v --print-certs "$apk" 2>&1) && rc=0 || rc=$?
  if [[ $schemes == none ]]; then
    ((rc != 0)) || bad "$name.apk: apksigner verified an unsigned APK"
  else
    ((rc == 0)) || bad "$name.apk: apksigner verify failed: $out"
    for s in 1 2 3; do
      want=false; [[ +$schemes+ == *+v$s+* ]] && want=true
      grep -q "^Verified using v$s scheme.*: $want\$" <<<"$out" ||
        bad "$name.apk: v$s should be $want"
    done
    grep -q "certificate SHA-256 digest: $(certsha256 "$keydir/$key.x509.pem")" <<<"$out" ||
      bad "$name.apk: not signed by the $key test key"
  fi

  # Manifest as aapt reads it.
  badging=$(aapt dump badging "$apk" 2>&1) || bad "$name.apk: aapt dump badging failed: $badging"
  grep -q "^package: name='$(manifest_attr "$m" package)'" <<<"$badging" ||
    bad "$name.apk: aapt sees another package"
  grep -q "^sdkVersion:'$(manifest_attr "$m" android:minSdkVersion)'" <<<"$badging" ||
    bad "$name.apk: aapt sees another minSdk"

  # Alignment: zipalign (4 bytes, 4 KiB .so with -p) and the 16 KiB oracle.
  if [[ $libs == 4 ]]; then
    zipalign -c 4 "$apk" >/dev/null || bad "$name.apk: zipalign -c 4"
    if zipalign -c -p 4 "$apk" >/dev/null; then bad "$name.apk: .so is 4 KiB aligned"; fi
    if "$py" "$za16" "$apk" >/dev/null; then bad "$name.apk: zipalign16 accepted a 4-byte aligned .so"; fi
  else
    zipalign -c -p 4 "$apk" >/dev/null || bad "$name.apk: zipalign -c -p 4"
    "$py" "$za16" "$apk" >/dev/null || bad "$name.apk: zipalign16 failed"
  fi

  # Manifest pool encoding, dex files and .so storage.
  facts=$("$py" "$work/inspect.py" "$apk") || bad "$name.apk: $facts"
  want=UTF-16; [[ $name == utf8 ]] && want=UTF-8
  grep -qx "pool $want" <<<"$facts" || bad "$name.apk: manifest pool is not $want"
  if [[ $libs != none ]]; then
    for abi in arm64-v8a x86_64; do
      grep -qx "so lib/$abi/libhello.so stored" <<<"$facts" || bad "$name.apk: $abi .so not stored"
    done
  fi
  mkdir -p "$work/dex/$name"
  while read -r _ dex; do
    unzip -p "$apk" "$dex" >"$work/dex/$name/$dex"
    dexdump -c "$work/dex/$name/$dex" >/dev/null 2>&1 || bad "$name.apk: dexdump -c $dex"
    dump=$(dexdump "$work/dex/$name/$dex" 2>&1) || bad "$name.apk: dexdump $dex failed"
    grep -q "Class descriptor" <<<"$dump" || bad "$name.apk: dexdump $dex shows no class"
  done < <(grep '^dex ' <<<"$facts")
  [[ $name != multidex ]] || grep -qx 'dex classes2.dex' <<<"$facts" || bad "multidex.apk: no classes2.dex"
  return $fail
}

fail=0
bad() { echo "make-fixtures: SELF-CHECK FAILED: $*" >&2; fail=1; }
each_fixture check_fixture || fail=1

# Every PKCS#12 opens with OpenSSL (MAC checked); the legacy one needs -legacy.
for p12 in "$keydir"/*.p12; do
  legacy=(); [[ $p12 == *-legacy.p12 ]] && legacy=(-legacy)
  openssl pkcs12 "${legacy[@]}" -in "$p12" -passin "pass:$pass" -noout 2>/dev/null ||
    bad "$(basename "$p12"): openssl cannot open it with the password"
done

total=$(du -cb "$root/testdata" | tail -n1 | cut -f1)
((total < 1048576)) || bad "testdata is $total bytes, more than 1 MiB"
((fail == 0)) || exit 1
log "self-check ok: ${#fixtures[@]} fixtures, testdata $total bytes"
