// Azure AD multi-tenant issuers on each host: openIdIssuer `…/common/v2.0` (and
// `…/organizations/v2.0`) discovers the template `…/{tenantid}/v2.0`, as
// login.microsoftonline.com's documents do; every token (browser id_token, client-directed
// id_token, bearer access token) is judged by its own tenant as the Microsoft identity platform
// documents for multi-tenant apps: `tid` a GUID, `iss` exactly the template with that tenant.
// The fake issuer plays the authority (lib/fake-issuer.js, multiTenant).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { startFakeIssuer, FAKE_CLIENT_ID } from './lib/fake-issuer.js';
import { echoOf, eventually, logsSince } from './lib/common.js';
import { nowSec } from './lib/jwt.js';

const hosts = await hostsUnderTest();

const TENANT_A = '11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const TENANT_B = '22222222-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const CONSUMERS = '9188040d-6c67-4c5b-b112-36a304b66dad';

/** The claims of a token of tenant `tid` for user `oid`, `iss` that tenant's. */
function ofTenant(fake, tid, oid, extra = {}) {
  const now = nowSec();
  return {
    iss: fake.tenantIssuer(tid), tid, oid, sub: `sub-${oid}`, aud: FAKE_CLIENT_ID,
    name: `User ${oid}`, iat: now, nbf: now, exp: now + 3600, ...extra,
  };
}

/** The host's log says `why` after `mark` (the C host's log may lag the answer a little). */
async function logSays(s, mark, why, what) {
  const said = await eventually(() => why.test(logsSince(s, mark)));
  assert.ok(said, `${what}: no log line matches ${why}: ${logsSince(s, mark)}`);
}

for (const host of hosts) {
  for (const segment of ['common', 'organizations']) {
    describe(`Azure AD multi-tenant issuer ${segment} [${host.name}]`, () => {
      let fake;
      let s;
      before(async () => {
        fake = await startFakeIssuer({ multiTenant: true });
        const issuer = `${fake.issuer}/${segment}/v2.0`;
        s = await startStack(host, { provider: 'aad', idp: { issuer, wellKnown: `${issuer}/.well-known/openid-configuration` } });
      });
      after(async () => {
        await s?.stop();
        await fake?.close();
      });

      /** A browser sign-in whose id_token carries `claims` (the login's nonce added). */
      async function browserSignIn(claims, expectSuccess = true) {
        fake.setMode({ claims: (base) => ({ ...claims, nonce: base.nonce }) });
        const c = s.client();
        const r = await s.signIn(c, { expectSuccess });
        return { c, r };
      }

      it('signs in users of two tenants in the browser, each with the id of their own tenant', async () => {
        for (const [tid, oid] of [[TENANT_A, 'oid-a'], [TENANT_B, 'oid-b']]) {
          const { c } = await browserSignIn(ofTenant(fake, tid, oid));
          const h = echoOf(await c.get(s.at('/anything'))).headers;
          assert.equal(h['x-ms-client-principal-idp'], 'aad');
          assert.equal(h['x-ms-client-principal-id'], oid, tid);
        }
      });

      it('refuses an id_token whose iss is not its tid\'s, or whose tid is no GUID, storing nothing', async () => {
        const cases = [
          ['iss of tenant A, tid of tenant B', { ...ofTenant(fake, TENANT_A, 'm'), tid: TENANT_B }, /the issuer of the token's tenant/],
          ['tid not a GUID', { ...ofTenant(fake, 'contoso', 'm') }, /is not a tenant id/],
          ['tid with a slash', { ...ofTenant(fake, 'a/b', 'm') }, /is not a tenant id/],
          ['the template itself', { ...ofTenant(fake, '{tenantid}', 'm') }, /is not a tenant id/],
          ['no tid', { ...ofTenant(fake, TENANT_A, 'm'), tid: undefined }, /no tid claim/],
        ];
        if (segment === 'organizations') {
          cases.push(['a personal account', ofTenant(fake, CONSUMERS, 'm'), /which `organizations` refuses/]);
        }
        for (const [name, claims, why] of cases) {
          const stored = s.tokenFiles().length;
          const mark = s.logs().length;
          const { r } = await browserSignIn(claims, false);
          assert.equal(r.response.status, 401, `${name}: ${r.response.describe()}`);
          assert.equal(s.tokenFiles().length, stored, `${name}: nothing stored`);
          await logSays(s, mark, why, name);
        }
      });

      it('takes client-directed id_tokens and bearer access tokens by their tenant', async () => {
        const c = s.client();
        const post = (claims) => c.post(s.at('/.auth/login/aad'), {
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id_token: fake.mint(claims) }),
        });
        const ok = await post(ofTenant(fake, TENANT_B, 'oid-b'));
        assert.equal(ok.status, 200, ok.describe());
        const zumo = ok.json().authenticationToken;
        const h = echoOf(await s.client().get(s.at('/anything'), { headers: { 'x-zumo-auth': zumo } })).headers;
        assert.equal(h['x-ms-client-principal-id'], 'oid-b');

        const stored = s.tokenFiles().length;
        const mark = s.logs().length;
        const bad = await post({ ...ofTenant(fake, TENANT_B, 'm'), tid: TENANT_A });
        assert.equal(bad.status, 401, bad.describe());
        assert.equal(s.tokenFiles().length, stored, 'nothing stored');
        await logSays(s, mark, /the issuer of the token's tenant/, 'client login');

        const bearer = (claims) => s.client().get(s.at('/anything'), {
          headers: { authorization: `Bearer ${fake.mint({ ...claims, scp: 'user_impersonation' })}` },
        });
        const good = await bearer(ofTenant(fake, TENANT_A, 'oid-a'));
        assert.equal(echoOf(good).headers['x-ms-client-principal-id'], 'oid-a');
        const mixed = await bearer({ ...ofTenant(fake, TENANT_A, 'm'), tid: TENANT_B });
        assert.equal(mixed.status, 401, mixed.describe());
        assert.match(mixed.headers.get('www-authenticate') || '', /invalid_token/);
        assert.equal(s.tokenFiles().length, stored, 'a bearer token stores nothing');
      });
    });
  }
}
