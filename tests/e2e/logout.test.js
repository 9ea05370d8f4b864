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

    it('clears the cookie, deletes the tokens, and a copy of the old cookie is signed out', async () => {
      const c = s.client();
      await s.signIn(c, { login: 'gina', prompt: 'consent' });
      const signedIn = echoOf(await c.get(s.at('/page')));
      assert.ok(signedIn.headers['x-ms-token-testidp-refresh-token'], 'signed in with tokens');
      const oldJar = c.jar.clone();

      const res = await c.get(s.at('/.auth/logout'));
      assert.equal(res.status, 302, res.describe());
      assert.equal(res.location, s.at('/.auth/logout/complete'));
      const cleared = res.setCookies.find((k) => k.name === SESSION_COOKIE);
      assert.ok(cleared, `logout must clear ${SESSION_COOKIE}; Set-Cookie: ${res.headers.getSetCookie().join(' | ')}`);
      assert.ok(isCookieDeletion(cleared), `not a deletion (Max-Age=0 or a past Expires): ${cleared.raw}`);
      assert.equal(c.jar.get(SESSION_COOKIE, s.url), undefined, 'the client no longer holds the cookie');

      const page = await c.get(s.at('/.auth/logout/complete'));
      assert.equal(page.status, 200, page.describe());

      // the client that logged out is anonymous again
      const after1 = await c.get(s.at('/.auth/me'));
      assert.equal(after1.status, 401, after1.describe());

      // a copy of the old cookie (stolen, or another tab's) is signed out too: the session is
      // revoked in the store, for every worker
      const old = new Client({ jar: oldJar });
      for (let i = 0; i < 4; i++) {
        const me = await old.get(s.at('/.auth/me'));
        assert.equal(me.status, 401, me.describe());
        const r = await old.get(s.at('/anything'));
        assert.equal(r.status, 302, `the old cookie must not sign in: ${r.describe()}`);
      }

      // signing in again brings fresh tokens, and the old copy stays signed out
      const again = s.client();
      await s.signIn(again, { login: 'gina' });
      const fresh = echoOf(await again.get(s.at('/page')));
      assert.equal(fresh.headers['x-ms-client-principal-id'], 'gina');
      assert.equal((await old.get(s.at('/.auth/me'))).status, 401);
    });

    it('logout?everywhere=true signs out every session of the user; a plain logout only its own', async () => {
      const phone = s.client();
      const laptop = s.client();
      const tablet = s.client();
      await s.signIn(phone, { login: 'ivy' });
      await s.signIn(laptop, { login: 'ivy' });
      await s.signIn(tablet, { login: 'ivy' });
      assert.equal((await phone.get(s.at('/.auth/logout'))).status, 302);
      assert.equal((await laptop.get(s.at('/page'))).status, 200, 'other devices stay signed in');
      // a sign-out everywhere must not catch sessions started in the same second as it
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal((await laptop.get(s.at('/.auth/logout?everywhere=true'))).status, 302);
      const r = await tablet.get(s.at('/page'));
      assert.equal(r.status, 302, `every session is signed out: ${r.describe()}`);
      await new Promise((r) => setTimeout(r, 1100));
      const later = s.client();
      await s.signIn(later, { login: 'ivy' });
      assert.equal((await later.get(s.at('/page'))).status, 200, 'a later sign-in works');
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
