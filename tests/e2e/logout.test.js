// logout: the cookie is cleared, the user's tokens are deleted, the redirect target is validated.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { Client, isCookieDeletion } from './lib/http.js';
import { SESSION_COOKIE } from './lib/flow.js';
import { echoOf } from './lib/common.js';

const hosts = await hostsUnderTest();

for (const host of hosts) {
  describe(`logout [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host);
    });
    after(async () => {
      await s?.stop();
    });

    it('clears the cookie, deletes the token file, and the old cookie no longer yields tokens', async () => {
      const before0 = new Set(s.tokenFiles());
      const c = s.client();
      await s.signIn(c, { login: 'gina', prompt: 'consent' });
      const created = s.tokenFiles().filter((f) => !before0.has(f));
      assert.ok(created.length >= 1, `sign-in should store the user's tokens in ${s.tokenDir}; files: ${s.tokenFiles()}`);
      const oldJar = c.jar.clone();

      const res = await c.get(s.at('/.auth/logout'));
      assert.equal(res.status, 302, res.describe());
      assert.equal(res.location, s.at('/.auth/logout/complete'));
      const cleared = res.setCookies.find((k) => k.name === SESSION_COOKIE);
      assert.ok(cleared, `logout must clear ${SESSION_COOKIE}; Set-Cookie: ${res.headers.getSetCookie().join(' | ')}`);
      assert.ok(isCookieDeletion(cleared), `not a deletion (Max-Age=0 or a past Expires): ${cleared.raw}`);
      assert.equal(c.jar.get(SESSION_COOKIE, s.url), undefined, 'the client no longer holds the cookie');

      const left = s.tokenFiles().filter((f) => created.includes(f));
      assert.deepEqual(left, [], `the user's token file must be removed; still there: ${left}`);

      const page = await c.get(s.at('/.auth/logout/complete'));
      assert.equal(page.status, 200, page.describe());

      // the client that logged out is anonymous again
      const after1 = await c.get(s.at('/.auth/me'));
      assert.equal(after1.status, 401, after1.describe());

      // a copy of the old cookie: the module may still accept it as a principal until it
      // expires, but no tokens may come back from it
      const old = new Client({ jar: oldJar });
      const me = await old.get(s.at('/.auth/me'));
      if (me.status === 200) {
        const arr = me.json();
        assert.ok(Array.isArray(arr));
        for (const e of arr) {
          for (const t of ['access_token', 'refresh_token', 'id_token']) {
            assert.equal(e[t], undefined, `/.auth/me with the old cookie returned ${t} after logout`);
          }
        }
      } else {
        assert.ok([401, 403, 404].includes(me.status), me.describe());
      }
      const r = await old.get(s.at('/anything'));
      if (r.status === 200) {
        const tokenHeaders = Object.keys(echoOf(r).headers).filter((k) => k.startsWith('x-ms-token-'));
        assert.deepEqual(tokenHeaders, [], 'token headers after logout');
      } else {
        assert.equal(r.status, 302, r.describe());
      }
      assert.deepEqual(s.tokenFiles().filter((f) => created.includes(f)), [], 'using the old cookie must not resurrect tokens');
    });

    it('post_logout_redirect_uri=/bye redirects to /bye', async () => {
      const c = s.client();
      await s.signIn(c, { login: 'hank' });
      const res = await c.get(s.at('/.auth/logout?post_logout_redirect_uri=%2Fbye'));
      assert.equal(res.status, 302, res.describe());
      assert.equal(res.location, s.at('/bye'));
      // also for an anonymous client
      const anon = await s.client().get(s.at('/.auth/logout?post_logout_redirect_uri=/bye'));
      assert.equal(anon.status, 302, anon.describe());
      assert.equal(anon.location, s.at('/bye'));
    });

    it('an allowed external post_logout_redirect_uri is accepted', async () => {
      const res = await s.client().get(s.at(`/.auth/logout?post_logout_redirect_uri=${encodeURIComponent('https://allowed.example/signed-out')}`));
      assert.equal(res.status, 302, res.describe());
      assert.equal(res.location, 'https://allowed.example/signed-out');
    });

    const hostile = [
      'https://evil.example',
      '//evil.example',
      '/\\evil.example',
      '/%09/evil.example',
      'https:evil.example',
      'javascript:alert(1)',
      'https://allowed.example@evil.example',
      'https://evil.example%2F@allowed.example',
      `http://127.0.0.1:1/`,
    ];
    it('hostile post_logout_redirect_uri targets get 400, signed in or not, and the session survives a refused logout', async () => {
      const c = s.client();
      await s.signIn(c, { login: 'ivan' });
      for (const t of hostile) {
        for (const client of [c, s.client()]) {
          const res = await client.get(s.at(`/.auth/logout?post_logout_redirect_uri=${encodeURIComponent(t)}`));
          assert.equal(res.status, 400, `post_logout_redirect_uri=${t}: ${res.describe()}`);
          assert.equal(res.location, null, `no redirect for ${t}`);
        }
      }
      const echo = echoOf(await c.get(s.at('/anything')));
      assert.equal(echo.headers['x-ms-client-principal-id'], 'ivan', 'a refused logout must not sign the user out');
    });
  });
}
