// pg.mjs: a private PostgreSQL cluster for the tests of one process.
//
// pgDatabase() starts the cluster on first use and creates a new
// database in it (t_1, t_2, ...), returning its libpq URI. The cluster
// lives in a temporary directory: its data, its log and its unix socket
// (no TCP), the directory mode 0700 so that only its owner and root
// connect (trust authentication, superuser "taskbox"). initdb and
// postgres refuse to run as root: as root they run as the `postgres`
// user the Debian package makes (else `nobody`), and root (the server
// under test) still reaches the socket. The cluster is made by copying a
// template initdb'd once per machine and PostgreSQL version (kept in the
// temporary directory), started without fsync, and stopped (immediate)
// and removed when the process exits; a cluster whose process died
// without that is removed by the next one to start.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PREFIX = 'taskbox-pg-';

// The directory of initdb, pg_ctl and psql (TASKBOX_PG_BINDIR, else the
// newest /usr/lib/postgresql/N/bin); null when PostgreSQL is missing.
export function pgBindir() {
  if (process.env.TASKBOX_PG_BINDIR) return process.env.TASKBOX_PG_BINDIR;
  let versions = [];
  try { versions = fs.readdirSync('/usr/lib/postgresql'); } catch { return null; }
  versions = versions.filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a);
  for (const v of versions) {
    const d = `/usr/lib/postgresql/${v}/bin`;
    if (fs.existsSync(path.join(d, 'initdb'))) return d;
  }
  return null;
}

// Who runs the cluster: this process's user, or one without privileges
// when this is root.
function owner() {
  if (process.getuid() !== 0) return null;
  for (const u of ['postgres', 'nobody']) {
    const r = spawnSync('id', ['-u', u], { encoding: 'utf8' });
    if (r.status === 0) {
      const g = spawnSync('id', ['-g', u], { encoding: 'utf8' });
      return { name: u, uid: Number(r.stdout), gid: Number(g.stdout) };
    }
  }
  throw new Error('pg.mjs: no unprivileged user (postgres, nobody) to run PostgreSQL as root');
}

// Run a PostgreSQL program as the cluster's owner; returns spawnSync's.
function spawnAsOwner(who, prog, args) {
  const argv = who ? ['runuser', '-u', who.name, '--', prog, ...args] : [prog, ...args];
  return spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
}

