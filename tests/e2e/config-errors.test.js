// config errors: a bad configuration stops the host at startup with a message naming the field.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';

const hosts = await hostsUnderTest();

/** Start a stack expected to fail; return the error (with .exitCode and .logs). */
async function startFailure(host, opts) {
  let stack;
  try {
    stack = await startStack(host, { idp: 'none', ...opts });
  } catch (e) {
    return e;
  }
  await stack.stop();
  assert.fail('the host started with a bad configuration');
}

function assertCleanFailure(err, ...mustName) {
  assert.ok(typeof err.logs === 'string', `not a startup failure: ${err.stack}`);
  assert.equal(err.signal ?? null, null, `the host was killed by ${err.signal} instead of exiting: ${err.logs}`);
  assert.ok(typeof err.exitCode === 'number' && err.exitCode !== 0, `exit code ${err.exitCode}; output:\n${err.logs}`);
  for (const n of mustName) assert.ok(err.logs.includes(n), `the error should name ${n}; output:\n${err.logs}`);
}

for (const host of hosts) {
  describe(`config errors [${host.name}]`, () => {
    it('the unmodified test configuration starts (control)', async () => {
      const s = await startStack(host, { idp: 'none' });
      await s.stop();
    });

    it('a mistyped key ("globalValidaton") → exit non-zero naming it', async () => {
      const err = await startFailure(host, {
        configure: (cfg) => {
          cfg.globalValidaton = cfg.globalValidation;
          delete cfg.globalValidation;
        },
      });
      assertCleanFailure(err, 'globalValidaton');
    });

    it('a mistyped nested key names its JSON path', async () => {
      const err = await startFailure(host, {
        configure: (cfg) => {
          cfg.login.tokenStore.fileSystem.directry = cfg.login.tokenStore.fileSystem.directory;
        },
      });
      assertCleanFailure(err, 'directry');
      assert.match(err.logs, /login\.tokenStore\.fileSystem/);
    });

    it('a wrong type ("requireHttps": "yes") → exit non-zero naming httpSettings.requireHttps', async () => {
      const err = await startFailure(host, {
        configure: (cfg) => {
          cfg.httpSettings.requireHttps = 'yes';
        },
      });
      assertCleanFailure(err, 'httpSettings.requireHttps');
    });

    it('an unknown unauthenticatedClientAction value → exit non-zero naming the field', async () => {
      const err = await startFailure(host, {
        configure: (cfg) => {
          cfg.globalValidation.unauthenticatedClientAction = 'RedirectToLoginPag';
        },
      });
      assertCleanFailure(err, 'unauthenticatedClientAction');
    });

    it('a missing secret environment variable → exit non-zero naming it', async () => {
      const err = await startFailure(host, { omitEnv: ['TESTIDP_AUTHENTICATION_SECRET'] });
      assertCleanFailure(err, 'TESTIDP_AUTHENTICATION_SECRET');
    });

    it('a malformed WEBSITE_AUTH_ENCRYPTION_KEY → exit non-zero naming it', async () => {
      const err = await startFailure(host, { env: { WEBSITE_AUTH_ENCRYPTION_KEY: 'not-hex-at-all' } });
      assertCleanFailure(err, 'WEBSITE_AUTH_ENCRYPTION_KEY');
    });

    it('a file that is not JSON → exit non-zero with a message', async () => {
      const err = await startFailure(host, { configure: () => '{"platform": {"enabled": true}, "globalValidation": ' });
      assertCleanFailure(err);
      assert.ok(err.logs.trim().length > 0, 'say something');
    });
  });
}
