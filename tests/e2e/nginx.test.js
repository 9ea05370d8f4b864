// nginx: what only the nginx module has to prove. The scenarios of the other *.test.js files run
// against nginx too (lib/hosts/index.js); these are the nginx-specific ones:
//   - "nginx -t" refuses a broken ezauth configuration with ezauth's message;
//   - a reload takes a changed configuration, refuses a broken one and keeps the running one;
//   - with four workers, a sign-in on one worker is read by the others (file store, locking);
//   - the event loop never blocks: with the IdP's token endpoint delayed 2 s, 200 anonymous and
//     signed-in requests to the single worker all finish while the slow login callback is pending;
//   - request bodies: read for POSTs to /.auth/ (form_post callback, also from a temp file),
//     refused with 413 over 64 KB (Content-Length or chunked), untouched for the application;
//   - identity headers as raw bytes (values that are not UTF-8, names nginx calls invalid) never
//     reach the upstream, not even by way of "error_page 413 = @app", nor of an error_page after
//     an early 500 (invalid headers from the library) or 503 (the thread pool's queue is full);
//   - an internal redirect into another ezauth_config is judged again; under the same one too,
//     on the new target, unless the target is the same (a named location); so an excluded path
//     (try_files, error_page, X-Accel-Redirect, rewrite, index) never carries its anonymous
//     judgement to a protected URI or to /.auth; subrequests (auth_request, SSI) into another
//     configuration are refused;
//   - headers from the library that are not valid are never written (an LD_PRELOAD shim).
// Skipped, with a message, when native-host/build/ngx_http_ezauth_module.so is not built.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import * as nginx from './lib/hosts/nginx.js';
import { startStack, moduleEnv } from './lib/stack.js';
import { testConfig } from './lib/config.js';
import { deliverCallback, SESSION_COOKIE } from './lib/flow.js';
import { echoOf } from './lib/common.js';
import { rawExchange, startRecorder, reservedName, headerLines } from './lib/raw.js';
import { BUILD_DIR, scratchDir, removeScratch } from './lib/paths.js';
import { closedPort } from './lib/ports.js';

const skip = nginx.available()
  ? false
  : `nginx module not built (${nginx.NGINX_MODULE} or ${nginx.NGINX_BIN} missing): run 'make -C native-host'`;
// Where nginx is asked for by name (tests/run-all.sh does), its absence is a failure, not a skip.
if (skip && (process.env.EZAUTH_E2E_HOSTS || '').split(',').includes('nginx')) {
  throw new Error(`EZAUTH_E2E_HOSTS names nginx but ${skip}`);
}
if (skip) console.log(`# nginx.test.js skipped: ${skip}`);

/** The nginx host with extra start() options (workers, workerHeader, ...). */
function nginxWith(extra) {
  return { ...nginx, start: (o) => nginx.start({ ...o, ...extra }) };
}

/** One request on a fresh connection (so that 4 workers share the load); {status, headers, text, ms}. */
function request(url, { method = 'GET', headers = {}, body, timeoutMs = 20000 } = {}) {
  const u = new URL(url);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            ms: Date.now() - t0,
            end: Date.now(),
          }),
        );
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms: ${method} ${url}`)));
    req.on('error', reject);
    if (Array.isArray(body)) {
      // chunked: write the pieces one by one
      for (const piece of body) req.write(piece);
    } else if (body !== undefined) {
      req.write(body);
    }
    req.end();
  });
}

function cookieHeader(client, url) {
  return client.jar.header(url);
}

describe('nginx -t', { skip }, () => {
  // a token directory made as the README says (owned by the workers' user, 0700)
  let tokenParent;
  before(() => {
    tokenParent = scratchDir('nginx-t-tokens');
    nginx.prepareTokenDir(path.join(tokenParent, 'tokens'));
  });
  after(() => removeScratch(tokenParent));
  const base = () =>
    testConfig({ wellKnown: 'http://127.0.0.1:9/.well-known/openid-configuration', tokenDir: path.join(tokenParent, 'tokens') });

  it('passes with a valid ezauth configuration', async () => {
    const r = await nginx.configTest({ config: base(), env: moduleEnv() });
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /test is successful/);
  });

  it('fails on a mistyped key, with ezauth\'s message naming it', async () => {
    const config = base();
    config.globalValidaton = config.globalValidation;
    const r = await nginx.configTest({ config, env: moduleEnv() });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /\[emerg\].*ezauth_config ".*authsettings\.json": .*globalValidaton/, r.output);
    assert.match(r.output, /test failed/);
  });

  it('fails when a secret\'s environment variable is missing, naming it', async () => {
    const env = moduleEnv();
    delete env.WEBSITE_AUTH_ENCRYPTION_KEY;
    const r = await nginx.configTest({ config: base(), env });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /ezauth_config .*WEBSITE_AUTH_ENCRYPTION_KEY/, r.output);
  });

  it('fails on a file that is not JSON', async () => {
    const r = await nginx.configTest({ config: '{"platform": {"enabled": tru', env: moduleEnv() });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /\[emerg\].*ezauth_config/, r.output);
  });
});

describe('nginx reload', { skip }, () => {
  let s;
  before(async () => {
    s = await startStack(nginx, { action: 'AllowAnonymous' });
  });
  after(async () => {
    await s?.stop();
  });

  it('takes a changed configuration, refuses a broken one and keeps running the last good one', async () => {
    const anon = await request(s.at('/page'));
    assert.equal(anon.status, 200, `AllowAnonymous: ${anon.text}`);

    const strict = { ...s.config, globalValidation: { ...s.config.globalValidation, unauthenticatedClientAction: 'Return401' } };
    const r1 = await s.host.reload({ config: strict });
    assert.equal(r1.ok, true, r1.log);
    assert.equal((await request(s.at('/page'))).status, 401, 'the changed configuration (Return401) is in effect');

    const workers = s.host.workerPids();
    const r2 = await s.host.reload({ config: '{"platform": {"enabled": tru' });
    assert.equal(r2.ok, false, `a broken configuration was accepted: ${r2.log}`);
    assert.match(r2.log, /\[emerg\].*ezauth_config ".*authsettings\.json"/, r2.log);
    assert.ok(s.host.alive(), 'nginx exited on a broken reload');
    assert.deepEqual(s.host.workerPids(), workers, 'the workers were replaced although the configuration was refused');
    for (let i = 0; i < 5; i += 1) {
      assert.equal((await request(s.at(`/page?${i}`))).status, 401, 'the last good configuration keeps running');
    }

    const misnamed = { ...s.config, globalValidation: { ...s.config.globalValidation, unauthenticatedClientAction: 'Return402' } };
    const r3 = await s.host.reload({ config: misnamed });
    assert.equal(r3.ok, false, r3.log);
    assert.match(r3.log, /unauthenticatedClientAction/, r3.log);
    assert.equal((await request(s.at('/page'))).status, 401);

    const r4 = await s.host.reload({ config: s.config });
    assert.equal(r4.ok, true, r4.log);
    assert.equal((await request(s.at('/page'))).status, 200, 'back to AllowAnonymous after a good reload');
  });
});

describe('nginx with 4 workers', { skip }, () => {
  let s;
  let client;
  before(async () => {
    s = await startStack(nginxWith({ workers: 4, workerHeader: true }));
    client = s.client();
    await s.signIn(client, { login: 'walt', prompt: 'consent' });
  });
  after(async () => {
    await s?.stop();
  });

  it('runs 4 workers', () => {
    assert.equal(s.host.workerPids().length, 4, `workers: ${s.host.workerPids()}`);
  });

  it('a session made by one worker is read by every worker: 200 requests on fresh connections', async (t) => {
    const cookie = cookieHeader(client, s.url);
    const first = await request(s.at('/.auth/me'), { headers: { cookie } });
    assert.equal(first.status, 200, first.text);
    const token = JSON.parse(first.text)[0].access_token;
    assert.ok(token);

    const seen = new Map();
    const jobs = [];
    for (let i = 0; i < 200; i += 1) {
      const p = i % 2 ? `/.auth/me` : `/app/${i}`;
      jobs.push(
        request(s.at(p), { headers: { cookie } }).then((r) => {
          const w = r.headers['x-nginx-worker'];
          seen.set(w, (seen.get(w) || 0) + 1);
          assert.equal(r.status, 200, `${p} on worker ${w}: ${r.status} ${r.text.slice(0, 200)}`);
          const j = JSON.parse(r.text);
          if (p === '/.auth/me') assert.equal(j[0].access_token, token, `worker ${w} read another token`);
          else assert.equal(j.headers['x-ms-token-testidp-access-token'], token, `worker ${w} handed the app another token`);
        }),
      );
    }
    await Promise.all(jobs);
    t.diagnostic(`requests per worker: ${JSON.stringify(Object.fromEntries(seen))}`);
    assert.ok(seen.size >= 2, `every request went to one worker: ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  it('refreshes on alternating workers each see the rotated refresh token the previous one stored', async (t) => {
    const cookie = cookieHeader(client, s.url);
    const workers = new Set();
    let last = JSON.parse((await request(s.at('/.auth/me'), { headers: { cookie } })).text)[0];
    for (let i = 0; i < 6; i += 1) {
      // A refresh asked for within 2 s of another takes that one's tokens (README): wait.
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 2100));
      const r = await request(s.at('/.auth/refresh'), { headers: { cookie } });
      workers.add(r.headers['x-nginx-worker']);
      assert.equal(r.status, 200, `refresh #${i} on worker ${r.headers['x-nginx-worker']}: ${r.text.slice(0, 300)}`);
      const me = await request(s.at('/.auth/me'), { headers: { cookie } });
      const now = JSON.parse(me.text)[0];
      assert.notEqual(now.refresh_token, last.refresh_token, `refresh #${i} did not rotate the stored refresh token`);
      last = now;
    }
    t.diagnostic(`refreshes ran on ${workers.size} workers`);
  });

  it('signs in on several workers at once without mixing users up', async () => {
    const users = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'];
    const clients = users.map(() => s.client());
    await Promise.all(users.map((u, i) => s.signIn(clients[i], { login: u })));
    const checks = [];
    for (let k = 0; k < 5; k += 1) {
      users.forEach((u, i) => {
        checks.push(
          request(s.at('/who'), { headers: { cookie: cookieHeader(clients[i], s.url) } }).then((r) => {
            const echo = JSON.parse(r.text);
            assert.equal(echo.headers['x-ms-client-principal-id'], u, `worker ${r.headers['x-nginx-worker']}`);
          }),
        );
      });
    }
    await Promise.all(checks);
  });
});

