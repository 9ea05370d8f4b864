// Many nodes, one store (issue 10, items 4 and 5): two hosts (the C host and nginx when both
// are under test; otherwise two of the one kind), on different ports, with the same
// configuration and keys, keep their tokens in one remote store, once per store: Redis
// (Debian's redis-server) as README "The Redis token store" configures it, and Azure Blob
// Storage (the npm Azurite, through a container SAS URL) as README "The Azure Blob token store"
// configures it, each started here on a loopback port. A user signed in on A is served by B; a
// refresh on B is seen on A; a burst of refreshes over both nodes makes one call to the
// provider's token endpoint; a logout on A signs the session out on B. With the store stopped,
// signed-in requests still reach the app with the principal and token routes answer 503
// (/.auth/me too); when it is back, service recovers without a restart.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { echoOf } from './lib/common.js';
import { freePort } from './lib/ports.js';
import { spawnCaptured } from './lib/proc.js';
import { randomHexKey } from './lib/paths.js';
import { startAzurite } from './lib/azurite.js';

const hosts = await hostsUnderTest();
const [hostA, hostB] = [hosts[0], hosts[hosts.length - 1]];

/** Answers +PONG to PING within `ms`, or throws. */
async function pinged(port, ms = 5000) {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
      s.once('data', (d) => {
        resolve(d.toString().startsWith('+PONG'));
        s.destroy();
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`redis-server on ${port} does not answer PING`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A redis-server on 127.0.0.1:port, nothing persisted. */
async function startRedis(port) {
  const proc = spawnCaptured(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await pinged(port);
  return proc;
}

/**
 * A store under test: {name, start()}; start() runs its server and resolves with {stalenessS,
 * env, configure(cfg)} for both hosts, secrets (what no log line may show), and stop()
 * (an outage), restart() (back on the same address, empty: nothing is persisted), close().
 */
const redis = {
  name: 'Redis',
  async start() {
    const port = await freePort();
    let proc = await startRedis(port);
    const stalenessS = 1;
    return {
      stalenessS,
      env: { REDIS_URL: `redis://127.0.0.1:${port}/0` },
      configure(cfg) {
        cfg.ezauth = {
          ...cfg.ezauth,
          httpTimeoutSeconds: 5,
          tokenStore: { redis: { urlSettingName: 'REDIS_URL', keyPrefix: 'nodes:', timeoutSeconds: 1, connectTimeoutSeconds: 1, stalenessSeconds: stalenessS } },
        };
      },
      stop: () => proc.terminate(),
      async restart() {
        proc = await startRedis(port);
      },
      close: () => proc.terminate(),
    };
  },
};

const blob = {
  name: 'Azure Blob',
  async start() {
    const azurite = await startAzurite(await freePort());
    await azurite.create('tokens');
    // The documented default bound, set here so the polls below say what they rely on.
    const stalenessS = 2;
    // App Service's documented permissions plus delete (README).
    const sasUrl = azurite.sasUrl('tokens', 'rwdl');
    return {
      stalenessS,
      env: { TOKEN_STORE_SAS_URL: sasUrl },
      // The signature as the variable holds it and decoded.
      secrets: [sasUrl.match(/sig=([^&]+)/)[1], new URL(sasUrl).searchParams.get('sig')],
      configure(cfg) {
        cfg.login.tokenStore = { ...cfg.login.tokenStore, azureBlobStorage: { sasUrlSettingName: 'TOKEN_STORE_SAS_URL' } };
        cfg.ezauth = { ...cfg.ezauth, httpTimeoutSeconds: 5, azureBlobStorage: { stalenessSeconds: stalenessS } };
      },
      stop: () => azurite.stop(),
      // In memory: the service comes back empty, the container made again as an operator would.
      async restart() {
        await azurite.restart();
        await azurite.create('tokens');
      },
      close: () => azurite.stop(),
    };
  },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` (an async predicate) for up to `ms`: the store's staleness bound plus slack. */
async function eventually(check, ms, what) {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

for (const kind of [redis, blob]) {
  describe(`many nodes on one ${kind.name} [${hostA.name} + ${hostB.name}]`, () => {
    let store;
    let a;
    let b;
    const keys = { encryption: randomHexKey(), signing: randomHexKey() };

    before(async () => {
      store = await kind.start();
      const { env, configure } = store;
      a = await startStack(hostA, { keys, env, configure });
      b = await startStack(hostB, { keys, env, configure, idp: a.idp });
    });
    after(async () => {
      await b?.stop();
      await a?.stop();
      await store?.close();
    });
    /** The staleness bound plus slack, in ms: how long a change on one node may take to show on another. */
    const bound = () => (store.stalenessS + 2) * 1000;

    /** The app's view on node `s` with the client's session cookie (cookies ignore ports). */
    const seenOn = async (s, c) => echoOf(await c.get(s.at('/page'), { headers: { cookie: c.jar.header(a.at('/page')) } }), `on ${s.hostName}:`).headers;

    it('a user signed in on A is served by B; a refresh on B is seen on A; a logout on A holds on B', async () => {
      const c = a.client();
      await a.signIn(c, { login: 'nomad', prompt: 'consent' });
      const onA = await seenOn(a, c);
      const onB = await seenOn(b, c);
      assert.equal(onB['x-ms-client-principal-id'], 'nomad');
      assert.equal(onB['x-ms-token-testidp-access-token'], onA['x-ms-token-testidp-access-token']);

      const refreshed = await c.get(b.at('/.auth/refresh'), { headers: { cookie: c.jar.header(a.at('/page')) } });
      assert.equal(refreshed.status, 200, refreshed.describe());
      // Every node, and every worker of a node (nginx runs several, each with its own cache),
      // serves the new tokens within the staleness bound; B's refreshing worker at once.
      const oldToken = onA['x-ms-token-testidp-access-token'];
      let newToken;
      await eventually(async () => {
        newToken = (await seenOn(b, c))['x-ms-token-testidp-access-token'];
        return newToken !== oldToken;
      }, bound(), 'B serves the token it refreshed');
      assert.ok(newToken);
      await eventually(async () => (await seenOn(a, c))['x-ms-token-testidp-access-token'] === newToken, bound(), 'A sees the token B refreshed');

      const cookie = c.jar.header(a.at('/page'));
      const out = await c.get(a.at('/.auth/logout'));
      assert.equal(out.status, 302, out.describe());
      await eventually(async () => {
        const r = await a.client().get(b.at('/page'), { headers: { cookie } });
        return r.status === 302 && !r.text.includes('nomad');
      }, bound(), 'B refuses the session A signed out');
    });

    it('past the bound, every worker of every node refuses a session signed out on one of them', async () => {
      const c = a.client();
      await a.signIn(c, { login: 'everywhere' });
      const cookie = c.jar.header(a.at('/page'));
      // Concurrent requests reach every worker of a node: each caches the record. Twice, past
      // the staleness bound: the second read is made while each worker's listener stands, and
      // is trusted for as long as the listener hears nothing of it (README).
      const burst = (s) => Promise.all(Array.from({ length: 32 }, () => a.client().get(s.at('/page'), { headers: { cookie } })));
      for (const round of [1, 2]) {
        for (const s of [a, b]) {
          for (const r of await burst(s)) assert.equal(r.status, 200, `${s.hostName} before (${round}): ${r.describe()}`);
        }
        if (round === 1) await sleep(store.stalenessS * 1000 + 300);
      }
      const out = await c.get(a.at('/.auth/logout'));
      assert.equal(out.status, 302, out.describe());
      await sleep(store.stalenessS * 1000 + 500);
      for (const s of [a, b]) {
        const statuses = (await burst(s)).map((r) => r.status);
        assert.ok(statuses.every((st) => st === 302), `${s.hostName} after the logout: ${statuses}`);
      }
    });

    it('32 concurrent refreshes over both nodes make one call to the token endpoint', async () => {
      const c = a.client();
      await a.signIn(c, { login: 'burst', prompt: 'consent' });
      const cookie = c.jar.header(a.at('/page'));
      // Both nodes know the record before the burst (as after any request of the user's).
      await seenOn(a, c);
      await seenOn(b, c);
      const before = a.idp.counters.tokenRefresh;
      const answers = await Promise.all(
        Array.from({ length: 32 }, (_, i) => a.client().get((i % 2 ? b : a).at('/.auth/refresh'), { headers: { cookie } })),
      );
      const statuses = answers.map((r) => r.status);
      // 429: a node's own refresh of this user had all the waiters it takes (README).
      assert.ok(statuses.every((s) => s === 200 || s === 429), `statuses: ${statuses}`);
      assert.ok(statuses.filter((s) => s === 200).length >= 2, `statuses: ${statuses}`);
      assert.equal(a.idp.counters.tokenRefresh - before, 1, `token endpoint refresh calls; statuses ${statuses}`);
      for (const s of [a, b]) assert.equal((await seenOn(s, c))['x-ms-client-principal-id'], 'burst', `${s.hostName} after the burst`);
      // The grant is whole: the stored (rotated) refresh token still refreshes, later.
      await sleep(2100);
      const again = await c.get(a.at('/.auth/refresh'), { headers: { cookie } });
      assert.equal(again.status, 200, again.describe());
    });

    it(`with ${kind.name} stopped, signed-in requests reach the app and token routes answer 503; then it recovers`, async () => {
      const c = a.client();
      await a.signIn(c, { login: 'outage', prompt: 'consent' });
      const cookie = c.jar.header(a.at('/page'));
      await store.stop();
      try {
        await sleep((store.stalenessS + 0.5) * 1000);
        for (const s of [a, b]) {
          const mark = s.logs().length;
          const page = echoOf(await c.get(s.at('/page'), { headers: { cookie } }), `${s.hostName} during the outage:`);
          assert.equal(page.headers['x-ms-client-principal-id'], 'outage');
          const refresh = await c.get(s.at('/.auth/refresh'), { headers: { cookie } });
          assert.equal(refresh.status, 503, `${s.hostName}: ${refresh.describe()}`);
          // Not a 200 without tokens, which would read as "none stored".
          const me = await c.get(s.at('/.auth/me'), { headers: { cookie } });
          assert.equal(me.status, 503, `${s.hostName}: ${me.describe()}`);
          assert.match(s.logs().slice(mark), /store/i, `${s.hostName} logs the store's outage`);
          for (const secret of store.secrets ?? []) assert.ok(!s.logs().includes(secret), `${s.hostName} logs the store's secret`);
        }
      } finally {
        await store.restart();
      }
      // A process whose call failed tries again a second later (its circuit breaker, README
      // "Outage"), and nginx has several: past that bound every one of them uses the store again.
      await sleep(1300);
      // Back: no restart of either host. The record was lost with the store's memory (nothing is
      // persisted here), so a new sign-in works on either node and is shared again.
      // (The refresh finds no record, 400, once the store answers.)
      for (const s of [a, b]) {
        await eventually(async () => {
          const r = await a.client().get(s.at('/.auth/refresh'), { headers: { cookie } });
          return r.status === 400;
        }, 5000, `${s.hostName}: the store answers again`);
      }
      // A worker that failed during the outage tries the store again at most RETRY_AFTER (1 s)
      // later (its circuit breaker): within that bound B serves the new sign-in's tokens.
      const fresh = a.client();
      await a.signIn(fresh, { login: 'after-outage' });
      await eventually(async () => {
        const onB = await seenOn(b, fresh);
        assert.equal(onB['x-ms-client-principal-id'], 'after-outage');
        return Boolean(onB['x-ms-token-testidp-access-token']);
      }, bound(), 'B serves the tokens stored through A after the outage');
    });
  });
}
