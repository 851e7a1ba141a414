// gauth.test.mjs: the Google service-account assertion of
// src/gateway/gauth.c checked by another implementation. The test-only
// program tests/unit/gauth-assert (built beside the binary) signs an
// assertion with the throwaway test key (tests/unit/gauth/) at a given
// time; Node's crypto verifies its RS256 signature with the public key,
// and the header and claims are read back as Google expects them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { bin, root, tmpdir } from '../harness/runtime.mjs';

const prog = path.join(path.dirname(bin), 'tests/unit/gauth-assert');
const dir = path.join(root, 'tests/unit/gauth');
const keyFile = path.join(dir, 'throwaway-service-account.json');
const pub = crypto.createPublicKey(
  fs.readFileSync(path.join(dir, 'throwaway-test-key.pub.pem')));
const sa = JSON.parse(fs.readFileSync(keyFile, 'utf8'));

function assertion(now) {
  const r = spawnSync(prog, [keyFile, String(now)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

const part = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

test('Node verifies the RS256 assertion and reads its claims', () => {
  assert.ok(fs.existsSync(prog), `${prog} is built`);
  const now = 1764572400;
  const jwt = assertion(now);
  assert.match(jwt, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const [h, c, s] = jwt.split('.');
  assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${c}`), pub,
    Buffer.from(s, 'base64url')), 'the signature verifies');
  // Node's own JWT-shaped check: the same key signs the same bytes
  const priv = crypto.createPrivateKey(sa.private_key);
  assert.equal(crypto.sign('sha256', Buffer.from(`${h}.${c}`), priv)
    .toString('base64url'), s);
  assert.deepEqual(part(h), { alg: 'RS256', typ: 'JWT', kid: sa.private_key_id });
  assert.deepEqual(part(c), {
    iss: sa.client_email,
    scope: 'https://www.googleapis.com/auth/cloud-platform',
    aud: sa.token_uri,
    iat: now,
    exp: now + 3600,
  });
  // another claim under the same signature does not verify
  const forged = Buffer.from(JSON.stringify({ ...part(c), exp: now + 86400 }))
    .toString('base64url');
  assert.ok(!crypto.verify('sha256', Buffer.from(`${h}.${forged}`), pub,
    Buffer.from(s, 'base64url')));
});

test('a bad key file is refused with a cause that holds no key', () => {
  const tmp = tmpdir('gauth-');
  const bad = path.join(tmp, 'key.json');
  fs.writeFileSync(bad, JSON.stringify({ ...sa, type: 'authorized_user' }));
  let r = spawnSync(prog, [bad, '1'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /type is 'authorized_user', not 'service_account'/);
  fs.writeFileSync(bad, JSON.stringify({ ...sa,
    private_key: sa.private_key.replace(/[A-Za-z]{8}\n/, '!!!!!!!!\n') }));
  r = spawnSync(prog, [bad, '1'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /'private_key' does not decode/);
  assert.doesNotMatch(r.stderr, /MII/);
});
