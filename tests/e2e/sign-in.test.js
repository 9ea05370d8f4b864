// sign-in: the browser login flow, what the app sees afterwards, /.auth/me, /.auth/version.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { decodePrincipal, SESSION_COOKIE } from './lib/flow.js';
import { echoOf } from './lib/common.js';
import { decodeJwt } from './lib/jwt.js';

const hosts = await hostsUnderTest();

function claimVal(principal, ...types) {
  const c = principal.claims.find((x) => types.includes(x.typ));
  return c && c.val;
}

for (const host of hosts) {
  describe(`sign-in [${host.name}]`, () => {
    let s;
    let client;
    let login;
    before(async () => {
      s = await startStack(host);
      client = s.client();
      login = await s.signIn(client, { login: 'alice', prompt: 'consent', target: '/x' });
    });
    after(async () => {
      await s?.stop();
    });

    it('login ends with 302 to the post-login target and an HttpOnly, SameSite=Lax, non-Secure session cookie', () => {
      const res = login.response;
      assert.equal(res.status, 302);
      assert.equal(res.location, s.at('/x'));
      const sc = res.setCookies.find((c) => c.name === SESSION_COOKIE);
      assert.ok(sc, `no ${SESSION_COOKIE} in ${res.headers.getSetCookie().join(' | ')}`);
      assert.ok(sc.value.length > 0);
      assert.equal(sc.httpOnly, true, `HttpOnly missing: ${sc.raw}`);
      assert.equal((sc.sameSite || '').toLowerCase(), 'lax', `SameSite=Lax expected: ${sc.raw}`);
      assert.equal(sc.secure, false, `Secure must not be set on plain http (requireHttps false): ${sc.raw}`);
      assert.equal(sc.path, '/', `Path=/ expected: ${sc.raw}`);
      assert.ok(!(sc.maxAge <= 0), 'the session cookie must not be a deletion');
    });

    it('the login start carries state, nonce and PKCE S256', () => {
      const auth = new URL(login.start.location);
      for (const p of ['state', 'nonce', 'code_challenge']) assert.ok(auth.searchParams.get(p), `${p} missing: ${auth.href}`);
      assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
      assert.equal(auth.searchParams.get('client_id'), 'ezauth-test');
      assert.equal(auth.searchParams.get('redirect_uri'), s.at('/.auth/login/testidp/callback'));
      assert.match(auth.searchParams.get('response_type') || '', /\bcode\b/);
      assert.match(auth.searchParams.get('scope') || '', /\bopenid\b/);
      assert.equal(auth.searchParams.get('prompt'), 'consent', 'the prompt login parameter should be passed on to the IdP');
    });

    it('the app sees the principal and the token headers', async () => {
      const res = await client.get(s.at('/anything?q=1'));
      const echo = echoOf(res, 'GET /anything after sign-in:');
      const h = echo.headers;
      assert.equal(echo.method, 'GET');
      assert.match(echo.path, /^\/anything/);
      assert.ok(h['x-ms-client-principal'], `x-ms-client-principal missing; headers: ${Object.keys(h).join(', ')}`);
      const p = decodePrincipal(h['x-ms-client-principal']);
      assert.equal(p.auth_typ, 'testidp');
      assert.ok(Array.isArray(p.claims) && p.claims.length > 0, 'claims must be a non-empty array');
      for (const c of p.claims) {
        assert.equal(typeof c.typ, 'string', `claim typ: ${JSON.stringify(c)}`);
        assert.equal(typeof c.val, 'string', `claim val must be a string: ${JSON.stringify(c)}`);
      }
      assert.equal(typeof p.name_typ, 'string');
      assert.equal(typeof p.role_typ, 'string');
      assert.ok(p.role_typ.length > 0);
      assert.equal(claimVal(p, p.name_typ), 'User alice', `the name_typ (${p.name_typ}) claim should be the name`);
      assert.equal(
        claimVal(p, 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress', 'email'),
        'alice@example.test',
      );
      assert.equal(claimVal(p, 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier', 'sub'), 'alice');
      assert.equal(h['x-ms-client-principal-id'], 'alice');
      assert.equal(h['x-ms-client-principal-name'], 'User alice');
      assert.equal(h['x-ms-client-principal-idp'], 'testidp');

      assert.ok(h['x-ms-token-testidp-access-token'], 'access token header missing');
      const idt = h['x-ms-token-testidp-id-token'];
      assert.ok(idt, 'id token header missing');
      const { payload } = decodeJwt(idt);
      assert.equal(payload.sub, 'alice');
      assert.equal(payload.iss, s.idp.issuer);
      assert.equal(payload.aud, 'ezauth-test');
      const exp = Date.parse(h['x-ms-token-testidp-expires-on']);
      assert.ok(!Number.isNaN(exp), `expires-on not a date: ${h['x-ms-token-testidp-expires-on']}`);
      assert.ok(exp > Date.now(), 'expires-on should be in the future');
      assert.ok(h['x-ms-token-testidp-refresh-token'], 'refresh token header missing (prompt=consent grants offline_access)');
      // nothing of the session leaks to the app as a token header of another provider
      assert.equal(h['x-ms-token-aad-access-token'], undefined);
    });

    it('/.auth/me answers one entry with the user, claims and tokens', async () => {
      const echo = echoOf(await client.get(s.at('/anything')));
      const res = await client.get(s.at('/.auth/me'));
      assert.equal(res.status, 200, res.describe());
      assert.match(res.headers.get('content-type') || '', /application\/json/);
      const me = res.json();
      assert.ok(Array.isArray(me), '/.auth/me must be an array');
      assert.equal(me.length, 1, JSON.stringify(me).slice(0, 500));
      const e = me[0];
      assert.equal(e.provider_name, 'testidp');
      assert.ok(['alice', 'User alice', 'alice@example.test'].includes(e.user_id), `user_id: ${e.user_id}`);
      assert.ok(Array.isArray(e.user_claims) && e.user_claims.length > 0);
      for (const c of e.user_claims) assert.ok(typeof c.typ === 'string' && typeof c.val === 'string', JSON.stringify(c));
      assert.equal(e.access_token, echo.headers['x-ms-token-testidp-access-token']);
      assert.equal(e.id_token, echo.headers['x-ms-token-testidp-id-token']);
      assert.equal(e.refresh_token, echo.headers['x-ms-token-testidp-refresh-token']);
      assert.equal(e.expires_on, echo.headers['x-ms-token-testidp-expires-on']);
      assert.ok(!Number.isNaN(Date.parse(e.expires_on)));
    });

    it('/.auth/version answers {"version": "x.y.z"}', async () => {
      const res = await client.get(s.at('/.auth/version'), { cookies: false });
      assert.equal(res.status, 200, res.describe());
      const j = res.json();
      assert.match(String(j.version), /^\d+\.\d+\.\d+/);
    });

    it('a login started by a protected page returns to that page', async () => {
      const c = s.client();
      const r = await s.signIn(c, { login: 'carol', startUrl: s.at('/deep/page?a=1&b=two') });
      assert.equal(r.response.location, s.at('/deep/page?a=1&b=two'));
      const echo = echoOf(await c.get(s.at('/deep/page?a=1&b=two')));
      assert.equal(echo.headers['x-ms-client-principal-id'], 'carol');
    });

    it('two users get their own identity and tokens', async () => {
      const c2 = s.client();
      await s.signIn(c2, { login: 'bob', prompt: 'consent' });
      const [e1, e2] = await Promise.all([client.get(s.at('/a')), c2.get(s.at('/b'))]).then((rs) => rs.map((r) => echoOf(r)));
      assert.equal(e1.headers['x-ms-client-principal-id'], 'alice');
      assert.equal(e2.headers['x-ms-client-principal-id'], 'bob');
      assert.notEqual(e1.headers['x-ms-token-testidp-access-token'], e2.headers['x-ms-token-testidp-access-token']);
      assert.equal(decodeJwt(e2.headers['x-ms-token-testidp-id-token']).payload.sub, 'bob');
    });

    it('login without post_login_redirect_uri ends at /.auth/login/done', async () => {
      const c = s.client();
      const r = await s.signIn(c, { login: 'dave', target: null, expectSuccess: false });
      assert.equal(r.response.status, 302, r.response.describe());
      assert.equal(new URL(r.response.location).pathname, '/.auth/login/done');
      const done = await c.get(r.response.location);
      assert.equal(done.status, 200, done.describe());
    });
  });

  describe(`sign-in with azureActiveDirectory [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, { provider: 'aad' });
    });
    after(async () => {
      await s?.stop();
    });

    it('signs in through /.auth/login/aad and hands the app X-MS-TOKEN-AAD-* headers', async () => {
      const c = s.client();
      const r = await s.signIn(c, { login: 'erin', prompt: 'consent' });
      assert.equal(new URL(r.start.location).searchParams.get('redirect_uri'), s.at('/.auth/login/aad/callback'));
      assert.match(new URL(r.start.location).searchParams.get('scope') || '', /offline_access/, 'loginParameters scope should be used');
      const h = echoOf(await c.get(s.at('/anything'))).headers;
      assert.equal(h['x-ms-client-principal-idp'], 'aad');
      assert.equal(decodePrincipal(h['x-ms-client-principal']).auth_typ, 'aad');
      for (const t of ['access-token', 'id-token', 'expires-on', 'refresh-token']) {
        assert.ok(h[`x-ms-token-aad-${t}`], `x-ms-token-aad-${t} missing; headers: ${Object.keys(h).join(', ')}`);
      }
      assert.equal(decodeJwt(h['x-ms-token-aad-id-token']).payload.sub, 'erin');
      assert.equal(h['x-ms-token-testidp-access-token'], undefined);
      const me = await c.get(s.at('/.auth/me'));
      assert.equal(me.status, 200, me.describe());
      assert.equal(me.json()[0].provider_name, 'aad');
    });
  });
}
