// API clients get API answers (issue 7, item 5): on a protected path a bearer token ezauth
// cannot accept gets 401 with `WWW-Authenticate: Bearer ... error="invalid_token"`, never the
// login page; `Bearer` with no token gets the challenge alone; two Authorization lines with a
// bearer among them get 400; every 401 of an Azure AD app carries App Service's challenge
// (`Bearer realm="<host>", authorization_uri="<tenant>/oauth2/v2.0/authorize"`) unless
// `login.disableWWWAuthenticate` is true. Other schemes (Basic) are the app's, as before.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { rawHttp } from './lib/security.js';
import { echoOf, assertNoIdentity, assertRedirectToIdp, XHR } from './lib/common.js';
import { signJwt, generateRsaKey, nowSec } from './lib/jwt.js';

const hosts = await hostsUnderTest();

/** What ezauth derives from an Azure AD issuer (see src/challenge.rs). */
function authorizationUri(issuer) {
  return `${issuer.replace(/\/$/, '').replace(/\/v2\.0$/, '')}/oauth2/v2.0/authorize`;
}

/** [name, token, words of error_description]: bearer values the app under test cannot accept. */
function unusable(s) {
  const other = generateRsaKey();
  const now = nowSec();
  return [
    ['opaque', 'opaque-api-key-123', 'not a JSON Web Token'],
    ['three dots', 'a.b.c', 'not a JSON Web Token'],
    ['quote and comma', 'x",error="none', 'not a JSON Web Token'],
    ['foreign issuer', signJwt({ iss: 'https://other-issuer.example', aud: 'ezauth-test', sub: 'f', exp: now + 600 }, { key: other }), 'not issued by a provider'],
    ['our issuer, another key', signJwt({ iss: s.idp.issuer, aud: 'ezauth-test', sub: 'k', iat: now, exp: now + 600 }, { key: other }), 'not valid'],
    ['our issuer, expired', s.idp.mintAccessToken({ sub: 'e', iat: now - 7200, exp: now - 3600 }), 'not valid'],
  ];
}

/** The disableWWWAuthenticate flag, as App Service spells it (three capitals). */
function disableChallenge(config, spelling = 'disableWWWAuthenticate') {
  config.identityProviders.azureActiveDirectory.login[spelling] = true;
  return config;
}

/** Starts an Azure AD stack with the challenge disabled; the field's JSON name is being fixed on
 * another branch, so the older spelling is tried when the real one is not known yet. */
async function startQuietStack(host, opts) {
  try {
    return await startStack(host, { ...opts, configure: (c) => disableChallenge(c) });
  } catch {
    return await startStack(host, { ...opts, configure: (c) => disableChallenge(c, 'disableWwwAuthenticate') });
  }
}

