// Smaller differences from App Service (issue 7, item 9), on every host: /.auth/version reports
// the crate's version; /.auth/* routes match in any case and with one trailing '/', as IIS
// matches paths, while a path that only *reads* as a route (escaped, dotted, doubled slashes)
// is refused and never reaches the application (Node and Werkzeug behind the host, anonymous
// callers admitted); client-directed login stores expires_on from the provider's expires_in;
// claims keep the provider's order in the principal header and in /.auth/me.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { hostsUnderTest } from './lib/hosts/index.js';
import { backendsUnderTest } from './lib/backends/index.js';
import { startStack } from './lib/stack.js';
import { REPO_ROOT } from './lib/paths.js';
import { startBackedStack, rawHttp, newCaseId, entriesFor, showEntries, esc } from './lib/security.js';
import { echoOf, assertRedirectToIdp } from './lib/common.js';
import { decodeJwt, nowSec } from './lib/jwt.js';

const hosts = await hostsUnderTest();
const backends = backendsUnderTest();
const JSON_HEADERS = { 'content-type': 'application/json' };

/** The version in Cargo.toml's [package] section. */
function crateVersion() {
  const manifest = fs.readFileSync(path.join(REPO_ROOT, 'Cargo.toml'), 'utf8');
  const pkg = manifest.split('\n[')[0];
  const m = /^version = "([^"]+)"$/m.exec(pkg);
  assert.ok(m, 'no version in Cargo.toml [package]');
  return m[1];
}

/** Paths that only read as a route to some backend: refused (400), never forwarded. */
const READS_AS_ROUTE = [
  '/%2eauth/me',
  '/%2Eauth/login/testidp',
  '/.aut%68/me',
  '/%252eauth/me',
  '//.auth/me',
  '/./.auth/me',
  '/x/../.auth/me',
  '/x/%2e%2e/.auth/me',
  '/.auth;x/me',
  '/.auth./me',
  '/.auth%2fme',
  '/.auth%5Cme',
  '/.auth\\me',
  '/%u002eauth/me',
  '/%c0%aeauth/me',
];

/** ISO-8601 as ezauth writes expires_on, for a Unix time. */
function expiresOn(t) {
  return new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, '.0000000Z');
}

/** The claim values of a token payload, flattened in the payload's order, as ezauth lists them. */
function valuesInOrder(payload) {
  const out = [];
  for (const v of Object.values(payload)) {
    for (const x of Array.isArray(v) ? v : [v]) {
      if (x === null) continue;
      out.push(typeof x === 'string' ? x : JSON.stringify(x));
    }
  }
  return out;
}

