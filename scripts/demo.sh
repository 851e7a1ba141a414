#!/usr/bin/env bash
# demo.sh: the runtime driving a real program. Starts `taskbox agent` on
# 127.0.0.1:${PORT:-3284} around an interactive bash, sends it a message
# through the API like any AgentAPI client would, shows the transcript,
# and keeps serving until Ctrl-C. Open http://localhost:PORT/chat/ to chat.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-3284}"
BIN="${TASKBOX_BIN:-build/taskbox}"

"$BIN" agent --port "$PORT" -- bash --norc --noprofile -i &
rt=$!
trap 'kill $rt 2>/dev/null; wait $rt 2>/dev/null' EXIT INT TERM
api="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
	curl -sf "$api/status" | grep -q '"stable"' && break
	sleep 0.1
done
echo "== POST /message: uname -sr; echo hello from taskbox"
curl -s -X POST "$api/message" -H 'Content-Type: application/json' \
	-d '{"content":"uname -sr; echo hello from taskbox","type":"user"}'
echo
sleep 1
echo "== GET /messages"
curl -s "$api/messages"
echo
echo "== GET /status"
curl -s "$api/status"
echo
cat <<TXT

The runtime is serving bash at $api (chat UI: $api/chat/).
Try:  curl -s -X POST $api/message -d '{"content":"ls","type":"user"}'
      curl -sN $api/events
Any agent works the same way: build/taskbox agent -- claude
Press Ctrl-C to stop.
TXT
wait $rt
