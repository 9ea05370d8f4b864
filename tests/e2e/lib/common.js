// Assertions shared by the scenarios.
import assert from 'node:assert/strict';
import { SESSION_COOKIE } from './flow.js';

/** Identity header names in an echo: X-MS-CLIENT-PRINCIPAL*, X-MS-TOKEN-* (also spelled with _). */
export function identityHeaderNames(headers) {
  return Object.keys(headers).filter((k) => {
    const n = k.toLowerCase().replace(/_/g, '-');
    return n.startsWith('x-ms-client-principal') || n.startsWith('x-ms-token-');
  });
}

/** Assert the response is the host's echo app and return its JSON {method, path, headers}. */
export function echoOf(res, what = '') {
  assert.equal(res.status, 200, `${what} expected the echo app (200): ${res.describe()}`);
  let j;
  try {
    j = JSON.parse(res.text);
  } catch {
    assert.fail(`${what} expected the echo app's JSON: ${res.describe()}`);
  }
  assert.ok(j && typeof j.headers === 'object' && typeof j.path === 'string', `${what} not an echo: ${res.text.slice(0, 300)}`);
  return j;
}

export function assertNoIdentity(echo, what = '') {
  const found = identityHeaderNames(echo.headers);
  assert.deepEqual(found, [], `${what} identity headers reached the app: ${JSON.stringify(Object.fromEntries(found.map((k) => [k, echo.headers[k]])))}`);
}

/** Assert a redirect to the IdP's authorization endpoint (i.e. "not signed in" under RedirectToLoginPage). */
export function assertRedirectToIdp(res, stack, what = '') {
  assert.equal(res.status, 302, `${what} expected 302 to the IdP: ${res.describe()}`);
  const loc = new URL(res.location, stack.url);
  if (stack.idp?.issuer) {
    assert.equal(loc.origin, new URL(stack.idp.issuer).origin, `${what} expected a redirect to the IdP: ${res.describe()}`);
  } else {
    assert.notEqual(loc.origin, stack.origin, `${what} expected a redirect off-site to the IdP: ${res.describe()}`);
  }
  return loc;
}

export const XHR = { 'x-requested-with': 'XMLHttpRequest' };

export function sessionSetCookies(res) {
  return res.setCookies.filter((c) => c.name === SESSION_COOKIE || /^AppServiceAuthSession\d+$/.test(c.name));
}

/** Poll fn until it returns truthy or the time runs out; returns the last value. */
export async function eventually(fn, { timeoutMs = 3000, intervalMs = 50 } = {}) {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!v && Date.now() < end) {
    await new Promise((r) => setTimeout(r, intervalMs));
    v = await fn();
  }
  return v;
}

/** The part of a log text written after `mark` characters. */
export function logsSince(stack, mark) {
  return stack.logs().slice(mark);
}
