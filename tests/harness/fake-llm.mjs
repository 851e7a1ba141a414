#!/usr/bin/env node
// fake-llm.mjs — taskbox's own fake LLM server for end-to-end tests.
//
// Speaks just enough of the Anthropic Messages API, the OpenAI Responses and
// Chat Completions APIs, the Gemini API, AWS Bedrock (InvokeModel and
// InvokeModelWithResponseStream for Claude, Converse and ConverseStream,
// ListInferenceProfiles) and GCP Vertex AI (Claude's rawPredict/
// streamRawPredict, Gemini's generateContent/streamGenerateContent, the
// OpenAI-compatible chat completions, with Google's OAuth2 token
// endpoint) for the real agent CLIs (Claude Code, Codex, Gemini CLI) and the
// taskbox gateway to run against it. No npm dependencies.
//
//   node tests/harness/fake-llm.mjs --port N [--script FILE] [--log FILE.jsonl]
//     [--tls-cert PEM --tls-key PEM] [--require-key K] [--usage JSON]
//     [--aws-access-key-id ID --aws-secret-access-key S [--aws-session-token T]
//      [--aws-region R]] [--service-account FILE] [--token-ttl SECONDS]
//
// Binds 127.0.0.1 only and prints "listening PORT" once ready (--port 0 picks
// a free port); https with --tls-cert/--tls-key. Every request is appended to
// --log, as its answer ends, as one JSON line {t, method, path, headers, body,
// answer, usage}:
// usage is what the answer reported, under Anthropic's names (input_tokens
// without cache reads, as taskbox counts), so a test can sum the log.
//
// Credentials are checked the way the real services check them:
// - --require-key K: the Anthropic, OpenAI and Gemini API routes want K (in
//   x-api-key, Authorization: Bearer, x-goog-api-key, api-key or ?key=),
//   else 401 in that API's own error shape.
// - Bedrock routes (…/model/ID/invoke, …/invoke-with-response-stream,
//   …/converse, …/converse-stream, …/count-tokens, GET
//   …/inference-profiles) want a SigV4 signature by the
//   --aws-* credentials for service bedrock: every request goes to a
//   long-lived tests/harness/sigv4-verify.py (python3-botocore recomputes
//   the signature over the method, target, headers and body received); a
//   refusal is AWS's 403 with x-amzn-ErrorType. Streamed answers are in the
//   real application/vnd.amazon.eventstream framing (prelude and message
//   CRC32s; invoke's :event-type chunk, payload {"bytes": base64(Anthropic
//   event)}; converse-stream's messageStart … messageStop, metadata with
//   the usage, each payload the event's JSON itself).
// - POST /token is Google's OAuth2 token endpoint for the JWT-bearer grant:
//   the assertion's RS256 signature must verify with the public half of
//   --service-account's key, iss its client_email, aud this endpoint's own
//   URL (scheme://Host/token), scope cloud-platform, iat/exp sane. It issues
//   an opaque access token valid --token-ttl seconds (default 3600).
// - Vertex routes (…/projects/P/locations/L/publishers/anthropic|google/
//   models/M:VERB, …/projects/P/locations/L/endpoints/openapi/chat/
//   completions) want "Authorization: Bearer" with a token /token issued
//   and not expired, else Google's 401 UNAUTHENTICATED.
//
// Usage figures: 10 input and 5 output tokens unless --usage (a JSON object
// under Anthropic's names: input_tokens, output_tokens,
// cache_read_input_tokens, cache_creation_input_tokens), the script's
// "usage" or a turn's "usage" say otherwise (later ones override). APIs that
// count cached tokens inside the prompt figure (OpenAI, Gemini) report
// input + cache reads there and no cache writes.
//
// Script (JSON):
//   {"turns": [
//      {"match": "say hello", "reply": "Hello there"},
//      {"match": "write the file",
//       "tool": {"kind": "write_file", "path": "hello.txt", "content": "hi"},
//       "reply": "Done writing.", "delay_ms": 0}],
//    "default": "Hello from fake LLM"}
//
// For each model request the server takes the latest *user-authored* text
// (tool results and injected context such as <system-reminder> blocks,
// <environment_context>, AGENTS.md instructions are skipped) and picks the
// first turn whose "match" is a (case-sensitive) substring of it. If that turn
// has a "tool" and no tool result has come back since that user text, it
// answers with a shell tool call in the API's native form (Claude: Bash
// tool_use, Codex: exec_command function_call, Gemini: run_shell_command
// functionCall); otherwise it answers with the turn's "reply" (or "default").
// Tool kinds: {"kind":"write_file","path","content"} (writes content plus a
// trailing newline, path relative to the agent's working directory),
// {"kind":"shell","command"}, and (Anthropic only) {"kind":"call","name",
// "input"}: a call of the named tool when the request offers it (MCP tools
// such as mcp__taskbox__report_task).
// "delay_ms" delays the answer to the main agent request (one that offers
// tools), so a test can observe a "running" agent.
// Structured-output side requests (Codex thread title, Gemini model router /
// next-speaker check, JSON-schema output) get schema-shaped JSON instead.
// Everything is deterministic: ids come from a per-process counter.

import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

// ------------------------------------------------------------------ options
function parseArgs(argv) {
  const o = { port: 8765, script: null, log: null, tlsCert: null, tlsKey: null, requireKey: null,
    usage: null, awsKeyId: null, awsSecret: null, awsToken: null, awsRegion: 'us-east-1',
    serviceAccount: null, tokenTtl: 3600 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) die(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--port') o.port = Number(val());
    else if (a === '--script') o.script = val();
    else if (a === '--log') o.log = val();
    else if (a === '--tls-cert') o.tlsCert = val();
    else if (a === '--tls-key') o.tlsKey = val();
    else if (a === '--require-key') o.requireKey = val();
    else if (a === '--usage') o.usage = val();
    else if (a === '--aws-access-key-id') o.awsKeyId = val();
    else if (a === '--aws-secret-access-key') o.awsSecret = val();
    else if (a === '--aws-session-token') o.awsToken = val();
    else if (a === '--aws-region') o.awsRegion = val();
    else if (a === '--service-account') o.serviceAccount = val();
    else if (a === '--token-ttl') o.tokenTtl = Number(val());
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: fake-llm.mjs --port N [--script FILE] [--log FILE.jsonl]\n');
      process.exit(0);
    } else die(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) die('bad --port');
  if (!o.tlsCert !== !o.tlsKey) die('--tls-cert and --tls-key go together');
  if (!o.awsKeyId !== !o.awsSecret) die('--aws-access-key-id and --aws-secret-access-key go together');
  if (!Number.isInteger(o.tokenTtl) || o.tokenTtl < 1) die('bad --token-ttl');
  return o;
}
function die(msg) {
  process.stderr.write(`fake-llm: ${msg}\n`);
  process.exit(2);
}

