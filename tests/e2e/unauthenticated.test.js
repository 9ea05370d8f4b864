// unauthenticated: what an anonymous client gets under each unauthenticatedClientAction,
// excluded paths, /.auth/me without a session or without a token store.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { rawRequest } from './lib/http.js';
import { echoOf, assertNoIdentity, assertRedirectToIdp, XHR } from './lib/common.js';

const hosts = await hostsUnderTest();

for (const host of hosts) {
  describe(`unauthenticated: RedirectToLoginPage [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host);
    });
    after(async () => {
      await s?.stop();
    });

    it('GET /page redirects to the IdP authorize endpoint with state, nonce and PKCE S256', async () => {
      const res = await s.client().get(s.at('/page'));
      const loc = assertRedirectToIdp(res, s, 'GET /page:');
      const disc = await (await fetch(s.idp.wellKnown)).json();
      assert.equal(loc.origin + loc.pathname, disc.authorization_endpoint);
      const q = loc.searchParams;
      for (const p of ['state', 'nonce', 'code_challenge']) assert.ok(q.get(p), `${p} missing in ${loc.href}`);
      assert.equal(q.get('code_challenge_method'), 'S256');
      assert.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/, 'S256 challenge is 43 base64url chars');
      assert.equal(q.get('client_id'), 'ezauth-test');
      assert.equal(q.get('redirect_uri'), s.at('/.auth/login/testidp/callback'));
      assert.match(q.get('response_type'), /\bcode\b/);
      assert.match(q.get('scope'), /openid/);
    });

    it('each login gets a fresh state, nonce and PKCE challenge', async () => {
      const a = new URL((await s.client().get(s.at('/page'))).location).searchParams;
      const b = new URL((await s.client().get(s.at('/page'))).location).searchParams;
      for (const p of ['state', 'nonce', 'code_challenge']) assert.notEqual(a.get(p), b.get(p), `${p} reused`);
    });

    it('XHR / fetch requests get 401 instead of a redirect', async () => {
      const c = s.client();
      const r1 = await c.get(s.at('/page'), { headers: XHR });
      assert.equal(r1.status, 401, `X-Requested-With: XMLHttpRequest: ${r1.describe()}`);
      const r2 = await c.get(s.at('/page'), { headers: { 'sec-fetch-mode': 'cors' } });
      assert.equal(r2.status, 401, `Sec-Fetch-Mode: cors: ${r2.describe()}`);
      const r3 = await c.post(s.at('/api'), { headers: { ...XHR, 'content-type': 'application/json' }, body: '{}' });
      assert.equal(r3.status, 401, `XHR POST: ${r3.describe()}`);
    });

    it('excluded paths pass without identity headers', async () => {
      const c = s.client();
      for (const p of ['/health', '/public/a', '/public/deep/b.css?x=1']) {
        const echo = echoOf(await c.get(s.at(p)), `GET ${p}:`);
        assertNoIdentity(echo, `GET ${p}:`);
      }
      const enc = await rawRequest(s.origin, '/public/a%20b.css');
      assert.equal(enc.status, 200, `escape under an excluded prefix: ${enc.describe()}`);
      assertNoIdentity(JSON.parse(enc.text), '/public/a%20b.css');
    });

    it('an escape in the part an exclusion names leaves the path protected', async () => {
      // routers that do not decode (WHATWG URL, Express) send these to another handler
      for (const p of ['/publi%63/a', '/pub%6cic/a', '/%70%75%62%6c%69%63/x', '/heal%74h', '/%68ealth', '/public/']) {
        const res = await rawRequest(s.origin, p);
        assert.equal(res.status, 302, `${p} must require authentication: ${res.describe()}`);
      }
    });

    it('look-alike and traversal paths are not excluded', async () => {
      const c = s.client();
      for (const p of ['/healthz', '/publicity', '/healthy/x']) {
        const res = await c.get(s.at(p));
        assert.equal(res.status, 302, `${p} must require authentication: ${res.describe()}`);
      }
      for (const p of ['/public/../page', '/public/%2e%2e/page', '/public/%2E%2E/page', '/health/../page']) {
        const res = await rawRequest(s.origin, p);
        assert.ok(
          res.status === 302 || res.status === 400 || res.status === 404,
          `${p} escapes the excluded prefix: must not reach the app anonymously: ${res.describe()}`,
        );
      }
    });

    it('/.auth/me without a session answers 401', async () => {
      const res = await s.client().get(s.at('/.auth/me'));
      assert.equal(res.status, 401, res.describe());
      const xhr = await s.client().get(s.at('/.auth/me'), { headers: XHR });
      assert.equal(xhr.status, 401, xhr.describe());
    });

    it('/.auth/version is public', async () => {
      const res = await s.client().get(s.at('/.auth/version'));
      assert.equal(res.status, 200, res.describe());
      assert.match(res.json().version, /^\d+\.\d+\.\d+/);
    });

    it('an unknown provider and an unknown /.auth route answer 404, never the app', async () => {
      const r1 = await s.client().get(s.at('/.auth/login/nosuchidp'));
      assert.equal(r1.status, 404, r1.describe());
      const r2 = await s.client().get(s.at('/.auth/nosuchroute'));
      assert.equal(r2.status, 404, r2.describe());
    });
  });

  describe(`unauthenticated: token store disabled [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, { tokenStore: false });
    });
    after(async () => {
      await s?.stop();
    });

    it('/.auth/me answers 404 for a signed-in user; the principal still reaches the app, tokens do not', async () => {
      const c = s.client();
      await s.signIn(c, { login: 'frank' });
      const me = await c.get(s.at('/.auth/me'));
      assert.equal(me.status, 404, me.describe());
      const echo = echoOf(await c.get(s.at('/anything')));
      assert.equal(echo.headers['x-ms-client-principal-id'], 'frank');
      const tokenHeaders = Object.keys(echo.headers).filter((k) => k.startsWith('x-ms-token-'));
      assert.deepEqual(tokenHeaders, [], 'no X-MS-TOKEN-* without a token store');
      assert.deepEqual(s.tokenFiles(), [], 'nothing written to the token directory');
    });
  });

  const actions = [
    ['AllowAnonymous', 200],
    ['Return401', 401],
    ['RejectWith401', 401],
    ['Return403', 403],
    ['Return404', 404],
    ['RejectWith404', 404],
  ];
  for (const [action, status] of actions) {
    describe(`unauthenticated: ${action} [${host.name}]`, () => {
      let s;
      before(async () => {
        s = await startStack(host, { action });
      });
      after(async () => {
        await s?.stop();
      });

      it(`an anonymous GET /page answers ${status}`, async () => {
        const c = s.client();
        for (const headers of [{}, XHR]) {
          const res = await c.get(s.at('/page'), { headers });
          assert.equal(res.status, status, `${action} ${JSON.stringify(headers)}: ${res.describe()}`);
          if (status === 200) assertNoIdentity(echoOf(res), action);
          else assert.ok(!res.text.includes('"headers"'), `${action} must not forward to the app: ${res.describe()}`);
        }
        const post = await c.post(s.at('/api'), { body: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
        assert.equal(post.status, status, `${action} POST: ${post.describe()}`);
      });

      it('excluded paths still pass', async () => {
        assertNoIdentity(echoOf(await s.client().get(s.at('/health'))));
      });

      it('login still works, and then the app sees the user', async () => {
        const c = s.client();
        await s.signIn(c, { login: `user-${action.toLowerCase()}` });
        const echo = echoOf(await c.get(s.at('/page')));
        assert.equal(echo.headers['x-ms-client-principal-id'], `user-${action.toLowerCase()}`);
      });
    });
  }
}
