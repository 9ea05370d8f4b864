// redirects: post-login targets are validated before anything leaves for the IdP; hostile
// ones get 400 and never a redirect; same-origin and allowed external targets work.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { REPO_ROOT } from './lib/paths.js';
import { assertRedirectToIdp } from './lib/common.js';

const hosts = await hostsUnderTest();

export const HOSTILE = [
  'https://evil.example',
  'https://evil.example/path',
  'http://evil.example',
  'HTTPS://EVIL.EXAMPLE',
  '//evil.example',
  '//evil.example/path',
  '///evil.example',
  '/\\evil.example',
  '\\\\evil.example',
  '\\/evil.example',
  '/%09/evil.example',
  '/\t/evil.example',
  '/%5Cevil.example',
  '%2F%2Fevil.example',
  '%2f%2fevil.example',
  '/%2F%2Fevil.example',
  '/%2F/evil.example',
  'https:evil.example',
  'https:/evil.example',
  'https:\\\\evil.example',
  'javascript:alert(1)',
  'JavaScript:alert(1)',
  ' javascript:alert(1)',
  'java%0ascript:alert(1)',
  'javascript%3Aalert(1)',
  'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)',
  'https://allowed.example@evil.example',
  'https://allowed.example:443@evil.example',
  'https://allowed.example%40evil.example',
  'https://evil.example%2F@allowed.example',
  'https://evil.example%23@allowed.example',
  'https://evil.example\\@allowed.example',
  'https://allowed.example.evil.example',
  'https://allowed.exampleevil.example',
  'https://evil.example?https://allowed.example',
  'https://evil.example#https://allowed.example',
  ' https://evil.example',
  '\thttps://evil.example',
  'https://evil.example%09',
  '%68%74%74%70%73%3a%2f%2f%65%76%69%6c%2e%65%78%61%6d%70%6c%65',
  'https%3A%2F%2Fevil.example',
  'http://127.0.0.1:1/',
  'http://[::1]:1/',
];

const ACCEPTED_RELATIVE = ['/x', '/deep/path?a=1&b=2', '/.auth/login/done', '/'];

/** Same-origin paths whose query or fragment holds a URL: kept as given through the login. */
export const KEPT_WITH_URLS = [
  '/app?returnUrl=https://x.example/',
  '/app?returnUrl=https%3A%2F%2Fx.example%2F',
  '/a?next=//evil.example',
  '/a?u=http%3A%2F%2Fx',
  '/a?u=%5C%5Cevil.example',
  '/a#https://x.example',
  '/a#//evil.example',
  '/#/route?next=https://x.example/',
];

/** The public corpora's lines that are such same-origin paths (a URL in the query, aimed at an
 * application's own redirect): accepted, and the login must end on the origin. */
const CORPUS_SAME_ORIGIN = new Set([
  '/?url=//example.com&next=//example.com&redirect=//example.com&redir=//example.com&rurl=//example.com&redirect_uri=//example.com',
  '/?url=Https://example.com&next=Https://example.com&redirect=Https://example.com&redir=Https://example.com&rurl=Https://example.com&redirect_uri=Https://example.com',
  '/ReceiveAutoRedirect/false?desiredLocationUrl=http://xssposed.org',
  '/redirect?url=//example.com&next=//example.com&redirect=//example.com&redir=//example.com&rurl=//example.com&redirect_uri=//example.com',
  '/redirect?url=Https://example.com&next=Https://example.com&redirect=Https://example.com&redir=Https://example.com&rurl=Https://example.com&redirect_uri=Https://example.com',
]);

/** Would a browser on `origin` that follows `Location: location` stay on `origin`? */
function staysOn(location, origin) {
  return new URL(location, `${origin}/some/page`).origin === origin;
}

function loginUrl(s, target, param = 'post_login_redirect_uri') {
  return s.at(`/.auth/login/testidp?${param}=${encodeURIComponent(target)}`);
}

