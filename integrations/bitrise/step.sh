#!/bin/sh
# Bitrise step body: maps the step's inputs (environment variables named
# after them) to integrations/trustfuse-ci.sh's settings. Passwords stay in
# their input variables and are handed over as env: references.
set +x
set -u
here=$(cd "$(dirname "$0")" && pwd)
export TF_CI=bitrise
export TF_BIN="${trustfuse_path:-}" TF_VERSION="${trustfuse_version:-}"
export TF_IN="${app_path:-}" TF_FUSION_SET="${fusion_set:-}" TF_OUT="${output_path:-}"
export TF_KEYSTORE="${keystore_path:-}" TF_KS_KEY_ALIAS="${key_alias:-}" TF_PROFILE="${profile:-}"
export TF_REPORT_DIR="${report_dir:-trustfuse-report}"
export TF_KS_PASS="" TF_KEY_PASS=""
[ -z "${keystore_password:-}" ] || TF_KS_PASS=env:keystore_password
[ -z "${key_password:-}" ] || TF_KEY_PASS=env:key_password
exec sh "$here/../trustfuse-ci.sh"
