#!/usr/bin/env bash
# Benchmarks `trustfuse sign` and `trustfuse fuse` against the reference
# signer on the same inputs in the same run (DESIGN §10):
#   apk  `apksigner sign` on the real ApiDemos app, a generated APK of
#        >= 200 MB (the real app plus large stored and deflated assets), and
#        that APK signed by apksigner (a signed release: JAR digests reusable);
#   aab  `jarsigner` (what signs an App Bundle for upload) on a generated
#        bundle of about 150 MiB: testdata/aab/bundle.aab plus ApiDemos'
#        classes.dex as base/dex/classes2.dex and large stored and deflated
#        assets in base/assets/;
#   ipa  zsign (github.com/zhlynn/zsign, the fastest open iOS re-signer;
#        built by hand outside the repo, see ZSIGN) on a generated IPA of
#        about 200 MiB of content (scripts/make-bench-ipa.sh: a 50 MiB
#        arm64 executable and 150 MiB of stored and deflated resources),
#        same .p12 and profiles; zsign runs with its defaults (an IPA input
#        always has its cache off; -z 0: deflate at level 0).
# Prints the median wall time of RUNS runs each, the ratio, and the peak RSS
# (/usr/bin/time -v). Not part of CI (it takes minutes); run it by hand:
# scripts/bench.sh
#
#   RUNS       runs per measurement (default 3)
#   BENCH      which benchmarks, any of "apk aab ipa" (the default: all)
#   BIG_MB     MiB of extra assets in the generated APK, half stored, half
#              deflated (default 280: a file of about 220 MB)
#   BUNDLE_MB  MiB of extra assets in the generated bundle, half stored,
#              half deflated (default 200: a file of about 150 MiB)
#   IPA_EXE_MB IPA_RES_MB  MiB of executable and of resources in the generated
#              IPA (defaults 50 and 150: a file of about 150 MB)
#   TF         the trustfuse binary to measure (default: built from this
#              tree); a binary built from another commit gives a before/after
#              table in one session
#   ZSIGN      the zsign binary (default: zsign on PATH); to build it:
#              git clone https://github.com/zhlynn/zsign && make -C zsign/build/linux
#              (needs g++, pkg-config and libssl-dev; first measured at commit
#              d6e929c97b5b, 2026-07-16)
#   ZSIGN_Z    zsign -z levels to measure, one row each (default "0", its
#              default; "0 6" adds the level of a usual deflated IPA)
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${RUNS:-3}"
bench="${BENCH:-apk aab ipa}"
big_mb="${BIG_MB:-280}"
bundle_mb="${BUNDLE_MB:-200}"
ipa_exe_mb="${IPA_EXE_MB:-50}"
ipa_res_mb="${IPA_RES_MB:-150}"
zsign="${ZSIGN:-$(command -v zsign || true)}"
zsign_z="${ZSIGN_Z:-0}"
if [[ " $bench " == *" ipa "* && ! -x $zsign ]]; then
  echo "bench: BENCH=ipa compares with zsign: build it (see ZSIGN at the top of $0) and set ZSIGN=/path/to/zsign, or leave ipa out of BENCH" >&2
  exit 2
fi
cache="${TRUSTFUSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trustfuse}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

scripts/install-deps.sh
command -v /usr/bin/time >/dev/null || { sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo; $sudo apt-get install -y -qq time >/dev/null; }
[[ " $bench " == *" apk "* || " $bench " == *" aab "* ]] && apidemos=$(scripts/fetch-real-apps.sh | grep ApiDemos)

