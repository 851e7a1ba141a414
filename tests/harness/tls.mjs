// tls.mjs: a throwaway certificate authority and a server certificate it
// signed, for https fake upstreams in tests. Made fresh by the openssl CLI
// in a directory of the test's own: ca.pem (the CA's certificate, what a
// client trusts, e.g. `taskbox provider set --ca-file`), server.pem and
// server.key (the fake's --tls-cert and --tls-key), valid for 127.0.0.1,
// ::1 and localhost. The CA's key signs once and is deleted.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// Run openssl with args in dir; throws with its stderr on failure.
function openssl(dir, args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

// Make the CA and the server certificate under dir (created if needed);
// returns {dir, ca, cert, key, caPem}: the files' paths and ca.pem's text.
export function makeTestCa(dir, { cn = 'taskbox test CA' } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
    '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(dir, ['req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr',
    '-subj', '/CN=localhost']);
  fs.writeFileSync(path.join(dir, 'server.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
    '',
  ].join('\n'));
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext']);
  for (const f of ['ca.key', 'server.csr', 'server.ext', 'ca.srl']) fs.rmSync(path.join(dir, f), { force: true });
  return {
    dir,
    ca: path.join(dir, 'ca.pem'),
    cert: path.join(dir, 'server.pem'),
    key: path.join(dir, 'server.key'),
    caPem: fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8'),
  };
}
