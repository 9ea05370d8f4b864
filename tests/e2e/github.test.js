// GitHub as an identity provider, against the local GitHub of lib/fake-github.js (which follows
// GitHub's documentation of OAuth apps and the REST API): a browser's sign-in through the
// authorize redirect and the callback (also in Chromium), the headers the app sees, /.auth/me, client-directed
// login with a GitHub token (one GitHub issued to this app only), no refresh, no GitHub
// token as a bearer credential, logout; on each host.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { chromiumSignIn, skipWithoutBrowser } from './lib/browser.js';
import { startStack } from './lib/stack.js';
import { echoOf, assertNoIdentity } from './lib/common.js';
import { startFakeGitHub } from './lib/fake-github.js';

const hosts = await hostsUnderTest();
const JSON_HEADERS = { 'content-type': 'application/json' };

/** The App Service gitHub block (as the portal writes it), its endpoints moved to the fake. */
function gitHubConfig(gh) {
  return (cfg, ctx) => {
    gh.register(`http://127.0.0.1:${ctx.port}/.auth/login/github/callback`);
    cfg.globalValidation.redirectToProvider = 'github';
    cfg.identityProviders = {
      gitHub: {
        enabled: true,
        registration: { clientId: gh.clientId, clientSecretSettingName: 'GITHUB_PROVIDER_AUTHENTICATION_SECRET' },
        login: { scopes: ['user:email'] },
      },
    };
    cfg.ezauth = {
      ...(cfg.ezauth || {}),
      providers: {
        github: {
          authorizationEndpoint: gh.authorizationEndpoint,
          tokenEndpoint: gh.tokenEndpoint,
          apiEndpoint: gh.apiEndpoint,
        },
      },
    };
    return cfg;
  };
}

function principalOf(headers) {
  return JSON.parse(Buffer.from(headers['x-ms-client-principal'], 'base64').toString('utf8'));
}

