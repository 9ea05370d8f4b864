// Cookie sessions in a real Chromium: the refresh grace window (issue 7 item 6), the
// ezauth.cookieSameSite values, and response_mode=form_post from a provider on another site
// (issue 7 item 7).
//
// The clock: short real lifetimes, not a faked one. `cookieExpiration.timeToExpiration` of a
// few seconds and a fractional `tokenRefreshExtensionHours`; the test waits (polling, bounded)
// until the server says the session expired, or until Chromium dropped the cookie, and asserts
// only what it then observes; no assertion depends on how long anything took. The window
// before refresh is two minutes, far more than the few requests inside it need.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { launchChromium, passIdp, skipWithoutBrowser as skip } from './lib/browser.js';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { Client } from './lib/http.js';
import { signIn } from './lib/flow.js';
import { startTlsTerminator } from './lib/tls-terminator.js';

const hosts = await hostsUnderTest();
const SESSION = 'AppServiceAuthSession';
const POLL_MS = 250;
const POLL_LIMIT = 240; // 60 s at most

async function echoJson(page) {
  return JSON.parse(await page.locator('body').innerText());
}

/** Polls `probe` until it returns a truthy value (bounded). */
async function until(what, probe) {
  for (let i = 0; i < POLL_LIMIT; i += 1) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`never happened: ${what}`);
}

/** fetch() from the page (mode cors: the module answers 401, never a redirect). */
function pageFetch(page, path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p, { credentials: 'same-origin' });
    return { status: r.status, body: await r.text() };
  }, path);
}

/** Every Set-Cookie the page's responses carried, by URL path. */
function recordSetCookies(page) {
  const seen = [];
  page.on('response', async (res) => {
    try {
      const v = await res.headerValue('set-cookie');
      if (v) for (const line of v.split('\n')) seen.push({ path: new URL(res.url()).pathname, line });
    } catch {
      // the page navigated away before the headers were read
    }
  });
  return seen;
}

async function signInWithChromium(page, s, target = '/hello', login = 'cookie-user') {
  // prompt=consent: the test IdP grants offline_access (a refresh token) only with consent
  await page.goto(s.at(`/.auth/login/${s.provider}?prompt=consent&post_login_redirect_uri=${encodeURIComponent(target)}`));
  await passIdp(page, s.origin, login);
  await page.waitForURL((u) => u.href === s.at(target));
  const echo = await echoJson(page);
  assert.equal(echo.headers['x-ms-client-principal-id'], login);
}

const sessionCookie = async (context, s) => (await context.cookies(s.url)).find((c) => c.name === SESSION);

