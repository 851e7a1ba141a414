#!/usr/bin/env bash
# netns-run.sh — run CMD in a fresh network namespace that has only loopback
# up, so any connection to the outside world fails immediately. Needs root.
# CMD also gets its own PID namespace (with its own /proc): everything it
# starts (fake LLM, tmux server, agents) shares the namespaces, orphans are
# reaped inside, and when CMD exits or netns-run is killed, every process left
# in the namespace is killed too.
#
# Usage: netns-run.sh [--private-tmp] CMD [ARGS...]
#   --private-tmp  mount an empty tmpfs on /tmp for CMD (the agent CLIs leave
#                  sockets and scratch files in /tmp; they vanish with CMD).
#                  A checkout under /tmp stays visible: it is bound back.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=":"
if [ "${1:-}" = --private-tmp ]; then
	tmp='keep=$(mktemp -d /run/netns-run.XXXXXX) &&
		mount --rbind /tmp "$keep" &&
		mount -t tmpfs -o mode=1777 tmpfs /tmp &&
		case "$REPO" in
		/tmp/*) mkdir -p "$REPO" && mount --rbind "$keep${REPO#/tmp}" "$REPO" ;;
		esac'
	shift
fi
[ $# -ge 1 ] || { echo "usage: $0 [--private-tmp] CMD [ARGS...]" >&2; exit 2; }
REPO="$repo" exec unshare --net --pid --fork --kill-child --mount-proc -- \
  sh -c 'ip link set lo up && '"$tmp"' && exec "$@"' netns-run "$@"
