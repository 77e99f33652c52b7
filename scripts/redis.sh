#!/usr/bin/env bash
# Install, start and stop the Redis servers of the idem test suite: one
# single node and one 3-master cluster, on free ports of 127.0.0.1.
#
# Usage:
#   scripts/redis.sh install
#   eval "$(scripts/redis.sh start [--state-dir DIR])"
#   scripts/redis.sh status [--state-dir DIR]
#   scripts/redis.sh stop [--state-dir DIR]
#
# `install` installs Debian's redis-server, redis-tools (redis-cli) and
# openssl (for the TLS node's certificates) with apt-get when one is
# missing (as root; CI is a fresh machine).
# Valkey works too: set IDEM_REDIS_SERVER=valkey-server and
# IDEM_REDIS_CLI=valkey-cli.
#
# `start` runs, without persistence, in a private directory under the state
# directory:
#   - a single node, printed as  export IDEM_REDIS_URL=redis://127.0.0.1:PORT
#   - a TLS-only node with a CA made for it by openssl, printed as
#     export IDEM_REDIS_TLS_URL=rediss://127.0.0.1:PORT and IDEM_REDIS_TLS_CA=<ca.crt>
#   - a cluster of 3 masters (no replicas), created with
#     `redis-cli --cluster create`, waited for until `cluster_state:ok`,
#     printed as  export IDEM_REDIS_CLUSTER_URLS=redis://127.0.0.1:P1,redis://…
# Everything else goes to stderr. The state directory is --state-dir DIR,
# else $IDEM_REDIS_STATE_DIR, else ${IDEM_CACHE_DIR:-<repo>/.cache}/redis.
# `stop` shuts every server of that state directory down.
#
# Environment:
#   IDEM_REDIS_SERVER          server binary (default: redis-server)
#   IDEM_REDIS_CLI             client binary (default: redis-cli)
#   IDEM_REDIS_STATE_DIR       default state directory
#   IDEM_REDIS_START_TIMEOUT   seconds to wait for each server / the cluster (default: 30)
set -euo pipefail

service=redis
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
server_bin=${IDEM_REDIS_SERVER:-redis-server}
cli_bin=${IDEM_REDIS_CLI:-redis-cli}
timeout=${IDEM_REDIS_START_TIMEOUT:-30}
readonly CLUSTER_NODES=3

cmd_install() {
    if command -v "$server_bin" >/dev/null 2>&1 && command -v "$cli_bin" >/dev/null 2>&1 &&
        command -v openssl >/dev/null 2>&1; then
        log "$("$server_bin" --version | head -n 1)"
        return 0
    fi
    [[ $server_bin == redis-server && $cli_bin == redis-cli ]] ||
        die "$server_bin or $cli_bin not found; install them first"
    command -v apt-get >/dev/null 2>&1 || die "redis-server not found and no apt-get to install it"
    log "installing redis-server, redis-tools and openssl with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends redis-server redis-tools openssl >&2 ||
        die "apt-get install redis-server redis-tools openssl failed"
    log "installed: $("$server_bin" --version | head -n 1)"
}

state_dir=${IDEM_REDIS_STATE_DIR:-$cache_root/redis}

parse_state_args() {
    parse_state_dir "$@"
    run_dir=$state_dir/redis-run
}

# Prints a TCP port on 127.0.0.1 that is free right now (and, for a cluster
# node, whose bus port +10000 is free as well).
free_port() {
    python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p + 10000 > 65535: continue
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 10000)); b.close(); print(p); break
    except OSError:
        b.close()'
}

# redis-cli on the node of directory $1 (over TLS when the node has a CA).
cli() {
    local dir=$1
    shift
    local -a args=(-h 127.0.0.1 -p "$(<"$dir/port")")
    [[ ! -f $dir/ca.crt ]] || args+=(--tls --cacert "$dir/ca.crt")
    "$cli_bin" "${args[@]}" "$@"
}

ping() { cli "$1" ping 2>/dev/null | grep -q PONG; }

# A CA and a certificate for 127.0.0.1 signed by it, in directory $1, for
# the TLS node (valid for a week: state directories are short-lived).
make_certs() {
    local dir=$1
    command -v openssl >/dev/null 2>&1 || die "openssl not found; run: $0 install"
    (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=idem test CA" \
            -keyout ca.key -out ca.crt
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
        openssl x509 -req -days 7 -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -extfile server.ext -out server.crt
    ) >/dev/null 2>&1 || die "openssl could not make the TLS node's certificates"
}

