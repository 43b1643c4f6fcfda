#!/usr/bin/env bash
# Checks the release configuration (.goreleaser.yaml, docs/releases.md).
#
#   scripts/release-check.sh        full check: goreleaser check; the six-target
#                                   snapshot build; every binary's platform and
#                                   build settings (file, go version -m); the
#                                   linux/amd64 binary's injected values; two
#                                   snapshot releases (binaries, archives,
#                                   checksums.txt) from the commit, in two clones
#                                   at different paths with separate Go build
#                                   caches, compared byte for byte; the checksum
#                                   signature when cosign is installed
#   scripts/release-check.sh --ci   what scripts/test.sh runs: goreleaser check,
#                                   the single-target snapshot build and the
#                                   host binary's injected values
#
# Installs goreleaser (GORELEASER_VERSION) with `go install` unless GOBIN
# already has that version. Fails with a message naming the file and the
# value when an injected value, a platform or a byte differs.
set -euo pipefail
cd "$(dirname "$0")/.."

GORELEASER_VERSION=v2.17.0
mode=full
case "${1:-}" in
"") ;;
--ci) mode=ci ;;
*)
  echo "usage: scripts/release-check.sh [--ci]" >&2
  exit 2
  ;;
esac

step() { printf '\n== release-check: %s\n' "$*" >&2; }
fail() {
  echo "release-check: FAIL: $*" >&2
  exit 1
}

gobin=$(go env GOBIN)
[[ -n "$gobin" ]] || gobin="$(go env GOPATH)/bin"
goreleaser="$gobin/goreleaser"
PATH="$PATH:$gobin" # cosign, when installed with go install

install_goreleaser() {
  if [[ -x "$goreleaser" ]] && "$goreleaser" --version 2>/dev/null | grep -Eq "GitVersion:[[:space:]]+${GORELEASER_VERSION}\$"; then
    return 0
  fi
  step "go install github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
  GOFLAGS= go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
  "$goreleaser" --version | grep -Eq "GitVersion:[[:space:]]+${GORELEASER_VERSION}\$" ||
    fail "$goreleaser is not $GORELEASER_VERSION after go install"
}

# The values a snapshot of HEAD must carry: goreleaser's {{ .FullCommit }} and
# {{ .CommitDate }} (RFC 3339, UTC) and {{ .CommitTimestamp }} (mod_timestamp).
head_commit() { git -C "$1" rev-parse HEAD; }
head_date() { TZ=UTC git -C "$1" log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd; }
head_time() { git -C "$1" log -1 --format=%ct; }

# metadata_version DIST: the version goreleaser computed for this run.
metadata_version() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$1/metadata.json"
}

# check_version_json BIN VERSION COMMIT DATE PLATFORM: BIN's `version --json`
# must carry exactly these values.
check_version_json() {
  local bin=$1 out
  out=$("$bin" version --json) || fail "$bin version --json exited $?"
  python3 - "$bin" "$out" "$2" "$3" "$4" "$5" <<'PY'
import json, sys
binary, out, version, commit, date, platform = sys.argv[1:]
got = json.loads(out)
want = {"version": version, "commit": commit, "date": date, "platform": platform}
bad = [f"{k} = {got.get(k)!r}, want {v!r}" for k, v in want.items() if got.get(k) != v]
if bad:
    sys.exit(f"release-check: FAIL: {binary} version --json: " + "; ".join(bad))
PY
}

# check_binary_file BIN GOOS GOARCH: `file` names the right format and CPU.
check_binary_file() {
  local bin=$1 desc want
  desc=$(file -b "$bin")
  case "$2/$3" in
  linux/amd64) want='^ELF 64-bit LSB executable, x86-64, .*statically linked' ;;
  linux/arm64) want='^ELF 64-bit LSB executable, ARM aarch64, .*statically linked' ;;
  darwin/amd64) want='^Mach-O 64-bit x86_64 executable' ;;
  darwin/arm64) want='^Mach-O 64-bit arm64 executable' ;;
  windows/amd64) want='^PE32\+ executable .*x86-64' ;;
  windows/arm64) want='^PE32\+ executable .*Aarch64' ;;
  *) fail "unexpected target $2/$3" ;;
  esac
  [[ "$desc" =~ $want ]] || fail "$bin: file says '$desc', want /$want/"
}

# check_build_settings BIN GOOS GOARCH COMMIT DATE: the Go build information
# records the target, CGO_ENABLED=0 and -trimpath (Go leaves -ldflags out of
# it under -trimpath), and the binary holds the injected commit and date
# strings (for the binaries this machine cannot run).
check_build_settings() {
  local bin=$1 info line
  info=$(go version -m "$bin") || fail "go version -m $bin failed"
  for line in "build	GOOS=$2" "build	GOARCH=$3" "build	CGO_ENABLED=0" "build	-trimpath=true"; do
    grep -qxF "	$line" <<<"$info" || fail "$bin: go version -m has no '$line'"$'\n'"$info"
  done
  grep -aqF "$4" "$bin" || fail "$bin: the commit $4 is not in the binary"
  grep -aqF "$5" "$bin" || fail "$bin: the date $5 is not in the binary"
}

