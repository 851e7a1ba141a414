#!/usr/bin/env bash
# bench/ingest.sh: PTY ingest throughput, taskbox agent vs tmux.
#
# A child prints a fixed 50 MiB file of mixed terminal output (see
# gen-ansi.mjs) through a PTY; we time until it is fully consumed:
#   taskbox: `taskbox agent --port 0 -W 80 -H ROWS -- cat FILE`, the whole
#            process (it drains the PTY and exits when cat exits), with
#            its default scrollback (1000 rows of text; tmux keeps 2000);
#   tmux:    `tmux -L NAME -f /dev/null new-session -d -x 80 -y ROWS
#            'cat FILE; tmux wait-for -S done'` then `tmux wait-for done`,
#            start to done (the server is killed afterwards).
# CPU is the emulator's own user+sys: for taskbox, /usr/bin/time around the
# runtime minus /usr/bin/time around cat inside it; for tmux, the server's
# utime+stime from /proc (cat, a grandchild, is not counted in either).
# Runs are interleaved; the table shows medians of INGEST_REPS runs.
#
# env: INGEST_MB (50), INGEST_REPS (3), INGEST_ROWS ("1000 50"),
#      BENCH_DATA (dir for the generated file, default /tmp/taskbox-bench),
#      TASKBOX_BIN (default build/taskbox), or INGEST_BINS ("LABEL=PATH ...",
#      several binaries compared in the same run: each repetition runs
#      every binary, then tmux)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=${TASKBOX_BIN:-$root/build/taskbox}
bins=${INGEST_BINS:-taskbox=$bin}
mb=${INGEST_MB:-50}
reps=${INGEST_REPS:-3}
rows_list=${INGEST_ROWS:-"1000 50"}
data=${BENCH_DATA:-${TMPDIR:-/tmp}/taskbox-bench}
seed=20240601
bytes=$((mb * 1024 * 1024))
file=$data/ingest-${mb}MiB-seed$seed.bin
hz=$(getconf CLK_TCK)

command -v tmux >/dev/null || { echo "ingest.sh: tmux is not installed" >&2; exit 1; }
[ -n "${INGEST_BINS:-}" ] || [ -x "$bin" ] || ninja -C "$root/build" >/dev/null
mkdir -p "$data"
# (re)generate when missing or when the generator changed
stamp="$(sha1sum bench/gen-ansi.mjs | cut -c1-40) $bytes $seed"
if [ ! -f "$file" ] || [ "$(cat "$file.stamp" 2>/dev/null)" != "$stamp" ]; then
	echo "generating $file ($mb MiB, seed $seed)..."
	node bench/gen-ansi.mjs "$file" "$bytes" "$seed"
	echo "$stamp" >"$file.stamp"
fi
cat "$file" >/dev/null # page cache
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run_taskbox BIN ROWS: prints "wall_s cpu_s maxrss_kib"
run_taskbox() {
	local bin=$1 rows=$2 t0 t1 ou os om iu is
	t0=$EPOCHREALTIME
	if ! /usr/bin/time -o "$tmp/outer" -f '%U %S %M' \
		"$bin" agent --port 0 --term-width 80 --term-height "$rows" -- \
		/usr/bin/time -o "$tmp/inner" -f '%U %S' cat "$file" \
		</dev/null >/dev/null 2>"$tmp/log"; then
		echo "ingest.sh: taskbox failed:" >&2
		cat "$tmp/log" >&2
		exit 1
	fi
	t1=$EPOCHREALTIME
	grep -q 'agent exited with status 0' "$tmp/log" ||
		{ echo "ingest.sh: unexpected runtime log:" >&2; cat "$tmp/log" >&2; exit 1; }
	read -r ou os om <"$tmp/outer"
	read -r iu is <"$tmp/inner"
	awk -v a="$t0" -v b="$t1" -v ou="$ou" -v os="$os" -v iu="$iu" -v is="$is" -v m="$om" \
		'BEGIN { c = ou + os - iu - is; if (c < 0) c = 0; printf "%.3f %.2f %d\n", b - a, c, m }'
}

# run_tmux ROWS: prints "wall_s cpu_s maxrss_kib"
run_tmux() {
	local rows=$1 sock t0 t1 pid st rss
	sock="tbbench$$-$rows"
	t0=$EPOCHREALTIME
	# remain-on-exit keeps the server (and its /proc stats) after cat ends
	tmux -L "$sock" -f /dev/null new-session -d -x 80 -y "$rows" \
		"cat '$file'; tmux wait-for -S done" \; set -g remain-on-exit on
	tmux -L "$sock" wait-for "done"
	t1=$EPOCHREALTIME
	pid=$(tmux -L "$sock" display -p '#{pid}')
	st=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')
	rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
	tmux -L "$sock" kill-server 2>/dev/null || true
	awk -v a="$t0" -v b="$t1" -v t="$st" -v hz="$hz" -v m="$rss" \
		'BEGIN { printf "%.3f %.2f %d\n", b - a, t / hz, m }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "ingest: $mb MiB of mixed ANSI/UTF-8 output ($file), $reps runs each, medians"
for rows in $rows_list; do
	for _ in $(seq "$reps"); do
		for lb in $bins; do
			run_taskbox "${lb#*=}" "$rows" >>"$tmp/${lb%%=*}-$rows"
		done
		run_tmux "$rows" >>"$tmp/tmux-$rows"
	done
done

printf '\n%-8s %-8s %9s %9s %11s %12s   %s\n' size tool "wall s" "MiB/s" "CPU s" "peak RSS" "runs (wall s)"
labels=$(for lb in $bins; do printf '%s ' "${lb%%=*}"; done)
for rows in $rows_list; do
	for tool in tmux $labels; do
		f=$tmp/$tool-$rows
		w=$(cut -d' ' -f1 "$f" | median)
		c=$(cut -d' ' -f2 "$f" | median)
		m=$(cut -d' ' -f3 "$f" | median)
		[ "$tool" = tmux ] && w_tm=$w c_tm=$c
		printf '%-8s %-8s %9.2f %9.1f %11.2f %9d KiB   %s\n' "80x$rows" "$tool" "$w" \
			"$(awk -v w="$w" -v mb="$mb" 'BEGIN { print mb / w }')" "$c" "$m" \
			"$(cut -d' ' -f1 "$f" | tr '\n' ' ')"
	done
	for tool in $labels; do
		f=$tmp/$tool-$rows
		awk -v a="$(cut -d' ' -f1 "$f" | median)" -v b="$w_tm" \
			-v ca="$(cut -d' ' -f2 "$f" | median)" -v cb="$c_tm" -v r="80x$rows" -v t="$tool" \
			'BEGIN { printf "%-8s %s/tmux: throughput x%.2f, CPU x%.2f\n", r, t, b / a, (cb > 0 ? ca / cb : 0) }'
	done
done
echo
echo "MiB/s = $mb MiB / median wall time. CPU = the emulator process only (runtime / tmux server), user+sys."
echo "peak RSS: taskbox = GNU time %M of the runtime; tmux = server VmHWM (tmux keeps 2000 lines of history by default)."
