#!/usr/bin/env node
// A real OpenID Connect provider (oidc-provider) on loopback, for the e2e tests and the demo.
//
// Library:  const idp = await startIdp({ port: 0, redirectUris: [...], clients: [...], shape: 'google',
//             accessTokenTtl: 3600, clockTolerance: 15 })
//           clients: more registered clients (oidc-provider client metadata; redirect_uris
//           default to redirectUris), e.g. an implicit id_token client (application_type
//           native: oidc-provider allows implicit web clients https callbacks only, native ones
//           loopback http too) or a private_key_jwt one
//           idp.issuer, idp.port, idp.hooks.set({ tokenDelayMs, tokenGarbage }), idp.hooks.reset(),
//           idp.counters, idp.refreshLog, idp.mintIdToken(claims, { key: 'provider' | 'other', alg }),
//           idp.mintAccessToken(claims, opts) (RFC 9068: typ at+jwt, client_id, scope), await idp.close()
// CLI:      node idp.js --port P --redirect-uri URI [--redirect-uri URI ...]
//           prints "issuer http://127.0.0.1:P" when ready; Ctrl-C stops it.
//
// Test hooks over HTTP (same port, for hosts and scripts that run the CLI):
//   POST /__test/hooks  {"tokenDelayMs": 5000, "tokenGarbage": true}  -> current hooks
//   POST /__test/reset                                                  -> hooks cleared
//   GET  /__test/counters                                               -> {"token": n, ...}
//   GET  /__test/refresh-log                   -> [{"token", "status"}] of every refresh grant
//   POST /__test/mint   {"claims": {...}, "key": "provider"|"other", "alg": "RS256"|"none"}
//                                                                      -> {"id_token": "..."}
// Or set them at start: EZAUTH_IDP_TOKEN_DELAY_MS=N, EZAUTH_IDP_TOKEN_GARBAGE=1 (or a body).
// These routes exist only in this test fixture.
//
// shape 'google': the provider behaves as Google's OpenID Connect documentation describes it
// where the module can tell ("OpenID Connect" and "Using OAuth 2.0 for Web Server
// Applications", developers.google.com/identity): `access_type=offline` at the authorization
// endpoint is what earns a refresh token (oidc-provider grants one for `offline_access` with
// `prompt=consent`, so the fixture asks for both on its behalf); PKCE is optional for a
// confidential client; the discovery document names no end_session_endpoint (Google has no
// RP-initiated logout); id_tokens carry email_verified, given_name and family_name.
import crypto from 'node:crypto';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import Provider from 'oidc-provider';
import { generateRsaKey, signJwt, nowSec } from './lib/jwt.js';
import { closerFor } from './lib/ports.js';

export const CLIENT_ID = 'ezauth-test';
export const CLIENT_SECRET = 'ezauth-test-secret';

/** Deterministic incompressible-ish filler derived from a seed (for large-claim tests). */
function filler(seed, length) {
  let out = '';
  let block = Buffer.from(seed);
  while (out.length < length) {
    block = crypto.createHash('sha256').update(block).digest();
    out += block.toString('base64url');
  }
  return out.slice(0, length);
}

/**
 * Control bytes that a login `ctl-<kind>-...` puts into its `name` and `email` claims (the
 * security tests: a provider's claims must never split a header the module writes). A login
 * name is the `sub` as typed, so control bytes typed into the login form reach `sub` as well.
 */
export const CONTROL_INJECTIONS = {
  crlf: '\r\nX-Injected: 1',
  lf: '\nX-Injected: 1',
  cr: '\rX-Injected: 1',
  nul: '\u0000X-Injected: 1',
  fold: '\r\n X-Injected: 1',
  esc: '\u001bX-Injected: 1',
  del: '\u007fX-Injected: 1',
  // a whole second request after an empty line: a proxy that writes it on a keep-alive
  // upstream connection makes the application answer two requests
  smuggle: '\r\n\r\nGET /admin/smuggled HTTP/1.1\r\nHost: smuggled\r\nX-Sec-Case: smuggled\r\n\r\n',
};

/**
 * The account model: the login name is the subject. A login of the form `big<N>-...` gets a
 * `name` claim of N pseudo-random characters (used to grow the principal past one cookie); a
 * login `ctl-<kind>-...` (a key of CONTROL_INJECTIONS) gets those control bytes inside `name`
 * and `email`.
 */