# generate SRC DST MB ASSETS [NAME=FILE...]: writes to DST (once: it is
# cached) the entries of the ZIP file SRC without its JAR signature, each
# NAME=FILE given (deflated), and MB MiB of assets under ASSETS/: half in
# stored incompressible 10 MiB files (like media), half in deflated
# compressible ones (like JSON or text). Deterministic (fixed seed).
generate() {
  local dst=$2
  [[ -s "$dst" ]] && return
  echo "bench: generating $dst" >&2
  python3 - "$1" "$dst.part" "${@:3}" <<'PY'
import random, sys, zipfile
src, dst, mb, assets, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
rnd = random.Random(42)
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for info in zin.infolist():
        if info.filename.startswith("META-INF/") and info.filename.upper().endswith((".SF", ".RSA", ".EC", ".MF")):
            continue
        zout.writestr(info, zin.read(info.filename), compress_type=info.compress_type)
    for arg in extra:
        name, path = arg.split("=", 1)
        with open(path, "rb") as f:
            zout.writestr(zipfile.ZipInfo(name), f.read(), compress_type=zipfile.ZIP_DEFLATED)
    half = mb // 2
    for i in range(half // 10):  # stored, incompressible (like media)
        zout.writestr(zipfile.ZipInfo(f"{assets}/stored{i:03d}.bin"), rnd.randbytes(10 << 20), compress_type=zipfile.ZIP_STORED)
    words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))) for _ in range(5000)]
    for i in range((mb - half) // 10):  # deflated, compressible (like JSON / text)
        data = b" ".join(rnd.choice(words) for _ in range((10 << 20) // 6))[: 10 << 20]
        zout.writestr(zipfile.ZipInfo(f"{assets}/text{i:03d}.txt"), data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
PY
  mv "$dst.part" "$dst"
}

big="$cache/bench-${big_mb}m.apk"
bundle="$cache/bench-${bundle_mb}m.aab"
if [[ " $bench " == *" apk "* ]]; then
  generate "$apidemos" "$big" "$big_mb" assets/bench
  # The same APK as a signed release (v1 + v2 + v3 by apksigner, as a
  # build hands it over for re-signing or fusing): its JAR manifest's
  # digests, vouched for by its v2/v3 signature, can be reused.
  bigsigned="$cache/bench-${big_mb}m-signed.apk"
  if [[ ! -s $bigsigned ]]; then
    echo "bench: generating $bigsigned" >&2
    BENCH_KS_PASS=fixture-pass apksigner sign --ks testdata/keys/rsa-keytool.p12 --ks-pass env:BENCH_KS_PASS \
      --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled true --v4-signing-enabled false \
      --in "$big" --out "$bigsigned.part.apk"
    mv "$bigsigned.part.apk" "$bigsigned"
  fi
fi
if [[ " $bench " == *" aab "* ]]; then
  [[ -s testdata/aab/bundle.aab ]] || scripts/make-aab-fixtures.sh
  unzip -p "$apidemos" classes.dex >"$work/apidemos.dex"
  generate testdata/aab/bundle.aab "$bundle" "$bundle_mb" base/assets/bench base/dex/classes2.dex="$work/apidemos.dex"
fi

# The IPA is cached under the hash of its generator and of Demo.ipa.
if [[ " $bench " == *" ipa "* ]]; then
  [[ -s testdata/ios/Demo.ipa ]] || scripts/make-ios-fixtures.sh
  ipa="$cache/bench-ipa-${ipa_exe_mb}m-${ipa_res_mb}m-$(cat scripts/make-bench-ipa.sh testdata/ios/Demo.ipa | sha256sum | cut -c1-12).ipa"
  if [[ ! -s $ipa ]]; then
    echo "bench: generating $ipa" >&2
    mkdir -p "$cache"
    scripts/make-bench-ipa.sh "$ipa" "$ipa_exe_mb" "$ipa_res_mb"
  fi
fi

if [[ -n ${TF:-} ]]; then
  cp "$TF" "$work/trustfuse"
else
  go build -o "$work/trustfuse" ./cmd/trustfuse
fi
ks=testdata/keys/rsa-keytool.p12
export BENCH_KS_PASS=fixture-pass

# measure NAME CMD...: runs CMD $runs times; prints "median_seconds peak_rss_kib".
measure() {
  local name=$1; shift
  local times=() rss=0
  for ((i = 0; i < runs; i++)); do
    rm -f "$work"/out.*
    /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
    local wall kib
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(j=1;j<=n;j++) s=s*60+a[j]; print s}' "$work/time.txt")
    kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    times+=("$wall"); ((kib > rss)) && rss=$kib
  done
  local med
  med=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$med $rss"
}

# row NAME TRUSTFUSE_S REFERENCE_S TRUSTFUSE_RSS_KIB REFERENCE_RSS_KIB: one line
# of a table, with the ratio reference / trustfuse.
row() {
  awk -v n="$1" -v tf="$2" -v ref="$3" -v tr="$4" -v rr="$5" \
    'BEGIN { printf "%-34s %9.2fs %9.2fs %12.1f %12.1f %7.1fx\n", n, tf, ref, tr/1024, rr/1024, ref/tf }'
}

if [[ " $bench " == *" apk "* ]]; then
  printf '%-34s %10s %10s %12s %12s %8s\n' input/schemes "trustfuse" "apksigner" "tf RSS MiB" "as RSS MiB" ratio
  for input in "$apidemos" "$big" "$bigsigned"; do
    size=$(( $(stat -c %s "$input") / 1048576 ))
    for v1 in off on; do
      # ApiDemos has minSdk 17: without v1 both tools sign for API 24+.
      tf_sdk=(); as_sdk=(); v1flag=true
      [[ $v1 == off ]] && { tf_sdk=(--min-sdk 24); as_sdk=(--min-sdk-version 24); v1flag=false; }
      read -r tf tf_rss < <(measure trustfuse "$work/trustfuse" sign --v1 "$v1" "${tf_sdk[@]}" --in "$input" --out "$work/out.apk" --keystore "$ks" --ks-pass env:BENCH_KS_PASS)
      apksigner verify "${as_sdk[@]}" "$work/out.apk" >/dev/null 2>&1 || { echo "bench: trustfuse output does not verify" >&2; exit 1; }
      read -r as as_rss < <(measure apksigner apksigner sign --ks "$ks" --ks-pass env:BENCH_KS_PASS "${as_sdk[@]}" --v1-signing-enabled "$v1flag" --v2-signing-enabled true --v3-signing-enabled true --v4-signing-enabled false --in "$input" --out "$work/out.apk")
      row "$(basename "$input") ${size}MB v1=$v1" "$tf" "$as" "$tf_rss" "$as_rss"
    done
    # fuse (v1 auto: ApiDemos has minSdk 17, so v1 + v2 + v3) against apksigner
    # signing the same input with the same schemes.
    read -r tf tf_rss < <(measure trustfuse "$work/trustfuse" fuse --in "$input" --fusion-set fusion/examples/demo.json --out "$work/out.apk" --keystore "$ks" --ks-pass env:BENCH_KS_PASS)
    apksigner verify "$work/out.apk" >/dev/null 2>&1 || { echo "bench: fused output does not verify" >&2; exit 1; }
    read -r as as_rss < <(measure apksigner apksigner sign --ks "$ks" --ks-pass env:BENCH_KS_PASS --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled true --v4-signing-enabled false --in "$input" --out "$work/out.apk")
    row "$(basename "$input") ${size}MB fuse" "$tf" "$as" "$tf_rss" "$as_rss"
  done
fi

if [[ " $bench " == *" aab "* ]]; then
  # A bundle is signed with JAR signing only (jarsigner, SHA-256), by the
  # upload key: the same key for both tools, from the same JKS keystore.
  jks=testdata/keys/rsa.jks
  size=$(( $(stat -c %s "$bundle") / 1048576 ))
  name="$(basename "$bundle") ${size}MB"
  echo
  printf '%-34s %10s %10s %12s %12s %8s\n' bundle "trustfuse" "jarsigner" "tf RSS MiB" "js RSS MiB" ratio
  read -r js js_rss < <(measure jarsigner jarsigner -keystore "$jks" -storepass:env BENCH_KS_PASS -digestalg SHA-256 -sigalg SHA256withRSA -signedjar "$work/out.aab" "$bundle" rsa)
  # -strict makes the self-signed test certificate an error unless the
  # keystore holding it is trusted.
  jsverify=(jarsigner -verify -strict -keystore "$jks" -storepass:env BENCH_KS_PASS "$work/out.aab")
  "${jsverify[@]}" >/dev/null || { echo "bench: jarsigner output does not verify" >&2; exit 1; }
  read -r tf tf_rss < <(measure trustfuse "$work/trustfuse" sign --in "$bundle" --out "$work/out.aab" --keystore "$jks" --ks-pass env:BENCH_KS_PASS)
  "${jsverify[@]}" >/dev/null || { echo "bench: trustfuse output does not verify (jarsigner)" >&2; exit 1; }
  row "$name sign" "$tf" "$js" "$tf_rss" "$js_rss"
  # fuse, sealed to a stand-in Play App Signing certificate: the demo Fusion
  # Set with playSigningCertDigests = [the ec test key's digest], as
  # testenv.PlayFusionSet writes it for the tests.
  sed -e "s#file:demo/#file:$PWD/fusion/examples/demo/#" \
    -e 's#"playSigningCertDigests": \[\]#"playSigningCertDigests": ["6b04f6959e509cc3764bc3c1b184655069ef5f42e2026d16a0822d9a72cf287d"]#' \
    fusion/examples/demo.json >"$work/fusion.json"
  read -r tf tf_rss < <(measure trustfuse "$work/trustfuse" fuse --in "$bundle" --fusion-set "$work/fusion.json" --out "$work/out.aab" --keystore "$jks" --ks-pass env:BENCH_KS_PASS)
  "${jsverify[@]}" >/dev/null || { echo "bench: fused bundle does not verify (jarsigner)" >&2; exit 1; }
  row "$name fuse" "$tf" "$js" "$tf_rss" "$js_rss"
fi

if [[ " $bench " == *" ipa "* ]]; then
  # Same identity (testdata/ios/pki: the fake Apple PKI), the app's profile
  # and the widget extension's; zsign picks a profile per bundle by the
  # application-identifier's suffix, trustfuse by the BUNDLE_ID= prefix.
  p12=testdata/ios/pki/dist.p12
  export BENCH_P12_PASS=fixture
  root=(--apple-root testdata/ios/pki/root.pem) # the fake Apple root, instead of Apple's
  verify=("$work/trustfuse" verify "${root[@]}")
  size=$(( $(stat -c %s "$ipa") / 1048576 ))
  name="bench.ipa ${size}MB"
  echo
  printf '%-34s %10s %10s %12s %12s %8s\n' ipa "trustfuse" "zsign" "tf RSS MiB" "zs RSS MiB" ratio
  read -r tf tf_rss < <(measure trustfuse "$work/trustfuse" sign --in "$ipa" --out "$work/out.ipa" \
    --keystore "$p12" --ks-pass env:BENCH_P12_PASS "${root[@]}" \
    --profile testdata/ios/app.mobileprovision --profile com.example.demo.widget=testdata/ios/widget.mobileprovision)
  unzip -tq "$work/out.ipa" >/dev/null || { echo "bench: trustfuse output fails unzip -t" >&2; exit 1; }
  "${verify[@]}" "$work/out.ipa" >"$work/verify.txt" 2>&1 || { cat "$work/verify.txt" >&2; echo "bench: trustfuse output does not verify" >&2; exit 1; }
  tf_size=$(stat -c %s "$work/out.ipa")
  for z in $zsign_z; do
    # zsign takes the .p12 password on its command line only; -t keeps its
    # unpacked copy in $work.
    read -r zs zs_rss < <(measure zsign "$zsign" -t "$work" -z "$z" -k "$p12" -p "$BENCH_P12_PASS" \
      -m testdata/ios/app.mobileprovision -m testdata/ios/widget.mobileprovision -o "$work/out.ipa" "$ipa")
    unzip -tq "$work/out.ipa" >/dev/null || { echo "bench: zsign output fails unzip -t" >&2; exit 1; }
    row "$name sign (zsign -z $z)" "$tf" "$zs" "$tf_rss" "$zs_rss"
    # A second signer's output is a cross-check of our verifier, not a gate.
    echo "  output sizes: trustfuse $((tf_size / 1048576)) MiB, zsign -z $z $(( $(stat -c %s "$work/out.ipa") / 1048576 )) MiB"
    if "${verify[@]}" "$work/out.ipa" >"$work/verify.txt" 2>&1; then
      echo "  trustfuse verify of zsign's output: ok"
    else
      echo "  trustfuse verify of zsign's output: exit $?:"
      sed 's/^/    /' "$work/verify.txt" | head -20
    fi
  done
fi

echo
echo "Go benchmarks (digest path, copy, inspect):"
go test -run '^$' -bench 'ContentDigest|Copy|Inspect' -benchtime 20x ./pkg/apksig ./pkg/zipx ./pkg/apk 2>&1 | grep -E '^Benchmark|^ok'