describe('nginx never blocks its event loop', { skip }, () => {
  const DELAY_MS = 2000;
  let s;
  let signedIn;
  before(async () => {
    // one worker: every request below shares the event loop of the pending callback
    s = await startStack(nginxWith({ workers: 1 }));
    signedIn = s.client();
    await s.signIn(signedIn, { login: 'erin' });
  });
  after(async () => {
    s?.idp?.hooks.reset();
    await s?.stop();
  });

  it(`200 anonymous and signed-in requests finish while a login callback waits ${DELAY_MS} ms for the IdP`, async (t) => {
    assert.equal(s.host.workerPids().length, 1);
    const slowClient = s.client();
    const { callback } = await s.signIn(slowClient, { login: 'frank', stopAtCallback: true });
    s.idp.hooks.set({ tokenDelayMs: DELAY_MS });
    const tokenCalls = s.idp.counters.token;

    const t0 = Date.now();
    const slow = deliverCallback(slowClient, callback).then((res) => ({ res, end: Date.now() }));

    // wait until the module's thread is inside the token request
    const waitEnd = Date.now() + 1500;
    while (s.idp.counters.token === tokenCalls && Date.now() < waitEnd) await new Promise((r) => setTimeout(r, 5));
    assert.ok(s.idp.counters.token > tokenCalls, 'the callback never reached the token endpoint');
    const tBurst = Date.now();

    const cookie = cookieHeader(signedIn, s.url);
    const jobs = [];
    for (let i = 0; i < 200; i += 1) {
      const kind = i % 4;
      if (kind === 0) jobs.push(request(s.at(`/public/${i}`)).then((r) => ({ r, kind: 'anonymous, excluded path', want: 200 })));
      else if (kind === 1) jobs.push(request(s.at(`/page/${i}`)).then((r) => ({ r, kind: 'anonymous → login redirect', want: 302 })));
      else if (kind === 2) jobs.push(request(s.at(`/app/${i}`), { headers: { cookie } }).then((r) => ({ r, kind: 'signed in → app', want: 200 })));
      else jobs.push(request(s.at('/.auth/me'), { headers: { cookie } }).then((r) => ({ r, kind: 'signed in → /.auth/me', want: 200 })));
    }
    const results = await Promise.all(jobs);
    const burstEnd = Date.now();
    const { res: slowRes, end: slowEnd } = await slow;

    for (const { r, kind, want } of results) assert.equal(r.status, want, `${kind}: ${r.status} ${r.text.slice(0, 200)}`);
    const signedInApp = results.find((x) => x.kind === 'signed in → app');
    assert.equal(JSON.parse(signedInApp.r.text).headers['x-ms-client-principal-id'], 'erin');

    const lat = results.map((x) => x.r.ms).sort((a, b) => a - b);
    t.diagnostic(
      `200 requests in ${burstEnd - tBurst} ms (latency p50 ${lat[100]} ms, max ${lat[199]} ms); ` +
        `slow callback took ${slowEnd - t0} ms`,
    );

    assert.equal(slowRes.status, 302, `the slow callback failed: ${slowRes.describe()}`);
    assert.ok(slowRes.setCookies.some((c) => c.name === SESSION_COOKIE), 'the slow callback set no session');
    assert.ok(slowEnd - t0 >= DELAY_MS - 50, `the callback did not wait for the delayed IdP (${slowEnd - t0} ms)`);
    assert.ok(
      burstEnd < slowEnd,
      `the 200 requests finished ${burstEnd - slowEnd} ms after the slow callback: the event loop was blocked`,
    );
    assert.ok(burstEnd - tBurst < DELAY_MS - 200, `the 200 requests took ${burstEnd - tBurst} ms`);
  });

  it("the blocking step's lines (on a pool thread) are written through the request's log", () => {
    // the sign-ins above: each callback's code exchange ran in the thread pool, and logged there
    const lines = s.logs().split('\n').filter((l) => / ezauth: signed in \S+ with /.test(l));
    assert.ok(lines.length >= 2, `${lines.length} sign-in lines`);
    for (const l of lines) {
      assert.match(l, /, client: 127\.0\.0\.1, server: .*, request: "(GET|POST) \/\.auth\/login\/[^/ ]+\/callback/, l);
    }
  });
});

describe('nginx request header edits', { skip }, () => {
  let s;
  let c;
  before(async () => {
    // nginx's own view of the request, taken after the access phase (proxy_set_header runs when
    // the upstream request is made): the hashed headers must still point at the right lines
    s = await startStack(
      nginxWith({
        locationConf: [
          'proxy_set_header X-Seen-UA $http_user_agent;',
          'proxy_set_header X-Seen-Cookie $http_cookie;',
          'proxy_set_header X-Seen-Cookie-A $cookie_a;',
          'proxy_set_header X-Seen-Host $host;',
          'proxy_set_header X-Seen-Name $http_x_ms_client_principal_name;',
        ].join('\n'),
      }),
    );
    c = s.client();
    await s.signIn(c, { login: 'ivy' });
  });
  after(async () => {
    await s?.stop();
  });

  it('removing spoofed headers spread over several list parts keeps every other header and nginx\'s pointers', async () => {
    const session = cookieHeader(c, s.url);
    // 45 lines: nginx's header list holds 20 per part, so the removals span three parts
    const lines = [`Host: ${new URL(s.origin).host}`, 'Connection: close', 'X-MS-CLIENT-PRINCIPAL-NAME: spoofed-first'];
    for (let i = 0; i < 36; i += 1) {
      lines.push(`H${i}: v${i}`);
      if (i % 6 === 5) lines.push(`X-MS-TOKEN-TESTIDP-ACCESS-TOKEN: spoofed-${i}`);
      if (i === 10) lines.push('Cookie: a=1');
      if (i === 17) lines.push('User-Agent: ua-under-test');
      if (i === 25) lines.push(`Cookie: ${session}`);
    }
    lines.push('x-ms-client-principal: spoofed-last');
    const raw = await new Promise((resolve, reject) => {
      const u = new URL(s.origin);
      import('node:net').then((net) => {
        const sock = net.connect(Number(u.port), u.hostname, () => sock.write(`GET /edits HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`));
        const chunks = [];
        sock.on('data', (d) => chunks.push(d));
        sock.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        sock.on('error', reject);
        sock.setTimeout(10000, () => sock.destroy(new Error('timeout')));
      });
    });
    assert.match(raw, /^HTTP\/1\.1 200/, raw.slice(0, 300));
    const echo = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1));
    const h = echo.headers;
    for (let i = 0; i < 36; i += 1) assert.equal(h[`h${i}`], `v${i}`, `H${i} lost`);
    assert.equal(h['x-ms-client-principal-name'], 'User ivy');
    assert.equal(h['x-seen-name'], 'User ivy', '$http_x_ms_client_principal_name sees the module\'s value');
    assert.notEqual(h['x-ms-token-testidp-access-token'], undefined);
    assert.ok(!/spoofed/.test(JSON.stringify(h)), `a spoofed value reached the app: ${JSON.stringify(h)}`);
    assert.equal(h['user-agent'], 'ua-under-test');
    assert.equal(h['x-seen-ua'], 'ua-under-test', '$http_user_agent (r->headers_in.user_agent)');
    assert.equal(h['x-seen-cookie'], `a=1; ${session}`, '$http_cookie (r->headers_in.cookies)');
    assert.equal(h['x-seen-cookie-a'], '1', '$cookie_a');
    assert.equal(h['x-seen-host'], '127.0.0.1');
  });
});

// Minimal upstream applications for the other protocols nginx speaks; each answers with the
// request headers it was given, as JSON.

