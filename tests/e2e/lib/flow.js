// The browser sign-in flow, driven over plain HTTP: host -> IdP (oidc-provider devInteractions
// login form, consent form) -> host callback -> post-login target.
import assert from 'node:assert/strict';
import { parseForms, parseLinks } from './http.js';

export const SESSION_COOKIE = 'AppServiceAuthSession';

/**
 * Run the login flow.
 * opts:
 *   provider      'testidp' (default) or 'aad' — the /.auth/login/{provider} segment
 *   target        post_login_redirect_uri (default '/x'); null to send none
 *   login, password  what to type into the IdP's login form
 *   prompt        e.g. 'consent' (needed for offline_access / a refresh token)
 *   query         extra query parameters for /.auth/login/{provider}
 *   startUrl      start somewhere else (e.g. a protected page that redirects to the IdP)
 *   fromIdp       skip the start: continue a login already started, at this IdP URL
 *   stopAtCallback  return before the callback is delivered to the host
 *   abort         cancel at the IdP's login page (IdP answers error=access_denied)
 *   expectSuccess  (default true) assert 302 to the target + session cookie
 * returns {start, callback: {method, url, form}, response, location, sessionCookies}
 */
export async function signIn(client, hostUrl, opts = {}) {
  const {
    provider = 'testidp',
    target = '/x',
    login = 'alice',
    password = 'secret',
    prompt,
    query = {},
    startUrl,
    stopAtCallback = false,
    abort = false,
    fromIdp,
    expectSuccess = !stopAtCallback && !abort,
  } = opts;
  const origin = new URL(hostUrl).origin;
  let url = startUrl;
  if (!url) {
    const u = new URL(`/.auth/login/${provider}`, hostUrl);
    if (target !== null) u.searchParams.set('post_login_redirect_uri', target);
    if (prompt) u.searchParams.set('prompt', prompt);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    url = u.href;
  }
  let start = null;
  if (!fromIdp) {
    start = await client.get(url);
    assert.equal(start.status, 302, `login start should redirect to the IdP: ${start.describe()}`);
    assert.ok(start.location, 'login start: no Location');
    assert.notEqual(new URL(start.location).origin, origin, `login start should leave for the IdP: ${start.describe()}`);
  }

  let res = await client.get(fromIdp || start.location);
  let callback = null;
  for (let step = 0; step < 30 && !callback; step += 1) {
    if (res.status >= 300 && res.status < 400 && res.location) {
      if (new URL(res.location).origin === origin) {
        callback = { method: 'GET', url: res.location };
        break;
      }
      res = await client.get(res.location);
      continue;
    }
    if (res.status === 200 && /<form/i.test(res.text)) {
      const forms = parseForms(res.text, res.url);
      // form_post response mode: an auto-submitting form that posts to the host's callback
      const toHost = forms.find((f) => new URL(f.action).origin === origin);
      if (toHost) {
        callback = { method: 'POST', url: toHost.action, form: toHost.inputs };
        break;
      }
      const form = forms.find((f) => f.method === 'POST') || forms[0];
      if ('login' in form.inputs) {
        if (abort) {
          const link = parseLinks(res.text, res.url).find((l) => /\/abort$/.test(new URL(l.href).pathname));
          assert.ok(link, `IdP login page has no abort link: ${res.text.slice(0, 500)}`);
          res = await client.get(link.href);
          continue;
        }
        res = await client.post(form.action, { form: { ...form.inputs, login, password } });
      } else {
        res = await client.post(form.action, { form: form.inputs });
      }
      continue;
    }
    throw new Error(`unexpected page in the IdP flow: ${res.describe()}`);
  }
  assert.ok(callback, 'the IdP never redirected back to the host');
  const out = { start, callback };
  if (stopAtCallback) return out;
  const response = await deliverCallback(client, callback);
  out.response = response;
  out.location = response.location;
  out.sessionCookies = response.setCookies.filter((c) => c.name.startsWith(SESSION_COOKIE));
  if (expectSuccess) {
    assert.equal(response.status, 302, `callback should redirect to the post-login target: ${response.describe()}`);
    if (target !== null && !startUrl && !fromIdp) {
      assert.equal(response.location, new URL(target, hostUrl).href, `callback Location: ${response.describe()}`);
    }
    assert.ok(
      response.setCookies.some((c) => c.name === SESSION_COOKIE && c.value),
      `callback should set ${SESSION_COOKIE}; got Set-Cookie: ${response.headers.getSetCookie().join(' | ')}`,
    );
  }
  return out;
}

/** Deliver (or replay) the IdP's redirect back to the host. */
export function deliverCallback(client, callback, opts = {}) {
  if (callback.method === 'POST') return client.post(callback.url, { form: callback.form, ...opts });
  return client.get(callback.url, opts);
}

/** Decode the X-MS-CLIENT-PRINCIPAL header value. */
export function decodePrincipal(b64) {
  return JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
}

/** Mutate a URL's query: set (value string) or delete (value null) parameters. */
export function withQuery(url, changes) {
  const u = new URL(url);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) u.searchParams.delete(k);
    else u.searchParams.set(k, v);
  }
  return u.href;
}
