#!/usr/bin/env bash
# probe-agents.sh — manual end-to-end proof (not part of the CI suite) that the
# real agent CLIs (claude, codex, gemini) work against tests/harness/fake-llm.mjs.
#
# For each CLI, inside a loopback-only network namespace (netns-run.sh), it
# starts the fake LLM and the CLI in tmux (100x50), waits for the input prompt,
#   turn 1: types "say hello" and waits for the scripted reply,
#   turn 2: asks it to write hello.txt (the fake LLM answers with a shell tool
#           call), waits for the follow-up reply and checks the file,
#   turn 3: a prompt whose answer the fake LLM delays, to capture the busy screen,
# then checks that every logged request reached the fake LLM's own address.
# For claude it also runs without --dangerously-skip-permissions: once in the
# default "auto mode" (no dialog against the fake LLM) and once with
# --permission-mode default, where it records the permission dialog and
# answers it with Enter. For codex it also runs as the built-in module
# configures it for a template with approval_policy on-request (no sandbox
# of its own): a command Codex deems dangerous (rm -rf) opens its approval
# dialog, recorded and answered with "1" as the runtime answers option 1.
# Screens (plain capture-pane text) go to tests/harness/screens/<cli>/:
#   start, turn1, turn2, running, turn3 (+ claude: auto-start, auto-turn2,
#   perm-start, permission-dialog, permission-granted; + codex:
#   approval-start, approval-dialog, approval-granted).
#
# Usage: tests/harness/probe-agents.sh [claude] [codex] [gemini]   (default: all)
# Env:   TASKBOX_TOOLS (default /var/cache/taskbox/tools; see scripts/install-agents.sh)
#        PROBE_KEEP=1 keeps the scratch dir (under /var/tmp) for debugging.
# shellcheck disable=SC2317  # cleanup functions are only reached through traps
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS="${TASKBOX_TOOLS:-/var/cache/taskbox/tools}"
SCREENS="$HERE/screens"

PROMPT1="say hello"
REPLY1="Hello from fake LLM, turn one."
PROMPT2="Please write the file hello.txt now"
REPLY2="Done writing hello.txt."
PROMPT3="take your time on this one"
REPLY3="Finished after a pause."
PROMPT4="clean up and mark it approved"
REPLY4="Cleaned up and marked."
DELAY3_MS=4000
FILE_CONTENT="hi from fake llm"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# ------------------------------------------------------------- inner part
# Runs inside the network namespace: one CLI, one scratch dir.
inner() {
  local cli=$1 dir=$2 port
  sock="$dir/tmux.sock" pane_pid="" llm_pid=""
  local out="$SCREENS/$cli"
  mkdir -p "$out" "$dir"

  cleanup_inner() {
    set +e
    if [ -n "$pane_pid" ]; then
      kill -TERM -- "-$pane_pid" 2>/dev/null || true
      sleep 0.3
      kill -KILL -- "-$pane_pid" 2>/dev/null || true
    fi
    tmux -S "$sock" kill-server 2>/dev/null || true
    if [ -n "$llm_pid" ]; then kill "$llm_pid" 2>/dev/null; fi
  }
  trap cleanup_inner EXIT

  cat >"$dir/script.json" <<EOF
{"turns": [
  {"match": "say hello", "reply": "$REPLY1"},
  {"match": "write the file", "tool": {"kind": "write_file", "path": "hello.txt", "content": "$FILE_CONTENT"}, "reply": "$REPLY2"},
  {"match": "take your time", "reply": "$REPLY3", "delay_ms": $DELAY3_MS},
  {"match": "clean up and mark", "tool": {"kind": "shell", "command": "rm -rf stale && touch approved.txt"}, "reply": "$REPLY4"}
 ],
 "default": "Hello from fake LLM"}
EOF
  printf 'set -g remain-on-exit on\nset -g history-limit 5000\n' >"$dir/tmux.conf"

  # the namespace must have nothing but loopback
  if ip -o link show | grep -qv ': lo:'; then log "$cli: network namespace has a non-loopback link"; return 1; fi

  # fake LLM on a free port
  node "$HERE/fake-llm.mjs" --port 0 --script "$dir/script.json" --log "$dir/llm.jsonl" \
    >"$dir/llm.out" 2>"$dir/llm.err" &
  llm_pid=$!
  for _ in $(seq 50); do grep -q '^listening ' "$dir/llm.out" 2>/dev/null && break; sleep 0.1; done
  port=$(awk '/^listening /{print $2; exit}' "$dir/llm.out")
  [ -n "$port" ] || { log "$cli: fake LLM did not start"; cat "$dir/llm.err" >&2; return 1; }
  local url="http://127.0.0.1:$port"

  # tmux server (its panes inherit this network namespace)
  tmux -S "$sock" -f "$dir/tmux.conf" new-session -d -s probe -x 100 -y 50 'sleep 1000000'

  local rc=0
  case "$cli" in
    claude) probe_claude "$dir" "$url" "$out" || rc=1 ;;
    codex)  probe_codex "$dir" "$url" "$out" || rc=1 ;;
    gemini) probe_generic gemini "$dir" "$url" "$out" || rc=1 ;;
  esac
  check_log "$cli" "$dir/llm.jsonl" "$port" || rc=1
  return $rc
}

