// The file token store seen from outside: owner-only files, and entries that were corrupted,
// moved to another user's name or replaced by a symlink refuse the session with a log line
// (a new sign-in replaces them), while the host stays up.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';

const hosts = await hostsUnderTest();

// Files changed behind the store's back (not through ezauth) are noticed within a second: each
// process trusts its cached copy for up to 1 s unless another process bumped the user's
// generation counter. Writes through ezauth are seen at once.
const BEHIND_THE_BACK_MS = 1100;
const settle = () => new Promise((r) => setTimeout(r, BEHIND_THE_BACK_MS));

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

    // The record holds the marks of the user's signed-out sessions: one that does not open
    // cannot say whether this session is one of them, so the session is refused (a log line)
    // rather than trusted, and the user signs in again, which replaces the entry.
    const refused = async (c, what) => {
      const r = await c.get(s.at('/.auth/me'));
      assert.equal(r.status, 401, `${what}: ${r.describe()}`);
      // The site requires sign-in (RedirectToLoginPage): the app is not reached.
      const page = await c.get(s.at('/app'));
      assert.ok([302, 401].includes(page.status), `${what}: ${page.describe()}`);
    };
    const signInAgain = async () => {
      await s.signIn(alice, { login: 'alice' });
      assert.equal((await me(alice)).length, 1, 'a new sign-in replaces the entry');
    };

    it('a corrupted entry refuses the session with a log line; a new sign-in replaces it', async () => {
      const p = path.join(s.tokenDir, fileOf.alice);
      const bad = Buffer.from(fs.readFileSync(p));
      bad[Math.floor(bad.length / 2)] ^= 0x20;
      fs.writeFileSync(p, bad);
      await settle();
      await refused(alice, 'corrupted entry');
      assert.match(s.logs(), /token store entry is unreadable/);
      await signInAgain();
    });

    it("bob's entry copied onto alice's name does not open as alice's", async () => {
      fs.copyFileSync(path.join(s.tokenDir, fileOf.bob), path.join(s.tokenDir, fileOf.alice));
      await settle();
      await refused(alice, 'foreign entry');
      await signInAgain();
      assert.equal((await me(bob)).length, 1, "bob's own entry is untouched");
    });

    it('a symlink in place of an entry is refused', async () => {
      const pa = path.join(s.tokenDir, fileOf.alice);
      fs.unlinkSync(pa);
      fs.symlinkSync(path.join(s.tokenDir, fileOf.bob), pa);
      await settle();
      await refused(alice, 'symlinked entry');
      assert.ok(fs.lstatSync(path.join(s.tokenDir, fileOf.bob)).isFile(), "bob's file is not touched through the link");
      await signInAgain();
      assert.ok(fs.lstatSync(pa).isFile(), 'the sign-in replaced the link with a file');
      assert.ok(host.name === 'nginx' || s.host.alive(), 'the host is alive');
    });
  });
}
