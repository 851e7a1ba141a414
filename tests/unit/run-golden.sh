#!/bin/sh
# run-golden.sh TASKBOX GOLDEN_DIR: check every golden case directory
# GOLDEN_DIR/<agent>/<case>/{msg.txt,user.txt,expected.txt} by running
# `taskbox agent format --type <agent> --user user.txt < msg.txt`.
set -u
bin=$1 dir=$2 pass=0 fail=0
for case in "$dir"/*/*/; do
	[ -f "$case/msg.txt" ] || continue
	agent=$(basename "$(dirname "$case")")
	user="$case/user.txt"
	[ -f "$user" ] || user=/dev/null
	got=$("$bin" agent format --type "$agent" --user "$user" < "$case/msg.txt")
	want=$(cat "$case/expected.txt")
	if [ "$got" = "$want" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $case"
		printf '%s\n' "$got" > /tmp/golden-got.txt
		diff -u "$case/expected.txt" /tmp/golden-got.txt | head -40
	fi
done
echo "golden: $pass passed, $fail failed"
[ "$pass" -gt 0 ] && [ "$fail" -eq 0 ]
