#!/usr/bin/env bash
# bench/stores.sh: SQLite against PostgreSQL, two servers in one run
# (bench/stores.mjs): prompt accepted -> agent running for RUNS (40) light
# tasks, POST create throughput, wrk on the task list and one task with
# LIST_TASKS (200) present, alternating store by store. The PostgreSQL
# server's store is a private cluster (tests/harness/pg.mjs), removed at
# the end. Needs root (workspaces) and PostgreSQL; ~2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/stores.sh: needs root (workspaces)" >&2; exit 1; }
[ -x build/taskbox ] || ninja -C build >/dev/null
command -v wrk >/dev/null || { echo "bench/stores.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
export TASKBOX_BIN="${TASKBOX_BIN:-$PWD/build/taskbox}"
exec node bench/stores.mjs
