#!/usr/bin/env bash
# agent-env.sh — print the environment (one KEY=VALUE per line) an agent CLI
# must be started with, for use with `env -i $(...)` or a spawn env list.
# Pair it with seed-agent-home.sh for the same HOME_DIR.
#
# Usage: agent-env.sh TYPE HOME_DIR LLM_URL      (TYPE: claude | codex | gemini)
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 claude|codex|gemini HOME_DIR LLM_URL" >&2; exit 2; }
type=$1; home=$(realpath -m "$2"); url=${3%/}

common() {
  echo "HOME=$home"
  echo "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  echo "TERM=xterm-256color"
  echo "LANG=C.UTF-8"
}

case "$type" in
claude)
  common
  echo "ANTHROPIC_BASE_URL=$url"
  # AUTH_TOKEN (sent as "Authorization: Bearer") shows no "custom API key" dialog.
  echo "ANTHROPIC_AUTH_TOKEN=dummy"
  # Both are needed for zero outside traffic (telemetry, updater, plugin marketplace).
  echo "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"
  echo "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL=1"
  # --dangerously-skip-permissions is refused for root unless IS_SANDBOX=1.
  if [ "$(id -u)" = 0 ]; then echo "IS_SANDBOX=1"; fi
  ;;
codex)
  common
  echo "OPENAI_API_KEY=dummy"
  echo "CODEX_HOME=$home/.codex"
  ;;
gemini)
  common
  echo "GEMINI_API_KEY=dummy"
  # Switches the auth type to "gateway" and sends every model call to the fake LLM.
  echo "GOOGLE_GEMINI_BASE_URL=$url"
  echo "GEMINI_CLI_TRUST_WORKSPACE=true"
  # Run in-process instead of re-spawning a child node (whose parent ignores SIGTERM/SIGHUP).
  echo "GEMINI_CLI_NO_RELAUNCH=true"
  echo "NO_BROWSER=true"
  ;;
*)
  echo "agent-env: unknown agent type '$type'" >&2; exit 2 ;;
esac