# Starts one server in $run_dir/$1 on port $2 with extra options; waits for
# PONG. `--tls` as $3 makes it a TLS-only node on that port.
start_node() {
    local name=$1 port=$2 dir i
    shift 2
    dir=$run_dir/$name
    mkdir -p "$dir"
    local -a listen=(--port "$port")
    if [[ ${1:-} == --tls ]]; then
        shift
        make_certs "$dir"
        listen=(--port 0 --tls-port "$port" --tls-cert-file "$dir/server.crt"
            --tls-key-file "$dir/server.key" --tls-ca-cert-file "$dir/ca.crt" --tls-auth-clients no)
    fi
    "$server_bin" "${listen[@]}" --bind 127.0.0.1 --dir "$dir" --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
        --save '' --appendonly no --protected-mode yes "$@" >&2 ||
        return 1
    printf '%s\n' "$port" >"$dir/port"
    for ((i = 0; i < timeout * 10; i++)); do
        ping "$dir" && return 0
        sleep 0.1
    done
    log "$name did not answer on port $port within $timeout s; its log:"
    tail -n 20 "$dir/redis.log" >&2 || true
    return 1
}

print_exports() {
    local urls=() d
    printf 'export IDEM_REDIS_URL=redis://127.0.0.1:%s\n' "$(<"$run_dir/single/port")"
    printf 'export IDEM_REDIS_TLS_URL=rediss://127.0.0.1:%s\n' "$(<"$run_dir/tls/port")"
    printf 'export IDEM_REDIS_TLS_CA=%s\n' "$run_dir/tls/ca.crt"
    for d in "$run_dir"/cluster-*; do urls+=("redis://127.0.0.1:$(<"$d/port")"); done
    (IFS=,; printf 'export IDEM_REDIS_CLUSTER_URLS=%s\n' "${urls[*]}")
}

all_up() {
    local d
    [[ -d $run_dir/single ]] || return 1
    for d in "$run_dir"/single "$run_dir"/tls "$run_dir"/cluster-*; do
        [[ -s $d/port ]] && ping "$d" || return 1
    done
}

cmd_start() {
    parse_state_args "$@"
    command -v "$server_bin" >/dev/null 2>&1 || die "$server_bin not found; run: $0 install"
    command -v "$cli_bin" >/dev/null 2>&1 || die "$cli_bin not found; run: $0 install"
    if all_up; then
        log "already running from $run_dir"
        print_exports
        return 0
    fi
    [[ ! -d $run_dir ]] || cmd_stop_servers
    rm -rf "$run_dir"
    mkdir -p "$run_dir"
    trap 'log "start failed or interrupted; stopping what started"; cmd_stop_servers; exit 1' ERR INT TERM HUP
    local started=$SECONDS port i n hosts=()
    start_node single "$(free_port)"
    start_node tls "$(free_port)" --tls
    for ((n = 1; n <= CLUSTER_NODES; n++)); do
        port=$(free_port)
        start_node "cluster-$n" "$port" --cluster-enabled yes \
            --cluster-config-file "$run_dir/cluster-$n/nodes.conf" --cluster-node-timeout 5000
        hosts+=("127.0.0.1:$port")
    done
    "$cli_bin" --cluster create "${hosts[@]}" --cluster-replicas 0 --cluster-yes >&2
    for ((i = 0; i < timeout * 10; i++)); do
        local ok=1
        for host in "${hosts[@]}"; do
            "$cli_bin" -h 127.0.0.1 -p "${host##*:}" cluster info 2>/dev/null |
                grep -q 'cluster_state:ok' || ok=0
        done
        ((ok)) && break
        sleep 0.1
    done
    ((ok)) || {
        log "the cluster did not reach cluster_state:ok within $timeout s"
        false
    }
    trap - ERR INT TERM HUP
    log "started a single node, a TLS node and a $CLUSTER_NODES-master cluster in $((SECONDS - started)) s ($run_dir)"
    print_exports
}

# Stops every server under $run_dir: SHUTDOWN NOSAVE, then its pid if needed.
cmd_stop_servers() {
    local d pid port i
    for d in "$run_dir"/*/; do
        [[ -d $d ]] || continue
        port=$(cat "$d/port" 2>/dev/null || true)
        pid=$(cat "$d/redis.pid" 2>/dev/null || true)
        [[ -z $port ]] || cli "$d" shutdown nosave >/dev/null 2>&1 || true
        if [[ $pid =~ ^[0-9]+$ ]]; then
            for ((i = 0; i < 50; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$pid" 2>/dev/null && grep -q redis "/proc/$pid/cmdline" 2>/dev/null; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    done
}

cmd_stop() {
    parse_state_args "$@"
    if [[ ! -d $run_dir ]]; then
        log "not running (no $run_dir)"
        return 0
    fi
    cmd_stop_servers
    rm -rf "$run_dir"
    log "stopped ($state_dir)"
}

cmd_status() {
    parse_state_args "$@"
    if all_up; then
        log "running from $run_dir"
        print_exports >&2
        return 0
    fi
    log "not running"
    return 1
}

dispatch "$@"
