#!/usr/bin/env bash
# Regenerate the seed corpora in tests/fuzz/corpus/<target>/ from the
# repository's real data (golden screens, built-in templates and modules)
# and from small examples of what each parser reads in a task's life.
# The corpora are checked in; rerun this after changing the sources and
# commit the result. Files added by hand are kept: hand-* (seeds) and
# crash-* / leak-* / ub-* (reproducers of findings).
set -euo pipefail
cd "$(dirname "$0")/../.."
c=tests/fuzz/corpus

# fresh generated seeds, found reproducers kept
reset() {
	mkdir -p "$c/$1"
	find "$c/$1" -maxdepth 1 -type f ! -name 'hand-*' ! -name 'crash-*' \
		! -name 'leak-*' ! -name 'ub-*' -delete
}
crlf() { sed 's/$/\r/' "$1"; }

# msgfmt: terminal bytes NUL user message; the harness renders after the
# first half and after all of it, so a seed is the screen before, a clear,
# the screen after
reset msgfmt
for d in tests/golden/*/*/; do
	name=$(basename "$(dirname "$d")")-$(basename "$d")
	if [ -f "$d/msg.txt" ]; then
		{
			[ -f "$d/before.txt" ] && crlf "$d/before.txt"
			printf '\033[2J\033[H'
			crlf "$d/msg.txt"
			printf '\0'
			cat "$d/user.txt"
		} >"$c/msgfmt/$name"
	else
		{ crlf "$d/screen.txt"; printf '\0'; } >"$c/msgfmt/$name"
	fi
done

