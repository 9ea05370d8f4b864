// Google as an identity provider: the google block (an OpenID Connect preset) with its discovery
// moved to the real oidc-provider shaped as Google documents itself (idp.js shape 'google':
// access_type=offline earns the refresh token, no end-session endpoint, Google's claims). A
// browser's sign-in (over HTTP and in Chromium), the X-MS-TOKEN-GOOGLE-* headers, /.auth/me, refresh, logout; client-directed
// login with an id_token (for this app or an allowed audience, iss with or without its scheme)
// and with an authorization code the client obtained, and their refusals; no Google id_token as
// a bearer credential; on each host.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { launchChromium, passIdp, skipWithoutBrowser } from './lib/browser.js';
import { startStack } from './lib/stack.js';
import { echoOf, eventually } from './lib/common.js';

const hosts = await hostsUnderTest();
const JSON_HEADERS = { 'content-type': 'application/json' };
/** The app's Android client id: its id_tokens are for that audience. */
const ANDROID_CLIENT = '1234-android.apps.googleusercontent.com';
/** Google's subjects are long numbers. */
const SUB = '110169484474386276334';

/** The App Service google block, its discovery moved to the local provider. */
function googleConfig(cfg, ctx) {
  cfg.globalValidation.redirectToProvider = 'google';
  cfg.identityProviders = {
    google: {
      enabled: true,
      registration: { clientId: ctx.idp.clientId, clientSecretSettingName: 'GOOGLE_PROVIDER_AUTHENTICATION_SECRET' },
      login: { scopes: [] },
      validation: { allowedAudiences: [ANDROID_CLIENT] },
    },
  };
  cfg.ezauth = { ...(cfg.ezauth || {}), providers: { google: { wellKnownOpenIdConfiguration: ctx.idp.wellKnown } } };
  return cfg;
}

function principalOf(headers) {
  return JSON.parse(Buffer.from(headers['x-ms-client-principal'], 'base64').toString('utf8'));
}