for (const host of hosts) {
  describe(`API answers [${host.name}]`, () => {
    let aad;
    let oidc;
    let quiet;
    let realm;
    before(async () => {
      aad = await startStack(host, { provider: 'aad' });
      oidc = await startStack(host, { action: 'Return401' });
      quiet = await startQuietStack(host, { provider: 'aad', action: 'Return401' });
      realm = `Bearer realm="${new URL(aad.url).host}"`;
    });
    after(async () => {
      await aad?.stop();
      await oidc?.stop();
      await quiet?.stop();
    });

    it('an unusable bearer token on a protected path → 401 invalid_token, never the login page', async () => {
      const c = aad.client();
      const want = `${realm}, authorization_uri="${authorizationUri(aad.idp.issuer)}"`;
      let n = 0;
      for (const [name, token, words] of unusable(aad)) {
        for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
          const res = await c.get(aad.at('/page'), { headers: { authorization: `${scheme} ${token}` } });
          assert.equal(res.status, 401, `${name} (${scheme}): ${res.describe()}`);
          assert.equal(res.location, null, `${name}: redirected`);
          const challenge = res.headers.get('www-authenticate') || '';
          assert.ok(challenge.startsWith(`${want}, error="invalid_token", error_description="`), `${name}: ${challenge}`);
          assert.ok(challenge.includes(words), `${name}: ${challenge}`);
          assert.ok(!challenge.includes('opaque-api') && !challenge.includes('error="none'), `${name}: client bytes reflected: ${challenge}`);
          n += 1;
        }
      }
      assert.equal(n, 18);
    });

    it('Bearer with no token → 401 with the challenge alone (RFC 6750 §3.1)', async () => {
      for (const value of ['Bearer', 'Bearer ', 'bearer']) {
        const res = await rawHttp(aad.origin, { target: '/page', headers: [['Authorization', value]] });
        assert.equal(res.status, 401, `${JSON.stringify(value)}: ${res.head}`);
        const challenge = res.headers.find(([n]) => n.toLowerCase() === 'www-authenticate')?.[1];
        assert.equal(challenge, `${realm}, authorization_uri="${authorizationUri(aad.idp.issuer)}"`);
      }
    });

    it('two Authorization lines with a bearer among them → 400 invalid_request, on every path', async () => {
      const token = aad.idp.mintAccessToken({ sub: 'two' });
      for (const lines of [[`Bearer ${token}`, 'Bearer other'], ['Basic dXNlcjpwdw==', `Bearer ${token}`], [`bearer ${token}`, 'Basic eA==']]) {
        for (const target of ['/page', '/public/a', '/.auth/me']) {
          const res = await rawHttp(aad.origin, { target, headers: lines.map((v) => ['Authorization', v]) });
          assert.equal(res.status, 400, `${target} ${lines.map((l) => l.slice(0, 12))}: ${res.head}`);
          const challenge = res.headers.find(([n]) => n.toLowerCase() === 'www-authenticate')?.[1] || '';
          // nginx refuses a second Authorization line itself (400 "client sent duplicate header
          // line") before any module runs; otherwise the answer is ezauth's.
          const nginxOwn = host.name === 'nginx' && /<center>nginx/.test(res.body ?? '');
          if (!nginxOwn) assert.match(challenge, /error="invalid_request"/, res.head);
        }
      }
    });

    it('other schemes are the app’s: a browser still goes to the login page, XHR gets 401', async () => {
      const c = aad.client();
      for (const value of ['Basic dXNlcjpwdw==', 'Negotiate YII=', 'Bearertoken']) {
        assertRedirectToIdp(await c.get(aad.at('/page'), { headers: { authorization: value } }), aad, value);
        const res = await c.get(aad.at('/page'), { headers: { authorization: value, ...XHR } });
        assert.equal(res.status, 401, value);
        assert.ok(!(res.headers.get('www-authenticate') || '').includes('error='), value);
      }
    });

    it('an excluded path lets a token that is not ours through, anonymously', async () => {
      const c = aad.client();
      for (const [name, token, words] of unusable(aad)) {
        const res = await c.get(aad.at('/public/a'), { headers: { authorization: `Bearer ${token}` } });
        if (words === 'not valid') {
          // Our own provider's token that fails: the client meant to sign in here.
          assert.equal(res.status, 401, `${name}: ${res.describe()}`);
        } else {
          assertNoIdentity(echoOf(res, name), name);
        }
      }
    });

    it('every 401 of an Azure AD app carries App Service’s challenge; disableWWWAuthenticate removes it', async () => {
      const want = `${realm}, authorization_uri="${authorizationUri(aad.idp.issuer)}"`;
      const c = aad.client();
      const cases = [
        ['XHR to a protected page', aad, '/page', XHR],
        ['fetch() to a protected page', aad, '/page', { 'sec-fetch-mode': 'cors' }],
        ['POST', aad, '/page', {}],
        ['/.auth/me anonymous', aad, '/.auth/me', {}],
        ['bad X-ZUMO-AUTH', aad, '/page', { 'x-zumo-auth': 'a.b.c' }],
      ];
      for (const [what, s, target, headers] of cases) {
        const res = what === 'POST' ? await c.post(s.at(target), { headers, body: '' }) : await c.get(s.at(target), { headers });
        assert.equal(res.status, 401, `${what}: ${res.describe()}`);
        assert.equal(res.headers.get('www-authenticate'), want, what);
      }
      // A refused client-directed login (a provider failure answered by the route) too.
      const forged = signJwt({ iss: aad.idp.issuer, aud: 'ezauth-test', sub: 'x', exp: nowSec() + 600 }, { key: generateRsaKey() });
      const cl = await c.post(aad.at('/.auth/login/aad'), { body: JSON.stringify({ access_token: forged }), headers: { 'content-type': 'application/json' } });
      assert.equal(cl.status, 401, cl.describe());
      assert.equal(cl.headers.get('www-authenticate'), want, 'client-directed login');
      const q = quiet.client();
      const qRealm = `Bearer realm="${new URL(quiet.url).host}"`;
      const r401 = await q.get(quiet.at('/page'));
      assert.equal(r401.status, 401, r401.describe());
      assert.equal(r401.headers.get('www-authenticate'), null, 'Return401 with disableWWWAuthenticate');
      const bad = await q.get(quiet.at('/page'), { headers: { authorization: 'Bearer a.b.c' } });
      assert.equal(bad.status, 401);
      assert.ok((bad.headers.get('www-authenticate') || '').startsWith(`${qRealm}, error="invalid_token"`), 'the RFC 6750 answer stays');
    });

    it('without Azure AD: Return401 has no challenge, a presented token still gets invalid_token', async () => {
      const c = oidc.client();
      const res = await c.get(oidc.at('/page'));
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), null);
      const oRealm = `Bearer realm="${new URL(oidc.url).host}"`;
      for (const [name, token] of unusable(oidc)) {
        const r = await c.get(oidc.at('/page'), { headers: { authorization: `Bearer ${token}` } });
        assert.equal(r.status, 401, name);
        assert.ok((r.headers.get('www-authenticate') || '').startsWith(`${oRealm}, error="invalid_token"`), `${name}: ${r.headers.get('www-authenticate')}`);
      }
      // A valid token of the provider still signs in.
      const ok = oidc.idp.mintAccessToken({ sub: 'api', name: 'API' });
      const app = echoOf(await c.get(oidc.at('/page'), { headers: { authorization: `bearer ${ok}` } }), 'valid, lower-case scheme');
      assert.equal(app.headers['x-ms-client-principal-name'], 'API');
    });
  });
}
