#!/usr/bin/env bash
# bench/quiet.sh: what an idle runtime costs.
#
# Starts `taskbox agent` around the scripted fake agent (it prints a "> "
# prompt and then nothing), waits for status stable, then samples the
# runtime process (not the agent) at t0 and after QUIET_SECONDS:
#   CPU: utime+stime from /proc/PID/stat (10 ms ticks), and the on-CPU
#   run time in ns from /proc/PID/task/*/schedstat (precise when tiny);
#   wakeups: voluntary+nonvoluntary context switches from
#   /proc/PID/task/*/status (each sleep in epoll_wait that ends counts one).
# Two phases of QUIET_SECONDS each: no HTTP client, then one SSE client
# connected to /events (curl -N) the whole time. Figures are scaled to per
# minute.
#
# env: QUIET_SECONDS (60), TASKBOX_BIN (default build/taskbox)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=${TASKBOX_BIN:-$root/build/taskbox}
secs=${QUIET_SECONDS:-60}
hz=$(getconf CLK_TCK)
[ -x "$bin" ] || ninja -C "$root/build" >/dev/null
tmp=$(mktemp -d)
rt_pid='' sse_pid=''
cleanup() {
	if [ -n "$sse_pid" ]; then kill "$sse_pid" 2>/dev/null || true; fi
	if [ -n "$rt_pid" ]; then
		kill "$rt_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$rt_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$rt_pid" 2>/dev/null || true
		wait "$rt_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

echo '{"banner": "quiet bench agent", "turns": []}' >"$tmp/script.json"
: >"$tmp/log"
"$bin" agent --port 0 -- node tests/harness/fake-agent.mjs "$tmp/script.json" \
	</dev/null >/dev/null 2>"$tmp/log" &
rt_pid=$!
port=''
for _ in $(seq 200); do
	port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log" || true)
	[ -n "$port" ] && break
	sleep 0.05
done
[ -n "$port" ] || { echo "quiet.sh: runtime did not start" >&2; cat "$tmp/log" >&2; exit 1; }
base=http://127.0.0.1:$port
for _ in $(seq 200); do
	curl -s "$base/status" | grep -q '"status":"stable"' && break
	sleep 0.05
done
curl -s "$base/status" | grep -q '"status":"stable"' ||
	{ echo "quiet.sh: agent never became stable" >&2; exit 1; }
sleep 1 # let the last deadlines pass

# sample: "cpu_ticks ctxsw run_ns" summed over the runtime's threads
sample() {
	local cpu cs ns
	cpu=$(sed 's/.*) //' "/proc/$rt_pid/stat" | awk '{ print $12 + $13 }')
	cs=$(cat /proc/"$rt_pid"/task/*/status |
		awk '/^(voluntary|nonvoluntary)_ctxt_switches/ { n += $2 } END { print n }')
	ns=$(cat /proc/"$rt_pid"/task/*/schedstat 2>/dev/null | awk '{ n += $1 } END { printf "%d", n }')
	echo "$cpu $cs $ns"
}

# phase NAME: sample, sleep, sample; print a table row
phase() {
	local a b
	a=$(sample)
	sleep "$secs"
	b=$(sample)
	awk -v a="$a" -v b="$b" -v s="$secs" -v hz="$hz" -v name="$1" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		cpu = (y[1] - x[1]) * 1000 / hz; cs = y[2] - x[2]; run = (y[3] - x[3]) / 1e6
		printf "%-22s %8d %10.0f %12.3f %14.3f %14.1f\n", name, s, cpu, run, run * 60 / s, cs * 60 / s
	}'
}

echo "quiet: idle runtime (pid $rt_pid) around the fake agent, ${secs} s per phase; CPU tick = $((1000 / hz)) ms"
echo "threads: $(find /proc/"$rt_pid"/task -mindepth 1 -maxdepth 1 | wc -l)"
printf '\n%-22s %8s %10s %12s %14s %14s\n' phase seconds "stat ms" "on-CPU ms" "on-CPU ms/min" "ctxsw/min"
phase "no client"
curl -sN "$base/events" >/dev/null &
sse_pid=$!
sleep 1 # connected, initial events sent
phase "1 SSE client (/events)"
echo
echo "stat ms = utime+stime from /proc/PID/stat (10 ms ticks); on-CPU ms = run time from /proc/PID/task/*/schedstat (ns)."
echo "ctxsw = voluntary + nonvoluntary context switches of the runtime process (≈ wakeups)."
