#!/usr/bin/env bash
# bench/gateway.sh: what an LLM gateway adds to a request on loopback
# (bench/gateway.mjs): direct to a fixed-reply upstream vs through a
# task's llm.sock (taskbox) vs through Portkey's open-source gateway, at 1
# and 100 concurrent clients: added p50/p99 latency, added delay of a
# stream's first byte, CPU per request. Needs root for the tasks'
# workspaces; ~2-3 minutes. Portkey (npm @portkey-ai/gateway, PORTKEY_VERSION)
# is installed once into $TASKBOX_TOOLS/portkey (or PORTKEY_DIR), then runs
# offline. GW_BINS="main=PATH,gw=PATH" compares binaries in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/taskbox ] || ninja -C build >/dev/null
export TASKBOX_BIN="${TASKBOX_BIN:-$PWD/build/taskbox}"
TOOLS="${TASKBOX_TOOLS:-/var/cache/taskbox/tools}"
PORTKEY_VERSION="${PORTKEY_VERSION:-1.15.2}"
if [ -z "${PORTKEY_DIR:-}" ]; then
	PORTKEY_DIR="$TOOLS/portkey"
	mkdir -p "$PORTKEY_DIR" 2>/dev/null && [ -w "$PORTKEY_DIR" ] ||
		PORTKEY_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/taskbox-bench/portkey"
fi
export PORTKEY_DIR
pkg="$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json"
if ! grep -qs "\"version\": \"$PORTKEY_VERSION\"" "$pkg"; then
	mkdir -p "$PORTKEY_DIR"
	# @hono/node-server past 1.12 hands fetch's immutable response
	# headers to Portkey, which appends to them: every stream fails with
	# "TypeError: immutable" (Portkey-AI/gateway#1389, #1550); 1.12.0
	# copies them. Its postinstall (patch-package) has no patches in the
	# published package: scripts are skipped.
	cat >"$PORTKEY_DIR/package.json" <<JSON
{"private": true,
 "dependencies": {"@portkey-ai/gateway": "$PORTKEY_VERSION"},
 "overrides": {"@hono/node-server": "1.12.0"}}
JSON
	echo "installing @portkey-ai/gateway@$PORTKEY_VERSION into $PORTKEY_DIR"
	npm install --prefix "$PORTKEY_DIR" --ignore-scripts --no-audit \
		--no-fund --loglevel=error >/dev/null
fi
exec node bench/gateway.mjs
