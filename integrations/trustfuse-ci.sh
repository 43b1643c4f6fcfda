#!/bin/sh
# trustfuse-ci.sh: the one script every CI integration (Jenkins, Bitrise,
# CircleCI, GitHub Actions) runs. It installs trustfuse (a preinstalled
# binary, or a pinned release checked against its checksums.txt), runs
# `trustfuse fuse` with --report-dir, puts the report where the CI publishes
# artifacts, writes the verdict in the CI's summary format, and exits with
# fuse's exit code, printing what it means. POSIX sh; needs curl and
# sha256sum (or shasum) only to download a release.
#
# Settings, all from the environment (the per-CI wrappers set them):
#   TF_CI            github | bitrise | circleci | jenkins | plain (default)
#   TF_BIN           a preinstalled trustfuse to use (no download)
#   TF_VERSION       release to download when TF_BIN is empty, e.g. 1.2.3
#   TF_RELEASE_URL   base of the release downloads
#                    (default https://github.com/trustfuse/trustfuse/releases/download)
#   TF_INSTALL_DIR   where a release is unpacked (default: a temporary directory)
#   TF_IN, TF_FUSION_SET, TF_OUT   fuse's --in, --fusion-set, --out (required)
#   TF_KEYSTORE      fuse's --keystore (empty: trustfuse's DEMO key)
#   TF_KS_PASS       the keystore password as a reference: env:NAME or
#                    file:PATH; a literal password is refused
#   TF_KS_PASS_VAR   instead of TF_KS_PASS: the name of the variable holding
#                    the password (TF_KS_PASS becomes env:<that name>)
#   TF_KS_KEY_ALIAS  fuse's --ks-key-alias
#   TF_KEY_PASS      fuse's --key-pass reference (JKS), env:NAME or file:PATH
#   TF_PROFILE       fuse's --profile (IPAs)
#   TF_REPORT_DIR    fuse's --report-dir (default trustfuse-report)
#
# The release archive is trustfuse_<version>_<os>_<arch>.tar.gz under
# <TF_RELEASE_URL>/v<version>/, next to checksums.txt (GoReleaser's default
# archive name template, with the checksum file named checksums.txt).
#
# Exit codes: fuse's own (0 ok, 1 internal, 2 usage or invalid input,
# 3 verification failed, 4 signing credential); a download that cannot be
# had or does not match checksums.txt is 1 and trustfuse is not run.

# Secrets never reach a trace: whatever the caller set, no xtrace here; and
# no errexit (CircleCI runs steps with bash -e): fuse's exit code is handled.
set +x +e
set -u

me=trustfuse-ci

say() { printf '%s: %s\n' "$me" "$*"; }
die() { # die CODE MESSAGE
	code=$1
	shift
	printf '%s: error: %s\n' "$me" "$*" >&2
	exit "$code"
}

# meaning prints what a trustfuse exit code means (README "Exit codes").
meaning() {
	case $1 in
	0) echo "success" ;;
	1) echo "internal error (set TRUSTFUSE_DEBUG=1 for details)" ;;
	2) echo "usage error or invalid input (bad flag, Fusion Set or package)" ;;
	3) echo "verification failed" ;;
	4) echo "signing credential problem (keystore, alias, password or secret reference)" ;;
	*) echo "unexpected exit code" ;;
	esac
}

# checkref refuses a password setting that is not a reference, without
# showing its value.
checkref() { # checkref SETTING VALUE
	case $2 in
	'' | env:?* | file:?*) ;;
	*) die 2 "$1 must be a reference, env:NAME or file:PATH, not the password itself (its value is not shown)" ;;
	esac
}

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | cut -d' ' -f1
	else
		die 1 "neither sha256sum nor shasum is installed: cannot check the download"
	fi
}

# install_trustfuse prints the path of the trustfuse to run: TF_BIN, or the pinned
# release, downloaded and checked against checksums.txt before unpacking.
install_trustfuse() {
	if [ -n "${TF_BIN:-}" ]; then
		[ -x "$TF_BIN" ] || die 1 "TF_BIN=$TF_BIN is not an executable file"
		echo "$TF_BIN"
		return
	fi
	[ -n "${TF_VERSION:-}" ] || die 2 "set a trustfuse version to download, or the path of a preinstalled trustfuse"
	ver=${TF_VERSION#v}
	case $(uname -s) in
	Linux) os=linux ;;
	Darwin) os=darwin ;;
	*) die 1 "no trustfuse release for $(uname -s) in this script: install trustfuse and give its path" ;;
	esac
	case $(uname -m) in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) die 1 "no trustfuse release for $(uname -m): install trustfuse and give its path" ;;
	esac
	archive="trustfuse_${ver}_${os}_${arch}.tar.gz"
	base="${TF_RELEASE_URL:-https://github.com/trustfuse/trustfuse/releases/download}/v$ver"
	dir=${TF_INSTALL_DIR:-$(mktemp -d)}
	mkdir -p "$dir" || die 1 "cannot create $dir"
	command -v curl >/dev/null 2>&1 || die 1 "curl is needed to download trustfuse $ver"
	curl -fsSL -o "$dir/checksums.txt" "$base/checksums.txt" || die 1 "cannot download $base/checksums.txt"
	curl -fsSL -o "$dir/$archive" "$base/$archive" || die 1 "cannot download $base/$archive"
	# FORMAT: checksums.txt lines are "<sha256 hex>  <file name>" (sha256sum).
	want=$(awk -v f="$archive" '$2 == f { print $1 }' "$dir/checksums.txt")
	[ -n "$want" ] || die 1 "$archive is not listed in $base/checksums.txt: refusing to run it"
	got=$(sha256 "$dir/$archive")
	if [ "$got" != "$want" ]; then
		rm -f "$dir/$archive"
		die 1 "$archive: SHA-256 $got does not match checksums.txt ($want): refusing to run it"
	fi
	say "downloaded $archive, SHA-256 $got matches checksums.txt" >&2
	tar -xzf "$dir/$archive" -C "$dir" trustfuse || die 1 "$archive holds no trustfuse binary"
	echo "$dir/trustfuse"
}

