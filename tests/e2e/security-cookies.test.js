// security-cookies: cookie tossing (the second audit, item 3), on each host with the real
// oidc-provider. The app lives at app.example.test (mapped to 127.0.0.1, as Chromium's
// --host-resolver-rules would); a sibling, evil.example.test, plants cookies with
// `Domain=example.test` and any `Path`: the victim's jar receives exactly the Set-Cookie a
// browser would get from the sibling, and sends back what a browser would (longer paths first,
// then older first). Checked:
//   - a junk part (junk duplicate or extra part, `Domain=`, `Path=`) never fails a good session,
//     and the next response deletes it;
//   - the attacker's own valid session planted beside the victim's: never signed in as the
//     attacker, in any order (refused as ambiguous, every variant deleted), and the victim is
//     back in with at most one more trip to the provider;
//   - junk planted before the sign-in: one trip to the provider, no loop; a browser that does
//     not send the session cookie back, or a sibling that plants again after every page, ends
//     on the "did not stick" page after one trip;
//   - logout deletes the `Domain=` variants (and `Path=` variants of a duplicate);
//   - `ezauth.cookies.hostPrefix`: `__Host-` cookies through sign-in, /.auth/me and logout
//     behind a TLS-terminating proxy, unprefixed plants ignored; refused on plain http;
//   - (last block) the same sibling in a real headless Chromium.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { Client, CookieJar, isCookieDeletion } from './lib/http.js';
import { signIn, deliverCallback } from './lib/flow.js';
import { echoOf, assertRedirectToIdp, XHR, eventually } from './lib/common.js';
import { launchChromium, passIdp, skipWithoutBrowser } from './lib/browser.js';
import { closerFor } from './lib/ports.js';

const hosts = await hostsUnderTest();

const APP_HOST = 'app.example.test';
const EVIL = 'http://evil.example.test/';
const RESOLVE = { [APP_HOST]: '127.0.0.1', 'evil.example.test': '127.0.0.1' };
const SESSION = 'AppServiceAuthSession';

/** What the sibling answers to plant a cookie in the victim's browser. */
function plant(jar, name, value, { path = '/', domain = 'example.test', from = EVIL } = {}) {
  const set = `${name}=${value}; Domain=${domain}; Path=${path}; Max-Age=3600`;
  const refused = jar.rejected.length;
  jar.setFromHeader(set, from);
  assert.equal(jar.rejected.length, refused, `the jar refused ${set.slice(0, 80)} from ${from}`);
}

/** The planted (`Domain=`) cookies still in the jar. */
function plantedLeft(jar) {
  return [...jar.cookies.values()].filter((c) => c.hostOnly === false).map((c) => `${c.name}@${c.domain}${c.path}`);
}

const junk = (len) => 'Ab0-_z'.repeat(Math.ceil(len / 6)).slice(0, len);

function principalId(res) {
  return echoOf(res).headers['x-ms-client-principal-id'];
}

/** Follows a browser's navigation from `url`, counting trips to the provider's authorize endpoint. */
async function navigate(c, s, url, { login, max = 12 } = {}) {
  const idpOrigin = new URL(s.idp.issuer).origin;
  const before = s.idp.counters.authorize;
  let res = await c.get(url);
  for (let i = 0; i < max && res.status >= 300 && res.status < 400 && res.location; i += 1) {
    if (new URL(res.location).origin === idpOrigin) {
      // at the provider: sign in (or pass straight through with the provider's session)
      const out = await signIn(c, url, { fromIdp: res.location, login, expectSuccess: false, stopAtCallback: true });
      res = await deliverCallback(c, out.callback);
      continue;
    }
    res = await c.get(res.location);
  }
  return { res, trips: s.idp.counters.authorize - before };
}

