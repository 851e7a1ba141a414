#!/usr/bin/env bash
# bench/web-tasks.sh: the Tasks tab (/tasks) in Chromium with TASKS (1000)
# tasks on the server (bench/web-tasks.mjs): navigation -> table rendered
# (median of 5), a pause through the API -> the row updated in the page
# (median of 10), and the compressed bytes of a first visit. Needs root
# for workspaces, Chromium and playwright-core (TASKBOX_NODE_MODULES, as
# the browser tests); ~3-5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/taskbox ] || ninja -C build >/dev/null
export TASKBOX_BIN="${TASKBOX_BIN:-$PWD/build/taskbox}"
export TASKBOX_NODE_MODULES="${TASKBOX_NODE_MODULES:-${TASKBOX_TOOLS:-/var/cache/taskbox/tools}/testdeps/node_modules}"
exec node bench/web-tasks.mjs
