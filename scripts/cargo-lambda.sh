#!/usr/bin/env bash
# Install and run cargo-lambda (and zig, for cross builds) from PyPI, into the
# project's cache: no system-wide install, nothing but the package registry.
#
# Usage:
#   scripts/cargo-lambda.sh install        install once (idempotent); prints the bin dir
#   scripts/cargo-lambda.sh path           print the bin dir (after install)
#   scripts/cargo-lambda.sh -- ARGS...     run `cargo lambda ARGS...` with the cache on PATH
#
# The venv lives in ${IDEM_CACHE_DIR:-<repo>/.cache}/cargo-lambda-<version>/.
# `ziglang` (PyPI) is installed beside it: cargo-lambda finds `python -m ziglang`
# in the venv and uses it as the linker for `cargo lambda build --arm64`.
set -euo pipefail

# Pinned versions (checked with `pip index versions cargo-lambda`).
readonly CARGO_LAMBDA_VERSION=1.9.2
readonly ZIGLANG_VERSION=0.13.0.post1

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
cache_root=${IDEM_CACHE_DIR:-$repo_root/.cache}
[[ $cache_root == /* ]] || cache_root=$PWD/$cache_root
venv=$cache_root/cargo-lambda-$CARGO_LAMBDA_VERSION
marker=$venv/.idem-installed

log() { printf 'cargo-lambda.sh: %s\n' "$*" >&2; }

install() {
    if [[ -f $marker ]]; then
        return
    fi
    log "installing cargo-lambda $CARGO_LAMBDA_VERSION and ziglang $ZIGLANG_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION" >&2
    "$venv/bin/cargo-lambda" lambda --version >&2
    touch "$marker"
}

case ${1:-} in
install)
    install
    echo "$venv/bin"
    ;;
path)
    echo "$venv/bin"
    ;;
--)
    shift
    install
    # `cargo lambda` finds `cargo-lambda` on PATH; zig comes from the venv's python.
    PATH=$venv/bin:$PATH exec cargo lambda "$@"
    ;;
*)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