for (const host of hosts) {
  describe(`browser cookies: the refresh grace window [${host.name}]`, { skip }, () => {
    let browser;
    before(async () => {
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
    });

    it('past expiry: not signed in, Chromium keeps and sends the cookie, /.auth/refresh renews it, signed in again', async () => {
      const s = await startStack(host, {
        action: 'Return401',
        configure: (cfg) => {
          cfg.login.cookieExpiration = { convention: 'FixedTime', timeToExpiration: '00:00:03' };
          cfg.login.tokenStore.tokenRefreshExtensionHours = 120 / 3600;
        },
      });
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const setCookies = recordSetCookies(page);
        await signInWithChromium(page, s);
        // The browser lifetime is the session's 3 s plus the 120 s window.
        const written = setCookies.find((c) => c.line.startsWith(`${SESSION}=`) && !c.line.startsWith(`${SESSION}=;`));
        assert.ok(written, JSON.stringify(setCookies));
        assert.match(written.line, /Max-Age=123;/);
        assert.ok(await sessionCookie(context, s));

        // Wait until the server says the session expired: fetch answers 401.
        const expired = await until('the session expired', async () => {
          const r = await pageFetch(page, '/hello');
          return r.status === 401 ? r : null;
        });
        assert.equal(expired.status, 401, expired.body);
        // Chromium still holds it, and nothing deleted it.
        const held = await sessionCookie(context, s);
        assert.ok(held, 'Chromium dropped the session cookie at the session expiry');
        assert.ok(!setCookies.some((c) => c.line.startsWith(`${SESSION}=;`)), JSON.stringify(setCookies));
        // A navigation to a protected page: 401 (Return401 here; the Rust tests cover
        // RedirectToLoginPage, where Chromium would follow the provider's redirect and sign in
        // afresh), and again the cookie is neither deleted nor dropped.
        const nav = await page.goto(s.at('/hello'));
        assert.equal(nav.status(), 401, await page.content());
        assert.ok(await sessionCookie(context, s), 'the 401 deleted the cookie');

        // /.auth/refresh from the app's page: the cookie is sent, accepted, and renewed.
        await page.goto(s.at('/public/page'));
        const refreshed = await pageFetch(page, '/.auth/refresh');
        assert.equal(refreshed.status, 200, `${refreshed.body}\n${s.logs().slice(-2000)}`);
        const renewed = await sessionCookie(context, s);
        assert.notEqual(renewed.value, held.value, 'the refresh did not renew the session cookie');
        await page.goto(s.at('/hello'));
        assert.equal((await echoJson(page)).headers['x-ms-client-principal-id'], 'cookie-user');
      } finally {
        await context.close();
        await s.stop();
      }
    });

    it('past the grace window: Chromium has dropped the cookie, and the server refuses it too (401)', async () => {
      const s = await startStack(host, {
        configure: (cfg) => {
          cfg.login.cookieExpiration = { convention: 'FixedTime', timeToExpiration: '00:00:02' };
          cfg.login.tokenStore.tokenRefreshExtensionHours = 2 / 3600;
        },
      });
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await signInWithChromium(page, s, '/hello', 'late-user');
        const held = await sessionCookie(context, s);
        assert.ok(held);
        await until('Chromium dropped the cookie', async () => !(await sessionCookie(context, s)));
        await page.goto(s.at('/public/page'));
        assert.equal((await pageFetch(page, '/.auth/refresh')).status, 401);
        // The same cookie put back (a copy kept elsewhere): the server's window is over too.
        await context.addCookies([{ ...held, expires: -1 }]);
        assert.ok(await sessionCookie(context, s));
        const r = await pageFetch(page, '/.auth/refresh');
        assert.equal(r.status, 401, r.body);
      } finally {
        await context.close();
        await s.stop();
      }
    });
  });

  describe(`browser cookies: ezauth.cookieSameSite [${host.name}]`, { skip }, () => {
    let browser;
    before(async () => {
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
    });

    for (const value of [undefined, 'Lax', 'Strict']) {
      it(`${value ?? 'default'}: Chromium signs in, holds SameSite=${value ?? 'Lax'}, and lands signed in`, async () => {
        // The provider on another site, as in production: the sign-in comes back through a
        // cross-site navigation (on 127.0.0.1 with another port it would be same-site).
        const s = await startStack(host, {
          idpHost: '127.0.0.2',
          configure: (cfg) => {
            if (value) cfg.ezauth = { ...cfg.ezauth, cookieSameSite: value };
          },
        });
        const context = await browser.newContext();
        try {
          const page = await context.newPage();
          // Strict: the first page after the provider's cross-site redirect chain must carry
          // the Strict cookie (the callback's same-origin landing page sees to it).
          await signInWithChromium(page, s, '/hello?same-site=1', `samesite-${(value ?? 'default').toLowerCase()}`);
          const held = await sessionCookie(context, s);
          assert.equal(held.sameSite, value ?? 'Lax');
          // A cross-site POST carrying the session cookie is refused (CSRF check).
          const r = await new Client({ headers: {} }).request(s.at('/api/transfer'), {
            method: 'POST',
            body: 'amount=1',
            headers: { cookie: `${SESSION}=${held.value}`, 'sec-fetch-site': 'cross-site', origin: 'http://127.0.0.2:1' },
          });
          assert.equal(r.status, 403, r.describe());
        } finally {
          await context.close();
          await s.stop();
        }
      });
    }

    it('None (behind a TLS terminator): every cookie SameSite=None; Secure; CSRF still refuses cross-site POSTs', async () => {
      const s = await startStack(host, {
        callbackOrigins: (port) => [`https://127.0.0.1:${port}`],
        configure: (cfg) => {
          cfg.httpSettings = { requireHttps: true, forwardProxy: { convention: 'Standard' } };
          cfg.ezauth = { ...cfg.ezauth, cookieSameSite: 'None' };
        },
      });
      try {
        const APP = `https://127.0.0.1:${s.port}`;
        const c = new Client({ tlsTerminated: true });
        const out = await signIn(c, APP, { login: 'none-user', expectSuccess: false });
        assert.equal(out.response.status, 302, out.response.describe());
        const all = [...(out.start?.setCookies || []), ...out.response.setCookies];
        assert.ok(all.length >= 3, out.response.describe());
        for (const k of all) assert.ok(/; SameSite=None/.test(k.raw) && k.secure, k.raw);
        const session = c.jar.get(SESSION, `${APP}/`);
        assert.ok(session?.value);
        const me = await c.get(`${APP}/.auth/me`);
        assert.equal(me.status, 200, me.describe());
        const r = await c.request(`${APP}/api/transfer`, {
          method: 'POST',
          body: 'amount=1',
          headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
        });
        assert.equal(r.status, 403, r.describe());
      } finally {
        await s.stop();
      }
    });

    it('None without requireHttps: the host refuses to start, naming the setting', async () => {
      await assert.rejects(
        startStack(host, { idp: 'none', configure: (cfg) => { cfg.ezauth = { ...cfg.ezauth, cookieSameSite: 'None' }; } }),
        /cookieSameSite/,
      );
    });
  });

  describe(`browser cookies: another site's link, form and iframe, behind a TLS terminator [${host.name}]`, { skip }, () => {
    let browser;
    before(async () => {
      browser = await launchChromium({ args: ['--ignore-certificate-errors'] });
    });
    after(async () => {
      await browser?.close();
    });

    // The app at https://127.0.0.1:TLS (TLS terminated in front of the host), the provider on
    // 127.0.0.2, and another site's page on http://127.0.0.2 that links to the app, posts a
    // form to it and frames it. What Chromium sends, per SameSite value:
    //   top-level link (GET)      Lax, None: the cookie (signed in)  Strict: none (401)
    //   top-level form POST       None: the cookie -> the CSRF check answers 403
    //                             Lax, Strict: none (401, Return401 here)
    //   iframe                    Lax, Strict: none. None: the cookie, where the browser allows
    //                             third-party cookies (it says so: Sec-Fetch-Storage-Access)
    const EXPECT = {
      None: { link: 200, post: 403 },
      Lax: { link: 200, post: 401 },
      Strict: { link: 401, post: 401 },
    };
    for (const [value, expect] of Object.entries(EXPECT)) {
      it(`${value}: a link from another site ${expect.link === 200 ? 'arrives signed in' : 'arrives signed out'}; its form POST gets ${expect.post}; its iframe follows the browser's third-party cookie policy`, async (t) => {
        const tls = await startTlsTerminator();
        let s;
        const context = await browser.newContext({ ignoreHTTPSErrors: true });
        let embedder;
        try {
          s = await startStack(host, {
            idpHost: '127.0.0.2',
            action: 'Return401',
            callbackOrigins: () => [tls.origin],
            configure: (cfg) => {
              cfg.httpSettings = { requireHttps: true, forwardProxy: { convention: 'Standard' } };
              cfg.ezauth = { ...cfg.ezauth, cookieSameSite: value };
            },
          });
          tls.setUpstream(s.port);
          const app = { ...s, origin: tls.origin, at: (p) => new URL(p, tls.origin).href };
          const page = await context.newPage();
          const login = `site-${value.toLowerCase()}`;
          await signInWithChromium(page, app, '/hello', login);
          const held = await sessionCookie(context, app);
          assert.equal(held.sameSite, value);
          assert.equal(held.secure, true);

          // The other site's page, served from 127.0.0.2 (a real server: Chromium's local
          // network access checks then see a loopback page reaching a loopback app, as a
          // public page reaching a public app would in production).
          embedder = http.createServer((req, res) => {
            res.writeHead(200, { 'content-type': 'text/html' });
            res.end(req.url === '/frame'
              ? `<!DOCTYPE html><iframe src="${tls.origin}/hello?framed=1"></iframe>`
              : `<!DOCTYPE html><a id="a" href="${tls.origin}/hello?linked=1">app</a>
                 <form id="f" method="post" action="${tls.origin}/api/transfer"><input name="amount" value="1"></form>`);
          });
          embedder.listen(0, '127.0.0.2');
          await once(embedder, 'listening');
          const other = `http://127.0.0.2:${embedder.address().port}`;

          await page.goto(`${other}/`);
          const [linked] = await Promise.all([page.waitForNavigation(), page.click('#a')]);
          assert.equal(linked.status(), expect.link, await page.content());
          if (expect.link === 200) assert.equal((await echoJson(page)).headers['x-ms-client-principal-id'], login);

          await page.goto(`${other}/`);
          const [posted] = await Promise.all([
            page.waitForResponse((r) => r.url().endsWith('/api/transfer')),
            page.evaluate(() => document.getElementById('f').submit()),
          ]);
          assert.equal(posted.status(), expect.post, await posted.text());

          let framedRequest = null;
          page.on('request', (r) => {
            if (r.url().includes('framed=1')) framedRequest = r;
          });
          await page.goto(`${other}/frame`);
          const frame = await until('the iframe loaded', async () => {
            const f = page.frames().find((x) => x.url().includes('framed=1'));
            if (!f) return null;
            await f.waitForLoadState('load');
            return f;
          });
          const text = await frame.locator('body').innerText();
          const sent = await framedRequest.allHeaders();
          if (value === 'None' && sent['sec-fetch-storage-access'] !== 'none') {
            assert.equal(JSON.parse(text).headers['x-ms-client-principal-id'], login, text);
          } else {
            if (value === 'None') t.diagnostic('this Chromium blocks third-party cookies (Sec-Fetch-Storage-Access: none): the framed app cannot see its session');
            assert.ok(!/AppServiceAuthSession/.test(sent.cookie || ''), JSON.stringify(sent));
            assert.match(text, /not signed in/, text);
          }
        } finally {
          await context.close();
          embedder?.close();
          await s?.stop();
          await tls.close();
        }
      });
    }
  });

  describe(`browser: response_mode=form_post from a provider on another site [${host.name}]`, { skip }, () => {
    let browser;
    let s;
    before(async () => {
      browser = await launchChromium();
      s = await startStack(host, {
        idpHost: '127.0.0.2',
        configure: (cfg) => {
          cfg.identityProviders.customOpenIdConnectProviders.testidp.login.loginParameters = ['response_mode=form_post'];
        },
      });
    });
    after(async () => {
      await browser?.close();
      await s?.stop();
    });

    for (const provider of ['testidp', 'aad']) {
      it(`${provider}: the IdP on 127.0.0.2 posts the code cross-site; the re-post page completes the sign-in`, async () => {
        const st = provider === 'testidp' ? s : await startStack(host, {
          provider: 'aad',
          idpHost: '127.0.0.2',
          configure: (cfg) => {
            cfg.identityProviders.azureActiveDirectory.login.loginParameters.push('response_mode=form_post');
          },
        });
        assert.equal(new URL(st.idp.issuer).hostname, '127.0.0.2');
        const context = await browser.newContext();
        try {
          const page = await context.newPage();
          const callbacks = [];
          page.on('request', (req) => {
            if (new URL(req.url()).pathname.endsWith('/callback')) callbacks.push({ method: req.method(), body: req.postData() || '' });
          });
          await signInWithChromium(page, st, '/hello?form-post=1', `form-post-${provider}`);
          // Two POSTs: the provider's (cross-site, without the Lax login cookie) and ours.
          assert.deepEqual(callbacks.map((c) => c.method), ['POST', 'POST'], JSON.stringify(callbacks));
          assert.ok(!callbacks[0].body.includes('ezauth_reposted'));
          assert.ok(callbacks[1].body.includes('ezauth_reposted=1'));
          const held = await sessionCookie(context, st);
          assert.equal(held.sameSite, 'Lax');
          assert.match(st.logs(), /form_post from .* re-posting it from this origin/);
        } finally {
          await context.close();
          if (st !== s) await st.stop();
        }
      });
    }

    it('HTTP level: a cross-site post without the cookie gets the re-post page; re-posted again without it, 400; tampered state, 400', async () => {
      const c = new Client();
      const start = await c.get(s.at('/.auth/login/testidp'));
      assert.equal(start.status, 302, start.describe());
      const state = new URL(start.location).searchParams.get('state');
      assert.equal(new URL(start.location).searchParams.get('response_mode'), 'form_post');
      const cross = { 'sec-fetch-site': 'cross-site', origin: new URL(s.idp.issuer).origin };
      const page = await c.request(s.at('/.auth/login/testidp/callback'), {
        form: { code: '"><script>alert(1)</script>', state },
        cookies: false,
        headers: cross,
      });
      assert.equal(page.status, 200, page.describe());
      assert.equal(page.headers.get('x-frame-options'), 'DENY');
      assert.match(page.headers.get('content-security-policy'), /frame-ancestors 'none'/);
      assert.ok(page.text.includes('&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;'));
      assert.equal(page.text.split('<script').length - 1, 1);
      const again = await c.request(s.at('/.auth/login/testidp/callback'), {
        form: { code: 'c', state, ezauth_reposted: '1' },
        cookies: false,
        headers: { 'sec-fetch-site': 'same-origin', origin: s.origin },
      });
      assert.equal(again.status, 400, again.describe());
      const tampered = await c.request(s.at('/.auth/login/testidp/callback'), {
        form: { code: 'c', state: `${state.slice(0, 16)}${'A'.repeat(state.length - 16)}` },
        headers: { 'sec-fetch-site': 'same-origin', origin: s.origin },
      });
      assert.equal(tampered.status, 400, tampered.describe());
    });
  });
}
