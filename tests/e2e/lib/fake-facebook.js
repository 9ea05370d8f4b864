// A local Facebook for the end-to-end tests: the endpoints a Facebook Login web app uses, as
// Facebook's public documentation describes them (the login dialog and the Graph API on one
// loopback origin, every path under the Graph API version, e.g. /v19.0):
//   - "Manually Build a Login Flow" (developers.facebook.com/docs/facebook-login/guides/
//     advanced/manual-flow): GET /{version}/dialog/oauth (client_id, redirect_uri, state,
//     response_type, scope, auth_type) redirecting to redirect_uri with code and state, or,
//     when the person cancels, error=access_denied, error_code=200, error_description=
//     Permissions error, error_reason=user_denied; redirect_uri must be one of the app's "Valid
//     OAuth Redirect URIs" (strict mode: exact match). GET /{version}/oauth/access_token
//     (client_id, redirect_uri, client_secret, code) → {access_token, token_type, expires_in};
//     codes are good once, for 10 minutes, with the redirect_uri of their dialog. "Inspecting
//     access tokens": GET /{version}/debug_token?input_token=… with an app access token
//     (`{app-id}|{app-secret}`) → {"data": {app_id, type, application, expires_at, is_valid,
//     scopes, user_id}}; an invalid token is `is_valid: false` with an error.
//   - "Long-Lived Access Tokens" (.../facebook-login/guides/access-tokens/get-long-lived):
//     GET /{version}/oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&
//     fb_exchange_token → a token of about 60 days (expires_in 5183944).
//   - "Securing Graph API Requests" (.../graph-api/securing-requests): with "Require App
//     Secret" on (as here), every call with a user or app token carries appsecret_proof =
//     HMAC-SHA256 of the token keyed with the app secret, hex; otherwise 400 GraphMethodException
//     "Invalid appsecret_proof provided in the API argument".
//   - Graph API reference "User" (.../graph-api/reference/user): GET /{version}/me?fields=…
//     answers the fields asked for (id by default); email only with the email permission.
//     The token as the access_token parameter or in Authorization: Bearer / OAuth.
//   - "Handling Errors" (.../graph-api/guides/error-handling): {"error": {message, type, code,
//     fbtrace_id}}, OAuthException code 190 for an invalid or expired token (status 400).
//
//   const fb = await startFakeFacebook();
//   fb.register(callbackUrl)          // a Valid OAuth Redirect URI
//   fb.appId, fb.appSecret, fb.version, fb.authorizationEndpoint, fb.tokenEndpoint, fb.apiEndpoint
//   fb.user = {...}                   // who signs in
//   fb.setMode({ deny: true }) | {}
//   fb.mintToken({ appId, scopes, expiresIn, userId })  // a token a client obtained itself
//   fb.invalidate(token); fb.calls(method, path); fb.requests; await fb.close()
import http from 'node:http';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { closerFor } from './ports.js';

export const FACEBOOK_APP_ID = '1480262372052417';
export const FACEBOOK_APP_SECRET = '6b1e0f4c2d9a8b7c6d5e4f3a2b1c0d9e';
const VERSION = 'v19.0';
const CODE_LIFETIME_MS = 10 * 60 * 1000;
const SHORT_LIVED_S = 5400;
const LONG_LIVED_S = 5183944;