/** FastCGI responder: answers {"params": {...}} (the HTTP_* params carry the request headers). */
async function startFastcgi() {
  const net = await import('node:net');
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    let params = Buffer.alloc(0);
    let id = 1;
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8) {
        const type = buf[1];
        const len = buf.readUInt16BE(4);
        const pad = buf[6];
        if (buf.length < 8 + len + pad) break;
        const content = buf.subarray(8, 8 + len);
        id = buf.readUInt16BE(2);
        buf = buf.subarray(8 + len + pad);
        if (type === 4) params = Buffer.concat([params, content]);
        if (type === 5 && len === 0) respond();
      }
    });
    function record(type, content) {
      const h = Buffer.alloc(8);
      h[0] = 1;
      h[1] = type;
      h.writeUInt16BE(id, 2);
      h.writeUInt16BE(content.length, 4);
      return Buffer.concat([h, content]);
    }
    function respond() {
      const out = {};
      let i = 0;
      const len = () => {
        const b = params[i];
        if (b < 128) {
          i += 1;
          return b;
        }
        const v = params.readUInt32BE(i) & 0x7fffffff;
        i += 4;
        return v;
      };
      while (i < params.length) {
        const n = len();
        const v = len();
        out[params.subarray(i, i + n).toString()] = params.subarray(i + n, i + n + v).toString();
        i += n + v;
      }
      const body = Buffer.from(`Status: 200 OK\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ params: out })}`);
      const parts = [];
      for (let o = 0; o < body.length; o += 60000) parts.push(record(6, body.subarray(o, o + 60000)));
      parts.push(record(6, Buffer.alloc(0)), record(3, Buffer.alloc(8)));
      sock.end(Buffer.concat(parts));
    }
    sock.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, close: () => new Promise((r) => server.close(() => r())) };
}

/** uwsgi application: answers {"vars": {...}}. */
async function startUwsgi() {
  const net = await import('node:net');
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4) return;
      const size = buf.readUInt16LE(1);
      if (buf.length < 4 + size) return;
      const vars = {};
      let i = 4;
      while (i < 4 + size) {
        const kl = buf.readUInt16LE(i);
        const k = buf.subarray(i + 2, i + 2 + kl).toString();
        i += 2 + kl;
        const vl = buf.readUInt16LE(i);
        vars[k] = buf.subarray(i + 2, i + 2 + vl).toString();
        i += 2 + vl;
      }
      const body = JSON.stringify({ vars });
      sock.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      buf = Buffer.alloc(0);
    });
    sock.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, close: () => new Promise((r) => server.close(() => r())) };
}

