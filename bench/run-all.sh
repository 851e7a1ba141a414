#!/usr/bin/env bash
# bench/run-all.sh: build, then run every benchmark and print its table.
# Takes about 6 minutes with the defaults (QUIET_SECONDS=60 is 2 of them).
# Each script's env knobs are described in its header.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ninja -C build >/dev/null || { echo "run-all.sh: build failed" >&2; exit 1; }
echo "taskbox benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null)"
status=0
for b in ingest quiet memory latency; do
	echo
	echo "=== bench/$b.sh ==="
	start=$SECONDS
	bench/$b.sh || { echo "bench/$b.sh failed (exit $?)"; status=1; }
	echo "($((SECONDS - start)) s)"
done
exit $status
