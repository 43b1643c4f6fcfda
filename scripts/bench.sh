#!/usr/bin/env bash
# Benchmarks `trustfuse sign` and `trustfuse fuse` against `apksigner sign` on the same inputs in
# the same run: the real ApiDemos app and a generated APK of >= 200 MB (the
# real app plus large stored and deflated assets). Prints the median wall
# time of RUNS runs each, the ratio, and the peak RSS (/usr/bin/time -v).
# Not part of CI (it takes minutes); run it by hand: scripts/bench.sh
#
#   RUNS       runs per measurement (default 3)
#   BIG_MB     MiB of extra assets in the generated APK, half stored, half
#              deflated (default 280: a file of about 220 MB)
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${RUNS:-3}"
big_mb="${BIG_MB:-280}"
cache="${TRUSTFUSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trustfuse}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

scripts/install-deps.sh
command -v /usr/bin/time >/dev/null || { sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo; $sudo apt-get install -y -qq time >/dev/null; }
apidemos=$(scripts/fetch-real-apps.sh | grep ApiDemos)

big="$cache/bench-${big_mb}m.apk"
if [[ ! -s "$big" ]]; then
  echo "bench: generating $big" >&2
  python3 - "$apidemos" "$big.part" "$big_mb" <<'PY'
import random, sys, zipfile
src, dst, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(42)
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for info in zin.infolist():
        if info.filename.startswith("META-INF/") and info.filename.upper().endswith((".SF", ".RSA", ".EC", ".MF")):
            continue
        zout.writestr(info, zin.read(info.filename), compress_type=info.compress_type)
    half = mb // 2
    for i in range(half // 10):  # stored, incompressible (like media)
        zout.writestr(zipfile.ZipInfo(f"assets/bench/stored{i:03d}.bin"), rnd.randbytes(10 << 20), compress_type=zipfile.ZIP_STORED)
    words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))) for _ in range(5000)]
    for i in range((mb - half) // 10):  # deflated, compressible (like JSON / text)
        data = b" ".join(rnd.choice(words) for _ in range((10 << 20) // 6))[: 10 << 20]
        zout.writestr(zipfile.ZipInfo(f"assets/bench/text{i:03d}.txt"), data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
PY
  mv "$big.part" "$big"
fi

go build -o "$work/trustfuse" ./cmd/trustfuse
ks=testdata/keys/rsa-keytool.p12
export BENCH_KS_PASS=fixture-pass

# measure NAME CMD...: runs CMD $runs times; prints "median_seconds peak_rss_kib".
measure() {
  local name=$1; shift
  local times=() rss=0
  for ((i = 0; i < runs; i++)); do
    rm -f "$work/out.apk"
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

printf '%-34s %10s %10s %12s %12s %8s\n' input/schemes "trustfuse" "apksigner" "tf RSS MiB" "as RSS MiB" ratio
for input in "$apidemos" "$big"; do
  size=$(( $(stat -c %s "$input") / 1048576 ))
  for v1 in off on; do
    # ApiDemos has minSdk 17: without v1 both tools sign for API 24+.
    tf_sdk=(); as_sdk=(); v1flag=true
    [[ $v1 == off ]] && { tf_sdk=(--min-sdk 24); as_sdk=(--min-sdk-version 24); v1flag=false; }
    read -r tf tf_rss < <(measure trustfuse "$work/trustfuse" sign --v1 "$v1" "${tf_sdk[@]}" --in "$input" --out "$work/out.apk" --keystore "$ks" --ks-pass env:BENCH_KS_PASS)
    apksigner verify "${as_sdk[@]}" "$work/out.apk" >/dev/null 2>&1 || { echo "bench: trustfuse output does not verify" >&2; exit 1; }
    read -r as as_rss < <(measure apksigner apksigner sign --ks "$ks" --ks-pass env:BENCH_KS_PASS "${as_sdk[@]}" --v1-signing-enabled "$v1flag" --v2-signing-enabled true --v3-signing-enabled true --v4-signing-enabled false --in "$input" --out "$work/out.apk")
    awk -v n="$(basename "$input") ${size}MB v1=$v1" -v tf="$tf" -v as="$as" -v tr="$tf_rss" -v ar="$as_rss" \
      'BEGIN { printf "%-34s %9.2fs %9.2fs %12.1f %12.1f %7.1fx\n", n, tf, as, tr/1024, ar/1024, as/tf }'
  done
  # fuse (v1 auto: ApiDemos has minSdk 17, so v1 + v2 + v3) against apksigner
  # signing the same input with the same schemes.
  read -r tf tf_rss < <(measure trustfuse "$work/trustfuse" fuse --in "$input" --fusion-set fusion/examples/demo.json --out "$work/out.apk" --keystore "$ks" --ks-pass env:BENCH_KS_PASS)
  apksigner verify "$work/out.apk" >/dev/null 2>&1 || { echo "bench: fused output does not verify" >&2; exit 1; }
  read -r as as_rss < <(measure apksigner apksigner sign --ks "$ks" --ks-pass env:BENCH_KS_PASS --v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled true --v4-signing-enabled false --in "$input" --out "$work/out.apk")
  awk -v n="$(basename "$input") ${size}MB fuse" -v tf="$tf" -v as="$as" -v tr="$tf_rss" -v ar="$as_rss" \
    'BEGIN { printf "%-34s %9.2fs %9.2fs %12.1f %12.1f %7.1fx\n", n, tf, as, tr/1024, ar/1024, as/tf }'
done

echo
echo "Go benchmarks (digest path, copy, inspect):"
go test -run '^$' -bench 'ContentDigest|Copy|Inspect' -benchtime 20x ./pkg/apksig ./pkg/zipx ./pkg/apk 2>&1 | grep -E '^Benchmark|^ok'
