#!/usr/bin/env bash
# bench/latency.sh: SSE, POST /message and stable latencies of the runtime
# (see latency.mjs for what is measured and the env knobs LAT_TURNS,
# LAT_DELAY_MS, LAT_FILL, LAT_ROWS).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "${TASKBOX_BIN:-build/taskbox}" ] || ninja -C build >/dev/null
exec node bench/latency.mjs