const OPTS = parseArgs(process.argv.slice(2));
let SCRIPT = { turns: [], default: 'Hello from fake LLM' };
if (OPTS.script) {
  try {
    const s = JSON.parse(fs.readFileSync(OPTS.script, 'utf8'));
    SCRIPT = { turns: Array.isArray(s.turns) ? s.turns : [], default: s.default ?? SCRIPT.default, usage: s.usage };
  } catch (e) {
    die(`cannot read script ${OPTS.script}: ${e.message}`);
  }
}

// The usage figures an answer reports (Anthropic's names), from the
// defaults, --usage, the script's and the turn's "usage".
const USAGE_NAMES = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'];
let USAGE = { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
function usageMerge(base, extra, what) {
  if (extra === undefined || extra === null) return base;
  if (typeof extra !== 'object') die(`${what}: not a JSON object`);
  const out = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    if (!USAGE_NAMES.includes(k) || !Number.isInteger(v) || v < 0) die(`${what}: bad ${k}`);
    out[k] = v;
  }
  return out;
}
try {
  USAGE = usageMerge(USAGE, OPTS.usage === null ? null : JSON.parse(OPTS.usage), '--usage');
} catch (e) {
  die(`--usage: ${e.message}`);
}
USAGE = usageMerge(USAGE, SCRIPT.usage, 'script usage');
for (const t of SCRIPT.turns) if (t && t.usage) usageMerge(USAGE, t.usage, 'turn usage');
function usageFor(d) {
  return usageMerge(USAGE, d && d.turn ? d.turn.usage : null, 'turn usage');
}

let counter = 0;
const nextId = (prefix) => `${prefix}_fake_${String(++counter).padStart(6, '0')}`;

function logRecord(rec) {
  if (!OPTS.log) return;
  try {
    fs.appendFileSync(OPTS.log, JSON.stringify(rec) + '\n');
  } catch (e) {
    process.stderr.write(`fake-llm: log write failed: ${e.message}\n`);
  }
}

// ------------------------------------------------------- text helpers
// Injected (non user-authored) text the CLIs put into user messages.
const INJECTED_TAGS = [
  'system-reminder', 'environment_context', 'user_instructions', 'INSTRUCTIONS',
  'session_context', 'permissions instructions', 'user_shell_command', 'turn_aborted',
  'command-name', 'command-message', 'command-args', 'local-command-stdout',
  'local-command-stderr', 'local-command-caveat', 'untrusted_context', 'skills_instructions',
  'apps_instructions', 'collaboration_mode', 'personality_spec',
];
const TAG_RE = new RegExp(
  `<(${INJECTED_TAGS.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(\\s[^>]*)?>[\\s\\S]*?</\\1>`,
  'g');