export async function startFakeFacebook({ port = 0 } = {}) {
  const server = http.createServer();
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${server.address().port}`;
  const base = `${origin}/${VERSION}`;
  const redirects = [];
  const codes = new Map(); // code -> {redirectUri, scopes, issued}
  const tokens = new Map(); // token -> {appId, userId, scopes, expiresAt, valid}
  const requests = [];
  let mode = {};

  const fb = {
    appId: FACEBOOK_APP_ID,
    appSecret: FACEBOOK_APP_SECRET,
    version: VERSION,
    origin,
    authorizationEndpoint: `${base}/dialog/oauth`,
    tokenEndpoint: `${base}/oauth/access_token`,
    apiEndpoint: base,
    requests,
    user: { id: '10158291520000001', name: 'Zoe Doe', first_name: 'Zoë', last_name: 'Doe', email: 'zoe@example.org' },
    register(uri) {
      redirects.push(uri);
    },
    setMode(m) {
      mode = m || {};
    },
    mintToken({ appId = FACEBOOK_APP_ID, scopes = ['public_profile', 'email'], expiresIn = SHORT_LIVED_S, userId } = {}) {
      return issue({ appId, scopes, expiresIn, userId: userId || fb.user.id });
    },
    invalidate(token) {
      const t = tokens.get(token);
      if (t) t.valid = false;
    },
    calls(method, path) {
      return requests.filter((r) => r.method === method && r.path === `/${VERSION}${path}`);
    },
    proof(token) {
      return crypto.createHmac('sha256', FACEBOOK_APP_SECRET).update(token).digest('hex');
    },
    close: closerFor(server),
  };

  function issue({ appId, scopes, expiresIn, userId }) {
    const token = `EAA${crypto.randomBytes(24).toString('base64url').replace(/[-_]/g, 'Z')}`;
    tokens.set(token, { appId, userId, scopes, expiresAt: Math.floor(Date.now() / 1000) + expiresIn, valid: true });
    return token;
  }

  const now = () => Math.floor(Date.now() / 1000);
  const fbtrace = () => crypto.randomBytes(8).toString('base64url');

  function send(res, status, body) {
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(body));
  }

  function error(res, status, message, type = 'OAuthException', code = 100) {
    send(res, status, { error: { message, type, code, fbtrace_id: fbtrace() } });
  }

  function redirect(res, to) {
    res.writeHead(302, { location: to });
    res.end();
  }

  function dialog(q, res) {
    if (q.get('client_id') !== FACEBOOK_APP_ID) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<h1>Invalid App ID</h1>');
      return;
    }
    const redirectUri = q.get('redirect_uri');
    if (!redirects.includes(redirectUri)) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end("<h1>URL blocked</h1><p>This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings.</p>");
      return;
    }
    const back = new URL(redirectUri);
    const state = q.get('state');
    // The person is signed in at Facebook already and answers the permissions dialog at once.
    if (mode.deny) {
      for (const [k, v] of Object.entries({ error: 'access_denied', error_code: '200', error_description: 'Permissions error', error_reason: 'user_denied' })) {
        back.searchParams.set(k, v);
      }
    } else {
      const code = crypto.randomBytes(24).toString('base64url');
      const scopes = ['public_profile', ...(q.get('scope') || '').split(/[ ,]+/).filter(Boolean)];
      codes.set(code, { redirectUri, scopes: [...new Set(scopes)], issued: Date.now() });
      back.searchParams.set('code', code);
    }
    if (state !== null) back.searchParams.set('state', state);
    redirect(res, back.href);
  }

  function accessToken(q, res) {
    if (q.get('client_id') !== FACEBOOK_APP_ID || q.get('client_secret') !== FACEBOOK_APP_SECRET) {
      return error(res, 400, 'Error validating client secret.', 'OAuthException', 1);
    }
    if (q.get('grant_type') === 'fb_exchange_token') {
      const t = tokens.get(q.get('fb_exchange_token'));
      if (!t || !t.valid || t.expiresAt <= now() || t.appId !== FACEBOOK_APP_ID) {
        return error(res, 400, 'Error validating access token: Session has expired or is invalid.', 'OAuthException', 190);
      }
      const token = issue({ appId: t.appId, userId: t.userId, scopes: t.scopes, expiresIn: LONG_LIVED_S });
      return send(res, 200, { access_token: token, token_type: 'bearer', expires_in: LONG_LIVED_S });
    }
    const code = q.get('code');
    const grant = codes.get(code);
    codes.delete(code);
    if (!grant || Date.now() - grant.issued > CODE_LIFETIME_MS) {
      return error(res, 400, 'This authorization code has been used.', 'OAuthException', 100);
    }
    if (q.get('redirect_uri') !== grant.redirectUri) {
      return error(res, 400, 'Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request', 'OAuthException', 100);
    }
    const token = issue({ appId: FACEBOOK_APP_ID, userId: fb.user.id, scopes: grant.scopes, expiresIn: SHORT_LIVED_S });
    return send(res, 200, { access_token: token, token_type: 'bearer', expires_in: SHORT_LIVED_S });
  }

  /** The call's access token: the parameter, or Authorization: Bearer / OAuth. */
  function callerToken(req, q) {
    const m = /^(?:bearer|oauth) (\S+)$/i.exec(req.headers.authorization || '');
    return q.get('access_token') || (m ? m[1] : null);
  }

  function proven(q, token) {
    const proof = q.get('appsecret_proof') || '';
    const expected = fb.proof(token);
    return proof.length === expected.length && crypto.timingSafeEqual(Buffer.from(proof), Buffer.from(expected));
  }

  function graph(req, path, q, res) {
    const token = callerToken(req, q);
    if (!token) return error(res, 400, 'An active access token must be used to query information about the current user.', 'OAuthException', 2500);
    if (!proven(q, token)) return error(res, 400, 'Invalid appsecret_proof provided in the API argument', 'GraphMethodException', 100);
    if (path === '/debug_token') {
      if (token !== `${FACEBOOK_APP_ID}|${FACEBOOK_APP_SECRET}`) {
        return error(res, 400, 'Invalid OAuth access token signature.', 'OAuthException', 190);
      }
      const t = tokens.get(q.get('input_token'));
      if (!t) {
        return send(res, 200, { data: { error: { code: 190, message: 'Invalid OAuth access token - Cannot parse access token' }, is_valid: false, scopes: [] } });
      }
      const live = t.valid && t.expiresAt > now();
      return send(res, 200, {
        data: {
          app_id: t.appId,
          type: 'USER',
          application: 'ezauth test app',
          data_access_expires_at: now() + 90 * 24 * 3600,
          expires_at: t.expiresAt,
          is_valid: live,
          scopes: t.scopes,
          user_id: t.userId,
          ...(live ? {} : { error: { code: 190, message: 'Error validating access token: Session has expired or is invalid.', subcode: 463 } }),
        },
      });
    }
    if (path === '/me') {
      const t = tokens.get(token);
      if (!t || !t.valid || t.expiresAt <= now()) {
        return error(res, 400, 'Error validating access token: Session has expired or is invalid.', 'OAuthException', 190);
      }
      const fields = (q.get('fields') || 'id').split(',');
      const out = {};
      for (const f of fields) {
        if (f === 'email' && !t.scopes.includes('email')) continue;
        if (f in fb.user && fb.user[f] !== undefined) out[f] = fb.user[f];
      }
      out.id = t.userId;
      return send(res, 200, out);
    }
    return error(res, 400, `Unknown path components: ${path}`, 'OAuthException', 2500);
  }

  server.on('request', async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, origin);
    requests.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body });
    try {
      const prefix = `/${VERSION}`;
      if (req.method !== 'GET' || !url.pathname.startsWith(`${prefix}/`)) {
        return error(res, 400, 'Unsupported request', 'GraphMethodException', 100);
      }
      const path = url.pathname.slice(prefix.length);
      if (path === '/dialog/oauth') return dialog(url.searchParams, res);
      if (path === '/oauth/access_token') return accessToken(url.searchParams, res);
      return graph(req, path, url.searchParams, res);
    } catch (e) {
      res.writeHead(500);
      res.end(String(e));
    }
  });

  return fb;
}
