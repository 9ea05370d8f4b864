// Client-directed login (POST /.auth/login/{provider} with the provider's token) and the
// credentials it leads to: the X-ZUMO-AUTH session token and provider bearer tokens.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { echoOf, assertNoIdentity } from './lib/common.js';
import { decodeJwt } from './lib/jwt.js';

const hosts = await hostsUnderTest();
const JSON_HEADERS = { 'content-type': 'application/json' };

for (const host of hosts) {
  describe(`client-directed login and tokens [${host.name}]`, () => {
    let s;
    let c;
    before(async () => {
      s = await startStack(host, { action: 'Return401' });
      c = s.client();
    });
    after(async () => {
      await s?.stop();
    });

    const login = (body, provider = 'testidp') =>
      c.post(s.at(`/.auth/login/${provider}`), { body: typeof body === 'string' ? body : JSON.stringify(body), headers: JSON_HEADERS });

    it('a valid id_token gets an App Service session token that signs requests in', async () => {
      const idToken = s.idp.mintIdToken({ sub: 'client-user', name: 'Client User', email: 'cu@example.test' });
      const res = await login({ id_token: idToken });
      assert.equal(res.status, 200, res.describe());
      const body = JSON.parse(res.text);
      assert.match(body.user.userId, /^sid:[0-9a-f]{32}$/);
      const claims = decodeJwt(body.authenticationToken).payload;
      assert.equal(claims.sub, body.user.userId);
      assert.equal(claims.idp, 'testidp');
      assert.equal(claims.aud, `${s.origin}/`);

      const app = echoOf(await c.get(s.at('/api/x'), { headers: { 'x-zumo-auth': body.authenticationToken } }), 'with X-ZUMO-AUTH:');
      assert.equal(app.headers['x-ms-client-principal-name'], 'Client User');
      assert.equal(app.headers['x-ms-client-principal-idp'], 'testidp');
      assert.equal(app.headers['x-ms-token-testidp-id-token'], idToken, 'the posted token is in the store');

      const me = await c.get(s.at('/.auth/me'), { headers: { 'x-zumo-auth': body.authenticationToken } });
      assert.equal(me.status, 200, me.describe());
      assert.equal(JSON.parse(me.text)[0].id_token, idToken);
    });

    it('a forged, misaddressed or expired id_token → 401, nothing stored', async () => {
      const before = s.snapshot();
      const now = Math.floor(Date.now() / 1000);
      for (const [what, token] of [
        ['signed by another key', s.idp.mintIdToken({ sub: 'f1' }, { key: 'other' })],
        ['alg none', s.idp.mintIdToken({ sub: 'f2' }, { alg: 'none' })],
        ['wrong audience', s.idp.mintIdToken({ sub: 'f3', aud: 'someone-else' })],
        ['wrong issuer', s.idp.mintIdToken({ sub: 'f4', iss: 'https://evil.example' })],
        ['expired', s.idp.mintIdToken({ sub: 'f5', iat: now - 7200, exp: now - 3600 })],
      ]) {
        const res = await login({ id_token: token });
        assert.equal(res.status, 401, `${what}: ${res.describe()}`);
        assert.ok(!res.text.includes('authenticationToken'), what);
      }
      assert.deepEqual(s.snapshot(), before, 'the token store changed');
      assert.ok(/refused/.test(s.logs()), 'the host log says why');
    });

    it('malformed bodies → 400; unknown provider → 404', async () => {
      for (const body of ['', 'not json', '[]', '{"id_token": 5}', '{}']) {
        const res = await login(body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.describe()}`);
      }
      assert.equal((await login({ id_token: 'x' }, 'nosuch')).status, 404);
    });

    it('a body over 64 KiB → 413 unread (by the host or by ezauth), nothing stored', async () => {
      const before = s.snapshot();
      const token = s.idp.mintIdToken({ sub: 'big' });
      for (const size of [100 * 1024, 2 * 1024 * 1024]) {
        const res = await login({ id_token: token, padding: 'p'.repeat(size) });
        assert.equal(res.status, 413, `${size} bytes: ${res.describe()}`);
        assert.ok(!res.text.includes('authenticationToken'), `${size}`);
      }
      assert.deepEqual(s.snapshot(), before, 'the token store changed');
    });

    it('a tampered or foreign X-ZUMO-AUTH → 401, never the app', async () => {
      const ok = JSON.parse((await login({ id_token: s.idp.mintIdToken({ sub: 'z' }) })).text).authenticationToken;
      const [h, p, sig] = ok.split('.');
      const flipped = `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`;
      const other = await startStack(host, { idp: 'none', action: 'AllowAnonymous' });
      try {
        for (const [what, token] of [['flipped signature', flipped], ['garbage', 'a.b.c'], ['not a JWT', 'abc']]) {
          const res = await c.get(s.at('/api/x'), { headers: { 'x-zumo-auth': token } });
          assert.equal(res.status, 401, `${what}: ${res.describe()}`);
        }
        // A session token of another deployment (other signing key, other audience).
        const res = await c.get(other.at('/api/x'), { headers: { 'x-zumo-auth': ok } });
        assert.equal(res.status, 401, `foreign token: ${res.describe()}`);
      } finally {
        await other.stop();
      }
    });

    it('Authorization: Bearer with a provider token signs the request in; a forged one → 401', async () => {
      const token = s.idp.mintAccessToken({ sub: 'api-client', name: 'API Client' });
      const app = echoOf(await c.get(s.at('/api/x'), { headers: { authorization: `Bearer ${token}` } }), 'bearer:');
      assert.equal(app.headers['x-ms-client-principal-name'], 'API Client');
      assert.equal(app.headers['x-ms-client-principal-idp'], 'testidp');

      const forged = s.idp.mintAccessToken({ sub: 'api-client' }, { key: 'other' });
      const res = await c.get(s.at('/api/x'), { headers: { authorization: `Bearer ${forged}` } });
      assert.equal(res.status, 401, res.describe());
      assert.match(res.headers.get('www-authenticate') || '', /invalid_token/, res.describe());
    });

    it("a bearer token of another issuer is not ours: the request stays anonymous", async () => {
      const anon = await startStack(host, { action: 'AllowAnonymous' });
      try {
        const foreign = anon.idp.mintIdToken({ sub: 'x', iss: 'https://other-issuer.example' });
        const app = echoOf(await c.get(anon.at('/api/x'), { headers: { authorization: `Bearer ${foreign}` } }), 'foreign bearer:');
        assertNoIdentity(app, 'foreign bearer:');
        assert.equal(app.headers.authorization, `Bearer ${foreign}`, 'the app still gets its own header');
      } finally {
        await anon.stop();
      }
    });
  });
}