# check_container DOCKERFILE: the image definition .goreleaser.yaml names is
# distroless/static or scratch (CA certificates then copied in), copies the
# binary from the per-platform path dockers_v2 provides, and runs it.
check_container() {
  local df=$1
  grep -q "dockerfile: $df\$" .goreleaser.yaml || fail ".goreleaser.yaml's dockers_v2 does not name $df"
  grep -Eq '^FROM (gcr\.io/distroless/static[-a-z0-9]*(:[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?|scratch)$' "$df" ||
    fail "$df: base image is not distroless/static or scratch"
  if grep -q '^FROM scratch' "$df"; then
    grep -q 'ca-certificates' "$df" || fail "$df: scratch image without CA certificates"
  fi
  grep -qxF 'COPY ${TARGETPLATFORM}/trustfuse /usr/bin/trustfuse' "$df" ||
    fail "$df: does not copy \${TARGETPLATFORM}/trustfuse to /usr/bin/trustfuse"
  grep -qxF 'ENTRYPOINT ["/usr/bin/trustfuse"]' "$df" || fail "$df: ENTRYPOINT is not /usr/bin/trustfuse"
  grep -Eq '^USER (nonroot|[1-9][0-9]*)' "$df" || fail "$df: runs as root"
}

# goreleaser reads the commit, its date and the remote's URL from git, and
# falls back to placeholders ("none", year 1) for all of them when the
# checkout has no remote (a local worktree): lend it one for this run only.
if ! git ls-remote --get-url >/dev/null 2>&1; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/trustfuse/trustfuse
fi

install_goreleaser
step "goreleaser check"
"$goreleaser" check
check_container build/container/Dockerfile

host_os=$(go env GOOS)
host_arch=$(go env GOARCH)
commit=$(head_commit .)
date=$(head_date .)
ctime=$(head_time .)

if [[ $mode == ci ]]; then
  step "goreleaser build --snapshot --clean --single-target"
  "$goreleaser" build --snapshot --clean --single-target
  bin=$(find dist -type f -name trustfuse -path "*${host_os}_${host_arch}*" | head -n 1)
  [[ -n "$bin" ]] || fail "no ${host_os}/${host_arch} binary under dist/"
  version=$(metadata_version dist)
  check_version_json "$bin" "$version" "$commit" "$date" "$host_os/$host_arch"
  [[ $(stat -c %Y "$bin") == "$ctime" ]] || fail "$bin: mtime $(stat -c %Y "$bin"), want the commit time $ctime"
  # The check above must be able to fail: a wrong commit is refused.
  if (check_version_json "$bin" "$version" "0000000000000000000000000000000000000000" "$date" "$host_os/$host_arch") 2>/dev/null; then
    fail "check_version_json accepted a wrong commit"
  fi
  echo "release-check: OK (ci: goreleaser check, $bin $version $commit $date)"
  exit 0
fi

if [[ -n "$(git status --porcelain)" ]]; then
  echo "release-check: the worktree has uncommitted changes; the reproducibility check builds HEAD ($commit)" >&2
fi

step "goreleaser build --snapshot --clean (six targets)"
"$goreleaser" build --snapshot --clean
version=$(metadata_version dist)
n=0
for target in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64; do
  os=${target%/*} arch=${target#*/}
  exe=trustfuse
  [[ $os == windows ]] && exe=trustfuse.exe
  bin=$(find dist -type f -name "$exe" -path "*_${os}_${arch}*" | head -n 1)
  [[ -n "$bin" ]] || fail "no $target binary under dist/"
  check_binary_file "$bin" "$os" "$arch"
  check_build_settings "$bin" "$os" "$arch" "$commit" "$date"
  [[ $(stat -c %Y "$bin") == "$ctime" ]] || fail "$bin: mtime $(stat -c %Y "$bin"), want the commit time $ctime"
  printf '%-14s %9d bytes  %s\n' "$target" "$(stat -c %s "$bin")" "$bin"
  if [[ $target == "$host_os/$host_arch" ]]; then
    check_version_json "$bin" "$version" "$commit" "$date" "$target"
    "$bin" version
  fi
  n=$((n + 1))
done
((n == 6)) || fail "$n binaries, want 6"

