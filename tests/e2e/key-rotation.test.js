// Rotating WEBSITE_AUTH_ENCRYPTION_KEY signs nobody out: with the old key listed in
// ezauth.previousEncryptionKeySettingNames, existing session cookies still open and stored
// tokens are still found (and move to the new key's file names on the next write). Rotating
// WEBSITE_AUTH_SIGNING_KEY likewise: with the old key in ezauth.previousSigningKeySettingNames,
// outstanding X-ZUMO-AUTH tokens (the module's session tokens and the app's own custom tokens)
// keep working until they expire, and new ones are signed with the new key only.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { echoOf, assertRedirectToIdp } from './lib/common.js';
import { randomHexKey, removeScratch } from './lib/paths.js';
import { signJwt, verifyHs256, nowSec } from './lib/jwt.js';

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

    it('outstanding X-ZUMO-AUTH tokens survive a new signing key when the old one is listed', async () => {
      const encryption = randomHexKey();
      const oldSigning = randomHexKey();
      const newSigning = randomHexKey();
      const first = await startStack(host, { keys: { encryption, signing: oldSigning }, action: 'Return401' });
      const c = first.client();
      const r = await first.signIn(c, { login: 'rotor', prompt: 'consent', target: null, query: { session_mode: 'token' }, expectSuccess: false });
      const loc = r.response.location || '';
      assert.ok(loc.includes('#token='), `no session token: ${r.response.describe()}`);
      const session = JSON.parse(decodeURIComponent(loc.slice(loc.indexOf('#token=') + 7))).authenticationToken;
      const tokenDir = first.tokenDir;
      await first.host.stop();

      // Same site (port) and token directory; the new signing key, the old one maybe listed.
      const restart = (listed) =>
        startStack(host, {
          idp: first.idp,
          action: 'Return401',
          keys: { encryption, signing: newSigning },
          env: { OLD_SIGNING_KEY: oldSigning },
          hostOptions: { port: first.port },
          configure: (cfg) => {
            cfg.login.tokenStore.fileSystem.directory = tokenDir;
            if (listed) cfg.ezauth = { ...cfg.ezauth, previousSigningKeySettingNames: ['OLD_SIGNING_KEY'] };
          },
        });
      const zumo = (token) => ({ headers: { 'x-zumo-auth': token } });
      const custom = (s, key) =>
        signJwt({ sub: 'app-user', iss: `${s.origin}/`, aud: `${s.origin}/`, exp: nowSec() + 600 }, { alg: 'HS256', key: Buffer.from(key, 'hex') });

      const rotated = await restart(true);
      try {
        assert.equal(rotated.origin, first.origin);
        const seen = echoOf(await c.get(rotated.at('/page'), zumo(session)), 'session token after rotation:');
        assert.equal(seen.headers['x-ms-client-principal-id'], 'rotor');
        const app = echoOf(await c.get(rotated.at('/page'), zumo(custom(rotated, oldSigning))), 'custom token after rotation:');
        assert.equal(app.headers['x-ms-client-principal-id'], 'app-user');
        // What the module signs now, it signs with the new key only.
        const renewed = await c.get(rotated.at('/.auth/refresh'), zumo(session));
        assert.equal(renewed.status, 200, renewed.describe());
        const fresh = renewed.json().authenticationToken;
        assert.ok(verifyHs256(fresh, Buffer.from(newSigning, 'hex')), 'new token signed with the new key');
        assert.ok(!verifyHs256(fresh, Buffer.from(oldSigning, 'hex')), 'new token not signed with the old key');
      } finally {
        await rotated.stop();
      }

      const forgot = await restart(false);
      try {
        const mark = forgot.logs().length;
        const refused = await c.get(forgot.at('/page'), zumo(session));
        assert.equal(refused.status, 401, refused.describe());
        assert.equal((await c.get(forgot.at('/page'), zumo(custom(forgot, oldSigning)))).status, 401);
        assert.match(forgot.logs().slice(mark), /X-ZUMO-AUTH/);
      } finally {
        await forgot.stop();
        await first.idp.close();
        removeScratch(first.tmp);
      }
    });
  });
}
