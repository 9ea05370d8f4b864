// The file token store seen from outside: owner-only files, and entries that were corrupted,
// moved to another user's name or replaced by a symlink read as "no tokens" with a log line,
// while the user stays signed in and the host stays up.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { echoOf, identityHeaderNames } from './lib/common.js';

const hosts = await hostsUnderTest();

// Files changed behind the store's back (not through ezauth) are noticed within a second: each
// process trusts its cached copy for up to 1 s unless another process bumped the user's
// generation counter. Writes through ezauth are seen at once.
const BEHIND_THE_BACK_MS = 1100;
const settle = () => new Promise((r) => setTimeout(r, BEHIND_THE_BACK_MS));

const tokenHeaders = (echo) => identityHeaderNames(echo.headers).filter((h) => h.replace(/_/g, '-').startsWith('x-ms-token-'));

for (const host of hosts) {
  describe(`file token store [${host.name}]`, () => {
    let s;
    let alice;
    let bob;
    const fileOf = {};
    before(async () => {
      s = await startStack(host);
      alice = s.client();
      let known = new Set();
      await s.signIn(alice, { login: 'alice' });
      fileOf.alice = s.tokenFiles().find((f) => !known.has(f));
      known = new Set(s.tokenFiles());
      bob = s.client();
      await s.signIn(bob, { login: 'bob' });
      fileOf.bob = s.tokenFiles().find((f) => !known.has(f));
      assert.ok(fileOf.alice && fileOf.bob && fileOf.alice !== fileOf.bob, JSON.stringify(s.tokenFiles()));
    });
    after(async () => {
      await s?.stop();
    });

    const me = async (c) => {
      const r = await c.get(s.at('/.auth/me'));
      assert.equal(r.status, 200, r.describe());
      return JSON.parse(r.text);
    };

    it('/.auth/me?provider= keeps only that provider\'s entry', async () => {
      const mine = await alice.get(s.at('/.auth/me?provider=testidp'));
      assert.equal(JSON.parse(mine.text).length, 1, mine.describe());
      const other = await alice.get(s.at('/.auth/me?provider=aad'));
      assert.deepEqual(JSON.parse(other.text), []);
    });

    it('token files are owner-only, in an owner-only directory, and name no user', () => {
      assert.equal(fs.statSync(s.tokenDir).mode & 0o777, 0o700);
      for (const f of [fileOf.alice, fileOf.bob]) {
        assert.equal(fs.statSync(path.join(s.tokenDir, f)).mode & 0o777, 0o600, f);
        assert.ok(!/alice|bob|sid/.test(f), f);
      }
      const raw = fs.readFileSync(path.join(s.tokenDir, fileOf.alice));
      assert.ok(!raw.includes('alice'), 'the record is encrypted');
    });

    it('a corrupted entry reads as no tokens, with a log line; the user stays signed in', async () => {
      const p = path.join(s.tokenDir, fileOf.alice);
      const good = fs.readFileSync(p);
      const bad = Buffer.from(good);
      bad[Math.floor(bad.length / 2)] ^= 0x20;
      fs.writeFileSync(p, bad);
      await settle();
      const echo = echoOf(await alice.get(s.at('/app')), 'corrupted entry:');
      assert.equal(echo.headers['x-ms-client-principal-name'], 'User alice');
      assert.deepEqual(tokenHeaders(echo), []);
      assert.deepEqual(await me(alice), []);
      assert.match(s.logs(), /tokens of sid:[0-9a-f]+ unavailable/);
      fs.writeFileSync(p, good);
      await settle();
      assert.equal((await me(alice)).length, 1, 'the restored entry reads again');
    });

    it("bob's entry copied onto alice's name does not open as alice's", async () => {
      const pa = path.join(s.tokenDir, fileOf.alice);
      const saved = fs.readFileSync(pa);
      fs.copyFileSync(path.join(s.tokenDir, fileOf.bob), pa);
      await settle();
      assert.deepEqual(await me(alice), []);
      const echo = echoOf(await alice.get(s.at('/app')), 'foreign entry:');
      assert.deepEqual(tokenHeaders(echo), []);
      fs.writeFileSync(pa, saved);
      await settle();
    });

    it('a symlink in place of an entry is refused', async () => {
      const pa = path.join(s.tokenDir, fileOf.alice);
      const saved = fs.readFileSync(pa);
      fs.unlinkSync(pa);
      fs.symlinkSync(path.join(s.tokenDir, fileOf.bob), pa);
      await settle();
      assert.deepEqual(await me(alice), []);
      fs.unlinkSync(pa);
      fs.writeFileSync(pa, saved, { mode: 0o600 });
      // put back as the store's own files are: owned by the directory's owner (nginx: www-data)
      const dir = fs.statSync(s.tokenDir);
      fs.chownSync(pa, dir.uid, dir.gid);
      await settle();
      assert.equal((await me(alice)).length, 1);
      assert.ok(host.name === 'nginx' || s.host.alive(), 'the host is alive');
    });
  });
}