for (const host of hosts) {
  describe(`redirects [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host);
    });
    after(async () => {
      await s?.stop();
    });

    it('hostile post_login_redirect_uri values → 400 at /.auth/login/testidp, never a 302', async () => {
      const c = s.client();
      const failures = [];
      for (const t of HOSTILE) {
        for (const param of ['post_login_redirect_uri', 'post_login_redirect_url']) {
          const res = await c.get(loginUrl(s, t, param));
          if (res.status !== 400) failures.push(`${param}=${JSON.stringify(t)} -> ${res.status} ${res.location || ''}`);
        }
      }
      assert.deepEqual(failures, [], `accepted hostile targets:\n${failures.join('\n')}`);
    });

    it('a refused login start sets no login-state cookie', async () => {
      const c = s.client();
      const res = await c.get(loginUrl(s, 'https://evil.example'));
      assert.equal(res.status, 400);
      assert.deepEqual(res.setCookies.map((k) => k.name), []);
    });

    it('same-origin targets are accepted (302 to the IdP)', async () => {
      const c = s.client();
      for (const t of [...ACCEPTED_RELATIVE, s.at('/abs/path?q=1')]) {
        assertRedirectToIdp(await c.get(loginUrl(s, t)), s, `target ${t}:`);
      }
    });

    it('a same-origin path keeps its query and fragment, URLs and all, through the login', async () => {
      for (const target of KEPT_WITH_URLS) {
        const r = await s.signIn(s.client(), { login: 'quinn', target });
        assert.equal(r.response.rawLocation, target, `${target}: ${r.response.describe()}`);
        assert.ok(staysOn(r.response.rawLocation, s.origin), target);
      }
    });

    it('a protected page with a URL in its query is where the login comes back to', async () => {
      for (const p of ['/app?returnUrl=https://x.example/', '/a?next=//evil.example', '/a?u=http%3A%2F%2Fx']) {
        const c = s.client();
        const r = await s.signIn(c, { login: 'rhea', startUrl: `${s.origin}${p}` });
        assert.equal(r.response.rawLocation, p, `${p}: ${r.response.describe()}`);
      }
    });

    it('the path part is still judged: a URL hidden before the query is refused', async () => {
      for (const t of ['//evil.example?next=/a', '/%2F%2Fevil.example?x=/a', '/%5Cevil.example?x', '/a/..//evil.example?x', '/https:evil.example?x=/', '/a?x=\\evil.example']) {
        const res = await s.client().get(loginUrl(s, t));
        assert.equal(res.status, 400, `${JSON.stringify(t)}: ${res.describe()}`);
      }
    });

    it('https://allowed.example/path is accepted and is where the login ends', async () => {
      const c = s.client();
      assertRedirectToIdp(await c.get(loginUrl(s, 'https://allowed.example/path')), s);
      const r = await s.signIn(s.client(), { login: 'vera', target: 'https://allowed.example/path?x=1' });
      assert.equal(r.response.location, 'https://allowed.example/path?x=1');
    });

    it('a login started from a protected page never ends on another origin', async () => {
      for (const p of ['//evil.example/x', '/%2F%2Fevil.example/x', '/%5Cevil.example', '/..//evil.example']) {
        const c = s.client();
        const first = await c.get(`${s.origin}${p}`);
        if (first.status !== 302) {
          assert.ok(first.status >= 400 && first.status < 500, `${p}: ${first.describe()}`);
          continue;
        }
        const r = await s.signIn(c, { login: 'walt', startUrl: `${s.origin}${p}`, expectSuccess: false });
        if (r.response.status === 302) {
          const loc = new URL(r.response.rawLocation, s.url);
          assert.equal(loc.origin, s.origin, `${p}: the login ended at ${r.response.rawLocation}`);
          const raw = r.response.rawLocation;
          if (!raw.startsWith(`${s.origin}/`)) {
            // a relative Location: must be a plain path, not protocol-relative (a browser could
            // resolve `//host` or `/\host` elsewhere)
            assert.ok(/^\/(?![/\\])/.test(raw), `${p}: Location ${raw} is not a plain same-origin path`);
          }
        } else {
          assert.ok(r.response.status >= 400 && r.response.status < 500, `${p}: ${r.response.describe()}`);
        }
      }
    });

    it('every line of the public open-redirect corpora is refused (raw and once-decoded)', async (t) => {
      const dir =
        process.env.EZAUTH_CORPORA_DIR ||
        [path.join(REPO_ROOT, 'tests', 'data', 'corpora'), path.join(REPO_ROOT, '..', 'shared', 'corpora')].find((d) => fs.existsSync(d)) ||
        path.join(REPO_ROOT, 'tests', 'data', 'corpora');
      const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.txt')) : [];
      if (files.length === 0) {
        t.skip(`no corpora at ${dir} (set EZAUTH_CORPORA_DIR)`);
        return;
      }
      const c = s.client();
      const failures = [];
      const sameOrigin = [];
      let n = 0;
      for (const f of files) {
        const lines = fs.readFileSync(path.join(dir, f), 'utf8').split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
        for (const line of lines) {
          const forms = new Set([line]);
          try {
            forms.add(decodeURIComponent(line));
          } catch {
            /* not decodable: the raw form only */
          }
          for (const v of forms) {
            n += 1;
            const res = await c.get(loginUrl(s, v), { cookies: false });
            if (res.status === 302 && CORPUS_SAME_ORIGIN.has(v)) sameOrigin.push(v);
            else if (res.status !== 400) failures.push(`${f}: ${JSON.stringify(v)} -> ${res.status}`);
          }
        }
      }
      assert.ok(n > 1000, `only ${n} corpus entries`);
      assert.equal(failures.length, 0, `${failures.length} of ${n} corpus entries were not refused, e.g.:\n${failures.slice(0, 40).join('\n')}`);
      // The same-origin paths among them: the login ends exactly there, on the origin.
      assert.deepEqual(new Set(sameOrigin), CORPUS_SAME_ORIGIN);
      for (const target of CORPUS_SAME_ORIGIN) {
        const r = await s.signIn(s.client(), { login: 'sam', target });
        assert.equal(r.response.rawLocation, target);
        assert.ok(staysOn(r.response.rawLocation, s.origin), target);
      }
    });
  });
}
