// PKCE for native apps, scripted exactly as the .NET client's source does it
// (Azure/azure-mobile-apps-net-client, src/Microsoft.Azure.Mobile.Client/Authentication/
// MobileServicePKCEAuthentication.cs): verifier = standard base64 of 32 random bytes,
// challenge = standard base64 of SHA-256(verifier), the login query built unescaped
// (post_login_redirect_url, code_challenge, code_challenge_method=S256, session_mode=token),
// the system browser ends at <scheme>://easyauth.callback/#authorization_code=<code>, and the
// app sends GET /.auth/login/{p}/token?authorization_code=…&code_verifier=… (escaped).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { echoOf } from './lib/common.js';

const hosts = await hostsUnderTest();
const CALLBACK = 'zumoe2etestapp://easyauth.callback/';
// The .NET client's default headers (Http/MobileServiceHttpClient.cs).
const DOTNET_HEADERS = {
  'zumo-api-version': '2.0.0',
  'x-zumo-version': 'ZUMO/4.2 (lang=Managed; os=Android; os_version=13; arch=Arm64; version=4.2.0)',
  'x-zumo-installation-id': crypto.randomUUID(),
};

function dotnetVerifierAndChallenge() {
  const verifier = crypto.randomBytes(32).toString('base64');
  const challenge = crypto.createHash('sha256').update(verifier, 'utf8').digest('base64');
  return { verifier, challenge };
}

for (const host of hosts) {
  describe(`PKCE for native apps (.NET client) [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, {
        action: 'Return401',
        configure: (config) => {
          config.login.allowedExternalRedirectUrls.push('zumoe2etestapp://easyauth.callback');
        },
      });
    });
    after(async () => {
      await s?.stop();
    });

    // MobileServiceUrlBuilder.GetQueryString(loginParameters, false): not escaped.
    const loginUrl = (challenge, redirect = CALLBACK) =>
      s.at(`/.auth/login/testidp?post_login_redirect_url=${redirect}&code_challenge=${challenge}&code_challenge_method=S256&session_mode=token`);
    const tokenUrl = (code, verifier) =>
      s.at(`/.auth/login/testidp/token?authorization_code=${encodeURIComponent(code)}&code_verifier=${encodeURIComponent(verifier)}`);

    async function browserLogin(c, challenge, login) {
      const r = await s.signIn(c, { login, startUrl: loginUrl(challenge), target: null, expectSuccess: false });
      assert.equal(r.response.status, 302, r.response.describe());
      const location = r.response.headers.get('location');
      const prefix = `${CALLBACK}#authorization_code=`;
      assert.ok(location.startsWith(prefix), `not the app callback with a code: ${location}`);
      assert.ok(!r.sessionCookies.some((x) => x.value), 'a PKCE login sets no session cookie');
      // The platform UIs read the authorization_code property and URL-unescape it.
      return decodeURIComponent(location.slice(prefix.length));
    }

    it('the .NET exchange: code at the app callback, GET /token with the verifier → {authenticationToken, user}', async () => {
      const c = s.client();
      const { verifier, challenge } = dotnetVerifierAndChallenge();
      const code = await browserLogin(c, challenge, 'pkce-user');
      const app = s.client();
      const res = await app.get(tokenUrl(code, verifier), { headers: DOTNET_HEADERS });
      assert.equal(res.status, 200, res.describe());
      const body = JSON.parse(res.text);
      assert.match(body.user.userId, /^sid:[0-9a-f]{32}$/);
      assert.equal(typeof body.authenticationToken, 'string');
      const echo = echoOf(await app.get(s.at('/api/x'), { headers: { ...DOTNET_HEADERS, 'x-zumo-auth': body.authenticationToken } }));
      assert.equal(echo.headers['x-ms-client-principal-idp'], 'testidp');
      // one-time
      const again = await app.get(tokenUrl(code, verifier), { headers: DOTNET_HEADERS });
      assert.equal(again.status, 400, again.describe());
    });

    it('a wrong verifier, a forged code, plain or a scheme not allow-listed → 400', async () => {
      const c = s.client();
      const { verifier, challenge } = dotnetVerifierAndChallenge();
      const code = await browserLogin(c, challenge, 'pkce-user2');
      const wrong = await s.client().get(tokenUrl(code, dotnetVerifierAndChallenge().verifier));
      assert.equal(wrong.status, 400, wrong.describe());
      assert.equal((await s.client().get(tokenUrl('forged', verifier))).status, 400);
      const plain = await s.client().get(
        s.at(`/.auth/login/testidp?post_login_redirect_url=${CALLBACK}&code_challenge=${encodeURIComponent(verifier)}&code_challenge_method=plain&session_mode=token`),
      );
      assert.equal(plain.status, 400, plain.describe());
      const other = await s.client().get(loginUrl(challenge, 'otherapp://easyauth.callback/'));
      assert.equal(other.status, 400, other.describe());
      assert.match(s.logs(), /code_verifier does not match/);
    });
  });
}