function authoredText(text) {
  if (typeof text !== 'string') return '';
  let t = text.replace(TAG_RE, '').trim();
  if (!t) return '';
  // Codex: "# AGENTS.md instructions for /dir ..." ; Gemini: initial context message.
  if (/^# AGENTS\.md instructions/.test(t)) return '';
  if (/^This is the Gemini CLI\. We are setting up the context/.test(t)) return '';
  // Claude: "Caveat: The messages below were generated by the user while running local commands..."
  if (/^Caveat: The messages below were generated by the user/.test(t)) return '';
  // Any other block that is a single XML-ish element is treated as injected context.
  if (/^<([A-Za-z_][\w.-]*)[^>]*>[\s\S]*<\/\1>$/.test(t)) return '';
  return t;
}

// Latest user text + whether a tool result arrived after it, for each API.
// Each adapter turns the conversation into [{kind:'user', text}|{kind:'tool_result'}].
function conversationState(items) {
  let lastUser = -1;
  for (let i = items.length - 1; i >= 0; i--) {
    if (items[i].kind === 'user') { lastUser = i; break; }
  }
  if (lastUser < 0) return { userText: '', toolDone: items.some((x) => x.kind === 'tool_result') };
  return {
    userText: items[lastUser].text,
    toolDone: items.slice(lastUser + 1).some((x) => x.kind === 'tool_result'),
  };
}

function anthropicItems(body) {
  const out = [];
  for (const m of body.messages || []) {
    if (!m || m.role !== 'user') continue;
    const blocks = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : (m.content || []);
    const texts = [];
    for (const b of blocks) {
      if (!b || typeof b !== 'object') continue;
      if (b.type === 'tool_result') out.push({ kind: 'tool_result' });
      else if (b.type === 'text') { const t = authoredText(b.text); if (t) texts.push(t); }
    }
    if (texts.length) out.push({ kind: 'user', text: texts.join('\n') });
  }
  return out;
}

function responsesItems(body) {
  const out = [];
  const input = typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : (body.input || []);
  for (const it of input) {
    if (!it || typeof it !== 'object') continue;
    const type = it.type || (it.role ? 'message' : '');
    if (/_output$/.test(type)) { out.push({ kind: 'tool_result' }); continue; }
    if (type !== 'message' || it.role !== 'user') continue;
    const parts = typeof it.content === 'string' ? [{ type: 'input_text', text: it.content }] : (it.content || []);
    const texts = parts.filter((p) => p && typeof p.text === 'string').map((p) => authoredText(p.text)).filter(Boolean);
    if (texts.length) out.push({ kind: 'user', text: texts.join('\n') });
  }
  return out;
}

function chatItems(body) {
  const out = [];
  for (const m of body.messages || []) {
    if (!m) continue;
    if (m.role === 'tool' || m.role === 'function') { out.push({ kind: 'tool_result' }); continue; }
    if (m.role !== 'user') continue;
    const parts = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : (m.content || []);
    const texts = parts.filter((p) => p && typeof p.text === 'string').map((p) => authoredText(p.text)).filter(Boolean);
    if (texts.length) out.push({ kind: 'user', text: texts.join('\n') });
  }
  return out;
}

function geminiItems(body) {
  const out = [];
  for (const c of body.contents || []) {
    if (!c || (c.role && c.role !== 'user')) continue;
    const texts = [];
    for (const p of c.parts || []) {
      if (!p || typeof p !== 'object') continue;
      if (p.functionResponse) out.push({ kind: 'tool_result' });
      else if (typeof p.text === 'string' && !p.thought) { const t = authoredText(p.text); if (t) texts.push(t); }
    }
    if (texts.length) out.push({ kind: 'user', text: texts.join('\n') });
  }
  return out;
}

// -------------------------------------------------------- script logic
function pickTurn(userText) {
  for (let i = 0; i < SCRIPT.turns.length; i++) {
    const t = SCRIPT.turns[i];
    if (t && typeof t.match === 'string' && userText.includes(t.match)) return { index: i, turn: t };
  }
  return { index: -1, turn: null };
}

function shQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

function toolCommand(tool) {
  if (tool.kind === 'shell') return String(tool.command || 'true');
  if (tool.kind === 'write_file' || !tool.kind) {
    return `printf '%s\\n' ${shQuote(tool.content ?? '')} > ${shQuote(tool.path || 'out.txt')}`;
  }
  return String(tool.command || 'true');
}

function toolDescription(tool) {
  if (tool.kind === 'write_file' || !tool.kind) return `Write ${tool.path || 'out.txt'}`;
  return 'Run a shell command';
}

// Decide the answer for a conversation.
// -> {action:'tool', turn, index, command, description} | {action:'reply', text, turn, index}
function decide(items, hasShellTool) {
  const { userText, toolDone } = conversationState(items);
  const { index, turn } = pickTurn(userText);
  if (turn && turn.tool && !toolDone && hasShellTool) {
    return { action: 'tool', index, turn, userText, command: toolCommand(turn.tool), description: toolDescription(turn.tool) };
  }
  const text = turn ? String(turn.reply ?? SCRIPT.default) : String(SCRIPT.default);
  return { action: 'reply', index, turn, userText, text };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Delays are logged up front so a test can see the request while it waits.
async function maybeDelay(decision, isMain, rec) {
  const ms = Number(decision.turn && decision.turn.delay_ms) || 0;
  if (ms > 0 && isMain) {
    rec.delayed_ms = ms;
    logRecord(rec);
    rec.logged = true;
    await sleep(ms);
  }
}

// A value that satisfies a JSON schema / Gemini OpenAPI-ish schema.
function fromSchema(s, key) {
  if (!s || typeof s !== 'object') return 'fake';
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  if ('const' in s) return s.const;
  if (Array.isArray(s.anyOf) && s.anyOf.length) return fromSchema(s.anyOf[0], key);
  if (Array.isArray(s.oneOf) && s.oneOf.length) return fromSchema(s.oneOf[0], key);
  let t = s.type;
  if (Array.isArray(t)) t = t.find((x) => x !== 'null') || 'string';
  t = String(t || (s.properties ? 'object' : 'string')).toLowerCase();
  switch (t) {
    case 'object': {
      const o = {};
      for (const [k, v] of Object.entries(s.properties || {})) o[k] = fromSchema(v, k);
      return o;
    }
    case 'array': {
      const n = Number(s.minItems) || 0;
      return Array.from({ length: n }, () => fromSchema(s.items || {}, key));
    }
    case 'integer': return Math.ceil(Number(s.minimum ?? 1));
    case 'number': return Number(s.minimum ?? 1);
    case 'boolean': return false;
    case 'null': return null;
    default: {
      let str = key === 'title' ? 'Fake title' : 'fake';
      if (s.maxLength && str.length > s.maxLength) str = str.slice(0, s.maxLength);
      while (s.minLength && str.length < s.minLength) str += 'x';
      return str;
    }
  }
}

function words(text) {
  const parts = String(text).split(/(?<= )/); // keep the spaces
  return parts.length ? parts : [''];
}

// Names of the tools a request offers and the one we use for shell commands.
const SHELL_TOOL_NAMES = ['Bash', 'exec_command', 'shell', 'shell_command', 'run_shell_command', 'bash', 'local_shell'];
function shellToolSpec(tools) {
  // tools: [{name, schema}]
  for (const n of SHELL_TOOL_NAMES) {
    const t = tools.find((x) => x.name === n);
    if (t) return t;
  }
  return null;
}
function shellArgs(spec, command, description) {
  const props = (spec.schema && spec.schema.properties) || {};
  const args = {};
  if ('cmd' in props && !('command' in props)) args.cmd = command;
  else if (props.command && String(props.command.type).toLowerCase() === 'array') args.command = ['bash', '-lc', command];
  else args.command = command;
  if ('description' in props) args.description = description;
  return args;
}

// ------------------------------------------------------------ HTTP plumbing
// The body as sent (what a signature covers) and decoded: {wire, body}.
function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const wire = Buffer.concat(chunks);
      let buf = wire;
      const enc = String(req.headers['content-encoding'] || '').toLowerCase();
      try {
        if (enc === 'gzip') buf = zlib.gunzipSync(buf);
        else if (enc === 'deflate') buf = zlib.inflateSync(buf);
        else if (enc === 'br') buf = zlib.brotliDecompressSync(buf);
        else if (enc === 'zstd' && zlib.zstdDecompressSync) buf = zlib.zstdDecompressSync(buf);
      } catch { /* keep raw */ }
      resolve({ wire, body: buf });
    });
    req.on('error', () => resolve({ wire: Buffer.alloc(0), body: Buffer.alloc(0) }));
  });
}

function sendJson(res, code, obj, extra = {}) {
  const b = Buffer.from(JSON.stringify(obj));
  res.writeHead(code, {
    'content-type': 'application/json',
    'content-length': b.length,
    'request-id': nextId('req'),
    ...extra,
  });
  res.end(b);
}

function sseStart(res) {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'request-id': nextId('req'),
  });
}
function sse(res, event, data) {
  res.write((event ? `event: ${event}\n` : '') + `data: ${JSON.stringify(data)}\n\n`);
}

// --------------------------------------------------------------- Anthropic
function anthropicSchema(body) {
  const f = (body.output_config && body.output_config.format) || body.output_format;
  if (f && f.type === 'json_schema') return f.schema || {};
  return null;
}

