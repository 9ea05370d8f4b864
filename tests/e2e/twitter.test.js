// Twitter as an identity provider over OAuth 1.0a, against the local Twitter of
// lib/fake-twitter.js (which follows Twitter's documentation of "Log in with Twitter" and
// verifies every signature with the independent npm `oauth-1.0a`): a browser's sign-in
// through request_token, authenticate and the callback (also in Chromium), the headers the app sees (both token
// headers), /.auth/me, client-directed login with a token pair, no refresh, no bearer,
// logout; a denied sign-in; a tampered signature refused by the fake, and ezauth's login
// refused when the fake believes another consumer secret; on each host.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { chromiumSignIn, skipWithoutBrowser } from './lib/browser.js';
import { startStack } from './lib/stack.js';
import { echoOf, assertNoIdentity } from './lib/common.js';
import { startFakeTwitter } from './lib/fake-twitter.js';

const hosts = await hostsUnderTest();
const JSON_HEADERS = { 'content-type': 'application/json' };

/** The App Service twitter block (as the portal writes it), its endpoints moved to the fake. */
function twitterConfig(tw) {
  return (cfg, ctx) => {
    tw.register(`http://127.0.0.1:${ctx.port}/.auth/login/twitter/callback`);
    cfg.globalValidation.redirectToProvider = 'twitter';
    cfg.identityProviders = {
      twitter: {
        enabled: true,
        registration: { consumerKey: tw.consumerKey, consumerSecretSettingName: 'TWITTER_PROVIDER_AUTHENTICATION_SECRET' },
      },
    };
    cfg.ezauth = {
      ...(cfg.ezauth || {}),
      providers: {
        twitter: {
          requestTokenEndpoint: tw.requestTokenEndpoint,
          authorizationEndpoint: tw.authenticateEndpoint,
          tokenEndpoint: tw.accessTokenEndpoint,
          apiEndpoint: tw.apiEndpoint,
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
  describe(`Twitter [${host.name}]`, () => {
    let tw;
    let s;
    before(async () => {
      tw = await startFakeTwitter();
      s = await startStack(host, {
        idp: 'none',
        configure: twitterConfig(tw),
        env: { TWITTER_PROVIDER_AUTHENTICATION_SECRET: tw.consumerSecret },
      });
    });
    after(async () => {
      await s?.stop();
      await tw?.close();
    });

    /** A browser's way from a protected page through Twitter and back to it. */
    async function browserSignIn(c, page = '/orders?id=7') {
      const first = await c.get(s.at(page));
      assert.equal(first.status, 302, first.describe());
      const authenticate = new URL(first.location);
      assert.equal(`${authenticate.origin}${authenticate.pathname}`, tw.authenticateEndpoint, first.describe());
      const back = await c.get(first.location);
      assert.equal(back.status, 302, back.describe());
      assert.ok(back.location.startsWith(s.at('/.auth/login/twitter/callback?')), back.describe());
      const done = await c.get(back.location);
      return { authenticate, callback: back.location, done };
    }

    it('a browser signs in through Twitter and the app sees the user and both tokens', async () => {
      tw.setMode({});
      const c = s.client();
      const calls = tw.requests.length;
      const { authenticate, done } = await browserSignIn(c);
      assert.deepEqual([...authenticate.searchParams.keys()], ['oauth_token']);
      assert.equal(done.status, 302, `${done.describe()}\n${s.logs()}`);
      assert.equal(done.location, s.at('/orders?id=7'));

      // Every call ezauth made was signed, and the fake verified each signature.
      const made = tw.requests.slice(calls).filter((r) => r.path !== '/oauth/authenticate');
      assert.deepEqual(made.map((r) => `${r.method} ${r.path}`), [
        'POST /oauth/request_token',
        'POST /oauth/access_token',
        'GET /1.1/account/verify_credentials.json',
      ]);
      assert.ok(made.every((r) => r.verified), JSON.stringify(made.map((r) => r.verified)));
      assert.match(made[0].headers.authorization, /oauth_callback="http%3A%2F%2F127\.0\.0\.1%3A\d+%2F\.auth%2Flogin%2Ftwitter%2Fcallback"/);
      assert.equal(made[2].query.include_email, 'true');

      const echo = echoOf(await c.get(done.location));
      const h = echo.headers;
      assert.equal(h['x-ms-client-principal-id'], '6253282');
      assert.equal(h['x-ms-client-principal-name'], 'TwitterAPI');
      assert.equal(h['x-ms-client-principal-idp'], 'twitter');
      assert.match(h['x-ms-token-twitter-access-token'], /^6253282-[A-Za-z0-9]+$/);
      assert.match(h['x-ms-token-twitter-access-token-secret'], /^[A-Za-z0-9]{40,}$/);
      assert.deepEqual(
        Object.keys(h).filter((k) => k.startsWith('x-ms-token-')).sort(),
        ['x-ms-token-twitter-access-token', 'x-ms-token-twitter-access-token-secret'],
      );
      const principal = principalOf(h);
      assert.equal(principal.auth_typ, 'twitter');
      const claim = (typ) => principal.claims.filter((x) => x.typ === typ).map((x) => x.val);
      assert.deepEqual(claim('http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier'), ['6253282']);
      assert.deepEqual(claim('http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name'), ['TwitterAPI']);
      assert.deepEqual(claim('urn:twitter:screenname'), ['TwitterAPI']);
      assert.deepEqual(claim('http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'), ['api@twitter.example']);

      const me = await c.get(s.at('/.auth/me'));
      assert.equal(me.status, 200, me.describe());
      const [entry] = me.json();
      assert.equal(entry.provider_name, 'twitter');
      assert.equal(entry.user_id, 'TwitterAPI');
      assert.equal(entry.access_token, h['x-ms-token-twitter-access-token']);
      assert.equal(entry.access_token_secret, h['x-ms-token-twitter-access-token-secret']);
      assert.ok(!entry.refresh_token && !entry.id_token && !entry.expires_on, JSON.stringify(entry));

      // The access token works at Twitter: a request the test signs with it verifies.
      const url = `${tw.apiEndpoint}/account/verify_credentials.json`;
      const own = await fetch(url, { headers: { authorization: tw.sign({ method: 'GET', url, token: entry.access_token, secret: entry.access_token_secret }) } });
      assert.equal(own.status, 200);

      // Twitter's tokens cannot be refreshed: 400, and Twitter is not asked.
      const asked = tw.requests.length;
      const refresh = await c.get(s.at('/.auth/refresh'));
      assert.equal(refresh.status, 400, refresh.describe());
      assert.equal(tw.requests.length, asked);

      // Logout forgets the tokens; the browser is signed out.
      const out = await c.get(s.at('/.auth/logout'));
      assert.equal(out.status, 302, out.describe());
      assert.equal((await c.get(s.at('/.auth/me'))).status, 401);
      const again = await c.get(s.at('/orders'));
      assert.equal(again.status, 302, again.describe());
    });

    it('in Chromium: a protected page → Twitter → back on the page as the user', { skip: skipWithoutBrowser }, async () => {
      tw.setMode({});
      const page = s.at('/hello?from=chromium');
      const r = await chromiumSignIn(page);
      assert.equal(r.url, page, JSON.stringify(r.navigations));
      assert.ok(r.navigations.some((n) => n.url.startsWith(`${tw.authenticateEndpoint}?oauth_token=`)), 'through Twitter');
      assert.ok(r.navigations.some((n) => n.url.startsWith(s.at('/.auth/login/twitter/callback?'))), 'back by the callback');
      assert.equal(r.echo.headers['x-ms-client-principal-idp'], 'twitter');
      assert.equal(r.echo.headers['x-ms-client-principal-id'], '6253282');
      assert.ok(r.echo.headers['x-ms-token-twitter-access-token-secret']);
    });

    it('a user who cancels at Twitter is refused, nothing is redeemed or stored', async () => {
      const before = s.snapshot();
      tw.setMode({ deny: true });
      const c = s.client();
      const { callback, done } = await browserSignIn(c, '/denied');
      tw.setMode({});
      assert.ok(new URL(callback).searchParams.has('denied'), callback);
      assert.equal(done.status, 401, done.describe());
      assert.equal((await c.get(s.at('/.auth/me'))).status, 401);
      assert.equal(tw.calls('POST', '/oauth/access_token').filter((r) => r.headers.authorization?.includes(new URL(callback).searchParams.get('denied'))).length, 0);
      assert.deepEqual(s.tokenFiles().filter((f) => !(f in before)), []);
      assert.match(s.logs(), /provider twitter reported "denied"/);
    });

    it('the fake checks signatures: a tampered one is refused, and so is ezauth when the secret differs', async () => {
      const { token, secret } = tw.mintToken();
      const url = `${tw.apiEndpoint}/account/verify_credentials.json?include_email=true`;
      const good = await fetch(url, { headers: { authorization: tw.sign({ method: 'GET', url, token, secret }) } });
      assert.equal(good.status, 200);
      const tampered = await fetch(url, { headers: { authorization: tw.sign({ method: 'GET', url, token, secret, tamper: true }) } });
      assert.equal(tampered.status, 401);
      assert.equal((await tampered.json()).errors[0].code, 32);
      const wrongSecret = await fetch(url, { headers: { authorization: tw.sign({ method: 'GET', url, token, secret: 'not-the-secret' }) } });
      assert.equal(wrongSecret.status, 401);

      // The fake believes another consumer secret: ezauth's request token call fails its check,
      // and the login stops at ezauth with 502 before the browser leaves.
      tw.setMode({ believedSecret: 'another-consumer-secret' });
      try {
        const res = await s.client().get(s.at('/.auth/login/twitter'));
        assert.equal(res.status, 502, res.describe());
        const [last] = tw.calls('POST', '/oauth/request_token').slice(-1);
        assert.equal(last.verified, false);
        assert.match(s.logs(), /request_token answered 401/);
      } finally {
        tw.setMode({});
      }
    });

    it('a client signs in with a token pair Twitter verifies, and only such a pair', async () => {
      tw.setMode({});
      const c = s.client();
      const login = (body) => c.post(s.at('/.auth/login/twitter'), { body: JSON.stringify(body), headers: JSON_HEADERS });
      const { token, secret } = tw.mintToken();
      const res = await login({ access_token: token, access_token_secret: secret });
      assert.equal(res.status, 200, `${res.describe()}\n${s.logs()}`);
      const { authenticationToken, user } = res.json();
      assert.match(user.userId, /^sid:[0-9a-f]{32}$/);
      const [verify] = tw.calls('GET', '/1.1/account/verify_credentials.json').slice(-1);
      assert.ok(verify.verified && verify.headers.authorization.includes(encodeURIComponent(token)));
      const zumo = { 'x-zumo-auth': authenticationToken };
      const echo = echoOf(await c.get(s.at('/api/items'), { headers: zumo }));
      assert.equal(echo.headers['x-ms-client-principal-name'], 'TwitterAPI');
      assert.equal(echo.headers['x-ms-client-principal-idp'], 'twitter');
      assert.equal(echo.headers['x-ms-token-twitter-access-token'], token);
      assert.equal(echo.headers['x-ms-token-twitter-access-token-secret'], secret);
      const me = await c.get(s.at('/.auth/me'), { headers: zumo });
      assert.equal(me.json()[0].access_token_secret, secret);
      assert.equal((await c.get(s.at('/.auth/refresh'), { headers: zumo })).status, 400);

      const stored = s.snapshot();
      const other = tw.mintToken({ consumerKey: 'another-apps-consumer-key' });
      for (const [what, body, status] of [
        ['a pair of another app', { access_token: other.token, access_token_secret: other.secret }, 401],
        ['a wrong secret', { access_token: token, access_token_secret: 'wrongsecret' }, 401],
        ['a made-up token', { access_token: '6253282-madeup', access_token_secret: secret }, 401],
        ['no secret', { access_token: token }, 400],
        ['not a token', { access_token: 'two words', access_token_secret: secret }, 401],
      ]) {
        const r = await login(body);
        assert.equal(r.status, status, `${what}: ${r.describe()}`);
      }
      assert.deepEqual(s.snapshot(), stored, 'a refused client login changed the store');
    });

    it('a Twitter token is no bearer credential: 401, and Twitter is not asked', async () => {
      const { token } = tw.mintToken();
      const calls = tw.requests.length;
      const res = await s.client().get(s.at('/api/items'), { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401, res.describe());
      assert.equal(tw.requests.length, calls);
      const anon = await s.client().get(s.at('/public/x'), { headers: { authorization: `Bearer ${token}` } });
      assertNoIdentity(echoOf(anon));
    });
  });
}
