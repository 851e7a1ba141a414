#!/usr/bin/env bash
# bench/queue.sh: the send queue's cost (bench/queue.mjs): a queued input's
# delivery after the turn's idle, and send answer times, with bash as the
# agent (no LLM). Needs root (workspaces); ~30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/taskbox ] || ninja -C build >/dev/null
export TASKBOX_BIN="${TASKBOX_BIN:-$PWD/build/taskbox}"
exec node bench/queue.mjs