// The answer to an Anthropic Messages request (also Bedrock's and Vertex's
// Claude): {id, model, content, stop, usage}.
async function anthropicAnswer(body, rec) {
  const model = body.model || 'claude-fake';
  const tools = (body.tools || []).filter((t) => t && t.name).map((t) => ({ name: t.name, schema: t.input_schema }));
  const spec = shellToolSpec(tools);
  const schema = anthropicSchema(body);
  let d;
  if (schema) d = { action: 'reply', text: JSON.stringify(fromSchema(schema)), schema: true };
  else d = decide(anthropicItems(body), !!spec);
  rec.answer = summarize(d);
  await maybeDelay(d, tools.length > 0 && !schema, rec);

  const id = nextId('msg');
  const usage = usageFor(d);
  rec.usage = usage;
  let content; let stop;
  if (d.action === 'tool' && d.turn.tool.kind === 'call') {
    // a named tool (e.g. an MCP tool such as mcp__taskbox__report_task)
    const offered = tools.some((t) => t.name === d.turn.tool.name);
    if (offered) {
      content = [{ type: 'tool_use', id: nextId('toolu'), name: d.turn.tool.name, input: d.turn.tool.input || {} }];
      stop = 'tool_use';
    } else {
      content = [{ type: 'text', text: `tool ${d.turn.tool.name} is not offered` }];
      stop = 'end_turn';
    }
  } else if (d.action === 'tool') {
    content = [{ type: 'tool_use', id: nextId('toolu'), name: spec.name, input: shellArgs(spec, d.command, d.description) }];
    stop = 'tool_use';
  } else {
    content = [{ type: 'text', text: d.text }];
    stop = 'end_turn';
  }
  return { id, model, content, stop, usage };
}

// The Messages JSON of an answer (a non-streamed reply).
function anthropicJson(a) {
  return { id: a.id, type: 'message', role: 'assistant', model: a.model, content: a.content, stop_reason: a.stop, stop_sequence: null, usage: a.usage };
}

// The stream events of an answer, in order: [[event name, data], ...].
function anthropicEvents(a) {
  const out = [];
  const ev = (name, data) => out.push([name, data]);
  ev('message_start', { type: 'message_start', message: { ...anthropicJson(a), content: [], stop_reason: null, usage: { ...a.usage, output_tokens: Math.min(1, a.usage.output_tokens) } } });
  a.content.forEach((blk, index) => {
    if (blk.type === 'text') {
      ev('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      if (index === 0) ev('ping', { type: 'ping' });
      for (const w of words(blk.text)) ev('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: w } });
    } else {
      ev('content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: blk.id, name: blk.name, input: {} } });
      if (index === 0) ev('ping', { type: 'ping' });
      const js = JSON.stringify(blk.input);
      for (let i = 0; i < js.length; i += 24) ev('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: js.slice(i, i + 24) } });
    }
    ev('content_block_stop', { type: 'content_block_stop', index });
  });
  ev('message_delta', { type: 'message_delta', delta: { stop_reason: a.stop, stop_sequence: null }, usage: { output_tokens: a.usage.output_tokens } });
  ev('message_stop', { type: 'message_stop' });
  return out;
}

// An Anthropic Messages request (the Messages API, Vertex's rawPredict and
// streamRawPredict): JSON, or SSE when stream.
async function anthropicMessages(body, res, rec, stream = !!body.stream) {
  const a = await anthropicAnswer(body, rec);
  if (!stream) return sendJson(res, 200, anthropicJson(a));
  sseStart(res);
  for (const [name, data] of anthropicEvents(a)) sse(res, name, data);
  res.end();
}

// ------------------------------------------------------- OpenAI Responses
async function openaiResponses(body, res, rec) {
  const model = body.model || 'gpt-fake';
  const tools = (body.tools || []).filter((t) => t && t.name).map((t) => ({ name: t.name, schema: t.parameters }));
  const spec = shellToolSpec(tools);
  const fmt = (body.text && body.text.format) || {};
  let d;
  if (fmt.type === 'json_schema') d = { action: 'reply', text: JSON.stringify(fromSchema(fmt.schema || {})), schema: true };
  else d = decide(responsesItems(body), !!spec);
  rec.answer = summarize(d);
  await maybeDelay(d, tools.length > 0 && fmt.type !== 'json_schema', rec);

  const rid = nextId('resp');
  let item;
  if (d.action === 'tool') {
    item = { id: nextId('fc'), type: 'function_call', status: 'completed', call_id: nextId('call'), name: spec.name, arguments: JSON.stringify(shellArgs(spec, d.command, d.description)) };
  } else {
    item = { id: nextId('msg'), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: d.text, annotations: [] }] };
  }
  // OpenAI counts cached tokens inside input_tokens; none are written
  const u = { ...usageFor(d), cache_creation_input_tokens: 0 };
  rec.usage = u;
  const inTok = u.input_tokens + u.cache_read_input_tokens;
  const usage = { input_tokens: inTok, input_tokens_details: { cached_tokens: u.cache_read_input_tokens }, output_tokens: u.output_tokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: inTok + u.output_tokens };
  const resp = { id: rid, object: 'response', created_at: 1700000000, status: 'completed', model, output: [item], usage, error: null, incomplete_details: null, parallel_tool_calls: true, tool_choice: 'auto', tools: [] };
  if (!body.stream) return sendJson(res, 200, resp);

  sseStart(res);
  let seq = 0;
  const ev = (type, data) => sse(res, type, { type, sequence_number: seq++, ...data });
  const pending = { ...resp, status: 'in_progress', output: [], usage: null };
  ev('response.created', { response: pending });
  ev('response.in_progress', { response: pending });
  if (item.type === 'function_call') {
    ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } });
    ev('response.function_call_arguments.delta', { item_id: item.id, output_index: 0, delta: item.arguments });
    ev('response.function_call_arguments.done', { item_id: item.id, output_index: 0, arguments: item.arguments });
  } else {
    const part = { type: 'output_text', text: '', annotations: [] };
    ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
    ev('response.content_part.added', { item_id: item.id, output_index: 0, content_index: 0, part });
    for (const w of words(d.text)) ev('response.output_text.delta', { item_id: item.id, output_index: 0, content_index: 0, delta: w });
    ev('response.output_text.done', { item_id: item.id, output_index: 0, content_index: 0, text: d.text });
    ev('response.content_part.done', { item_id: item.id, output_index: 0, content_index: 0, part: { ...part, text: d.text } });
  }
  ev('response.output_item.done', { output_index: 0, item });
  ev('response.completed', { response: resp });
  res.end();
}

