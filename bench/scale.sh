#!/usr/bin/env bash
# bench/scale.sh: 1,000 light tasks (a `sleep` agent) on one server: the
# ramp, server RSS/CPU idle, memory per task, prompt -> agent running with
# the 1,000 up vs on an empty server (bench/scale.mjs). Needs root;
# ~5 minutes. SCALE_TASKS, BATCH, PROBE_TASKS, IDLE_SECONDS, SCALE_DISK
# (--max-disk, default 0: no per-task disk image).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/taskbox ] || ninja -C build >/dev/null
export TASKBOX_BIN="${TASKBOX_BIN:-$PWD/build/taskbox}"
exec node bench/scale.mjs
