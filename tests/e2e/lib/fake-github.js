// A local GitHub for the end-to-end tests: the endpoints an OAuth app uses, as GitHub's public
// documentation describes them (on loopback, GitHub Enterprise Server's layout: the REST API
// under /api/v3):
//   - "Authorizing OAuth apps" (docs.github.com/en/apps/oauth-apps/building-oauth-apps/
//     authorizing-oauth-apps): GET /login/oauth/authorize (client_id, redirect_uri, scope,
//     state, login, allow_signup, prompt) redirecting back with code and state, or with
//     error=access_denied; POST /login/oauth/access_token (client_id, client_secret, code,
//     redirect_uri) answering JSON with Accept: application/json and form encoding otherwise,
//     errors with status 200 (bad_verification_code, incorrect_client_credentials,
//     redirect_uri_mismatch); codes good once, for 10 minutes; redirect_uri must be the
//     registered callback URL or under it.
//   - "Troubleshooting authorization request errors" and "Troubleshooting OAuth app access
//     token request errors" for the error names and their descriptions.
//   - REST API "Users" (docs.github.com/en/rest/users/users#get-the-authenticated-user):
//     GET /user with Authorization: Bearer (or token) <token>; 401 {"message": "Bad
//     credentials"}; the token's scopes in X-OAuth-Scopes.
//   - REST API "Emails" (docs.github.com/en/rest/users/emails): GET /user/emails, which needs
//     the user:email (or user) scope (404 without it).
//   - REST API "OAuth authorizations" (docs.github.com/en/rest/apps/oauth-applications#
//     check-a-token): POST /applications/{client_id}/token with Basic client_id:client_secret
//     and {"access_token"}: 200 with the token's app and user, 404 for a token that is not
//     this app's, 422 without one.
//   - "Getting started with the REST API": a request without User-Agent is refused (403).
//
//   const gh = await startFakeGitHub();
//   gh.register(callbackUrl)          // the OAuth app's authorization callback URL
//   gh.clientId, gh.clientSecret, gh.authorizationEndpoint, gh.tokenEndpoint, gh.apiEndpoint
//   gh.user = {...}; gh.emails = [...]  // who signs in
//   gh.setMode({ deny: true }) | { tokenError: 'bad_verification_code' } | {}
//   gh.mintToken({ scopes, clientId })  // a token as if a client had signed in itself
//   gh.requests (every request: {method, path, headers, body}), await gh.close()
import http from 'node:http';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { closerFor } from './ports.js';

export const GITHUB_CLIENT_ID = 'Iv1.8a61f9b3a7aba766';
export const GITHUB_CLIENT_SECRET = '1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c';
const CODE_LIFETIME_MS = 10 * 60 * 1000;
const DOCS = 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors';

