// tasks.js: placeholder, written by the page's helper.

import { h } from '../dom.js';

export async function render(root) {
  root.append(h('h1', {}, 'tasks'));
}
