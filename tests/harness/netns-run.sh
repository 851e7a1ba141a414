#!/usr/bin/env bash
# netns-run.sh — run CMD in a fresh network namespace that has only loopback
# up, so any connection to the outside world fails immediately. Needs root
# (or CAP_SYS_ADMIN). Everything CMD starts (fake LLM, tmux server, agents)
# shares that namespace.
#
# Usage: netns-run.sh CMD [ARGS...]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' netns-run "$@"
