#!/usr/bin/env bash
# Peer comparison: idem against the raw SDK limit and Powertools for AWS
# Lambda (Python, TypeScript), on one DynamoDB Local. One command:
#
#   bench/peers/run.sh
#
# Installs what it needs into ${IDEM_CACHE_DIR:-<repo>/.cache}/peers (a
# Python venv, an npm tree, DynamoDB Local via scripts/dynamodb-local.sh),
# builds the Rust harness in release, starts its own DynamoDB Local (stopped
# on exit), runs every peer in interleaved rounds, and prints the Markdown
# table, also written to bench/peers/results.md. See bench/peers/README.md.
#
# Environment (defaults in brackets):
#   PEER_ROUNDS        interleaved rounds [8]
#   PEER_SEQ_OPS       timed ops per peer at concurrency 1, half first calls [4000]
#   PEER_CONC_OPS      ops per peer at concurrency PEER_CONCURRENCY [4000]
#   PEER_CONCURRENCY   [16]
#   PEER_SIDE_KEYS     keys of the side-effect check [50]
#   PEER_DELIVERIES    concurrent deliveries per key in that check [8]
#   PEER_BODY_MS       how long the body runs in that check [20]
#   PEER_WARMUP_KEYS   unmeasured keys per slice [20]
#   PEER_PEERS         which peers [raw idem powertools-python powertools-typescript]
#   PEER_CAPACITY_KEYS keys per step of the capacity phase [10]; 0 skips it
#   PEER_WAIT_MS       how long a key is held in idem's wait step [2000]
#   PEER_MODE          `batch`: SQS batches instead (bench/peers/rust/src/batch.rs,
#                      py/batch.py), results in results-batch.md; then
#                      PEER_PEERS [raw-concurrent idem-batch idem-sequential powertools-python-batch],
#                      PEER_BATCHES batches per peer per round [25], PEER_BATCH_SIZE [10],
#                      PEER_ROUNDS [4]
set -euo pipefail

# shellcheck source=bench/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=${PEER_MODE:-default}
default_peers="raw idem powertools-python powertools-typescript"
if [[ $mode == batch ]]; then
    rounds=${PEER_ROUNDS:-4}
    default_peers="raw-concurrent idem-batch idem-sequential powertools-python-batch"
fi
read -r -a peers <<<"${PEER_PEERS:-$default_peers}"

require_tools cargo python3 node npm java curl
check_ops
mkdir -p "$cache"

# --- installs (each redone only when its pins change) -------------------------

install_python

ts=$cache/ts
[[ $mode == batch ]] || {
ts_pins=$(cat "$here/ts/package.json" "$here/ts/package-lock.json" | sha256sum | cut -d' ' -f1)
if ! stamp_ok "$ts/.idem-stamp" "$ts_pins"; then
    log "installing Powertools for TypeScript into $ts ..."
    rm -rf "$ts"
    mkdir -p "$ts"
    cp "$here/ts/package.json" "$here/ts/package-lock.json" "$ts/"
    (cd "$ts" && npm ci --no-audit --no-fund --loglevel=error >&2)
    printf '%s\n' "$ts_pins" >"$ts/.idem-stamp"
fi
# Node resolves packages next to the script's real path, so the script runs
# from the install, not from the repo.
cp "$here/ts/bench.mjs" "$ts/bench.mjs"
}

"$repo/scripts/dynamodb-local.sh" install

build_harness

# --- one DynamoDB Local of our own -------------------------------------------

# A private state directory, so this never reuses or stops a server that the
# test suite (or another run) started from the default one.
state=$(mktemp -d "$cache/run.XXXXXX")
cleanup() {
    [[ -z ${PROXY_PID:-} ]] || kill "$PROXY_PID" 2>/dev/null || true
    "$repo/scripts/dynamodb-local.sh" stop --state-dir "$state" || true
    rm -rf "$state"
}
trap cleanup EXIT
eval "$("$repo/scripts/dynamodb-local.sh" start --state-dir "$state")"

export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export BENCH_ENDPOINT=$IDEM_DYNAMODB_ENDPOINT
export_workload

table_of() { printf 'peer_%s' "${1//-/_}"; }
tables=()
for peer in "${peers[@]}"; do tables+=("$(table_of "$peer")"); done
"$rust_bin" setup peer_warmup "${tables[@]}"

