#!/usr/bin/env bash
# bench/list.sh: GET /api/v2/tasks?limit=50 against GET of one task, wrk on
# both in one run with TASKS (1000) tasks present (bench/list.mjs).
# TASKBOX_BIN picks the binary (compare two builds: run it twice).
# Needs root for workspaces; ~3-5 minutes for 1,000 tasks.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/taskbox ] || ninja -C build >/dev/null
if ! command -v wrk >/dev/null; then
	apt-get install -y wrk >/dev/null || {
		echo "bench/list.sh: needs wrk (apt-get install wrk)" >&2
		exit 1
	}
fi
export TASKBOX_BIN="${TASKBOX_BIN:-$PWD/build/taskbox}"
exec node bench/list.mjs
