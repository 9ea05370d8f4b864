// Azure AD's client credentials against the real oidc-provider, on each host: without a secret
// the implicit flow App Service uses (an id_token posted back with form_post, in Chromium by
// the browser itself; no access token, no token endpoint, /.auth/refresh 400); with a
// certificate (ezauth.providers.aad.clientCertificate) every token request proves the client
// with a private_key_jwt assertion, which oidc-provider verifies against the certificate's
// public key registered as the client's JWKS.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hostsUnderTest } from './lib/hosts/index.js';
import { chromiumSignIn, skipWithoutBrowser } from './lib/browser.js';
import { startStack } from './lib/stack.js';
import { echoOf } from './lib/common.js';
import { decodeJwt } from './lib/jwt.js';

const hosts = await hostsUnderTest();

/** Azure AD's block as the portal writes it for this client (no secret unless given). */
function aadAs(clientId, { ezauth } = {}) {
  return (cfg, ctx) => {
    const reg = cfg.identityProviders.azureActiveDirectory.registration;
    reg.clientId = clientId;
    delete reg.clientSecretSettingName;
    if (ezauth) cfg.ezauth = { ...cfg.ezauth, ...ezauth(ctx) };
    return cfg;
  };
}

/** A self-signed certificate and its key (owner-only), made by the openssl command. */
function certificate(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, 'aad.key');
  const certFile = path.join(dir, 'aad.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile,
    '-out', certFile, '-subj', '/CN=ezauth-e2e', '-days', '2'], { stdio: 'ignore' });
  fs.chmodSync(keyFile, 0o600);
  const x509 = new crypto.X509Certificate(fs.readFileSync(certFile));
  const jwk = { ...x509.publicKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };
  return { keyFile, certFile, jwk, thumbprint: x509.fingerprint.replaceAll(':', '') };
}

for (const host of hosts) {
  describe(`Azure AD without a client secret: the implicit flow [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, {
        provider: 'aad',
        idpClients: [{
          client_id: 'ezauth-implicit',
          application_type: 'native',
          response_types: ['id_token'],
          grant_types: ['implicit'],
          token_endpoint_auth_method: 'none',
        }],
        configure: aadAs('ezauth-implicit'),
      });
    });
    after(async () => {
      await s?.stop();
    });

    it('signs in with the id_token posted back, without a token request, and cannot refresh', async () => {
      const c = s.client();
      const tokensBefore = s.idp.counters.token;
      const r = await s.signIn(c, { login: 'ivy' });
      const asked = new URL(r.start.location).searchParams;
      assert.equal(asked.get('response_type'), 'id_token');
      assert.equal(asked.get('response_mode'), 'form_post');
      assert.ok(asked.get('nonce'));
      assert.equal(asked.get('code_challenge'), null);
      assert.equal(r.callback.method, 'POST');
      assert.ok(r.callback.form.id_token, 'the IdP posts an id_token');
      assert.equal(r.callback.form.code, undefined);
      assert.equal(s.idp.counters.token, tokensBefore, 'no token endpoint in the implicit flow');

      const h = echoOf(await c.get(s.at('/anything'))).headers;
      assert.equal(h['x-ms-client-principal-idp'], 'aad');
      assert.equal(decodeJwt(h['x-ms-token-aad-id-token']).payload.sub, 'ivy');
      assert.equal(decodeJwt(h['x-ms-token-aad-id-token']).payload.nonce, asked.get('nonce'));
      assert.equal(h['x-ms-token-aad-access-token'], undefined);
      assert.equal(h['x-ms-token-aad-refresh-token'], undefined);
      const me = await c.get(s.at('/.auth/me'));
      assert.equal(me.status, 200, me.describe());
      assert.equal(me.json()[0].access_token, undefined);
      assert.ok(me.json()[0].id_token);
      const refresh = await c.get(s.at('/.auth/refresh'));
      assert.equal(refresh.status, 400, refresh.describe());
      assert.equal(s.idp.counters.token, tokensBefore);
    });

    it('in Chromium: a protected page → Azure AD → the id_token posted back by the browser → the page', { skip: skipWithoutBrowser }, async () => {
      const tokensBefore = s.idp.counters.token;
      const page = s.at('/hello?from=chromium');
      const r = await chromiumSignIn(page, { login: 'chromium-ivy' });
      assert.equal(r.url, page, JSON.stringify(r.navigations));
      const posted = r.navigations.filter((n) => n.method === 'POST' && n.url === s.at('/.auth/login/aad/callback'));
      assert.equal(posted.length, 1, `the id_token came by the browser's form_post: ${JSON.stringify(r.navigations)}`);
      assert.equal(r.echo.headers['x-ms-client-principal-idp'], 'aad');
      assert.equal(decodeJwt(r.echo.headers['x-ms-token-aad-id-token']).payload.sub, 'chromium-ivy');
      assert.equal(r.echo.headers['x-ms-token-aad-access-token'], undefined);
      assert.equal(s.idp.counters.token, tokensBefore, 'no token endpoint in the implicit flow');
    });

    it('refuses a posted id_token whose nonce is not the login\'s', async () => {
      const c = s.client();
      const stored = s.tokenFiles().length;
      const r = await s.signIn(c, { login: 'ivy', stopAtCallback: true });
      const forged = s.idp.mintIdToken({ aud: 'ezauth-implicit', sub: 'mallory', nonce: 'another-login' });
      const res = await c.post(r.callback.url, { form: { ...r.callback.form, id_token: forged } });
      assert.equal(res.status, 401, res.describe());
      assert.equal(s.tokenFiles().length, stored, 'nothing stored');
    });
  });

  describe(`Azure AD with a certificate credential: private_key_jwt [${host.name}]`, () => {
    let s;
    let cert;
    before(async () => {
      const dir = fs.mkdtempSync('/var/tmp/ezauth-aad-cert-');
      cert = certificate(dir);
      s = await startStack(host, {
        provider: 'aad',
        idpClients: [{
          client_id: 'ezauth-cert',
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [cert.jwk] },
        }],
        configure: (cfg, ctx) => {
          aadAs('ezauth-cert', {
            ezauth: () => ({ providers: { aad: { clientCertificate: { keyFile: cert.keyFile, certFile: cert.certFile } } } }),
          })(cfg, ctx);
          cfg.identityProviders.azureActiveDirectory.registration.clientSecretCertificateThumbprint = cert.thumbprint;
          return cfg;
        },
      });
    });
    after(async () => {
      await s?.stop();
      if (cert) fs.rmSync(path.dirname(cert.keyFile), { recursive: true, force: true });
    });

    it('redeems the code and refreshes with assertions the IdP verifies', async () => {
      const c = s.client();
      // oidc-provider grants offline_access only with the consent prompt
      const r = await s.signIn(c, { login: 'cora', prompt: 'consent' });
      assert.equal(new URL(r.start.location).searchParams.get('response_type'), 'code');
      const h = echoOf(await c.get(s.at('/anything'))).headers;
      assert.ok(h['x-ms-token-aad-access-token'], 'the code was redeemed');
      assert.ok(h['x-ms-token-aad-refresh-token'], 'offline_access granted a refresh token');
      assert.equal(s.idp.counters.tokenAuthorizationCode >= 1, true);
      const refreshed = await c.get(s.at('/.auth/refresh'));
      assert.equal(refreshed.status, 200, refreshed.describe());
      assert.equal(s.idp.counters.tokenRefresh >= 1, true);
    });
  });
}
