// Security, class 3: CORS preflights, against real applications behind each host.
//
// A preflight (OPTIONS with Access-Control-Request-Method) carries no credentials. Forwarded to the
// application anonymously, it reaches whatever handler the application routes the path to: a
// catch-all protected handler that ignores the method (both backends here have one, as many apps
// do) runs for an anonymous client. So on a protected path the module answers a preflight itself or
// applies the unauthenticated action; the application never sees it. On an excluded path the
// preflight is the application's business and is forwarded.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { backendsUnderTest } from './lib/backends/index.js';
import { startBackedStack, rawHttp, newCaseId, entriesFor, reservedHeaders, showEntries, esc } from './lib/security.js';

const hosts = await hostsUnderTest();
const backends = backendsUnderTest();

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
/** Stands for the stack's own origin (known only once it runs). */
const SAME = '<same origin>';
const ORIGINS = { 'no Origin': null, 'same origin': SAME, 'cross-site Origin': 'https://evil.example', 'Origin: null': 'null' };

/** Preflights on protected paths: [description, target, headers]. */
function protectedCases() {
  const out = [];
  for (const m of METHODS) {
    for (const [od, o] of Object.entries(ORIGINS)) {
      const h = [['Access-Control-Request-Method', m]];
      if (o) h.unshift(['Origin', o]);
      out.push([`${m}, ${od}`, '/admin/api', h]);
    }
  }
  const evil = ['Origin', 'https://evil.example'];
  out.push(['with Access-Control-Request-Headers', '/admin/api', [evil, ['Access-Control-Request-Method', 'POST'], ['Access-Control-Request-Headers', 'authorization, content-type, x-requested-with']]]);
  out.push(['header name in lower case', '/admin/api', [evil, ['access-control-request-method', 'DELETE']]]);
  out.push(['header name in odd case', '/admin/api', [evil, ['ACCESS-CONTROL-REQUEST-METHOD', 'PUT']]]);
  out.push(['empty Access-Control-Request-Method', '/admin/api', [evil, ['Access-Control-Request-Method', '']]]);
  out.push(['Access-Control-Request-Method twice', '/admin/api', [evil, ['Access-Control-Request-Method', 'GET'], ['Access-Control-Request-Method', 'DELETE']]]);
  out.push(['with a query', '/admin/api?id=1', [evil, ['Access-Control-Request-Method', 'DELETE']]]);
  out.push(['on the root', '/', [evil, ['Access-Control-Request-Method', 'GET']]]);
  out.push(['plain OPTIONS (no Access-Control-Request-Method)', '/admin/api', [evil]]);
  return out;
}

const EXCLUDED_CASES = [
  ['/public/api', 'GET', 'https://evil.example'],
  ['/public/api', 'DELETE', 'https://evil.example'],
  ['/public/a.css', 'POST', null],
  ['/health', 'GET', 'https://evil.example'],
];

for (const host of hosts) {
  for (const backendMod of backends) {
    for (const action of ['RedirectToLoginPage', 'Return401']) {
      describe(`security: CORS preflight, ${action} [${host.name} -> ${backendMod.name}]`, () => {
        let env;
        before(async () => {
          env = await startBackedStack(host, backendMod, { action });
        });
        after(async () => {
          await env?.stop();
        });

        for (const [desc, target, template] of protectedCases()) {
          it(`protected ${target}: ${desc} never reaches the application`, async () => {
            const headers = template.map(([n, v]) => [n, v === SAME ? env.stack.origin : v]);
            const caseId = newCaseId('preflight');
            const res = await rawHttp(env.stack.origin, { method: 'OPTIONS', target, headers: [['X-Sec-Case', caseId], ...headers] });
            const seen = await entriesFor(env.backend, caseId);
            const what = `OPTIONS ${esc(target)} ${esc(headers.map(([n, v]) => `${n}: ${v}`).join(' | '))} -> ${res.describe()}; the app saw ${showEntries(seen)}`;
            assert.ok(!seen.some((e) => e.handler === 'protected'), `an anonymous preflight ran the application's protected handler: ${what}`);
            assert.equal(seen.length, 0, `an anonymous preflight on a protected path reached the application: ${what}`);
            assert.ok(res.status >= 200 && res.status < 500, `expected the module's own answer or its action, not ${res.status}: ${what}`);
          });
        }

        for (const [target, method, origin] of EXCLUDED_CASES) {
          it(`excluded ${target}: a ${method} preflight${origin ? ' with Origin' : ''} is forwarded to the application`, async () => {
            const caseId = newCaseId('preflight');
            const headers = [['X-Sec-Case', caseId], ['Access-Control-Request-Method', method]];
            if (origin) headers.push(['Origin', origin]);
            const res = await rawHttp(env.stack.origin, { method: 'OPTIONS', target, headers });
            const seen = await entriesFor(env.backend, caseId);
            const what = `OPTIONS ${target} -> ${res.describe()}; the app saw ${showEntries(seen)}`;
            assert.equal(res.status, 200, what);
            assert.equal(seen.length, 1, what);
            assert.equal(seen[0].handler, 'excluded', what);
            assert.equal(seen[0].method, 'OPTIONS', what);
            assert.deepEqual(reservedHeaders(seen[0]), [], what);
          });
        }
      });
    }
  }
}