export async function startFakeGitHub({ port = 0 } = {}) {
  const server = http.createServer();
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${server.address().port}`;
  const callbacks = [];
  const codes = new Map(); // code -> {clientId, redirectUri, scopes, issued}
  const tokens = new Map(); // token -> {clientId, scopes, userId}
  const requests = [];
  let mode = {};

  const gh = {
    clientId: GITHUB_CLIENT_ID,
    clientSecret: GITHUB_CLIENT_SECRET,
    origin,
    authorizationEndpoint: `${origin}/login/oauth/authorize`,
    tokenEndpoint: `${origin}/login/oauth/access_token`,
    apiEndpoint: `${origin}/api/v3`,
    requests,
    user: {
      login: 'octocat',
      id: 583231,
      node_id: 'MDQ6VXNlcjU4MzIzMQ==',
      type: 'User',
      site_admin: false,
      name: 'The Octocat',
      email: null,
      html_url: 'https://github.com/octocat',
    },
    emails: [
      { email: 'octocat@github.com', primary: true, verified: true, visibility: 'private' },
      { email: 'octo-old@example.org', primary: false, verified: true, visibility: null },
    ],
    register(callbackUrl) {
      callbacks.push(callbackUrl);
    },
    setMode(m) {
      mode = m || {};
    },
    mintToken({ scopes = [], clientId = GITHUB_CLIENT_ID } = {}) {
      return issueToken(clientId, scopes);
    },
    revoke(token) {
      tokens.delete(token);
    },
    calls(method, path) {
      return requests.filter((r) => r.method === method && r.path === path);
    },
    close: closerFor(server),
  };

  function issueToken(clientId, scopes) {
    const token = `gho_${crypto.randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`;
    tokens.set(token, { clientId, scopes, userId: gh.user.id });
    return token;
  }

  // A redirect_uri GitHub accepts: the callback URL, or a path under it on the same host and port.
  function redirectAllowed(uri) {
    let u;
    try {
      u = new URL(uri);
    } catch {
      return false;
    }
    return callbacks.some((c) => {
      const r = new URL(c);
      return u.origin === r.origin && (u.pathname === r.pathname || u.pathname.startsWith(`${r.pathname.replace(/\/$/, '')}/`));
    });
  }

  function send(res, status, body, headers = {}) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': typeof body === 'string' ? 'application/x-www-form-urlencoded; charset=utf-8' : 'application/json; charset=utf-8',
      ...headers,
    });
    res.end(text);
  }

  function redirect(res, to) {
    res.writeHead(302, { location: to });
    res.end();
  }

  function authorize(url, res) {
    const q = url.searchParams;
    if (q.get('client_id') !== GITHUB_CLIENT_ID) {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>404</h1>');
      return;
    }
    const redirectUri = q.get('redirect_uri') || callbacks[0];
    const state = q.get('state');
    const back = (params) => {
      const u = new URL(redirectUri);
      for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
      if (state !== null) u.searchParams.set('state', state);
      return u.href;
    };
    if (!redirectAllowed(redirectUri)) {
      // GitHub sends the user to the registered callback with the error.
      const u = new URL(callbacks[0]);
      u.searchParams.set('error', 'redirect_uri_mismatch');
      u.searchParams.set('error_description', 'The redirect_uri MUST match the registered callback URL for this application.');
      u.searchParams.set('error_uri', DOCS);
      if (state !== null) u.searchParams.set('state', state);
      redirect(res, u.href);
      return;
    }
    // The user is signed in at GitHub already and answers the consent screen at once.
    if (mode.deny) {
      redirect(res, back({ error: 'access_denied', error_description: 'The user has denied your application access.', error_uri: DOCS }));
      return;
    }
    const scopes = (q.get('scope') || '').split(/[ ,]+/).filter(Boolean);
    const code = crypto.randomBytes(10).toString('hex');
    codes.set(code, { clientId: GITHUB_CLIENT_ID, redirectUri: q.get('redirect_uri'), scopes, issued: Date.now() });
    redirect(res, back({ code }));
  }

  function accessToken(req, body, res) {
    const wantsJson = (req.headers.accept || '').includes('application/json');
    const answer = (obj) => send(res, 200, wantsJson ? obj : new URLSearchParams(obj).toString());
    const type = req.headers['content-type'] || '';
    const form = type.includes('application/json') ? JSON.parse(body || '{}') : Object.fromEntries(new URLSearchParams(body));
    const error = (name, description) => answer({ error: name, error_description: description, error_uri: DOCS });
    if (form.client_id !== GITHUB_CLIENT_ID || form.client_secret !== GITHUB_CLIENT_SECRET) {
      return error('incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.');
    }
    if (mode.tokenError) return error(mode.tokenError, 'As the test asked.');
    const grant = codes.get(form.code);
    codes.delete(form.code);
    if (!grant || Date.now() - grant.issued > CODE_LIFETIME_MS) {
      return error('bad_verification_code', 'The code passed is incorrect or expired.');
    }
    if (grant.redirectUri && form.redirect_uri !== grant.redirectUri) {
      return error('redirect_uri_mismatch', 'The redirect_uri MUST match the registered callback URL for this application.');
    }
    const token = issueToken(grant.clientId, grant.scopes);
    return answer({ access_token: token, scope: grant.scopes.join(','), token_type: 'bearer' });
  }

  function bearer(req) {
    const m = /^(?:bearer|token) (\S+)$/i.exec(req.headers.authorization || '');
    return m ? tokens.get(m[1]) : undefined;
  }

  function api(req, path, body, res) {
    if (!req.headers['user-agent']) {
      return send(res, 403, 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header.');
    }
    const badCredentials = () => send(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    const notFound = () => send(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    const check = /^\/applications\/([^/]+)\/token$/.exec(path);
    if (req.method === 'POST' && check) {
      const basic = /^basic (\S+)$/i.exec(req.headers.authorization || '');
      const pair = basic ? Buffer.from(basic[1], 'base64').toString('utf8') : '';
      const colon = pair.indexOf(':');
      const [id, secret] = colon < 0 ? [pair, ''] : [pair.slice(0, colon), pair.slice(colon + 1)];
      if (id !== GITHUB_CLIENT_ID || secret !== GITHUB_CLIENT_SECRET || decodeURIComponent(check[1]) !== id) {
        return notFound();
      }
      let posted;
      try {
        posted = JSON.parse(body);
      } catch {
        posted = {};
      }
      if (typeof posted.access_token !== 'string') {
        return send(res, 422, { message: 'Validation Failed', documentation_url: 'https://docs.github.com/rest' });
      }
      const t = tokens.get(posted.access_token);
      if (!t || t.clientId !== id) return notFound();
      return send(res, 200, {
        id: 1,
        token: posted.access_token,
        scopes: t.scopes,
        app: { client_id: t.clientId, name: 'ezauth test app', url: 'http://127.0.0.1' },
        user: { login: gh.user.login, id: gh.user.id, type: gh.user.type },
      });
    }
    const t = bearer(req);
    if (req.method === 'GET' && (path === '/user' || path === '/user/emails')) {
      if (!t) return badCredentials();
      const headers = { 'x-oauth-scopes': t.scopes.join(', '), 'x-accepted-oauth-scopes': path === '/user' ? '' : 'user, user:email' };
      if (path === '/user') return send(res, 200, gh.user, headers);
      if (!t.scopes.some((s) => s === 'user' || s === 'user:email')) return notFound();
      return send(res, 200, gh.emails, headers);
    }
    return notFound();
  }

  server.on('request', async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, origin);
    requests.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body });
    try {
      if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') return authorize(url, res);
      if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') return accessToken(req, body, res);
      if (url.pathname.startsWith('/api/v3/')) return api(req, url.pathname.slice('/api/v3'.length), body, res);
      res.writeHead(404);
      res.end();
    } catch (e) {
      res.writeHead(500);
      res.end(String(e));
    }
  });

  return gh;
}
