// cookie splitting: a session too large for one cookie arrives as AppServiceAuthSession +
// AppServiceAuthSession1 (...) and still works.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { Client, CookieJar } from './lib/http.js';
import { SESSION_COOKIE } from './lib/flow.js';
import { accountClaims } from './idp.js';
import { echoOf, assertRedirectToIdp } from './lib/common.js';

const hosts = await hostsUnderTest();

// A login of the form big<N>-... gets a `name` claim of N incompressible characters from the
// test IdP, which makes the principal larger than one cookie can hold.
const NAME_LEN = 4500;

for (const host of hosts) {
  describe(`cookie splitting [${host.name}]`, () => {
    let s;
    let c;
    let login;
    let r;
    before(async () => {
      s = await startStack(host);
      c = s.client();
      login = `big${NAME_LEN}-${crypto.randomBytes(4).toString('hex')}`;
      r = await s.signIn(c, { login });
    });
    after(async () => {
      await s?.stop();
    });

    it('the session is set as AppServiceAuthSession + AppServiceAuthSession1, each under 4 KB', () => {
      const names = r.response.setCookies.filter((k) => k.name.startsWith(SESSION_COOKIE) && k.value).map((k) => k.name);
      assert.ok(names.includes(SESSION_COOKIE), `Set-Cookie names: ${names}`);
      assert.ok(names.includes(`${SESSION_COOKIE}1`), `expected a continuation cookie ${SESSION_COOKIE}1 for a ${NAME_LEN}-character name; got ${names}`);
      for (const sc of r.response.setCookies.filter((k) => k.name.startsWith(SESSION_COOKIE))) {
        assert.ok(sc.raw.length <= 4096, `${sc.name} is ${sc.raw.length} bytes: browsers drop cookies over 4096`);
        assert.equal(sc.httpOnly, true, `${sc.name} HttpOnly`);
      }
    });

    it('the split session works: the app sees the full name', async () => {
      const echo = echoOf(await c.get(s.at('/anything')));
      assert.equal(echo.headers['x-ms-client-principal-id'], login);
      assert.equal(echo.headers['x-ms-client-principal-name'], accountClaims(login).name);
      const me = await c.get(s.at('/.auth/me'));
      assert.equal(me.status, 200, me.describe());
    });

    it('without the continuation cookie, or with the chunks swapped, the user is not signed in', async () => {
      const first = c.jar.get(SESSION_COOKIE, s.url)?.value;
      const second = c.jar.get(`${SESSION_COOKIE}1`, s.url)?.value;
      assert.ok(first && second, 'both chunks in the jar');
      const only = new CookieJar();
      only.put(s.url, SESSION_COOKIE, first);
      assertRedirectToIdp(await new Client({ jar: only }).get(s.at('/page')), s, 'first chunk only:');
      const swapped = new CookieJar();
      swapped.put(s.url, SESSION_COOKIE, second);
      swapped.put(s.url, `${SESSION_COOKIE}1`, first);
      assertRedirectToIdp(await new Client({ jar: swapped }).get(s.at('/page')), s, 'chunks swapped:');
    });

    it('logout clears every chunk', async () => {
      const res = await c.get(s.at('/.auth/logout'));
      assert.equal(res.status, 302, res.describe());
      const left = c.jar.names(s.url).filter((n) => n.startsWith(SESSION_COOKIE));
      assert.deepEqual(left, [], `chunks left after logout: ${left}`);
    });
  });
}
