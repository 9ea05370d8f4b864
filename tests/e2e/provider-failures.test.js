// provider failures: unreachable, slow or broken identity providers give 502/504 in bounded time.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { closedPort } from './lib/ports.js';
import { deliverCallback, SESSION_COOKIE } from './lib/flow.js';
import { echoOf } from './lib/common.js';

const hosts = await hostsUnderTest();

// ezauth.httpTimeoutSeconds = 3, httpConnectTimeoutSeconds = 2 in the test configuration
const TIMEOUT_MS = 3000;
const SLACK_MS = 2500;

/** A TCP server that accepts connections and never answers. */
async function blackHole() {
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

function assertNoSession(res, what) {
  const sc = res.setCookies.find((c) => c.name === SESSION_COOKIE && c.value && !(c.maxAge <= 0));
  assert.equal(sc, undefined, `${what}: session cookie set`);
}

for (const host of hosts) {
  describe(`provider failures: discovery [${host.name}]`, () => {
    it('IdP unreachable (discovery URL on a closed port) → 502 at /.auth/login/testidp, quickly', async () => {
      const port = await closedPort();
      const s = await startStack(host, { idp: 'none', wellKnown: `http://127.0.0.1:${port}/.well-known/openid-configuration` });
      try {
        const c = s.client();
        const res = await c.get(s.at('/.auth/login/testidp?post_login_redirect_uri=/x'));
        assert.equal(res.status, 502, res.describe());
        assert.ok(res.ms < TIMEOUT_MS + SLACK_MS, `took ${res.ms} ms`);
        const page = await c.get(s.at('/page'));
        assert.equal(page.status, 502, `RedirectToLoginPage with the IdP down: ${page.describe()}`);
        // the host keeps serving everything that does not need the IdP
        echoOf(await c.get(s.at('/health')));
        assert.equal((await c.get(s.at('/.auth/version'))).status, 200);
        assert.equal((await c.get(s.at('/.auth/me'))).status, 401);
      } finally {
        await s.stop();
      }
    });

    it('IdP that accepts connections but never answers → 504 within httpTimeoutSeconds', async () => {
      const hole = await blackHole();
      const s = await startStack(host, { idp: 'none', wellKnown: `http://127.0.0.1:${hole.port}/.well-known/openid-configuration` });
      try {
        const res = await s.client().get(s.at('/.auth/login/testidp'), { timeoutMs: 20000 });
        assert.equal(res.status, 504, res.describe());
        assert.ok(res.ms < TIMEOUT_MS + SLACK_MS, `took ${res.ms} ms (timeout is ${TIMEOUT_MS} ms)`);
        // other requests are served meanwhile
        const [slow, fast] = await Promise.all([
          s.client().get(s.at('/.auth/login/testidp'), { timeoutMs: 20000 }),
          (async () => {
            await new Promise((r) => setTimeout(r, 300));
            return s.client().get(s.at('/health'));
          })(),
        ]);
        assert.equal(slow.status, 504);
        assert.equal(fast.status, 200, 'the host must serve other requests while one waits on the IdP');
        assert.ok(fast.ms < 1500, `/health took ${fast.ms} ms while a login waited on the IdP`);
      } finally {
        await s.stop();
        await hole.close();
      }
    });

    it('discovery document that is not JSON → 502', async () => {
      const http = await import('node:http');
      const srv = http.createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('<html>definitely not json');
      });
      await new Promise((r) => srv.listen(0, '127.0.0.1', r));
      const s = await startStack(host, { idp: 'none', wellKnown: `http://127.0.0.1:${srv.address().port}/.well-known/openid-configuration` });
      try {
        const res = await s.client().get(s.at('/.auth/login/testidp'));
        assert.equal(res.status, 502, res.describe());
      } finally {
        await s.stop();
        await new Promise((r) => srv.close(r));
      }
    });
  });

  describe(`provider failures: token endpoint [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host);
    });
    after(async () => {
      s?.idp?.hooks.reset();
      await s?.stop();
    });

    it('token endpoint slower than httpTimeoutSeconds → 504 at the callback, bounded, nothing stored', async () => {
      const c = s.client();
      const { callback } = await s.signIn(c, { login: 'quinn', stopAtCallback: true });
      const snap = s.snapshot();
      s.idp.hooks.set({ tokenDelayMs: TIMEOUT_MS + 4000 });
      try {
        const res = await deliverCallback(c, callback, { timeoutMs: 20000 });
        assert.equal(res.status, 504, res.describe());
        assert.ok(res.ms >= TIMEOUT_MS - 500, `504 came after ${res.ms} ms: before the configured timeout?`);
        assert.ok(res.ms < TIMEOUT_MS + SLACK_MS, `took ${res.ms} ms (timeout is ${TIMEOUT_MS} ms)`);
        assertNoSession(res, 'token timeout');
        assert.deepEqual(s.snapshot(), snap);
      } finally {
        s.idp.hooks.reset();
      }
    });

    it('token endpoint answering garbage → 502, nothing stored', async () => {
      const c = s.client();
      const { callback } = await s.signIn(c, { login: 'rose', stopAtCallback: true });
      const snap = s.snapshot();
      s.idp.hooks.set({ tokenGarbage: true });
      try {
        const res = await deliverCallback(c, callback);
        assert.equal(res.status, 502, res.describe());
        assert.ok(res.ms < TIMEOUT_MS + SLACK_MS, `took ${res.ms} ms`);
        assertNoSession(res, 'token garbage');
        assert.deepEqual(s.snapshot(), snap);
      } finally {
        s.idp.hooks.reset();
      }
    });

    it('token endpoint answering JSON without tokens → 502, nothing stored', async () => {
      const c = s.client();
      const { callback } = await s.signIn(c, { login: 'sam', stopAtCallback: true });
      const snap = s.snapshot();
      s.idp.hooks.set({ tokenGarbage: '{"token_type":"Bearer"}' });
      try {
        const res = await deliverCallback(c, callback);
        assert.ok([502, 401].includes(res.status), res.describe());
        assertNoSession(res, 'token JSON without tokens');
        assert.deepEqual(s.snapshot(), snap);
      } finally {
        s.idp.hooks.reset();
      }
    });

    it('the IdP down after discovery: token endpoint unreachable → 502', async () => {
      // a separate stack whose IdP we stop between the redirect and the callback
      const t = await startStack(host);
      try {
        const c = t.client();
        const { callback } = await t.signIn(c, { login: 'tess', stopAtCallback: true });
        await t.idp.close();
        const res = await deliverCallback(c, callback);
        assert.equal(res.status, 502, res.describe());
        assert.ok(res.ms < TIMEOUT_MS + SLACK_MS, `took ${res.ms} ms`);
        assertNoSession(res, 'IdP down');
      } finally {
        await t.stop();
      }
    });

    it('after the failures, sign-in works again', async () => {
      const c = s.client();
      await s.signIn(c, { login: 'uma' });
      assert.equal(echoOf(await c.get(s.at('/anything'))).headers['x-ms-client-principal-id'], 'uma');
    });
  });
}
