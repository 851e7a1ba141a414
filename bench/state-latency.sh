#!/usr/bin/env bash
# bench/state-latency.sh: agent turn ends -> task state idle on the task's
# SSE stream, the real Claude Code as a task with its Stop hook and with
# the screen alone (bench/state-latency.mjs), in a loopback-only netns.
# Needs root and the agents from scripts/install-agents.sh; ~2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/taskbox ] || ninja -C build >/dev/null
export TASKBOX_BIN="${TASKBOX_BIN:-$PWD/build/taskbox}"
exec tests/harness/netns-run.sh --private-tmp node bench/state-latency.mjs
