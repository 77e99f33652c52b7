#!/usr/bin/env bash
# Peer comparison on Redis: idem's RedisStore against the raw `redis` crate
# limit and Powertools for AWS Lambda (Python)'s Redis persistence layer, on
# one local Redis node. One command:
#
#   bench/peers/run-redis.sh
#
# Installs what it needs into ${IDEM_CACHE_DIR:-<repo>/.cache}/peers (the
# Python venv of py/requirements.txt, redis-server via scripts/redis.sh),
# builds the Rust harness in release, starts its own Redis (stopped on
# exit), runs every peer in interleaved rounds, and prints the Markdown
# table, also written to bench/peers/results-redis.md. The workload and the
# knobs are those of run.sh (see bench/peers/README.md); PEER_PEERS defaults
# to "raw idem powertools-python".
set -euo pipefail

# shellcheck source=bench/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

read -r -a peers <<<"${PEER_PEERS:-raw idem powertools-python}"

require_tools cargo python3
check_ops
mkdir -p "$cache"

# --- installs (redone only when the pins change) -------------------------------

install_python

"$repo/scripts/redis.sh" install

build_harness

# --- one Redis of our own -----------------------------------------------------

state=$(mktemp -d "$cache/run-redis.XXXXXX")
cleanup() {
    "$repo/scripts/redis.sh" stop --state-dir "$state" || true
    rm -rf "$state"
}
trap cleanup EXIT
eval "$("$repo/scripts/redis.sh" start --state-dir "$state")"

export BENCH_STORE=redis
export BENCH_ENDPOINT=$IDEM_REDIS_URL
export_workload

run_slice() {
    local peer=$1
    export BENCH_PEER=$peer BENCH_TABLE="peer_${peer//-/_}"
    case $peer in
    raw | idem) "$rust_bin" run ;;
    powertools-python) "$venv/bin/python" "$here/py/bench.py" ;;
    *) die "unknown peer $peer" ;;
    esac
}

results=$state/results.jsonl
run_rounds "$results"

export PEER_STORE=redis PEER_ROUNDS=$rounds PEER_CONC_OPS=$conc_ops
export PEER_DATE PEER_PYTHON_VERSION PEER_REDIS_VERSION
PEER_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
PEER_PYTHON_VERSION=$(python_version)
PEER_REDIS_VERSION=$(redis-server --version | head -n 1)
python3 "$here/report.py" "$results" | tee "$here/results-redis.md"
