// browser: the same sign-in, in a real headless Chromium (see lib/browser.js).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { launchChromium, skipWithoutBrowser as skip } from './lib/browser.js';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { decodePrincipal } from './lib/flow.js';
import { RUN_DIR } from './lib/paths.js';

const hosts = await hostsUnderTest();

async function echoJson(page) {
  const text = await page.locator('body').innerText();
  return JSON.parse(text);
}

for (const host of hosts) {
  describe(`browser sign-in [${host.name}]`, { skip }, () => {
    let s;
    let browser;
    before(async () => {
      browser = await launchChromium();
      s = await startStack(host);
    });
    after(async () => {
      await browser?.close();
      await s?.stop();
    });

    it('a protected page → IdP login form → consent → back on the page as the user; /.auth/me; logout', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(s.at('/hello?from=browser'));
      // oidc-provider's devInteractions login form
      assert.equal(new URL(page.url()).origin, new URL(s.idp.issuer).origin, `not at the IdP: ${page.url()}`);
      await page.fill('input[name=login]', 'browser-user');
      await page.fill('input[name=password]', 'any password');
      await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
      // consent
      if (new URL(page.url()).origin !== s.origin) {
        await Promise.all([page.waitForURL((u) => u.origin === s.origin || String(u).startsWith(s.origin)), page.click('button[type=submit]')]);
      }
      assert.equal(page.url(), s.at('/hello?from=browser'));
      const echo = await echoJson(page);
      assert.equal(echo.headers['x-ms-client-principal-id'], 'browser-user');
      assert.equal(echo.headers['x-ms-client-principal-name'], 'User browser-user');
      assert.equal(decodePrincipal(echo.headers['x-ms-client-principal']).auth_typ, 'testidp');

      const cookies = await context.cookies(s.url);
      const session = cookies.find((c) => c.name === 'AppServiceAuthSession');
      assert.ok(session, `the browser kept no session cookie: ${cookies.map((c) => c.name)}`);
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Lax');
      // scripts cannot read it
      assert.ok(!(await page.evaluate(() => document.cookie)).includes('AppServiceAuthSession'));

      fs.mkdirSync(RUN_DIR, { recursive: true });
      await page.screenshot({ path: path.join(RUN_DIR, `browser-${host.name}-signed-in.png`) });

      // fetch() from the page: same-origin, cookie-authenticated, answered by the app
      const viaFetch = await page.evaluate(async () => {
        const r = await fetch('/api/data', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
        return { status: r.status, body: await r.text() };
      });
      assert.equal(viaFetch.status, 200, viaFetch.body);
      assert.equal(JSON.parse(viaFetch.body).headers['x-ms-client-principal-id'], 'browser-user');

      // /.auth/me from the page's JavaScript, as a single-page app calls it
      const meViaFetch = await page.evaluate(async () => {
        const r = await fetch('/.auth/me');
        return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
      });
      assert.equal(meViaFetch.status, 200, meViaFetch.body);
      assert.match(meViaFetch.type || '', /application\/json/);
      const meJs = JSON.parse(meViaFetch.body);
      assert.ok(Array.isArray(meJs) && meJs.length === 1, meViaFetch.body);
      assert.equal(meJs[0].provider_name, 'testidp');
      assert.equal(typeof meJs[0].user_id, 'string');
      assert.ok(meJs[0].access_token && meJs[0].id_token, 'tokens missing from /.auth/me');
      assert.ok(meJs[0].user_claims.some((c) => c.val === 'User browser-user'), meViaFetch.body);

      await page.goto(s.at('/.auth/me'));
      const me = await echoJson(page);
      assert.equal(me[0].provider_name, 'testidp');

      await page.goto(s.at('/.auth/logout'));
      assert.equal(new URL(page.url()).pathname, '/.auth/logout/complete');
      const after = await context.cookies(s.url);
      assert.equal(after.find((c) => c.name === 'AppServiceAuthSession'), undefined, 'logout left the session cookie');
      const res = await page.request.get(s.at('/.auth/me'), { maxRedirects: 0 });
      assert.equal(res.status(), 401);
      await context.close();
    });

    it('with preserveUrlFragmentsForLogins the #fragment survives the sign-in', async () => {
      const keep = await startStack(host, {
        configure: (cfg) => {
          cfg.login = { ...cfg.login, preserveUrlFragmentsForLogins: true };
          return cfg;
        },
      });
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(keep.at('/docs/page?x=1#section-2'));
        await page.waitForURL((u) => u.origin === new URL(keep.idp.issuer).origin);
        await page.fill('input[name=login]', 'fragment-user');
        await page.fill('input[name=password]', 'any password');
        await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
        if (new URL(page.url()).origin !== keep.origin) {
          await Promise.all([page.waitForURL((u) => u.origin === keep.origin), page.click('button[type=submit]')]);
        }
        assert.equal(page.url(), keep.at('/docs/page?x=1#section-2'));
        assert.equal((await echoJson(page)).headers['x-ms-client-principal-id'], 'fragment-user');
      } finally {
        await context.close();
        await keep.stop();
      }
    });
  });
}
