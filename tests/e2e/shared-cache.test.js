// Shared caches: a page made for one signed-in user must never be served to another client.
//
// On every host: a response to a signed-in request (session cookie, X-ZUMO-AUTH, provider bearer
// token) gets "Cache-Control: private" unless the application set its own Cache-Control; an
// anonymous one is left as the application made it; /.auth/me is "no-store".
//
// On nginx, with proxy_cache in front of an application that caches nothing itself
// ("proxy_cache_valid 200 10m" keeps every 200 for ten minutes, whatever its headers):
//   - the plain setup: alice's page is not kept (the module marks it uncacheable, as nginx does for
//     an upstream's "private"), so bob and an anonymous client get their own pages; an anonymous
//     page is cached and served again;
//   - an application that says "Cache-Control: public, max-age=60" on alice's page chose to share
//     it: nginx keeps it and serves it to the next client (this test shows it happen);
//   - the configuration native-host/nginx/README.md shows (proxy_cache_bypass / proxy_no_cache on
//     the identity and credentials) never keeps a credentialed answer nor serves one from the
//     cache, even then.
// The application here echoes the identity and token headers it received, with a serial number,
// so a page served from the cache shows whose it was.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { hostsUnderTest, hostNames } from './lib/hosts/index.js';
import * as nginx from './lib/hosts/nginx.js';
import { startStack } from './lib/stack.js';
import { scratchDir, removeScratch } from './lib/paths.js';
import { CLIENT_ID } from './idp.js';

const hosts = await hostsUnderTest();
const JSON_HEADERS = { 'content-type': 'application/json' };

/**
 * The application: /public60/... answers "Cache-Control: public, max-age=60", anything else no
 * Cache-Control; the body names the user and the tokens it was given, and a serial number.
 */
async function startApp() {
  let serial = 0;
  const server = http.createServer((req, res) => {
    serial += 1;
    const tokens = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith('x-ms-token-')));
    const body = JSON.stringify({ serial, user: req.headers['x-ms-client-principal-name'] ?? null, tokens });
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (req.url.startsWith('/public60/')) headers['cache-control'] = 'public, max-age=60';
    res.writeHead(200, headers);
    res.end(body);
  });
  const sockets = new Set();
  server.on('connection', (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    async close() {
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => server.close(() => r()));
    },
  };
}

/** Two users of each credential kind: {kind: {alice: headers, bob: headers}}. */
async function credentials(s) {
  const out = { 'session cookie': {}, 'X-ZUMO-AUTH': {}, 'bearer token': {} };
  for (const who of ['alice', 'bob']) {
    const c = s.client();
    await s.signIn(c, { login: who, prompt: 'consent' });
    out['session cookie'][who] = { cookie: c.jar.header(s.url) };

    const res = await s.client().post(s.at('/.auth/login/testidp'), {
      body: JSON.stringify({ id_token: s.idp.mintIdToken({ sub: `${who}-z`, name: `${who} (zumo)` }) }),
      headers: JSON_HEADERS,
    });
    assert.equal(res.status, 200, `client-directed login of ${who}: ${res.describe()}`);
    out['X-ZUMO-AUTH'][who] = { 'x-zumo-auth': JSON.parse(res.text).authenticationToken };

    // an access token of our provider for this app (azp: our client, no nonce)
    const token = s.idp.mintIdToken({ sub: `${who}-b`, name: `${who} (bearer)`, azp: CLIENT_ID, scp: 'read' });
    out['bearer token'][who] = { authorization: `Bearer ${token}` };
  }
  return out;
}

/** GET with exactly these headers (no cookie jar): {status, cacheControl, cacheStatus, page}. */
async function get(s, path, headers = {}) {
  const res = await s.client({ headers: { accept: 'application/json' } }).get(s.at(path), { headers, cookies: false });
  let page = null;
  try {
    page = JSON.parse(res.text);
  } catch {
    /* not the app's page */
  }
  return { status: res.status, cacheControl: res.headers.get('cache-control'), cacheStatus: res.headers.get('x-cache-status'), page, describe: res.describe };
}