// ------------------------------------------------ OpenAI Chat Completions
async function openaiChat(body, res, rec) {
  const model = body.model || 'gpt-fake';
  const tools = (body.tools || []).map((t) => (t && t.function) || t).filter((t) => t && t.name).map((t) => ({ name: t.name, schema: t.parameters }));
  const spec = shellToolSpec(tools);
  const rf = body.response_format || {};
  let d;
  if (rf.type === 'json_schema') d = { action: 'reply', text: JSON.stringify(fromSchema((rf.json_schema && rf.json_schema.schema) || {})), schema: true };
  else d = decide(chatItems(body), !!spec);
  rec.answer = summarize(d);
  await maybeDelay(d, tools.length > 0 && rf.type !== 'json_schema', rec);

  const id = nextId('chatcmpl');
  const u = { ...usageFor(d), cache_creation_input_tokens: 0 };
  rec.usage = u;
  const inTok = u.input_tokens + u.cache_read_input_tokens;
  const usage = { prompt_tokens: inTok, prompt_tokens_details: { cached_tokens: u.cache_read_input_tokens }, completion_tokens: u.output_tokens, total_tokens: inTok + u.output_tokens };
  let message; let finish;
  if (d.action === 'tool') {
    message = { role: 'assistant', content: null, tool_calls: [{ id: nextId('call'), type: 'function', function: { name: spec.name, arguments: JSON.stringify(shellArgs(spec, d.command, d.description)) } }] };
    finish = 'tool_calls';
  } else {
    message = { role: 'assistant', content: d.text };
    finish = 'stop';
  }
  if (!body.stream) {
    return sendJson(res, 200, { id, object: 'chat.completion', created: 1700000000, model, choices: [{ index: 0, message, finish_reason: finish }], usage });
  }
  sseStart(res);
  const base = { id, object: 'chat.completion.chunk', created: 1700000000, model };
  sse(res, null, { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
  if (message.tool_calls) {
    const tc = message.tool_calls[0];
    sse(res, null, { ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, ...tc }] }, finish_reason: null }] });
  } else {
    for (const w of words(d.text)) sse(res, null, { ...base, choices: [{ index: 0, delta: { content: w }, finish_reason: null }] });
  }
  sse(res, null, { ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }], usage });
  res.write('data: [DONE]\n\n');
  res.end();
}

// ------------------------------------------------------------------ Gemini
async function gemini(body, res, rec, stream) {
  const decls = [];
  for (const t of body.tools || []) for (const f of (t && t.functionDeclarations) || []) if (f && f.name) decls.push({ name: f.name, schema: f.parametersJsonSchema || f.parameters });
  const spec = shellToolSpec(decls);
  const gc = body.generationConfig || {};
  const jsonOut = gc.responseMimeType === 'application/json' || gc.responseJsonSchema || gc.responseSchema;
  let d;
  if (jsonOut) d = { action: 'reply', text: JSON.stringify(fromSchema(gc.responseJsonSchema || gc.responseSchema || {})), schema: true };
  else d = decide(geminiItems(body), !!spec);
  rec.answer = summarize(d);
  await maybeDelay(d, decls.length > 0 && !jsonOut, rec);

  // Gemini counts cached tokens inside promptTokenCount; none are written
  const u = { ...usageFor(d), cache_creation_input_tokens: 0 };
  rec.usage = u;
  const inTok = u.input_tokens + u.cache_read_input_tokens;
  const usageMetadata = { promptTokenCount: inTok, candidatesTokenCount: u.output_tokens, totalTokenCount: inTok + u.output_tokens };
  if (u.cache_read_input_tokens) usageMetadata.cachedContentTokenCount = u.cache_read_input_tokens;
  if (d.action === 'tool') {
    const full = { candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: spec.name, args: shellArgs(spec, d.command, d.description) } }] }, finishReason: 'STOP', index: 0 }], usageMetadata, modelVersion: 'gemini-fake' };
    if (!stream) return sendJson(res, 200, full);
    sseStart(res);
    sse(res, null, full);
    return res.end();
  }
  const full = { candidates: [{ content: { role: 'model', parts: [{ text: d.text }] }, finishReason: 'STOP', index: 0 }], usageMetadata, modelVersion: 'gemini-fake' };
  if (!stream) return sendJson(res, 200, full);
  sseStart(res);
  const ws = words(d.text);
  ws.forEach((w, i) => {
    const chunk = { candidates: [{ content: { role: 'model', parts: [{ text: w }] }, index: 0 }], modelVersion: 'gemini-fake' };
    if (i === ws.length - 1) { chunk.candidates[0].finishReason = 'STOP'; chunk.usageMetadata = usageMetadata; }
    sse(res, null, chunk);
  });
  res.end();
}

function summarize(d) {
  if (d.schema) return { action: 'schema', text: d.text };
  const s = { action: d.action, turn: d.index, user_text: (d.userText || '').slice(0, 200) };
  if (d.action === 'tool') s.command = d.command; else s.text = d.text;
  return s;
}

// ------------------------------------------------------------ credentials
// --require-key: the key a request presents, wherever the APIs put it.
function presentedKey(req, url) {
  const h = req.headers;
  const bearer = /^Bearer\s+(.+)$/i.exec(String(h.authorization || ''));
  return h['x-api-key'] ?? (bearer && bearer[1]) ?? h['x-goog-api-key'] ?? h['api-key'] ??
    url.searchParams.get('key') ?? null;
}

// The 401 each API answers a wrong or missing key with.
function keyRefusal(res, path) {
  if (/:(stream)?[gG]enerateContent|:countTokens|\/v1beta\//.test(path)) {
    return sendJson(res, 401, { error: { code: 401, message: 'API key not valid. Please pass a valid API key.', status: 'UNAUTHENTICATED',
      details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }] } });
  }
  if (/\/messages(\/count_tokens)?$/.test(path)) {
    return sendJson(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
  }
  return sendJson(res, 401, { error: { message: 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
    type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
}

// SigV4: one long-lived python3-botocore verifier; requests by id.
let sigv4 = null;
function sigv4Start() {
  if (!OPTS.awsKeyId) return;
  const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const args = [path.join(HERE, 'sigv4-verify.py'), OPTS.awsKeyId, OPTS.awsSecret, OPTS.awsRegion, 'bedrock'];
  if (OPTS.awsToken) args.push(OPTS.awsToken);
  const child = spawn(python, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = new Map();
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let v;
      try { v = JSON.parse(line); } catch { continue; }
      const w = waiting.get(v.id);
      if (w) { waiting.delete(v.id); w(v); }
    }
  });
  child.on('exit', (code) => {
    for (const w of waiting.values()) w({ ok: false, type: 'InternalFailure', message: `sigv4-verify exited ${code}` });
    waiting.clear();
    sigv4 = null;
  });
  let next = 0;
  sigv4 = {
    child,
    verify(req, raw) {
      const id = ++next;
      const headers = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        child.stdin.write(JSON.stringify({ id, method: req.method, target: req.url, headers, body_b64: raw.toString('base64') }) + '\n');
      });
    },
  };
}