export function accountClaims(login) {
  const big = /^big(\d{1,6})-/.exec(login);
  const ctl = /^ctl-([a-z]+)-/.exec(login);
  if (ctl && Object.hasOwn(CONTROL_INJECTIONS, ctl[1])) {
    const bad = CONTROL_INJECTIONS[ctl[1]];
    return { sub: login, name: `User ${login}${bad}`, email: `${login}${bad}@example.test` };
  }
  const name = big ? `User ${filler(login, Number(big[1]))}` : `User ${login}`;
  return { sub: login, name, email: `${login}@example.test` };
}

/** A Google account's claims: the profile's parts and a verified address beside the name. */
export function googleClaims(login) {
  const { sub, name, email } = accountClaims(login);
  return { sub, name, email, email_verified: true, given_name: 'User', family_name: login };
}

function garbageFromEnv(v) {
  if (!v || v === '0' || v === 'false') return false;
  return v === '1' || v === 'true' ? true : v;
}

export async function startIdp({ port = 0, host = '127.0.0.1', redirectUris = [], clients = [], quiet = true, shape, accessTokenTtl = 3600, clockTolerance = 15 } = {}) {
  const google = shape === 'google';
  const signing = generateRsaKey('idp-' + crypto.randomBytes(4).toString('hex'));
  const other = generateRsaKey('other-' + crypto.randomBytes(4).toString('hex'));

  const hooks = {
    // initial values from the environment (for the CLI): EZAUTH_IDP_TOKEN_DELAY_MS=5000,
    // EZAUTH_IDP_TOKEN_GARBAGE=1 (or a literal body to answer)
    tokenDelayMs: Number(process.env.EZAUTH_IDP_TOKEN_DELAY_MS) || 0,
    tokenGarbage: garbageFromEnv(process.env.EZAUTH_IDP_TOKEN_GARBAGE),
    set(h) {
      if (h.tokenDelayMs !== undefined) this.tokenDelayMs = Number(h.tokenDelayMs) || 0;
      if (h.tokenGarbage !== undefined) this.tokenGarbage = h.tokenGarbage;
      return this.state();
    },
    reset() {
      this.tokenDelayMs = 0;
      this.tokenGarbage = false;
      return this.state();
    },
    state() {
      return { tokenDelayMs: this.tokenDelayMs, tokenGarbage: this.tokenGarbage };
    },
  };
  const counters = { token: 0, tokenAuthorizationCode: 0, tokenRefresh: 0, authorize: 0 };
  // every refresh_token grant: the token presented and the status answered (a rotating
  // provider must never see one refresh token twice)
  const refreshLog = [];

  // The issuer needs the port; bind first, then build the provider on the bound port.
  const server = (await import('node:http')).createServer();
  server.listen(port, host);
  await once(server, 'listening');
  const boundPort = server.address().port;
  const issuer = `http://${host}:${boundPort}`;

  // oidc-provider prints "you should change X" hints for defaults; they are noise here.
  const origWarn = console.warn;
  const origInfo = console.info;
  if (quiet) {
    console.warn = () => {};
    console.info = () => {};
  }

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: redirectUris,
        // RP-initiated logout returns to the module's signed-out page of the same site
        post_logout_redirect_uris: redirectUris.map((u) => u.replace(/\/login\/[^/]+\/callback$/, '/logout/complete')),
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
      ...clients.map((c) => ({ redirect_uris: redirectUris, ...c })),
    ],
    // both client_secret_post and client_secret_basic are accepted at the token endpoint; the
    // extra clients may be public (none: the implicit flow) or prove themselves with a key
    clientAuthMethods: ['client_secret_post', 'client_secret_basic', 'private_key_jwt', 'none'],
    jwks: { keys: [signing.privateJwk] },
    // oidc-provider's default lets tokens live 15 s past their expiry; 0 judges them exactly
    clockTolerance,
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    pkce: { required: () => !google },
    ...(google ? { extraParams: ['access_type'] } : {}),
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client, source) =>
      client.grantTypeAllowed('refresh_token') && source.scopes.has('offline_access'),
    claims: google
      ? { openid: ['sub'], profile: ['name', 'given_name', 'family_name'], email: ['email', 'email_verified'] }
      : { openid: ['sub'], profile: ['name'], email: ['email'] },
    // Put the scope claims (name, email) into the id_token itself, like Entra ID does, so the
    // module's principal can be built from the id_token alone.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      ...(google ? { rpInitiatedLogout: { enabled: false } } : {}),
    },
    ttl: {
      // shorter for tests that outlive a token (tokens stay fresh)
      AccessToken: accessTokenTtl,
      AuthorizationCode: 600,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    findAccount: async (_ctx, sub) => ({
      accountId: sub,
      claims: async () => (google ? googleClaims(sub) : accountClaims(sub)),
    }),
  });

  if (quiet) {
    console.warn = origWarn;
    console.info = origInfo;
  }

  function mintIdToken(claims = {}, { key = 'provider', alg = 'RS256', header = {} } = {}) {
    const now = nowSec();
    const payload = { iss: issuer, aud: CLIENT_ID, iat: now, exp: now + 3600, sub: 'minted', ...claims };
    const k = key === 'other' ? other : signing;
    return signJwt(payload, { alg, key: k, header });
  }

  /** An access token for this app as RFC 9068 shapes one (what a bearer caller presents). */
  function mintAccessToken(claims = {}, opts = {}) {
    return mintIdToken(
      { client_id: CLIENT_ID, scope: 'openid api', ...claims },
      { ...opts, header: { typ: 'at+jwt', ...(opts.header || {}) } },
    );
  }

  async function readJson(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? JSON.parse(text) : {};
  }

  provider.use(async (ctx, next) => {
    if (ctx.path.startsWith('/__test/')) {
      const what = ctx.path.slice('/__test/'.length);
      ctx.type = 'json';
      if (what === 'hooks' && ctx.method === 'POST') ctx.body = hooks.set(await readJson(ctx.req));
      else if (what === 'hooks') ctx.body = hooks.state();
      else if (what === 'reset') ctx.body = hooks.reset();
      else if (what === 'counters') ctx.body = counters;
      else if (what === 'refresh-log') ctx.body = refreshLog;
      else if (what === 'mint' && ctx.method === 'POST') {
        const body = await readJson(ctx.req);
        ctx.body = { id_token: mintIdToken(body.claims, { key: body.key, alg: body.alg }) };
      } else {
        ctx.status = 404;
        ctx.body = { error: 'unknown test hook' };
      }
      return;
    }
    if (ctx.path === '/auth' || ctx.path.startsWith('/auth?')) counters.authorize += 1;
    if (google && ctx.path === '/auth' && ctx.query.access_type === 'offline') {
      // Google's refresh token for access_type=offline, in oidc-provider's terms.
      const q = new URLSearchParams(ctx.querystring);
      const scopes = new Set((q.get('scope') || '').split(' ').filter(Boolean));
      scopes.add('offline_access');
      q.set('scope', [...scopes].join(' '));
      q.set('prompt', 'consent');
      ctx.querystring = q.toString();
    }
    if (ctx.path === '/token' && ctx.method === 'POST') {
      counters.token += 1;
      if (hooks.tokenDelayMs > 0) await new Promise((r) => setTimeout(r, hooks.tokenDelayMs));
      if (hooks.tokenGarbage) {
        ctx.status = 200;
        ctx.type = 'application/json';
        ctx.body = typeof hooks.tokenGarbage === 'string' ? hooks.tokenGarbage : '<html>not json{{{\u0000';
        return;
      }
      await next();
      // count successful grants by type (the body is parsed by oidc-provider by now)
      const gt = ctx.oidc?.params?.grant_type;
      if (ctx.status === 200 && gt === 'authorization_code') counters.tokenAuthorizationCode += 1;
      if (ctx.status === 200 && gt === 'refresh_token') counters.tokenRefresh += 1;
      if (gt === 'refresh_token') refreshLog.push({ token: ctx.oidc?.params?.refresh_token, status: ctx.status });
      return;
    }
    await next();
  });

  server.on('request', provider.callback());
  const closeServer = closerFor(server);

  return {
    issuer,
    port: boundPort,
    url: issuer,
    wellKnown: `${issuer}/.well-known/openid-configuration`,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    provider,
    hooks,
    counters,
    refreshLog,
    signingKey: signing,
    otherKey: other,
    mintIdToken,
    mintAccessToken,
    close: closeServer,
  };
}

function parseArgs(argv) {
  const out = { port: 0, redirectUris: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--port') out.port = Number(argv[++i]);
    else if (a === '--redirect-uri') out.redirectUris.push(argv[++i]);
    else if (a === '--host') out.host = argv[++i];
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node idp.js --port P --redirect-uri URI [--redirect-uri URI ...]\n');
      process.exit(0);
    } else {
      process.stderr.write(`idp.js: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    process.stderr.write('idp.js: --port needs a number (0 = any free port)\n');
    process.exit(2);
  }
  if (out.redirectUris.length === 0) {
    process.stderr.write('idp.js: at least one --redirect-uri is required\n');
    process.exit(2);
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  const args = parseArgs(process.argv.slice(2));
  const idp = await startIdp(args);
  process.stdout.write(`issuer ${idp.issuer}\n`);
  const stop = async () => {
    await idp.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
