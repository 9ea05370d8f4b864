// Security, class 2: path judgement, against real applications behind each host.
//
// With /health and /public/* excluded (README, "What the application sees", Excluded paths): an
// exclusion applies only to a path whose raw form is unambiguous (no `#`, `;`, `\`, encoded
// separators or dot segments — anything else is judged as protected). Each anonymous request below hides a protected path behind an excluded
// one (or the other way round) with a trick some server or framework resolves differently from
// the module; it must get the module's action (302 / 401) or a 400, and reach no application
// handler: neither the protected one (an outright bypass) nor the excluded one (the module took an
// ambiguous path for an excluded one). The plain forms of the excluded paths still pass
// anonymously to the application's excluded handler.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { backendsUnderTest } from './lib/backends/index.js';
import { startBackedStack, rawHttp, newCaseId, entriesFor, reservedHeaders, showEntries, esc, actionStatus } from './lib/security.js';

const hosts = await hostsUnderTest();
const backends = backendsUnderTest();

/** [raw request-target, the trick] — all anonymous, all must be judged protected. */
const TRICKS = [
  ['/admin/x/%2e%2e/%2e%2e/health', 'encoded dot segments climb from /admin to /health'],
  ['/admin/x/%2E%2e/%2e%2E/health', 'the same, mixed-case escapes'],
  ['/admin/x/.%2e/%2e./health', 'half-encoded dot segments'],
  ['/admin/x/%252e%252e/%252e%252e/health', 'double-encoded dot segments'],
  ['/admin%2f..%2fhealth', 'encoded slashes around ..'],
  ['/admin/..%2fhealth', 'encoded slash after ..'],
  ['/admin/..%2Fhealth', 'encoded slash after .., upper case'],
  ['/admin/secret#/../../health', "'#' in the request-target"],
  ['/health#/../admin/x', "'#' after an excluded path"],
  ['/admin;/../health', "';' then .."],
  ['/admin/x/..;/..;/health', "'..;' segments"],
  ['/public/..;/admin', "'..;' out of /public"],
  ['/public/..;jsessionid=1/admin/x', "'..;param' out of /public"],
  ['/public;/../admin', "';' on the excluded prefix, then .."],
  ['/./health/..;/admin', "'.' then '..;'"],
  ['/public/%2e%2e/admin', 'encoded .. out of /public'],
  ['/public/%2E%2e/admin', 'encoded .., mixed case'],
  ['/public/%2e%2e%2fadmin', 'encoded ../'],
  ['/public/..%2fadmin', 'encoded slash'],
  ['/public/..%2Fadmin', 'encoded slash, upper case'],
  ['/public/..%5cadmin', 'encoded backslash'],
  ['/public/%2e%2e%5cadmin', 'encoded ..\\'],
  ['/public\\..\\admin', 'backslashes'],
  ['/public/..\\admin', 'backslash after ..'],
  ['/public/%252e%252e/admin', 'double-encoded dots'],
  ['/public/..%252fadmin', 'double-encoded slash'],
  ['/public/%c0%ae%c0%ae/admin', 'overlong UTF-8 dots'],
  ['/health%00', 'NUL after an excluded path'],
  ['/health%00/../admin', 'NUL then ..'],
  ['/public/a.css%00/../../admin', 'NUL in /public, then ..'],
  ['//health', 'empty first segment (a scheme-relative URL to WHATWG parsers)'],
  ['//public/a.css', 'empty first segment before /public'],
  ['/%2e/health', 'encoded single dot'],
  ['/health/.', 'trailing dot segment'],
  ['/health/../admin', 'raw .. out of /health'],
  ['/health/../admin/x', 'raw .. out of /health, deeper'],
  ['/public/../admin/x', 'raw .. out of /public'],
  ['/public/./../admin', "'.' then '..'"],
  ['/public/a/../../admin', 'two levels of ..'],
  ['/Health', 'case'],
  ['/PUBLIC/a.css', 'case of the prefix'],
  ['/admin/x?/health', 'an excluded path in the query only'],
  ['/admin?/public/a.css', 'an excluded prefix in the query only'],
  // raw routers (WHATWG URL, Express) do not decode before routing: an escape in the part an
  // exclusion names sends the path to another handler there
  ['/pub%6cic/a', 'an escaped letter in the excluded prefix'],
  ['/publi%63/a.css', 'an escaped last letter of the prefix'],
  ['/%70%75%62%6c%69%63/x', 'the whole prefix escaped'],
  ['/pu%62lic/anything/deep', 'an escaped letter, deep'],
  ['/heal%74h', 'an escaped letter of an exact path'],
  ['/%68ealth', 'an escaped first letter of an exact path'],
  ['/public/', "the prefix itself: Werkzeug's <path:p> needs a remainder"],
];

/** Plain excluded paths: the application's excluded handler answers, anonymously. */
const PLAIN_EXCLUDED = ['/health', '/health?probe=1', '/public/a.css', '/public/deep/x.js?v=1'];

for (const host of hosts) {
  for (const backendMod of backends) {
    for (const action of ['RedirectToLoginPage', 'Return401']) {
      const expected = actionStatus(action);
      describe(`security: path judgement, ${action} [${host.name} -> ${backendMod.name}]`, () => {
        let env;
        before(async () => {
          env = await startBackedStack(host, backendMod, { action });
        });
        after(async () => {
          await env?.stop();
        });

        for (const target of PLAIN_EXCLUDED) {
          it(`plain excluded ${target} reaches the excluded handler anonymously`, async () => {
            const caseId = newCaseId('path');
            const res = await rawHttp(env.stack.origin, { target, headers: [['X-Sec-Case', caseId]] });
            const seen = await entriesFor(env.backend, caseId);
            const what = `${target} -> ${res.describe()}; the app saw ${showEntries(seen)}`;
            assert.equal(res.status, 200, what);
            assert.equal(seen.length, 1, what);
            assert.equal(seen[0].handler, 'excluded', what);
            assert.deepEqual(reservedHeaders(seen[0]), [], what);
          });
        }

        it('a plain protected path gets the action', async () => {
          const caseId = newCaseId('path');
          const res = await rawHttp(env.stack.origin, { target: '/admin/x', headers: [['X-Sec-Case', caseId]] });
          const seen = await entriesFor(env.backend, caseId);
          assert.equal(res.status, expected, `${res.describe()}; the app saw ${showEntries(seen)}`);
          assert.equal(seen.length, 0, showEntries(seen));
        });

        for (const [target, trick] of TRICKS) {
          it(`${esc(target)} (${trick})`, async () => {
            const caseId = newCaseId('path');
            const res = await rawHttp(env.stack.origin, { target, headers: [['X-Sec-Case', caseId]] });
            const seen = await entriesFor(env.backend, caseId);
            const what = `anonymous GET ${esc(target)} -> ${res.describe()}; the app saw ${showEntries(seen)}`;
            const ran = seen.find((e) => e.handler === 'protected');
            assert.ok(!ran, `BYPASS: the application's protected handler ran anonymously (routed as ${esc(ran?.route)}): ${what}`);
            assert.equal(seen.length, 0, `the module let an ambiguous path through as excluded (the app's ${seen[0]?.handler} handler answered): ${what}`);
            assert.ok(res.status === expected || res.status === 400, `expected ${expected} (${action}) or 400: ${what}`);
          });
        }
      });
    }
  }
}