# --- tmux helpers -----------------------------------------------------------
screen() { tmux -S "$sock" capture-pane -p -t "$1"; }
screen_joined() { tmux -S "$sock" capture-pane -p -J -t "$1"; }

# wait_for WINDOW TIMEOUT_S FIXED_STRING...  (all strings must be on screen)
# wait_for -E WINDOW TIMEOUT_S REGEX...       (extended regexes, per line)
wait_for() {
  local mode=-F
  if [ "$1" = -E ]; then mode=-E; shift; fi
  local win=$1 t=$2; shift 2
  local deadline=$((SECONDS + t)) s ok
  while [ $SECONDS -lt $deadline ]; do
    s=$(screen_joined "$win" 2>/dev/null || true)
    ok=1
    for pat in "$@"; do grep -q "$mode" -- "$pat" <<<"$s" || { ok=0; break; }; done
    [ $ok = 1 ] && return 0
    sleep 0.2
  done
  return 1
}

# wait until the screen has not changed for 1 s (max TIMEOUT_S)
wait_stable() {
  local win=$1 t=${2:-6} prev="" cur same=0
  local deadline=$((SECONDS + t))
  while [ $SECONDS -lt $deadline ]; do
    cur=$(screen "$win")
    if [ "$cur" = "$prev" ]; then same=$((same + 1)); [ $same -ge 5 ] && return 0; else same=0; fi
    prev=$cur
    sleep 0.2
  done
}

type_line() { # WINDOW TEXT : text, pause, Enter (a burst ending in Enter looks like a paste)
  tmux -S "$sock" send-keys -t "$1" -l -- "$2"
  sleep 0.3
  tmux -S "$sock" send-keys -t "$1" Enter
}

