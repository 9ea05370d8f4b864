// login.cookieExpiration: the session lasts 8 h by default, `timeToExpiration` when set, and
// as long as the provider's access token under the IdentityProviderDerived convention. The
// browser keeps the cookie that long plus tokenRefreshExtensionHours (72 h by default) when a
// token store can refresh it (see browser-cookies.test.js), and no longer without one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { SESSION_COOKIE } from './lib/flow.js';

const hosts = await hostsUnderTest();

const WINDOW = 72 * 3600;

async function sessionMaxAge(host, cookieExpiration, { tokenStore = true } = {}) {
  const s = await startStack(host, {
    tokenStore,
    configure: (cfg) => {
      if (cookieExpiration) cfg.login = { ...cfg.login, cookieExpiration };
      return cfg;
    },
  });
  try {
    const login = await s.signIn(s.client(), { login: 'timer' });
    const sc = login.response.setCookies.find((c) => c.name === SESSION_COOKIE);
    assert.ok(sc, login.response.describe());
    return sc.maxAge;
  } finally {
    await s.stop();
  }
}

for (const host of hosts) {
  describe(`session lifetime [${host.name}]`, () => {
    it('8 hours by default', async () => {
      assert.equal(await sessionMaxAge(host, null), 8 * 3600 + WINDOW);
    });

    it('without a token store, nothing to refresh: the cookie ends with the session', async () => {
      assert.equal(await sessionMaxAge(host, null, { tokenStore: false }), 8 * 3600);
    });

    it('timeToExpiration when configured', async () => {
      assert.equal(await sessionMaxAge(host, { convention: 'FixedTime', timeToExpiration: '00:10:00' }), 600 + WINDOW);
    });

    it("the provider's access-token lifetime under IdentityProviderDerived (the test IdP: 1 h)", async () => {
      const maxAge = await sessionMaxAge(host, { convention: 'IdentityProviderDerived' });
      assert.ok(maxAge > 3500 + WINDOW && maxAge <= 3600 + WINDOW, `Max-Age ${maxAge}`);
    });
  });
}