for (const host of hosts) {
  describe(`security: cookie tossing [${host.name}]`, () => {
    let s;
    let APP;
    let attackerSession;
    before(async () => {
      s = await startStack(host, { callbackOrigins: (port) => [`http://${APP_HOST}:${port}`] });
      APP = `http://${APP_HOST}:${s.port}`;
      const attacker = client();
      await signIn(attacker, APP, { login: 'mallory' });
      attackerSession = attacker.jar.get(SESSION, `${APP}/`).value;
    });
    after(async () => {
      await s?.stop();
    });

    const client = (jar) => new Client({ resolve: RESOLVE, ...(jar ? { jar } : {}) });
    const at = (p) => `${APP}${p}`;

    /** A victim signed in as `login`. */
    async function victim(login) {
      const c = client();
      await signIn(c, APP, { login });
      assert.equal(principalId(await c.get(at('/app/page'))), login);
      return c;
    }

    it('control: the attacker alone is the attacker, the victim alone the victim', async () => {
      const c = client();
      plant(c.jar, SESSION, attackerSession);
      assert.equal(principalId(await c.get(at('/app/page'))), 'mallory');
      await victim('alice-control');
    });

    const JUNK = {
      'junk part 1 (Domain=, Path=/)': [[`${SESSION}1`, junk(40)]],
      'junk part 1 of a part\'s full size': [[`${SESSION}1`, junk(3800)]],
      'junk base (Domain=, Path=/)': [[SESSION, junk(40)]],
      'junk base at /app (sent first)': [[SESSION, junk(40), { path: '/app' }]],
      'junk base at /app/page (sent first)': [[SESSION, junk(3800), { path: '/app/page' }]],
      'junk base not base64url': [[SESSION, '%%%!!!']],
      'junk base and part 1 at /app': [[SESSION, junk(3800), { path: '/app' }], [`${SESSION}1`, junk(20), { path: '/app' }]],
      'junk parts 1 to 7': [1, 2, 3, 4, 5, 6, 7].map((i) => [`${SESSION}${i}`, junk(30 + i)]),
      'the attacker\'s session as part 1': [[`${SESSION}1`, 'ATTACKER']],
    };

    for (const [what, cookies] of Object.entries(JUNK)) {
      it(`${what}: the victim stays signed in, and the response deletes the plant`, async () => {
        const c = await victim('alice-junk');
        for (const [name, value, opts] of cookies) plant(c.jar, name, value === 'ATTACKER' ? attackerSession : value, opts);
        const sent = c.jar.header(at('/app/page'));
        assert.equal(sent.split('; ').filter((p) => p.startsWith(SESSION)).length, 1 + cookies.length, sent);
        const res = await c.get(at('/app/page'));
        assert.equal(principalId(res), 'alice-junk', `${what}: ${res.describe()}`);
        const deletes = res.setCookies.filter((k) => isCookieDeletion(k) && k.domain === 'example.test');
        assert.ok(deletes.length > 0, `no Domain= deletions: ${res.headers.getSetCookie().join(' | ')}`);
        assert.ok(
          !res.setCookies.some((k) => isCookieDeletion(k) && !k.domain && k.name === SESSION),
          "the victim's own cookie was deleted",
        );
        assert.deepEqual(plantedLeft(c.jar), [], 'the response did not delete every plant');
        assert.equal(principalId(await c.get(at('/app/page'))), 'alice-junk');
      });
    }

    const FIXATION = {
      'planted at Path=/ after the sign-in (sent after the victim\'s)': { path: '/' },
      'planted at Path=/app (sent first)': { path: '/app' },
      'planted at Path=/app/ (sent first)': { path: '/app/' },
      'planted at Path=/app/page (sent first)': { path: '/app/page' },
      'planted at Domain=app.example.test (from a host below)': { domain: APP_HOST, from: `http://x.${APP_HOST}/` },
    };

    for (const [what, opts] of Object.entries(FIXATION)) {
      it(`the attacker's valid session ${what}: never the attacker; refused, then the victim again`, async () => {
        const c = await victim('alice-fix');
        plant(c.jar, SESSION, attackerSession, opts);
        const xhr = await client(c.jar.clone()).get(at('/app/page'), { headers: XHR });
        assert.equal(xhr.status, 401, `XHR: ${xhr.describe()}`);
        const res = await c.get(at('/app/page'));
        assert.notEqual(res.status, 200, `signed in as somebody with two sessions: ${res.describe()}`);
        assertRedirectToIdp(res, s, `${what}:`);
        assert.deepEqual(plantedLeft(c.jar), [], 'the refusal did not delete every plant');
        // the browser goes on to sign in: straight through at the provider, back as the victim
        const { res: end, trips } = await navigate(c, s, at('/app/page'), { login: 'alice-fix' });
        assert.equal(principalId(end), 'alice-fix', end.describe());
        assert.equal(trips, 1, `trips to the provider: ${trips}`);
      });
    }

    it('raw Cookie headers in every order of victim, attacker and junk: the victim or refused, never the attacker', async () => {
      const c = await victim('alice-raw');
      const mine = c.jar.get(SESSION, at('/')).value;
      const items = [`${SESSION}=${mine}`, `${SESSION}=${attackerSession}`, `${SESSION}1=${junk(30)}`, `${SESSION}=${junk(50)}`];
      let orders = 0;
      for (const order of permutations(items)) {
        for (const subset of [order, order.filter((p) => !p.includes(attackerSession))]) {
          if (!subset.some((p) => p.includes(mine))) continue;
          const r = await client().get(at('/app/page'), { headers: { cookie: subset.join('; ') } });
          const withAttacker = subset.some((p) => p.includes(attackerSession));
          if (withAttacker) {
            assertRedirectToIdp(r, s, `refused: ${subset.map((p) => p.slice(0, 26)).join(', ')}`);
          } else {
            assert.equal(principalId(r), 'alice-raw', subset.map((p) => p.slice(0, 26)).join(', '));
          }
          orders += 1;
        }
      }
      assert.equal(orders, 48);
      assert.ok(await eventually(() => /two different sessions/.test(s.logs())), 'no log line');
    });

    it('junk planted before the sign-in: one trip to the provider, no loop', async () => {
      const c = client();
      plant(c.jar, SESSION, junk(3800), { path: '/app' });
      plant(c.jar, `${SESSION}1`, junk(40));
      plant(c.jar, SESSION, junk(30));
      const { res, trips } = await navigate(c, s, at('/app/page'), { login: 'alice-early' });
      assert.equal(principalId(res), 'alice-early', res.describe());
      assert.equal(trips, 1);
    });

    it('a browser that does not send the session cookie back: the "did not stick" page after one trip', async () => {
      // a jar that keeps everything but the session (cookies evicted, or blocked per name)
      class Forgetful extends CookieJar {
        setFromHeader(h, url) {
          if (/^\s*AppServiceAuthSession/.test(h)) return null;
          return super.setFromHeader(h, url);
        }
      }
      const c = client(new Forgetful());
      const mark = s.logs().length;
      const { res, trips } = await navigate(c, s, at('/app/page'), { login: 'alice-forgetful' });
      assert.equal(res.status, 400, res.describe());
      assert.match(res.text, /did not stick/);
      assert.match(res.text, /example\.test/);
      assert.equal(trips, 1, `trips to the provider: ${trips}`);
      // the host's output arrives through a pipe: wait for the line (bounded)
      assert.ok(await eventually(() => /login loop stopped/.test(s.logs().slice(mark))), 'no log line');
      // the page deleted the marker: trying again goes to the provider again (no stale page)
      assertRedirectToIdp(await c.get(at('/app/page')), s);
    });

    it('a sibling that plants again after every page: the "did not stick" page after one trip, never the attacker', async () => {
      // as if every page of the app loaded something from the sibling, which answers a plant
      class Replanted extends Client {
        async request(url, opts) {
          const res = await super.request(url, opts);
          if (new URL(url).hostname === APP_HOST) plant(this.jar, SESSION, attackerSession, { path: '/app' });
          return res;
        }
      }
      const c = new Replanted({ resolve: RESOLVE, jar: (await victim('alice-replanted')).jar });
      plant(c.jar, SESSION, attackerSession, { path: '/app' });
      const { res, trips } = await navigate(c, s, at('/app/page'), { login: 'alice-replanted' });
      assert.equal(res.status, 400, res.describe());
      assert.match(res.text, /did not stick/);
      assert.equal(trips, 1, `trips to the provider: ${trips}`);
    });

    it('a browser that keeps no cookies at all: refused at the callback, one trip', async () => {
      class Nothing extends CookieJar {
        setFromHeader(h, url) {
          return new URL(url).hostname === APP_HOST ? null : super.setFromHeader(h, url);
        }
      }
      const c = client(new Nothing());
      const { res, trips } = await navigate(c, s, at('/app/page'), { login: 'alice-nothing' });
      assert.equal(res.status, 400, res.describe());
      assert.equal(trips, 1);
    });

    it('logout deletes the Domain= variants, and the Path= variants of a duplicate', async () => {
      const c = await victim('alice-out');
      plant(c.jar, SESSION, junk(40), { path: '/.auth' });
      plant(c.jar, `${SESSION}1`, junk(40));
      const res = await c.get(at('/.auth/logout'));
      assert.equal(res.status, 302, res.describe());
      const deletes = res.setCookies.filter(isCookieDeletion).map((k) => `${k.name}@${k.domain || '(host)'}${k.path}`);
      for (const want of [
        `${SESSION}@(host)/`,
        `${SESSION}@example.test/`,
        `${SESSION}@${APP_HOST}/`,
        `${SESSION}1@example.test/`,
        `${SESSION}@example.test/.auth`,
      ]) {
        assert.ok(deletes.includes(want), `${want} not in ${deletes.join(' ')}`);
      }
      assert.ok(deletes.length <= 32, `${deletes.length} deletions`);
      assert.deepEqual(c.jar.names(at('/app/page')).filter((n) => n.startsWith('AppServiceAuth')), []);
      assert.deepEqual(plantedLeft(c.jar), []);
      assertRedirectToIdp(await c.get(at('/app/page')), s);
    });
  });

  describe(`security: __Host- cookies behind a TLS terminator [${host.name}]`, () => {
    let s;
    let APP;
    let attackerPlain;
    before(async () => {
      s = await startStack(host, {
        callbackOrigins: (port) => [`https://${APP_HOST}:${port}`],
        configure: (cfg) => {
          cfg.httpSettings = { requireHttps: true, forwardProxy: { convention: 'Standard' } };
          cfg.ezauth = { ...cfg.ezauth, appId: 'shared-app', cookies: { hostPrefix: true } };
        },
      });
      APP = `https://${APP_HOST}:${s.port}`;
      // the attacker's valid session, in App Service's name, from an app that does not use the
      // prefix (same keys and app: so it would open if it were read)
      const plain = await startStack(host, {
        keys: { encryption: s.env.WEBSITE_AUTH_ENCRYPTION_KEY, signing: s.env.WEBSITE_AUTH_SIGNING_KEY },
        callbackOrigins: (port) => [`http://${APP_HOST}:${port}`],
        configure: (cfg) => {
          cfg.ezauth = { ...cfg.ezauth, appId: 'shared-app' };
        },
      });
      try {
        const c = client();
        await signIn(c, `http://${APP_HOST}:${plain.port}`, { login: 'mallory' });
        attackerPlain = c.jar.get(SESSION, `http://${APP_HOST}:${plain.port}/`).value;
      } finally {
        await plain.stop();
      }
    });
    after(async () => {
      await s?.stop();
    });

    const client = (jar) => new Client({ resolve: RESOLVE, tlsTerminated: true, ...(jar ? { jar } : {}) });
    const at = (p) => `${APP}${p}`;

    it('sign-in, /.auth/me and logout with __Host- cookies only; unprefixed plants are ignored', async () => {
      const c = client();
      const out = await signIn(c, APP, { login: 'alice-host', expectSuccess: false });
      assert.equal(out.response.status, 302, out.response.describe());
      const written = out.response.setCookies.filter((k) => !isCookieDeletion(k));
      assert.ok(written.some((k) => k.name === `__Host-${SESSION}` && k.value), out.response.headers.getSetCookie().join(' | '));
      for (const k of out.response.setCookies) {
        assert.ok(k.name.startsWith('__Host-'), k.raw);
        assert.ok(k.secure && k.path === '/' && !k.domain, k.raw);
      }
      assert.deepEqual(c.jar.rejected, [], 'the jar refused a cookie (a browser would too)');
      assert.equal(principalId(await c.get(out.location)), 'alice-host');
      const me = await c.get(at('/.auth/me'));
      assert.equal(me.status, 200, me.describe());
      assert.match(JSON.parse(me.text)[0].user_id, /alice-host/);

      // control: the attacker's session is one this app would open, under the prefixed name
      const raw = await client(new CookieJar()).get(at('/app/page'), { headers: { cookie: `__Host-${SESSION}=${attackerPlain}` } });
      assert.equal(principalId(raw), 'mallory');

      // The sibling cannot set a `__Host-` cookie at all; its unprefixed plants are not ours.
      const before = c.jar.rejected.length;
      c.jar.setFromHeader(`__Host-${SESSION}=${attackerPlain}; Domain=example.test; Path=/; Secure`, 'https://evil.example.test/');
      assert.equal(c.jar.rejected.length, before + 1);
      plant(c.jar, SESSION, attackerPlain);
      assert.throws(() => plant(c.jar, `__Host-${SESSION}1`, 'x'), /refused/); // as a browser refuses it
      plant(c.jar, `${SESSION}1`, junk(40), { path: '/app' });
      assert.equal(principalId(await c.get(at('/app/page'))), 'alice-host');

      const out2 = await c.get(at('/.auth/logout'));
      assert.equal(out2.status, 302, out2.describe());
      assert.ok(out2.setCookies.some((k) => k.name === `__Host-${SESSION}` && isCookieDeletion(k)), out2.headers.getSetCookie().join(' | '));
      assert.ok(out2.setCookies.every((k) => k.name.startsWith('__Host-') && k.secure && !k.domain), out2.headers.getSetCookie().join(' | '));
      assert.deepEqual(c.jar.names(at('/app/page')).filter((n) => n.startsWith('__Host-')), []);
      assertRedirectToIdp(await c.get(at('/app/page')), s);
    });

    it('a lone planted session in App Service\'s name does not sign anybody in', async () => {
      const c = client();
      plant(c.jar, SESSION, attackerPlain);
      plant(c.jar, SESSION, attackerPlain, { path: '/app' });
      assertRedirectToIdp(await c.get(at('/app/page')), s);
      const xhr = await c.get(at('/.auth/me'));
      assert.equal(xhr.status, 401, xhr.describe());
    });

    it('plain http is sent to https before any cookie is written', async () => {
      const r = await new Client({ resolve: RESOLVE }).get(`http://${APP_HOST}:${s.port}/.auth/login/testidp`);
      assert.equal(r.status, 302, r.describe());
      assert.match(r.location, /^https:/);
      assert.deepEqual(r.headers.getSetCookie(), []);
    });

    it('hostPrefix without requireHttps is a startup error naming the setting', async () => {
      await assert.rejects(
        startStack(host, {
          idp: 'none',
          configure: (cfg) => {
            cfg.ezauth = { ...cfg.ezauth, cookies: { hostPrefix: true } };
          },
        }),
        (e) => typeof e.logs === 'string' && /ezauth\.cookies\.hostPrefix/.test(e.logs) && /requireHttps/.test(e.logs),
      );
      await assert.rejects(
        startStack(host, {
          idp: 'none',
          configure: (cfg) => {
            cfg.ezauth = { ...cfg.ezauth, cookies: { hostPrefix: 'yes' } };
          },
        }),
        (e) => typeof e.logs === 'string' && /ezauth\.cookies\.hostPrefix/.test(e.logs),
      );
    });
  });

  describe(`security: cookie tossing in Chromium [${host.name}]`, { skip: skipWithoutBrowser }, () => {
    let s;
    let browser;
    let evil;
    let evilPort;
    let APP;
    let plantNext = [];
    before(async () => {
      s = await startStack(host, { callbackOrigins: (port) => [`http://${APP_HOST}:${port}`] });
      APP = `http://${APP_HOST}:${s.port}`;
      // The sibling: its page plants what the test asks for, for its parent domain (only the
      // page: a late favicon request would plant again after the module deleted the plants).
      evil = http.createServer((req, res) => {
        if (req.url !== '/') {
          res.statusCode = 404;
          res.end();
          return;
        }
        for (const c of plantNext) res.appendHeader('set-cookie', c);
        res.setHeader('content-type', 'text/html');
        res.end('<!DOCTYPE html><p>nothing to see</p>');
      });
      await new Promise((r) => evil.listen(0, '127.0.0.1', r));
      evilPort = evil.address().port;
      browser = await launchChromium({
        args: [`--host-resolver-rules=MAP ${APP_HOST} 127.0.0.1, MAP evil.example.test 127.0.0.1`],
      });
    });
    after(async () => {
      await browser?.close();
      if (evil) await closerFor(evil)();
      await s?.stop();
    });

    async function signedInPage(login) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${APP}/app/page`);
      await passIdp(page, APP, login);
      assert.equal(page.url(), `${APP}/app/page`);
      return { context, page };
    }

    async function whoIsIt(page) {
      await page.goto(`${APP}/app/page`);
      if (new URL(page.url()).host !== new URL(APP).host) return `(at ${page.url()})`;
      return JSON.parse(await page.locator('body').innerText()).headers['x-ms-client-principal-id'];
    }

    it("a sibling's Domain= junk part and the attacker's session: never the attacker, the plants deleted", async () => {
      const attacker = await signedInPage('chromium-mallory');
      const mallory = (await attacker.context.cookies(APP)).find((c) => c.name === SESSION).value;
      await attacker.context.close();

      const { context, page } = await signedInPage('chromium-alice');
      try {
        // junk continuation part from the sibling: ignored, then deleted
        plantNext = [`${SESSION}1=${junk(40)}; Domain=example.test; Path=/`];
        // Chromium commits a response's cookies to its store asynchronously, and now and then
        // (about one run in ten here) a visit stores none: visit again, look again (bounded).
        let planted = [];
        for (let visit = 0; visit < 3 && planted.length === 0; visit += 1) {
          await page.goto(`http://evil.example.test:${evilPort}/`);
          for (let i = 0; i < 20 && planted.length === 0; i += 1) {
            if (i > 0) await new Promise((done) => setTimeout(done, 50));
            planted = (await context.cookies(APP)).filter((c) => c.domain === '.example.test');
          }
        }
        assert.equal(planted.length, 1, `Chromium did not take the sibling's Domain= cookie: ${JSON.stringify(await context.cookies())}`);
        assert.equal(await whoIsIt(page), 'chromium-alice');
        assert.deepEqual((await context.cookies(APP)).filter((c) => c.domain === '.example.test'), []);

        // the attacker's valid session, sent before the victim's (longer path)
        plantNext = [`${SESSION}=${mallory}; Domain=example.test; Path=/app`];
        await page.goto(`http://evil.example.test:${evilPort}/`);
        await page.goto(`${APP}/app/page`);
        // refused, the plants deleted, through the provider (still signed in there) and back
        if (new URL(page.url()).host !== new URL(APP).host) await passIdp(page, APP, 'chromium-alice');
        assert.equal(page.url(), `${APP}/app/page`);
        const echo = JSON.parse(await page.locator('body').innerText());
        assert.equal(echo.headers['x-ms-client-principal-id'], 'chromium-alice');
        assert.deepEqual((await context.cookies(APP)).filter((c) => c.domain === '.example.test'), []);
      } finally {
        await context.close();
      }
    });
  });
}

/** Every order of `items`. */
function permutations(items) {
  if (items.length <= 1) return [items];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((p) => [x, ...p]));
}
