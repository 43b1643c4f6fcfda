#!/usr/bin/env bash
# The project's test command (README "Quick start"; .ci/run calls it).
# Installs the oracle tools, fetches the real apps, makes the fixtures if
# testdata/apk has none, then: gofmt, go vet,
# go test, the race detector on the parsers, and a short run of every fuzz
# target found under pkg/, fusion/ and internal/.
#
#   FUZZTIME   time per fuzz target (default 10s; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin" # daemons used by tests (nginx) live there

fuzztime="${FUZZTIME:-10s}"
step() { printf '\n== %s\n' "$*" >&2; }

step "dependencies"
scripts/install-deps.sh
scripts/fetch-real-apps.sh >/dev/null
for mode in macho ios npm; do scripts/fetch-real-apps.sh "$mode" >/dev/null; done
if [[ -x scripts/make-fixtures.sh ]] && ! compgen -G 'testdata/apk/*.apk' >/dev/null; then
  scripts/make-fixtures.sh
fi
if [[ -x scripts/make-aab-fixtures.sh ]] && ! compgen -G 'testdata/aab/*.aab' >/dev/null; then
  scripts/make-aab-fixtures.sh
fi
if [[ -x scripts/make-ios-fixtures.sh ]] && ! compgen -G 'testdata/ios/*.ipa' >/dev/null; then
  scripts/make-ios-fixtures.sh
fi

step "gofmt"
unformatted=$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 gofmt -l)
if [[ -n "$unformatted" ]]; then
  echo "test.sh: gofmt needed on:" >&2
  echo "$unformatted" >&2
  exit 1
fi

step "go vet"
go vet ./...

step "go test"
go test -count=1 ./...

race=()
for dir in pkg/zipx pkg/axml pkg/protoxml pkg/aab pkg/keys pkg/apksig pkg/vault pkg/keyattest pkg/attest pkg/guard pkg/macho pkg/codesign pkg/provision pkg/ipa internal/cms internal/plistx; do
  [[ -d "$dir" ]] && race+=("./$dir")
done
if ((${#race[@]})); then
  # -short: tests that need an oracle tool skip (the run above checked them).
  step "go test -race -short ${race[*]}"
  go test -race -short -count=1 "${race[@]}"
fi

# .goreleaser.yaml: goreleaser check, a snapshot build for this machine, and
# its `version --json` against the commit (the full check is release-check.sh).
step "release check"
scripts/release-check.sh --ci

# Every `func FuzzX(f *testing.F)` under pkg/ and fusion/, as "dir FuzzX"; -fuzz takes one
# package and one target at a time.
# fuzz_one runs one target. Go 1.26's fuzz coordinator can fail a run with a
# bare "context deadline exceeded" at the -fuzztime boundary when a starved
# worker misses its stop deadline (go.dev/issue/75804, fixed in Go 1.27): no
# input is written and nothing reproduces. Such a run is retried (twice at most); a run
# that writes a failing input, or fails three times, fails the script.
fuzz_one() {
  local dir=$1 name=$2 log attempt
  log=$(mktemp)
  for attempt in 1 2 3; do
    if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -fuzzminimizetime=3s "./$dir" 2>&1 | tee "$log"; then
      rm -f "$log"
      return 0
    fi
    if grep -q 'Failing input written' "$log" || ! grep -q 'context deadline exceeded' "$log" || [[ $attempt == 3 ]]; then
      rm -f "$log"
      return 1
    fi
    echo "test.sh: $name hit the fuzz coordinator's deadline race (go.dev/issue/75804) with no failing input; retrying"
  done
}

fuzzed=0
if [[ "$fuzztime" != 0 ]]; then
  while read -r file name; do
    dir=$(dirname "$file")
    step "fuzz $dir $name ($fuzztime)"
    fuzz_one "$dir" "$name"
    fuzzed=$((fuzzed + 1))
  done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' pkg fusion internal 2>/dev/null |
    sed -E 's/:func / /' | sort -u)
fi

echo "test.sh: OK (gofmt, vet, tests, race on ${#race[@]} packages, release check, ${fuzzed} fuzz targets for ${fuzztime})"
