#!/usr/bin/env bash
# netns-run.sh — run CMD in a fresh network namespace that has only loopback
# up, so any connection to the outside world fails immediately. Needs root
# (or CAP_SYS_ADMIN). Everything CMD starts (fake LLM, tmux server, agents)
# shares that namespace.
#
# Usage: netns-run.sh [--private-tmp] CMD [ARGS...]
#   --private-tmp  also give CMD its own mount namespace with an empty tmpfs
#                  on /tmp (the agent CLIs leave sockets and scratch files in
#                  /tmp; this throws them away when CMD exits).
set -euo pipefail
if [ "${1:-}" = --private-tmp ]; then
  shift
  [ $# -ge 1 ] || { echo "usage: $0 [--private-tmp] CMD [ARGS...]" >&2; exit 2; }
  exec unshare --net --mount --propagation private -- \
    sh -c 'ip link set lo up && mount -t tmpfs -o mode=1777 tmpfs /tmp && exec "$@"' netns-run "$@"
fi
[ $# -ge 1 ] || { echo "usage: $0 [--private-tmp] CMD [ARGS...]" >&2; exit 2; }
exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' netns-run "$@"
