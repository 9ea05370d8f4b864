// Facebook as an identity provider, against the local Facebook of lib/fake-facebook.js (which
// follows Facebook's documentation of Facebook Login and the Graph API): a browser's sign-in
// through the login dialog and the callback (the code redeemed, exchanged for a long-lived
// token, the user read from /me, every Graph call with its appsecret_proof; also in Chromium),
// the headers the app sees, /.auth/me, no refresh, logout; client-directed login with a
// Facebook token that debug_token says is this app's, valid and unexpired, and only such a one;
// no Facebook token as a bearer credential; on each host.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { launchChromium, skipWithoutBrowser } from './lib/browser.js';
import { startStack } from './lib/stack.js';
import { echoOf, eventually } from './lib/common.js';
import { startFakeFacebook } from './lib/fake-facebook.js';

const hosts = await hostsUnderTest();
const JSON_HEADERS = { 'content-type': 'application/json' };

/** The App Service facebook block (as the portal writes it), its endpoints moved to the fake. */
function facebookConfig(fb) {
  return (cfg, ctx) => {
    fb.register(`http://127.0.0.1:${ctx.port}/.auth/login/facebook/callback`);
    cfg.globalValidation.redirectToProvider = 'facebook';
    cfg.identityProviders = {
      facebook: {
        enabled: true,
        registration: { appId: fb.appId, appSecretSettingName: 'FACEBOOK_PROVIDER_AUTHENTICATION_SECRET' },
        graphApiVersion: fb.version,
        login: { scopes: ['email', 'public_profile'] },
      },
    };
    cfg.ezauth = {
      ...(cfg.ezauth || {}),
      providers: {
        facebook: {
          authorizationEndpoint: fb.authorizationEndpoint,
          tokenEndpoint: fb.tokenEndpoint,
          apiEndpoint: fb.apiEndpoint,
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
  describe(`Facebook [${host.name}]`, () => {
    let fb;
    let s;
    before(async () => {
      fb = await startFakeFacebook();
      s = await startStack(host, {
        idp: 'none',
        configure: facebookConfig(fb),
        env: { FACEBOOK_PROVIDER_AUTHENTICATION_SECRET: fb.appSecret },
      });
    });
    after(async () => {
      await s?.stop();
      await fb?.close();
    });

    /** A browser's way from a protected page through Facebook's dialog and back to it. */
    async function browserSignIn(c, page = '/orders?id=7') {
      const first = await c.get(s.at(page));
      assert.equal(first.status, 302, first.describe());
      const dialog = new URL(first.location);
      assert.equal(`${dialog.origin}${dialog.pathname}`, fb.authorizationEndpoint, first.describe());
      const back = await c.get(first.location);
      assert.equal(back.status, 302, back.describe());
      assert.ok(back.location.startsWith(s.at('/.auth/login/facebook/callback?')), back.describe());
      const done = await c.get(back.location);
      return { dialog, done };
    }

    it('a browser signs in through Facebook and the app sees the Facebook user', async () => {
      fb.setMode({});
      const c = s.client();
      const { dialog, done } = await browserSignIn(c);
      const q = Object.fromEntries(dialog.searchParams);
      assert.deepEqual(Object.keys(q).sort(), ['client_id', 'redirect_uri', 'response_type', 'scope', 'state']);
      assert.equal(q.client_id, fb.appId);
      assert.equal(q.redirect_uri, s.at('/.auth/login/facebook/callback'));
      assert.equal(q.scope, 'email,public_profile');
      assert.equal(done.status, 302, done.describe());
      assert.equal(done.location, s.at('/orders?id=7'));

      // The code redeemed, then exchanged for a long-lived token; /me with its proof.
      const [redeem, exchange] = fb.calls('GET', '/oauth/access_token');
      assert.equal(redeem.query.client_secret, fb.appSecret);
      assert.equal(redeem.query.redirect_uri, q.redirect_uri);
      assert.equal(exchange.query.grant_type, 'fb_exchange_token');
      const [me] = fb.calls('GET', '/me');
      const token = /^Bearer (\S+)$/.exec(me.headers.authorization)[1];
      assert.equal(me.query.appsecret_proof, fb.proof(token));
      assert.equal(me.query.access_token, undefined, 'the token stays out of the URL');

      const h = echoOf(await c.get(done.location)).headers;
      assert.equal(h['x-ms-client-principal-id'], fb.user.id);
      assert.equal(h['x-ms-client-principal-name'], fb.user.name);
      assert.equal(h['x-ms-client-principal-idp'], 'facebook');
      assert.equal(h['x-ms-token-facebook-access-token'], token);
      assert.deepEqual(
        Object.keys(h).filter((k) => k.startsWith('x-ms-token-')).sort(),
        ['x-ms-token-facebook-access-token', 'x-ms-token-facebook-expires-on'],
      );
      // About 60 days: the long-lived token's expiry.
      const days = (Date.parse(h['x-ms-token-facebook-expires-on']) - Date.now()) / 86400000;
      assert.ok(days > 59 && days < 61, h['x-ms-token-facebook-expires-on']);
      const principal = principalOf(h);
      assert.equal(principal.auth_typ, 'facebook');
      const claim = (typ) => principal.claims.filter((x) => x.typ === typ).map((x) => x.val);
      assert.deepEqual(claim('http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'), [fb.user.email]);
      assert.deepEqual(claim('http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname'), [fb.user.first_name]);

      const me2 = await c.get(s.at('/.auth/me'));
      assert.equal(me2.status, 200, me2.describe());
      const [entry] = me2.json();
      assert.equal(entry.provider_name, 'facebook');
      assert.equal(entry.access_token, token);
      assert.ok(entry.expires_on && !entry.refresh_token && !entry.id_token, JSON.stringify(entry));

      // No refresh: 400, Facebook not asked. Logout is local.
      const calls = fb.requests.length;
      const refresh = await c.get(s.at('/.auth/refresh'));
      assert.equal(refresh.status, 400, refresh.describe());
      const out = await c.get(s.at('/.auth/logout'));
      assert.equal(out.status, 302, out.describe());
      assert.equal(out.location, s.at('/.auth/logout/complete'));
      assert.equal((await c.get(s.at('/.auth/me'))).status, 401);
      assert.equal(fb.requests.length, calls);
    });

    it('in Chromium: a protected page → the login dialog → back on the page as the user', { skip: skipWithoutBrowser }, async () => {
      fb.setMode({});
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        // The person is signed in at Facebook and approves at once: the dialog redirects back.
        await page.goto(s.at('/hello?from=chromium'));
        assert.equal(page.url(), s.at('/hello?from=chromium'));
        const echo = JSON.parse(await page.locator('body').innerText());
        assert.equal(echo.headers['x-ms-client-principal-idp'], 'facebook');
        assert.equal(echo.headers['x-ms-client-principal-id'], fb.user.id);
        assert.ok(echo.headers['x-ms-token-facebook-access-token']);
      } finally {
        await browser.close();
      }
    });

    it('a person who cancels the dialog is not signed in and nothing is stored', async () => {
      const before = s.snapshot();
      fb.setMode({ deny: true });
      const c = s.client();
      const { done } = await browserSignIn(c, '/denied');
      assert.equal(done.status, 401, done.describe());
      assert.equal((await c.get(s.at('/.auth/me'))).status, 401);
      fb.setMode({});
      assert.deepEqual(s.tokenFiles().filter((f) => !(f in before)), []);
      await eventually(() => /provider facebook reported "access_denied"/.test(s.logs()));
      assert.match(s.logs(), /provider facebook reported "access_denied"/);
    });

    it('a client signs in with a Facebook token of this app, and only such a one', async () => {
      fb.setMode({});
      const c = s.client();
      const login = (body) => c.post(s.at('/.auth/login/facebook'), { body: JSON.stringify(body), headers: JSON_HEADERS });
      const token = fb.mintToken();
      const res = await login({ access_token: token });
      assert.equal(res.status, 200, res.describe());
      const [debug] = fb.calls('GET', '/debug_token').slice(-1);
      assert.equal(debug.query.input_token, token);
      const { authenticationToken, user } = res.json();
      assert.match(user.userId, /^sid:[0-9a-f]{32}$/);
      const zumo = { 'x-zumo-auth': authenticationToken };
      const h = echoOf(await c.get(s.at('/api/items'), { headers: zumo })).headers;
      assert.equal(h['x-ms-client-principal-id'], fb.user.id);
      assert.equal(h['x-ms-client-principal-idp'], 'facebook');
      assert.equal(h['x-ms-token-facebook-access-token'], token);
      assert.ok(h['x-ms-token-facebook-expires-on']);
      assert.equal((await c.get(s.at('/.auth/me'), { headers: zumo })).json()[0].access_token, token);
      assert.equal((await c.get(s.at('/.auth/refresh'), { headers: zumo })).status, 400);

      // A person who did not grant the email permission: no address, still signed in.
      const noEmail = await login({ access_token: fb.mintToken({ scopes: ['public_profile'] }) });
      assert.equal(noEmail.status, 200, noEmail.describe());
      const p = principalOf(echoOf(await c.get(s.at('/api/items'), { headers: { 'x-zumo-auth': noEmail.json().authenticationToken } })).headers);
      assert.ok(!p.claims.some((x) => x.typ.endsWith('/emailaddress')), JSON.stringify(p.claims));

      const stored = s.snapshot();
      const invalidated = fb.mintToken();
      fb.invalidate(invalidated);
      for (const [what, body, status] of [
        ["another app's token", { access_token: fb.mintToken({ appId: '999999999' }) }, 401],
        ['an invalidated token', { access_token: invalidated }, 401],
        ['an expired token', { access_token: fb.mintToken({ expiresIn: -60 }) }, 401],
        ['a made-up token', { access_token: 'EAAmadeup000000000000000' }, 401],
        ['not a token', { access_token: 'two words' }, 401],
        ['no token', { id_token: 'a.b.c' }, 400],
        ['not JSON', 'access_token=x', 400],
      ]) {
        const r = typeof body === 'string'
          ? await c.post(s.at('/.auth/login/facebook'), { body, headers: JSON_HEADERS })
          : await login(body);
        assert.equal(r.status, status, `${what}: ${r.describe()}`);
      }
      assert.deepEqual(s.snapshot(), stored, 'a refused client login changed the store');
    });

    it('a Facebook token is no bearer credential: 401, and Facebook is not asked', async () => {
      const token = fb.mintToken();
      const calls = fb.requests.length;
      const res = await s.client().get(s.at('/api/items'), { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401, res.describe());
      assert.match(res.headers.get('www-authenticate') || '', /invalid_token/);
      assert.equal(fb.requests.length, calls);
    });
  });
}
