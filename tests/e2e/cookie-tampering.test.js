// session cookie tampering: flipped, foreign, truncated, oversized cookies mean "not signed in";
// the host lives on and the token store is untouched.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { Client, CookieJar } from './lib/http.js';
import { SESSION_COOKIE } from './lib/flow.js';
import { echoOf, assertRedirectToIdp, XHR } from './lib/common.js';

const hosts = await hostsUnderTest();

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const HEX = '0123456789abcdef';

/**
 * Change one character so that the decoded bytes really change: flip the highest bit of the
 * character's value in its alphabet (so trailing-bit leniency in a base64 decoder can't hide it).
 */
function flipOneChar(value, at = Math.floor(value.length / 2)) {
  const alphabet = /^[0-9a-f]+$/.test(value) ? HEX : /[-_]/.test(value) ? B64URL : B64;
  const high = alphabet.length >> 1;
  for (let i = at; i < value.length + at; i += 1) {
    const j = i % value.length;
    const idx = alphabet.indexOf(value[j]);
    if (idx >= 0) return value.slice(0, j) + alphabet[idx ^ high] + value.slice(j + 1);
  }
  throw new Error(`cannot flip a character of ${value}`);
}

for (const host of hosts) {
  describe(`session cookie tampering [${host.name}]`, () => {
    let s;
    let other;
    let good;
    let foreign;
    before(async () => {
      s = await startStack(host);
      const c = s.client();
      await s.signIn(c, { login: 'kate', prompt: 'consent' });
      good = c.jar.get(SESSION_COOKIE, s.url).value;
      // the same user signed in on a second host with other keys
      other = await startStack(host);
      const c2 = other.client();
      await other.signIn(c2, { login: 'kate', prompt: 'consent' });
      foreign = c2.jar.get(SESSION_COOKIE, other.url).value;
    });
    after(async () => {
      await other?.stop();
      await s?.stop();
    });

    function clientWith(value, extra = {}) {
      const jar = new CookieJar();
      jar.put(s.url, SESSION_COOKIE, value);
      for (const [k, v] of Object.entries(extra)) jar.put(s.url, k, v);
      return new Client({ jar });
    }

    it('the untampered cookie works (control)', async () => {
      const echo = echoOf(await clientWith(good).get(s.at('/anything')));
      assert.equal(echo.headers['x-ms-client-principal-id'], 'kate');
    });

    const variants = {
      'one character flipped (middle)': () => flipOneChar(good),
      'one character flipped (first)': () => flipOneChar(good, 0),
      'one character flipped (last)': () => flipOneChar(good, good.length - 1),
      'from a host with other keys': () => foreign,
      'truncated to half': () => good.slice(0, Math.floor(good.length / 2)),
      'truncated by one character': () => good.slice(0, -1),
      'one character appended': () => `${good}A`,
      '16 KB long': () => (good + 'A'.repeat(16 * 1024)).slice(0, 16 * 1024),
      'empty': () => '',
      'not base64': () => '%%%!!!$$$',
      'valid base64 of garbage': () => Buffer.from('x'.repeat(200)).toString('base64'),
    };

    for (const [what, make] of Object.entries(variants)) {
      it(`${what}: treated as not signed in, host alive, token store unchanged`, async () => {
        const snap = s.snapshot();
        const bad = make();
        assert.notEqual(bad, good);
        const c = clientWith(bad);
        assertRedirectToIdp(await c.get(s.at('/page')), s, `${what}:`);
        const xhr = await c.get(s.at('/page'), { headers: XHR });
        assert.equal(xhr.status, 401, `${what} (XHR): ${xhr.describe()}`);
        const me = await c.get(s.at('/.auth/me'));
        assert.equal(me.status, 401, `${what} /.auth/me: ${me.describe()}`);
        const post = await c.post(s.at('/api'), { body: '{}', headers: { 'content-type': 'application/json', ...XHR } });
        assert.equal(post.status, 401, `${what} POST: ${post.describe()}`);
        // alive and well
        if (s.host.alive) assert.equal(s.host.alive(), true, 'the host process died');
        echoOf(await s.client().get(s.at('/health')), 'host alive:');
        assert.deepEqual(s.snapshot(), snap, 'the token directory changed');
      });
    }

    it('a tampered continuation chunk (AppServiceAuthSession1) does not make a valid session invalid or valid', async () => {
      const snap = s.snapshot();
      // a single-chunk session with a junk continuation cookie: either ignored (still kate) or refused
      const res = await clientWith(good, { AppServiceAuthSession1: 'junk' }).get(s.at('/anything'));
      if (res.status === 200) assert.equal(echoOf(res).headers['x-ms-client-principal-id'], 'kate');
      else assertRedirectToIdp(res, s);
      // a lone continuation chunk is not a session
      const jar = new CookieJar();
      jar.put(s.url, 'AppServiceAuthSession1', good);
      assertRedirectToIdp(await new Client({ jar }).get(s.at('/page')), s);
      assert.deepEqual(s.snapshot(), snap);
    });

    it('the original session still works after all that', async () => {
      const echo = echoOf(await clientWith(good).get(s.at('/anything')));
      assert.equal(echo.headers['x-ms-client-principal-id'], 'kate');
      assert.ok(echo.headers['x-ms-token-testidp-access-token']);
    });
  });
}
