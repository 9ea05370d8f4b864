// callback: state checks, replays, IdP errors. Refused callbacks store nothing and do not
// redeem the code.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { Client } from './lib/http.js';
import { deliverCallback, withQuery, SESSION_COOKIE } from './lib/flow.js';
import { echoOf } from './lib/common.js';

const hosts = await hostsUnderTest();

function assertNoSession(res, what) {
  const sc = res.setCookies.find((c) => c.name === SESSION_COOKIE && c.value && !(c.maxAge <= 0));
  assert.equal(sc, undefined, `${what}: a refused callback set a session cookie: ${sc && sc.raw}`);
}

for (const host of hosts) {
  describe(`callback [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host);
    });
    after(async () => {
      await s?.stop();
    });

    /** Start a login, get to the point where the IdP redirects back; return {client, cb}. */
    async function pending(login = 'leo') {
      const client = s.client();
      const { callback } = await s.signIn(client, { login, stopAtCallback: true });
      assert.equal(callback.method, 'GET', 'these tests expect the IdP to return with a GET (response_mode=query)');
      return { client, cb: callback };
    }

    async function expectRefused(client, url, what, expected = [400]) {
      const snap = s.snapshot();
      const tokenCalls = s.idp.counters.token;
      const res = await client.get(url);
      assert.ok(expected.includes(res.status), `${what}: expected ${expected.join('/')}: ${res.describe()}`);
      assertNoSession(res, what);
      assert.deepEqual(s.snapshot(), snap, `${what}: the token store changed`);
      assert.equal(s.idp.counters.token, tokenCalls, `${what}: the code was redeemed at the token endpoint anyway`);
      // and the client is not signed in
      const me = await client.get(s.at('/.auth/me'));
      assert.equal(me.status, 401, `${what}: /.auth/me afterwards: ${me.describe()}`);
      return res;
    }

    it('missing state → 400, nothing stored', async () => {
      const { client, cb } = await pending();
      await expectRefused(client, withQuery(cb.url, { state: null }), 'missing state');
    });

    it('wrong state → 400, nothing stored', async () => {
      const { client, cb } = await pending();
      const st = new URL(cb.url).searchParams.get('state');
      await expectRefused(client, withQuery(cb.url, { state: `${st}x` }), 'wrong state (appended)');
      await expectRefused(client, withQuery(cb.url, { state: 'AAAA' }), 'wrong state (short)');
    });

    it('state of another login (another browser) → 400', async () => {
      const a = await pending('mia');
      const b = await pending('noah');
      const stB = new URL(b.cb.url).searchParams.get('state');
      await expectRefused(a.client, withQuery(a.cb.url, { state: stB }), "another browser's state");
    });

    it('duplicated state parameter → 400, nothing stored', async () => {
      const { client, cb } = await pending();
      const st = new URL(cb.url).searchParams.get('state');
      const u = new URL(cb.url);
      u.searchParams.append('state', st);
      await expectRefused(client, u.href, 'state twice (same value)');
      const u2 = new URL(cb.url);
      u2.searchParams.append('state', 'other');
      await expectRefused(client, u2.href, 'state twice (different values)');
    });

    it('callback without the login-state cookie (another browser) → 400', async () => {
      const { cb } = await pending();
      await expectRefused(new Client(), cb.url, 'no cookies');
    });

    it('missing code → 400 (or 401), nothing stored', async () => {
      const { client, cb } = await pending();
      await expectRefused(client, withQuery(cb.url, { code: null }), 'missing code', [400, 401]);
    });

    it('replayed callback (same URL, same cookies) → 400, nothing changed', async () => {
      const { client, cb } = await pending('olga');
      const jarBefore = client.jar.clone();
      const first = await deliverCallback(client, cb);
      assert.equal(first.status, 302, first.describe());
      assert.ok(first.setCookies.some((c) => c.name === SESSION_COOKIE));
      // replay with the cookies the browser had at the first delivery
      const replayer = new Client({ jar: jarBefore });
      const snap = s.snapshot();
      const tokenCalls = s.idp.counters.token;
      const r1 = await replayer.get(cb.url);
      assert.equal(r1.status, 400, `replay with the original cookies: ${r1.describe()}`);
      assertNoSession(r1, 'replay');
      // replay in the browser that completed the login
      const r2 = await client.get(cb.url);
      assert.equal(r2.status, 400, `replay in the same browser: ${r2.describe()}`);
      assert.deepEqual(s.snapshot(), snap, 'a replay changed the token store');
      assert.equal(s.idp.counters.token, tokenCalls, 'a replayed code was sent to the token endpoint');
      // the first session is still good
      const echo = echoOf(await client.get(s.at('/anything')));
      assert.equal(echo.headers['x-ms-client-principal-id'], 'olga');
    });

    it('an IdP that answers error=access_denied → 401 page, nothing stored', async () => {
      const client = s.client();
      const snap = s.snapshot();
      const { callback } = await s.signIn(client, { login: 'pat', abort: true, stopAtCallback: true });
      const u = new URL(callback.url);
      assert.equal(u.searchParams.get('error'), 'access_denied', `the IdP should have returned an error: ${callback.url}`);
      const res = await deliverCallback(client, callback);
      assert.equal(res.status, 401, res.describe());
      assert.equal(res.location, null, 'an error page, not a redirect');
      assertNoSession(res, 'access_denied');
      assert.deepEqual(s.snapshot(), snap);
    });

    it('an error callback with a forged state → 400', async () => {
      const res = await s.client().get(s.at('/.auth/login/testidp/callback?error=access_denied&state=forged'));
      assert.ok([400, 401].includes(res.status), res.describe());
      assertNoSession(res, 'forged error callback');
    });

    it('oversized and malformed callback parameters → 4xx, host alive', async () => {
      const { client, cb } = await pending();
      const snap = s.snapshot();
      for (const [what, url] of [
        ['64 KB code', withQuery(cb.url, { code: 'c'.repeat(64 * 1024) })],
        ['16 KB state', withQuery(cb.url, { state: 's'.repeat(16 * 1024) })],
        ['binary state', `${s.at('/.auth/login/testidp/callback')}?code=x&state=%00%ff%fe`],
        ['broken escapes', `${s.at('/.auth/login/testidp/callback')}?code=%zz&state=%`],
      ]) {
        let res;
        try {
          res = await client.get(url);
        } catch (e) {
          assert.fail(`${what}: the connection failed: ${e.message}`);
        }
        assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.describe()}`);
        assertNoSession(res, what);
      }
      assert.deepEqual(s.snapshot(), snap);
      echoOf(await s.client().get(s.at('/health')));
    });
  });
}
