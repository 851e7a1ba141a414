#!/usr/bin/env bash
# bootstrap.sh: install what taskbox needs on a Debian 12 machine, build it,
# and run something. Everything the project needs from apt or npm is
# installed here, so a fresh machine needs nothing else.
#
#   scripts/bootstrap.sh deps [--test]   install build deps (+ test deps)
#   scripts/bootstrap.sh build           deps + build/taskbox, installed as
#                                        /usr/local/bin/taskbox (TASKBOX_BINDIR)
#   scripts/bootstrap.sh run [ARGS]      deps + build + install + `taskbox server ARGS`
#   scripts/bootstrap.sh demo            deps + build + the agent runtime demo
#
# npm packages go to ${TASKBOX_TOOLS:-/var/cache/taskbox/tools} (kept
# between runs on the same machine, re-created on a fresh one): the web
# app's (xterm.js, embedded at build time) in webdeps/, the tests' in
# testdeps/.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${TASKBOX_TOOLS:-/var/cache/taskbox/tools}"
export TASKBOX_TOOLS="$TOOLS"

# libssl-dev: libcrypto for the gateway (SigV4's HMAC-SHA256, RS256 of
# Google service accounts)
# libpq-dev: the PostgreSQL store (`server --store postgresql://...`;
# brings libpq5, all the server needs of PostgreSQL at run time)
BUILD_PKGS=(gcc pkg-config meson ninja-build libtsm-dev libmicrohttpd-dev
	libjansson-dev libcmocka-dev libsqlite3-dev libyaml-dev libsodium-dev
	libcurl4-openssl-dev libseccomp-dev libc-ares-dev libpq-dev zlib1g-dev
	libssl-dev)
# python3-venv: pip installs of agents (Aider); bzip2, xz-utils: url
# installs of .tar.bz2/.tar.xz archives (Goose); libxcb1: Goose's binary
# links libxcb
RUN_PKGS=(util-linux iproute2 procps curl bubblewrap e2fsprogs npm
	python3 python3-venv bzip2 xz-utils libxcb1)
# postgresql: initdb and pg_ctl for the private clusters of the tests on
# the PostgreSQL store (tests/harness/pg.mjs runs them as the `postgres`
# user the package makes; the package's own cluster is not used);
# python3-botocore: the reference signer tests/integration/sigv4.test.mjs
# checks src/gateway/sigv4.c against, and the fake Bedrock's verifier
# (tests/harness/sigv4-verify.py); openssl: the test CA of tests/harness/tls.mjs
TEST_PKGS=(nodejs npm tmux chromium fonts-liberation clang libclang-rt-14-dev
	clang-format wrk python3 postgresql python3-botocore openssl)

log() { printf 'bootstrap: %s\n' "$*" >&2; }

# True when package p's program is already there from elsewhere (Node.js
# and npm may come from NodeSource rather than Debian).
provided() {
	case "$1" in
	nodejs) command -v node >/dev/null ;;
	npm) command -v npm >/dev/null ;;
	*) return 1 ;;
	esac
}

# Install the Debian packages in "$@" that are not installed yet.
apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || provided "$p" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q >/dev/null
	$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# npm_install PACKAGE_JSON DIR: the pinned packages of PACKAGE_JSON into
# DIR/node_modules, once per version of the file (a stamp); non-zero when
# npm failed.
npm_install() {
	local json="$1" dir="$2" stamp
	stamp="$dir/.installed-$(sha256sum "$json" | cut -c1-16)"
	if [ -f "$stamp" ]; then
		return 0
	fi
	log "installing the npm packages of $json into $dir"
	mkdir -p "$dir"
	cp "$json" "$dir/package.json"
	(cd "$dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null) || return 1
	rm -f "$dir"/.installed-*
	touch "$stamp"
}

# npm packages the tests use (browser driver, MCP client, axe-core).
npm_test_deps() {
	npm_install tests/package.json "$TOOLS/testdeps"
}

# npm packages the web app embeds (xterm.js): meson.build looks for them
# in $TOOLS/webdeps. Without the registry the build goes on and the task
# page's terminal tab says it was built without xterm.js.
npm_web_deps() {
	npm_install web/package.json "$TOOLS/webdeps" ||
		log "npm install failed: building without xterm.js (no terminal tab)"
}

deps() {
	apt_install "${BUILD_PKGS[@]}" "${RUN_PKGS[@]}"
	npm_web_deps
	if [ "${1:-}" = --test ]; then
		apt_install "${TEST_PKGS[@]}"
		npm_test_deps
		scripts/install-agents.sh >/dev/null
	fi
}

build() {
	[ -f build/build.ninja ] || meson setup build >/dev/null
	ninja -C build >/dev/null
	log "built build/taskbox"
}

# Put the CLI on PATH ($BINDIR, default /usr/local/bin), so the commands
# the server's first start prints work as typed; where it cannot be
# installed, the server prints build/taskbox's full path instead.
BINDIR="${TASKBOX_BINDIR:-/usr/local/bin}"
install_cli() {
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
	local err
	if err=$($sudo install -D -m 0755 build/taskbox "$BINDIR/taskbox" 2>&1); then
		log "installed $BINDIR/taskbox"
		return 0
	fi
	log "cannot install $BINDIR/taskbox (${err:-needs root or sudo}); use $PWD/build/taskbox"
	return 1
}

case "${1:-run}" in
deps)
	shift
	deps "$@"
	;;
build)
	deps
	build
	install_cli || true
	;;
run)
	shift || true
	deps
	build
	# The Tasks server on the embedded default: SQLite and workspaces
	# under the data directory, agents installed on first use. Its first
	# start prints the admin token and how to create a first task.
	if install_cli; then
		exec "$BINDIR/taskbox" server "$@"
	fi
	exec build/taskbox server "$@"
	;;
demo)
	deps
	build
	exec scripts/demo.sh
	;;
*)
	echo "usage: scripts/bootstrap.sh [deps [--test] | build | run [SERVER ARGS] | demo]" >&2
	exit 2
	;;
esac