/**
 * GET until nginx answers from its cache (bounded): with several workers the entry one
 * worker stores may not be there yet for the next request, which another worker takes.
 */
async function getCached(s, path, headers = {}) {
  let r;
  for (let i = 0; i < 40; i += 1) {
    r = await get(s, path, headers);
    if (r.cacheStatus === 'HIT') return r;
    await new Promise((done) => setTimeout(done, 25));
  }
  return r;
}

let caseNo = 0;
const fresh = (prefix) => `/${prefix}/case-${(caseNo += 1)}`;

for (const host of hosts) {
  describe(`shared caches: Cache-Control on signed-in responses [${host.name}]`, () => {
    let app;
    let s;
    let creds;
    before(async () => {
      app = await startApp();
      s = await startStack(host, { action: 'AllowAnonymous', upstreamPort: app.port });
      creds = await credentials(s);
    });
    after(async () => {
      await s?.stop();
      await app?.close();
    });

    it('a signed-in request gets "private" when the app set no Cache-Control, the app\'s own policy otherwise (3 credentials x 2 app policies)', async () => {
      for (const [kind, users] of Object.entries(creds)) {
        const own = await get(s, fresh('nocc'), users.alice);
        assert.equal(own.status, 200, `${kind}: ${own.describe()}`);
        assert.match(own.page.user, /^alice|User alice/, `${kind}: signed in as alice`);
        assert.equal(own.cacheControl, 'private', `${kind}, no app policy: ${own.describe()}`);
        const pub = await get(s, fresh('public60'), users.alice);
        assert.equal(pub.cacheControl, 'public, max-age=60', `${kind}, the app's policy stays as it is`);
      }
    });

    it('an anonymous request keeps the app\'s answer as it is (no Cache-Control added)', async () => {
      assert.equal((await get(s, fresh('nocc'))).cacheControl, null);
      assert.equal((await get(s, fresh('nocc'), { cookie: 'analytics=1' })).cacheControl, null);
      assert.equal((await get(s, fresh('public60'))).cacheControl, 'public, max-age=60');
    });

    it('/.auth/me (tokens) is no-store, by cookie and by X-ZUMO-AUTH', async () => {
      for (const kind of ['session cookie', 'X-ZUMO-AUTH']) {
        const me = await get(s, '/.auth/me', creds[kind].alice);
        assert.equal(me.status, 200, `${kind}: ${me.describe()}`);
        assert.equal(me.cacheControl, 'no-store', kind);
      }
    });
  });
}

// nginx and its proxy_cache, as a site would set it up
const nginxSkip = !hostNames().includes('nginx') ? 'nginx is not a host under test' : false;
if (hostNames().includes('nginx') && !nginx.available()) throw new Error(`nginx is a host under test but ${nginx.NGINX_MODULE} is not built`);

/** The lines native-host/nginx/README.md ("Caching") adds to a cached location. */
const README_LINES = `
            proxy_cache_bypass $http_x_ms_client_principal_id $http_authorization $http_x_zumo_auth $http_cookie;
            proxy_no_cache     $http_x_ms_client_principal_id $http_authorization $http_x_zumo_auth $http_cookie;`;

