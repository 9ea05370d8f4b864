// Sign in with Apple against the real oidc-provider configured where Apple differs from it:
// the form_post callback, and a client secret that is an ES256 JWT the app mints from its
// .p8 key (ezauth.providers.apple.clientSecretKey). oidc-provider cannot check such a secret
// (its client_secret_jwt is an HMAC client assertion), so its token endpoint sits behind a
// small shim that verifies the secret as Apple documents it (ES256 by the team's key, kid,
// iss = team id, sub = Services ID, aud = the issuer, exp at most six months ahead) and then
// forwards the request with the client's registered secret. Apple's `user` field (the name,
// posted on the first sign-in only) is added to the callback as Apple's page would. In
// Chromium the browser makes the form_post itself.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { once } from 'node:events';
import { hostsUnderTest } from './lib/hosts/index.js';
import { chromiumSignIn, skipWithoutBrowser } from './lib/browser.js';
import { startStack } from './lib/stack.js';
import { echoOf } from './lib/common.js';
import { deliverCallback } from './lib/flow.js';
import { closerFor } from './lib/ports.js';

const hosts = await hostsUnderTest();
const SERVICES_ID = 'com.example.ezauth';
const SERVICES_SECRET = 'registered-secret';
const TEAM_ID = 'TEAM123456';
const KEY_ID = 'KEY7654321';
const SIX_MONTHS = 15777000;

/** Apple's token endpoint's check of the client secret, in front of oidc-provider's (whose
 * issuer is set once it runs). */
async function startSecretShim(publicKey) {
  const shim = { verified: 0, refused: [], issuer: null };
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const { issuer } = shim;
    const why = checkSecret(form.get('client_secret') || '', form.get('client_id'), issuer, publicKey);
    if (why) {
      shim.refused.push(why);
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_client' }));
      return;
    }
    shim.verified += 1;
    form.set('client_secret', SERVICES_SECRET);
    const upstream = await fetch(`${issuer}/token`, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    res.writeHead(upstream.status, { 'content-type': 'application/json' });
    res.end(await upstream.text());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  shim.tokenEndpoint = `http://127.0.0.1:${server.address().port}/token`;
  shim.close = closerFor(server);
  return shim;
}

/** Why Apple would refuse this client secret, or null. */
function checkSecret(secret, clientId, audience, publicKey) {
  const [h, p, s] = secret.split('.');
  if (!s) return 'not a JWT';
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  const now = Math.floor(Date.now() / 1000);
  if (!ok) return 'bad signature';
  if (header.alg !== 'ES256' || header.kid !== KEY_ID) return `header ${JSON.stringify(header)}`;
  if (claims.iss !== TEAM_ID || claims.sub !== clientId || claims.aud !== audience) return `claims ${JSON.stringify(claims)}`;
  if (!(claims.exp > now && claims.exp - claims.iat <= SIX_MONTHS && claims.iat <= now + 5)) return `lifetime ${JSON.stringify(claims)}`;
  return null;
}

for (const host of hosts) {
  describe(`Sign in with Apple [${host.name}]`, () => {
    let s;
    let shim;
    let keyDir;
    before(async () => {
      keyDir = fs.mkdtempSync('/var/tmp/ezauth-apple-');
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const keyFile = path.join(keyDir, `AuthKey_${KEY_ID}.p8`);
      fs.writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      shim = await startSecretShim(publicKey);
      s = await startStack(host, {
        provider: 'apple',
        idpClients: [{
          client_id: SERVICES_ID,
          client_secret: SERVICES_SECRET,
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_post',
        }],
        configure: (cfg, ctx) => {
          shim.issuer = ctx.idp.issuer;
          cfg.identityProviders = {
            apple: { enabled: true, registration: { clientId: SERVICES_ID }, login: { scopes: [] } },
          };
          cfg.ezauth = {
            ...cfg.ezauth,
            providers: {
              apple: {
                authorizationEndpoint: `${ctx.idp.issuer}/auth`,
                tokenEndpoint: shim.tokenEndpoint,
                jwksEndpoint: `${ctx.idp.issuer}/jwks`,
                issuer: ctx.idp.issuer,
                clientSecretKey: { teamId: TEAM_ID, keyId: KEY_ID, keyFile },
              },
            },
          };
          return cfg;
        },
      });
    });
    after(async () => {
      await s?.stop();
      await shim?.close();
      if (keyDir) fs.rmSync(keyDir, { recursive: true, force: true });
    });

    it('signs in by form_post with a minted ES256 secret and keeps the name Apple sends once', async () => {
      const c = s.client();
      const r = await s.signIn(c, { login: 'jane', stopAtCallback: true });
      const asked = new URL(r.start.location).searchParams;
      assert.equal(asked.get('response_mode'), 'form_post');
      assert.equal(asked.get('client_id'), SERVICES_ID);
      assert.equal(r.callback.method, 'POST', 'Apple answers by form_post');
      const user = JSON.stringify({ name: { firstName: 'Jane', lastName: 'Appleseed' }, email: 'jane@privaterelay.appleid.com' });
      const done = await deliverCallback(c, { ...r.callback, form: { ...r.callback.form, user } });
      assert.equal(done.status, 302, done.describe());
      assert.equal(shim.verified, 1, `the token endpoint verified the secret (refused: ${shim.refused})`);
      const h = echoOf(await c.get(s.at('/anything'))).headers;
      assert.equal(h['x-ms-client-principal-idp'], 'apple');
      assert.equal(h['x-ms-client-principal-name'], 'Jane Appleseed');
      assert.ok(h['x-ms-token-apple-id-token']);
      assert.ok(h['x-ms-token-apple-access-token']);

      // Apple sends the name only the first time: a later sign-in still has it.
      const c2 = s.client();
      const again = await s.signIn(c2, { login: 'jane', stopAtCallback: true });
      assert.equal(again.callback.form.user, undefined);
      const done2 = await deliverCallback(c2, again.callback);
      assert.equal(done2.status, 302, done2.describe());
      const h2 = echoOf(await c2.get(s.at('/anything'))).headers;
      assert.equal(h2['x-ms-client-principal-name'], 'Jane Appleseed');
      assert.equal(shim.verified, 2);
      assert.deepEqual(shim.refused, []);
    });

    it('in Chromium: a protected page → Apple → the browser\'s own form_post → back on the page', { skip: skipWithoutBrowser }, async () => {
      const verified = shim.verified;
      const page = s.at('/hello?from=chromium');
      const r = await chromiumSignIn(page, { login: 'chromium-jane' });
      assert.equal(r.url, page, JSON.stringify(r.navigations));
      const posted = r.navigations.filter((n) => n.method === 'POST' && n.url === s.at('/.auth/login/apple/callback'));
      assert.equal(posted.length, 1, `the callback came by the browser's form_post: ${JSON.stringify(r.navigations)}`);
      assert.equal(r.echo.headers['x-ms-client-principal-idp'], 'apple');
      assert.equal(r.echo.headers['x-ms-client-principal-id'], 'chromium-jane');
      assert.ok(r.echo.headers['x-ms-token-apple-id-token']);
      assert.equal(shim.verified, verified + 1, 'the code was redeemed with a minted secret');
    });
  });
}