run_slice() {
    local peer=$1
    export BENCH_PEER=$peer BENCH_TABLE
    BENCH_TABLE=$(table_of "$peer")
    case $peer in
    raw | idem) "$rust_bin" run ;;
    powertools-python) "$venv/bin/python" "$here/py/bench.py" ;;
    # --no-warnings: the SDK's notice about future Node versions, once per slice.
    powertools-typescript) node --no-warnings "$ts/bench.mjs" ;;
    *) die "unknown peer $peer" ;;
    esac
}

# The JVM behind DynamoDB Local compiles its hot paths during the first
# thousands of requests: warm it up unmeasured, so round 1 is not penalised.
log "warming up DynamoDB Local ..."
BENCH_PEER=raw BENCH_TABLE=peer_warmup BENCH_PREFIX=server-warmup BENCH_SIDE_KEYS=0 \
    BENCH_SEQ_KEYS=200 BENCH_CONC_KEYS=400 "$rust_bin" run >/dev/null

results=$state/results.jsonl

run_capacity() {
    case $1 in
    raw | idem) "$rust_bin" capacity ;;
    powertools-python) "$venv/bin/python" "$here/py/bench.py" ;;
    powertools-typescript) node --no-warnings "$ts/bench.mjs" ;;
    *) die "unknown peer $1" ;;
    esac
}

if [[ $mode == batch ]]; then
    export BENCH_BATCHES=${PEER_BATCHES:-25} BENCH_BATCH_SIZE=${PEER_BATCH_SIZE:-10}
    export PEER_LOAD_START
    PEER_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
    for ((round = 1; round <= rounds; round++)); do
        for ((i = 0; i < ${#peers[@]}; i++)); do
            peer=${peers[$(((round - 1 + i) % ${#peers[@]}))]}
            export BENCH_PEER=$peer BENCH_TABLE="$(table_of "$peer")" BENCH_PREFIX="batch-r$round-$peer-$$"
            log "batch round $round/$rounds: $peer"
            case $peer in
            powertools-python-batch) "$venv/bin/python" "$here/py/batch.py" ;;
            *) "$rust_bin" batch ;;
            esac >>"$results" || die "$peer failed in round $round"
        done
    done
    export PEER_DATE PEER_PYTHON_VERSION PEER_ROUNDS=$rounds
    PEER_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
    PEER_PYTHON_VERSION=$(python_version)
    python3 "$here/report_batch.py" "$results" | tee "$here/results-batch.md"
    exit 0
fi
run_rounds "$results"

# --- capacity: every peer's requests through one counting proxy ---------------

capacity_keys=${PEER_CAPACITY_KEYS:-10}
capacity=$state/capacity
mkdir -p "$capacity"
if ((capacity_keys > 0)); then
    log "capacity phase: $capacity_keys keys per step, through capacity_proxy.py ..."
    coproc PROXY { exec python3 "$here/capacity_proxy.py" "$IDEM_DYNAMODB_ENDPOINT"; }
    read -r proxy_port <&"${PROXY[0]}" || die "the capacity proxy did not start"
    proxy=http://127.0.0.1:$proxy_port
    cap_tables=()
    for peer in "${peers[@]}"; do cap_tables+=("cap_$(table_of "$peer")"); done
    "$rust_bin" setup "${cap_tables[@]}"
    # The same order ids in every peer's table: item sizes differ only by
    # what each library stores.
    for peer in "${peers[@]}"; do
        log "capacity: $peer"
        BENCH_MODE=capacity BENCH_ENDPOINT=$proxy BENCH_TABLE=cap_$(table_of "$peer") \
            BENCH_PREFIX=cap BENCH_PEER=$peer BENCH_CAPACITY_KEYS=$capacity_keys \
            BENCH_WAIT_MS=${PEER_WAIT_MS:-2000} \
            run_capacity "$peer" >>"$capacity/runs.jsonl" || die "$peer failed in the capacity phase"
    done
    curl -sf "$proxy/__report" >"$capacity/steps.json"
    for peer in "${peers[@]}"; do
        curl -sf "$proxy/__sizes?table=cap_$(table_of "$peer")" >"$capacity/sizes-$peer.json"
    done
    kill "$PROXY_PID"
fi

export PEER_ROUNDS=$rounds PEER_CONC_OPS=$conc_ops
export PEER_DATE PEER_PYTHON_VERSION PEER_DDB_LOCAL_VERSION
PEER_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
PEER_PYTHON_VERSION=$(python_version)
PEER_DDB_LOCAL_VERSION=$(sed -n 's/^readonly NPM_VERSION=//p' "$repo/scripts/dynamodb-local.sh")
python3 "$here/report.py" "$results" "$capacity" | tee "$here/results.md"