# Save a screen; the random part of the scratch path becomes XXXXXX (same
# length, so line wrapping is unchanged) to keep the golden files stable.
save() {
  local root=${dir%/*}
  screen "$1" | sed "s|$root|${root%.*}.XXXXXX|g" >"$2"
}

# start_agent WINDOW TYPE HOME WORKDIR URL ARGS... ; sets pane_pid
start_agent() {
  local win=$1 type=$2 home=$3 wd=$4 url=$5; shift 5
  local bin="$TOOLS/$type/node_modules/.bin/$type" cmd envs=()
  "$HERE/seed-agent-home.sh" "$type" "$home" "$wd" "$url"
  mapfile -t envs < <("$HERE/agent-env.sh" "$type" "$home" "$url")
  cmd="cd $(printf %q "$wd") && exec env -i"
  for e in "${envs[@]}"; do cmd+=" $(printf %q "$e")"; done
  cmd+=" $(printf %q "$bin")"
  for a in "$@"; do cmd+=" $(printf %q "$a")"; done
  printf '%s\n' "$cmd" >"$home/../cmdline.$win"
  tmux -S "$sock" new-window -d -n "$win" "$cmd"
  pane_pid=$(tmux -S "$sock" display -p -t "$win" '#{pane_pid}')
}

stop_agent() {
  [ -n "$pane_pid" ] || return 0
  kill -TERM -- "-$pane_pid" 2>/dev/null || true
  sleep 0.5
  kill -KILL -- "-$pane_pid" 2>/dev/null || true
  tmux -S "$sock" kill-window -t "$1" 2>/dev/null || true
  pane_pid=""
}

fail() { log "$1: FAIL: $2"; [ -n "${3:-}" ] && { echo "----- screen -----" >&2; screen "$3" >&2 || true; }; return 1; }

# Extended regex (one screen line) that shows the CLI waits for input.
ready_marker() {
  case "$1" in
    claude) echo '^❯' ;;                        # prompt line of the ──── input box ("❯" + NBSP)
    codex)  echo 'Ask Codex to do anything' ;;  # placeholder of the empty composer
    gemini) echo 'Type your message' ;;         # placeholder of the empty input box
  esac
}

# Two turns (text reply, then tool call) in window "main".
run_turns() {
  local type=$1 dir=$2 out=$3 wd=$4 win=main
  local ready; ready=$(ready_marker "$type")
  wait_for -E $win 90 "$ready" || { fail "$type" "not ready (no '$ready')" $win; return 1; }
  wait_stable $win 5
  save $win "$out/start.txt"
  log "$type: ready"

  type_line $win "$PROMPT1"
  wait_for $win 60 "$REPLY1" || { fail "$type" "no turn-1 reply" $win; return 1; }
  wait_stable $win 8
  wait_for -E $win 30 "$ready" || true
  save $win "$out/turn1.txt"
  log "$type: turn 1 reply seen"

  type_line $win "$PROMPT2"
  wait_for $win 90 "$REPLY2" || { fail "$type" "no turn-2 reply" $win; return 1; }
  wait_stable $win 8
  save $win "$out/turn2.txt"
  log "$type: turn 2 reply seen"

  [ -f "$wd/hello.txt" ] || { fail "$type" "hello.txt was not created"; return 1; }
  [ "$(cat "$wd/hello.txt")" = "$FILE_CONTENT" ] || { fail "$type" "hello.txt has wrong content: $(cat "$wd/hello.txt")"; return 1; }
  log "$type: hello.txt written by the tool call"

  # Turn 3: the fake LLM holds its answer for DELAY3_MS, so the "running"
  # screen (spinner, interrupt hint) can be captured.
  type_line $win "$PROMPT3"
  wait_delayed "$dir/llm.jsonl" 30 || { fail "$type" "turn-3 request never reached the fake LLM" $win; return 1; }
  sleep 1.5
  save $win "$out/running.txt"
  wait_for $win 60 "$REPLY3" || { fail "$type" "no turn-3 reply" $win; return 1; }
  wait_stable $win 8
  save $win "$out/turn3.txt"
  log "$type: running screen captured, turn 3 reply seen"
}

# wait until the fake LLM logged a delayed request (it logs those up front)
wait_delayed() {
  local logf=$1 deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    grep -q '"delayed_ms"' "$logf" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

probe_generic() {
  local type=$1 dir=$2 url=$3 out=$4 args=()
  local home="$dir/home" wd="$dir/work"
  case "$type" in
    codex) args=() ;;
    gemini) args=(--yolo) ;;
  esac
  mkdir -p "$wd"
  start_agent main "$type" "$home" "$wd" "$url" "${args[@]}"
  run_turns "$type" "$dir" "$out" "$wd" || { stop_agent main; return 1; }
  stop_agent main
}

probe_codex() {
  local dir=$1 url=$2 out=$3
  probe_generic codex "$dir" "$url" "$out" || return 1

  # As the built-in module runs it with approval_policy on-request: Codex's
  # own sandbox off, so only a command it deems dangerous asks.
  local home="$dir/home-approval" wd="$dir/work-approval" win=approve
  mkdir -p "$wd"
  start_agent $win codex "$home" "$wd" "$url" -a on-request -s danger-full-access
  wait_for -E $win 90 "$(ready_marker codex)" || { fail codex "approval run: not ready" $win; stop_agent $win; return 1; }
  wait_stable $win 5
  save $win "$out/approval-start.txt"
  type_line $win "$PROMPT4"
  wait_for $win 60 "Would you like to run" || { fail codex "no approval dialog" $win; stop_agent $win; return 1; }
  wait_stable $win 5
  save $win "$out/approval-dialog.txt"
  log "codex: approval dialog shown"
  [ ! -e "$wd/approved.txt" ] || { fail codex "command ran before it was approved"; stop_agent $win; return 1; }
  tmux -S "$sock" send-keys -t $win -l 1
  wait_for $win 60 "$REPLY4" || { fail codex "no reply after the approval" $win; stop_agent $win; return 1; }
  wait_stable $win 8
  save $win "$out/approval-granted.txt"
  [ -e "$wd/approved.txt" ] || { fail codex "approved.txt missing after the approval"; stop_agent $win; return 1; }
  log "codex: approved with 1, approved.txt written"
  stop_agent $win
}

probe_claude() {
  local dir=$1 url=$2 out=$3
  local home="$dir/home" wd="$dir/work"
  mkdir -p "$wd"
  start_agent main claude "$home" "$wd" "$url" --dangerously-skip-permissions
  run_turns claude "$dir" "$out" "$wd" || { stop_agent main; return 1; }
  stop_agent main

  # No permission flag: 2.1.331 defaults to "auto mode", whose classifier runs on
  # the API side (the request carries a "safeguards" block), so against the fake
  # LLM the tool runs without asking. Record that screen.
  local home2="$dir/home-auto" wd2="$dir/work-auto" win=auto
  mkdir -p "$wd2"
  start_agent $win claude "$home2" "$wd2" "$url"
  wait_for -E $win 90 "$(ready_marker claude)" || { fail claude "auto mode: not ready" $win; stop_agent $win; return 1; }
  wait_stable $win 5
  save $win "$out/auto-start.txt"
  type_line $win "$PROMPT2"
  wait_for $win 60 "$REPLY2" || { fail claude "auto mode: no reply" $win; stop_agent $win; return 1; }
  wait_stable $win 8
  save $win "$out/auto-turn2.txt"
  [ "$(cat "$wd2/hello.txt" 2>/dev/null)" = "$FILE_CONTENT" ] || { fail claude "auto mode: hello.txt missing"; stop_agent $win; return 1; }
  log "claude: auto mode ran the tool without a dialog"
  stop_agent $win

  # --permission-mode default: the Bash call must be confirmed on screen.
  local home3="$dir/home-perm" wd3="$dir/work-perm"
  win=perm
  mkdir -p "$wd3"
  start_agent $win claude "$home3" "$wd3" "$url" --permission-mode default
  wait_for -E $win 90 "$(ready_marker claude)" || { fail claude "permission run: not ready" $win; stop_agent $win; return 1; }
  wait_stable $win 5
  save $win "$out/perm-start.txt"
  type_line $win "$PROMPT2"
  wait_for $win 60 "Do you want" || { fail claude "no permission dialog" $win; stop_agent $win; return 1; }
  wait_stable $win 5
  save $win "$out/permission-dialog.txt"
  log "claude: permission dialog shown"
  [ ! -e "$wd3/hello.txt" ] || { fail claude "file written before permission was granted"; stop_agent $win; return 1; }
  # Option 1 ("Yes") is preselected: Enter accepts it.
  tmux -S "$sock" send-keys -t $win Enter
  wait_for $win 60 "$REPLY2" || { fail claude "no reply after granting permission" $win; stop_agent $win; return 1; }
  wait_stable $win 8
  save $win "$out/permission-granted.txt"
  [ "$(cat "$wd3/hello.txt" 2>/dev/null)" = "$FILE_CONTENT" ] || { fail claude "hello.txt missing after permission"; stop_agent $win; return 1; }
  log "claude: permission granted with Enter, hello.txt written"
  stop_agent $win
}

# Every logged request must have reached the fake LLM (Host 127.0.0.1:PORT),
# and the model endpoint must have received the tool result.
check_log() {
  local cli=$1 logf=$2 port=$3
  [ -s "$logf" ] || { log "$cli: the fake LLM received no requests"; return 1; }
  node - "$logf" "$port" "$cli" <<'EOF'
const fs = require('fs');
const [logf, port, cli] = process.argv.slice(2);
const lines = fs.readFileSync(logf, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const bad = lines.filter((r) => r.headers.host !== `127.0.0.1:${port}`);
const counts = {};
for (const r of lines) { const k = `${r.method} ${r.path.split('?')[0]}`; counts[k] = (counts[k] || 0) + 1; }
const text = JSON.stringify(lines.map((r) => r.body || null));
const toolResult = /"tool_result"|"function_call_output"|"functionResponse"/.test(text);
process.stderr.write(`${cli}: ${lines.length} requests to the fake LLM: ${JSON.stringify(counts)}\n`);
if (bad.length) { process.stderr.write(`${cli}: requests with a foreign Host: ${JSON.stringify(bad.map((r) => r.headers.host))}\n`); process.exit(1); }
if (!toolResult) { process.stderr.write(`${cli}: no tool result was sent back to the fake LLM\n`); process.exit(1); }
EOF
}

# ------------------------------------------------------------- outer part
if [ "${1:-}" = "--inner" ]; then
  shift
  inner "$@"
  exit $?
fi

[ "$(id -u)" = 0 ] || { echo "probe-agents: run as root (needs unshare -n)" >&2; exit 2; }
command -v tmux >/dev/null || { echo "probe-agents: tmux missing" >&2; exit 2; }
clis=("$@"); [ ${#clis[@]} -gt 0 ] || clis=(claude codex gemini)
for c in "${clis[@]}"; do
  case "$c" in claude|codex|gemini) ;; *) echo "probe-agents: unknown CLI $c" >&2; exit 2 ;; esac
  [ -x "$TOOLS/$c/node_modules/.bin/$c" ] || { echo "probe-agents: $c not installed; run scripts/install-agents.sh" >&2; exit 2; }
done

# Scratch dir outside /tmp (Codex refuses helper binaries under a temp dir).
SCRATCH=$(mktemp -d /var/tmp/taskbox-probe.XXXXXX)
cleanup() { if [ "${PROBE_KEEP:-0}" = 1 ]; then log "kept $SCRATCH"; else rm -rf "$SCRATCH"; fi; }
trap cleanup EXIT

start=$SECONDS
declare -A result
for c in "${clis[@]}"; do
  t0=$SECONDS
  log "=== $c"
  rm -rf "${SCREENS:?}/$c"
  if timeout 420 "$HERE/netns-run.sh" --private-tmp bash "$HERE/probe-agents.sh" --inner "$c" "$SCRATCH/$c"; then
    result[$c]="PASS ($((SECONDS - t0))s)"
  else
    result[$c]="FAIL ($((SECONDS - t0))s)"
  fi
done
echo
rc=0
for c in "${clis[@]}"; do
  echo "$c: ${result[$c]}"
  [[ ${result[$c]} == PASS* ]] || rc=1
done
echo "total: $((SECONDS - start))s; screens in $SCREENS"
exit $rc
