// spoofed headers: identity headers sent by the client never reach the app.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { rawRequest } from './lib/http.js';
import { decodePrincipal } from './lib/flow.js';
import { echoOf, assertNoIdentity, identityHeaderNames } from './lib/common.js';

const hosts = await hostsUnderTest();

const forgedPrincipal = Buffer.from(
  JSON.stringify({
    auth_typ: 'aad',
    claims: [{ typ: 'roles', val: 'admin' }, { typ: 'name', val: 'mallory-admin' }],
    name_typ: 'name',
    role_typ: 'roles',
  }),
).toString('base64');

const SPOOF = {
  'X-MS-CLIENT-PRINCIPAL': forgedPrincipal,
  'X-MS-CLIENT-PRINCIPAL-NAME': 'mallory-admin',
  'x-ms-client-principal-id': 'spoofed-id',
  'X-Ms-Client-Principal-Idp': 'aad',
  'x-ms-token-aad-access-token': 'spoofed-access-token',
  'X-MS_TOKEN_AAD_ACCESS_TOKEN': 'spoofed-underscore-token',
  'X-MS-TOKEN-TESTIDP-REFRESH-TOKEN': 'spoofed-refresh',
  'x-ms-client-principal-something-new': 'spoofed-extra',
};
const SPOOF_VALUES = new Set(Object.values(SPOOF));

function assertNoSpoofedValue(echo, what) {
  for (const [k, v] of Object.entries(echo.headers)) {
    assert.ok(!SPOOF_VALUES.has(v), `${what}: spoofed value reached the app in ${k}: ${v}`);
  }
}

/** Send the spoofed headers over a raw connection (exact names, duplicates, odd case). */
async function rawSpoof(origin, path, cookie) {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${new URL(origin).host}`,
    'Connection: close',
    ...(cookie ? [`Cookie: ${cookie}`] : []),
    ...Object.entries(SPOOF).map(([k, v]) => `${k}: ${v}`),
    'X-MS-CLIENT-PRINCIPAL-NAME: mallory-admin',
    'x-ms-client-principal:   ' + forgedPrincipal + '  ',
    '',
    '',
  ];
  const net = await import('node:net');
  const u = new URL(origin);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname, () => sock.end(lines.join('\r\n')));
    const chunks = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1]);
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      resolve({ status, text, body });
    });
    sock.on('error', reject);
    sock.setTimeout(10000, () => sock.destroy(new Error('timeout')));
  });
}

function parseEchoBody(body) {
  // the body may be chunked; find the JSON object
  const start = body.indexOf('{');
  const end = body.lastIndexOf('}');
  return JSON.parse(body.slice(start, end + 1));
}

for (const host of hosts) {
  describe(`spoofed headers, anonymous (AllowAnonymous) [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, { action: 'AllowAnonymous' });
    });
    after(async () => {
      await s?.stop();
    });

    it('never reach the app on a normal path', async () => {
      const echo = echoOf(await s.client().get(s.at('/anything'), { headers: SPOOF }));
      assertNoIdentity(echo, 'anonymous /anything');
      assertNoSpoofedValue(echo, 'anonymous /anything');
    });

    it('never reach the app on an excluded path', async () => {
      const echo = echoOf(await s.client().get(s.at('/public/x'), { headers: SPOOF }));
      assertNoIdentity(echo, 'anonymous /public/x');
    });

    it('routing overrides (X-Original-URL, X-Rewrite-URL) never reach the app: it would route an excluded path elsewhere', async () => {
      for (const p of ['/public/x', '/health', '/anything']) {
        const headers = { 'X-Original-URL': '/admin/x', 'x-rewrite-url': '/admin/y', X_Original_Url: '/admin/z' };
        const echo = echoOf(await s.client().get(s.at(p), { headers }));
        const names = Object.keys(echo.headers).filter((n) => /^x.original.url$|^x.rewrite.url$/i.test(n));
        assert.deepEqual(names, [], `${p}: the app received ${names.join(', ')}`);
      }
    });

    it('never reach the app when repeated, padded or odd-cased on the wire', async () => {
      const r = await rawSpoof(s.origin, '/anything');
      assert.equal(r.status, 200, r.text.slice(0, 500));
      const echo = parseEchoBody(r.body);
      assert.deepEqual(identityHeaderNames(echo.headers), [], JSON.stringify(echo.headers));
      assertNoSpoofedValue(echo, 'raw');
    });

    it('do not authenticate /.auth/me', async () => {
      const me = await s.client().get(s.at('/.auth/me'), { headers: SPOOF });
      assert.equal(me.status, 401, me.describe());
    });
  });

  describe(`spoofed headers, RedirectToLoginPage [${host.name}]`, () => {
    let s;
    let c;
    before(async () => {
      s = await startStack(host);
      c = s.client();
      await s.signIn(c, { login: 'judy', prompt: 'consent' });
    });
    after(async () => {
      await s?.stop();
    });

    it('do not count as a sign-in', async () => {
      const res = await s.client().get(s.at('/page'), { headers: SPOOF });
      assert.equal(res.status, 302, res.describe());
      const raw = await rawSpoof(s.origin, '/page');
      assert.equal(raw.status, 302, raw.text.slice(0, 300));
    });

    it('signed in: the values the app sees are the module\'s, not the client\'s', async () => {
      const echo = echoOf(await c.get(s.at('/anything'), { headers: SPOOF }));
      const h = echo.headers;
      assert.equal(h['x-ms-client-principal-name'], 'User judy');
      assert.equal(h['x-ms-client-principal-id'], 'judy');
      assert.equal(h['x-ms-client-principal-idp'], 'testidp');
      assert.equal(decodePrincipal(h['x-ms-client-principal']).auth_typ, 'testidp');
      assert.equal(h['x-ms-token-aad-access-token'], undefined);
      assert.notEqual(h['x-ms-token-testidp-refresh-token'], 'spoofed-refresh');
      assert.ok(h['x-ms-token-testidp-refresh-token']);
      assert.equal(h['x-ms-client-principal-something-new'], undefined);
      assertNoSpoofedValue(echo, 'signed in');
      const names = identityHeaderNames(h).filter((k) => k.includes('_'));
      assert.deepEqual(names, [], 'underscore spellings must be removed');
    });

    it('signed in, raw wire duplicates: still the module\'s values only', async () => {
      const cookie = c.jar.header(s.url);
      const r = await rawSpoof(s.origin, '/anything', cookie);
      assert.equal(r.status, 200, r.text.slice(0, 500));
      const echo = parseEchoBody(r.body);
      assert.equal(echo.headers['x-ms-client-principal-name'], 'User judy');
      assertNoSpoofedValue(echo, 'raw signed in');
    });

    it('other X-MS-* headers that are not identity headers pass through', async () => {
      const echo = echoOf(await c.get(s.at('/anything'), { headers: { 'x-ms-request-id': 'abc123', 'x-custom': 'kept' } }));
      assert.equal(echo.headers['x-custom'], 'kept');
    });
  });

  describe(`spoofed headers reach no app via raw request paths [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, { action: 'AllowAnonymous' });
    });
    after(async () => {
      await s?.stop();
    });
    it('an absolute-form request target does not bypass the scrub', async () => {
      const res = await rawRequest(s.origin, `${s.origin}/anything`, { headers: SPOOF });
      if (res.status === 200) {
        const echo = JSON.parse(res.text);
        assert.deepEqual(identityHeaderNames(echo.headers), []);
      } else {
        assert.ok(res.status >= 400 && res.status < 500, res.describe());
      }
    });
  });
}