for (const host of hosts) {
  describe(`small differences [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, { action: 'Return401' });
    });
    after(async () => {
      await s?.stop();
    });

    it('/.auth/version reports the version in Cargo.toml', async () => {
      const want = crateVersion();
      for (const p of ['/.auth/version', '/.AUTH/VERSION', '/.auth/version/']) {
        const res = await s.client().get(s.at(p));
        assert.equal(res.status, 200, `${p}: ${res.describe()}`);
        assert.deepEqual(JSON.parse(res.text), { version: want }, p);
      }
    });

    it('routes match in any case and with one trailing slash; other spellings under the prefix are 404', async () => {
      const c = s.client();
      await s.signIn(c, { login: 'ida' });
      for (const p of ['/.auth/me', '/.AUTH/ME', '/.Auth/Me/', '/.auth/me/?x=1']) {
        const res = await c.get(s.at(p));
        assert.equal(res.status, 200, `${p}: ${res.describe()}`);
        assert.ok(Array.isArray(JSON.parse(res.text)), `${p}: not /.auth/me's answer`);
      }
      for (const p of ['/.auth/login/testidp/', '/.AUTH/LOGIN/TESTIDP', '/.auth/login/TestIdp/?post_login_redirect_uri=/a']) {
        assertRedirectToIdp(await s.client().get(s.at(p)), s, p);
      }
      for (const p of ['/.auth//me', '/.auth/me//', '/.auth/me/.', '/.auth/./me', '/.auth/%6De', '/.AUTH/nothing']) {
        const res = await rawHttp(s.origin, { target: p });
        assert.equal(res.status, 404, `${p}: ${res.describe()}`);
      }
    });

    it('client-directed login stores expires_on from the provider’s expires_in', async () => {
      const c = s.client();
      for (const expiresIn of [600, '600', 90]) {
        const access = s.idp.mintAccessToken({ sub: `exp-${expiresIn}`, exp: nowSec() + 3600 });
        const t0 = nowSec();
        const res = await c.post(s.at('/.auth/login/testidp'), { body: JSON.stringify({ access_token: access, expires_in: expiresIn }), headers: JSON_HEADERS });
        const t1 = nowSec();
        assert.equal(res.status, 200, res.describe());
        const token = JSON.parse(res.text).authenticationToken;
        const me = JSON.parse((await c.get(s.at('/.auth/me'), { headers: { 'x-zumo-auth': token } })).text);
        const n = Number(expiresIn);
        const window = [];
        for (let t = t0 + n; t <= t1 + n; t += 1) window.push(expiresOn(t));
        assert.ok(window.includes(me[0].expires_on), `expires_in ${expiresIn}: ${me[0].expires_on} not in ${window}`);
        const app = echoOf(await c.get(s.at('/page'), { headers: { 'x-zumo-auth': token } }), 'the app');
        assert.equal(app.headers['x-ms-token-testidp-expires-on'], me[0].expires_on);
      }
      for (const bad of [0, -5, 1.5, 'soon', true]) {
        const access = s.idp.mintAccessToken({ sub: 'exp-bad' });
        const res = await c.post(s.at('/.auth/login/testidp'), { body: JSON.stringify({ access_token: access, expires_in: bad }), headers: JSON_HEADERS });
        assert.equal(res.status, 400, `expires_in ${JSON.stringify(bad)}: ${res.describe()}`);
      }
    });

    it('claims keep the provider’s order in the principal header and in /.auth/me', async () => {
      const c = s.client();
      await s.signIn(c, { login: 'olga' });
      const me = JSON.parse((await c.get(s.at('/.auth/me'))).text)[0];
      const want = valuesInOrder(decodeJwt(me.id_token).payload);
      assert.deepEqual(me.user_claims.map((x) => x.val), want, '/.auth/me user_claims');
      assert.deepEqual(Object.keys(me), [...Object.keys(me)].sort(), "/.auth/me's own fields stay alphabetical");
      const app = echoOf(await c.get(s.at('/page')), 'the app');
      const principal = JSON.parse(Buffer.from(app.headers['x-ms-client-principal'], 'base64').toString('utf8'));
      assert.deepEqual(principal.claims.map((x) => x.val), want, 'X-MS-CLIENT-PRINCIPAL claims');
      // A bearer token whose claims are in no sorted order.
      const token = s.idp.mintAccessToken({ sub: 'ordered', zeta: 'z', alpha: 'a', mid: ['m1', 'm2'] });
      const viaBearer = echoOf(await c.get(s.at('/page'), { headers: { authorization: `Bearer ${token}` } }), 'bearer');
      const bp = JSON.parse(Buffer.from(viaBearer.headers['x-ms-client-principal'], 'base64').toString('utf8'));
      assert.deepEqual(bp.claims.map((x) => x.val), valuesInOrder(decodeJwt(token).payload), 'bearer principal claims');
    });
  });

  for (const backendMod of backends) {
    describe(`paths that only read as a route never reach the app [${host.name} -> ${backendMod.name}]`, () => {
      let env;
      before(async () => {
        env = await startBackedStack(host, backendMod, { action: 'AllowAnonymous' });
      });
      after(async () => {
        await env?.stop();
      });

      for (const target of READS_AS_ROUTE) {
        it(`${esc(target)} → 400`, async () => {
          const caseId = newCaseId('route');
          const res = await rawHttp(env.stack.origin, { target, headers: [['X-Sec-Case', caseId]] });
          const seen = await entriesFor(env.backend, caseId);
          const what = `anonymous GET ${esc(target)} -> ${res.describe()}; the app saw ${showEntries(seen)}`;
          assert.equal(seen.length, 0, `the app received a /.auth-looking path: ${what}`);
          assert.equal(res.status, 400, what);
        });
      }

      it('an ordinary path that merely resembles the prefix reaches the app', async () => {
        for (const target of ['/.authx', '/x/.auth/me', '/.auth.json']) {
          const caseId = newCaseId('route');
          const res = await rawHttp(env.stack.origin, { target, headers: [['X-Sec-Case', caseId]] });
          const seen = await entriesFor(env.backend, caseId);
          assert.equal(seen.length, 1, `${target} -> ${res.describe()}; the app saw ${showEntries(seen)}`);
        }
      });
    });
  }
}
