#!/usr/bin/env bash
# seed-agent-home.sh — write the config files an agent CLI needs so that it
# starts straight at its input prompt (no onboarding, login, trust or update
# dialogs) and talks only to LLM_URL.
#
# Usage: seed-agent-home.sh TYPE HOME_DIR WORKDIR LLM_URL
#   TYPE     claude | codex | gemini
#   HOME_DIR the agent's $HOME (created if missing; codex: keep it outside /tmp)
#   WORKDIR  the agent's working directory (marked trusted)
#   LLM_URL  e.g. http://127.0.0.1:8765 (no trailing /v1)
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 claude|codex|gemini HOME_DIR WORKDIR LLM_URL" >&2; exit 2; }
type=$1; home=$2; workdir=$3; url=${4%/}
mkdir -p "$home" "$workdir"
home=$(realpath "$home"); workdir=$(realpath "$workdir")

# JSON string literal (node is always present: the harness itself needs it).
jstr() { node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1"; }
# TOML basic string literal.
tstr() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

case "$type" in
claude)
  mkdir -p "$home/.claude"
  # hasCompletedOnboarding: without it onboarding checks api.anthropic.com and exits.
  # hasTrustDialogAccepted: the folder-trust dialog defaults to "No, exit".
  cat >"$home/.claude.json" <<JSON
{
  "hasCompletedOnboarding": true,
  "theme": "dark",
  "autoUpdates": false,
  "projects": {
    $(jstr "$workdir"): {
      "hasTrustDialogAccepted": true,
      "hasCompletedProjectOnboarding": true
    }
  }
}
JSON
  # Skips the "Bypass Permissions mode" confirmation of --dangerously-skip-permissions.
  cat >"$home/.claude/settings.json" <<'JSON'
{
  "skipDangerousModePermissionPrompt": true
}
JSON
  ;;
codex)
  mkdir -p "$home/.codex"
  cat >"$home/.codex/config.toml" <<TOML
# Seeded by taskbox: all traffic goes to the provider below.
model = "gpt-5"
model_provider = "taskbox"
check_for_update_on_startup = false
approval_policy = "never"
sandbox_mode = "workspace-write"

[model_providers.taskbox]
name = "taskbox"
base_url = $(tstr "$url/v1")
env_key = "OPENAI_API_KEY"
wire_api = "responses"
supports_websockets = false
request_max_retries = 0
stream_max_retries = 0

[features]
plugins = false
remote_plugin = false
apps = false
daemon_auto_start = false

[analytics]
enabled = false

[tui]
show_tooltips = false

[projects.$(tstr "$workdir")]
trust_level = "trusted"
TOML
  ;;
gemini)
  mkdir -p "$home/.gemini"
  # auth type + no folder-trust dialog; no usage stats, update checks or telemetry
  # (each of those would call Google/npm); no tips/banner/"true color" warning.
  cat >"$home/.gemini/settings.json" <<'JSON'
{
  "security": {
    "auth": { "selectedType": "gemini-api-key" },
    "folderTrust": { "enabled": false }
  },
  "privacy": { "usageStatisticsEnabled": false },
  "general": { "enableAutoUpdate": false, "enableAutoUpdateNotification": false },
  "telemetry": { "enabled": false },
  "ui": { "hideTips": true, "hideBanner": true, "showCompatibilityWarnings": false }
}
JSON
  ;;
*)
  echo "seed-agent-home: unknown agent type '$type'" >&2; exit 2 ;;
esac