# Two snapshot releases of HEAD, each in its own clone at its own path, one
# with the Go build cache and one without: binaries, archives and
# checksums.txt must be identical. checksums.txt.sig is not compared (Go's
# ECDSA signatures are randomized); it is verified below.
# metadata.json, artifacts.json and config.yaml are goreleaser's records of
# the run (they hold absolute paths and the run's time), not release assets.
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
skip=docker,publish
command -v syft >/dev/null || skip+=,sbom
if command -v cosign >/dev/null; then
  # A throwaway key pair: the real one lives in the CI secret store.
  (cd "$tmp" && COSIGN_PASSWORD=release-check cosign generate-key-pair >/dev/null 2>&1) ||
    fail "cosign generate-key-pair failed"
  export COSIGN_KEY COSIGN_PASSWORD=release-check
  COSIGN_KEY=$(cat "$tmp/cosign.key")
else
  skip+=,sign
fi
for run in a b; do
  git clone --quiet --no-hardlinks . "$tmp/$run/src-$run"
  git -C "$tmp/$run/src-$run" checkout --quiet --detach "$commit"
done
# Clone a builds with this machine's Go build cache, clone b with an empty one.
for run in a b; do
  step "goreleaser release --snapshot --clean --skip=$skip (clone $run)"
  gocache=$(go env GOCACHE)
  [[ $run == b ]] && gocache="$tmp/b/gocache"
  (cd "$tmp/$run/src-$run" && GOCACHE="$gocache" "$goreleaser" release --snapshot --clean --skip="$skip")
done
compared=0
while IFS= read -r -d '' f; do
  rel=${f#"$tmp/a/src-a/dist/"}
  case "$rel" in metadata.json | artifacts.json | config.yaml | *.sig) continue ;; esac
  [[ -f "$tmp/b/src-b/dist/$rel" ]] || fail "dist/$rel is in the first build only"
  cmp -s "$f" "$tmp/b/src-b/dist/$rel" || fail "dist/$rel differs between two builds of $commit"
  compared=$((compared + 1))
done < <(find "$tmp/a/src-a/dist" -type f -print0)
extra=$(cd "$tmp/b/src-b/dist" && find . -type f | sed 's|^\./||' | while read -r rel; do [[ -e "$tmp/a/src-a/dist/$rel" ]] || echo "$rel"; done)
[[ -z "$extra" ]] || fail "in the second build only: $extra"
step "identical: $compared files"
(cd "$tmp/a/src-a/dist" && find . -maxdepth 1 -type f ! -name '*.json' ! -name config.yaml | sort | xargs ls -l)
(cd "$tmp/a/src-a/dist" && sha256sum --quiet -c checksums.txt) || fail "checksums.txt does not match the archives"

# The Homebrew cask (written, not published, in a snapshot): every archive
# it downloads is one of the release's, with the sha256 of checksums.txt.
cask="$tmp/a/src-a/dist/homebrew/Casks/trustfuse.rb"
[[ -f "$cask" ]] || fail "no Homebrew cask at dist/homebrew/Casks/trustfuse.rb"
grep -qxF '  binary "trustfuse"' "$cask" || fail "$cask does not install the trustfuse binary"
casks=0
while read -r sum; do
  grep -Eq "^$sum  trustfuse_[^ ]+_(darwin|linux)_(amd64|arm64)\.tar\.gz\$" "$tmp/a/src-a/dist/checksums.txt" ||
    fail "$cask: sha256 $sum is not a darwin/linux archive's in checksums.txt"
  casks=$((casks + 1))
done < <(sed -nE 's/^ *sha256 "([0-9a-f]{64})"$/\1/p' "$cask")
((casks == 4)) || fail "$cask has $casks archives, want 4 (darwin and linux, amd64 and arm64)"

signed=no
if [[ $skip != *sign* ]]; then
  sig="$tmp/a/src-a/dist/checksums.txt.sig"
  [[ -f "$sig" ]] || fail "no checksums.txt.sig"
  cosign verify-blob --key "$tmp/cosign.pub" --signature "$sig" --insecure-ignore-tlog=true \
    "$tmp/a/src-a/dist/checksums.txt" || fail "cosign verify-blob refused checksums.txt.sig"
  # The same check with openssl alone (docs/releases.md).
  base64 -d "$sig" >"$tmp/sig.der"
  openssl dgst -sha256 -verify "$tmp/cosign.pub" -signature "$tmp/sig.der" "$tmp/a/src-a/dist/checksums.txt" ||
    fail "openssl refused checksums.txt.sig"
  printf 'tampered\n' >>"$tmp/b/src-b/dist/checksums.txt"
  if openssl dgst -sha256 -verify "$tmp/cosign.pub" -signature "$tmp/sig.der" "$tmp/b/src-b/dist/checksums.txt" >/dev/null 2>&1; then
    fail "openssl accepted a signature over a changed checksums.txt"
  fi
  signed=yes
fi
echo "release-check: OK ($n binaries, $compared identical files across two builds of $commit (one without a Go build cache), cask checked, signature checked: $signed, skipped: $skip)"
