#!/usr/bin/env bash
# bench/mcp-tokens.sh: what taskbox's status machinery adds to an agent's
# context: the `taskbox mcp` tools/list result and instructions (what an
# agent puts in front of the model), plus any injected prompt text (none:
# modules inject no reporting instructions). Tokens are estimated as
# bytes / 4 (no tokenizer is packaged here); the JSON is what is sent.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${TASKBOX_BIN:-build/taskbox}"
[ -x "$bin" ] || ninja -C build >/dev/null
out=$(printf '%s\n' \
	'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
	'{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	'{"jsonrpc":"2.0","id":2,"method":"tools/list"}' |
	TASKBOX_RUNTIME_SOCKET=/nonexistent "$bin" mcp)
node -e '
const lines = process.argv[1].trim().split("\n").map((l) => JSON.parse(l));
const init = lines.find((l) => l.id === 1).result;
const tools = lines.find((l) => l.id === 2).result;
const t = JSON.stringify(tools), i = init.instructions || "";
const injected = 0; // modules add no reporting text to system prompts or prompts
const total = t.length + i.length + injected;
console.log(`tools/list JSON ${t.length} bytes (${tools.tools.length} tools), instructions ${i.length} bytes, injected prompt text ${injected} bytes`);
console.log(`total ${total} bytes, about ${Math.round(total / 4)} tokens per request (bytes/4)`);
for (const x of tools.tools) console.log(`  ${x.name}: ${JSON.stringify(x).length} bytes`);
' "$out"
