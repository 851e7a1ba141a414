// markdown.js: the agent's messages as markdown, built as DOM nodes.
//
// parseMarkdown(text) is pure (no DOM; node's tests import it): it turns
// the text into a tree of blocks, each {type, ...}:
//   {type: 'p', children}            a paragraph (line breaks kept as '\n')
//   {type: 'h', level, children}     a heading (# .. ######)
//   {type: 'code', lang, text}       a fenced code block (``` or ~~~)
//   {type: 'pre', text}              lines drawn with box characters (a
//                                    table the agent's terminal UI drew)
//   {type: 'quote', blocks}          a block quote (> ...)
//   {type: 'ul'|'ol', start, items}  a list; each item is a list of blocks
//   {type: 'hr'}                     a rule (---, ***, ___)
//   {type: 'table', align, head, rows}  a pipe table; cells are inlines
// and inlines are strings (text) or {type: 'code', text},
// {type: 'em'|'strong'|'del', children}, {type: 'a', href, children}.
// Links are http(s) only: any other link stays text. Raw HTML is text.
// renderMarkdown(text, doc) builds a DocumentFragment from the tree with
// createElement and text nodes only (never innerHTML).
//
// The parser is linear in the text: every search for a closing delimiter
// that failed is remembered, so hostile input ("*a *a *a ..." or a run
// of brackets) cannot make it quadratic; nesting is bounded by MAX_DEPTH.

const MAX_DEPTH = 8;
const URL_RE = /^https?:\/\/[^\s<>"'`]+/;
const FENCE_RE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING_RE = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const HR_RE = /^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$/;
const QUOTE_RE = /^ {0,3}> ?/;
const ITEM_RE = /^( {0,3})([-*+]|(\d{1,9})[.)])([ \t]+|$)/;
const TABLE_SEP_RE = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const BOX_RE = /[\u2500-\u257f]/;
const PUNCT = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

// A URL safe to link: http or https, else null.
export function safeHref(url) {
  if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) return null;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

