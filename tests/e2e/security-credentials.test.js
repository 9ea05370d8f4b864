// security-credentials: the second audit's credential classes, on each host with the real
// oidc-provider and (last block) a real Chromium:
//   - a provider's bearer token never reaches the stored tokens of a browser session, and only
//     access tokens of this app (or an allowed client) are bearer credentials: the id_token of
//     a browser sign-in (it leaves in logout's id_token_hint) is neither a bearer token nor a
//     client-login credential;
//   - a token-mode login delivers its token only to /.auth/login/done (or an allowed external
//     URL) and asks the user when another site started it;
//   - another site's link cannot sign the user out or refresh their tokens.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { rawHttp } from './lib/security.js';
import { echoOf, identityHeaderNames } from './lib/common.js';
import { launchChromium, passIdp, skipWithoutBrowser } from './lib/browser.js';
import { closerFor } from './lib/ports.js';

const hosts = await hostsUnderTest();

const CROSS_SITE = [
  { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' },
  { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'navigate' },
  { referer: 'https://evil.example/page' },
  { origin: 'null' },
];

for (const host of hosts) {
  describe(`security: credentials [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host);
    });
    after(async () => {
      await s?.stop();
    });

    /** Signs `login` in (with a refresh token); returns the client and the stored tokens. */
    async function signedIn(login) {
      const c = s.client();
      await s.signIn(c, { login, prompt: 'consent' });
      const me = await c.get(s.at('/.auth/me'));
      assert.equal(me.status, 200, me.describe());
      const [entry] = JSON.parse(me.text);
      assert.ok(entry.refresh_token && entry.id_token, me.text);
      return { c, entry };
    }

    async function storedRefresh(c) {
      const me = await c.get(s.at('/.auth/me'));
      assert.equal(me.status, 200, me.describe());
      return JSON.parse(me.text)[0].refresh_token;
    }

    it('an X-ZUMO-AUTH spelled another way never reaches the app unjudged', async () => {
      const c = s.client();
      const r = await s.signIn(c, { login: 'zumo-twin', target: null, query: { session_mode: 'token' }, expectSuccess: false });
      const loc = r.response.location || '';
      assert.ok(loc.includes('#token='), r.response.describe());
      const token = JSON.parse(decodeURIComponent(loc.slice(loc.indexOf('#token=') + 7))).authenticationToken;
      // CGI-style servers read `_` (and other separators) as `-`: the app could take the twin.
      const lookalike = (n) => n !== 'x-zumo-auth' && n.replace(/[^a-z0-9]/g, '-') === 'x-zumo-auth';
      for (const spelling of ['X_ZUMO_AUTH', 'x_zumo-auth', 'X.ZUMO.AUTH']) {
        for (const lines of [[['X-ZUMO-AUTH', token], [spelling, 'forged']], [[spelling, token]]]) {
          const what = lines.map(([n]) => n).join(' + ');
          const res = await rawHttp(s.origin, { target: '/page', headers: lines });
          if (res.status === 400) continue; // the module refused the ambiguity (C host)
          // nginx drops names with `_` or `.` before any module runs: the request goes on
          // with the real line alone (200), or anonymous (302 to sign in), and the app sees no twin.
          if (res.status === 302) continue;
          assert.equal(res.status, 200, `${what}: ${res.describe()}`);
          const seen = JSON.parse(res.body.slice(res.body.indexOf('{'), res.body.lastIndexOf('}') + 1)).headers;
          assert.deepEqual(Object.keys(seen).filter(lookalike), [], `${what}: ${res.describe()}`);
        }
      }
    });

    it("a bearer token for the user signs in, but sees none of the browser session's tokens", async () => {
      const { c, entry } = await signedIn('bearer-alice');
      const bearer = { authorization: `Bearer ${s.idp.mintAccessToken({ sub: 'bearer-alice' })}` };
      const app = echoOf(await s.client().get(s.at('/api/x'), { headers: bearer }), 'bearer:');
      assert.equal(app.headers['x-ms-client-principal-id'], 'bearer-alice');
      assert.deepEqual(identityHeaderNames(app.headers).filter((n) => n.startsWith('x-ms-token-')), [], 'stored tokens reached a bearer caller');
      for (const v of Object.values(app.headers)) assert.ok(!String(v).includes(entry.refresh_token));

      const me = await s.client().get(s.at('/.auth/me'), { headers: bearer });
      assert.equal(me.status, 200, me.describe());
      const [mine] = JSON.parse(me.text);
      assert.equal(mine.provider_name, 'testidp');
      for (const f of ['access_token', 'refresh_token', 'id_token', 'expires_on']) assert.equal(mine[f], undefined, `${f}: ${me.text}`);

      // Neither logout nor refresh with the bearer token touches the user's tokens.
      assert.equal((await s.client().get(s.at('/.auth/logout'), { headers: bearer })).status, 302);
      assert.equal((await s.client().get(s.at('/.auth/refresh'), { headers: bearer })).status, 400);
      assert.equal(await storedRefresh(c), entry.refresh_token);
    });

    it("the id_token of a browser sign-in is neither a bearer token nor a client-login credential", async () => {
      const { c, entry } = await signedIn('hint-alice');
      const idToken = entry.id_token; // what logout sends to the provider as id_token_hint
      for (const [what, headers] of [
        ['bearer', { authorization: `Bearer ${idToken}` }],
        ['lower-case scheme', { authorization: `bearer ${idToken}` }],
      ]) {
        const r = await s.client().get(s.at('/api/x'), { headers });
        assert.equal(r.status, 401, `${what}: ${r.describe()}`);
        assert.match(r.headers.get('www-authenticate') || '', /invalid_token/);
        assert.ok(!r.text.includes('"headers"'), `${what}: reached the app`);
      }
      const login = await s.client().post(s.at('/.auth/login/testidp'), {
        body: JSON.stringify({ id_token: idToken }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(login.status, 401, login.describe());
      assert.equal(await storedRefresh(c), entry.refresh_token, 'the user keeps their tokens');
    });

    it('only access tokens of this app are bearer credentials (variants)', async () => {
      const refused = [
        ['an id_token (no nonce, no scope)', s.idp.mintIdToken({ sub: 'v1' }), 401],
        ['an id_token naming this client', s.idp.mintIdToken({ sub: 'v2', azp: s.idp.clientId }), 401],
        ['an access token with a nonce', s.idp.mintAccessToken({ sub: 'v3', nonce: 'n' }), 401],
        ['an access token of another audience', s.idp.mintAccessToken({ sub: 'v4', aud: 'api://other' }), 401],
        ['an access token another client obtained (client_id)', s.idp.mintAccessToken({ sub: 'v5', client_id: 'other' }), 403],
        ['an access token another client obtained (azp)', s.idp.mintAccessToken({ sub: 'v6', client_id: undefined, azp: 'other' }), 403],
        ['an access token another client obtained (appid)', s.idp.mintIdToken({ sub: 'v7', scp: 'x', appid: 'other' }), 403],
        ['roles without the calling app', s.idp.mintIdToken({ sub: 'v8', roles: ['admin'] }), 401],
        ['an access token signed by another key', s.idp.mintAccessToken({ sub: 'v9' }, { key: 'other' }), 401],
      ];
      for (const [what, token, status] of refused) {
        const r = await s.client().get(s.at('/api/x'), { headers: { authorization: `Bearer ${token}` } });
        assert.equal(r.status, status, `${what}: ${r.describe()}`);
        assert.ok(!r.text.includes('"headers"'), `${what}: reached the app`);
      }
      const accepted = [
        ['RFC 9068 access token', s.idp.mintAccessToken({ sub: 'a1' })],
        ['scp (Azure AD delegated)', s.idp.mintIdToken({ sub: 'a2', scp: 'user_impersonation', azp: s.idp.clientId })],
        ['roles with the calling app (Azure AD app-only)', s.idp.mintIdToken({ sub: 'a3', roles: ['r'], appid: s.idp.clientId })],
        ['scope without a client claim', s.idp.mintIdToken({ sub: 'a4', scope: 'api' })],
      ];
      for (const [what, token] of accepted) {
        const app = echoOf(await s.client().get(s.at('/api/x'), { headers: { authorization: `Bearer ${token}` } }), what);
        assert.ok(app.headers['x-ms-client-principal-id'], what);
      }
    });

    it('a token-mode login delivers its token only to /.auth/login/done', async () => {
      const start = (target, headers = {}) => {
        const u = new URL(s.at('/.auth/login/testidp'));
        u.searchParams.set('session_mode', 'token');
        if (target !== null) u.searchParams.set('post_login_redirect_uri', target);
        return s.client().get(u.href, { headers });
      };
      for (const target of ['/go?to=https://evil.example/', '/', '/x#frag', '/.auth/login/done?x=1', `${s.origin}/go`, '/.auth/me']) {
        const r = await start(target);
        assert.equal(r.status, 400, `${target}: ${r.describe()}`);
        assert.equal(r.location, null, target);
      }
      for (const target of [null, '/.auth/login/done', `${s.origin}/.auth/login/done`]) {
        const r = await start(target);
        assert.equal(r.status, 302, `${target}: ${r.describe()}`);
        assert.equal(new URL(r.location).origin, new URL(s.idp.issuer).origin);
      }
      // Started by another site: a page that asks, never a redirect to the provider.
      for (const headers of CROSS_SITE) {
        const r = await start('/.auth/login/done', headers);
        assert.equal(r.status, 200, `${JSON.stringify(headers)}: ${r.describe()}`);
        assert.equal(r.location, null);
        assert.equal(r.headers.get('x-frame-options'), 'DENY');
        assert.match(r.text, /href="\/\.auth\/login\/testidp\?session_mode=token&amp;post_login_redirect_uri=/);
      }
      // A full token-mode sign-in from this site lands on the done page with the token.
      const c = s.client();
      const done = await s.signIn(c, { login: 'token-mode', target: '/.auth/login/done', query: { session_mode: 'token' }, expectSuccess: false });
      const loc = done.response.location || '';
      assert.ok(loc.startsWith('/.auth/login/done#token=') || loc.startsWith(s.at('/.auth/login/done#token=')), loc);
    });

    it("another site's link neither signs the user out nor refreshes their tokens", async () => {
      const { c, entry } = await signedIn('csrf-alice');
      for (const headers of CROSS_SITE) {
        const what = JSON.stringify(headers);
        const out = await c.get(s.at('/.auth/logout'), { headers });
        assert.equal(out.status, 200, `${what}: ${out.describe()}`);
        assert.ok(!out.setCookies.length, `${what}: a cookie changed`);
        assert.match(out.text, /href="\/\.auth\/logout"/);
        const post = await c.post(s.at('/.auth/logout'), { headers });
        assert.equal(post.status, 403, `POST ${what}: ${post.describe()}`);
        const refresh = await c.get(s.at('/.auth/refresh'), { headers });
        assert.equal(refresh.status, 403, `refresh ${what}: ${refresh.describe()}`);
        assert.equal(await storedRefresh(c), entry.refresh_token, `${what}: the tokens changed`);
      }
      const same = { 'sec-fetch-site': 'same-origin' };
      assert.equal((await c.get(s.at('/.auth/refresh'), { headers: same })).status, 200);
      assert.equal((await c.get(s.at('/.auth/logout'), { headers: same })).status, 302);
      assert.equal((await c.get(s.at('/.auth/me'))).status, 401);
    });
  });

  describe(`security: credentials in Chromium [${host.name}]`, { skip: skipWithoutBrowser }, () => {
    let s;
    let browser;
    let evil;
    let evilUrl;
    before(async () => {
      browser = await launchChromium();
      s = await startStack(host);
      // Another site: `localhost` is not the same site as `127.0.0.1` to a browser.
      evil = http.createServer((req, res) => {
        const app = `http://127.0.0.1:${new URL(s.url).port}`;
        res.setHeader('content-type', 'text/html');
        res.end(`<!DOCTYPE html><a id="logout" href="${app}/.auth/logout">win a prize</a>
<a id="token" href="${app}/.auth/login/testidp?session_mode=token&post_login_redirect_uri=%2F.auth%2Flogin%2Fdone">claim it</a>`);
      });
      await new Promise((r) => evil.listen(0, '127.0.0.1', r));
      evilUrl = `http://localhost:${evil.address().port}/`;
    });
    after(async () => {
      await browser?.close();
      if (evil) await closerFor(evil)();
      await s?.stop();
    });

    it("a cross-site link to logout or to a token-mode login asks; the user's own click proceeds", async () => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(s.at('/signed-in-page'));
        await passIdp(page, s.origin, 'chromium-alice');
        assert.equal(page.url(), s.at('/signed-in-page'));

        await page.goto(evilUrl);
        await Promise.all([page.waitForLoadState('load'), page.click('#token')]);
        assert.equal(new URL(page.url()).pathname, '/.auth/login/testidp', 'the token-mode login did not stop to ask');
        assert.match(await page.content(), /Continue signing in/);

        await page.goto(evilUrl);
        await Promise.all([page.waitForLoadState('load'), page.click('#logout')]);
        assert.equal(new URL(page.url()).pathname, '/.auth/logout');
        assert.match(await page.content(), /Sign out/);
        const still = await page.request.get(s.at('/.auth/me'), { maxRedirects: 0 });
        assert.equal(still.status(), 200, 'the cross-site link signed the user out');

        // The user's own click on the page is a same-origin navigation: it signs out.
        await Promise.all([page.waitForURL((u) => u.pathname === '/.auth/logout/complete'), page.click('a')]);
        const gone = await page.request.get(s.at('/.auth/me'), { maxRedirects: 0 });
        assert.equal(gone.status(), 401);
      } finally {
        await context.close();
      }
    });
  });
}