// Run a PostgreSQL program as the cluster's owner; throws on failure.
function asOwner(who, prog, args) {
  const r = spawnAsOwner(who, prog, args);
  if (r.status !== 0) throw new Error(`${path.basename(prog)} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

// Stop and remove the cluster in dir (best effort).
function removeCluster(dir, bindir, who) {
  if (fs.existsSync(path.join(dir, 'data', 'postmaster.pid')))
    spawnAsOwner(who, path.join(bindir, 'pg_ctl'), ['-D', path.join(dir, 'data'), '-m', 'immediate', '-w', '-s', 'stop']);
  fs.rmSync(dir, { recursive: true, force: true });
}

// Remove the clusters of test processes that died without stopping theirs.
function sweep(bindir, who) {
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith(PREFIX) || name.startsWith(PREFIX + 'template')) continue;
    const dir = path.join(os.tmpdir(), name);
    let pid = 0;
    try { pid = Number(fs.readFileSync(path.join(dir, 'owner.pid'), 'utf8')); } catch { continue; }
    try { process.kill(pid, 0); continue; } catch (e) { if (e.code !== 'ESRCH') continue; }
    removeCluster(dir, bindir, who);
  }
}

// The template data directory for this PostgreSQL version, made once.
function template(bindir, who) {
  const version = spawnSync(path.join(bindir, 'initdb'), ['--version'], { encoding: 'utf8' })
    .stdout.match(/\d+(\.\d+)+/)[0];
  const tmpl = path.join(os.tmpdir(), `${PREFIX}template-${version}-${who ? who.uid : process.getuid()}`);
  if (fs.existsSync(path.join(tmpl, 'PG_VERSION'))) return tmpl;
  const work = fs.mkdtempSync(tmpl + '.');
  if (who) fs.chownSync(work, who.uid, who.gid);
  asOwner(who, path.join(bindir, 'initdb'), ['-D', path.join(work, 'data'), '-U', 'taskbox',
    '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  try {
    fs.renameSync(path.join(work, 'data'), tmpl);
  } catch (e) {
    if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e; // another process made it first
  }
  fs.rmSync(work, { recursive: true, force: true });
  return tmpl;
}

let cluster = null;

// Start this process's cluster (once); returns {dir, socket, bindir, ms}.
export function pgCluster() {
  if (cluster) return cluster;
  const bindir = pgBindir();
  if (!bindir) throw new Error('pg.mjs: PostgreSQL is not installed (scripts/bootstrap.sh deps --test)');
  const who = owner();
  const t0 = process.hrtime.bigint();
  sweep(bindir, who);
  const tmpl = template(bindir, who);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), PREFIX));
  fs.writeFileSync(path.join(dir, 'owner.pid'), String(process.pid));
  fs.chmodSync(dir, 0o700);
  const cp = spawnSync('cp', ['-a', tmpl, path.join(dir, 'data')], { encoding: 'utf8' });
  if (cp.status !== 0) throw new Error(`pg.mjs: cannot copy the template: ${cp.stderr}`);
  if (who) fs.chownSync(dir, who.uid, who.gid);
  process.on('exit', () => removeCluster(dir, bindir, who));
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => { removeCluster(dir, bindir, who); process.kill(process.pid, sig); });
  }
  const opts = [`-k ${dir}`, "-c listen_addresses=''", '-c unix_socket_permissions=0700',
    '-F', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=60',
    '-c shared_buffers=16MB'].join(' ');
  asOwner(who, path.join(bindir, 'pg_ctl'), ['-D', path.join(dir, 'data'), '-l', path.join(dir, 'log'),
    '-o', opts, '-w', '-s', 'start']);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  cluster = { dir, socket: dir, bindir, who, ms, n: 0 };
  return cluster;
}

// Run SQL in database db of the cluster (psql, as this process's user:
// root or the cluster's owner); returns the output, rows as lines of
// fields separated by '|'.
export function pgSql(db, sql) {
  const c = pgCluster();
  const r = spawnSync(path.join(c.bindir, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
    '-h', c.socket, '-U', 'taskbox', '-d', db, '-c', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
  return r.stdout;
}

// The URI of database db in the cluster.
export function pgUri(db) {
  const c = pgCluster();
  return `postgresql:///${db}?host=${encodeURIComponent(c.socket)}&user=taskbox`;
}

// A new empty database in this process's cluster; returns {name, uri}.
// With location (a directory to make) its files go there (a tablespace),
// as a test of a full disk wants them.
export function pgDatabase({ location } = {}) {
  const c = pgCluster();
  const name = `t_${++c.n}`;
  let where = '';
  if (location) {
    fs.mkdirSync(location, { mode: 0o700 });
    if (c.who) fs.chownSync(location, c.who.uid, c.who.gid);
    pgSql('postgres', `CREATE TABLESPACE ts_${c.n} LOCATION '${location.replace(/'/g, "''")}'`);
    where = ` TABLESPACE ts_${c.n}`;
  }
  pgSql('postgres', `CREATE DATABASE ${name}${where}`);
  return { name, uri: pgUri(name), tablespace: location ? `ts_${c.n}` : null };
}

// Drop a database of pgDatabase() (nobody connected) and its tablespace:
// before the tablespace's filesystem goes, so that no page of it is left
// to write back.
export function pgDropDatabase(db) {
  pgSql('postgres', `DROP DATABASE ${db.name}`);
  if (db.tablespace) pgSql('postgres', `DROP TABLESPACE ${db.tablespace}`);
}

// Everything database db holds, as pg_dump's SQL text.
export function pgDump(db) {
  const c = pgCluster();
  const r = spawnSync(path.join(c.bindir, 'pg_dump'), ['-h', c.socket, '-U', 'taskbox', '-d', db],
    { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`pg_dump: ${r.stderr}`);
  return r.stdout;
}