for (const host of hosts) {
  describe(`GitHub [${host.name}]`, () => {
    let gh;
    let s;
    before(async () => {
      gh = await startFakeGitHub();
      s = await startStack(host, {
        idp: 'none',
        configure: gitHubConfig(gh),
        env: { GITHUB_PROVIDER_AUTHENTICATION_SECRET: gh.clientSecret },
      });
    });
    after(async () => {
      await s?.stop();
      await gh?.close();
    });

    /** A browser's way from a protected page through GitHub and back to it. */
    async function browserSignIn(c, page = '/orders?id=7') {
      const first = await c.get(s.at(page));
      assert.equal(first.status, 302, first.describe());
      const authorize = new URL(first.location);
      assert.equal(`${authorize.origin}${authorize.pathname}`, gh.authorizationEndpoint, first.describe());
      const back = await c.get(first.location);
      assert.equal(back.status, 302, back.describe());
      assert.ok(back.location.startsWith(s.at('/.auth/login/github/callback?')), back.describe());
      const done = await c.get(back.location);
      return { authorize, callback: back.location, done };
    }

    it('a browser signs in through GitHub and the app sees the GitHub user', async () => {
      gh.setMode({});
      const c = s.client();
      const { authorize, done } = await browserSignIn(c);
      // GitHub's documented parameters, nothing of OpenID Connect.
      const q = Object.fromEntries(authorize.searchParams);
      assert.deepEqual(Object.keys(q).sort(), ['client_id', 'redirect_uri', 'scope', 'state']);
      assert.equal(q.client_id, gh.clientId);
      assert.equal(q.redirect_uri, s.at('/.auth/login/github/callback'));
      assert.equal(q.scope, 'user:email');
      assert.equal(done.status, 302, done.describe());
      assert.equal(done.location, s.at('/orders?id=7'));

      // What went to GitHub: the code with the secret, in JSON; the API with a User-Agent.
      const [redeem] = gh.calls('POST', '/login/oauth/access_token');
      const form = new URLSearchParams(redeem.body);
      assert.equal(form.get('client_secret'), gh.clientSecret);
      assert.equal(form.get('redirect_uri'), q.redirect_uri);
      assert.match(redeem.headers.accept, /application\/json/);
      const [user] = gh.calls('GET', '/api/v3/user');
      assert.match(user.headers['user-agent'], /^ezauth\//);
      assert.equal(user.headers.accept, 'application/vnd.github+json');
      assert.equal(gh.calls('GET', '/api/v3/user/emails').length, 1, 'user:email allows the addresses');

      const echo = echoOf(await c.get(done.location));
      const h = echo.headers;
      assert.equal(h['x-ms-client-principal-id'], '583231');
      assert.equal(h['x-ms-client-principal-name'], 'octocat');
      assert.equal(h['x-ms-client-principal-idp'], 'github');
      assert.match(h['x-ms-token-github-access-token'], /^gho_/);
      assert.deepEqual(
        Object.keys(h).filter((k) => k.startsWith('x-ms-token-')),
        ['x-ms-token-github-access-token'],
      );
      const principal = principalOf(h);
      assert.equal(principal.auth_typ, 'github');
      const claim = (typ) => principal.claims.filter((x) => x.typ === typ).map((x) => x.val);
      assert.deepEqual(claim('http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier'), ['583231']);
      assert.deepEqual(claim('urn:github:login'), ['octocat']);
      assert.deepEqual(claim('urn:github:name'), ['The Octocat']);
      assert.deepEqual(claim('http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'), ['octocat@github.com']);

      const me = await c.get(s.at('/.auth/me'));
      assert.equal(me.status, 200, me.describe());
      const [entry] = me.json();
      assert.equal(entry.provider_name, 'github');
      assert.equal(entry.user_id, 'octocat');
      assert.equal(entry.access_token, h['x-ms-token-github-access-token']);
      assert.ok(!entry.refresh_token && !entry.id_token, JSON.stringify(entry));
      assert.ok(entry.user_claims.some((x) => x.typ === 'urn:github:id' && x.val === '583231'));

      // GitHub tokens cannot be refreshed: 400, and GitHub is not asked.
      const calls = gh.requests.length;
      const refresh = await c.get(s.at('/.auth/refresh'));
      assert.equal(refresh.status, 400, refresh.describe());
      assert.equal(gh.requests.length, calls);

      // Logout forgets the tokens; the browser is signed out.
      const out = await c.get(s.at('/.auth/logout'));
      assert.equal(out.status, 302, out.describe());
      assert.equal((await c.get(s.at('/.auth/me'))).status, 401);
      const again = await c.get(s.at('/orders'));
      assert.equal(again.status, 302, again.describe());
      assert.equal(gh.requests.length, calls + 0, 'GitHub has no session to end');
    });

    it('in Chromium: a protected page → GitHub → back on the page as the user', { skip: skipWithoutBrowser }, async () => {
      gh.setMode({});
      const page = s.at('/hello?from=chromium');
      const r = await chromiumSignIn(page);
      assert.equal(r.url, page, JSON.stringify(r.navigations));
      assert.ok(r.navigations.some((n) => n.url.startsWith(gh.authorizationEndpoint)), 'through GitHub');
      assert.ok(r.navigations.some((n) => n.url.startsWith(s.at('/.auth/login/github/callback?'))), 'back by the callback');
      assert.equal(r.echo.headers['x-ms-client-principal-idp'], 'github');
      assert.equal(r.echo.headers['x-ms-client-principal-id'], '583231');
      assert.match(r.echo.headers['x-ms-token-github-access-token'], /^gho_/);
    });

    it('a user who denies access, or a code GitHub refuses, is not signed in and nothing is stored', async () => {
      const before = s.snapshot();
      for (const [mode, status] of [
        [{ deny: true }, 401],
        [{ tokenError: 'bad_verification_code' }, 400],
        [{ tokenError: 'incorrect_client_credentials' }, 502],
      ]) {
        gh.setMode(mode);
        const c = s.client();
        const { done } = await browserSignIn(c, '/denied');
        assert.equal(done.status, status, `${JSON.stringify(mode)}: ${done.describe()}`);
        assert.equal((await c.get(s.at('/.auth/me'))).status, 401);
      }
      gh.setMode({});
      assert.deepEqual(s.tokenFiles().filter((f) => !(f in before)), []);
      assert.match(s.logs(), /provider github reported "access_denied"/);
      assert.match(s.logs(), /bad_verification_code/);
    });

    it('a client signs in with a GitHub token issued to this app, and only such a token', async () => {
      gh.setMode({});
      const c = s.client();
      const login = (body) => c.post(s.at('/.auth/login/github'), { body: JSON.stringify(body), headers: JSON_HEADERS });
      const token = gh.mintToken({ scopes: ['user:email'] });
      const res = await login({ access_token: token });
      assert.equal(res.status, 200, res.describe());
      const { authenticationToken, user } = res.json();
      assert.match(user.userId, /^sid:[0-9a-f]{32}$/);
      const zumo = { 'x-zumo-auth': authenticationToken };
      const echo = echoOf(await c.get(s.at('/api/items'), { headers: zumo }));
      assert.equal(echo.headers['x-ms-client-principal-name'], 'octocat');
      assert.equal(echo.headers['x-ms-client-principal-idp'], 'github');
      assert.equal(echo.headers['x-ms-token-github-access-token'], token);
      const me = await c.get(s.at('/.auth/me'), { headers: zumo });
      assert.equal(me.json()[0].access_token, token);
      assert.equal((await c.get(s.at('/.auth/refresh'), { headers: zumo })).status, 400);

      const stored = s.snapshot();
      const revoked = gh.mintToken();
      gh.revoke(revoked);
      for (const [what, body, status] of [
        ['a token of another app', { access_token: gh.mintToken({ clientId: 'Iv1.another-app' }) }, 401],
        ['a revoked token', { access_token: revoked }, 401],
        ['a made-up token', { access_token: 'gho_madeup0000000000000000000000000000' }, 401],
        ['no token', { id_token: 'a.b.c' }, 400],
        ['not a token', { access_token: 'two words' }, 401],
      ]) {
        const r = await login(body);
        assert.equal(r.status, status, `${what}: ${r.describe()}`);
      }
      assert.deepEqual(s.snapshot(), stored, 'a refused client login changed the store');
    });

    it('a GitHub token is no bearer credential: 401, and GitHub is not asked', async () => {
      const token = gh.mintToken({ scopes: ['user:email'] });
      const calls = gh.requests.length;
      const res = await s.client().get(s.at('/api/items'), { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401, res.describe());
      assert.match(res.headers.get('www-authenticate') || '', /invalid_token/);
      assert.equal(gh.requests.length, calls);
      // Nor does it pass where anonymous access is allowed: no identity reaches the app.
      const anon = await s.client().get(s.at('/public/x'), { headers: { authorization: `Bearer ${token}` } });
      assertNoIdentity(echoOf(anon));
    });
  });
}
