#!/usr/bin/env bash
# bench/disk-start.sh: what the per-task disk image adds to a task's start.
# Two servers side by side, one with --max-disk 0 (no image) and one with
# the default 10GiB image per task; RUNS (40) tasks each, alternating, a
# custom agent (`sleep`). Prints p50/p90 of prompt accepted -> sandbox
# started and -> agent running (server-stamped) for both, and the cost of
# a bare `mke2fs` of the image size. Needs root (loop mounts); ~30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/taskbox ] || ninja -C build >/dev/null
[ "$(id -u)" = 0 ] || { echo "bench/disk-start.sh: needs root (loop mounts)" >&2; exit 1; }
export TASKBOX_BIN="${TASKBOX_BIN:-$PWD/build/taskbox}"
exec node bench/disk-start.mjs
