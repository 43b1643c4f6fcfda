#!/usr/bin/env bash
# make-bench-ipa.sh OUT [EXE_MB] [RES_MB]: writes the benchmark IPA of
# scripts/bench.sh (BENCH=ipa) to OUT: testdata/ios/Demo.ipa's entries with
# the main executable replaced by an arm64 Mach-O of about EXE_MB MiB
# (default 50) and RES_MB MiB (default 150) of resources under
# Payload/Demo.app/: half stored incompressible media-like files, half
# deflated compressible text-like files, in several sizes (a few big, tens of
# medium, hundreds of small ones, among them an en.lproj/ folder).
#
# The executable is built the way scripts/make-ios-fixtures.sh builds the
# fixtures (clang-14 + ld64.lld-14 against a libSystem .tbd, unsigned); its
# bulk is two .incbin'd blobs, in __TEXT,__const and __DATA,__const, of
# partly compressible bytes (runs of random bytes between runs of
# instruction-like words from a small vocabulary). Deterministic: fixed seed,
# fixed ZIP times, and lld hashes its output into LC_UUID.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$1
exe_mb=${2:-50}
res_mb=${3:-150}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[[ -s $root/testdata/ios/Demo.ipa ]] || "$root/scripts/make-ios-fixtures.sh"

# The executable's blobs: 3/5 in __TEXT,__const, the rest in __DATA,__const.
/usr/bin/python3 - "$work" "$exe_mb" <<'PY'
import random, sys
work, mb = sys.argv[1], int(sys.argv[2])
rnd = random.Random(13)
vocab = [rnd.randbytes(4) for _ in range(256)]
def blob(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 64 << 10)
            # 40 % of the 64 KiB runs random (tables, compressed data), the
            # rest instruction-like words: deflate gets about 2:1 overall.
            if rnd.random() < 0.4:
                f.write(rnd.randbytes(n))
            else:
                f.write(b"".join(rnd.choices(vocab, k=n // 4 + 1))[:n])
            left -= n
text = (mb << 20) * 3 // 5
blob(f"{work}/text.bin", text)
blob(f"{work}/data.bin", (mb << 20) - text)
PY

cat >"$work/libSystem.tbd" <<'EOF'
--- !tapi-tbd
tbd-version:     4
targets:         [ arm64-ios ]
install-name:    '/usr/lib/libSystem.B.dylib'
current-version: 1311
exports:
  - targets:     [ arm64-ios ]
    symbols:     [ _puts, dyld_stub_binder ]
...
EOF
cat >"$work/blobs.s" <<EOF
	.section __TEXT,__const
	.globl _bench_text
	.p2align 14
_bench_text:
	.incbin "$work/text.bin"
	.section __DATA,__const
	.globl _bench_data
	.p2align 14
_bench_data:
	.incbin "$work/data.bin"
EOF
cat >"$work/main.c" <<'EOF'
int puts(const char *);
extern const unsigned char bench_text[], bench_data[];
int main(void) { puts("demo"); return bench_text[0] ^ bench_data[0]; }
EOF
clang-14 --target=arm64-apple-ios14.0 -c "$work/blobs.s" -o "$work/blobs.o"
clang-14 --target=arm64-apple-ios14.0 -nostdinc -Os -fno-unwind-tables -fno-asynchronous-unwind-tables \
  -c "$work/main.c" -o "$work/main.o"
ld64.lld-14 -arch arm64 -platform_version ios 14.0 16.0 -o "$work/Demo" "$work/libSystem.tbd" \
  "$work/main.o" "$work/blobs.o" -rpath @executable_path/Frameworks -headerpad 0x1000
llvm-objdump-14 --macho --private-headers "$work/Demo" >"$work/headers"
[[ $(grep -c 'sectname __const' "$work/headers") == 2 ]] ||
  { echo "make-bench-ipa: the executable lacks its __TEXT,__const or __DATA,__const section" >&2; exit 1; }

/usr/bin/python3 - "$root/testdata/ios/Demo.ipa" "$work/Demo" "$out.part" "$res_mb" <<'PY'
import random, sys, zipfile
src, exe, dst, mb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
app = "Payload/Demo.app/"
when = (2023, 11, 14, 22, 13, 20)
rnd = random.Random(42)

def entry(z, name, data, method, mode=0o100644):
    zi = zipfile.ZipInfo(name, when)
    zi.external_attr = mode << 16
    zi.compress_type = method
    z.writestr(zi, data)

def plan(budget, big, medium, small_lo, small_hi):
    """Sizes for budget bytes: 45 % in `big` files, 30 % in `medium`
    files, the rest in small files of small_lo…small_hi bytes."""
    sizes = [budget * 45 // 100 // big] * big + [budget * 30 // 100 // medium] * medium
    left = budget - sum(sizes)
    while left > small_lo:
        n = min(left, rnd.randint(small_lo, small_hi))
        sizes.append(n)
        left -= n
    return sizes

words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))) for _ in range(5000)]
def text(n):
    return b" ".join(rnd.choices(words, k=n // 5 + 1))[:n]

with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for info in zin.infolist():
        data = zin.read(info.filename)
        if info.filename == app + "Demo":
            data = open(exe, "rb").read()
        entry(zout, info.filename, data, zipfile.ZIP_DEFLATED, info.external_attr >> 16)
    half = (mb << 20) // 2
    # Stored, incompressible: videos, sounds, images.
    for i, n in enumerate(plan(half, 3, 10, 16 << 10, 240 << 10)):
        name = ("Media/intro%d.mp4" if i < 3 else "Sounds/track%02d.m4a" if i < 13 else "Images/img%03d.png") % (i if i < 13 else i - 13)
        entry(zout, app + name, rnd.randbytes(n), zipfile.ZIP_STORED)
    # Deflated, compressible: data, scripts, localized strings, small configs.
    for i, n in enumerate(plan((mb << 20) - half, 2, 20, 1 << 10, 96 << 10)):
        if i < 2:
            name = "Data/catalog%d.json" % i
        elif i < 22:
            name = "Web/js/bundle%02d.js" % (i - 2)
        elif i % 4 == 0:
            name = "en.lproj/Strings%03d.strings" % (i - 22)
        else:
            name = "Config/item%03d.plist" % (i - 22)
        entry(zout, app + name, text(n), zipfile.ZIP_DEFLATED)
PY
mv "$out.part" "$out"
