// The README's main job, as a user runs it: `demo/run.sh` starts the test OpenID provider, the
// local GitHub and the C host with the module; a sign-in through each provider reaches the
// echo app with the identity headers, and /.auth/me answers. Ctrl-C (SIGINT) stops it all.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Client } from './lib/http.js';
import { signIn } from './lib/flow.js';
import { echoOf } from './lib/common.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HOST_BIN = path.join(ROOT, 'native-host/build/ezauth-host');

describe('demo/run.sh (the README\'s main job)', () => {
  let demo;
  let output = '';
  let origin;

  before(async () => {
    // EZAUTH_HOST_BIN: the suite has built the host already (the demo would run make).
    demo = spawn(path.join(ROOT, 'demo/run.sh'), [], {
      env: { ...process.env, EZAUTH_HOST_BIN: HOST_BIN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout.on('data', (d) => { output += d; });
    demo.stderr.on('data', (d) => { output += d; });
    const deadline = Date.now() + 60_000;
    while (!/ezauth demo is running/.test(output)) {
      assert.ok(demo.exitCode === null, `the demo exited:\n${output}`);
      assert.ok(Date.now() < deadline, `the demo did not start in 60 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    origin = output.match(/Open\s+(http:\/\/127\.0\.0\.1:\d+)\//)[1];
  });

  after(async () => {
    if (demo && demo.exitCode === null) {
      const exited = new Promise((r) => demo.once('exit', r));
      demo.kill('SIGINT');
      await exited;
    }
    assert.match(output, /demo: stopped\./, output);
  });

  it('signs a user in through the test OpenID provider to the echo app', async () => {
    const c = new Client();
    await signIn(c, `${origin}/`, { login: 'demo-user', target: '/' });
    const echo = echoOf(await c.get(`${origin}/hello`));
    assert.equal(echo.headers['x-ms-client-principal-idp'], 'testidp');
    assert.ok(echo.headers['x-ms-token-testidp-access-token']);
    const me = await c.get(`${origin}/.auth/me`);
    assert.equal(me.status, 200, me.describe());
    assert.equal(me.json()[0].provider_name, 'testidp');
  });

  it('signs a user in through the local GitHub (OAuth 2.0)', async () => {
    const c = new Client();
    let res = await c.get(`${origin}/.auth/login/github?post_login_redirect_uri=/`);
    for (let hops = 0; hops < 5 && res.status === 302; hops += 1) {
      res = await c.get(res.location);
    }
    const echo = echoOf(res);
    assert.equal(echo.headers['x-ms-client-principal-idp'], 'github');
    assert.equal(echo.headers['x-ms-client-principal-name'], 'octocat');
    assert.ok(echo.headers['x-ms-token-github-access-token']);
  });

  it('serves an excluded path without a sign-in', async () => {
    const res = await new Client().get(`${origin}/public/hello`);
    assert.equal(res.status, 200, res.describe());
  });
});
