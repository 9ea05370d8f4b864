// nginx as Debian runs it: the master (root) loads the configuration, the workers run as
// www-data ("user www-data;") and use the token store. Proves that:
//   - a token directory the workers cannot use is refused at "nginx -t" and at start, with a
//     message naming the directory, the user and the fix (never a 503 at the first sign-in):
//     a root-owned directory, a parent the workers cannot enter, a missing directory whose
//     parent they cannot write, a directory they own but cannot write, a table left by root;
//   - the master creates nothing in the token directory that the workers would have to write
//     (a missing directory is made by the check, as www-data, owner-only);
//   - sign-in, refresh and logout work on 4 workers as www-data, every store file theirs;
//   - an nginx started by an ordinary user (the master itself as www-data, no "user" line)
//     works too, and refuses a directory that user cannot use, naming that user.
// Runs as root only (it needs www-data's ids); skipped, with a message, otherwise.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as nginx from './lib/hosts/nginx.js';
import { startStack, moduleEnv } from './lib/stack.js';
import { testConfig } from './lib/config.js';
import { scratchDir, removeScratch, userIds } from './lib/paths.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const www = userIds('www-data');
const skip = !nginx.available()
  ? `nginx module not built (${nginx.NGINX_MODULE} or ${nginx.NGINX_BIN} missing): run 'make -C native-host'`
  : !isRoot
    ? 'needs root: nginx runs as Debian runs it (master root, workers www-data)'
    : !www
      ? 'no www-data user'
      : false;
if (skip && (process.env.EZAUTH_E2E_HOSTS || '').split(',').includes('nginx') && isRoot) {
  throw new Error(`EZAUTH_E2E_HOSTS names nginx but ${skip}`);
}
if (skip) console.log(`# nginx-users.test.js skipped: ${skip}`);

const WHO = /www-data \(uid 33, gid 33\)/;

function nginxWith(extra) {
  return { ...nginx, start: (o) => nginx.start({ ...o, ...extra }) };
}

function configFor(tokenDir) {
  return testConfig({ wellKnown: 'http://127.0.0.1:9/.well-known/openid-configuration', tokenDir });
}

