#!/usr/bin/env bash
# Install (idempotently) the Debian packages whose tools the tests use as
# independent oracles (DESIGN §9). Does nothing when every tool is present.
set -euo pipefail

# command -> Debian package
declare -A need=(
  [apksigner]=apksigner [zipalign]=zipalign [aapt]=aapt [aapt2]=aapt
  [smali]=smali [enjarify]=enjarify [dexdump]=dexdump
  [keytool]=openjdk-17-jdk-headless [jarsigner]=openjdk-17-jdk-headless
  [openssl]=openssl [redis-server]=redis-server [pdftotext]=poppler-utils [zbarimg]=zbar-tools [python3]=python3 [nginx]=nginx
  # iOS fixtures and Mach-O oracles (DESIGN §5)
  [clang-14]=clang-14 [ld64.lld-14]=lld-14 [llvm-objdump-14]=llvm-14 [llvm-lipo-14]=llvm-14
  [plistutil]=libplist-utils
  # npm: real inputs and the npm oracles (scripts/fetch-real-apps.sh)
  [node]=nodejs [npm]=npm
  # ZIP / ZIP64 oracles (pkg/zipx)
  [unzip]=unzip [zipinfo]=unzip
  # shell completion scripts: syntax checks and completion runs (cmd/trustfuse)
  [zsh]=zsh [fish]=fish
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
[[ -f /usr/share/android-framework-res/framework-res.apk ]] || missing+=(android-framework-res)
# PostgreSQL registry tests (pkg/attest) and scripts/bench-serve.sh run the
# server's binaries, which are not on PATH; the package creates the postgres
# user they run as under root.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
# macholib is an oracle for Debian's /usr/bin/python3 (not a pyenv one).
/usr/bin/python3 -c 'import macholib' 2>/dev/null || missing+=(python3-macholib)
# cbor2 is the App Attest CBOR oracle (pkg/keyattest), for the same python3.
/usr/bin/python3 -c 'import cbor2' 2>/dev/null || missing+=(python3-cbor2)
/usr/bin/python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml) # parses integrations/ YAML
# The PDF report uses the core fonts (Helvetica, Courier), which poppler takes
# from fontconfig: URW's metric-compatible Nimbus fonts render pkg/report's
# golden page; DejaVu (the fallback) would render another image.
fc-match Helvetica 2>/dev/null | grep -q '^NimbusSans' || missing+=(fonts-urw-base35 fontconfig)
if ((${#missing[@]})); then
  mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "install-deps: installing ${pkgs[*]}" >&2
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
