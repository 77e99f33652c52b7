# Shared by run.sh (DynamoDB Local) and run-redis.sh (Redis): paths, the
# workload's knobs, the Python install, the harness build and the
# interleaved rounds. Source it first thing; it reads PEER_* and sets here,
# repo, cache, rounds, seq_ops, conc_ops.

here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${IDEM_CACHE_DIR:-$repo/.cache}/peers

rounds=${PEER_ROUNDS:-8}
seq_ops=${PEER_SEQ_OPS:-4000}
conc_ops=${PEER_CONC_OPS:-4000}

log() { printf 'peers: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
    done
}

# Each slice runs an equal share of the keys; each key is a first call and
# a duplicate, so ops are counted in pairs.
check_ops() {
    ((seq_ops % (2 * rounds) == 0 && conc_ops % (2 * rounds) == 0)) ||
        die "PEER_SEQ_OPS and PEER_CONC_OPS must be multiples of 2 × PEER_ROUNDS"
}

stamp_ok() { [[ -f $1 && $(<"$1") == "$2" ]]; }

# Powertools for Python into $cache/py-venv (sets venv), redone only when
# py/requirements.txt changes.
install_python() {
    venv=$cache/py-venv
    local pins
    pins=$(sha256sum "$here/py/requirements.txt" | cut -d' ' -f1)
    if ! stamp_ok "$venv/.idem-stamp" "$pins"; then
        log "installing Powertools for Python into $venv ..."
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
            -r "$here/py/requirements.txt" >&2
        printf '%s\n' "$pins" >"$venv/.idem-stamp"
    fi
}

python_version() {
    "$venv/bin/python" -c 'import platform; print(platform.python_version())'
}

# The Rust harness in release (sets rust_bin).
build_harness() {
    log "building the Rust harness (release) ..."
    (cd "$repo" && cargo build --release -p idem-peer-bench >&2)
    rust_bin=${CARGO_TARGET_DIR:-$repo/target}/release/idem-peer-bench
}

# The workload every harness reads (bench/peers/README.md).
export_workload() {
    export BENCH_PAYLOAD=$here/payload.json
    export BENCH_SEQ_KEYS=$((seq_ops / 2 / rounds))
    export BENCH_CONC_KEYS=$((conc_ops / 2 / rounds))
    export BENCH_CONCURRENCY=${PEER_CONCURRENCY:-16}
    export BENCH_DELIVERIES=${PEER_DELIVERIES:-8}
    export BENCH_BODY_MS=${PEER_BODY_MS:-20}
    export BENCH_WARMUP_KEYS=${PEER_WARMUP_KEYS:-20}
    export BENCH_SIDE_KEYS_TOTAL=${PEER_SIDE_KEYS:-50}
    # Powertools must not be switched off by a developer's shell.
    unset POWERTOOLS_IDEMPOTENCY_DISABLED IDEM_DISABLED
}

# Runs `run_slice PEER` (defined by the caller) for every peer of "${peers[@]}"
# in every round, appending its JSON lines to $1. The order rotates each
# round, so no peer always follows the same one; the side-effect check runs
# once, in the last round.
run_rounds() {
    local results=$1 round i peer started=$SECONDS
    export PEER_LOAD_START
    PEER_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
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
}
