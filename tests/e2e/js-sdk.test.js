// js-sdk: the real JavaScript SDK, npm `azure-mobile-apps-client` 2.0.1, unchanged, in Chromium,
// on an application page of another site (http://127.0.0.2, allowed in
// `allowedExternalRedirectUrls` and `ezauth.cors`) against ezauth on https://127.0.0.1 (the SDK
// rewrites every login URL to https: Platform/web/index.js `login`), TLS terminated in front of
// the host (lib/tls-terminator.js). The package ships CommonJS only; its own release is a
// browserify bundle exposing `WindowsAzure`, so this one is made the same way by esbuild at test
// time (see `bundleSdk`); nothing generated is kept.
//
// SDK sources exercised: sdk/src/MobileServiceClient.js (`login` with a provider or with a
// session token, `invokeApi`, `logout`, `_request`'s X-ZUMO-AUTH), sdk/src/MobileServiceLogin.js
// (`loginWithLoginControl`: `session_mode=token`; `loginWithMobileServiceToken`: POST
// /.auth/login), sdk/src/Platform/web/index.js (`login`), sdk/src/LoginUis/BrowserPopup.js (the
// popup, `completion_type=postMessage`, and `completion_type=iframe` with its
// `zumo-login-receiver` frame, which it picks when the user agent is Internet Explorer's),
// sdk/src/Transports/DirectAjaxTransport.js (CORS XHR).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { launchChromium, skipWithoutBrowser as skip } from './lib/browser.js';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { signJwt, nowSec } from './lib/jwt.js';
import { startTlsTerminator } from './lib/tls-terminator.js';

const hosts = await hostsUnderTest();
const require = createRequire(import.meta.url);
const SDK_VERSION = '2.0.1';
// What BrowserPopup.js looks for to take its Internet Explorer path (the iframe receiver).
const IE11_USER_AGENT = 'Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko';

let sdkBundle;
/**
 * The SDK as one browser script defining `WindowsAzure`, as its Gruntfile's browserify
 * `standalone` build does. Browserify also supplies Node's core modules and globals to browsers;
 * the SDK's dependencies (verror, assert-plus, extsprintf, azure-odata-sql) load four at start:
 * `util` and `assert` come from the same npm packages browserify uses (dev dependencies). The
 * other two are only looked at, never used on the SDK's browser paths, so minimal stand-ins do:
 * `stream`'s `Stream` (assert-plus's `instanceof` checks) and a global `Buffer` whose
 * `isBuffer` says no (core-util-is reads it at load; a page has no Buffers). `global` is the
 * window, and the environment switches util and assert-plus read are unset, as in browserify's
 * `process`.
 */
async function bundleSdk() {
  if (!sdkBundle) {
    sdkBundle = (async () => {
      assert.equal(require('azure-mobile-apps-client/package.json').version, SDK_VERSION);
      const esbuild = await import('esbuild');
      const standIns = {
        'sdk-shim:stream': 'exports.Stream = function Stream() {};',
        'sdk-shim:buffer-global': 'export var Buffer = { isBuffer: function () { return false; } };',
      };
      const shims = {
        name: 'node-stand-ins',
        setup(b) {
          b.onResolve({ filter: /^stream$/ }, () => ({ path: 'sdk-shim:stream', namespace: 'shim' }));
          b.onResolve({ filter: /^sdk-shim:/ }, (a) => ({ path: a.path, namespace: 'shim' }));
          b.onLoad({ filter: /.*/, namespace: 'shim' }, (a) => ({ contents: standIns[a.path], resolveDir: '.' }));
        },
      };
      const out = await esbuild.build({
        entryPoints: [require.resolve('azure-mobile-apps-client')],
        bundle: true,
        platform: 'browser',
        format: 'iife',
        globalName: 'WindowsAzure',
        define: { global: 'window', 'process.env.NODE_NDEBUG': 'undefined', 'process.env.NODE_DEBUG': 'undefined' },
        inject: ['sdk-shim:buffer-global'],
        plugins: [shims],
        write: false,
        logLevel: 'silent',
      });
      return out.outputFiles[0].text;
    })();
  }
  return sdkBundle;
}

