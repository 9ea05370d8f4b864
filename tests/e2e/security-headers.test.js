// Security, class 1: spoofed identity headers, against real applications behind each host.
//
// README ("What the application sees"): every client-sent X-MS-CLIENT-PRINCIPAL* / X-MS-TOKEN-*
// header is removed, recognized on raw bytes (any case, `_` for `-`, any value bytes). Every reserved-name spelling × value
// bytes × requester is sent byte for byte over a raw socket; the application (lib/backends) must
// never see a reserved header the module did not write (anonymous: none at all; signed in:
// exactly the module's own, as on a clean request), nor decode a forged principal. A host may
// refuse such a request with 400 instead; an anonymous request on a protected path never reaches
// the protected handler.
//
// Folded lines (RFC 9112 5.2 obs-fold: CRLF then SP or HTAB) and a first header line that starts
// with whitespace: lenient backends read "X-A: b\r\n X-MS-CLIENT-PRINCIPAL-NAME: v" as a second
// header, or trim the name. Every fold kind after every base header, with reserved header lines
// in many spellings (and bare tokens that a parser may glue to a name), must get 400 from the
// host and never reach the application.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { hostsUnderTest } from './lib/hosts/index.js';
import { rawExchange } from './lib/raw.js';
import { backendsUnderTest } from './lib/backends/index.js';
import { startBackedStack, rawHttp, newCaseId, entriesFor, reservedHeaders, showEntries, esc, cookieOf, wireHeaders, isReservedName } from './lib/security.js';

const hosts = await hostsUnderTest();
const backends = backendsUnderTest();

