# Shared by the service scripts (dynamodb-local.sh, redis.sh): paths, logging,
# the --state-dir argument and the install/start/stop/status dispatch.
# Source it after setting `service` (the log prefix); it sets repo_root and
# cache_root. Each script defines cmd_install, cmd_start, cmd_stop and
# cmd_status, then ends with `dispatch "$@"`.

script_dir=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
service_script=${BASH_SOURCE[1]}
repo_root=$(cd "$script_dir/.." && pwd)
cache_root=${IDEM_CACHE_DIR:-$repo_root/.cache}
[[ $cache_root == /* ]] || cache_root=$PWD/$cache_root

log() { printf '%s: %s\n' "$service" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# The script's header comment, from its second line to `set -euo`.
usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$service_script" >&2
}

# Reads `--state-dir DIR` (or `--state-dir=DIR`) into $state_dir, made
# absolute; $state_dir keeps its default when the argument is absent.
parse_state_dir() {
    while (($#)); do
        case $1 in
        --state-dir)
            (($# >= 2)) || die "--state-dir needs a value"
            state_dir=$2
            shift 2
            ;;
        --state-dir=*)
            state_dir=${1#--state-dir=}
            shift
            ;;
        *) die "unknown argument: $1" ;;
        esac
    done
    [[ -n $state_dir ]] || die "empty state directory"
    [[ $state_dir == /* ]] || state_dir=$PWD/$state_dir
}

dispatch() {
    case ${1:-} in
    install)
        shift
        (($# == 0)) || die "install takes no arguments"
        cmd_install
        ;;
    start | stop | status)
        local cmd=$1
        shift
        "cmd_$cmd" "$@"
        ;;
    -h | --help | help)
        usage
        ;;
    *)
        usage
        exit 2
        ;;
    esac
}