/** The application's own site: a page that loads the SDK and makes a client for `siteUrl()`. */
async function startAppSite(address, siteUrl, bundle) {
  const page = () => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>app</title>
<script src="/azure-mobile-apps-client.js"></script></head><body><p>app</p><script>
window.received = [];
window.addEventListener('message', function (e) { window.received.push({ origin: e.origin, data: String(e.data) }); });
window.client = new WindowsAzure.MobileServiceClient(${JSON.stringify(siteUrl())});
</script></body></html>`;
  const server = http.createServer((req, res) => {
    const [type, body] =
      req.url === '/azure-mobile-apps-client.js' ? ['text/javascript', bundle] : req.url === '/' ? ['text/html', page()] : [null, 'not found'];
    res.writeHead(type ? 200 : 404, { 'content-type': `${type || 'text/plain'}; charset=utf-8` });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, address, resolve));
  return { origin: `http://${address}:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

// In the page: a promise's outcome as plain data (the SDK rejects with strings or Errors whose
// `request` is the XMLHttpRequest).
const OUTCOME = `(p) => p.then(
  (v) => ({ ok: true, value: v }),
  (e) => ({ ok: false, error: String((e && e.message) || e), status: e && e.request ? e.request.status : undefined }))`;

for (const host of hosts) {
  describe(`JavaScript SDK azure-mobile-apps-client ${SDK_VERSION} in Chromium [${host.name}]`, { skip }, () => {
    let s;
    let tls; // the site's https front: its origin is the site's URL
    let browser;
    let app; // allowed site
    let stranger; // the same page on a site no allow-list names
    let site; // the site's URL, as the SDK is given it
    before(async () => {
      const bundle = await bundleSdk();
      browser = await launchChromium({ args: ['--ignore-certificate-errors'] });
      tls = await startTlsTerminator();
      app = await startAppSite('127.0.0.2', () => tls.origin, bundle);
      stranger = await startAppSite('127.0.0.3', () => tls.origin, bundle);
      s = await startStack(host, {
        callbackOrigins: () => [tls.origin],
        configure: (config) => {
          config.httpSettings = { requireHttps: true, forwardProxy: { convention: 'Standard' } };
          config.login.allowedExternalRedirectUrls.push(`${app.origin}/`);
          config.ezauth.cors = { allowedOrigins: [app.origin] };
        },
      });
      tls.setUpstream(s.port);
      site = tls.origin;
    });
    after(async () => {
      await browser?.close();
      await app?.close();
      await stranger?.close();
      await s?.stop();
      await tls?.close();
    });

    /** A fresh browser (profile) on `origin`'s page, recording every request it makes. */
    async function openApp(origin, { userAgent } = {}) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, ...(userAgent ? { userAgent } : {}) });
      const requests = [];
      context.on('request', (r) => requests.push(r.url()));
      const responses = [];
      context.on('response', (r) => responses.push({ url: r.url(), status: r.status() }));
      const page = await context.newPage();
      await page.goto(`${origin}/`);
      return { context, page, requests, responses };
    }

    /** `client.login('testidp')` in the page; the popup it opens, and the login's outcome. */
    async function startLogin(page) {
      const popup = page.waitForEvent('popup');
      const outcome = page.evaluate(`(${OUTCOME})(window.client.login('testidp'))`);
      return { popup: await popup, outcome };
    }

    /** The user signs in at oidc-provider's devInteractions pages (login, then consent if asked). */
    async function signInAtIdp(popup, login) {
      await popup.waitForURL((u) => u.origin === new URL(s.idp.issuer).origin);
      await popup.fill('input[name=login]', login);
      await popup.fill('input[name=password]', 'any password');
      await Promise.all([popup.waitForEvent('framenavigated'), popup.click('button[type=submit]')]);
      await popup.waitForLoadState('load').catch(() => {}); // the popup may already be closed
      if (!popup.isClosed() && new URL(popup.url()).origin === new URL(s.idp.issuer).origin) {
        await popup.click('button[type=submit]').catch(() => {}); // consent; the SDK then closes it
      }
    }

    /** The SDK closes its popup once it has the result (the page's `complete`). */
    async function closedBySdk(popup) {
      if (!popup.isClosed()) await popup.waitForEvent('close', { timeout: 5000 });
    }

    /** `client.invokeApi('echo', GET)`: the echo app's view of the request, or the failure. */
    const callEcho = (page) =>
      page.evaluate(`(${OUTCOME})(window.client.invokeApi('echo', { method: 'GET' }).then((r) => r.result))`);

    async function signedIn(login, opts) {
      const a = await openApp(app.origin, opts);
      const { popup, outcome } = await startLogin(a.page);
      await signInAtIdp(popup, login);
      const result = await outcome;
      assert.ok(result.ok, `the SDK's login failed: ${JSON.stringify(result)}`);
      return { ...a, popup, user: result.value };
    }

    function assertUser(user, what) {
      assert.match(user.userId, /^sid:[0-9a-f]+$/i, what);
      assert.equal(typeof user.mobileServiceAuthenticationToken, 'string', what);
      assert.equal(user.mobileServiceAuthenticationToken.split('.').length, 3, `${what}: not a JWT`);
    }

    function assertEcho(result, login, what) {
      assert.ok(result.ok, `${what}: ${JSON.stringify(result)}`);
      const echo = result.value;
      assert.equal(echo.path, '/api/echo', what);
      assert.equal(echo.headers['x-ms-client-principal-id'], login, what);
      assert.equal(echo.headers['x-ms-client-principal-idp'], 'testidp', what);
      assert.ok(echo.headers['x-ms-client-principal'], what);
    }

    it('client.login: the popup (postMessage) delivers a token that works as X-ZUMO-AUTH; logout then 401', async () => {
      const a = await signedIn('sdk-popup-user');
      assertUser(a.user, 'login');
      const start = a.requests.find((u) => u.startsWith(`${site}/.auth/login/testidp?`));
      assert.ok(start, `no login request: ${a.requests.join('\n')}`);
      const q = new URL(start).searchParams;
      assert.equal(q.get('session_mode'), 'token');
      assert.equal(q.get('completion_type'), 'postMessage');
      assert.equal(q.get('completion_origin'), app.origin);
      // the app's own page started it: straight to the provider, no page asking the user first
      assert.equal(a.responses.find((r) => r.url === start)?.status, 302);
      await closedBySdk(a.popup);
      const delivered = await a.page.evaluate(() => window.received);
      assert.equal(delivered.length, 1, JSON.stringify(delivered));
      assert.equal(delivered[0].origin, site);
      assert.equal(await a.page.evaluate(() => window.client.currentUser.userId), a.user.userId);

      assertEcho(await callEcho(a.page), 'sdk-popup-user', 'invokeApi with the token');

      await a.page.evaluate(() => window.client.logout());
      const out = await callEcho(a.page);
      assert.equal(out.ok, false, JSON.stringify(out));
      assert.equal(out.status, 401, JSON.stringify(out));
      await a.context.close();
    });

    it('client.login as Internet Explorer: completion_type=iframe through /.auth/login/iframereceiver', async () => {
      const a = await signedIn('sdk-iframe-user', { userAgent: IE11_USER_AGENT });
      assertUser(a.user, 'login');
      const start = a.requests.find((u) => u.startsWith(`${site}/.auth/login/testidp?`));
      assert.equal(new URL(start).searchParams.get('completion_type'), 'iframe');
      const receiver = a.responses.find((r) => r.url.startsWith(`${site}/.auth/login/iframereceiver?`));
      assert.ok(receiver, `the SDK made no receiver frame: ${a.requests.join('\n')}`);
      assert.equal(receiver.status, 200);
      assert.equal(new URL(receiver.url).searchParams.get('completion_origin'), app.origin);
      // the page heard it from the receiver frame (this site's origin), not from the popup
      const delivered = await a.page.evaluate(() => window.received);
      assert.equal(delivered.length, 1, JSON.stringify(delivered));
      assert.equal(delivered[0].origin, site);
      assertEcho(await callEcho(a.page), 'sdk-iframe-user', 'invokeApi with the token');
      await a.context.close();
    });

    it('a page on a site no allow-list names: the login is refused (400), nothing is delivered', async () => {
      for (const userAgent of [undefined, IE11_USER_AGENT]) {
        const what = userAgent ? 'iframe' : 'postMessage';
        const a = await openApp(stranger.origin, { userAgent });
        const { popup, outcome } = await startLogin(a.page);
        await popup.waitForLoadState('load');
        const start = a.responses.find((r) => r.url.startsWith(`${site}/.auth/login/testidp?`));
        assert.ok(start, `${what}: ${a.requests.join('\n')}`);
        assert.equal(new URL(start.url).searchParams.get('completion_origin'), stranger.origin, what);
        assert.equal(start.status, 400, what);
        if (userAgent) {
          const receiver = a.responses.find((r) => r.url.startsWith(`${site}/.auth/login/iframereceiver?`));
          assert.equal(receiver?.status, 400, `${what}: the receiver frame is refused too`);
        }
        assert.ok(!a.requests.some((u) => u.startsWith(s.idp.issuer)), `${what}: the IdP was reached`);
        // the user gives up: the SDK sees its popup closed and rejects; no message ever came
        await popup.close();
        const result = await outcome;
        assert.deepEqual({ ok: result.ok, error: result.error }, { ok: false, error: 'canceled' }, what);
        assert.deepEqual(await a.page.evaluate(() => window.received), [], what);
        assert.equal(await a.page.evaluate(() => window.client.currentUser), null, what);
        await a.context.close();
      }
      assert.match(s.logs(), /completion_origin .*127\.0\.0\.3.* is not this site nor an allowed origin/);
    });

    it('the user cancels at the provider (access_denied): the login rejects with the error', async () => {
      const a = await openApp(app.origin);
      const { popup, outcome } = await startLogin(a.page);
      await popup.waitForURL((u) => u.origin === new URL(s.idp.issuer).origin);
      await popup.click('text=[ Cancel ]');
      const result = await outcome;
      assert.equal(result.ok, false, JSON.stringify(result));
      assert.match(result.error, /access_denied/, JSON.stringify(result));
      await closedBySdk(popup);
      assert.ok(
        a.requests.some((u) => u.startsWith(`${site}/.auth/login/testidp/callback?`) && new URL(u).searchParams.get('error') === 'access_denied'),
        'the provider answered access_denied',
      );
      assert.equal(await a.page.evaluate(() => window.client.currentUser), null);
      await a.context.close();
    });

    it('a callback whose state does not match the login: the login rejects with the error', async () => {
      const a = await openApp(app.origin);
      // the provider's answer comes back naming another login's state: the login's redirect
      // to the provider (with its login-state cookie) is sent straight back to the callback
      // (a route sees only the first request of a redirect chain)
      await a.context.route(
        (url) => url.href.startsWith(`${site}/.auth/login/testidp?`),
        async (route) => {
          const started = await route.fetch({ maxRedirects: 0 });
          assert.equal(started.status(), 302);
          const state = new URL(started.headers().location).searchParams.get('state');
          const other = `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`;
          const back = `${site}/.auth/login/testidp/callback?code=some-code&state=${encodeURIComponent(other)}`;
          await route.fulfill({ response: started, headers: { ...started.headers(), location: back } });
        },
      );
      const { popup, outcome } = await startLogin(a.page);
      const result = await outcome;
      assert.deepEqual({ ok: result.ok, error: result.error }, { ok: false, error: 'Sign-in state mismatch.' });
      await closedBySdk(popup);
      assert.match(s.logs(), /callback: state does not match the login/);
      assert.equal(await a.page.evaluate(() => window.client.currentUser), null);
      await a.context.close();
    });

    it('client.login(<session token>) (loginWithMobileServiceToken, POST /.auth/login): the same user; forged or expired 401', async () => {
      const first = await signedIn('sdk-revalidate-user');
      const token = first.user.mobileServiceAuthenticationToken;
      await first.context.close();

      const a = await openApp(app.origin);
      const ok = await a.page.evaluate(`(${OUTCOME})(window.client.login(${JSON.stringify(token)}))`);
      assert.ok(ok.ok, JSON.stringify(ok));
      assert.ok(a.requests.includes(`${site}/.auth/login`), a.requests.join('\n'));
      assert.equal(ok.value.userId, first.user.userId);
      assert.equal(ok.value.mobileServiceAuthenticationToken, token);
      assertEcho(await callEcho(a.page), 'sdk-revalidate-user', 'invokeApi after re-validation');

      const [head, body, sig] = token.split('.');
      const forged = `${head}.${body}.${sig.slice(0, -4)}${sig.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
      const origin = site;
      const expired = signJwt(
        { sub: 'sdk-expired-user', iss: `${origin}/`, aud: `${origin}/`, exp: nowSec() - 600, iat: nowSec() - 4200 },
        { alg: 'HS256', key: Buffer.from(s.env.WEBSITE_AUTH_SIGNING_KEY, 'hex') },
      );
      for (const [what, bad] of [['forged', forged], ['expired', expired]]) {
        const b = await openApp(app.origin);
        const out = await b.page.evaluate(`(${OUTCOME})(window.client.login(${JSON.stringify(bad)}))`);
        assert.equal(out.ok, false, `${what}: ${JSON.stringify(out)}`);
        assert.equal(out.status, 401, `${what}: ${JSON.stringify(out)}`);
        assert.equal(await b.page.evaluate(() => window.client.currentUser), null, what);
        await b.context.close();
      }
      await a.context.close();
    });
  });
}