// Drop trailing punctuation that is more likely prose than URL.
export function trimUrl(url) {
  let u = url.replace(/[.,;:!?'"*_~]+$/, '');
  while (/[)\]}]$/.test(u)) {
    const close = u.at(-1);
    const open = { ')': '(', ']': '[', '}': '{' }[close];
    if (u.split(open).length >= u.split(close).length) break;
    u = u.slice(0, -1).replace(/[.,;:!?'"*_~]+$/, '');
  }
  return u;
}

/* ---- inlines ------------------------------------------------------------ */

const isSpace = (c) => c === undefined || /\s/.test(c);
const isWord = (c) => c !== undefined && /[\p{L}\p{N}]/u.test(c);

// Push text onto an inline list, merging with a string before it.
function pushText(out, s) {
  if (s === '') return;
  if (typeof out.at(-1) === 'string') out[out.length - 1] += s;
  else out.push(s);
}

// The inlines of s (a paragraph, heading or table cell).
export function parseInline(s, depth = 0, inLink = false) {
  const out = [];
  const failed = new Set(); // delimiters with no closer after the last try
  let nextBracket = -2; // cached index of the next ']' (-1: none)
  let i = 0;
  let text = '';
  const flush = () => {
    pushText(out, text);
    text = '';
  };
  while (i < s.length) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length && PUNCT.includes(s[i + 1])) {
      text += s[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      let n = 1;
      while (s[i + n] === '`') n++;
      const end = failed.has(`\`${n}`) ? -1 : closingTicks(s, i + n, n);
      if (end < 0) {
        failed.add(`\`${n}`);
        text += s.slice(i, i + n);
        i += n;
        continue;
      }
      let code = s.slice(i + n, end).replace(/\n/g, ' ');
      if (code.length > 2 && code[0] === ' ' && code.at(-1) === ' ' && code.trim() !== '') code = code.slice(1, -1);
      flush();
      out.push({ type: 'code', text: code });
      i = end + n;
      continue;
    }
    if (c === '[' && !inLink && depth < MAX_DEPTH) {
      if (nextBracket !== -1 && nextBracket < i) nextBracket = s.indexOf(']', i);
      const close = nextBracket;
      if (close > i && s[close + 1] === '(') {
        const m = /^\(\s*<?([^\s()<>]*)>?(?:\s+"[^"\n]*")?\s*\)/.exec(s.slice(close + 1, close + 1 + 2048));
        const href = m && safeHref(m[1]);
        if (href) {
          flush();
          out.push({ type: 'a', href, children: parseInline(s.slice(i + 1, close), depth + 1, true) });
          i = close + 1 + m[0].length;
          continue;
        }
      }
      text += c;
      i++;
      continue;
    }
    if (c === '<' && !inLink) {
      const m = /^<(https?:\/\/[^\s<>]+)>/.exec(s.slice(i, i + 2048));
      const href = m && safeHref(m[1]);
      if (href) {
        flush();
        out.push({ type: 'a', href, children: [m[1]] });
        i += m[0].length;
        continue;
      }
    }
    if ((c === 'h' || c === 'H') && !inLink && !isWord(s[i - 1])) {
      const m = URL_RE.exec(s.slice(i, i + 4096));
      if (m) {
        const url = trimUrl(m[0]);
        const href = safeHref(url);
        if (href) {
          flush();
          out.push({ type: 'a', href, children: [url] });
          i += url.length;
          continue;
        }
      }
    }
    if ((c === '*' || c === '_' || c === '~') && depth < MAX_DEPTH) {
      const span = emphasis(s, i, failed);
      if (span) {
        flush();
        out.push({ type: span.type, children: parseInline(s.slice(span.from, span.to), depth + 1, inLink) });
        i = span.to + span.len;
        continue;
      }
      // the whole run is text (a "**" that opened nothing stays "**")
      let n = 1;
      while (s[i + n] === c) n++;
      text += s.slice(i, i + n);
      i += n;
      continue;
    }
    text += c;
    i++;
  }
  flush();
  return out;
}

// The index of the next run of exactly n backticks from i, or -1.
function closingTicks(s, i, n) {
  for (let j = s.indexOf('`', i); j >= 0; j = s.indexOf('`', j)) {
    let k = 1;
    while (s[j + k] === '`') k++;
    if (k === n) return j;
    j += k;
  }
  return -1;
}

// The emphasis opened at i ({type, from, to, len}: content s[from..to),
// closer of len characters at to), or null. failed remembers the
// delimiters found without a closer so later openers skip the search.
function emphasis(s, i, failed) {
  const c = s[i];
  let run = 1;
  while (s[i + run] === c) run++;
  const tries = c === '~' ? [2] : run >= 2 ? [2, 1] : [1];
  for (const len of tries) {
    if (run < len) continue;
    const key = c.repeat(len);
    if (failed.has(key)) continue;
    const from = i + len;
    // an opener is followed by a non-space; "_" does not open inside words
    if (isSpace(s[from])) continue;
    if (c === '_' && isWord(s[i - 1])) continue;
    const to = closer(s, from, c, len);
    if (to < 0) {
      failed.add(key);
      continue;
    }
    const type = c === '~' ? 'del' : len === 2 ? 'strong' : 'em';
    return { type, from, to, len };
  }
  return null;
}

// The index of a closer of len characters c after from, or -1: preceded
// by a non-space, a run of exactly len (or, for one, not part of a pair).
function closer(s, from, c, len) {
  for (let j = s.indexOf(c, from + 1); j >= 0; j = s.indexOf(c, j)) {
    let k = 1;
    while (s[j + k] === c) k++;
    const ok = k === len || (len === 1 && k === 3) || (len === 2 && k === 3);
    if (ok && !isSpace(s[j - 1]) && !(c === '_' && isWord(s[j + k]))) return j;
    j += k;
  }
  return -1;
}

/* ---- blocks --------------------------------------------------------------- */

// The cells of a table row (inline-parsed).
function tableCells(line, depth) {
  let t = line.trim();
  if (t.startsWith('|')) t = t.slice(1);
  if (t.endsWith('|') && !t.endsWith('\\|')) t = t.slice(0, -1);
  const cells = [];
  let cur = '';
  for (let i = 0; i < t.length; i++) {
    if (t[i] === '\\' && t[i + 1] === '|') {
      cur += '|';
      i++;
    } else if (t[i] === '|') {
      cells.push(cur);
      cur = '';
    } else {
      cur += t[i];
    }
  }
  cells.push(cur);
  return cells.map((x) => parseInline(x.trim(), depth));
}

// Is line i the head of a table (a row with pipes, then the separator)?
function tableAt(lines, i) {
  return lines[i].includes('|') && i + 1 < lines.length && TABLE_SEP_RE.test(lines[i + 1]) && lines[i + 1].includes('-');
}

// Does line start a block other than a paragraph (ends a paragraph)?
function startsBlock(lines, i) {
  const l = lines[i];
  return FENCE_RE.test(l) || HEADING_RE.test(l) || HR_RE.test(l) || QUOTE_RE.test(l) || ITEM_RE.test(l) || tableAt(lines, i);
}

const indentOf = (l) => l.length - l.trimStart().length;

// Remove up to n columns of leading spaces.
function dedent(l, n) {
  let k = 0;
  while (k < n && l[k] === ' ') k++;
  return l.slice(k);
}

// Parse lines into blocks.
function parseBlocks(lines, depth) {
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
      continue;
    }
    let m = FENCE_RE.exec(line);
    if (m) {
      const fence = m[1];
      const indent = indentOf(line);
      const body = [];
      i++;
      while (i < lines.length) {
        const t = lines[i].trim();
        if (t.startsWith(fence[0].repeat(fence.length)) && /^[`~]+$/.test(t) && t[0] === fence[0]) break;
        body.push(dedent(lines[i], indent));
        i++;
      }
      i++; // the closing fence (or the end)
      blocks.push({ type: 'code', lang: m[2] || '', text: body.join('\n') });
      continue;
    }
    m = HEADING_RE.exec(line);
    if (m) {
      blocks.push({ type: 'h', level: m[1].length, children: parseInline(m[2] || '', 0) });
      i++;
      continue;
    }
    if (HR_RE.test(line)) {
      blocks.push({ type: 'hr' });
      i++;
      continue;
    }
    if (depth < MAX_DEPTH && QUOTE_RE.test(line)) {
      const inner = [];
      while (i < lines.length && lines[i].trim() !== '') {
        if (QUOTE_RE.test(lines[i])) inner.push(lines[i].replace(QUOTE_RE, ''));
        else if (inner.length && !startsBlock(lines, i)) inner.push(lines[i]); // lazy
        else break;
        i++;
      }
      blocks.push({ type: 'quote', blocks: parseBlocks(inner, depth + 1) });
      continue;
    }
    if (depth < MAX_DEPTH && ITEM_RE.test(line)) {
      const r = parseList(lines, i, depth);
      blocks.push(r.list);
      i = r.next;
      continue;
    }
    if (tableAt(lines, i)) {
      const head = tableCells(line, 0);
      const align = tableCells(lines[i + 1], 0).map((c) => {
        const t = (c[0] ?? '').trim();
        if (t.startsWith(':') && t.endsWith(':')) return 'center';
        if (t.endsWith(':')) return 'right';
        return t.startsWith(':') ? 'left' : '';
      });
      const rows = [];
      i += 2;
      while (i < lines.length && lines[i].trim() !== '' && lines[i].includes('|')) {
        rows.push(tableCells(lines[i], 0).slice(0, head.length));
        i++;
      }
      blocks.push({ type: 'table', align: align.slice(0, head.length), head, rows });
      continue;
    }
    const para = [line];
    i++;
    while (i < lines.length && lines[i].trim() !== '' && !startsBlock(lines, i)) para.push(lines[i++]);
    const joined = para.join('\n');
    if (BOX_RE.test(joined)) blocks.push({ type: 'pre', text: joined });
    else blocks.push({ type: 'p', children: parseInline(joined, 0) });
  }
  return blocks;
}

// The list starting at line i: {list, next}.
function parseList(lines, i, depth) {
  const first = ITEM_RE.exec(lines[i]);
  const ordered = first[3] !== undefined;
  const delim = ordered ? first[2].slice(-1) : first[2];
  const list = { type: ordered ? 'ol' : 'ul', start: ordered ? Number(first[3]) : 1, items: [] };
  while (i < lines.length) {
    const m = ITEM_RE.exec(lines[i]);
    if (!m || (m[3] !== undefined) !== ordered || (ordered ? m[2].slice(-1) : m[2]) !== delim) break;
    const spaces = m[4].length > 4 || m[4].length === 0 ? 1 : m[4].length;
    const contentIndent = m[1].length + m[2].length + spaces;
    const body = [lines[i].slice(m[0].length)];
    i++;
    while (i < lines.length) {
      const l = lines[i];
      if (l.trim() === '') {
        // a blank line continues the item only when indented text follows
        let k = i + 1;
        while (k < lines.length && lines[k].trim() === '') k++;
        if (k < lines.length && indentOf(lines[k]) >= contentIndent) {
          body.push(...lines.slice(i, k).map(() => ''));
          i = k;
          continue;
        }
        break;
      }
      if (indentOf(l) >= contentIndent) body.push(dedent(l, contentIndent));
      else if (!startsBlock(lines, i) && body.at(-1)?.trim()) body.push(l.trim()); // lazy
      else break;
      i++;
    }
    list.items.push(parseBlocks(body, depth + 1));
    // blank lines between items keep the list going
    let k = i;
    while (k < lines.length && lines[k].trim() === '') k++;
    if (k < lines.length && ITEM_RE.test(lines[k]) && indentOf(lines[k]) < contentIndent) i = k;
    else break;
  }
  return { list, next: i };
}

// The block tree of a markdown text (see the header comment).
export function parseMarkdown(text) {
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').replace(/\t/g, '    ').split('\n');
  return parseBlocks(lines, 0);
}

/* ---- DOM ------------------------------------------------------------------ */

// Append inlines to el.
function renderInlines(doc, el, inlines) {
  for (const n of inlines) {
    if (typeof n === 'string') {
      el.append(doc.createTextNode(n));
      continue;
    }
    let child;
    if (n.type === 'code') {
      child = doc.createElement('code');
      child.textContent = n.text;
    } else if (n.type === 'a') {
      child = doc.createElement('a');
      child.setAttribute('href', n.href);
      child.setAttribute('target', '_blank');
      child.setAttribute('rel', 'noopener noreferrer');
      renderInlines(doc, child, n.children);
    } else {
      child = doc.createElement(n.type); // em, strong, del
      renderInlines(doc, child, n.children);
    }
    el.append(child);
  }
}

// Append blocks to el.
function renderBlocks(doc, el, blocks) {
  for (const b of blocks) {
    let child;
    switch (b.type) {
      case 'p':
        child = doc.createElement('p');
        renderInlines(doc, child, b.children);
        break;
      case 'h':
        // the chat page has its own h1: a message's headings sit below it
        child = doc.createElement(`h${Math.min(6, b.level + 2)}`);
        child.className = `md-h md-h${b.level}`;
        renderInlines(doc, child, b.children);
        break;
      case 'code': {
        child = doc.createElement('div');
        child.className = 'md-code';
        if (b.lang) {
          const label = doc.createElement('span');
          label.className = 'md-lang';
          label.textContent = b.lang;
          child.append(label);
        }
        const pre = doc.createElement('pre');
        pre.setAttribute('tabindex', '0'); // scrollable: reachable by keyboard
        const code = doc.createElement('code');
        if (b.lang) code.dataset.lang = b.lang;
        code.textContent = b.text;
        pre.append(code);
        child.append(pre);
        break;
      }
      case 'pre':
        child = doc.createElement('pre');
        child.className = 'md-pre';
        child.setAttribute('tabindex', '0');
        child.textContent = b.text;
        break;
      case 'quote':
        child = doc.createElement('blockquote');
        renderBlocks(doc, child, b.blocks);
        break;
      case 'ul':
      case 'ol':
        child = doc.createElement(b.type);
        if (b.type === 'ol' && b.start !== 1) child.setAttribute('start', String(b.start));
        for (const item of b.items) {
          const li = doc.createElement('li');
          // a one-paragraph item is its text (a tight list)
          if (item.length === 1 && item[0].type === 'p') renderInlines(doc, li, item[0].children);
          else renderBlocks(doc, li, item);
          child.append(li);
        }
        break;
      case 'hr':
        child = doc.createElement('hr');
        break;
      case 'table': {
        child = doc.createElement('div');
        child.className = 'md-table';
        const table = doc.createElement('table');
        const row = (cells, tag) => {
          const tr = doc.createElement('tr');
          cells.forEach((c, k) => {
            const cell = doc.createElement(tag);
            if (tag === 'th') cell.setAttribute('scope', 'col');
            if (b.align[k]) cell.className = `md-${b.align[k]}`;
            renderInlines(doc, cell, c);
            tr.append(cell);
          });
          return tr;
        };
        const thead = doc.createElement('thead');
        thead.append(row(b.head, 'th'));
        const tbody = doc.createElement('tbody');
        for (const r of b.rows) tbody.append(row(r, 'td'));
        table.append(thead, tbody);
        child.append(table);
        break;
      }
      default:
        continue;
    }
    el.append(child);
  }
}

// A DocumentFragment of text rendered as markdown.
export function renderMarkdown(text, doc = globalThis.document) {
  const frag = doc.createDocumentFragment();
  renderBlocks(doc, frag, parseMarkdown(text));
  return frag;
}
