#!/bin/sh
# run-golden.sh TASKBOX GOLDEN_DIR: check every golden case directory
# GOLDEN_DIR/<agent>/<case>/ with `taskbox agent format --type <agent>`:
#   msg.txt [user.txt] [before.txt] expected.txt
#       the message formatter; with before.txt, msg.txt is the whole
#       screen after the turn and before.txt the screen before it
#   screen.txt expected-status.txt
#       what the status engine reads off a screen (--inspect)
# The screens come from the real CLIs (tests/harness/probe-agents.sh).
set -u
bin=$1 dir=$2 pass=0 fail=0
got=$(mktemp)
trap 'rm -f "$got"' EXIT
check() { # case expected-file command...
	c=$1 want=$2
	shift 2
	"$@" >"$got" 2>&1
	if printf '%s\n' "$(cat "$got")" | cmp -s - "$want"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $c"
		printf '%s\n' "$(cat "$got")" | diff -u "$want" - | head -40
	fi
}
for case in "$dir"/*/*/; do
	case=${case%/}
	agent=$(basename "$(dirname "$case")")
	if [ -f "$case/screen.txt" ]; then
		check "$case" "$case/expected-status.txt" \
			"$bin" agent format --type "$agent" --inspect \
			<"$case/screen.txt"
	fi
	[ -f "$case/msg.txt" ] || continue
	set -- agent format --type "$agent"
	[ -f "$case/user.txt" ] && set -- "$@" --user "$case/user.txt"
	[ -f "$case/before.txt" ] && set -- "$@" --before "$case/before.txt"
	check "$case" "$case/expected.txt" "$bin" "$@" <"$case/msg.txt"
done
echo "golden: $pass passed, $fail failed"
[ "$pass" -gt 0 ] && [ "$fail" -eq 0 ]
