#!/usr/bin/env bash
# bench/abuse.sh: API answer time for a fresh client (a new connection per
# request, 200 requests: p50/p90/p99) on an idle server, during a
# 600-connection slowloris from 127.0.0.2, and while tasks hold as many
# LLM connections as the server's budget gives them (bench/abuse.mjs).
# Loopback only, bounded; needs root for the sandboxes; ~1 minute.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/taskbox ] || ninja -C build >/dev/null
export TASKBOX_BIN="${TASKBOX_BIN:-$PWD/build/taskbox}"
exec node bench/abuse.mjs
