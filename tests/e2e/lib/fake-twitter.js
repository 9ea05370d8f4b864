// A local Twitter (X) for the end-to-end tests: the OAuth 1.0a endpoints of "Log in with
// Twitter" and the one v1.1 call that says who signed in, as Twitter's public documentation
// describes them (developer.twitter.com/en/docs/authentication):
//   - "Authorizing a request" and "Creating a signature" (oauth-1-0a/authorizing-a-request,
//     oauth-1-0a/creating-a-signature): every request carries Authorization: OAuth with
//     oauth_consumer_key, oauth_nonce, oauth_signature_method=HMAC-SHA1, oauth_timestamp,
//     oauth_version=1.0, oauth_token once there is one, and oauth_signature over RFC 5849's
//     base string keyed by the consumer secret and the token secret. Each signature is
//     VERIFIED here with an independent implementation, the npm package `oauth-1.0a`; a bad
//     one, an unknown consumer, a stale timestamp or a reused nonce gets 401 {"errors":
//     [{"code": 32, "message": "Could not authenticate you."}]} (code 135 for the timestamp).
//   - POST oauth/request_token (api-reference/request_token): oauth_callback required and
//     approved (the app's registered callback URLs; code 415 otherwise); answers
//     oauth_token, oauth_token_secret, oauth_callback_confirmed=true, form-encoded.
//   - GET oauth/authenticate (api-reference/authenticate): the user (signed in at Twitter
//     already) approves and is sent to the callback with oauth_token and oauth_verifier; a
//     user who cancels comes back with denied=<request token> (what Twitter sends).
//   - POST oauth/access_token (api-reference/access_token): the request token and
//     oauth_verifier, each good once; answers oauth_token, oauth_token_secret, user_id,
//     screen_name; 401 for a bad verifier or request token.
//   - GET 1.1/account/verify_credentials.json (v1 accounts-and-users, get-account-
//     verify_credentials): include_email, skip_status; the user object (id, id_str, name,
//     screen_name, email when asked); 401 code 89 "Invalid or expired token." for a token
//     Twitter did not issue to this app.
//
//   const tw = await startFakeTwitter();
//   tw.register(callbackUrl)                     // the app's approved callback URL
//   tw.consumerKey, tw.consumerSecret, tw.requestTokenEndpoint, tw.authenticateEndpoint,
//   tw.accessTokenEndpoint, tw.apiEndpoint
//   tw.user = {...}                              // who signs in
//   tw.setMode({ deny: true }) | { believedSecret: 'x' } | {}   // cancel; a consumer secret
//                                                // other than the app's: every signature fails
//   tw.mintToken({ consumerKey })                // {token, secret} as if a client signed in
//   tw.sign({method, url, token, secret, tamper}) // an Authorization header, by oauth-1.0a
//   tw.requests ({method, path, query, headers, body, verified}), await tw.close()
import http from 'node:http';
import crypto from 'node:crypto';
import { once } from 'node:events';
import OAuth from 'oauth-1.0a';
import { closerFor } from './ports.js';

export const TWITTER_CONSUMER_KEY = 'xvz1evFS4wEEPTGEFPHBog';
export const TWITTER_CONSUMER_SECRET = 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw';
/** Twitter refuses timestamps this far from its clock. */
const TIMESTAMP_WINDOW_S = 5 * 60;
const REQUEST_TOKEN_LIFETIME_MS = 10 * 60 * 1000;

function oauthFor(secret) {
  return new OAuth({
    consumer: { key: TWITTER_CONSUMER_KEY, secret },
    signature_method: 'HMAC-SHA1',
    hash_function: (base, key) => crypto.createHmac('sha1', key).update(base).digest('base64'),
  });
}

/** The parameters of an `Authorization: OAuth ...` header, decoded (RFC 5849 §3.5.1). */
function parseAuthorization(value) {
  const m = /^OAuth\s+(.*)$/i.exec(value || '');
  if (!m) return null;
  const params = {};
  for (const part of m[1].split(/\s*,\s*/)) {
    const kv = /^([^=]+)="([^"]*)"$/.exec(part);
    if (!kv) return null;
    params[decodeURIComponent(kv[1])] = decodeURIComponent(kv[2]);
  }
  return params;
}

