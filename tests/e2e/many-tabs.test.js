// many tabs: logins started and never finished do not grow the client's cookies without bound.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { echoOf } from './lib/common.js';

const hosts = await hostsUnderTest();
const TABS = 20;
const MAX_LOGIN_STATE_COOKIES = 5;
const MAX_COOKIE_HEADER = 4096;

for (const host of hosts) {
  describe(`many tabs [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host);
    });
    after(async () => {
      await s?.stop();
    });

    it(`${TABS} unfinished logins leave a bounded Cookie header; the latest one still completes`, async () => {
      const c = s.client();
      let last;
      for (let i = 0; i < TABS; i += 1) {
        last = await c.get(s.at(`/.auth/login/testidp?post_login_redirect_uri=/tab${i}`));
        assert.equal(last.status, 302, last.describe());
      }
      const names = c.jar.names(s.url);
      const header = c.jar.header(s.url);
      assert.ok(names.length <= MAX_LOGIN_STATE_COOKIES, `${names.length} cookies after ${TABS} logins: ${names.join(', ')}`);
      assert.ok(header.length <= MAX_COOKIE_HEADER, `Cookie header is ${header.length} bytes after ${TABS} logins`);
      const r = await s.signIn(c, { fromIdp: last.location, login: 'zoe' });
      assert.equal(r.response.location, s.at(`/tab${TABS - 1}`));
      assert.equal(echoOf(await c.get(s.at('/anything'))).headers['x-ms-client-principal-id'], 'zoe');
    });

    it(`${TABS} protected pages opened anonymously: same bound`, async () => {
      const c = s.client();
      for (let i = 0; i < TABS; i += 1) {
        const res = await c.get(s.at(`/page/${i}?q=${'x'.repeat(200)}`));
        assert.equal(res.status, 302, res.describe());
      }
      const names = c.jar.names(s.url);
      assert.ok(names.length <= MAX_LOGIN_STATE_COOKIES, `${names.length} cookies: ${names.join(', ')}`);
      assert.ok(c.jar.header(s.url).length <= MAX_COOKIE_HEADER, `Cookie header is ${c.jar.header(s.url).length} bytes`);
    });

    it('a completed login leaves no login-state cookie behind', async () => {
      const c = s.client();
      await s.signIn(c, { login: 'amy' });
      const hostCookies = c.jar
        .matching(s.url)
        // the session, and the sign-in marker of the login loop breaker (60 s, deleted by the
        // first signed-in request) are no login state
        .filter((k) => !k.name.startsWith('AppServiceAuthSession') && k.name !== 'AppServiceAuthLoginDone' && !k.name.startsWith('_'))
        .map((k) => k.name);
      assert.deepEqual(hostCookies, [], `login-state cookies left after a completed login: ${hostCookies}`);
    });
  });
}
