#!/usr/bin/env bash
# bench/store.sh: per-statement latency of the store, SQLite against
# PostgreSQL: bench/store-bench.c times N (default 2000) inserts, updates
# by key and selects by key of a tasks-shaped row and prints p50/p99 of
# each. SQLite is a new file in a temporary directory (WAL, as the
# server runs it); PostgreSQL a private cluster over its unix socket
# (tests/harness/pg.mjs, fsync off as the tests run it: the figures are
# of the round trip and the statement, not of a disk's flush), plus the
# cluster's start time. Needs PostgreSQL (scripts/bootstrap.sh deps
# --test); a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/store-bench ] || ninja -C build >/dev/null
n="${1:-2000}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
build/store-bench "$dir/bench.db" "$n" 2>/dev/null
node --input-type=module -e "
import { spawnSync } from 'node:child_process';
import { pgCluster, pgDatabase } from './tests/harness/pg.mjs';
const t0 = process.hrtime.bigint();
const c = pgCluster();
const started = Number(process.hrtime.bigint() - t0) / 1e6;
const db = pgDatabase();
const made = Number(process.hrtime.bigint() - t0) / 1e6 - started;
const r = spawnSync('build/store-bench', [db.uri, '$n'], { encoding: 'utf8' });
process.stdout.write(r.stdout);
if (r.status !== 0) { process.stderr.write(r.stderr); process.exit(1); }
console.log('postgresql cluster start ' + started.toFixed(0) + ' ms, CREATE DATABASE ' + made.toFixed(0) + ' ms');
"
