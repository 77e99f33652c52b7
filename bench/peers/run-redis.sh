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

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${IDEM_CACHE_DIR:-$repo/.cache}/peers

rounds=${PEER_ROUNDS:-8}
seq_ops=${PEER_SEQ_OPS:-4000}
conc_ops=${PEER_CONC_OPS:-4000}
read -r -a peers <<<"${PEER_PEERS:-raw idem powertools-python}"

log() { printf 'peers: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

for tool in cargo python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done
((seq_ops % (2 * rounds) == 0 && conc_ops % (2 * rounds) == 0)) ||
    die "PEER_SEQ_OPS and PEER_CONC_OPS must be multiples of 2 × PEER_ROUNDS"
mkdir -p "$cache"

# --- installs (redone only when the pins change) -------------------------------

venv=$cache/py-venv
py_pins=$(sha256sum "$here/py/requirements.txt" | cut -d' ' -f1)
if [[ ! -f $venv/.idem-stamp || $(<"$venv/.idem-stamp") != "$py_pins" ]]; then
    log "installing Powertools for Python into $venv ..."
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        -r "$here/py/requirements.txt" >&2
    printf '%s\n' "$py_pins" >"$venv/.idem-stamp"
fi

"$repo/scripts/redis.sh" install

log "building the Rust harness (release) ..."
(cd "$repo" && cargo build --release -p idem-peer-bench >&2)
rust_bin=$repo/target/release/idem-peer-bench
[[ -z ${CARGO_TARGET_DIR:-} ]] || rust_bin=$CARGO_TARGET_DIR/release/idem-peer-bench

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
export BENCH_PAYLOAD=$here/payload.json
export BENCH_SEQ_KEYS=$((seq_ops / 2 / rounds))
export BENCH_CONC_KEYS=$((conc_ops / 2 / rounds))
export BENCH_CONCURRENCY=${PEER_CONCURRENCY:-16}
export BENCH_DELIVERIES=${PEER_DELIVERIES:-8}
export BENCH_BODY_MS=${PEER_BODY_MS:-20}
export BENCH_WARMUP_KEYS=${PEER_WARMUP_KEYS:-20}
export BENCH_SIDE_KEYS_TOTAL=${PEER_SIDE_KEYS:-50}
unset POWERTOOLS_IDEMPOTENCY_DISABLED IDEM_DISABLED

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
export PEER_LOAD_START
PEER_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
started=$SECONDS
for ((round = 1; round <= rounds; round++)); do
    export BENCH_ROUND=$round
    if ((round == rounds)); then export BENCH_SIDE_KEYS=$BENCH_SIDE_KEYS_TOTAL; else export BENCH_SIDE_KEYS=0; fi
    for ((i = 0; i < ${#peers[@]}; i++)); do
        peer=${peers[$(((round - 1 + i) % ${#peers[@]}))]}
        export BENCH_PREFIX="r$round-$peer"
        log "round $round/$rounds: $peer"
        run_slice "$peer" >>"$results" || die "$peer failed in round $round"
    done
done
log "measured in $((SECONDS - started)) s"

export PEER_STORE=redis PEER_ROUNDS=$rounds PEER_CONC_OPS=$conc_ops
export PEER_DATE PEER_PYTHON_VERSION PEER_REDIS_VERSION
PEER_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
PEER_PYTHON_VERSION=$("$venv/bin/python" -c 'import platform; print(platform.python_version())')
PEER_REDIS_VERSION=$(redis-server --version | head -n 1)
python3 "$here/report.py" "$results" | tee "$here/results-redis.md"
