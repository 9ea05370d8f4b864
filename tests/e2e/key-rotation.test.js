// Rotating WEBSITE_AUTH_ENCRYPTION_KEY signs nobody out: with the old key listed in
// ezauth.previousEncryptionKeySettingNames, existing session cookies still open and stored
// tokens are still found (and move to the new key's file names on the next write).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { echoOf, assertRedirectToIdp } from './lib/common.js';
import { randomHexKey, removeScratch } from './lib/paths.js';

const hosts = await hostsUnderTest();

for (const host of hosts) {
  describe(`key rotation [${host.name}]`, () => {
    it('a session and its tokens survive a new encryption key when the old one is listed', async () => {
      const oldKey = randomHexKey();
      const signing = randomHexKey();
      const first = await startStack(host, { keys: { encryption: oldKey, signing } });
      const c = first.client();
      await first.signIn(c, { login: 'rotator' });
      const before = echoOf(await c.get(first.at('/page')), 'before rotation:');
      assert.ok(before.headers['x-ms-token-testidp-access-token']);
      const tokenDir = first.tokenDir;
      await first.host.stop();

      const restart = (extra) =>
        startStack(host, {
          idp: first.idp,
          keys: { encryption: randomHexKey(), signing },
          env: { OLD_ENCRYPTION_KEY: oldKey },
          configure: (cfg) => {
            cfg.login.tokenStore.fileSystem.directory = tokenDir;
            return extra(cfg);
          },
        });

      const rotated = await restart((cfg) => ({ ...cfg, ezauth: { ...cfg.ezauth, previousEncryptionKeySettingNames: ['OLD_ENCRYPTION_KEY'] } }));
      try {
        const cookies = c.jar.header(first.at('/page'));
        const after = echoOf(await c.get(rotated.at('/page'), { headers: { cookie: cookies } }), 'after rotation:');
        assert.equal(after.headers['x-ms-client-principal-id'], 'rotator');
        assert.equal(after.headers['x-ms-token-testidp-access-token'], before.headers['x-ms-token-testidp-access-token']);
      } finally {
        await rotated.stop();
      }

      const forgot = await restart((cfg) => cfg);
      try {
        const cookies = c.jar.header(first.at('/page'));
        assertRedirectToIdp(await c.get(forgot.at('/page'), { headers: { cookie: cookies } }), forgot, 'without the old key:');
      } finally {
        await forgot.stop();
        // the first host is stopped already: close its IdP and scratch directory
        await first.idp.close();
        removeScratch(first.tmp);
      }
    });
  });
}