/** HTTP/2 cleartext server for grpc_pass: answers {"headers": {...}}. */
async function startH2c() {
  const http2 = await import('node:http2');
  const server = http2.createServer();
  const sessions = new Set();
  server.on('session', (sess) => {
    sessions.add(sess);
    sess.on('close', () => sessions.delete(sess));
  });
  server.on('stream', (stream, headers) => {
    const body = JSON.stringify({ headers });
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    close: () => {
      for (const sess of sessions) sess.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

describe('nginx hands the edited headers to every upstream protocol', { skip }, () => {
  let s;
  let c;
  let apps;
  const SPOOF = { 'x-ms-client-principal-name': 'spoofed', 'X-MS-TOKEN-TESTIDP-ACCESS-TOKEN': 'spoofed' };
  before(async () => {
    apps = { fcgi: await startFastcgi(), uwsgi: await startUwsgi(), grpc: await startH2c() };
    s = await startStack(
      nginxWith({
        serverConf: `
        location /fcgi/ { fastcgi_pass 127.0.0.1:${apps.fcgi.port}; }
        location /uwsgi/ { uwsgi_pass 127.0.0.1:${apps.uwsgi.port}; }
        location /grpc/ { grpc_pass grpc://127.0.0.1:${apps.grpc.port}; }
        location /var/ {
            add_header X-Seen "name=$http_x_ms_client_principal_name idp=$http_x_ms_client_principal_idp" always;
            proxy_pass http://app;
        }
`,
      }),
    );
    c = s.client();
    await s.signIn(c, { login: 'kim' });
  });
  after(async () => {
    await s?.stop();
    for (const a of Object.values(apps || {})) await a.close();
  });

  it('fastcgi_pass: HTTP_X_MS_* params are the module\'s', async () => {
    const r = await c.get(s.at('/fcgi/x'), { headers: SPOOF });
    assert.equal(r.status, 200, r.describe());
    const p = JSON.parse(r.text).params;
    assert.equal(p.HTTP_X_MS_CLIENT_PRINCIPAL_NAME, 'User kim');
    assert.equal(p.HTTP_X_MS_CLIENT_PRINCIPAL_ID, 'kim');
    assert.ok(p.HTTP_X_MS_TOKEN_TESTIDP_ACCESS_TOKEN && p.HTTP_X_MS_TOKEN_TESTIDP_ACCESS_TOKEN !== 'spoofed');
    assert.ok(!JSON.stringify(p).includes('spoofed'), JSON.stringify(p));
  });

  it('uwsgi_pass: HTTP_X_MS_* vars are the module\'s', async () => {
    const r = await c.get(s.at('/uwsgi/x'), { headers: SPOOF });
    assert.equal(r.status, 200, r.describe());
    const v = JSON.parse(r.text).vars;
    assert.equal(v.HTTP_X_MS_CLIENT_PRINCIPAL_NAME, 'User kim');
    assert.ok(!JSON.stringify(v).includes('spoofed'), JSON.stringify(v));
  });

  it('grpc_pass: the HTTP/2 request carries the module\'s x-ms-* headers', async () => {
    const r = await c.get(s.at('/grpc/x'), { headers: SPOOF });
    assert.equal(r.status, 200, r.describe());
    const h = JSON.parse(r.text).headers;
    assert.equal(h['x-ms-client-principal-name'], 'User kim');
    assert.ok(h['x-ms-token-testidp-access-token'] && h['x-ms-token-testidp-access-token'] !== 'spoofed');
  });

  it('$http_x_ms_client_principal_name (read after the access phase) is the module\'s value', async () => {
    const r = await c.get(s.at('/var/x'), { headers: SPOOF });
    assert.equal(r.status, 200, r.describe());
    assert.equal(r.headers.get('x-seen'), 'name=User kim idp=testidp');
  });
});

describe('nginx over HTTP/2', { skip }, () => {
  let s;
  let h2port;
  let session;
  before(async () => {
    const { freePort } = await import('./lib/ports.js');
    h2port = await freePort();
    // a second listener on the same server, HTTP/2 with prior knowledge (h2c)
    s = await startStack(nginxWith({ serverConf: `        listen 127.0.0.1:${h2port} http2;\n` }));
    const c = s.client();
    await s.signIn(c, { login: 'lena' });
    session = cookieHeader(c, s.url);
  });
  after(async () => {
    await s?.stop();
  });

  async function h2(path, { method = 'GET', headers = {}, body, endStream } = {}) {
    const http2 = await import('node:http2');
    const client = http2.connect(`http://127.0.0.1:${h2port}`);
    try {
      return await new Promise((resolve, reject) => {
        const req = client.request({ ':method': method, ':path': path, ...headers }, { endStream: endStream ?? !body });
        let status;
        let resHeaders;
        const chunks = [];
        req.on('response', (h) => {
          status = h[':status'];
          resHeaders = h;
        });
        req.on('data', (d) => chunks.push(d));
        req.on('end', () => resolve({ status, headers: resHeaders, text: Buffer.concat(chunks).toString('utf8') }));
        req.on('error', reject);
        req.setTimeout(10000, () => req.close());
        if (body) {
          for (const piece of Array.isArray(body) ? body : [body]) req.write(piece);
          req.end();
        }
      });
    } finally {
      client.close();
    }
  }

  it('a signed-in request reaches the app with the module\'s headers (cookies in separate h2 fields)', async () => {
    // HTTP/2 clients may send each cookie as its own header field; nginx joins them
    const r = await h2('/h2/anything', { headers: { cookie: session.split('; '), 'x-ms-client-principal-name': 'spoofed' } });
    assert.equal(r.status, 200, r.text);
    const echo = JSON.parse(r.text);
    assert.equal(echo.headers['x-ms-client-principal-name'], 'User lena');
  });

  it('refuses a POST body over 64 KB to /.auth/ (no Content-Length, DATA frames only) with 413', async () => {
    const piece = Buffer.alloc(16 * 1024, 'q');
    const r = await h2('/.auth/login/testidp/callback', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Array.from({ length: 6 }, () => piece),
    });
    assert.equal(r.status, 413, r.text.slice(0, 200));
    assert.ok(s.host.alive());
  });

  it('reads a form_post callback body', async () => {
    const c = s.client();
    const { callback } = await s.signIn(c, { login: 'mona', stopAtCallback: true });
    const u = new URL(callback.url);
    const r = await h2(u.pathname, {
      method: 'POST',
      // the host the login started on: the redirect_uri the module sends to the IdP derives from it
      headers: {
        ':authority': u.host,
        'content-type': 'application/x-www-form-urlencoded',
        cookie: cookieHeader(c, callback.url),
      },
      body: u.searchParams.toString(),
    });
    assert.equal(r.status, 302, r.text.slice(0, 300));
    assert.ok(String(r.headers['set-cookie']).includes(SESSION_COOKIE), JSON.stringify(r.headers));
  });
});

describe('nginx request bodies', { skip }, () => {
  let s;
  before(async () => {
    s = await startStack(nginx);
  });
  after(async () => {
    await s?.stop();
  });

  it('a form_post-style callback (code and state in a POST body, padded past the memory buffer) signs in', async () => {
    const c = s.client();
    const { callback } = await s.signIn(c, { login: 'gina', stopAtCallback: true });
    const u = new URL(callback.url);
    const form = Object.fromEntries(u.searchParams);
    // 40 KB: more than client_body_buffer_size, so nginx buffers it to a temporary file
    form.padding = 'p'.repeat(40 * 1024);
    const res = await c.post(`${u.origin}${u.pathname}`, { form });
    assert.equal(res.status, 302, res.describe());
    assert.ok(res.setCookies.some((x) => x.name === SESSION_COOKIE), res.describe());
    const echo = echoOf(await c.get(s.at('/after-post')));
    assert.equal(echo.headers['x-ms-client-principal-id'], 'gina');
  });

  it('reads POST bodies under a custom routes.apiPrefix too (client-directed login at /_auth)', async () => {
    const custom = await startStack(nginx, {
      configure: (cfg) => {
        cfg.httpSettings = { ...cfg.httpSettings, routes: { apiPrefix: '/_auth' } };
        return cfg;
      },
    });
    try {
      const idToken = custom.idp.mintIdToken({ sub: 'prefix-user' });
      const r = await custom.client().post(custom.at('/_auth/login/testidp'), {
        body: JSON.stringify({ id_token: idToken }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(r.status, 200, r.describe());
      assert.ok(JSON.parse(r.text).authenticationToken);
    } finally {
      await custom.stop();
    }
  });

  it('refuses a body over 64 KB to /.auth/ by its Content-Length with 413', async () => {
    const body = 'x'.repeat(64 * 1024 + 1);
    const r = await request(s.at('/.auth/login/testidp/callback'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length },
      body,
    });
    assert.equal(r.status, 413, r.text.slice(0, 200));
    assert.match(s.logs(), /request body of 65537 bytes is over the limit/);
  });

  it('refuses a chunked body over 64 KB to /.auth/ with 413', async () => {
    const piece = 'y'.repeat(8 * 1024);
    const r = await request(s.at('/.auth/login/testidp/callback'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' },
      body: Array.from({ length: 10 }, () => piece),
    });
    assert.equal(r.status, 413, r.text.slice(0, 200));
    assert.ok(s.host.alive());
  });

  it('leaves large bodies to the application alone', async () => {
    const c = s.client();
    await s.signIn(c, { login: 'hank' });
    const body = 'z'.repeat(200 * 1024);
    const r = await request(s.at('/upload'), {
      method: 'POST',
      headers: { cookie: cookieHeader(c, s.url), 'content-type': 'text/plain', origin: s.origin },
      body,
    });
    assert.equal(r.status, 200, r.text.slice(0, 200));
    const echo = JSON.parse(r.text);
    assert.equal(echo.method, 'POST');
    assert.equal(echo.headers['content-length'], String(body.length));
    assert.equal(echo.headers['x-ms-client-principal-id'], 'hank');
  });
});

// What nginx's module guarantees on its own, whatever the library answers: identity headers
// removed on raw bytes, before anything can end the request; a request judged again by the
// configuration of the location an internal redirect takes it to; subrequests refused where
// the main request's judgement does not hold; and no header from the library written unless
// it is a valid one. The upstream here is a raw recorder (lib/raw.js): it sees the bytes
// nginx sends, which Node's HTTP parser would refuse.

/** Every spelling of an identity header, and every kind of value, as raw bytes. */
const FORGED_NAMES = [
  'X-MS-CLIENT-PRINCIPAL',
  'X-MS-CLIENT-PRINCIPAL-NAME',
  'x_ms_client_principal_name',
  'X-Ms-Token-Aad-Access-Token',
  'X_MS_TOKEN_AAD_ID_TOKEN',
  'x-ms-client-principal-idp',
  'x-MS_client-PRINCIPAL_new',
  // bytes nginx calls invalid in a name: kept under "ignore_invalid_headers off"
  'X-MS-CLIENT-PRINCIPAL-NAME\xff',
  'x-ms-token-testidp-access-token(x)',
].map((n) => Buffer.from(n, 'latin1'));
// nginx refuses whitespace or a control byte in a name (an obs-fold line) with 400 itself
const FOLDED_LINES = [
  ' X-MS-CLIENT-PRINCIPAL-NAME: forged',
  '\tX-MS-TOKEN-AAD-ACCESS-TOKEN: forged\xff',
  'X-MS-CLIENT-PRINCIPAL-NAME : forged',
  'X-MS-CLIENT-PRINCIPAL\x01NAME: forged',
];
const FORGED_VALUES = [
  'forged-ascii',
  'forged\xff',
  '\xffforged',
  'forged caf\xe9 \x80\x81\xfe',
  'forged\xc3\x28',
  'forged\x00tail', // nginx itself refuses a NUL with 400
].map((v) => Buffer.from(v, 'latin1'));

function rawGet(path, lines, { method = 'GET', body } = {}) {
  const head = Buffer.concat([
    Buffer.from(`${method} ${path} HTTP/1.1\r\n`),
    ...lines.map((l) => Buffer.concat([Buffer.from(l, 'latin1'), Buffer.from('\r\n')])),
    Buffer.from('Host: 127.0.0.1\r\nConnection: close\r\n'),
    body ? Buffer.from(`Content-Length: ${body.length}\r\n`) : Buffer.alloc(0),
    Buffer.from('\r\n'),
  ]);
  return body ? Buffer.concat([head, body]) : head;
}

function forgedLine(name, value) {
  return Buffer.concat([name, Buffer.from(': '), value]);
}

/** No identity header and no forged value in what the recorder received. */
function assertNothingForged(requests, what) {
  for (const req of requests) {
    const bad = headerLines(req.head).filter(([n]) => reservedName(n));
    assert.deepEqual(bad.map(([n]) => n.toString('latin1')), [], `${what}: the upstream received identity headers`);
    assert.ok(!req.head.includes('forged'), `${what}: the upstream received ${JSON.stringify(req.head.toString('latin1'))}`);
  }
}

describe('nginx removes identity headers itself, on raw bytes', { skip }, () => {
  let s;
  let rec;
  before(async () => {
    rec = await startRecorder();
    const up = `http://127.0.0.1:${rec.port}`;
    s = await startStack(
      nginxWith({
        serverConf: `
        # names with '_', and with bytes nginx calls invalid, reach the upstream: the module
        # must remove the identity ones among them too
        underscores_in_headers on;
        ignore_invalid_headers off;
        location /raw/ { proxy_pass ${up}; }
        location /off/ { ezauth_config off; proxy_pass ${up}; }
        location /.auth/login/same { error_page 413 = @raw; proxy_pass ${up}; }
        location /.auth/login/off { error_page 413 = @raw_off; proxy_pass ${up}; }
        location @raw { proxy_pass ${up}; }
        location @raw_off { ezauth_config off; proxy_pass ${up}; }
`,
      }),
      { action: 'AllowAnonymous', idp: 'none' },
    );
  });
  after(async () => {
    await s?.stop();
    await rec?.close();
  });

  it(`${FORGED_NAMES.length} spellings x ${FORGED_VALUES.length} values, one request each, never reach the upstream`, async () => {
    for (const [i, name] of FORGED_NAMES.entries()) {
      for (const [j, value] of FORGED_VALUES.entries()) {
        const what = `${JSON.stringify(name.toString('latin1'))}: ${JSON.stringify(value.toString('latin1'))}`;
        rec.take();
        const r = await rawExchange(s.port, rawGet(`/raw/${i}/${j}`, [forgedLine(name, value)]));
        const seen = rec.take();
        if (value.includes(0)) {
          assert.equal(r.status, 400, `${what}: ${r.head}`);
        } else {
          assert.equal(r.status, 200, `${what}: ${r.bytes.toString('latin1').slice(0, 300)}`);
          assert.equal(seen.length, 1, what);
        }
        assertNothingForged(seen, what);
      }
    }
  });

  it('all of them in one request, also in a location with "ezauth_config off" under a configured server', async () => {
    const lines = [];
    for (const name of FORGED_NAMES) for (const value of FORGED_VALUES) if (!value.includes(0)) lines.push(forgedLine(name, value));
    for (const path of ['/raw/all', '/off/all']) {
      rec.take();
      const r = await rawExchange(s.port, rawGet(path, [...lines, 'X-Kept: kept']));
      assert.equal(r.status, 200, `${path}: ${r.bytes.toString('latin1').slice(0, 300)}`);
      const seen = rec.take();
      assert.equal(seen.length, 1);
      assertNothingForged(seen, path);
      assert.ok(seen[0].head.includes('X-Kept: kept'), `${path}: other headers stay`);
    }
  });

  it('routing overrides (X-Original-URL, X-Rewrite-URL) never reach the upstream, in an "ezauth_config off" location too', async () => {
    const lines = ['X-Original-URL: /admin', 'x-rewrite-url: /admin', 'X_Original_URL: /admin', 'X.Rewrite.URL: /admin', 'X-Kept: kept'];
    for (const path of ['/raw/override', '/off/override']) {
      rec.take();
      const r = await rawExchange(s.port, rawGet(path, lines));
      assert.equal(r.status, 200, `${path}: ${r.bytes.toString('latin1').slice(0, 300)}`);
      const seen = rec.take();
      assert.equal(seen.length, 1);
      const head = seen[0].head.toString('latin1');
      assert.doesNotMatch(head, /original.url|rewrite.url/i, `${path}: ${head}`);
      assert.ok(seen[0].head.includes('X-Kept: kept'), `${path}: other headers stay`);
    }
  });

  it('an obs-fold line (a name starting with whitespace) gets 400 from nginx and reaches nothing', async () => {
    for (const line of FOLDED_LINES) {
      rec.take();
      const r = await rawExchange(s.port, rawGet('/raw/folded', ['X-A: b', line]));
      assert.equal(r.status, 400, JSON.stringify(line));
      assert.equal(rec.take().length, 0);
    }
  });

  it("logs the library's lines about a request through the request's log: they name the client and the request", async () => {
    for (const [i, cookie] of ['garbage', 'x.y.z', '%ff'].entries()) {
      const probe = `/raw/log-probe-${i}-${Date.now()}`;
      const r = await rawExchange(s.port, rawGet(probe, [`Cookie: AppServiceAuthSession=${cookie}`]));
      assert.ok(r.status < 500, r.bytes.toString('latin1').slice(0, 300));
      const line = s.logs().split('\n').find((l) => l.includes(`request: "GET ${probe} `));
      assert.ok(line, `no log line names the request ${probe}`);
      assert.match(line, /\[warn\].* ezauth: ignored session cookie from 127\.0\.0\.1: .*, client: 127\.0\.0\.1, server: .*, request: "GET /);
    }
  });

  it('logs each removed header by its name, never its value', () => {
    const log = s.logs();
    assert.match(log, /ezauth: removed client-sent identity header "x_ms_client_principal_name"/);
    assert.match(log, /ezauth: removed client-sent identity header "X-MS-CLIENT-PRINCIPAL-NAME\\xff"/);
    const ours = log.split('\n').filter((l) => l.includes('ezauth'));
    assert.ok(!ours.some((l) => l.includes('forged')), 'a header value reached an ezauth log line');
  });

  for (const [loc, want] of [
    ['same', 'is judged again there, and refused again with 413'],
    ['off', 'reaches the upstream without it'],
  ]) {
    it(`a 70 KB POST to /.auth/login/${loc} with a forged header, sent on by "error_page 413 = @..." ${want}`, async () => {
      const body = Buffer.alloc(70 * 1024, 'a');
      for (const value of FORGED_VALUES.slice(0, 2)) {
        rec.take();
        const r = await rawExchange(
          s.port,
          rawGet(`/.auth/login/${loc}`, [forgedLine(FORGED_NAMES[1], value), 'Content-Type: application/json'], { method: 'POST', body }),
        );
        const seen = rec.take();
        assertNothingForged(seen, `${loc}, ${JSON.stringify(value.toString('latin1'))}`);
        if (loc === 'same') {
          assert.equal(r.status, 413, r.bytes.toString('latin1').slice(0, 300));
          assert.equal(seen.length, 0, 'a request the module refused reached the upstream');
        } else {
          assert.equal(r.status, 200, r.bytes.toString('latin1').slice(0, 300));
          assert.equal(seen.length, 1);
        }
      }
    });
  }

  it('a chunked 70 KB POST sent on by "error_page 413 = @raw" is refused again, not judged on part of its body', async () => {
    const piece = Buffer.alloc(10 * 1024, 'c');
    let chunked = Buffer.alloc(0);
    for (let i = 0; i < 7; i += 1) chunked = Buffer.concat([chunked, Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
    chunked = Buffer.concat([chunked, Buffer.from('0\r\n\r\n')]);
    const head = rawGet('/.auth/login/same', [forgedLine(FORGED_NAMES[2], FORGED_VALUES[1]), 'Transfer-Encoding: chunked'], {
      method: 'POST',
    });
    rec.take();
    const r = await rawExchange(s.port, Buffer.concat([head, chunked]));
    assert.equal(r.status, 413, r.bytes.toString('latin1').slice(0, 300));
    assertNothingForged(rec.take(), 'chunked');
  });
});

// Every early return of the access phase (500: the library's request headers are not valid, or
// the blocking step failed; 503: the thread pool's queue is full), sent on by an error_page, must
// not carry a client's identity headers: they are removed before anything else happens.
const EARLY_LOCATIONS = (up) => `
        underscores_in_headers on;
        ignore_invalid_headers off;
        location /early/off/ { error_page 500 503 = @early_off; proxy_pass ${up}; }
        location /early/same/ { error_page 500 503 = @early_same; proxy_pass ${up}; }
        location /early/core413/off/ { client_max_body_size 1k; error_page 413 = @early_off; proxy_pass ${up}; }
        location /early/core413/same/ { client_max_body_size 1k; error_page 413 = @early_same; proxy_pass ${up}; }
        location @early_off { ezauth_config off; proxy_pass ${up}; }
        location @early_same { proxy_pass ${up}; }
`;

/** Every forged name with two of its values (non-UTF-8 and plain), as header lines. */
function forgedVariants() {
  const out = [];
  for (const name of FORGED_NAMES) for (const value of FORGED_VALUES.slice(0, 2)) out.push(forgedLine(name, value));
  return out;
}

/**
 * Sends every forged header to /early/off/ (the error page goes to an "ezauth_config off"
 * location: it reaches the recorder, without them) and /early/same/ (judged again, fails again:
 * nginx's own error page, nothing at the recorder).
 */
async function sendForgedThroughErrorPages(s, rec, status) {
  let n = 0;
  for (const line of forgedVariants()) {
    const what = JSON.stringify(line.toString('latin1'));
    rec.take();
    const off = await rawExchange(s.port, rawGet(`/early/off/${n}`, [line, 'X-Kept: kept']));
    const seenOff = rec.take();
    assert.equal(off.status, 200, `${what}: the ${status} was not sent on to @early_off: ${off.bytes.toString('latin1').slice(0, 200)}`);
    assert.equal(seenOff.length, 1, what);
    assertNothingForged(seenOff, `${status} -> @early_off, ${what}`);
    assert.ok(seenOff[0].head.includes('X-Kept: kept'), `${what}: other headers stay`);
    const same = await rawExchange(s.port, rawGet(`/early/same/${n}`, [line]));
    assert.equal(same.status, status, `${what}: ${same.bytes.toString('latin1').slice(0, 200)}`);
    assertNothingForged(rec.take(), `${status} -> @early_same, ${what}`);
    n += 1;
  }
  return n;
}

describe('nginx removes identity headers before an early 500, or nginx\'s own 413, that an error_page sends on', { skip }, () => {
  // the library's headers to set on the request are made invalid (tests/c/header_shim.c): the
  // access phase fails with 500
  const SHIM = path.join(BUILD_DIR, 'libezauth_header_shim.so');
  let s;
  let rec;
  let dir;
  before(async () => {
    assert.ok(fs.existsSync(SHIM), `${SHIM} missing: run 'make -C native-host'`);
    rec = await startRecorder();
    dir = scratchDir('early-500');
    fs.writeFileSync(path.join(dir, 'extra'), '1:crlf');
    s = await startStack(nginxWith({ serverConf: EARLY_LOCATIONS(`http://127.0.0.1:${rec.port}`) }), {
      action: 'AllowAnonymous',
      idp: 'none',
      env: { LD_PRELOAD: SHIM, EZAUTH_TEST_EXTRA_HEADER: `@${path.join(dir, 'extra')}` },
    });
  });
  after(async () => {
    await s?.stop();
    await rec?.close();
    removeScratch(dir);
  });

  it(`${FORGED_NAMES.length} spellings x 2 values: never at the upstream, whichever location the error page takes them to`, async () => {
    const n = await sendForgedThroughErrorPages(s, rec, 500);
    assert.equal(n, FORGED_NAMES.length * 2);
    assert.match(s.logs(), /the library gave an invalid request header/, 'the 500s came from the invalid library header');
    assert.doesNotMatch(rec.requests.map((r) => r.head.toString('latin1')).join('\n'), /x-shim/i);
  });

  it('nginx\'s own 413 (client_max_body_size, before the access phase) sent on by an error_page: never at the upstream', async () => {
    fs.writeFileSync(path.join(dir, 'extra'), '');
    const body = Buffer.alloc(4096, 'b');
    for (const where of ['off', 'same']) {
      for (const line of forgedVariants()) {
        const what = `${where}, ${JSON.stringify(line.toString('latin1'))}`;
        rec.take();
        const r = await rawExchange(s.port, rawGet(`/early/core413/${where}/x`, [line, 'X-Kept: kept'], { method: 'POST', body }));
        const seen = rec.take();
        assert.equal(r.status, 200, `${what}: ${r.bytes.toString('latin1').slice(0, 200)}`);
        assert.equal(seen.length, 1, what);
        assertNothingForged(seen, `nginx's 413 -> @early_${where}, ${what}`);
        assert.ok(seen[0].head.includes('X-Kept: kept'), `${what}: other headers stay`);
      }
    }
  });
});

describe('nginx removes identity headers before an early 503 (thread pool queue full) that an error_page sends on', { skip }, () => {
  // the thread is held this long; the provider call timeout is raised above it
  const DELAY_MS = 6000;
  let s;
  let rec;
  before(async () => {
    rec = await startRecorder();
    // one thread, one place in its queue: a slow login callback holds the thread, one more
    // blocking step waits in the queue, and every other one gets 503
    s = await startStack(
      nginxWith({
        workers: 1,
        mainConf: 'thread_pool tiny threads=1 max_queue=1;',
        serverConf: `        ezauth_thread_pool tiny;\n${EARLY_LOCATIONS(`http://127.0.0.1:${rec.port}`)}`,
      }),
      { configure: (c) => ({ ...c, ezauth: { ...c.ezauth, httpTimeoutSeconds: 20 } }) },
    );
  });
  after(async () => {
    s?.idp?.hooks.reset();
    await s?.stop();
    await rec?.close();
  });

  it(`${FORGED_NAMES.length} spellings x 2 values: never at the upstream, whichever location the error page takes them to`, async () => {
    const slowClient = s.client();
    const { callback } = await s.signIn(slowClient, { login: 'frank', stopAtCallback: true });
    s.idp.hooks.set({ tokenDelayMs: DELAY_MS });
    const tokenCalls = s.idp.counters.token;
    const slow = deliverCallback(slowClient, callback);
    const waitEnd = Date.now() + 3000;
    while (s.idp.counters.token === tokenCalls && Date.now() < waitEnd) await new Promise((r) => setTimeout(r, 5));
    assert.ok(s.idp.counters.token > tokenCalls, 'the callback never reached the token endpoint');

    // the queue's one place: an anonymous navigation's login redirect (a blocking step)
    const queued = request(s.at('/queued/page'));
    await new Promise((r) => setTimeout(r, 200));

    const n = await sendForgedThroughErrorPages(s, rec, 503);
    assert.equal(n, FORGED_NAMES.length * 2);

    assert.equal((await queued).status, 302, 'the queued login redirect was answered once the thread was free');
    assert.equal((await slow).status, 302, 'the slow callback finished');
    assert.match(s.logs(), /thread pool "tiny" queue overflow/, 'the 503s came from the full queue');
  });
});

describe('nginx judges a request again where an internal redirect takes it to another ezauth_config', { skip }, () => {
  let s;
  let rec;
  let signedIn;
  let dir;
  before(async () => {
    rec = await startRecorder((req) => {
      if (req.path.startsWith('/accel/')) return { headers: { 'X-Accel-Redirect': '/strict/accel' } };
      if (req.path.startsWith('/accel-same/')) return { headers: { 'X-Accel-Redirect': '/raw/accel-same' } };
      if (req.path.startsWith('/err-')) return { status: 404 };
      if (req.path.startsWith('/ssi/')) {
        return {
          headers: { 'Content-Type': 'text/html' },
          body: 'main [<!--# include virtual="/strict/frag" -->] [<!--# include virtual="/raw/frag" -->] [<!--# include virtual="/.auth/version" -->]',
        };
      }
      return { body: `recorded ${req.path}\n` };
    });
    dir = scratchDir('strict');
    // the other configuration: nobody gets through anonymously
    const strict = path.join(dir, 'strict.json');
    fs.writeFileSync(
      strict,
      JSON.stringify({
        platform: { enabled: true },
        globalValidation: { requireAuthentication: true, unauthenticatedClientAction: 'Return401' },
        httpSettings: { requireHttps: false },
      }),
    );
    const up = `http://127.0.0.1:${rec.port}`;
    const none = path.join(dir, 'no-such-root');
    s = await startStack(
      nginxWith({
        serverConf: `
        location /raw/ { proxy_pass ${up}; }
        location /strict/ { ezauth_config ${strict}; proxy_pass ${up}; }
        location @strict { ezauth_config ${strict}; proxy_pass ${up}; }
        location @same { proxy_pass ${up}; }
        location @off { ezauth_config off; proxy_pass ${up}; }
        location /try-strict/ { root ${none}; try_files $uri @strict; }
        location /try-same/ { root ${none}; try_files $uri @same; }
        location /try-off/ { root ${none}; try_files $uri @off; }
        location /try-rewrite/ { root ${none}; try_files $uri /rewrite-to-strict/x; }
        location /rewrite-to-strict/ { rewrite ^ /strict/rewritten last; }
        location /err-strict/ { proxy_pass ${up}; proxy_intercept_errors on; error_page 404 = @strict; }
        location /accel/ { proxy_pass ${up}; }
        location /accel-same/ { proxy_pass ${up}; }
        location /ar-same/ { auth_request /raw/auth; proxy_pass ${up}; }
        location /ar-strict/ { auth_request /strict/auth; proxy_pass ${up}; }
        location /ssi/ { ssi on; proxy_pass ${up}; }
`,
      }),
      { action: 'AllowAnonymous' },
    );
    signedIn = s.client();
    await s.signIn(signedIn, { login: 'rita' });
  });
  after(async () => {
    await s?.stop();
    await rec?.close();
    removeScratch(dir);
  });

  /** GET on a fresh connection, anonymous or with the signed-in client's cookies; what the upstream got. */
  async function get(p, { cookie = false } = {}) {
    rec.take();
    const headers = cookie ? { cookie: cookieHeader(signedIn, s.url) } : {};
    const r = await request(s.at(p), { headers });
    return { ...r, seen: rec.take() };
  }

  function seenHeader(req, name) {
    const line = headerLines(req.head).find(([n]) => n.toString('latin1').toLowerCase() === name);
    return line ? line[1].toString('latin1').trim() : undefined;
  }

  it('baseline: the server\'s configuration lets anonymous requests through, the other one does not', async () => {
    assert.equal((await get('/raw/x')).status, 200);
    assert.equal((await get('/strict/x')).status, 401);
  });

  for (const [p, how] of [
    ['/try-strict/x', 'try_files ... @named'],
    ['/err-strict/x', 'proxy_intercept_errors + error_page 404 = @named'],
    ['/accel/x', 'X-Accel-Redirect'],
    ['/try-rewrite/x', 'try_files ... /uri, then rewrite ... last'],
  ]) {
    it(`${how}: judged again by the other configuration (401), the upstream never sees it there`, async () => {
      const r = await get(p);
      assert.equal(r.status, 401, `${p}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.ok(!r.seen.some((q) => q.path.startsWith('/strict/') || q.path === p.replace('/x', '') || q.path.startsWith('/try-')), JSON.stringify(r.seen.map((q) => q.path)));
      assert.match(s.logs(), new RegExp(`internal redirect to .*judged again by its ezauth_config.*request: "GET ${p}`));
    });
  }

  it('into a named location with the same configuration (same URI): the judgement stands, not run again', async () => {
    const p = '/try-same/x';
    const anon = await get(p);
    assert.equal(anon.status, 200, `${p}: ${anon.text.slice(0, 200)}`);
    const r = await get(p, { cookie: true });
    assert.equal(r.status, 200, `${p}: ${r.text.slice(0, 200)}`);
    const last = r.seen[r.seen.length - 1];
    assert.equal(seenHeader(last, 'x-ms-client-principal-name'), 'User rita', `${p}: the identity stays`);
    assert.doesNotMatch(s.logs(), new RegExp(`judged again.*request: "GET ${p}`), `${p} was judged again`);
  });

  it('X-Accel-Redirect to another URI under the same configuration: judged again, still signed in, headers once', async () => {
    const p = '/accel-same/x';
    const anon = await get(p);
    assert.equal(anon.status, 200, `${p}: ${anon.text.slice(0, 200)}`);
    const r = await get(p, { cookie: true });
    assert.equal(r.status, 200, `${p}: ${r.text.slice(0, 200)}`);
    const last = r.seen[r.seen.length - 1];
    assert.equal(last.path, '/raw/accel-same');
    assert.deepEqual(headerValues(last, 'x-ms-client-principal-name'), ['User rita'], `${p}: the identity, once`);
    assert.match(s.logs(), new RegExp(`internal redirect to "/raw/accel-same": judged again by its ezauth_config.*request: "GET ${p}`));
  });

  it('into a location with "ezauth_config off": the identity headers of the first judgement go', async () => {
    const r = await get('/try-off/x', { cookie: true });
    assert.equal(r.status, 200, r.text.slice(0, 200));
    assert.equal(r.seen.length, 1);
    assert.deepEqual(headerLines(r.seen[0].head).filter(([n]) => reservedName(n)).map(([n]) => `${n}`), []);
    assert.match(s.logs(), /judged again by "ezauth_config off".*request: "GET \/try-off\/x/);
  });

  it('auth_request into the same configuration: the subrequest carries the main request\'s identity', async () => {
    const r = await get('/ar-same/x', { cookie: true });
    assert.equal(r.status, 200, r.text.slice(0, 200));
    const auth = r.seen.find((q) => q.path === '/raw/auth');
    assert.ok(auth, JSON.stringify(r.seen.map((q) => q.path)));
    assert.equal(seenHeader(auth, 'x-ms-client-principal-name'), 'User rita');
    assert.equal((await get('/ar-same/x')).status, 200, 'anonymous, as the configuration allows');
  });

  it('auth_request into another configuration: the subrequest is refused (403), never skipped', async () => {
    for (const cookie of [false, true]) {
      const r = await get('/ar-strict/x', { cookie });
      assert.equal(r.status, 403, r.text.slice(0, 200));
      assert.deepEqual(r.seen.map((q) => q.path), [], 'the upstream got the subrequest or the request');
    }
    assert.match(s.logs(), /subrequest "\/strict\/auth" to a location whose ezauth_config did not judge the main request/);
  });

  it('SSI: an include into another configuration is refused; into the same one it is judged (a /.auth route answers)', async () => {
    const r = await get('/ssi/page', { cookie: true });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    const paths = r.seen.map((q) => q.path);
    assert.ok(!paths.includes('/strict/frag'), JSON.stringify(paths));
    assert.ok(paths.includes('/raw/frag'), JSON.stringify(paths));
    assert.ok(!r.text.includes('recorded /strict/frag'), r.text);
    assert.ok(r.text.includes('recorded /raw/frag'), r.text);
    assert.match(r.text, /"version"/, 'the library answered the /.auth/version include');
  });
});

/** Every value of a header the upstream received, by its lower-cased name. */
function headerValues(req, name) {
  return headerLines(req.head)
    .filter(([n]) => n.toString('latin1').toLowerCase() === name)
    .map(([, v]) => v.toString('latin1').trim());
}

// The attacker's configuration: excludedPaths ["/public/*", "/health"], RedirectToLoginPage, one
// ezauth_config for the whole server. An internal redirect from an excluded path to a protected
// URI (or to /.auth) is judged again, on the URI the upstream receives: the anonymous judgement
// of the excluded path never travels with it.
describe('nginx judges a request again where an internal redirect from an excluded path takes it, under the same configuration', { skip }, () => {
  let s;
  let rec;
  let dir;
  let signedIn;
  const WHERE = {}; // the X-Accel-Redirect target by the upstream path that answers with it
  before(async () => {
    rec = await startRecorder((req) => {
      const to = WHERE[req.path.split('?')[0]];
      // @app marks its requests: the X-Accel-Redirect to it is answered once
      if (to && !/\r\nx-from-named: 1\r\n/i.test(`${req.head}\r\n`)) return { headers: { 'X-Accel-Redirect': to } };
      if (req.path.startsWith('/public/app404/')) return { status: 404 };
      return { body: `recorded ${req.path}\n` };
    });
    Object.assign(WHERE, {
      '/public/app/accel-admin': '/admin/accel',
      '/public/app/accel-args': '/admin/accel?x=1',
      '/public/app/accel-me': '/.auth/me',
      '/public/app/accel-public': '/public/app/landing',
      '/public/app/accel-named': '@app',
    });
    dir = scratchDir('redir');
    const www = path.join(dir, 'www');
    fs.mkdirSync(path.join(www, 'public', 'spa'), { recursive: true });
    fs.writeFileSync(path.join(www, 'public', 'hello.txt'), 'static hello\n');
    fs.writeFileSync(path.join(www, 'public', 'index.html'), 'public index\n');
    fs.writeFileSync(path.join(www, 'public', 'spa', 'index.html'), 'spa index\n');
    fs.writeFileSync(path.join(www, 'index.html'), 'site index\n');
    fs.mkdirSync(path.join(www, 'admin'));
    fs.writeFileSync(path.join(www, 'admin', 'index.html'), 'admin index\n');
    for (const d of [dir, www, path.join(www, 'admin'), path.join(www, 'public'), path.join(www, 'public', 'spa')]) fs.chmodSync(d, 0o755);
    const up = `http://127.0.0.1:${rec.port}`;
    const dead = `http://127.0.0.1:${await closedPort()}`;
    s = await startStack(
      nginxWith({
        serverConf: `
        location /public/ { root ${www}; try_files $uri /admin/dashboard; }
        location /public/args/ { root ${www}; try_files $uri /admin/args?from=try; }
        location /public/space/ { root ${www}; try_files $uri "/admin/a b"; }
        location /public/me/ { root ${www}; try_files $uri /.auth/me; }
        location /public/post/ { root ${www}; try_files $uri /.auth/login/testidp; }
        location /public/spa/ { root ${www}; try_files $uri /public/spa/index.html; }
        location /public/named/ { root ${www}; try_files $uri @app; }
        location /public/missing/ { root ${www}; error_page 404 = /admin; }
        location /public/app/ { proxy_pass ${up}; }
        location /public/app404/ { proxy_pass ${up}; proxy_intercept_errors on; error_page 404 = /admin/from-404; }
        location /public/dead-me/ { error_page 502 = /.auth/me; proxy_pass ${dead}; }
        location /public/rewrite-break/ { rewrite ^/public/rewrite-break/(.*)$ /admin/$1 break; proxy_pass ${up}; }
        location /public/rewrite-last/ { rewrite ^/public/rewrite-last/(.*)$ /admin/$1 last; }
        location /public/idx/ { alias ${www}/; index index.html; }
        location /health { error_page 502 = /admin/from-errorpage; proxy_pass ${dead}; }
        location @app { proxy_set_header X-From-Named 1; proxy_pass ${up}; }
        location /public/idx-abs/ { root ${www}; index /admin/index.html; }
        location /own/ { error_page 302 401 = /public/hello.txt; proxy_pass ${up}; }
`,
      }),
      { upstreamPort: rec.port },
    );
    signedIn = s.client();
    await s.signIn(signedIn, { login: 'rita' });
    rec.take();
  });
  after(async () => {
    await s?.stop();
    await rec?.close();
    removeScratch(dir);
  });

  async function send(p, { cookie = false, method = 'GET', body, headers = {} } = {}) {
    rec.take();
    const h = { ...headers, ...(cookie ? { cookie: cookieHeader(signedIn, s.url) } : {}) };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    const r = await request(s.at(p), { method, headers: h, body });
    return { ...r, seen: rec.take() };
  }

  /** The library's redirect to the login page (the provider's), nothing at the app. */
  function assertLogin(r, p, upstreamMay = []) {
    assert.equal(r.status, 302, `${p}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.match(r.headers.location || '', /\/auth\?response_type=code&client_id=ezauth-test&/, `${p}: ${r.headers.location}`);
    const got = r.seen.map((q) => q.path).filter((x) => !upstreamMay.includes(x));
    assert.deepEqual(got, [], `${p}: the app received something anonymously`);
  }

  it('baseline: a protected URI redirects to the login page, an excluded one is served anonymously', async () => {
    assertLogin(await send('/admin/dashboard'), '/admin/dashboard');
    const r = await send('/public/hello.txt');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'static hello\n');
  });

  // [client path, what takes it where, upstream requests allowed before the redirect]
  const TO_PROTECTED = [
    ['/public/nonexistent', 'try_files $uri /admin/dashboard'],
    ['/public/args/nonexistent', 'try_files $uri /admin/args?from=try'],
    ['/public/space/nonexistent', 'try_files $uri "/admin/a b" (escaped again: /admin/a%20b)'],
    ['/health', 'error_page 502 = /admin/from-errorpage (dead upstream)'],
    ['/public/missing/nonexistent', 'error_page 404 = /admin (static 404)'],
    ['/public/app404/x', 'proxy_intercept_errors + error_page 404 = /admin/from-404', ['/public/app404/x']],
    ['/public/app/accel-admin', 'X-Accel-Redirect: /admin/accel from the app', ['/public/app/accel-admin']],
    ['/public/app/accel-args', 'X-Accel-Redirect: /admin/accel?x=1 from the app', ['/public/app/accel-args']],
    ['/public/rewrite-break/secret', 'rewrite ^/public/... /admin/$1 break (before the access phase)'],
    ['/public/rewrite-last/secret', 'rewrite ^/public/... /admin/$1 last (before the access phase)'],
    ['/public/idx-abs/', 'index /admin/index.html'],
  ];
  for (const [p, how, before] of TO_PROTECTED) {
    it(`anonymous ${p}, ${how}: the login redirect, never the app`, async () => {
      assertLogin(await send(p), p, before);
    });
  }

  it('the judgement is made on the URI the app would receive, and logged once as a judgement again', async () => {
    assertLogin(await send('/public/args/nonexistent'), '/public/args/nonexistent');
    const lines = s.logs().split('\n').filter((l) => /internal redirect to "\/admin\/args": judged again by its ezauth_config/.test(l));
    assert.ok(lines.length >= 1, 'no info line for the judgement again');
  });

  for (const [p, how, before] of [
    ['/public/me/nonexistent', 'try_files $uri /.auth/me', []],
    ['/public/dead-me/x', 'error_page 502 = /.auth/me (dead upstream)', []],
    ['/public/app/accel-me', 'X-Accel-Redirect: /.auth/me from the app', ['/public/app/accel-me']],
  ]) {
    it(`${p}, ${how}: answered by ezauth, never by the app`, async () => {
      for (const cookie of [false, true]) {
        const r = await send(p, { cookie });
        const atApp = r.seen.map((q) => q.path).filter((x) => !before.includes(x));
        assert.deepEqual(atApp, [], `${p}: the app received ${JSON.stringify(atApp)}`);
        assert.ok(!r.seen.some((q) => q.path.startsWith('/.auth')), 'the app received a /.auth path');
        if (cookie) {
          assert.equal(r.status, 200, `${p}: ${r.status} ${r.text.slice(0, 200)}`);
          const me = JSON.parse(r.text);
          assert.ok(Array.isArray(me) && me.length === 1, r.text.slice(0, 200));
          assert.equal(me[0].provider_name, 'testidp');
        } else {
          assert.notEqual(r.status, 200, `${p}: anonymous /.auth/me answered 200: ${r.text.slice(0, 200)}`);
          assert.ok(!r.text.includes('recorded'), r.text.slice(0, 200));
        }
      }
    });
  }

  it('a POST through try_files to a /.auth POST route: ezauth reads the body and answers, the app gets nothing', async () => {
    const r = await send('/public/post/nonexistent', {
      method: 'POST',
      body: JSON.stringify({ access_token: 'not-a-token' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${r.text.slice(0, 200)}`);
    assert.deepEqual(r.seen.map((q) => q.path), []);
  });

  it('a POST through try_files to a protected URI: refused as a direct POST there is (401), never the app', async () => {
    const direct = await send('/admin/dashboard', { method: 'POST', body: 'a=1' });
    const r = await send('/public/nonexistent', { method: 'POST', body: 'a=1' });
    assert.equal(r.status, direct.status, r.text.slice(0, 200));
    assert.equal(r.status, 401, r.text.slice(0, 200));
    assert.deepEqual(r.seen.map((q) => q.path), []);
  });

  for (const [p, how, target, before] of [
    ['/public/nonexistent', 'try_files $uri /admin/dashboard', '/admin/dashboard', []],
    ['/health', 'error_page 502 = /admin/from-errorpage', '/admin/from-errorpage', []],
    ['/public/app/accel-admin', 'X-Accel-Redirect', '/admin/accel', ['/public/app/accel-admin']],
    ['/public/rewrite-last/secret', 'rewrite ... last', '/admin/secret', []],
  ]) {
    it(`signed in, ${p} (${how}): still signed in at ${target}, its identity headers once`, async () => {
      const r = await send(p, { cookie: true, headers: { 'x-ms-client-principal-name': 'forged' } });
      assert.equal(r.status, 200, `${p}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.deepEqual(r.seen.map((q) => q.path), [...before, target]);
      const last = r.seen[r.seen.length - 1];
      assert.deepEqual(headerValues(last, 'x-ms-client-principal-name'), ['User rita']);
      assert.equal(headerValues(last, 'x-ms-client-principal-id').length, 1);
      assert.equal(headerValues(last, 'x-ms-client-principal').length, 1);
    });
  }

  it('an error_page for the library\'s own 302 and 401 never runs: those answers are sent as made', async () => {
    assertLogin(await send('/own/x'), '/own/x');
    const post = await send('/own/x', { method: 'POST', body: 'a=1' });
    assert.equal(post.status, 401, post.text.slice(0, 200));
    assert.ok(!post.text.includes('static hello'), post.text.slice(0, 200));
  });

  it('a named location (same URI): the anonymous judgement of the excluded path stands, not run again', async () => {
    const p = '/public/named/nonexistent';
    const r = await send(p);
    assert.equal(r.status, 200, `${p}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.deepEqual(r.seen.map((q) => q.path), [p]);
    assert.deepEqual(headerLines(r.seen[0].head).filter(([n]) => reservedName(n)).map(([n]) => `${n}`), []);
    const signed = await send(p, { cookie: true });
    assert.deepEqual(headerValues(signed.seen[0], 'x-ms-client-principal-name'), ['User rita']);
    assert.doesNotMatch(s.logs(), /judged again.*request: "GET \/public\/named\//);
  });

  it('X-Accel-Redirect to @named from an excluded path: the judgement stands (same URI)', async () => {
    const r = await send('/public/app/accel-named');
    assert.equal(r.status, 200, r.text.slice(0, 200));
    assert.deepEqual(r.seen.map((q) => q.path), ['/public/app/accel-named', '/public/app/accel-named']);
  });

  it('from an excluded path to another excluded one: judged again, still served anonymously', async () => {
    const spa = await send('/public/spa/route/x');
    assert.equal(spa.status, 200, spa.text.slice(0, 200));
    assert.equal(spa.text, 'spa index\n');
    const idx = await send('/public/idx/public/');
    assert.equal(idx.status, 200, idx.text.slice(0, 200));
    assert.equal(idx.text, 'public index\n');
    const accel = await send('/public/app/accel-public');
    assert.equal(accel.status, 200, accel.text.slice(0, 200));
    assert.deepEqual(accel.seen.map((q) => q.path), ['/public/app/accel-public', '/public/app/landing']);
  });

});

describe('nginx writes no header from the library that is not valid', { skip }, () => {
  // tests/c/header_shim.c, preloaded into nginx: one more header in one list of each outcome
  const SHIM = path.join(BUILD_DIR, 'libezauth_header_shim.so');
  const BAD = ['crlf', 'lf', 'nul', 'ctl', 'del', 'space', 'colon', 'empty'];
  let s;
  let rec;
  let dir;
  let extra;
  before(async () => {
    assert.ok(fs.existsSync(SHIM), `${SHIM} missing: run 'make -C native-host'`);
    rec = await startRecorder();
    dir = scratchDir('shim');
    extra = path.join(dir, 'extra');
    fs.writeFileSync(extra, '');
    s = await startStack(
      nginxWith({
        serverConf: `
        location /raw/ {
            proxy_set_header X-Seen-Shim $http_x_shim_test;
            add_header X-Seen-Shim "$http_x_shim_test" always;
            proxy_pass http://127.0.0.1:${rec.port};
        }
`,
      }),
      { action: 'AllowAnonymous', idp: 'none', env: { LD_PRELOAD: SHIM, EZAUTH_TEST_EXTRA_HEADER: `@${extra}` } },
    );
  });
  after(async () => {
    await s?.stop();
    await rec?.close();
    removeScratch(dir);
  });

  async function withExtra(spec, p) {
    fs.writeFileSync(extra, spec);
    rec.take();
    const r = await rawExchange(s.port, rawGet(p, []));
    return { ...r, text: r.bytes.toString('latin1'), seen: rec.take() };
  }

  it('request headers to set: a valid one reaches the upstream and nginx\'s own $http_* lookup', async () => {
    const r = await withExtra('1:good', '/raw/x');
    assert.equal(r.status, 200, r.text);
    assert.match(r.seen[0].head.toString('latin1'), /\r\nX-Shim-Test: ok(\r\n|$)/);
    assert.match(r.seen[0].head.toString('latin1'), /\r\nX-Seen-Shim: ok(\r\n|$)/, 'lowcase_key and hash of the set header');
    assert.match(r.head.toString('latin1'), /\r\nX-Seen-Shim: ok/);
  });

  it(`request headers to set: an invalid one (${BAD.join(', ')}) fails the request with 500, nothing reaches the upstream`, async () => {
    for (const kind of BAD) {
      const r = await withExtra(`1:${kind}`, '/raw/x');
      assert.equal(r.status, 500, `${kind}: ${r.text.slice(0, 200)}`);
      assert.deepEqual(r.seen, [], kind);
    }
    assert.match(s.logs(), /the library gave an invalid request header "X-Shim\\x20Test"/);
  });

  it(`the library's own answers: a valid header is sent, an invalid one (${BAD.join(', ')}) fails with 500`, async () => {
    const good = await withExtra('2:good', '/.auth/version');
    assert.equal(good.status, 200);
    assert.match(good.head.toString('latin1'), /\r\nX-Shim-Test: ok/);
    for (const kind of BAD) {
      const r = await withExtra(`2:${kind}`, '/.auth/version');
      assert.equal(r.status, 500, `${kind}: ${r.text.slice(0, 200)}`);
      assert.doesNotMatch(r.head.toString('latin1'), /x-shim|injected/i, kind);
    }
  });

  it(`headers to add to the app's response: a valid one is added, an invalid one (${BAD.join(', ')}) left out`, async () => {
    const good = await withExtra('3:good', '/raw/x');
    assert.equal(good.status, 200);
    assert.match(good.head.toString('latin1'), /\r\nX-Shim-Test: ok/);
    for (const kind of BAD) {
      const r = await withExtra(`3:${kind}`, '/raw/x');
      assert.equal(r.status, 200, `${kind}: ${r.text.slice(0, 200)}`);
      assert.doesNotMatch(r.head.toString('latin1'), /x-shim-test|injected/i, kind);
    }
  });
});