// The verdict on a Bedrock request's signature; false after answering
// AWS's 403.
async function sigv4Check(req, raw, res, rec) {
  const v = sigv4 ? await sigv4.verify(req, raw)
    : { ok: false, type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  rec.sigv4 = v.ok ? 'ok' : v.type;
  if (v.ok) return true;
  sendJson(res, 403, { message: v.message }, { 'x-amzn-errortype': `${v.type}:http://internal.amazon.com/coral/com.amazon.coral.service/` });
  return false;
}

// Google: the service account whose assertions /token takes, and the
// access tokens it issued (token -> expiry in ms).
let GOOGLE = null;
if (OPTS.serviceAccount) {
  try {
    const sa = JSON.parse(fs.readFileSync(OPTS.serviceAccount, 'utf8'));
    GOOGLE = { email: sa.client_email, key: crypto.createPublicKey(sa.private_key) };
  } catch (e) {
    die(`cannot read --service-account: ${e.message}`);
  }
}
const issued = new Map();

function grantRefusal(res, error, description) {
  sendJson(res, 400, { error, error_description: description });
}

// POST /token: the JWT-bearer grant, checked as Google checks it.
function tokenEndpoint(req, raw, res, rec) {
  const form = new URLSearchParams(raw.toString('utf8'));
  const grant = form.get('grant_type');
  if (grant !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
    rec.grant = 'bad grant_type';
    return grantRefusal(res, 'unsupported_grant_type', `Invalid grant_type: ${grant ?? ''}`);
  }
  const parts = String(form.get('assertion') || '').split('.');
  const part = (s) => { try { return JSON.parse(Buffer.from(s, 'base64url').toString('utf8')); } catch { return null; } };
  const head = parts.length === 3 ? part(parts[0]) : null;
  const claims = parts.length === 3 ? part(parts[1]) : null;
  const now = Math.floor(Date.now() / 1000);
  const aud = `${TLS ? 'https' : 'http'}://${req.headers.host}/token`;
  let why = null;
  if (!head || !claims) why = 'Invalid JWT: the assertion is not a JWS';
  else if (!GOOGLE) why = 'Invalid JWT Signature.';
  else if (head.alg !== 'RS256') why = `Invalid JWT: alg ${head.alg} is not RS256`;
  else if (!crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), GOOGLE.key, Buffer.from(parts[2], 'base64url'))) why = 'Invalid JWT Signature.';
  else if (claims.iss !== GOOGLE.email) why = 'Invalid JWT: the issuer is not the service account';
  else if (claims.aud !== aud) why = 'Invalid JWT: Failed audience check.';
  else if (!Number.isInteger(claims.iat) || !Number.isInteger(claims.exp) || claims.iat > now + 300 ||
    claims.exp <= now || claims.exp - claims.iat > 3600 || claims.exp <= claims.iat) {
    why = 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';
  }
  if (why) {
    rec.grant = why;
    return grantRefusal(res, 'invalid_grant', why);
  }
  if (!String(claims.scope || '').split(' ').includes('https://www.googleapis.com/auth/cloud-platform')) {
    rec.grant = 'bad scope';
    return grantRefusal(res, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
  }
  const token = `ya29.fake-${crypto.randomBytes(24).toString('base64url')}`;
  issued.set(token, Date.now() + OPTS.tokenTtl * 1000);
  rec.grant = 'ok';
  rec.token_issued = token;
  sendJson(res, 200, { access_token: token, expires_in: OPTS.tokenTtl, token_type: 'Bearer' });
}

// A Vertex request's bearer token is one /token issued and still valid;
// false after answering Google's 401.
function vertexAuthorized(req, res, rec) {
  const m = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization || ''));
  const until = m ? issued.get(m[1]) : undefined;
  rec.bearer = until !== undefined && until > Date.now() ? 'ok' : 'refused';
  if (rec.bearer === 'ok') return true;
  sendJson(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.', status: 'UNAUTHENTICATED' } });
  return false;
}

// ------------------------------------------------------------------ Bedrock
// CRC32 (IEEE), as the event-stream prelude and message checksums use it.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// One application/vnd.amazon.eventstream message: prelude (total length,
// headers length, CRC32 of those 8 bytes), headers (name length, name,
// type 7 = string, value length, value), payload, CRC32 of all before it.
function eventFrame(headers, payload) {
  const hs = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name); const v = Buffer.from(value);
    const h = Buffer.alloc(1 + n.length + 3 + v.length);
    h.writeUInt8(n.length, 0); n.copy(h, 1);
    h.writeUInt8(7, 1 + n.length); h.writeUInt16BE(v.length, 2 + n.length); v.copy(h, 4 + n.length);
    hs.push(h);
  }
  const hb = Buffer.concat(hs);
  const total = 12 + hb.length + payload.length + 4;
  const out = Buffer.alloc(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(hb.length, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
  hb.copy(out, 12);
  payload.copy(out, 12 + hb.length);
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)), total - 4);
  return out;
}

