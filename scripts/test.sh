#!/usr/bin/env bash
# The project's one test command.
#
# Starts AWS's DynamoDB Local (see scripts/dynamodb-local.sh) and Redis (a
# single node and a 3-master cluster, see scripts/redis.sh) and runs, in order:
#   cargo fmt --all -- --check
#   cargo clippy --workspace --all-targets --all-features -- -D warnings
#   cargo test --workspace --all-features [ARGS...]     (unit, integration and doc tests)
#   scripts/lambda-invoke-test.sh                        (the SQS example under cargo lambda)
#   RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps
# The servers are stopped on any exit, including failures and Ctrl-C.
#
# Extra arguments go to `cargo test`, e.g.
#   scripts/test.sh -p idem-core
#   scripts/test.sh -- --nocapture
# (`--workspace` is left out when they select packages with -p/--package, since
# cargo would otherwise ignore -p.)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
ddb_local=$repo_root/scripts/dynamodb-local.sh

heading() {
    printf '\n==> %s\n' "$*" >&2
}

# --- DynamoDB Local ------------------------------------------------------------

heading "DynamoDB Local: install"
"$ddb_local" install

# A state directory of our own, so concurrent runs do not share pid files.
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/idem-test-dynamodb.XXXXXX")

redis_state_dir=$(mktemp -d "${TMPDIR:-/tmp}/idem-test-redis.XXXXXX")

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    heading "Redis: stop"
    "$repo_root/scripts/redis.sh" stop --state-dir "$redis_state_dir" || true
    rm -rf "$redis_state_dir"
    heading "DynamoDB Local: stop"
    "$ddb_local" stop --state-dir "$state_dir" || true
    rm -rf "$state_dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

heading "DynamoDB Local: start"
unset IDEM_DYNAMODB_ENDPOINT
exports=$("$ddb_local" start --state-dir "$state_dir")
eval "$exports"
: "${IDEM_DYNAMODB_ENDPOINT:?dynamodb-local.sh start did not set IDEM_DYNAMODB_ENDPOINT}"
export IDEM_DYNAMODB_ENDPOINT

# Dummy credentials and region for the local endpoint. Always set them, so the
# tests never pick up (or need) real AWS credentials.
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
# No EC2/ECS metadata lookups (there is no network here anyway).
export AWS_EC2_METADATA_DISABLED=true

printf 'IDEM_DYNAMODB_ENDPOINT=%s\n' "$IDEM_DYNAMODB_ENDPOINT" >&2

# --- Redis (single node, TLS node and cluster) ----------------------------------

heading "Redis: install and start"
"$repo_root/scripts/redis.sh" install
unset IDEM_REDIS_URL IDEM_REDIS_TLS_URL IDEM_REDIS_TLS_CA IDEM_REDIS_CLUSTER_URLS
eval "$("$repo_root/scripts/redis.sh" start --state-dir "$redis_state_dir")"
: "${IDEM_REDIS_URL:?redis.sh start did not set IDEM_REDIS_URL}"
: "${IDEM_REDIS_CLUSTER_URLS:?redis.sh start did not set IDEM_REDIS_CLUSTER_URLS}"
: "${IDEM_REDIS_TLS_URL:?redis.sh start did not set IDEM_REDIS_TLS_URL}"
: "${IDEM_REDIS_TLS_CA:?redis.sh start did not set IDEM_REDIS_TLS_CA}"
export IDEM_REDIS_URL IDEM_REDIS_TLS_URL IDEM_REDIS_TLS_CA IDEM_REDIS_CLUSTER_URLS
printf 'IDEM_REDIS_URL=%s\nIDEM_REDIS_TLS_URL=%s\nIDEM_REDIS_CLUSTER_URLS=%s\n' \
    "$IDEM_REDIS_URL" "$IDEM_REDIS_TLS_URL" "$IDEM_REDIS_CLUSTER_URLS" >&2

# --- cargo -------------------------------------------------------------------------

# Assemble `cargo test` arguments without duplicating flags given by the caller
# (cargo rejects a repeated --workspace/--all-features) and without --workspace
# when packages are selected (cargo ignores -p when --workspace is given).
add_workspace=1
add_all_features=1
for arg in "$@"; do
    case $arg in
    --) break ;;
    -p* | --package | --package=* | --workspace | --all) add_workspace=0 ;;
    --all-features) add_all_features=0 ;;
    *) ;;
    esac
done
test_args=()
((add_workspace)) && test_args+=(--workspace)
((add_all_features)) && test_args+=(--all-features)
test_args+=("$@")

heading "cargo fmt --all -- --check"
cargo fmt --all -- --check

heading "cargo clippy --workspace --all-targets --all-features -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

heading "cargo test ${test_args[*]}"
cargo test "${test_args[@]}"

# The SQS example under cargo-lambda's emulator (installed from PyPI into .cache/).
heading "scripts/lambda-invoke-test.sh (cargo lambda watch + invoke)"
scripts/lambda-invoke-test.sh

heading 'RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps'
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps

heading "all checks passed"
