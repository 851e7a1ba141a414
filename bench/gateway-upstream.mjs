// gateway-upstream.mjs: the fixed-reply LLM upstream of bench/gateway.sh.
//
//   node bench/gateway-upstream.mjs [STREAM_DELAY_MS]
//
// Listens on 127.0.0.1 (a free port, printed as "listening PORT") and
// answers every POST whose path ends in /messages the same Anthropic
// Messages reply, read from nothing: no matching, no state, so what it
// costs is the same whichever gateway is in front. A request with
// "stream": true gets the SSE form: the head and message_start written at
// once, the rest of the events STREAM_DELAY_MS (20) later, so a gateway
// that holds the first event back until more comes shows it in the first
// byte's time. Keep-alive as the client asks. GET /_bench/connections
// answers how many connections it accepted.
import http from 'node:http';

const DELAY = Number(process.argv[2] ?? 20);

const usage = { input_tokens: 12, output_tokens: 7, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
const reply = JSON.stringify({
  id: 'msg_bench', type: 'message', role: 'assistant', model: 'claude-bench',
  content: [{ type: 'text', text: 'Hello from the bench upstream.' }],
  stop_reason: 'end_turn', stop_sequence: null, usage,
});
const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
const first = ev('message_start', { message: {
  id: 'msg_bench', type: 'message', role: 'assistant', model: 'claude-bench', content: [],
  stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
const rest = ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
  ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello from the bench upstream.' } }) +
  ev('content_block_stop', { index: 0 }) +
  ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 7 } }) +
  ev('message_stop', {});

const chatReply = JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion', created: 1, model: 'gpt-bench',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the bench upstream.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
});
const chunk = (delta, finish, extra = {}) => `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk',
  created: 1, model: 'gpt-bench', choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
const chatFirst = chunk({ role: 'assistant', content: '' }, null);
const chatRest = chunk({ content: 'Hello from the bench upstream.' }, null) + chunk({}, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'gpt-bench', choices: [],
    usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 } })}\n\ndata: [DONE]\n\n`;

// The same, in OpenAI Chat Completions' form.
function chat(req, res, chunks) {
  let stream = false;
  try { stream = JSON.parse(Buffer.concat(chunks).toString()).stream === true; } catch { /* the plain reply */ }
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(chatReply) });
    res.end(chatReply);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(chatFirst);
  const t = setTimeout(() => res.end(chatRest), DELAY);
  res.on('close', () => clearTimeout(t));
}

const server = http.createServer((req, res) => {
  if (req.url === '/_bench/connections') return;
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const path = req.url.split('?')[0];
    if (req.method === 'POST' && path.endsWith('/chat/completions')) return chat(req, res, chunks);
    if (req.method !== 'POST' || !path.endsWith('/messages')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"type":"error","error":{"type":"not_found_error","message":"bench upstream: POST .../messages only"}}');
      return;
    }
    let stream = false;
    try { stream = JSON.parse(Buffer.concat(chunks).toString()).stream === true; } catch { /* not JSON: the plain reply */ }
    if (!stream) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) });
      res.end(reply);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(first);
    const t = setTimeout(() => res.end(rest), DELAY);
    res.on('close', () => clearTimeout(t));
  });
});
// GET /_bench/connections: connections accepted so far (the bench's
// count of what each path opens upstream).
let conns = 0;
server.on('connection', () => { conns++; });
server.prependListener('request', (req, res) => {
  if (req.url === '/_bench/connections') res.end(String(conns));
});
server.keepAliveTimeout = 60000;
server.headersTimeout = 65000;
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
