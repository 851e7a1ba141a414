// markdown.test.mjs: the chat UI's markdown parser (web/chat/markdown.js),
// its pure part: text in, block tree out. The DOM side is driven in
// Chromium by tests/e2e/chat-ui.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMarkdown, parseInline, safeHref } from '../../web/chat/markdown.js';

const p = (...children) => ({ type: 'p', children });

test('paragraphs keep their line breaks; blank lines split them', () => {
  assert.deepEqual(parseMarkdown('one\ntwo\n\nthree'), [p('one\ntwo'), p('three')]);
  assert.deepEqual(parseMarkdown(''), []);
  assert.deepEqual(parseMarkdown('a\r\nb'), [p('a\nb')]);
});

test('headings, rules and emphasis', () => {
  assert.deepEqual(parseMarkdown('# Title\n### Sub *x* ###'), [
    { type: 'h', level: 1, children: ['Title'] },
    { type: 'h', level: 3, children: ['Sub ', { type: 'em', children: ['x'] }] },
  ]);
  assert.deepEqual(parseMarkdown('#hashtag'), [p('#hashtag')], 'no space: not a heading');
  assert.deepEqual(parseMarkdown('a\n\n---\n\nb'), [p('a'), { type: 'hr' }, p('b')]);
  assert.deepEqual(parseInline('**bold** and *it* and _it_ and ~~gone~~'), [
    { type: 'strong', children: ['bold'] }, ' and ', { type: 'em', children: ['it'] }, ' and ',
    { type: 'em', children: ['it'] }, ' and ', { type: 'del', children: ['gone'] },
  ]);
  assert.deepEqual(parseInline('**a *b* c**'), [
    { type: 'strong', children: ['a ', { type: 'em', children: ['b'] }, ' c'] },
  ]);
  // snake_case, 2 * 3 * 4 and a lone ** stay text
  assert.deepEqual(parseInline('snake_case_name'), ['snake_case_name']);
  assert.deepEqual(parseInline('2 * 3 * 4'), ['2 * 3 * 4']);
  assert.deepEqual(parseInline('a ** b'), ['a ** b']);
  assert.deepEqual(parseInline('\\*not em\\*'), ['*not em*']);
});

test('inline code is literal', () => {
  assert.deepEqual(parseInline('run `rm -rf *x*` now'), ['run ', { type: 'code', text: 'rm -rf *x*' }, ' now']);
  assert.deepEqual(parseInline('``a ` b``'), [{ type: 'code', text: 'a ` b' }]);
  assert.deepEqual(parseInline('an `unclosed tick'), ['an `unclosed tick']);
});

test('fenced code blocks keep their text and language', () => {
  const md = 'Here:\n```python\nif a < b:\n    print("<b>**x**</b>")\n```\nafter';
  assert.deepEqual(parseMarkdown(md), [
    p('Here:'),
    { type: 'code', lang: 'python', text: 'if a < b:\n    print("<b>**x**</b>")' },
    p('after'),
  ]);
  assert.deepEqual(parseMarkdown('~~~\nx\n~~~'), [{ type: 'code', lang: '', text: 'x' }]);
  assert.deepEqual(parseMarkdown('```sh\nunclosed'), [{ type: 'code', lang: 'sh', text: 'unclosed' }]);
});

test('links: http(s) only; anything else stays text', () => {
  assert.deepEqual(parseInline('see [the docs](https://example.com/a_b) now'), [
    'see ', { type: 'a', href: 'https://example.com/a_b', children: ['the docs'] }, ' now',
  ]);
  assert.deepEqual(parseInline('[x](javascript:alert(1))'), ['[x](javascript:alert(1))']);
  assert.deepEqual(parseInline('[x](data:text/html,hi)'), ['[x](data:text/html,hi)']);
  assert.deepEqual(parseInline('[x](/relative)'), ['[x](/relative)']);
  assert.deepEqual(parseInline('Docs: https://example.com/docs.'), [
    'Docs: ', { type: 'a', href: 'https://example.com/docs', children: ['https://example.com/docs'] }, '.',
  ]);
  assert.deepEqual(parseInline('<https://x.org/>'), [{ type: 'a', href: 'https://x.org/', children: ['https://x.org/'] }]);
  assert.equal(safeHref('JAVASCRIPT:alert(1)'), null);
  assert.equal(safeHref('http://x/'), 'http://x/');
});

test('markup is text', () => {
  const s = '<img src=x onerror="alert(1)"> <script>alert(2)</script>';
  assert.deepEqual(parseMarkdown(s), [p(s)]);
});

test('lists: bullets, numbers, nesting, continuation', () => {
  assert.deepEqual(parseMarkdown('- a\n- b\n  - c\n- d\n  more'), [{
    type: 'ul', start: 1, items: [
      [p('a')],
      [p('b'), { type: 'ul', start: 1, items: [[p('c')]] }],
      [p('d\nmore')],
    ],
  }]);
  assert.deepEqual(parseMarkdown('3. three\n4. four\n\n5. five'), [{
    type: 'ol', start: 3, items: [[p('three')], [p('four')], [p('five')]],
  }]);
  assert.deepEqual(parseMarkdown('- a\n1. b'), [
    { type: 'ul', start: 1, items: [[p('a')]] },
    { type: 'ol', start: 1, items: [[p('b')]] },
  ]);
  assert.deepEqual(parseMarkdown('text\n- item'), [p('text'), { type: 'ul', start: 1, items: [[p('item')]] }]);
});

test('block quotes and tables', () => {
  assert.deepEqual(parseMarkdown('> quoted **x**\n> - item'), [{
    type: 'quote', blocks: [p('quoted ', { type: 'strong', children: ['x'] }), { type: 'ul', start: 1, items: [[p('item')]] }],
  }]);
  assert.deepEqual(parseMarkdown('| a | b |\n|:--|--:|\n| `1\\|2` | x |\nnext'), [
    { type: 'table', align: ['left', 'right'], head: [['a'], ['b']], rows: [[[{ type: 'code', text: '1|2' }], ['x']]] },
    p('next'),
  ]);
  assert.deepEqual(parseMarkdown('a | b\nno separator'), [p('a | b\nno separator')]);
});

test("box-drawn tables from the agent's terminal stay preformatted", () => {
  const box = '┌───┬───┐\n│ a │ b │\n└───┴───┘';
  assert.deepEqual(parseMarkdown(box), [{ type: 'pre', text: box }]);
});

test('hostile input: deep nesting is bounded, unmatched delimiters stay text', () => {
  const deep = '> '.repeat(5000) + 'x';
  let b = parseMarkdown(deep);
  let depth = 0;
  while (b[0]?.type === 'quote') {
    b = b[0].blocks;
    depth++;
  }
  assert.ok(depth <= 8, `quote depth ${depth}`);
  // (compared as booleans: a failure must not print 60 kB)
  const stars = '*a '.repeat(20000);
  const sp = parseMarkdown(stars);
  assert.ok(sp.length === 1 && sp[0].children.length === 1 && sp[0].children[0] === stars, 'stars stay text');
  const brackets = '['.repeat(20000) + '](x)';
  const bp = parseMarkdown(brackets);
  assert.ok(bp.length === 1 && bp[0].children[0] === brackets, 'brackets stay text');
  const ticks = '` '.repeat(20000);
  assert.equal(parseMarkdown(ticks).length, 1);
  assert.equal(parseInline('*'.repeat(30) + 'x').map((n) => (typeof n === 'string' ? n : '?')).join('').includes('x'), true);
});
