// Microsoft Account (legacyMicrosoftAccount) against the real oidc-provider standing in for the
// identity platform's consumers endpoints (moved by ezauth.providers.microsoftaccount), on each
// host: a sign-in (also in Chromium), Live scopes read as the platform's, offline access → a refresh token that
// /.auth/refresh redeems, X-MS-TOKEN-MICROSOFTACCOUNT-*, and the client-directed
// {authentication_token} body (App Service's preferred one) with an opaque {access_token}
// refused.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { chromiumSignIn, skipWithoutBrowser } from './lib/browser.js';
import { startStack } from './lib/stack.js';
import { echoOf } from './lib/common.js';

const hosts = await hostsUnderTest();
const CLIENT = 'ezauth-msa';
const JSON_HEADERS = { 'content-type': 'application/json' };

for (const host of hosts) {
  describe(`Microsoft Account [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, {
        provider: 'microsoftaccount',
        idpClients: [{
          client_id: CLIENT,
          client_secret: 'msa-secret',
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_post',
        }],
        env: { MICROSOFT_IDENTITY_AUTHENTICATION_SECRET: 'msa-secret' },
        configure: (cfg, ctx) => {
          cfg.identityProviders = {
            legacyMicrosoftAccount: {
              enabled: true,
              registration: { clientId: CLIENT, clientSecretSettingName: 'MICROSOFT_IDENTITY_AUTHENTICATION_SECRET' },
              login: { scopes: ['wl.basic', 'wl.emails', 'wl.offline_access'] },
            },
          };
          cfg.ezauth = {
            ...cfg.ezauth,
            providers: {
              microsoftaccount: {
                authorizationEndpoint: `${ctx.idp.issuer}/auth`,
                tokenEndpoint: `${ctx.idp.issuer}/token`,
                jwksEndpoint: `${ctx.idp.issuer}/jwks`,
                issuer: ctx.idp.issuer,
              },
            },
          };
          return cfg;
        },
      });
    });
    after(async () => {
      await s?.stop();
    });

    it('signs in, hands the app X-MS-TOKEN-MICROSOFTACCOUNT-* and refreshes', async () => {
      const c = s.client();
      // oidc-provider grants offline_access only with the consent prompt
      const r = await s.signIn(c, { login: 'ann', prompt: 'consent' });
      assert.equal(new URL(r.start.location).searchParams.get('scope'), 'openid profile email offline_access');
      const h = echoOf(await c.get(s.at('/anything'))).headers;
      assert.equal(h['x-ms-client-principal-idp'], 'microsoftaccount');
      for (const t of ['access-token', 'authentication-token', 'id-token', 'expires-on', 'refresh-token']) {
        assert.ok(h[`x-ms-token-microsoftaccount-${t}`], `x-ms-token-microsoftaccount-${t} missing`);
      }
      assert.equal(h['x-ms-token-microsoftaccount-authentication-token'], h['x-ms-token-microsoftaccount-id-token']);
      const refreshed = await c.get(s.at('/.auth/refresh'));
      assert.equal(refreshed.status, 200, refreshed.describe());
      const after = echoOf(await c.get(s.at('/anything'))).headers;
      assert.notEqual(after['x-ms-token-microsoftaccount-refresh-token'], h['x-ms-token-microsoftaccount-refresh-token'], 'rotated');
    });

    it('in Chromium: a protected page → the consumers sign-in → back on the page as the user', { skip: skipWithoutBrowser }, async () => {
      const page = s.at('/hello?from=chromium');
      const r = await chromiumSignIn(page, { login: 'chromium-ann' });
      assert.equal(r.url, page, JSON.stringify(r.navigations));
      assert.ok(r.navigations.some((n) => n.url.startsWith(`${s.idp.issuer}/auth?`)), 'through the provider');
      assert.equal(r.echo.headers['x-ms-client-principal-idp'], 'microsoftaccount');
      assert.equal(r.echo.headers['x-ms-client-principal-id'], 'chromium-ann');
      assert.ok(r.echo.headers['x-ms-token-microsoftaccount-access-token']);
    });

    it('takes a client\'s authentication_token and refuses an opaque access_token', async () => {
      const c = s.client();
      const token = s.idp.mintIdToken({ aud: CLIENT, sub: 'ann-device' });
      const ok = await c.post(s.at('/.auth/login/microsoftaccount'), { body: JSON.stringify({ authentication_token: token }), headers: JSON_HEADERS });
      assert.equal(ok.status, 200, ok.describe());
      assert.equal(typeof ok.json().authenticationToken, 'string');
      const zumo = { 'X-ZUMO-AUTH': ok.json().authenticationToken };
      const seen = echoOf(await c.get(s.at('/anything'), { headers: zumo })).headers;
      assert.equal(seen['x-ms-token-microsoftaccount-authentication-token'], token);
      const opaque = await c.post(s.at('/.auth/login/microsoftaccount'), { body: JSON.stringify({ access_token: 'EwB4A8l6BAAU-opaque' }), headers: JSON_HEADERS });
      assert.equal(opaque.status, 401, opaque.describe());
      const foreign = s.idp.mintIdToken({ aud: 'another-app', sub: 'ann-device' });
      const refused = await c.post(s.at('/.auth/login/microsoftaccount'), { body: JSON.stringify({ authentication_token: foreign }), headers: JSON_HEADERS });
      assert.equal(refused.status, 401, refused.describe());
    });
  });
}