// One Anthropic stream event as a Bedrock chunk message.
function bedrockChunk(data) {
  const payload = Buffer.from(JSON.stringify({ bytes: Buffer.from(JSON.stringify(data)).toString('base64'), p: 'abcdefghijklmnopqrstuvwxyz'.slice(0, (counter % 26) + 1) }));
  return eventFrame({ ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event' }, payload);
}

// InvokeModel (JSON) and InvokeModelWithResponseStream (event stream) of a
// Claude model: the body is a Messages request without model and stream.
async function bedrockInvoke(model, body, res, rec, stream) {
  const a = await anthropicAnswer({ ...body, model }, rec);
  const counts = { 'x-amzn-bedrock-input-token-count': String(a.usage.input_tokens), 'x-amzn-bedrock-output-token-count': String(a.usage.output_tokens) };
  if (!stream) return sendJson(res, 200, anthropicJson(a), counts);
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-bedrock-content-type': 'application/json', 'x-amzn-requestid': nextId('req') });
  for (const [, data] of anthropicEvents(a)) {
    if (data.type === 'message_stop') {
      data['amazon-bedrock-invocationMetrics'] = { inputTokenCount: a.usage.input_tokens, outputTokenCount: a.usage.output_tokens, invocationLatency: 1, firstByteLatency: 1,
        cacheReadInputTokenCount: a.usage.cache_read_input_tokens, cacheWriteInputTokenCount: a.usage.cache_creation_input_tokens };
    }
    res.write(bedrockChunk(data));
  }
  res.end();
}

// A Converse request as an Anthropic Messages one (what anthropicAnswer
// reads): text, toolUse and toolResult blocks, toolConfig's toolSpecs.
function converseAsAnthropic(body, model) {
  const block = (b) => {
    if (!b || typeof b !== 'object') return null;
    if (typeof b.text === 'string') return { type: 'text', text: b.text };
    if (b.toolResult) return { type: 'tool_result', tool_use_id: b.toolResult.toolUseId };
    if (b.toolUse) return { type: 'tool_use', id: b.toolUse.toolUseId, name: b.toolUse.name, input: b.toolUse.input };
    return null;
  };
  const messages = (Array.isArray(body.messages) ? body.messages : []).map((m) => ({
    role: m && m.role, content: (Array.isArray(m && m.content) ? m.content : []).map(block).filter(Boolean) }));
  const tools = ((body.toolConfig && body.toolConfig.tools) || []).map((t) => t && t.toolSpec).filter((t) => t && t.name)
    .map((t) => ({ name: t.name, input_schema: t.inputSchema && t.inputSchema.json }));
  return { model, messages, tools };
}

// Converse's TokenUsage of an answer: inputTokens without cache reads and
// writes (as Bedrock passes Claude's figures through), totalTokens all four.
function converseUsage(u) {
  return { inputTokens: u.input_tokens, outputTokens: u.output_tokens,
    totalTokens: u.input_tokens + u.output_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens,
    cacheReadInputTokens: u.cache_read_input_tokens, cacheWriteInputTokens: u.cache_creation_input_tokens };
}

// One converse-stream event: the event's JSON as the payload (padded with
// "p" as Bedrock pads it).
function converseEvent(type, data) {
  const payload = Buffer.from(JSON.stringify({ ...data, p: 'abcdefghijklmnopqrstuvwxyz'.slice(0, (counter % 26) + 1) }));
  return eventFrame({ ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' }, payload);
}

// Converse (JSON) and ConverseStream (event stream).
async function bedrockConverse(model, body, res, rec, stream) {
  const a = await anthropicAnswer(converseAsAnthropic(body, model), rec);
  const content = a.content.map((b) => (b.type === 'text' ? { text: b.text }
    : { toolUse: { toolUseId: b.id, name: b.name, input: b.input } }));
  const usage = converseUsage(a.usage);
  if (!stream) {
    return sendJson(res, 200, { output: { message: { role: 'assistant', content } }, stopReason: a.stop, usage,
      metrics: { latencyMs: 1 } });
  }
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': nextId('req') });
  res.write(converseEvent('messageStart', { role: 'assistant' }));
  content.forEach((blk, i) => {
    if (blk.text !== undefined) {
      for (const w of words(blk.text)) res.write(converseEvent('contentBlockDelta', { contentBlockIndex: i, delta: { text: w } }));
    } else {
      res.write(converseEvent('contentBlockStart', { contentBlockIndex: i, start: { toolUse: { toolUseId: blk.toolUse.toolUseId, name: blk.toolUse.name } } }));
      res.write(converseEvent('contentBlockDelta', { contentBlockIndex: i, delta: { toolUse: { input: JSON.stringify(blk.toolUse.input) } } }));
    }
    res.write(converseEvent('contentBlockStop', { contentBlockIndex: i }));
  });
  res.write(converseEvent('messageStop', { stopReason: a.stop }));
  res.write(converseEvent('metadata', { usage, metrics: { latencyMs: 1 } }));
  res.end();
}

// The Bedrock routes (any base path before /model/ or /inference-profiles);
// false when path is not one.
async function bedrock(req, url, raw, body, res, rec) {
  const p = url.pathname;
  const m = /\/model\/([^/]+)\/(invoke|invoke-with-response-stream|converse|converse-stream|count-tokens)$/.exec(p);
  const profiles = /\/inference-profiles$/.test(p) && req.method === 'GET';
  if (!m && !profiles) return false;
  rec.api = 'bedrock';
  if (!(await sigv4Check(req, raw, res, rec))) return true;
  if (profiles) return sendJson(res, 200, { inferenceProfileSummaries: [] }), true;
  if (req.method !== 'POST') return sendJson(res, 405, { message: `${req.method} is not allowed` }), true;
  if (!body || typeof body !== 'object') return sendJson(res, 400, { message: 'Malformed input request: the body is not JSON' }, { 'x-amzn-errortype': 'ValidationException' }), true;
  const model = decodeURIComponent(m[1]);
  rec.model = model;
  if (m[2] === 'count-tokens') return sendJson(res, 200, { inputTokens: Math.max(1, Math.round(raw.length / 4)) }), true;
  if (m[2] === 'converse' || m[2] === 'converse-stream') {
    rec.api = 'bedrock-converse';
    await bedrockConverse(model, body, res, rec, m[2] === 'converse-stream');
    return true;
  }
  await bedrockInvoke(model, body, res, rec, m[2] === 'invoke-with-response-stream');
  return true;
}

// ------------------------------------------------------------------- Vertex
// The Vertex routes (/VERSION/projects/P/locations/L/publishers/…); false
// when path is not one. The express-mode form without projects/P/
// locations/L (what Gemini CLI sends with an API key) takes Vertex API
// keys, which this fake has none of: refused like a bad credential.
async function vertex(req, url, raw, body, res, rec) {
  const m = /(?:\/projects\/([^/]+)\/locations\/([^/]+))?\/publishers\/(anthropic|google)\/models\/([^/:]+):([A-Za-z]+)$/.exec(url.pathname);
  if (!m) return false;
  const [, project, location, publisher, model, verb] = m;
  rec.api = `vertex-${publisher}`;
  rec.vertex = { project, location, model, verb };
  if (!project) {
    rec.bearer = 'express mode';
    sendJson(res, 401, { error: { code: 401, message: 'fake-llm: Vertex express mode (no projects/P/locations/L in the path) needs an API key; this fake takes OAuth tokens on project paths only.', status: 'UNAUTHENTICATED' } });
    return true;
  }
  if (!vertexAuthorized(req, res, rec)) return true;
  body = body && typeof body === 'object' ? body : {};
  if (publisher === 'anthropic') {
    if (model === 'count-tokens' && verb === 'rawPredict') sendJson(res, 200, { input_tokens: Math.max(1, Math.round(raw.length / 4)) });
    else if (verb === 'rawPredict' || verb === 'streamRawPredict') await anthropicMessages({ ...body, model }, res, rec, verb === 'streamRawPredict' || !!body.stream);
    else sendJson(res, 404, { error: { code: 404, message: `fake-llm: no ${verb} for Claude on Vertex`, status: 'NOT_FOUND' } });
  } else if (verb === 'streamGenerateContent') await gemini(body, res, rec, true);
  else if (verb === 'generateContent') await gemini(body, res, rec, false);
  else if (verb === 'countTokens') sendJson(res, 200, { totalTokens: Math.max(1, Math.round(raw.length / 4)) });
  else sendJson(res, 404, { error: { code: 404, message: `fake-llm: no ${verb} for Gemini on Vertex`, status: 'NOT_FOUND' } });
  return true;
}

// Vertex's OpenAI-compatible endpoint (/VERSION/projects/P/locations/L/
// endpoints/openapi/chat/completions): Chat Completions behind a bearer
// token; false when path is not it.
async function vertexOpenapi(req, url, body, res, rec) {
  const m = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/endpoints\/openapi\/chat\/completions$/.exec(url.pathname);
  if (!m) return false;
  rec.api = 'vertex-openapi';
  rec.vertex = { version: m[1], project: m[2], location: m[3] };
  if (!vertexAuthorized(req, res, rec)) return true;
  if (req.method !== 'POST') return sendJson(res, 405, { error: { code: 405, message: `${req.method} is not allowed`, status: 'UNIMPLEMENTED' } }), true;
  await openaiChat(body && typeof body === 'object' ? body : {}, res, rec);
  return true;
}

// ------------------------------------------------------------------ router
const MODELS = {
  object: 'list', has_more: false, first_id: 'claude-fake', last_id: 'gpt-fake',
  data: [
    { type: 'model', id: 'claude-fake', display_name: 'Fake Claude', created_at: '2025-01-01T00:00:00Z' },
    { id: 'gpt-fake', object: 'model', owned_by: 'fake', created: 1700000000 },
  ],
};

async function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const path = url.pathname;
  const { wire, body: raw } = await readBody(req);
  let body = null;
  const rec = { t: Date.now() / 1000, method: req.method, path: req.url, headers: req.headers };
  // logged as the answer's last bytes go: a client that has the whole
  // answer finds its record in the log
  const end = res.end.bind(res);
  res.end = (...args) => {
    if (!rec.logged) { rec.logged = true; logRecord(rec); }
    return end(...args);
  };
  if (raw.length) {
    try { body = JSON.parse(raw.toString('utf8')); rec.body = body; } catch { rec.body_raw = raw.toString('utf8').slice(0, 4000); }
  }
  try {
    if (req.method === 'POST' && path === '/token') tokenEndpoint(req, raw, res, rec);
    else if (await bedrock(req, url, wire, body, res, rec)) { /* answered */ }
    else if (await vertex(req, url, raw, body, res, rec)) { /* answered */ }
    else if (await vertexOpenapi(req, url, body, res, rec)) { /* answered */ }
    else if (OPTS.requireKey !== null && req.method !== 'HEAD' && path !== '/health' &&
      presentedKey(req, url) !== OPTS.requireKey) {
      rec.key = 'refused';
      keyRefusal(res, path);
    } else if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': 0 });
      res.end();
    } else if (req.method === 'GET') {
      if (/\/models$/.test(path) && !path.includes('v1beta')) sendJson(res, 200, MODELS);
      else if (path.includes('/v1beta/models')) sendJson(res, 200, { models: [{ name: 'models/gemini-fake', supportedGenerationMethods: ['generateContent'] }] });
      else if (path === '/' || path === '/api/hello' || path === '/health') sendJson(res, 200, { ok: true });
      else sendJson(res, 404, { error: { type: 'not_found_error', message: `fake-llm: no GET ${path}` } });
    } else if (req.method === 'POST') {
      body = body && typeof body === 'object' ? body : {};
      if (path.endsWith('/messages/count_tokens')) sendJson(res, 200, { input_tokens: Math.max(1, Math.round(raw.length / 4)) });
      else if (path.endsWith('/messages')) await anthropicMessages(body, res, rec);
      else if (path.endsWith('/responses')) await openaiResponses(body, res, rec);
      else if (path.endsWith('/chat/completions')) await openaiChat(body, res, rec);
      else if (path.includes(':streamGenerateContent')) await gemini(body, res, rec, true);
      else if (path.includes(':generateContent')) await gemini(body, res, rec, false);
      else if (path.includes(':countTokens')) sendJson(res, 200, { totalTokens: Math.max(1, Math.round(raw.length / 4)) });
      else if (path.includes(':embedContent') || path.includes(':batchEmbedContents')) sendJson(res, 200, { embedding: { values: new Array(8).fill(0) } });
      else sendJson(res, 200, {}); // telemetry and other sinks: accept and ignore
    } else {
      sendJson(res, 405, { error: { message: `fake-llm: method ${req.method} not supported` } });
    }
  } catch (e) {
    rec.error = String(e && e.stack || e);
    if (!res.headersSent) sendJson(res, 500, { error: { type: 'api_error', message: 'fake-llm internal error' } });
    else res.end();
  }
  if (!rec.logged) logRecord(rec);
}

const TLS = OPTS.tlsCert ? { cert: fs.readFileSync(OPTS.tlsCert), key: fs.readFileSync(OPTS.tlsKey) } : null;
sigv4Start();
const server = TLS ? https.createServer(TLS, (req, res) => { handle(req, res); })
  : http.createServer((req, res) => { handle(req, res); });
server.keepAliveTimeout = 5000;
server.on('error', (e) => die(`listen failed: ${e.message}`));
server.listen(OPTS.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    if (sigv4) sigv4.child.kill();
    process.exit(0);
  });
}