for (const host of hosts) {
  describe(`Google [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, {
        provider: 'google',
        idpShape: 'google',
        callbackProviders: ['google'],
        idpRedirects: (port) => [`http://127.0.0.1:${port}/app/oauth2redirect`],
        configure: googleConfig,
        env: { GOOGLE_PROVIDER_AUTHENTICATION_SECRET: 'ezauth-test-secret' },
      });
    });
    after(async () => {
      await s?.stop();
    });

    const login = (c, body) => c.post(s.at('/.auth/login/google'), { body: JSON.stringify(body), headers: JSON_HEADERS });

    it('a browser signs in with access_type=offline; the app sees the Google user and tokens; refresh and logout', async () => {
      const c = s.client();
      const { start } = await s.signIn(c, { login: SUB, target: '/orders', query: { access_type: 'offline' } });
      const authorize = new URL(start.location);
      assert.equal(`${authorize.origin}${authorize.pathname}`, `${s.idp.issuer}/auth`);
      const q = Object.fromEntries(authorize.searchParams);
      assert.equal(q.response_type, 'code');
      assert.equal(q.scope, 'openid profile email');
      assert.equal(q.access_type, 'offline');
      assert.equal(q.redirect_uri, s.at('/.auth/login/google/callback'));

      const h = echoOf(await c.get(s.at('/orders'))).headers;
      assert.equal(h['x-ms-client-principal-idp'], 'google');
      assert.equal(h['x-ms-client-principal-id'], SUB);
      assert.equal(h['x-ms-client-principal-name'], `User ${SUB}`);
      assert.deepEqual(
        Object.keys(h).filter((k) => k.startsWith('x-ms-token-')).sort(),
        ['x-ms-token-google-access-token', 'x-ms-token-google-expires-on', 'x-ms-token-google-id-token', 'x-ms-token-google-refresh-token'],
      );
      const principal = principalOf(h);
      assert.equal(principal.auth_typ, 'google');
      const claim = (typ) => principal.claims.filter((x) => x.typ === typ).map((x) => x.val);
      assert.deepEqual(claim('email_verified'), ['true']);
      assert.deepEqual(claim('http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'), [`${SUB}@example.test`]);

      const me = await c.get(s.at('/.auth/me'));
      assert.equal(me.status, 200, me.describe());
      const [entry] = me.json();
      assert.equal(entry.provider_name, 'google');
      assert.equal(entry.access_token, h['x-ms-token-google-access-token']);
      assert.equal(entry.refresh_token, h['x-ms-token-google-refresh-token']);
      assert.equal(entry.id_token, h['x-ms-token-google-id-token']);

      const refreshes = s.idp.counters.tokenRefresh;
      const refresh = await c.get(s.at('/.auth/refresh'));
      assert.equal(refresh.status, 200, refresh.describe());
      assert.equal(s.idp.counters.tokenRefresh, refreshes + 1);
      const after = echoOf(await c.get(s.at('/orders'))).headers;
      assert.notEqual(after['x-ms-token-google-access-token'], h['x-ms-token-google-access-token']);
      assert.equal(after['x-ms-client-principal-id'], SUB);

      // Google has no RP-initiated logout: the logout is local and ends at the module's page.
      const out = await c.get(s.at('/.auth/logout'));
      assert.equal(out.status, 302, out.describe());
      assert.equal(out.location, s.at('/.auth/logout/complete'));
      assert.equal((await c.get(s.at('/.auth/me'))).status, 401);
      assert.equal((await c.get(s.at('/orders'))).status, 302);
    });

    it('in Chromium: a protected page → the Google-shaped sign-in → back on the page as the user', { skip: skipWithoutBrowser }, async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        await page.goto(s.at('/hello?from=chromium'));
        assert.equal(new URL(page.url()).origin, new URL(s.idp.issuer).origin, `not at the IdP: ${page.url()}`);
        await passIdp(page, new URL(s.url).origin, `${SUB}9`);
        assert.equal(page.url(), s.at('/hello?from=chromium'));
        const echo = JSON.parse(await page.locator('body').innerText());
        assert.equal(echo.headers['x-ms-client-principal-idp'], 'google');
        assert.equal(echo.headers['x-ms-client-principal-id'], `${SUB}9`);
        assert.ok(echo.headers['x-ms-token-google-id-token']);
      } finally {
        await browser.close();
      }
    });

    it('without access_type=offline there is no refresh token, and /.auth/refresh answers 400', async () => {
      const c = s.client();
      await s.signIn(c, { login: `${SUB}1`, target: '/x' });
      const h = echoOf(await c.get(s.at('/x'))).headers;
      assert.equal(h['x-ms-token-google-refresh-token'], undefined);
      assert.ok(h['x-ms-token-google-access-token']);
      const refresh = await c.get(s.at('/.auth/refresh'));
      assert.equal(refresh.status, 400, refresh.describe());
    });

    it('a client signs in with an id_token for this app or an allowed audience, and only such a one', async () => {
      const c = s.client();
      const bare = new URL(s.idp.issuer).host;
      for (const [aud, iss] of [[s.idp.clientId, s.idp.issuer], [ANDROID_CLIENT, bare]]) {
        const token = s.idp.mintIdToken({ sub: '4242', aud, iss, name: 'Grace Hopper', email_verified: true });
        const res = await login(c, { id_token: token });
        assert.equal(res.status, 200, `${aud} ${iss}: ${res.describe()}`);
        const { authenticationToken, user } = res.json();
        assert.match(user.userId, /^sid:[0-9a-f]{32}$/);
        const zumo = { 'x-zumo-auth': authenticationToken };
        const h = echoOf(await c.get(s.at('/api/items'), { headers: zumo })).headers;
        assert.equal(h['x-ms-client-principal-id'], '4242');
        assert.equal(h['x-ms-client-principal-name'], 'Grace Hopper');
        assert.equal(h['x-ms-token-google-id-token'], token);
        assert.equal((await c.get(s.at('/.auth/refresh'), { headers: zumo })).status, 400, 'no code, no refresh token');
      }

      const stored = s.snapshot();
      const now = Math.floor(Date.now() / 1000);
      for (const [what, body, status] of [
        ['another audience', { id_token: s.idp.mintIdToken({ aud: 'someone-else' }) }, 401],
        ['another issuer', { id_token: s.idp.mintIdToken({ iss: 'https://accounts.google.example' }) }, 401],
        ['another scheme', { id_token: s.idp.mintIdToken({ iss: `https://${bare}` }) }, 401],
        ['expired', { id_token: s.idp.mintIdToken({ iat: now - 7200, exp: now - 3600 }) }, 401],
        ['signed with another key', { id_token: s.idp.mintIdToken({}, { key: 'other' }) }, 401],
        ['unsigned', { id_token: s.idp.mintIdToken({}, { alg: 'none' }) }, 401],
        ['malformed', { id_token: 'not.a.jwt' }, 401],
        ['no token', { access_token: 'ya29.x' }, 400],
      ]) {
        const r = await login(c, body);
        assert.equal(r.status, status, `${what}: ${r.describe()}`);
      }
      assert.deepEqual(s.snapshot(), stored, 'a refused client login changed the store');
    });

    it("a client's authorization code is redeemed by the module, its refresh token kept", async () => {
      const c = s.client();
      // What the app's own Google sign-in does: the code for its redirect URI, with offline access.
      const redirectUri = s.at('/app/oauth2redirect');
      const authorize = new URL(`${s.idp.issuer}/auth`);
      for (const [k, v] of Object.entries({
        client_id: s.idp.clientId, redirect_uri: redirectUri, response_type: 'code',
        scope: 'openid profile email', access_type: 'offline', state: 'client-state', nonce: 'client-nonce',
      })) authorize.searchParams.set(k, v);
      const clientCode = async (login) => {
        const { callback } = await s.signIn(s.client(), { fromIdp: authorize.href, stopAtCallback: true, login });
        const code = new URL(callback.url).searchParams.get('code');
        assert.ok(code, callback.url);
        return code;
      };
      const code = await clientCode(`${SUB}2`);
      const posted = s.idp.mintIdToken({ sub: `${SUB}2`, aud: ANDROID_CLIENT });

      const codes = s.idp.counters.tokenAuthorizationCode;
      const res = await login(c, { id_token: posted, authorization_code: code, redirect_uri: redirectUri });
      assert.equal(res.status, 200, res.describe());
      assert.equal(s.idp.counters.tokenAuthorizationCode, codes + 1);
      const zumo = { 'x-zumo-auth': res.json().authenticationToken };
      const h = echoOf(await c.get(s.at('/api/items'), { headers: zumo })).headers;
      assert.equal(h['x-ms-client-principal-id'], `${SUB}2`);
      assert.ok(h['x-ms-token-google-refresh-token'], JSON.stringify(h));
      assert.ok(h['x-ms-token-google-access-token']);
      const me = (await c.get(s.at('/.auth/me'), { headers: zumo })).json();
      assert.equal(me[0].refresh_token, h['x-ms-token-google-refresh-token']);
      const refresh = await c.get(s.at('/.auth/refresh'), { headers: zumo });
      assert.equal(refresh.status, 200, refresh.describe());
      assert.ok(refresh.json().authenticationToken);

      // A code alone: Google's id_token for it says who signed in.
      const alone = await login(c, { authorization_code: await clientCode(`${SUB}3`), redirect_uri: redirectUri });
      assert.equal(alone.status, 200, alone.describe());
      const h3 = echoOf(await c.get(s.at('/api/items'), { headers: { 'x-zumo-auth': alone.json().authenticationToken } })).headers;
      assert.equal(h3['x-ms-client-principal-id'], `${SUB}3`);
      assert.ok(h3['x-ms-token-google-refresh-token']);

      // The code is spent; another user's id_token beside a code is refused before it is.
      const stored = s.snapshot();
      const again = await login(c, { id_token: posted, authorization_code: code, redirect_uri: redirectUri });
      assert.equal(again.status, 400, again.describe());
      const other = await login(c, { id_token: s.idp.mintIdToken({ aud: 'someone-else' }), authorization_code: 'x' });
      assert.equal(other.status, 401, other.describe());
      assert.deepEqual(s.snapshot(), stored, 'a refused client login changed the store');
      await eventually(() => /invalid_grant/.test(s.logs()));
      assert.match(s.logs(), /invalid_grant/);
    });

    it('a Google id_token is no bearer credential: 401 with a challenge', async () => {
      const token = s.idp.mintIdToken({ sub: SUB });
      const res = await s.client().get(s.at('/api/items'), { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401, res.describe());
      assert.match(res.headers.get('www-authenticate') || '', /invalid_token/);
      // The host writes its log line after the answer: wait for it.
      await eventually(() => /not accepted as a bearer token/.test(s.logs()));
      assert.match(s.logs(), /not accepted as a bearer token/);
    });
  });
}
