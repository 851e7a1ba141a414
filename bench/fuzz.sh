#!/usr/bin/env bash
# bench/fuzz.sh [SECONDS] [TARGET...]: run every libFuzzer target (or the
# ones named) for SECONDS each (default 300) or until FUZZ_RUNS executions
# (default 10 million), one after the other, over a copy of its seed
# corpus, and print per target: executions, exec/s, edges covered (cov:),
# features (ft:), corpus size at the end, findings (crash/leak/timeout
# files, kept in build-fuzz/fuzz-findings/<target>/). Exits 1 when
# anything was found. Needs clang; builds build-fuzz like tests/run.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift $(($# > 0 ? 1 : 0))
[ -f build-fuzz/build.ninja ] ||
	CC=clang meson setup build-fuzz -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug >/dev/null || exit 1
echo "fuzz: ${seconds} s or ${FUZZ_RUNS:-10000000} executions per target"
start=$SECONDS
tests/fuzz/run.sh build-fuzz "$seconds" "${FUZZ_RUNS:-10000000}" "$@"
r=$?
echo "total $((SECONDS - start)) s"
exit $r