/** The real uid of a process (/proc/PID/status). */
function uidOf(pid) {
  const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

/** Every entry under dir, with its owner: [{rel, uid}]. */
function owners(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push({ rel: path.relative(dir, p), uid: fs.lstatSync(p).uid });
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** Asserts "nginx -t" and a start both refuse `tokenDir`, with a message matching `fix`. */
async function assertRefused(tokenDir, fix, { runAs } = {}) {
  const esc = tokenDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const message = new RegExp(`\\[emerg\\].*ezauth_config ".*authsettings\\.json": token store directory ${esc} is not usable`);
  const t = await nginx.configTest({ config: configFor(tokenDir), env: moduleEnv(), runAs });
  assert.notEqual(t.code, 0, `nginx -t passed:\n${t.output}`);
  assert.match(t.output, message, t.output);
  assert.match(t.output, WHO, t.output);
  assert.match(t.output, fix, t.output);
  assert.match(t.output, /EZAUTH_STORE_UNUSABLE/, t.output);
  assert.match(t.output, /test failed/, t.output);

  let started = null;
  try {
    started = await nginx.start({ config: configFor(tokenDir), env: moduleEnv(), runAs, readyTimeoutMs: 10000 });
  } catch (e) {
    assert.notEqual(e.exitCode, 0, e.message);
    assert.match(e.logs, message, e.logs);
    assert.match(e.logs, fix, e.logs);
    return;
  } finally {
    await started?.stop();
  }
  assert.fail('nginx started with a token directory its workers cannot use');
}

describe('nginx refuses a token directory its workers (www-data) cannot use', { skip }, () => {
  let dir;
  before(() => {
    dir = scratchDir('users');
  });
  after(() => removeScratch(dir));

  it('a directory owned by root (as root made it, 0700): refused, naming the owner and chown', async () => {
    const tokens = path.join(dir, 'root-owned');
    fs.mkdirSync(tokens, { mode: 0o700 });
    await assertRefused(tokens, /belongs to root \(uid 0\).*chown -R www-data:www-data/);
    assert.deepEqual(owners(tokens), [], 'the master made nothing in it');
  });

  it('a directory owned by root but open to all (0777): still refused, the store makes files owner-only', async () => {
    const tokens = path.join(dir, 'root-0777');
    fs.mkdirSync(tokens);
    fs.chmodSync(tokens, 0o777);
    await assertRefused(tokens, /belongs to root.*chown -R www-data:www-data/);
  });

  it('a parent the workers cannot enter (0700 root, as /tmp here): refused, naming the parent', async () => {
    const parent = path.join(dir, 'private');
    fs.mkdirSync(parent, { mode: 0o700 });
    fs.chmodSync(parent, 0o700);
    const tokens = path.join(parent, 'tokens');
    nginx.prepareTokenDir(tokens);
    const esc = parent.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await assertRefused(tokens, new RegExp(`cannot enter ${esc} \\(mode 0700, owner root\\).*install -d -o www-data -g www-data -m 700 /var/lib/ezauth/tokens`));
  });

  it('a parent two levels up that the workers cannot enter: refused, naming that one', async () => {
    const top = path.join(dir, 'top');
    fs.mkdirSync(path.join(top, 'mid'), { recursive: true });
    fs.chmodSync(top, 0o750);
    const tokens = path.join(top, 'mid', 'tokens');
    nginx.prepareTokenDir(tokens);
    const esc = top.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await assertRefused(tokens, new RegExp(`cannot enter ${esc} \\(mode 0750`));
  });

  it('a missing directory whose parent the workers cannot write: refused with the install -d command', async () => {
    const parent = path.join(dir, 'root-parent');
    fs.mkdirSync(parent, { mode: 0o755 });
    fs.chmodSync(parent, 0o755);
    const tokens = path.join(parent, 'tokens');
    const esc = tokens.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await assertRefused(tokens, new RegExp(`cannot create ${esc}: Permission denied.*install -d -o www-data -g www-data -m 700 ${esc}`));
    assert.equal(fs.existsSync(tokens), false, 'the master did not make it as root');
  });

  it('a missing directory two levels down: refused at the first parent it cannot make', async () => {
    const parent = path.join(dir, 'root-parent-2');
    fs.mkdirSync(parent, { mode: 0o755 });
    const tokens = path.join(parent, 'a', 'tokens');
    await assertRefused(tokens, /cannot create .*root-parent-2\/a: Permission denied.*install -d -o www-data/);
    assert.equal(fs.existsSync(path.join(parent, 'a')), false);
  });

  it('a directory the workers own but cannot write (0500): refused', async () => {
    const tokens = path.join(dir, 'read-only');
    nginx.prepareTokenDir(tokens);
    fs.chmodSync(tokens, 0o500);
    await assertRefused(tokens, /cannot create a file in it.*Permission denied.*install -d -o www-data/);
  });

  it('a path that is a file: refused', async () => {
    const tokens = path.join(dir, 'a-file');
    fs.writeFileSync(tokens, '');
    fs.chownSync(tokens, www.uid, www.gid);
    // the library refuses it already when it loads the file (not a directory)
    const t = await nginx.configTest({ config: configFor(tokens), env: moduleEnv() });
    assert.notEqual(t.code, 0, t.output);
    assert.match(t.output, /ezauth_config .*is not a directory/, t.output);
  });

  it('a change table left by root (an earlier version, before this fix): refused with chown -R', async () => {
    const tokens = path.join(dir, 'upgraded');
    nginx.prepareTokenDir(tokens);
    fs.writeFileSync(path.join(tokens, '.generations'), Buffer.alloc(32768), { mode: 0o600 });
    await assertRefused(tokens, /cannot write .*upgraded\/\.generations.*Permission denied.*chown -R www-data:www-data/);
  });

  it('one bad directory among several configurations is named; a good one passes', async () => {
    const good = path.join(dir, 'good');
    nginx.prepareTokenDir(good);
    const t = await nginx.configTest({ config: configFor(good), env: moduleEnv() });
    assert.equal(t.code, 0, t.output);
    assert.match(t.output, /test is successful/);
  });

  it('a missing directory whose parent the workers can write is made by the check, as www-data, owner-only', async () => {
    const parent = path.join(dir, 'www-parent');
    nginx.prepareTokenDir(parent);
    fs.chmodSync(parent, 0o755);
    const tokens = path.join(parent, 'tokens');
    const t = await nginx.configTest({ config: configFor(tokens), env: moduleEnv() });
    assert.equal(t.code, 0, t.output);
    const st = fs.statSync(tokens);
    assert.equal(st.uid, www.uid, 'made as www-data');
    assert.equal(st.mode & 0o777, 0o700);
    assert.deepEqual(owners(tokens), [], 'nginx -t left nothing in it');
  });
});

describe('nginx as Debian runs it: 4 workers as www-data sign in, refresh, log out', { skip }, () => {
  let s;
  before(async () => {
    s = await startStack(nginxWith({ workers: 4, workerHeader: true }));
  });
  after(async () => {
    await s?.stop();
  });

  it('the master is root, the 4 workers www-data', () => {
    assert.equal(uidOf(s.host.pid), 0);
    const workers = s.host.workerPids();
    assert.equal(workers.length, 4, `workers: ${workers}`);
    for (const w of workers) assert.equal(uidOf(w), www.uid, `worker ${w}`);
    assert.match(fs.readFileSync(s.host.nginxConfPath, 'utf8'), /^user www-data;$/m);
    assert.doesNotMatch(fs.readFileSync(s.host.nginxConfPath, 'utf8'), /user root/);
  });

  it('the token directory is made as the README says, and the master made nothing in it', () => {
    const st = fs.statSync(s.tokenDir);
    assert.equal(st.uid, www.uid);
    assert.equal(st.mode & 0o777, 0o700);
    assert.deepEqual(owners(s.tokenDir), []);
  });

  it('sign-in, /.auth/me on every worker, refresh on several, logout: no 503, every file www-data\'s', async () => {
    const c = s.client();
    const signed = await s.signIn(c, { login: 'debian', prompt: 'consent' });
    assert.ok(signed, 'signed in');
    const seen = new Set();
    for (let i = 0; i < 40; i += 1) {
      const me = await c.get(s.at('/.auth/me'), { headers: { connection: 'close' } });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json()[0].user_id.length > 0, true);
      seen.add(me.headers.get('x-nginx-worker'));
    }
    assert.ok(seen.size >= 2, `every request went to one worker: ${[...seen]}`);
    const refreshWorkers = new Set();
    for (let i = 0; i < 6; i += 1) {
      const r = await c.get(s.at('/.auth/refresh'), { headers: { connection: 'close' } });
      assert.equal(r.status, 200, `refresh #${i}: ${r.status} ${r.text.slice(0, 300)}`);
      refreshWorkers.add(r.headers.get('x-nginx-worker'));
    }
    const files = owners(s.tokenDir);
    assert.ok(files.some((f) => f.rel === '.generations'), `the workers made the table: ${JSON.stringify(files)}`);
    assert.ok(files.some((f) => f.rel.endsWith('.tok')), JSON.stringify(files));
    for (const f of files) assert.equal(f.uid, www.uid, `${f.rel} belongs to uid ${f.uid}`);

    const out = await c.get(s.at('/.auth/logout'));
    assert.equal(out.status, 302, out.text);
    const after = await c.get(s.at('/.auth/me'));
    assert.equal(after.status, 401, after.text);
    for (const f of owners(s.tokenDir)) assert.equal(f.uid, www.uid, `${f.rel} belongs to uid ${f.uid}`);
    assert.doesNotMatch(s.logs(), /Permission denied|token store is not available/);
  });
});

describe('nginx started by an ordinary user (the master itself as www-data)', { skip }, () => {
  let s;
  before(async () => {
    s = await startStack(nginx, { hostOptions: { runAs: 'www-data', workers: 2, workerHeader: true } });
  });
  after(async () => {
    await s?.stop();
  });

  it('has no "user" line; master and workers run as www-data', () => {
    assert.doesNotMatch(fs.readFileSync(s.host.nginxConfPath, 'utf8'), /^user /m);
    assert.equal(uidOf(s.host.pid), www.uid);
    for (const w of s.host.workerPids()) assert.equal(uidOf(w), www.uid);
  });

  it('signs in, refreshes and logs out', async () => {
    const c = s.client();
    await s.signIn(c, { login: 'ordinary', prompt: 'consent' });
    const me = await c.get(s.at('/.auth/me'));
    assert.equal(me.status, 200, me.text);
    const r = await c.get(s.at('/.auth/refresh'));
    assert.equal(r.status, 200, r.text);
    for (const f of owners(s.tokenDir)) assert.equal(f.uid, www.uid, f.rel);
    assert.equal((await c.get(s.at('/.auth/logout'))).status, 302);
    assert.equal((await c.get(s.at('/.auth/me'))).status, 401);
  });

  it('refuses a directory its own user cannot use, naming that user', async () => {
    const dir = scratchDir('users-ordinary');
    try {
      const tokens = path.join(dir, 'root-owned');
      fs.mkdirSync(tokens, { mode: 0o700 });
      await assertRefused(tokens, /belongs to root \(uid 0\)/, { runAs: 'www-data' });
    } finally {
      removeScratch(dir);
    }
  });
});
