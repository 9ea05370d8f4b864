// Custom authentication tokens (Azure Mobile Apps custom auth): the application mints its own
// X-ZUMO-AUTH token with WEBSITE_AUTH_SIGNING_KEY (HS256, iss/aud the site URL, sub any user
// id), as the .NET server SDK's AppServiceLoginHandler.CreateToken (adds ver "3") and the Node
// server SDK's auth.sign do; the host accepts it and the app sees the user and its claims.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { echoOf } from './lib/common.js';
import { signJwt, generateRsaKey, nowSec } from './lib/jwt.js';

const hosts = await hostsUnderTest();

for (const host of hosts) {
  describe(`custom authentication tokens [${host.name}]`, () => {
    let s;
    let c;
    let key;
    before(async () => {
      s = await startStack(host, { idp: 'none', action: 'Return401' });
      c = s.client();
      key = Buffer.from(s.env.WEBSITE_AUTH_SIGNING_KEY, 'hex');
    });
    after(async () => {
      await s?.stop();
    });

    const claims = (extra = {}) => ({ sub: 'alice@contoso', iss: `${s.origin}/`, aud: `${s.origin}/`, exp: nowSec() + 3600, ...extra });
    const mint = (extra, k = key) => signJwt(claims(extra), { alg: 'HS256', key: k });
    const get = (token, p = '/api/x') => c.get(s.at(p), { headers: { 'x-zumo-auth': token } });

    it('a token the app minted with the signing key signs the request in, with its claims', async () => {
      for (const [what, token] of [
        ['.NET CreateToken shape', mint({ ver: '3', name: 'Alice', role: 'admin' })],
        ['Node auth.sign shape', mint({ name: 'Alice', role: 'admin' })],
      ]) {
        const app = echoOf(await get(token), what);
        assert.equal(app.headers['x-ms-client-principal-id'], 'alice@contoso', what);
        assert.equal(app.headers['x-ms-client-principal-name'], 'Alice', what);
        assert.equal(app.headers['x-ms-client-principal-idp'], 'custom', what);
        const p = JSON.parse(Buffer.from(app.headers['x-ms-client-principal'], 'base64').toString('utf8'));
        assert.ok(p.claims.some((cl) => cl.typ === 'role' && cl.val === 'admin'), `${what}: ${JSON.stringify(p)}`);
        assert.ok(!Object.keys(app.headers).some((h) => h.startsWith('x-ms-token-')), what);
      }
      const me = await get(mint({}), '/.auth/me');
      assert.equal(me.status, 200, me.describe());
      assert.equal(JSON.parse(me.text)[0].user_id, 'alice@contoso');
      assert.equal((await get(mint({}), '/.auth/refresh')).status, 400);
    });

    it('wrong key, alg none or RS256, expired, wrong aud/iss, no sub → 401 with a log line', async () => {
      const now = nowSec();
      for (const [what, token] of [
        ['another key', mint({}, Buffer.alloc(32, 7))],
        ['alg none', signJwt(claims(), { alg: 'none' })],
        ['RS256', signJwt(claims(), { alg: 'RS256', key: generateRsaKey() })],
        ['expired', mint({ exp: now - 60 })],
        ['wrong audience', mint({ aud: 'https://other.example/' })],
        ['wrong issuer', mint({ iss: 'https://other.example/' })],
        ['no sub', mint({ sub: undefined })],
      ]) {
        const res = await get(token);
        assert.equal(res.status, 401, `${what}: ${res.describe()}`);
        assert.ok(!res.text.includes('"headers"'), `${what}: reached the app`);
      }
      assert.match(s.logs(), /X-ZUMO-AUTH \(custom token\)/);
    });
  });
}
