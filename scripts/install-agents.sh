#!/usr/bin/env bash
# install-agents.sh — install the real agent CLIs (Claude Code, Codex, Gemini CLI)
# from npm at pinned versions, each into its own prefix under
# ${TASKBOX_TOOLS:-/var/cache/taskbox/tools}/<name>. Idempotent: a CLI whose
# installed version already matches the pin is skipped. Prints where each
# binary is ("<name> <version> <path>").
#
# Usage: scripts/install-agents.sh [claude|codex|gemini ...]   (default: all)
set -euo pipefail

TOOLS="${TASKBOX_TOOLS:-/var/cache/taskbox/tools}"

# name|npm package|pinned version|binary name
PINS=(
  "claude|@anthropic-ai/claude-code|2.1.331|claude"
  "codex|@openai/codex|0.169.0|codex"
  "gemini|@google/gemini-cli|0.61.0|gemini"
)

installed_version() { # prefix package -> version or empty
  local pj="$1/node_modules/$2/package.json"
  [ -f "$pj" ] || return 0
  node -e 'try{process.stdout.write(require(process.argv[1]).version||"")}catch(e){}' "$pj"
}

want=("$@")
selected() {
  [ ${#want[@]} -eq 0 ] && return 0
  local w; for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

command -v npm >/dev/null || { echo "install-agents: npm not found" >&2; exit 1; }
mkdir -p "$TOOLS"

for entry in "${PINS[@]}"; do
  IFS='|' read -r name pkg ver bin <<<"$entry"
  selected "$name" || continue
  prefix="$TOOLS/$name"
  binpath="$prefix/node_modules/.bin/$bin"
  have="$(installed_version "$prefix" "$pkg")"
  if [ "$have" = "$ver" ] && [ -x "$binpath" ]; then
    echo "$name $ver $binpath (already installed)"
    continue
  fi
  echo "install-agents: installing $pkg@$ver into $prefix (had: ${have:-none})" >&2
  mkdir -p "$prefix"
  # --prefix keeps each CLI isolated; claude-code declares engines.node>=22 but
  # its payload is a native binary, so node 20 is fine (npm only warns).
  timeout 900 npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "$pkg@$ver" >&2
  [ -x "$binpath" ] || { echo "install-agents: $binpath missing after install" >&2; exit 1; }
  echo "$name $(installed_version "$prefix" "$pkg") $binpath"
done