# summary writes the verdict where the CI shows it; $1 is the exit code,
# $2 fuse's captured output (empty: trustfuse could not be installed).
summary() {
	rc=$1 log=$2
	if [ "$rc" -eq 0 ]; then
		verdict="PROTECTED: $TF_OUT"
	elif [ -z "$log" ]; then
		verdict="FAILED (exit $rc: trustfuse could not be installed): $TF_IN"
	else
		verdict="FAILED (exit $rc: $(meaning "$rc")): $TF_IN"
	fi
	printf 'TrustFuse %s\n' "$verdict" >"$TF_REPORT_DIR/trustfuse-verdict.txt"
	say "verdict: $verdict"
	case ${TF_CI:-plain} in
	github)
		if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
			{
				printf '### TrustFuse: %s\n\n' "$verdict"
				if [ "$rc" -eq 0 ]; then
					printf '| protection | mode | status |\n|---|---|---|\n'
					awk '$1 == "protection" { printf "| %s | %s | %s |\n", $2, $3, $4 }' "$log"
					printf '\nReport: `%s`, `%s` (artifact)\n' "$json" "$pdf"
				fi
			} >>"$GITHUB_STEP_SUMMARY"
		fi
		if [ -n "${GITHUB_OUTPUT:-}" ]; then
			printf 'exit-code=%s\nreport-json=%s\nreport-pdf=%s\n' "$rc" "$json" "$pdf" >>"$GITHUB_OUTPUT"
		fi
		;;
	bitrise)
		deploy=${BITRISE_DEPLOY_DIR:-}
		if [ "$rc" -eq 0 ] && [ -n "$deploy" ]; then
			mkdir -p "$deploy" && cp "$json" "$pdf" "$deploy/" || die 1 "cannot copy the report to $deploy"
			json="$deploy/$(basename "$json")" pdf="$deploy/$(basename "$pdf")"
		fi
		envman add --key TRUSTFUSE_EXIT_CODE --value "$rc"
		if [ "$rc" -eq 0 ]; then
			envman add --key TRUSTFUSE_OUTPUT_PATH --value "$TF_OUT"
			envman add --key TRUSTFUSE_REPORT_JSON --value "$json"
			envman add --key TRUSTFUSE_REPORT_PDF --value "$pdf"
		fi
		;;
	esac
}

ensure() { [ -n "$2" ] || die 2 "$1 is required"; }
ensure "the input app (TF_IN)" "${TF_IN:-}"
ensure "the Fusion Set (TF_FUSION_SET)" "${TF_FUSION_SET:-}"
ensure "the output app (TF_OUT)" "${TF_OUT:-}"
if [ -z "${TF_KS_PASS:-}" ] && [ -n "${TF_KS_PASS_VAR:-}" ]; then
	TF_KS_PASS="env:$TF_KS_PASS_VAR"
fi
checkref "the keystore password" "${TF_KS_PASS:-}"
checkref "the key password" "${TF_KEY_PASS:-}"
if [ -n "${TF_KEYSTORE:-}" ] && [ -z "${TF_KS_PASS:-}" ]; then
	die 2 "a keystore needs its password reference (env:NAME naming a secret variable)"
fi
TF_REPORT_DIR=${TF_REPORT_DIR:-trustfuse-report}

mkdir -p "$TF_REPORT_DIR" "$(dirname "$TF_OUT")" || die 1 "cannot create $TF_REPORT_DIR"
# The report names fuse gives --report-dir: app.secured.apk makes
# app.secured.report.json and app.secured.report.pdf.
stem=$(basename "$TF_OUT")
stem=${stem%.*}
json="$TF_REPORT_DIR/$stem.report.json" pdf="$TF_REPORT_DIR/$stem.report.pdf"

bin=$(install_trustfuse) || {
	rc=$?
	summary "$rc" ""
	exit "$rc"
}

set -- fuse --in "$TF_IN" --fusion-set "$TF_FUSION_SET" --out "$TF_OUT" --report-dir "$TF_REPORT_DIR"
[ -z "${TF_KEYSTORE:-}" ] || set -- "$@" --keystore "$TF_KEYSTORE" --ks-pass "$TF_KS_PASS"
[ -z "${TF_KS_KEY_ALIAS:-}" ] || set -- "$@" --ks-key-alias "$TF_KS_KEY_ALIAS"
[ -z "${TF_KEY_PASS:-}" ] || set -- "$@" --key-pass "$TF_KEY_PASS"
[ -z "${TF_PROFILE:-}" ] || set -- "$@" --profile "$TF_PROFILE"

say "using $bin ($("$bin" version 2>&1 | head -n 1 | tr -s ' '))"
say "running trustfuse $*"
log=$(mktemp)
if "$bin" "$@" >"$log" 2>&1; then rc=0; else rc=$?; fi
cat "$log"
summary "$rc" "$log"
rm -f "$log"
if [ "$rc" -ne 0 ]; then
	die "$rc" "trustfuse fuse failed with exit code $rc: $(meaning "$rc")"
fi
[ -f "$json" ] && [ -f "$pdf" ] || die 1 "fuse succeeded but wrote no report in $TF_REPORT_DIR"
say "report: $json, $pdf"
