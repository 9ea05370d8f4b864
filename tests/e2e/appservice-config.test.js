// App Service's own configuration forms start the hosts: an exported authsettingsV2 file as the
// portal wrote it (its warnings reach the host's log), and the WEBSITE_AUTH_* app settings alone
// (an empty configuration file), which sign a user in.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { echoOf } from './lib/common.js';

const hosts = await hostsUnderTest();
const corpus = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'data', 'appservice');

for (const host of hosts) {
  describe(`App Service configuration [${host.name}]`, () => {
    it('a portal export starts unchanged; its warnings are logged and its settings apply', async () => {
      const exported = fs.readFileSync(path.join(corpus, 'portal-quick-setup.json'), 'utf8');
      // The export names no token directory: WEBSITE_AUTH_STATE_DIRECTORY gives it, as on App
      // Service. The environment is read after `configure`, which knows the directory.
      const env = {};
      const s = await startStack(host, {
        idp: 'none',
        env,
        configure: (_cfg, ctx) => {
          env.WEBSITE_AUTH_STATE_DIRECTORY = ctx.tokenDir;
          return exported;
        },
      });
      try {
        const logs = s.logs();
        for (const p of ['google', 'facebook', 'gitHub', 'twitter', 'apple', 'legacyMicrosoftAccount']) {
          assert.ok(logs.includes(`identityProviders.${p} has no client id: not configured`), `${p}:\n${logs}`);
        }
        assert.match(logs, /isAutoProvisioned is accepted but ezauth does not act on it/);
        // requireHttps: true, from the export.
        const res = await s.client().get(s.at('/orders'));
        assert.equal(res.status, 302, res.describe());
        assert.ok(res.location.startsWith('https://'), res.describe());
      } finally {
        await s.stop();
      }
    });

    it('the same export with a GitHub client id starts and sends users to GitHub', async () => {
      const doc = JSON.parse(fs.readFileSync(path.join(corpus, 'portal-quick-setup.json'), 'utf8'));
      const settings = doc.properties || doc;
      settings.identityProviders.gitHub.registration = {
        clientId: 'Iv1.0123456789abcdef',
        clientSecretSettingName: 'GITHUB_PROVIDER_AUTHENTICATION_SECRET',
      };
      settings.identityProviders.gitHub.login = { scopes: ['user:email'] };
      settings.httpSettings.requireHttps = false;
      const env = { GITHUB_PROVIDER_AUTHENTICATION_SECRET: 'gh-secret' };
      const s = await startStack(host, {
        idp: 'none',
        env,
        configure: (_cfg, ctx) => {
          env.WEBSITE_AUTH_STATE_DIRECTORY = ctx.tokenDir;
          return JSON.stringify(doc);
        },
      });
      try {
        assert.doesNotMatch(s.logs(), /identityProviders\.gitHub has no client id/);
        const res = await s.client().get(s.at('/.auth/login/github'));
        assert.equal(res.status, 302, res.describe());
        const to = new URL(res.location);
        assert.equal(`${to.origin}${to.pathname}`, 'https://github.com/login/oauth/authorize');
        assert.equal(to.searchParams.get('client_id'), 'Iv1.0123456789abcdef');
        assert.equal(to.searchParams.get('redirect_uri'), s.at('/.auth/login/github/callback'));
        assert.equal(to.searchParams.get('scope'), 'user:email');
      } finally {
        await s.stop();
      }
    });

    it('with an empty configuration file, the WEBSITE_AUTH_* settings sign a user in', async () => {
      const env = {
        WEBSITE_AUTH_ENABLED: 'True',
        WEBSITE_AUTH_DEFAULT_PROVIDER: 'AzureActiveDirectory',
        WEBSITE_AUTH_UNAUTHENTICATED_ACTION: 'RedirectToLoginPage',
        WEBSITE_AUTH_TOKEN_STORE: 'true',
        WEBSITE_AUTH_CLIENT_ID: 'ezauth-test',
        WEBSITE_AUTH_CLIENT_SECRET: 'ezauth-test-secret',
        WEBSITE_AUTH_LOGIN_PARAMS: 'scope=openid profile email offline_access',
        WEBSITE_AUTH_REQUIRE_HTTPS: 'false',
      };
      const s = await startStack(host, {
        provider: 'aad',
        env,
        // The secret comes from WEBSITE_AUTH_CLIENT_SECRET only.
        omitEnv: ['MICROSOFT_PROVIDER_AUTHENTICATION_SECRET'],
        configure: (_cfg, ctx) => {
          env.WEBSITE_AUTH_OPENID_ISSUER = ctx.idp.issuer;
          env.WEBSITE_AUTH_STATE_DIRECTORY = ctx.tokenDir;
          return '\n';
        },
      });
      try {
        assert.match(s.logs(), /configuration comes from the WEBSITE_AUTH_\* environment variables/);
        const c = s.client();
        const anonymous = await c.get(s.at('/x'));
        assert.equal(anonymous.status, 302, anonymous.describe());
        const login = new URL(anonymous.location);
        assert.equal(login.searchParams.get('client_id'), 'ezauth-test', anonymous.describe());
        assert.equal(login.searchParams.get('redirect_uri'), s.at('/.auth/login/aad/callback'));
        await s.signIn(c, { login: 'frank', prompt: 'consent' });
        const h = echoOf(await c.get(s.at('/anything'))).headers;
        assert.equal(h['x-ms-client-principal-idp'], 'aad');
        assert.ok(h['x-ms-token-aad-refresh-token'], 'WEBSITE_AUTH_LOGIN_PARAMS asked for offline_access');
        assert.equal(s.tokenFiles().length, 1, 'WEBSITE_AUTH_TOKEN_STORE and _STATE_DIRECTORY');
      } finally {
        await s.stop();
      }
    });
  });
}
