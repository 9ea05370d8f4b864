// Security, class 4: control bytes in a provider's claims, against real applications behind each
// host.
//
// README ("What the application sees"): every value ezauth writes into a header is free of CR, LF
// and control bytes. The
// test IdP issues users whose name and email (login `ctl-<kind>-...`, see idp.js) or sub (control
// bytes typed into the login form) hold CR, LF, NUL, a folded line, ESC, DEL, or a whole second
// request. The module either refuses the sign-in (4xx, no session) or signs the user in and writes
// no control byte: the application never sees a split header, an injected header, or a second
// (smuggled) request, and every request reaches it exactly once.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { backendsUnderTest } from './lib/backends/index.js';
import { CONTROL_INJECTIONS } from './idp.js';
import { SESSION_COOKIE } from './lib/flow.js';
import { startBackedStack, rawHttp, newCaseId, isReservedName, showEntries, esc, settle, CONTROL_BYTES, wireProblems } from './lib/security.js';

const hosts = await hostsUnderTest();
const backends = backendsUnderTest();

/** [description, login typed at the IdP]. */
const USERS = [
  ...Object.keys(CONTROL_INJECTIONS).map((kind) => [`name and email with ${kind}`, `ctl-${kind}-u`]),
  ['sub with CRLF', 'sub\r\nX-Injected: 1'],
  ['sub with LF', 'sub\nX-Injected: 1'],
  ['sub with NUL', 'sub\u0000X-Injected: 1'],
  ['sub with a smuggled request', `sub${CONTROL_INJECTIONS.smuggle}`],
];

for (const host of hosts) {
  for (const backendMod of backends) {
    describe(`security: control bytes in claims [${host.name} -> ${backendMod.name}]`, () => {
      let env;
      before(async () => {
        env = await startBackedStack(host, backendMod);
      });
      after(async () => {
        await env?.stop();
      });

      for (const [desc, login] of USERS) {
        it(`${desc} (login ${esc(login, 40)})`, async () => {
          const client = env.stack.client();
          const entriesBefore = (await env.backend.entries()).length;
          const errorsBefore = (await env.backend.errors()).length;

          // sign in; the IdP issues the claims, the module answers the callback
          const flow = await env.stack.signIn(client, { login, expectSuccess: false });
          const cb = flow.response;
          const cbWhat = `callback -> ${cb.describe()}`;
          const injectedInCallback = [...cb.headers.keys()].filter((k) => /x-injected/i.test(k));
          assert.deepEqual(injectedInCallback, [], `the callback's answer carries an injected header: ${cbWhat}`);
          const session = cb.setCookies.filter((c) => c.name.startsWith(SESSION_COOKIE) && c.value);
          if (cb.status >= 400 && cb.status < 500) {
            assert.deepEqual(session, [], `a refused sign-in must not set a session: ${cbWhat}`);
            return;
          }
          assert.ok(cb.status === 302 && session.length > 0, `the callback should refuse (4xx) or sign in (302 + session): ${cbWhat}`);

          // signed in: what the application gets on a protected path
          const caseId = newCaseId('claims');
          const res = await rawHttp(env.stack.origin, { target: '/admin/claims', headers: [['X-Sec-Case', caseId], ['Cookie', client.jar.header(env.stack.url)]] });
          await settle();
          const all = (await env.backend.entries()).slice(entriesBefore);
          const errors = (await env.backend.errors()).slice(errorsBefore);
          const mine = all.filter((e) => e.caseId === caseId);
          const what = `${desc}: GET /admin/claims -> ${res.describe()}; the app saw ${showEntries(all)}${errors.length ? `; parse errors at the app: ${JSON.stringify(errors)}` : ''}`;

          const smuggled = all.filter((e) => e.caseId === 'smuggled' || /smuggled/.test(e.target || ''));
          assert.deepEqual(smuggled.map((e) => e.target), [], `a second (smuggled) request reached the application: ${what}`);
          assert.deepEqual(errors, [], `the application received bytes it could not parse as a request: ${what}`);
          assert.ok(mine.length <= 1, `the request reached the application ${mine.length} times: ${what}`);
          assert.equal(all.length, mine.length, `the application got requests nobody sent: ${what}`);
          for (const e of mine) {
            // the head as it arrived: parsers repair some damage (Node unfolds folded lines)
            const problems = wireProblems(e);
            assert.deepEqual(problems, [], `the request head the application received is malformed: ${what}`);
            const injected = e.raw.filter(([n]) => /^\s*x-injected\s*$/i.test(n));
            assert.deepEqual(injected, [], `a claim split a header: the application got X-Injected: ${what}`);
            for (const [n, v] of e.raw) {
              if (isReservedName(n)) assert.ok(!CONTROL_BYTES.test(v), `the module wrote a control byte into ${n}: ${esc(v, 120)}: ${what}`);
            }
          }
          if (res.status >= 400 && res.status < 500) return; // refused per request: acceptable
          assert.equal(res.status, 200, `expected the application's answer (or a 4xx refusal): ${what}`);
          assert.equal(mine.length, 1, what);
          assert.equal(mine[0].handler, 'protected', what);
          // the user's whole identity, each header once (a host drops a header whose value would
          // split the header block: then the module wrote control bytes and the app gets a torn
          // identity)
          for (const h of ['x-ms-client-principal', 'x-ms-client-principal-id', 'x-ms-client-principal-name', 'x-ms-client-principal-idp']) {
            const n = mine[0].raw.filter(([k]) => k.toLowerCase() === h).length;
            assert.equal(n, 1, `the signed-in user's ${h} reached the app ${n} times (a value the host refused to write?): ${what}`);
          }
        });
      }
    });
  }
}