for (const [setup, extraLines] of [
  ['proxy_cache, nothing more', ''],
  ['proxy_cache as native-host/nginx/README.md shows it', README_LINES],
]) {
  describe(`shared caches: nginx ${setup}`, { skip: nginxSkip }, () => {
    let app;
    let s;
    let creds;
    let dir;
    const readme = extraLines !== '';
    before(async () => {
      app = await startApp();
      dir = scratchDir('proxy-cache');
      const host = {
        ...nginx,
        start: (o) =>
          nginx.start({
            ...o,
            httpConf: `    proxy_cache_path ${dir} levels=1:2 keys_zone=ezauth_test_cache:1m max_size=10m inactive=10m use_temp_path=off;`,
            locationConf: `
            proxy_cache ezauth_test_cache;
            proxy_cache_valid 200 10m;
            add_header X-Cache-Status $upstream_cache_status always;${extraLines}`,
          }),
      };
      s = await startStack(host, { action: 'AllowAnonymous', upstreamPort: app.port });
      creds = await credentials(s);
    });
    after(async () => {
      await s?.stop();
      await app?.close();
      removeScratch(dir);
    });

    it('an anonymous page is cached and served again (the cache works)', async () => {
      const path = fresh('nocc');
      const first = await get(s, path);
      const again = await getCached(s, path);
      assert.equal(first.page.user, null);
      assert.equal(again.cacheStatus, 'HIT', again.describe());
      assert.equal(again.page.serial, first.page.serial, 'the second answer is the cached first one');
    });

    for (const kind of ['session cookie', 'X-ZUMO-AUTH', 'bearer token']) {
      it(`${kind}, app without a cache policy: alice's page is served to neither bob nor an anonymous client`, async () => {
        const { alice, bob } = creds[kind];
        const path = fresh('nocc');
        const a = await get(s, path, alice);
        assert.match(a.page.user ?? '', /alice/, `alice sees her page: ${a.describe()}`);
        if (kind === 'session cookie') assert.ok(Object.keys(a.page.tokens).length > 0, 'alice\'s page carries her tokens');
        const b = await get(s, path, bob);
        assert.match(b.page.user ?? '', /bob/, `bob got someone else's page: ${b.describe()}`);
        assert.notEqual(b.page.serial, a.page.serial, 'bob was served alice\'s cached page');
        const anon = await get(s, path);
        assert.equal(anon.page.user, null, `an anonymous client got a signed-in page: ${anon.describe()}`);
        assert.deepEqual(anon.page.tokens, {}, 'an anonymous client got tokens');
        assert.notEqual(anon.cacheStatus, 'HIT', `the anonymous request was answered from a signed-in entry: ${anon.describe()}`);
      });

      it(`${kind}, the app says "public, max-age=60": ${readme ? 'still not cached for credentialed requests' : 'the app chose to share, nginx serves alice\'s page to the next client'}`, async () => {
        const { alice, bob } = creds[kind];
        const path = fresh('public60');
        const a = await get(s, path, alice);
        assert.match(a.page.user ?? '', /alice/, a.describe());
        assert.equal(a.cacheControl, 'public, max-age=60', 'the app\'s policy reaches the client unchanged');
        // nginx stores alice's response as it finishes: a request racing that store misses and
        // would cache a page of its own. Without the README's lines, wait (bounded, with alice's
        // own cookie, so only her page can be stored) until her page is the entry.
        if (!readme) await getCached(s, path, alice);
        const anon = await get(s, path);
        const b = await get(s, path, bob);
        if (readme) {
          assert.equal(a.cacheStatus, 'BYPASS', a.describe());
          assert.equal(anon.page.user, null, `an anonymous client got alice's page: ${anon.describe()}`);
          assert.match(b.page.user ?? '', /bob/, `bob got someone else's page: ${b.describe()}`);
          assert.equal(b.cacheStatus, 'BYPASS', b.describe());
        } else {
          // what the app's own policy means behind a shared cache: why the README adds its lines
          const cached = anon.cacheStatus === 'HIT' ? anon : await getCached(s, path);
          assert.equal(cached.cacheStatus, 'HIT', cached.describe());
          assert.match(cached.page.user ?? '', /alice/, `nginx kept the page the app declared public: ${cached.describe()}`);
        }
      });
    }

    it(`an anonymous page in the cache is ${readme ? 'not' : 'also'} served to a signed-in user`, async () => {
      const path = fresh('nocc');
      const anon = await get(s, path);
      const a = readme ? await get(s, path, creds['session cookie'].alice) : await getCached(s, path, creds['session cookie'].alice);
      if (readme) {
        assert.match(a.page.user ?? '', /alice/, `alice got the cached anonymous page: ${a.describe()}`);
        assert.equal(a.cacheStatus, 'BYPASS');
      } else {
        // harmless (the anonymous page names no one), but alice does not see her own page
        assert.equal(a.page.serial, anon.page.serial, a.describe());
        assert.equal(a.page.user, null);
      }
    });
  });
}
