#!/usr/bin/env bash
# bench/memory.sh: runtime RSS after a ~10,000-line transcript, at 80x1000
# and 80x50, each without and with 1000 rows of scrollback (see memory.mjs
# for the details and the env knobs MEM_TURNS, MEM_LINES, MEM_ROWS,
# MEM_SCROLLBACK).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "${TASKBOX_BIN:-build/taskbox}" ] || ninja -C build >/dev/null
exec node bench/memory.mjs
