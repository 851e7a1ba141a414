#!/usr/bin/env bash
# bench/agents-task.sh: Claude Code, Codex and Gemini CLI as tasks against
# the fake LLM: create -> ready -> first reply on the task's SSE, a
# follow-up, a queued send (bench/agents-task.mjs), in a loopback-only
# netns. Needs root and the agents from scripts/install-agents.sh.
# RUNS=5 by default; BENCH_BINS="before=PATH,after=PATH" compares two
# binaries run by run (paths outside /tmp: the netns mounts its own).
# ~3 minutes for one binary.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/taskbox ] || ninja -C build >/dev/null
export TASKBOX_BIN="${TASKBOX_BIN:-$PWD/build/taskbox}"
exec tests/harness/netns-run.sh --private-tmp node bench/agents-task.mjs