const FORGED_JSON = JSON.stringify({
  auth_typ: 'aad',
  claims: [
    { typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role', val: 'admin' },
    { typ: 'name', val: 'mallory' },
    { typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: 'mallory-oid' },
  ],
  name_typ: 'name',
  role_typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
});
const F = Buffer.from(FORGED_JSON).toString('base64');

/** Reserved names, as a client may spell them (the module's own spelling, any case, `_` for `-`, mixed). */
const NAMES = [
  'X-MS-CLIENT-PRINCIPAL',
  'X-MS-CLIENT-PRINCIPAL-ID',
  'X-MS-CLIENT-PRINCIPAL-NAME',
  'X-MS-CLIENT-PRINCIPAL-IDP',
  'X-MS-TOKEN-AAD-ACCESS-TOKEN',
  'X-MS-TOKEN-TESTIDP-ACCESS-TOKEN',
  'x-ms-client-principal',
  'X-Ms-Client-Principal-Name',
  'x-mS-cLiEnT-pRiNcIpAl-IdP',
  'X_MS_CLIENT_PRINCIPAL',
  'x_ms_client_principal_id',
  'X_MS_TOKEN_AAD_ACCESS_TOKEN',
  'X-MS_CLIENT-PRINCIPAL_NAME',
  'x_Ms-Token_aad-ACCESS_token',
  'X.MS.CLIENT.PRINCIPAL.NAME',
  'x.ms.token.aad.access.token',
  'X-MS.Client~Principal-Id',
];

/** Value bytes (latin1 strings: one char per byte). */
const VALUES = {
  'base64 of a forged principal': F,
  'the same + trailing \\xff': `${F}\xff`,
  'embedded NUL': `${F.slice(0, 24)}\0${F.slice(24)}`,
  'obs-text \\x80-\\xff around it': `\x80\xa0${F}\xc3\xfe\xff`,
  empty: '',
};

const REQUESTERS = {
  'anonymous, excluded path': { target: '/public/a.css', signedIn: false },
  'anonymous, protected path': { target: '/admin/x', signedIn: false },
  'signed in, protected path': { target: '/admin/x', signedIn: true },
};

/** The reserved header lines of a record's head as it arrived on the wire, [normalized name, value], sorted. */
function wireReserved(entry) {
  return wireHeaders(entry)
    .filter(([n]) => isReservedName(n.trim()))
    .map(([n, v]) => [n.trim().toLowerCase().replace(/_/g, '-'), v])
    .sort((a, b) => (a[0] + '\0' + a[1] < b[0] + '\0' + b[1] ? -1 : 1));
}

/** A forged value (or a recognizable piece of it) anywhere in what the application received? */
function forgedTrace(entry) {
  const piece = F.slice(8, 40);
  for (const [n, v] of entry.raw) if (v.includes(piece)) return `${n}: ${esc(v, 40)}`;
  const decoded = entry.identity.principal?.decoded;
  if (typeof decoded === 'string' && decoded.includes('mallory')) return `the app decoded X-MS-CLIENT-PRINCIPAL to ${esc(decoded, 80)}`;
  return null;
}

for (const host of hosts) {
  for (const backendMod of backends) {
    describe(`security: spoofed identity headers [${host.name} -> ${backendMod.name}]`, () => {
      let env;
      let cookie;
      let baseline;
      before(async () => {
        env = await startBackedStack(host, backendMod);
        const c = env.stack.client();
        await env.stack.signIn(c, { login: 'alice' });
        cookie = cookieOf(env.stack, c);
        // what the application gets for this user on a clean request: the module's own headers
        const caseId = newCaseId('baseline');
        const res = await rawHttp(env.stack.origin, { target: '/admin/baseline', headers: [['Cookie', cookie], ['X-Sec-Case', caseId]] });
        const seen = await entriesFor(env.backend, caseId);
        assert.equal(res.status, 200, `clean signed-in request: ${res.describe()}`);
        assert.equal(seen.length, 1, `clean signed-in request reached the app ${seen.length} times`);
        baseline = { reserved: reservedHeaders(seen[0]), wire: wireReserved(seen[0]), identity: seen[0].identity };
        assert.equal(baseline.identity.id, 'alice', `baseline identity: ${showEntries(seen)}`);
        assert.equal(baseline.identity.name, 'User alice', `baseline identity: ${showEntries(seen)}`);
      });
      after(async () => {
        await env?.stop();
      });

      for (const [who, r] of Object.entries(REQUESTERS)) {
        describe(who, () => {
          for (const name of NAMES) {
            for (const [vdesc, value] of Object.entries(VALUES)) {
              it(`${name}: ${vdesc}`, async () => {
                const caseId = newCaseId('spoof');
                const headers = [['X-Sec-Case', caseId]];
                if (r.signedIn) headers.push(['Cookie', cookie]);
                headers.push([name, value]);
                const res = await rawHttp(env.stack.origin, { target: r.target, headers });
                const seen = await entriesFor(env.backend, caseId);
                const what = `${who}, ${name}: ${esc(value, 40)} -> ${res.describe()}; the app saw ${showEntries(seen)}`;

                // what reached the application: never the forged header, in any form
                for (const e of seen) {
                  const trace = forgedTrace(e);
                  assert.ok(trace === null, `forged identity reached the ${e.handler} handler (${trace}): ${what}`);
                  const expected = r.signedIn ? baseline.reserved : [];
                  assert.ok(isDeepStrictEqual(reservedHeaders(e), expected), `the app got reserved headers the module did not write: ${what}`);
                  assert.ok(isDeepStrictEqual(wireReserved(e), r.signedIn ? baseline.wire : []), `reserved header lines the module did not write arrived on the wire: ${what}`);
                  assert.ok(isDeepStrictEqual(e.identity, r.signedIn ? baseline.identity : {}), `the app's identity is not the module's: ${what}`);
                }

                // the response: the request passed as the module judged it, or was refused with 400
                if (res.status === 400) return;
                if (!r.signedIn && r.target.startsWith('/admin/')) {
                  assert.ok(!seen.some((e) => e.handler === 'protected'), `an anonymous request with a spoofed header ran the protected handler: ${what}`);
                  assert.equal(res.status, 302, `expected the module's redirect to login (or 400): ${what}`);
                } else {
                  assert.equal(res.status, 200, `expected the application's answer (or 400): ${what}`);
                  assert.equal(seen.length, 1, `expected one request at the app: ${what}`);
                  assert.equal(seen[0].handler, r.signedIn ? 'protected' : 'excluded', what);
                }
              });
            }
          }
        });
      }
    });
  }
}

/** Fold kinds: what follows the CRLF that ends the previous line. */
const FOLDS = { space: ' ', tab: '\t', 'three spaces': '   ', 'space, tab': ' \t', 'tab, space': '\t ' };
/** Header lines the fold continues. */
const FOLD_BASES = { 'X-A: b': ['X-A', 'b'], 'X-A: (empty)': ['X-A', ''], 'Accept: */*': ['Accept', '*/*'], 'X-MS-CLIENT: b': ['X-MS-CLIENT', 'b'] };
/** What the fold line holds: a reserved header line in many spellings, or bare tokens. */
const FOLD_PAYLOADS = {
  'X-MS-CLIENT-PRINCIPAL': `X-MS-CLIENT-PRINCIPAL: ${F}`,
  'x-ms-client-principal-name': 'x-ms-client-principal-name: mallory',
  'X_MS_CLIENT_PRINCIPAL_ID, no blank': 'X_MS_CLIENT_PRINCIPAL_ID:mallory-oid',
  'X-Ms-Client-Principal-Idp': 'X-Ms-Client-Principal-Idp: aad',
  'x_ms_token_aad_access_token': 'x_ms_token_aad_access_token: mallory-token',
  'a bare "-PRINCIPAL-NAME"': '-PRINCIPAL-NAME',
  'a bare token': 'mallory',
  nothing: '',
};
/** Several fold lines in a row. */
const MULTI_FOLDS = {
  'two reserved lines folded in turn': ['X-A', `b\r\n X-MS-CLIENT-PRINCIPAL-NAME: mallory\r\n\tX-MS-CLIENT-PRINCIPAL: ${F}`],
  'a token, then a reserved line': ['X-A', 'b\r\n c\r\n X-MS-CLIENT-PRINCIPAL-ID: mallory-oid'],
  'a reserved header folded into itself': ['X-MS-CLIENT-PRINCIPAL-NAME', 'mallory\r\n X-MS-CLIENT-PRINCIPAL-ID: mallory-oid'],
  'empty fold lines': ['X-A', 'b\r\n \r\n\t\r\n '],
};
/** A first header line (right after the request line) that starts with whitespace. */
const LEADING = {
  'space, X-MS-CLIENT-PRINCIPAL-NAME': ' X-MS-CLIENT-PRINCIPAL-NAME: mallory',
  'tab, X-MS-CLIENT-PRINCIPAL': `\tX-MS-CLIENT-PRINCIPAL: ${F}`,
  'two spaces, x_ms_client_principal_id': '  x_ms_client_principal_id: mallory-oid',
  'space, X-MS-TOKEN-AAD-ID-TOKEN': ' X-MS-TOKEN-AAD-ID-TOKEN: mallory-token',
};
const FOLD_REQUESTERS = {
  'anonymous, excluded path': { target: '/public/fold.css', signedIn: false },
  'signed in, protected path': { target: '/admin/fold', signedIn: true },
};

for (const host of hosts) {
  for (const backendMod of backends) {
    describe(`security: folded and space-prefixed header lines [${host.name} -> ${backendMod.name}]`, () => {
      let env;
      let cookie;
      before(async () => {
        env = await startBackedStack(host, backendMod);
        const c = env.stack.client();
        await env.stack.signIn(c, { login: 'alice' });
        cookie = cookieOf(env.stack, c);
      });
      after(async () => {
        await env?.stop();
      });

      /** The request gets 400 and nothing of it reaches the application. */
      async function refused(what, send, caseId) {
        const res = await send();
        const seen = await entriesFor(env.backend, caseId);
        const described = `${what} -> ${res.describe ? res.describe() : res.head.toString('latin1').split('\r\n')[0]}; the app saw ${showEntries(seen)}`;
        assert.equal(seen.length, 0, `a request with a folded or space-prefixed header line reached the app: ${described}`);
        assert.equal(res.status, 400, `expected 400: ${described}`);
      }

      for (const [who, r] of Object.entries(FOLD_REQUESTERS)) {
        const lines = (caseId, extra) => [['X-Sec-Case', caseId], ...(r.signedIn ? [['Cookie', cookie]] : []), ...extra];

        it(`${who}: ${Object.keys(FOLDS).length} fold kinds x ${Object.keys(FOLD_BASES).length} base headers x ${Object.keys(FOLD_PAYLOADS).length} fold lines get 400`, async () => {
          for (const [fdesc, fold] of Object.entries(FOLDS)) {
            for (const [bdesc, [name, value]] of Object.entries(FOLD_BASES)) {
              for (const [pdesc, payload] of Object.entries(FOLD_PAYLOADS)) {
                const caseId = newCaseId('fold');
                const headers = lines(caseId, [[name, `${value}\r\n${fold}${payload}`]]);
                await refused(`${who}, "${bdesc}" folded with ${fdesc} + ${pdesc}`, () => rawHttp(env.stack.origin, { target: r.target, headers }), caseId);
              }
            }
          }
        });

        it(`${who}: ${Object.keys(MULTI_FOLDS).length} runs of several fold lines get 400`, async () => {
          for (const [desc, [name, value]] of Object.entries(MULTI_FOLDS)) {
            const caseId = newCaseId('folds');
            await refused(`${who}, ${desc}`, () => rawHttp(env.stack.origin, { target: r.target, headers: lines(caseId, [[name, value]]) }), caseId);
          }
        });

        it(`${who}: ${Object.keys(LEADING).length} first header lines that start with whitespace get 400`, async () => {
          for (const [desc, line] of Object.entries(LEADING)) {
            const caseId = newCaseId('leading');
            const rest = lines(caseId, [['Host', new URL(env.stack.origin).host], ['Connection', 'close']]);
            const head = [`GET ${r.target} HTTP/1.1`, line, ...rest.map(([n, v]) => `${n}: ${v}`)].join('\r\n');
            await refused(`${who}, ${desc}`, () => rawExchange(Number(new URL(env.stack.origin).port), Buffer.from(`${head}\r\n\r\n`, 'latin1')), caseId);
          }
        });
      }
    });
  }
}
