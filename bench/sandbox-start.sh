#!/usr/bin/env bash
# bench/sandbox-start.sh: how long a local workspace takes to start:
# ws_local_start() returning, the command inside running (its first output
# byte reaching the host) and bwrap reaped, over RUNS sequential starts of
# /bin/echo (`taskbox sandbox bench`). Extra args go to the bench, e.g.
# `--memory 256M --pids 512` (as root they create v1/v2 cgroups per start).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${TASKBOX_BIN:-build/taskbox}"
[ -x "$bin" ] || ninja -C build >/dev/null
echo "taskbox sandbox bench (uid $(id -u), $(nproc) cores, $(uname -r))"
exec "$bin" sandbox bench -n "${RUNS:-50}" "$@"
