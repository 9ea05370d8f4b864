// A deliberately small OpenID issuer whose token endpoint returns whatever id_token the test
// asks for: good ones, forged ones, expired ones. Authorization requests are answered at once
// (no login page) with a redirect carrying a code.
//
//   const fake = await startFakeIssuer();
//   fake.setMode({ claims: { aud: 'someone-else' } })   // or alg: 'none', key: 'other', tamper: 'signature', ...
//   fake.wellKnown, fake.issuer, fake.requests (log of every request), await fake.close()
//
// With { multiTenant: true } it also plays Azure AD's multi-tenant authorities: the documents
// under /common/v2.0, /organizations/v2.0 and /consumers/v2.0 name the template issuer
// `${issuer}/{tenantid}/v2.0`, as login.microsoftonline.com's do ("Validate tokens",
// multi-tenant apps); fake.tenantIssuer(tid) is a tenant's issuer, fake.mint(claims) a token
// signed with the published key.
import http from 'node:http';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { generateRsaKey, signJwt, nowSec, pkceChallenge } from './jwt.js';
import { closerFor } from './ports.js';

export const FAKE_CLIENT_ID = 'ezauth-test';
export const FAKE_CLIENT_SECRET = 'ezauth-test-secret';

export async function startFakeIssuer({ port = 0, multiTenant = false } = {}) {
  const good = generateRsaKey('fake-good');
  const other = generateRsaKey('fake-other');
  const server = http.createServer();
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const codes = new Map();
  const requests = [];
  let mode = {};

  function idTokenFor(grant) {
    const now = nowSec();
    const base = {
      iss: issuer,
      aud: FAKE_CLIENT_ID,
      sub: 'fake-user',
      name: 'Fake User',
      email: 'fake-user@example.test',
      iat: now,
      nbf: now,
      exp: now + 3600,
    };
    if (grant.nonce !== undefined) base.nonce = grant.nonce;
    let claims = typeof mode.claims === 'function' ? mode.claims(base, grant) : { ...base, ...(mode.claims || {}) };
    for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
    const alg = mode.alg || 'RS256';
    let key = mode.key === 'other' ? other : good;
    let header = { ...(mode.header || {}) };
    if (mode.key === 'other-same-kid') {
      key = other;
      header.kid = good.kid;
    }
    let secret;
    if (alg === 'HS256') secret = mode.hmacSecret ?? good.publicKey.export({ format: 'pem', type: 'spki' });
    let token = signJwt(claims, { alg, key: alg === 'HS256' ? secret : key, header });
    if (mode.tamper === 'signature') {
      const [h, p, s] = token.split('.');
      const sig = Buffer.from(s, 'base64url');
      sig[sig.length >> 1] ^= 0x01;
      token = `${h}.${p}.${sig.toString('base64url')}`;
    } else if (mode.tamper === 'payload') {
      // re-encode the payload with one claim changed, keeping the original signature
      const [h, , s] = token.split('.');
      const p = Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url');
      token = `${h}.${p}.${s}`;
    }
    return token;
  }

  const template = `${issuer}/{tenantid}/v2.0`;
  const discovery = (path = '/.well-known/openid-configuration') => ({
    issuer: path === '/.well-known/openid-configuration' ? issuer : template,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    userinfo_endpoint: `${issuer}/userinfo`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    claims_supported: ['sub', 'name', 'email', 'iss', 'aud', 'exp', 'iat', 'nonce'],
  });

  function send(res, status, body, headers = {}) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', 'cache-control': 'no-store', ...headers });
    res.end(text);
  }

  server.on('request', async (req, res) => {
    const u = new URL(req.url, issuer);
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString('utf8');
    const entry = { method: req.method, path: u.pathname, query: Object.fromEntries(u.searchParams), headers: req.headers, body };
    requests.push(entry);
    try {
      if (u.pathname === '/.well-known/openid-configuration') return send(res, 200, discovery());
      if (multiTenant && /^\/(common|organizations|consumers)\/v2\.0\/\.well-known\/openid-configuration$/.test(u.pathname)) {
        return send(res, 200, discovery(u.pathname));
      }
      if (u.pathname === '/jwks') {
        const keys = [good.publicJwk];
        if (mode.publishOther) keys.push(other.publicJwk);
        return send(res, 200, { keys });
      }
      if (u.pathname === '/authorize') {
        const q = u.searchParams;
        const redirectUri = q.get('redirect_uri');
        if (!redirectUri) return send(res, 400, 'missing redirect_uri');
        const code = crypto.randomBytes(16).toString('hex');
        codes.set(code, {
          nonce: q.get('nonce') ?? undefined,
          codeChallenge: q.get('code_challenge'),
          codeChallengeMethod: q.get('code_challenge_method'),
          redirectUri,
          clientId: q.get('client_id'),
          scope: q.get('scope'),
        });
        const back = new URL(redirectUri);
        if (mode.authorizeError) {
          back.searchParams.set('error', mode.authorizeError);
        } else {
          back.searchParams.set('code', code);
        }
        if (q.get('state') !== null) back.searchParams.set('state', q.get('state'));
        if (q.get('response_mode') === 'form_post') {
          const inputs = [...back.searchParams].map(([k, v]) => `<input type="hidden" name="${k}" value="${v.replace(/"/g, '&quot;')}">`).join('');
          back.search = '';
          res.writeHead(200, { 'content-type': 'text/html' });
          return res.end(`<html><body><form method="post" action="${back.href}">${inputs}</form></body></html>`);
        }
        res.writeHead(302, { location: back.href });
        return res.end();
      }
      if (u.pathname === '/token' && req.method === 'POST') {
        const form = new URLSearchParams(body);
        let clientId = form.get('client_id');
        let clientSecret = form.get('client_secret');
        const auth = req.headers.authorization;
        if (auth && /^basic /i.test(auth)) {
          const [id, secret] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
          clientId = decodeURIComponent(id);
          clientSecret = decodeURIComponent(secret);
        }
        if (clientId !== FAKE_CLIENT_ID || clientSecret !== FAKE_CLIENT_SECRET) {
          return send(res, 401, { error: 'invalid_client' });
        }
        const grant = codes.get(form.get('code'));
        codes.delete(form.get('code'));
        if (form.get('grant_type') !== 'authorization_code' || !grant) return send(res, 400, { error: 'invalid_grant' });
        if (grant.redirectUri !== form.get('redirect_uri')) return send(res, 400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' });
        if (grant.codeChallenge) {
          const v = form.get('code_verifier') || '';
          if (grant.codeChallengeMethod !== 'S256' || pkceChallenge(v) !== grant.codeChallenge) {
            return send(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
          }
        }
        return send(res, 200, {
          access_token: crypto.randomBytes(24).toString('base64url'),
          token_type: 'Bearer',
          expires_in: 3600,
          id_token: idTokenFor(grant),
          ...(mode.refreshToken ? { refresh_token: crypto.randomBytes(24).toString('base64url') } : {}),
          scope: grant.scope || 'openid',
        });
      }
      if (u.pathname === '/userinfo') return send(res, 200, { sub: 'fake-user', name: 'Fake User', email: 'fake-user@example.test' });
      return send(res, 404, 'not found');
    } catch (e) {
      return send(res, 500, String(e && e.stack));
    }
  });

  const closeServer = closerFor(server);

  return {
    issuer,
    url: issuer,
    wellKnown: `${issuer}/.well-known/openid-configuration`,
    requests,
    goodKey: good,
    otherKey: other,
    setMode(m = {}) {
      mode = m;
    },
    tokenRequests: () => requests.filter((r) => r.path === '/token'),
    template,
    tenantIssuer: (tid) => template.replace('{tenantid}', tid),
    mint: (claims) => signJwt(claims, { key: good }),
    close: closeServer,
  };
}
