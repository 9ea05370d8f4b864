// Metrics ("ezauth": {"metrics": {"enabled": true}}), on every host:
//   - GET /.auth/metrics from 127.0.0.1 answers Prometheus' text format, "Cache-Control: no-store";
//   - N users signed in show as ezauth_sign_ins_total{provider="testidp",outcome="success"} N;
//   - on nginx with 4 workers, whichever worker answers the scrape shows the sum over all
//     workers (the counters live in one shared memory zone): scrapes answered by two or more
//     workers all show N, which no worker could show from its own sign-ins alone;
//   - from another client address (127.0.0.2: the host's own peer address, whatever
//     X-Forwarded-For says) the route does not exist: 404, no metrics in the body.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';

const hosts = await hostsUnderTest();
const USERS = 6;

/** One GET on a fresh connection from localAddress: {status, headers, text}. */
function get(url, { localAddress = '127.0.0.1', headers = {} } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent: false, localAddress },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.setTimeout(20000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.end();
  });
}

/** The samples of an exposition, by `name{labels}`; checks every line's shape on the way. */
function samples(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-z_]+(?:\{[a-z_]+="[^"]*"(?:,[a-z_]+="[^"]*")*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}

const SIGN_INS = 'ezauth_sign_ins_total{provider="testidp",outcome="success"}';

for (const host of hosts) {
  describe(`metrics on ${host.name}`, () => {
    let s;
    const workers = host.name === 'nginx' ? 4 : 1;
    before(async () => {
      s = await startStack(host, {
        configure: (c) => ({ ...c, ezauth: { ...(c.ezauth || {}), metrics: { enabled: true } } }),
        hostOptions: host.name === 'nginx' ? { workers, workerHeader: true } : {},
      });
      for (let i = 0; i < USERS; i += 1) {
        await s.signIn(s.client(), { login: `user${i}`, prompt: 'consent' });
      }
    });
    after(async () => {
      await s?.stop();
    });

    it(`shows the ${USERS} sign-ins to 127.0.0.1, summed over ${workers} worker(s)`, async (t) => {
      const seen = new Map();
      for (let i = 0; i < 16; i += 1) {
        const r = await get(s.at('/.auth/metrics'));
        assert.equal(r.status, 200, r.text.slice(0, 300));
        assert.equal(r.headers['cache-control'], 'no-store');
        assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
        assert.match(r.text, /# TYPE ezauth_sign_ins_total counter/);
        assert.match(r.text, /ezauth_provider_call_duration_seconds_bucket\{provider="testidp",kind="token",le="\+Inf"\} \d+/);
        const got = samples(r.text);
        const worker = r.headers['x-nginx-worker'] || 'the host';
        seen.set(worker, (seen.get(worker) || 0) + 1);
        assert.equal(got.get(SIGN_INS), USERS, `worker ${worker}: ${SIGN_INS} ${got.get(SIGN_INS)}`);
        assert.ok(got.get('ezauth_provider_calls_total{provider="testidp",kind="token",outcome="success"}') >= USERS);
        assert.ok(got.get('ezauth_store_operations_total{op="put",outcome="success"}') >= USERS);
        assert.ok(got.get('ezauth_blocking_steps_total') >= 2 * USERS, 'login start and callback take the blocking step');
      }
      t.diagnostic(`scrapes per worker: ${JSON.stringify(Object.fromEntries(seen))}`);
      if (workers > 1) assert.ok(seen.size >= 2, `every scrape went to one worker: ${JSON.stringify(Object.fromEntries(seen))}`);
    });

    it('does not exist for another client address, whatever X-Forwarded-For says', async () => {
      for (const headers of [{}, { 'x-forwarded-for': '127.0.0.1' }, { forwarded: 'for=127.0.0.1' }]) {
        const r = await get(s.at('/.auth/metrics'), { localAddress: '127.0.0.2', headers });
        assert.equal(r.status, 404, `${JSON.stringify(headers)}: ${r.status} ${r.text.slice(0, 200)}`);
        assert.doesNotMatch(r.text, /ezauth_/);
      }
    });
  });
}
