// Azure AD's allow-lists (validation.jwtClaimChecks, validation.defaultAuthorizationPolicy):
// identities outside them get 403 and no session, whether they sign in through the browser flow,
// post a token (client-directed login) or present a bearer token.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { echoOf } from './lib/common.js';
import { SESSION_COOKIE } from './lib/flow.js';

const hosts = await hostsUnderTest();

for (const host of hosts) {
  describe(`Azure AD authorization lists [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, {
        provider: 'aad',
        action: 'Return401',
        configure: (cfg) => {
          cfg.identityProviders.azureActiveDirectory.validation = {
            jwtClaimChecks: { allowedGroups: ['g-staff'] },
            defaultAuthorizationPolicy: {
              allowedPrincipals: { identities: ['oid-alice', 'oid-bob'] },
              allowedApplications: ['app-allowed'],
            },
          };
          return cfg;
        },
      });
    });
    after(async () => {
      await s?.stop();
    });

    const bearer = (claims) =>
      s.client().get(s.at('/api/x'), { headers: { authorization: `Bearer ${s.idp.mintAccessToken({ sub: 'u', client_id: undefined, ...claims })}` } });

    it('a bearer token inside every list is let through', async () => {
      const echo = echoOf(await bearer({ oid: 'oid-alice', groups: ['g-staff'], azp: 'app-allowed' }), 'allowed:');
      assert.equal(echo.headers['x-ms-client-principal-idp'], 'aad');
      assert.equal(echo.headers['x-ms-client-principal-id'], 'oid-alice');
    });

    it('outside a group, an identity or an application → 403, never the app', async () => {
      for (const [what, claims] of [
        ['no group', { oid: 'oid-alice', azp: 'app-allowed' }],
        ['another group', { oid: 'oid-alice', groups: ['g-guests'], azp: 'app-allowed' }],
        ['another identity', { oid: 'oid-mallory', groups: ['g-staff'], azp: 'app-allowed' }],
        ['another application', { oid: 'oid-bob', groups: ['g-staff'], azp: 'app-other' }],
      ]) {
        const r = await bearer(claims);
        assert.equal(r.status, 403, `${what}: ${r.describe()}`);
        assert.ok(!r.text.includes('"headers"'), `${what}: reached the app`);
      }
      assert.match(s.logs(), /access denied/);
    });

    it('client-directed login outside the lists → 403, nothing stored', async () => {
      const before = s.snapshot();
      const token = s.idp.mintIdToken({ sub: 'm', oid: 'oid-mallory', groups: ['g-staff'] });
      const r = await s.client().post(s.at('/.auth/login/aad'), {
        body: JSON.stringify({ id_token: token }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(r.status, 403, r.describe());
      assert.deepEqual(s.snapshot(), before);
    });

    it('a browser sign-in outside the lists → 403 at the callback, no session, nothing stored', async () => {
      const before = s.snapshot();
      const c = s.client();
      const r = await s.signIn(c, { login: 'outsider', expectSuccess: false });
      assert.equal(r.response.status, 403, r.response.describe());
      assert.ok(!r.response.setCookies.some((x) => x.name === SESSION_COOKIE && x.value), 'a session was issued');
      assert.deepEqual(s.snapshot(), before);
    });
  });
}
