// pkgserver.mjs: what the installer tests download from, made locally.
//
// startFileServer(dir) serves the files under dir over HTTP on 127.0.0.1
// (a directory answers with its index.html), counting the requests per
// path: a PEP 503 "simple" package index is nothing but such files.
// buildWheel() writes a small pure-Python wheel with a console script
// (a wheel is a zip with METADATA, WHEEL, entry_points.txt and RECORD),
// using python3's standard library only; simpleIndex() lays out the
// index page for it. buildTarball() packs a directory with tar.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';

export function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

// Serve dir; returns {base, hits: Map(path -> count), close()}.
export async function startFileServer(dir) {
  const hits = new Map();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const rel = decodeURIComponent(url.pathname);
    hits.set(rel, (hits.get(rel) ?? 0) + 1);
    let p = path.join(dir, rel);
    if (!p.startsWith(dir)) { res.writeHead(403).end(); return; }
    try {
      if (fs.statSync(p).isDirectory()) p = path.join(p, 'index.html');
      const body = fs.readFileSync(p);
      res.writeHead(200, {
        'Content-Type': p.endsWith('.html') ? 'text/html' : 'application/octet-stream',
        'Content-Length': body.length,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    hits,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

// A port nothing listens on (taken, then released).
export async function closedPort() {
  const s = http.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

// Write NAME-VERSION-py3-none-any.whl into outDir: module `mod` with
// `source` as its __init__.py and a console script `script` = mod:main.
// Returns the wheel's path.
export function buildWheel(outDir, { name, version, mod, script, source }) {
  const py = String.raw`
import base64, hashlib, sys, zipfile
out, name, version, mod, script, source = sys.argv[1:7]
dist = name.replace('-', '_')
info = f'{dist}-{version}.dist-info'
files = {
    f'{mod}/__init__.py': source,
    f'{info}/METADATA': f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n',
    f'{info}/WHEEL': 'Wheel-Version: 1.0\nGenerator: taskbox-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
    f'{info}/entry_points.txt': f'[console_scripts]\n{script} = {mod}:main\n',
}
record = []
with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
    for p, text in files.items():
        data = text.encode()
        z.writestr(p, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
        record.append(f'{p},sha256={digest},{len(data)}')
    record.append(f'{info}/RECORD,,')
    z.writestr(f'{info}/RECORD', '\n'.join(record) + '\n')
`;
  const file = path.join(outDir, `${name.replace(/-/g, '_')}-${version}-py3-none-any.whl`);
  const r = spawnSync('python3', ['-c', py, file, name, version, mod, script, source], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`buildWheel: ${r.stderr}`);
  return file;
}

// Lay out root/simple/NAME/index.html (PEP 503) linking root/files/WHEEL.
export function simpleIndex(root, name, wheel) {
  const files = path.join(root, 'files');
  const page = path.join(root, 'simple', name);
  fs.mkdirSync(files, { recursive: true });
  fs.mkdirSync(page, { recursive: true });
  fs.copyFileSync(wheel, path.join(files, path.basename(wheel)));
  const href = `../../files/${path.basename(wheel)}#sha256=${sha256(wheel)}`;
  fs.writeFileSync(path.join(page, 'index.html'),
    `<!DOCTYPE html><html><body><a href="${href}">${path.basename(wheel)}</a></body></html>\n`);
}

// tar -czf out -C dir . (what a release archive looks like).
export function buildTarball(out, dir) {
  const r = spawnSync('tar', ['-czf', out, '-C', dir, '.'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`buildTarball: ${r.stderr}`);
  return out;
}

// A server that answers 200 and then one byte a second, forever: a
// download that never ends (until close()). Returns {base, close()}.
export async function startDripServer() {
  const timers = new Set();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    const t = setInterval(() => res.write('x'), 1000);
    timers.add(t);
    res.on('close', () => { clearInterval(t); timers.delete(t); });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}
