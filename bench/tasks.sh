#!/usr/bin/env bash
# bench/tasks.sh: the Tasks server: task start latency (100 tasks), 200
# idle tasks (server RSS/CPU, memory per task), wrk on the task list and a
# task (bench/tasks.mjs). Needs root for the cgroup figures; ~3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/taskbox ] || ninja -C build >/dev/null
command -v wrk >/dev/null || { echo "bench/tasks.sh: needs wrk (scripts/bootstrap.sh deps --test)" >&2; exit 1; }
export TASKBOX_BIN="${TASKBOX_BIN:-$PWD/build/taskbox}"
exec node bench/tasks.mjs
