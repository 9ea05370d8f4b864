// Tokens stay fresh (ezauth.refreshBeforeExpirySeconds) against the real oidc-provider, whose
// access tokens here live 6 s and whose refresh tokens rotate (a reused one revokes the whole
// grant): over a run longer than a token's lifetime, every request to the echo app carries an
// access token the IdP's userinfo endpoint still accepts, and no refresh token is presented
// twice. With the IdP stopped, requests still pass (200, the old token) and the host logs why.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { echoOf } from './lib/common.js';

const hosts = await hostsUnderTest();
const LIFETIME = 6;
const WINDOW = 4;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function accessOf(res) {
  return echoOf(res).headers['x-ms-token-testidp-access-token'];
}

/** The IdP's verdict on an access token: its userinfo endpoint's status. */
async function userinfoStatus(idp, token) {
  const disc = await (await fetch(idp.wellKnown)).json();
  const r = await fetch(disc.userinfo_endpoint, { headers: { authorization: `Bearer ${token}` } });
  return r.status;
}

function reusedRefreshTokens(idp, mark = 0) {
  const seen = new Map();
  for (const e of idp.refreshLog.slice(mark)) seen.set(e.token, (seen.get(e.token) || 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([t]) => t);
}

for (const host of hosts) {
  describe(`tokens stay fresh [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, {
        idpAccessTokenTtl: LIFETIME,
        idpClockTolerance: 0,
        configure: (c) => {
          c.ezauth = { ...(c.ezauth || {}), refreshBeforeExpirySeconds: WINDOW };
          return c;
        },
      });
    });
    after(async () => {
      await s?.stop();
    });

    it('over a run longer than the token lifetime, every request carries a token the IdP accepts; refresh tokens rotate, none reused', async (t) => {
      const c = s.client();
      await s.signIn(c, { login: 'fran', prompt: 'consent' });
      const first = accessOf(await c.get(s.at('/anything')));
      assert.equal(await userinfoStatus(s.idp, first), 200, 'fixture: the IdP accepts a new access token');
      const mark = s.idp.refreshLog.length;
      const seen = new Set([first]);
      const started = Date.now();
      // ~15 s, 2.5 lifetimes; three concurrent requests each round (one user, several workers).
      for (let round = 0; Date.now() - started < 15000 && round < 40; round += 1) {
        const tokens = (await Promise.all([0, 1, 2].map(() => c.get(s.at('/anything'))))).map(accessOf);
        for (const t of new Set(tokens)) {
          assert.equal(await userinfoStatus(s.idp, t), 200, `round ${round}: the app got a token the IdP no longer accepts\n${s.logs().slice(-2000)}`);
          seen.add(t);
        }
        const me = (await c.get(s.at('/.auth/me'))).json()[0];
        assert.equal(await userinfoStatus(s.idp, me.access_token), 200, `round ${round}: /.auth/me showed a dead token`);
        await sleep(1000);
      }
      // A 6 s token refreshed 4 s before expiry: one refresh every ~2 s of the run, not one per request.
      const refreshes = s.idp.refreshLog.length - mark;
      t.diagnostic(`${((Date.now() - started) / 1000).toFixed(1)} s, ${seen.size} distinct access tokens, ${refreshes} refresh grants`);
      // The check can fail: the first token, older than its lifetime now, is refused.
      assert.equal(await userinfoStatus(s.idp, first), 401, 'fixture: the IdP refuses an expired access token');
      assert.ok(seen.size >= 4, `only ${seen.size} distinct access tokens over the run`);
      assert.ok(refreshes >= 4 && refreshes <= 12, `${refreshes} refresh grants`);
      assert.deepEqual(s.idp.refreshLog.slice(mark).filter((e) => e.status !== 200), [], 'every refresh grant succeeded');
      assert.deepEqual(reusedRefreshTokens(s.idp, mark), [], 'a rotated refresh token was presented twice');
      // The grant survived: the module's stored refresh token still works.
      const again = await c.get(s.at('/.auth/refresh'));
      assert.equal(again.status, 200, again.describe());
    });

    it('the IdP stopped: requests still pass with the old token and the host logs the failure', async () => {
      const c = s.client();
      await s.signIn(c, { login: 'fred', prompt: 'consent' });
      const old = accessOf(await c.get(s.at('/anything')));
      await s.idp.close();
      await sleep((LIFETIME - WINDOW + 0.5) * 1000);
      for (let i = 0; i < 5; i += 1) {
        const res = await c.get(s.at('/anything'));
        assert.equal(res.status, 200, res.describe());
        assert.equal(accessOf(res), old);
      }
      const me = await c.get(s.at('/.auth/me'));
      assert.equal(me.status, 200, me.describe());
      assert.match(s.logs(), /refresh ahead of expiry of sid:\S+ with testidp failed \(\d+\): the request goes on with the stored tokens/);
    });
  });
}
