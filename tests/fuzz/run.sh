#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD SECONDS [RUNS] [TARGET...]: build and run each
# libFuzzer target of BUILD (a -Dfuzz=true build dir) for SECONDS (or until RUNS
# executions) over a copy of its seed corpus in tests/fuzz/corpus/<target>/,
# one after the other, and print one line per target: executions, exec/s,
# edges (cov:), features (ft:), corpus size, findings. A crash, leak,
# sanitizer report or timeout is a finding: its reproducer is kept in
# $FUZZ_FINDINGS (default BUILD/fuzz-findings/<target>/) and the script
# exits 1. Used by tests/run (fuzz tier) and bench/fuzz.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=$1 seconds=$2 runs=${3:-0}
shift $(($# < 3 ? $# : 3))
targets=("$@")
[ ${#targets[@]} -gt 0 ] ||
	targets=(msgfmt template sse hclient egress gwhttp mcp state api gauth sigv4
		usage route extauth install)

# the longest input per target: a screen, a YAML file, a request head...
declare -A max_len=([msgfmt]=4096 [template]=8192 [sse]=4096 [hclient]=8192
	[egress]=4096 [mcp]=8192 [state]=8192 [api]=4096 [gauth]=8192
	[sigv4]=4096 [usage]=8192 [route]=4400 [gwhttp]=8192 [extauth]=4096
	[install]=8192)

if ! out=$(ninja -C "$build" "${targets[@]/#/tests/fuzz/fuzz-}" 2>&1); then
	printf '%s\n' "$out" | tail -n 40 # what failed to build
	exit 1
fi

# findings fail; leaks are findings; UB halts like a crash
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
# state files and sockets go to a private directory, in memory if we can
tmp=$(mktemp -d "$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)/taskbox-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp
findings_root=${FUZZ_FINDINGS:-$build/fuzz-findings}
ok=0 bad=0

printf '%-9s %10s %8s %6s %7s %8s %s\n' target execs exec/s cov ft corpus \
	findings
for t in "${targets[@]}"; do
	bin=$build/tests/fuzz/fuzz-$t
	corpus=$tmp/corpus-$t
	findings=$findings_root/$t
	log=$tmp/$t.log
	rm -rf "$findings"
	mkdir -p "$corpus" "$findings"
	cp tests/fuzz/corpus/"$t"/* "$corpus/"
	"$bin" -max_total_time="$seconds" -runs="$((runs > 0 ? runs : -1))" \
		-max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$findings/" \
		"$corpus" >"$log" 2>&1
	r=$?
	last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' \
		"$log" | tail -n 1)
	field() { sed -n "s/.* $1: *\([^ ]*\).*/\1/p" <<<"$last"; }
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	nfind=$(find "$findings" -type f | wc -l)
	printf '%-9s %10s %8s %6s %7s %8s %s\n' "$t" "${execs:-?}" \
		"${speed:-?}" "$(field cov)" "$(field ft)" \
		"$(find "$corpus" -type f | wc -l)" "$nfind"
	if [ $r -ne 0 ] || [ "$nfind" -gt 0 ]; then
		bad=$((bad + 1))
		echo "fuzz-$t: exit $r; findings in $findings:"
		ls "$findings"
		grep -E -A 30 '^==[0-9]+==|runtime error|BUG at' "$log" |
			head -n 60
	else
		ok=$((ok + 1))
	fi
done
# the totals in the form tests/run counts
echo "Ok: $ok"
echo "Fail: $bad"
[ "$bad" -eq 0 ]