# template: the built-in templates and modules
reset template
for f in templates/*.yaml modules/*.yaml; do
	cp "$f" "$c/template/$(dirname "$f")-$(basename "$f")"
done

# sse: first byte = chunk size - 1 (mod 64), then the stream
reset sse
printf '\x07event: status_change\ndata: {"status":"running","agent_type":"claude"}\n\nevent: message_update\ndata: {"id":1,"message":"hello","role":"agent","time":"2026-11-30T21:44:00.000Z"}\n\n' \
	>"$c/sse/runtime-events"
printf '\x00: keepalive\r\nid: 7\r\nretry: 1000\r\nevent: screen\r\ndata: {"screen":"> "}\r\ndata: second line\r\n\r\ndata\r\n\r\n' \
	>"$c/sse/crlf-fields"
printf '\x3fevent: task_report\rdata: {"summary":"done","state":"complete"}\r\rdata:no space\n\n:comment only\n\nevent: \ndata: \n\n' \
	>"$c/sse/cr-only"

# hclient: first byte = mode (odd: raw callbacks, even: JSON) and chunk,
# then the runtime's (or an app's) whole answer
reset hclient
printf '\x00HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 96\r\n\r\n{"status":"stable","agent_type":"claude","transport":"pty","state":"idle","dialog":null,"report":null}' \
	>"$c/hclient/json-status"
printf '\x10HTTP/1.1 404 Not Found\r\nContent-Type: application/problem+json\r\n\r\n{"type":"about:blank","title":"Not Found","status":404,"detail":"no such message"}' \
	>"$c/hclient/json-problem"
printf '\x03HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\nevent: status_change\ndata: {"status":"running"}\n\n' \
	>"$c/hclient/raw-sse"
printf '\x21HTTP/1.1 302 Found\r\nLocation: /app/\r\nSet-Cookie: a=b; Path=/\r\nX-Folded:\tvalue\r\n\r\n<html>moved! here</html>' \
	>"$c/hclient/raw-redirect"
printf '\x02HTTP/1.0 99 Bad\r\n\r\n' >"$c/hclient/bad-status"

# egress: a request head as a sandboxed agent sends it
reset egress
printf 'CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\nProxy-Connection: keep-alive\r\nUser-Agent: node\r\n\r\n' \
	>"$c/egress/connect"
printf 'CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n\026\003\001' \
	>"$c/egress/connect-v6-early-data"
printf 'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:4000\r\nx-api-key: taskbox-placeholder\r\nanthropic-version: 2023-06-01\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: 17\r\n\r\n{"model":"claude"}' \
	>"$c/egress/llm-anthropic"
printf 'POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\nAuthorization: Bearer placeholder\r\nx-goog-api-key: placeholder\r\nKeep-Alive: timeout=5\r\n\r\n' \
	>"$c/egress/llm-openai"
printf 'GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n' \
	>"$c/egress/plain-get"

# mcp: JSON-RPC lines as an agent CLI sends them, then optionally NUL and
# what the runtime answers every call with
reset mcp
session() {
	echo '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude-code","version":"2.1"}}}'
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	echo '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'
	echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"report_task","arguments":{"summary":"running the tests","state":"working","link":"https://example.com/pr/1"}}}'
	echo '{"jsonrpc":"2.0","id":"3","method":"tools/call","params":{"name":"task_info"}}'
	echo '{"jsonrpc":"2.0","id":4,"method":"ping"}'
}
session >"$c/mcp/session"
{
	session
	printf '\0HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"status":"stable","agent_type":"claude","transport":"pty","state":"idle","dialog":null,"report":{"summary":"running the tests","state":"working"}}'
} >"$c/mcp/session-runtime-ok"
{
	session
	printf '\0HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/problem+json\r\n\r\n{"title":"Unprocessable Entity","status":422,"detail":"summary must be at most 160 characters"}'
} >"$c/mcp/session-runtime-422"
printf '{"jsonrpc":"2.0","id":1,"method":"tools/list"}\r\n  \n[1,2]\n{"jsonrpc":"1.0","id":null}\n{"jsonrpc":"2.0","id":5,"result":{}}\n{"jsonrpc":"2.0","id":6,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}\n{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"nope","arguments":[]}}\n{"jsonrpc":"2.0","id":1.5,"method":"x"}\n{bad' \
	>"$c/mcp/errors"

# state: the runtime's state file, with real messages from the golden files
reset state
node -e '
const fs = require("fs"), g = (f) => fs.readFileSync("tests/golden/" + f, "utf8");
console.log(JSON.stringify({version: 1, messages: [
  {id: 0, message: "", role: "agent", time: "2026-11-30T21:44:00.000Z"},
  {id: 1, message: g("claude/turn1/user.txt"), role: "user", time: "2026-11-30T21:44:01.250Z"},
  {id: 2, message: g("claude/turn1/expected.txt"), role: "agent", time: "2026-11-30T21:44:09+00:00"},
  {id: 3, message: g("codex/tool_turn/expected.txt"), role: "agent", time: "2026-11-30T21:45:00.5-01:00"}],
 initial_prompt: "say hello", initial_prompt_sent: true}, null, 2));
' >"$c/state/conversation.json"
printf '{"version": 1, "messages": [], "initial_prompt": "", "initial_prompt_sent": false}\n' \
	>"$c/state/empty.json"
printf '{"version": 2, "messages": [{"message": "x", "role": "robot", "time": "yesterday"}]}' \
	>"$c/state/bad-version.json"

# api: request bodies (and a query, a path) as the API receives them;
# prompts from the golden files
reset api
node -e '
const p = require("fs").readFileSync("tests/golden/claude/tool_turn/user.txt", "utf8");
console.log(JSON.stringify({input: p, template: "claude-code", name: "fix-the-tests",
  parameters: {"Repository": "https://example.com/r.git"}}));
' >"$c/api/task-create"
printf '{"input": "Ünïcödé prompt: résumé the 日本語 docs, then open a PR for every failing test in the repo\\nsecond line", "display_name": "x"}' \
	>"$c/api/task-unicode"
printf '{"username": "alice-2", "role": "member", "name": "Alice", "email": "a@example.com"}' \
	>"$c/api/user-create"
printf '{"webhook_url": "https://hooks.example.com/taskbox?x=1", "username": "-me"}' \
	>"$c/api/user-patch"
printf '{"q": "owner:alice status:\\"active\\" name:x  trailing", "path": "/api/v2/users/alice/secrets/GITHUB_TOKEN"}' \
	>"$c/api/list-query"
printf '{"path": "/api/v2/templates/claude-code/secrets", "value": "s3cret", "input": " \\t "}' \
	>"$c/api/template-secrets"

# gauth: first byte even: a service-account key file (the throwaway test
# key's); odd: a token endpoint's reply
reset gauth
{ printf '\x00'; cat tests/unit/gauth/throwaway-service-account.json; } \
	>"$c/gauth/key-file"
printf '\x00{"type":"service_account","project_id":"p","private_key_id":"k","private_key":"-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----\\n","client_email":"a@b","token_uri":"https://oauth2.googleapis.com/token"}' \
	>"$c/gauth/key-bad-pem"
printf '\x01{"access_token":"ya29.c.b0Aaek-_x","expires_in":3599,"token_type":"Bearer"}' \
	>"$c/gauth/token"
printf '\x01{"error":"invalid_grant","error_description":"Invalid JWT Signature."}' \
	>"$c/gauth/token-error"
printf '\x01{"access_token":"a","expires_in":1e9,"token_type":"bearer","extra":[1,{"x":null}]}' \
	>"$c/gauth/token-absurd"
# sigv4: path NUL query NUL header value, as the gateway signs them
reset sigv4
printf '/model/anthropic.claude-3-5-sonnet-20241022-v2:0/invoke\0\0application/json' \
	>"$c/sigv4/bedrock-invoke"
printf '/model/us.anthropic.claude-sonnet-4-20250514-v1%%3A0/converse-stream\0a=1&b=%%2F&b=%%2f&c\0  x   y\t' \
	>"$c/sigv4/bedrock-encoded-query"
printf '/a//b/./c/../d/\0prefix=a/b c&Z=1&a=%%3d%%3D&empty&t=%%7E+&%%zz\0\t' \
	>"$c/sigv4/dots-bad-escape"
printf '\0Action=ListUsers&Version=2010-05-08\0application/x-www-form-urlencoded; charset=utf-8' \
	>"$c/sigv4/aws-iam-example"
# usage: first byte = format (0 Anthropic, 1 OpenAI Chat, 2 OpenAI
# Responses, 3 Gemini, 4 Bedrock eventstream, 5 Bedrock Converse), second
# = chunk size - 1
# (mod 64), then a response body as each API sends it
reset usage
node -e '
const fs = require("fs"), dir = process.argv[1];
const seed = (name, fmt, chunk, body) => fs.writeFileSync(dir + "/" + name,
  Buffer.concat([Buffer.from([fmt, chunk]), Buffer.from(body)]));
const sse = evs => evs.map(([e, d]) =>
  (e ? "event: " + e + "\n" : "") + "data: " + JSON.stringify(d) + "\n\n").join("");
const au = {input_tokens: 472, cache_creation_input_tokens: 100,
  cache_read_input_tokens: 2000, output_tokens: 2};
const start = {type: "message_start", message: {id: "msg_1", type: "message",
  role: "assistant", content: [], model: "claude-sonnet-4-5", stop_reason: null, usage: au}};
const delta = {type: "message_delta", delta: {stop_reason: "end_turn"},
  usage: {output_tokens: 15}};
const text = {type: "content_block_delta", index: 0,
  delta: {type: "text_delta", text: "Hello \"usage\": {}"}};
seed("anthropic-json", 0, 7, JSON.stringify({id: "msg_1", type: "message",
  role: "assistant", model: "claude-sonnet-4-5", content: [{type: "tool_use",
  id: "t", name: "x", input: {usage: {input_tokens: 9}}}, {type: "text", text: "hi"}],
  stop_reason: "end_turn", stop_sequence: null, usage: au}, null, 1));
seed("anthropic-sse", 0, 13, sse([["message_start", start],
  ["ping", {type: "ping"}], ["content_block_delta", text],
  ["message_delta", delta], ["message_stop", {type: "message_stop"}]]));
const cu = {prompt_tokens: 1200, completion_tokens: 10, total_tokens: 1210,
  prompt_tokens_details: {cached_tokens: 1024}};
seed("chat-json", 1, 5, JSON.stringify({id: "c", object: "chat.completion",
  model: "gpt-4.1", choices: [{index: 0, message: {role: "assistant",
  content: "hi"}, finish_reason: "stop"}], usage: cu}));
const chunk = (d, u) => ({id: "c", object: "chat.completion.chunk",
  model: "gpt-4o-mini", choices: d ? [{index: 0, delta: d}] : [], usage: u});
seed("chat-sse", 1, 63, sse([[null, chunk({content: "Hi"}, null)],
  [null, chunk(null, cu)]]).replace(/\n/g, "\r\n") + "data: [DONE]\r\n\r\n");
const ru = {input_tokens: 328, input_tokens_details: {cached_tokens: 128},
  output_tokens: 52, output_tokens_details: {reasoning_tokens: 0}, total_tokens: 380};
const resp = u => ({id: "resp_1", object: "response", status: "completed",
  model: "o4-mini", output: [], usage: u});
seed("responses-json", 2, 3, JSON.stringify(resp(ru)));
seed("responses-sse", 2, 31, sse([["response.created",
  {type: "response.created", response: resp(null)}],
  ["response.output_text.delta", {type: "response.output_text.delta", delta: "Hi"}],
  ["response.completed", {type: "response.completed", response: resp(ru)}]]));
const g = n => ({candidates: [{content: {parts: [{text: "Hi"}], role: "model"},
  index: 0}], usageMetadata: {promptTokenCount: 100, candidatesTokenCount: n,
  cachedContentTokenCount: 40, thoughtsTokenCount: 30, totalTokenCount: 999},
  modelVersion: "gemini-2.5-flash"});
seed("gemini-json", 3, 9, JSON.stringify(g(20)));
seed("gemini-array", 3, 2, "[" + JSON.stringify(g(1)) + ",\r\n" + JSON.stringify(g(20)) + "]");
seed("gemini-sse", 3, 40, sse([[null, g(1)], [null, g(20)]]).replace(/\n/g, "\r\n"));
// eventstream frames: CRC32 (IEEE) by hand, string headers
const crc = b => { let c = ~0; for (const x of b) { c ^= x;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1; }
  return ~c >>> 0; };
const u32 = v => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };
const hdr = (n, v) => Buffer.concat([Buffer.from([n.length]), Buffer.from(n),
  Buffer.from([7]), Buffer.from([v.length >> 8, v.length & 255]), Buffer.from(v)]);
const frame = (mtype, payload, etype = "chunk") => {
  const h = Buffer.concat([hdr(":event-type", etype),
    hdr(":content-type", "application/json"), hdr(":message-type", mtype)]);
  const p = Buffer.from(payload);
  const pre = Buffer.concat([u32(12 + h.length + p.length + 4), u32(h.length)]);
  const body = Buffer.concat([pre, u32(crc(pre)), h, p]);
  return Buffer.concat([body, u32(crc(body))]);
};
const ev = e => frame("event", JSON.stringify({bytes:
  Buffer.from(JSON.stringify(e)).toString("base64"), p: "abcdefghij"}));
seed("bedrock-stream", 4, 11, Buffer.concat([ev(start), ev(text),
  frame("exception", "{\"message\":\"throttled\"}"), ev(delta),
  ev({type: "message_stop", "amazon-bedrock-invocationMetrics":
    {inputTokenCount: 472, outputTokenCount: 15}})]));
const tu = {inputTokens: 472, outputTokens: 15, totalTokens: 2587,
  cacheReadInputTokens: 2000, cacheWriteInputTokens: 100};
seed("converse-json", 5, 6, JSON.stringify({output: {message: {role: "assistant",
  content: [{text: "Hi \"usage\": {}"}]}}, stopReason: "end_turn", usage: tu,
  metrics: {latencyMs: 1275}}));
const cv = (etype, e) => frame("event", JSON.stringify(e), etype);
seed("converse-stream", 5, 17, Buffer.concat([cv("messageStart", {role: "assistant"}),
  cv("contentBlockDelta", {contentBlockIndex: 0, delta: {text: "Hi"}, p: "abcdefg"}),
  cv("contentBlockStop", {contentBlockIndex: 0}),
  frame("exception", "{\"message\":\"throttled\"}", "throttlingException"),
  cv("messageStop", {stopReason: "end_turn"}),
  cv("metadata", {usage: tu, metrics: {latencyMs: 900}, p: "abcdefghij"})]));
' "$c/usage"
# route: first byte = provider type (mod 7: anthropic, openai, gemini,
# bedrock, vertex, openai-compatible, ollama) + 8 (--url given) + 16
# (region set), then method NUL target, as agents send them
reset route
printf '\x00POST\0/v1/messages?beta=true' >"$c/route/claude-messages"
printf '\x05POST\0/v1/messages/count_tokens?beta=true' \
	>"$c/route/claude-count-tokens"
printf '\x01POST\0/v1/responses' >"$c/route/codex-responses"
printf '\x06GET\0/v1/models?client_version=0.169.0' >"$c/route/ollama-models"
printf '\x02POST\0/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=x' \
	>"$c/route/gemini-stream"
printf '\x13POST\0/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream' \
	>"$c/route/bedrock-stream"
printf '\x13POST\0/bedrock/model/arn%%3Aaws%%3Abedrock%%3Aus-east-1%%3A1%%3Aapplication-inference-profile%%2Fx/invoke' \
	>"$c/route/bedrock-arn"
printf '\x03GET\0/bedrock/inference-profiles?maxResults=1000&typeEquals=SYSTEM_DEFINED' \
	>"$c/route/bedrock-profiles"
printf '\x14POST\0/vertex/v1/projects/taskbox/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict' \
	>"$c/route/vertex-claude"
printf '\x0cPOST\0/vertex/v1beta1/projects/taskbox/locations/global/publishers/google/models/gemini-2.5-flash:generateContent' \
	>"$c/route/vertex-gemini"
printf '\x05POST\0/v1/%%2e%%2E/../x//y@z#w\\v%%00 \r\n' >"$c/route/hostile"
printf '\x04POST\0/vertex/v1beta1/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse' \
	>"$c/route/vertex-gemini-express"
printf '\x13POST\0/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/converse-stream' \
	>"$c/route/bedrock-converse-stream"
printf '\x14POST\0/vertex/v1beta1/projects/taskbox/locations/us-central1/endpoints/openapi/chat/completions' \
	>"$c/route/vertex-openapi-chat"

# extauth: first byte mod 3: 0 a token endpoint's reply, 1 GitHub's GET
# /user reply, 2 an admin's OAuth app URL
reset extauth
printf '\x00{"access_token":"gho_abc","token_type":"bearer","scope":"repo"}' \
	>"$c/extauth/token"
printf '\x00{"access_token":"ghu_a","expires_in":28800,"refresh_token":"ghr_b","refresh_token_expires_in":15897600,"token_type":"bearer"}' \
	>"$c/extauth/token-refresh"
printf '\x00{"error":"authorization_pending","error_description":"The authorization request is still pending."}' \
	>"$c/extauth/token-pending"
printf '\x00{"access_token":"a","access_token":"b"}' >"$c/extauth/token-dup"
printf '\x01{"login":"octocat","id":583231,"name":"The Octocat","avatar_url":"https://avatars.githubusercontent.com/u/583231?v=4"}' \
	>"$c/extauth/user"
printf '\x01{"login":"a b","id":-1,"name":null}' >"$c/extauth/user-bad"
printf '\x02https://github.example.com/' >"$c/extauth/url"
printf '\x02http://user@h:1/p?q#f' >"$c/extauth/url-bad"

# install: first byte mod 4: 0 `tar -tv --numeric-owner` output, 1 a
# marker's text NUL a marker file's bytes, 2 a message (pip's, curl's)
# whose URLs lose their user info, 3 a tail size byte then a tool's log
reset install
{
	printf '\x00'
	printf '%s\n' \
		'drwxr-xr-x 0/0               0 2026-12-01 14:26 goose/' \
		'-rwxr-xr-x 1001/1001  52428800 2026-12-01 14:26 goose/goose' \
		'hrw-r--r-- 0/0               0 2026-12-01 14:26 goose/h link to goose/goose' \
		'lrwxrwxrwx 0/0               0 2026-12-01 14:26 goose/l -> goose' \
		'crw-r--r-- 0/0             1,3 2026-12-01 14:26 goose/null' \
		'-rw-r--r-- 0/0 99999999999999999999 2026-12-01 14:26 big'
} >"$c/install/tar"
printf '\x01url https://github.com/block/goose/releases/download/v1.0.0/goose.tar.bz2\nsha256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\0url https://github.com/block/goose/releases/download/v1.0.0/goose.tar.bz2\nsha256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n' \
	>"$c/install/marker"
printf '\x01pip aider-chat==0.86.1\nindex https://pypi.org/simple\n\0pip aider-chat==0.86.1\nindex https://pypi.org/simple\n\0x' \
	>"$c/install/marker-nul"
printf '\x02ERROR: Could not find a version that satisfies the requirement aider-chat==0.86.1 (from versions: none); Looking in indexes: https://bob:p@ss@pypi.example/simple' \
	>"$c/install/scrub"
printf "\\x02curl: (7) Failed to connect to 'http://u@127.0.0.1:9/x' and \"https://a:b@h\"" \
	>"$c/install/scrub-quoted"
{
	printf '\x03\x00'
	printf 'Collecting aider-chat==0.86.1\r\n  Downloading aider_chat-0.86.1.whl (1.2 MB)\n'
	printf '\033[31mERROR: No matching distribution found for aider-chat\033[0m \xe2\x94\x80\xe2\x94\x80\n\n'
} >"$c/install/tail"
printf '\x03\x05x\nab\xc3\xa9cd\r\n' >"$c/install/tail-cut"