const token = (bytes) => crypto.randomBytes(bytes).toString('base64url').replace(/[-_]/g, 'x');

export async function startFakeTwitter({ port = 0 } = {}) {
  const server = http.createServer();
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${server.address().port}`;
  const callbacks = [];
  const requestTokens = new Map(); // token -> {secret, callback, issued, verifier, approved}
  const accessTokens = new Map(); // token -> {secret, consumerKey, userId}
  const nonces = new Set();
  const requests = [];
  let mode = {};

  const tw = {
    consumerKey: TWITTER_CONSUMER_KEY,
    consumerSecret: TWITTER_CONSUMER_SECRET,
    origin,
    requestTokenEndpoint: `${origin}/oauth/request_token`,
    authenticateEndpoint: `${origin}/oauth/authenticate`,
    accessTokenEndpoint: `${origin}/oauth/access_token`,
    apiEndpoint: `${origin}/1.1`,
    requests,
    user: {
      id: 6253282,
      id_str: '6253282',
      name: 'Twitter API',
      screen_name: 'TwitterAPI',
      location: 'San Francisco, CA',
      verified: true,
      email: 'api@twitter.example',
    },
    register(callbackUrl) {
      callbacks.push(callbackUrl);
    },
    setMode(m) {
      mode = m || {};
    },
    mintToken({ consumerKey = TWITTER_CONSUMER_KEY } = {}) {
      return issueAccessToken(consumerKey);
    },
    /** An Authorization header for a request, signed by oauth-1.0a (optionally tampered). */
    sign({ method, url, token: key, secret, tamper = false }) {
      const data = oauthFor(TWITTER_CONSUMER_SECRET).authorize({ method, url }, key ? { key, secret } : undefined);
      if (tamper) data.oauth_signature = `${data.oauth_signature.slice(0, -2)}x=`;
      return oauthFor(TWITTER_CONSUMER_SECRET).toHeader(data).Authorization;
    },
    calls(method, path) {
      return requests.filter((r) => r.method === method && r.path === path);
    },
    close: closerFor(server),
  };

  function issueAccessToken(consumerKey) {
    const t = `${tw.user.id_str}-${token(30)}`;
    const secret = token(33);
    accessTokens.set(t, { secret, consumerKey, userId: tw.user.id_str });
    return { token: t, secret };
  }

  function send(res, status, body, type = 'application/json; charset=utf-8') {
    res.writeHead(status, { 'content-type': type });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  }
  const form = (res, obj) => send(res, 200, new URLSearchParams(obj).toString(), 'text/html; charset=utf-8');
  const errors = (res, status, code, message) => send(res, status, { errors: [{ code, message }] });
  const couldNotAuthenticate = (res) => errors(res, 401, 32, 'Could not authenticate you.');

  /**
   * Checks a request's OAuth 1.0a authorization with oauth-1.0a: the consumer, the timestamp,
   * the nonce, and the signature keyed by the consumer secret and `tokenSecret(token)`.
   * Answers the refusal itself and returns null, or the protocol parameters.
   */
  function authenticate(req, url, body, res, tokenSecret) {
    const p = parseAuthorization(req.headers.authorization);
    if (!p || p.oauth_consumer_key !== TWITTER_CONSUMER_KEY || p.oauth_signature_method !== 'HMAC-SHA1'
      || (p.oauth_version !== undefined && p.oauth_version !== '1.0') || !p.oauth_signature || !p.oauth_nonce) {
      couldNotAuthenticate(res);
      return null;
    }
    if (Math.abs(Date.now() / 1000 - Number(p.oauth_timestamp)) > TIMESTAMP_WINDOW_S) {
      errors(res, 401, 135, 'Timestamp out of bounds.');
      return null;
    }
    const secret = p.oauth_token === undefined ? '' : tokenSecret(p.oauth_token);
    if (secret === undefined) {
      errors(res, 401, 89, 'Invalid or expired token.');
      return null;
    }
    const { oauth_signature: signature, realm, ...signed } = p;
    const formData = /application\/x-www-form-urlencoded/.test(req.headers['content-type'] || '')
      ? Object.fromEntries(new URLSearchParams(body)) : {};
    const expected = oauthFor(mode.believedSecret ?? TWITTER_CONSUMER_SECRET)
      .getSignature({ method: req.method, url: `${origin}${url.pathname}${url.search}`, data: formData }, secret, signed);
    const a = Buffer.from(expected);
    const b = Buffer.from(signature);
    if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) {
      couldNotAuthenticate(res);
      return null;
    }
    const nonce = `${p.oauth_timestamp}:${p.oauth_nonce}`;
    if (nonces.has(nonce)) {
      couldNotAuthenticate(res);
      return null;
    }
    nonces.add(nonce);
    return p;
  }

  function requestToken(req, url, body, res, record) {
    const p = authenticate(req, url, body, res, () => undefined);
    if (!p) return;
    record.verified = true;
    if (!p.oauth_callback) return couldNotAuthenticate(res);
    if (p.oauth_callback !== 'oob' && !callbacks.includes(p.oauth_callback)) {
      return send(res, 403, '<?xml version="1.0" encoding="UTF-8"?><errors><error code="415">Callback URL not approved for this client application. Approved callback URLs can be adjusted in your application settings</error></errors>', 'application/xml');
    }
    const t = token(32);
    const secret = token(32);
    requestTokens.set(t, { secret, callback: p.oauth_callback, issued: Date.now() });
    form(res, { oauth_token: t, oauth_token_secret: secret, oauth_callback_confirmed: 'true' });
  }

  function authenticatePage(url, res) {
    const t = url.searchParams.get('oauth_token');
    const grant = requestTokens.get(t);
    if (!grant || Date.now() - grant.issued > REQUEST_TOKEN_LIFETIME_MS) {
      return send(res, 401, '<html><body>This page is no longer valid. It looks like someone already used the token information you provided.</body></html>', 'text/html');
    }
    // The user is signed in at Twitter already and answers at once.
    const back = new URL(grant.callback);
    if (mode.deny) {
      requestTokens.delete(t);
      back.searchParams.set('denied', t);
    } else {
      grant.verifier = token(24);
      back.searchParams.set('oauth_token', t);
      back.searchParams.set('oauth_verifier', grant.verifier);
    }
    res.writeHead(302, { location: back.href });
    res.end();
  }

  function accessToken(req, url, body, res, record) {
    const p = authenticate(req, url, body, res, (t) => requestTokens.get(t)?.secret);
    if (!p) return;
    record.verified = true;
    const grant = requestTokens.get(p.oauth_token);
    requestTokens.delete(p.oauth_token);
    const verifier = p.oauth_verifier ?? new URLSearchParams(body).get('oauth_verifier') ?? url.searchParams.get('oauth_verifier');
    if (!grant.verifier || verifier !== grant.verifier) {
      return send(res, 401, 'Error processing your OAuth request: Invalid oauth_verifier parameter', 'text/plain');
    }
    const issued = issueAccessToken(TWITTER_CONSUMER_KEY);
    form(res, { oauth_token: issued.token, oauth_token_secret: issued.secret, user_id: tw.user.id_str, screen_name: tw.user.screen_name });
  }

  function verifyCredentials(req, url, body, res, record) {
    const p = authenticate(req, url, body, res, (t) => {
      const a = accessTokens.get(t);
      return a && a.consumerKey === TWITTER_CONSUMER_KEY ? a.secret : undefined;
    });
    if (!p) return;
    record.verified = true;
    if (p.oauth_token === undefined) return errors(res, 401, 89, 'Invalid or expired token.');
    const { email, ...user } = tw.user;
    send(res, 200, url.searchParams.get('include_email') === 'true' ? { ...user, email } : user);
  }

  server.on('request', async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, origin);
    const record = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body, verified: false };
    requests.push(record);
    try {
      if (req.method === 'POST' && url.pathname === '/oauth/request_token') return requestToken(req, url, body, res, record);
      if (req.method === 'GET' && url.pathname === '/oauth/authenticate') return authenticatePage(url, res);
      if (req.method === 'POST' && url.pathname === '/oauth/access_token') return accessToken(req, url, body, res, record);
      if (req.method === 'GET' && url.pathname === '/1.1/account/verify_credentials.json') return verifyCredentials(req, url, body, res, record);
      return errors(res, 404, 34, 'Sorry, that page does not exist.');
    } catch (e) {
      res.writeHead(500);
      res.end(String(e));
    }
  });

  return tw;
}
