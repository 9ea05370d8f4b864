// A small browser-like HTTP client: one request at a time, redirects not followed, a cookie jar.
// It is built on node:http rather than fetch: Node's fetch forces `Sec-Fetch-Mode: cors` on every
// request, which would make every request look like a script's.
//
// The jar follows RFC 6265 closely enough for these tests: cookies are keyed by name, domain,
// path and whether they are host-only (as browsers key them: a `Domain=` cookie never replaces
// a host-only one), ports are ignored (as browsers do), a `Domain` must domain-match the host
// (never an IP, never a single label such as `com`), path-matched, deleted by Max-Age<=0 or an
// Expires in the past. Secure cookies are neither stored from nor sent to http URLs, as a
// strict browser would (so a module that marks its cookies Secure on plain http breaks the
// flow here, as it would in a browser); `__Secure-` and `__Host-` names follow the browsers'
// rules (`__Host-`: Secure, `Path=/`, no `Domain`). Cookies go out longer paths first, then
// older first, as browsers send them.
import http from 'node:http';
import https from 'node:https';

const isIp = (h) => /^[\d.]+$/.test(h) || h.includes(':') || h.startsWith('[');

function domainMatch(host, domain) {
  return host === domain || (!isIp(host) && host.endsWith(`.${domain}`));
}

export class CookieJar {
  constructor() {
    /** @type {Map<string, {name, value, host, domain, hostOnly, path, expires, secure, httpOnly, sameSite, raw}>} */
    this.cookies = new Map();
    this.rejected = [];
  }

  static key(host, path, name, hostOnly = true) {
    return `${hostOnly ? 'host' : 'domain'}\u0000${host}\u0000${path}\u0000${name}`;
  }

  /** Store one Set-Cookie header value received from `url`. Returns the parsed cookie. */
  setFromHeader(setCookie, url) {
    const u = new URL(url);
    const parsed = parseSetCookie(setCookie);
    if (!parsed) return null;
    const reject = (reason) => {
      this.rejected.push({ reason, header: setCookie, url: String(url) });
      return parsed;
    };
    if (parsed.secure && u.protocol !== 'https:') return reject('secure-on-http');
    let hostOnly = true;
    let domain = u.hostname;
    if (parsed.domain) {
      const d = parsed.domain.replace(/^\./, '').toLowerCase();
      // a Domain the host is not under, an IP's other address, or a single label (`com`)
      if (!domainMatch(u.hostname, d) || (!isIp(d) && !d.includes('.'))) return reject('domain-mismatch');
      if (d !== u.hostname || !isIp(d)) {
        hostOnly = false;
        domain = d;
      }
    }
    const path = parsed.path && parsed.path.startsWith('/') ? parsed.path : defaultPath(u.pathname);
    if (parsed.name.startsWith('__Secure-') && !parsed.secure) return reject('__Secure-without-Secure');
    if (parsed.name.startsWith('__Host-') && (!parsed.secure || !hostOnly || parsed.domain || path !== '/')) {
      return reject('__Host-rules');
    }
    const c = { ...parsed, host: domain, domain, hostOnly, path };
    const k = CookieJar.key(domain, path, c.name, hostOnly);
    const expired = (c.maxAge !== undefined && c.maxAge <= 0) || (c.expires !== undefined && c.expires <= Date.now());
    if (expired) this.cookies.delete(k);
    else if (this.cookies.has(k)) this.cookies.set(k, { ...c, created: this.cookies.get(k).created });
    else this.cookies.set(k, { ...c, created: CookieJar.clock++ });
    return parsed;
  }

  /** Cookies that would be sent to `url`: longer paths first, then older first (as browsers order them). */
  matching(url) {
    const u = new URL(url);
    const now = Date.now();
    const out = [];
    for (const [k, c] of this.cookies) {
      if (c.expires !== undefined && c.expires <= now) {
        this.cookies.delete(k);
        continue;
      }
      if (c.hostOnly === false ? !domainMatch(u.hostname, c.domain) : c.host !== u.hostname) continue;
      if (c.secure && u.protocol !== 'https:') continue;
      if (!pathMatch(u.pathname, c.path)) continue;
      out.push(c);
    }
    out.sort((a, b) => b.path.length - a.path.length || (a.created ?? 0) - (b.created ?? 0));
    return out;
  }

  header(url) {
    return this.matching(url)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  get(name, url) {
    return this.matching(url).find((c) => c.name === name);
  }

  names(url) {
    return this.matching(url).map((c) => c.name);
  }

  delete(name) {
    for (const [k, c] of this.cookies) if (c.name === name) this.cookies.delete(k);
  }

  /** Set a cookie directly (for tampering tests): host-only. */
  put(url, name, value, path = '/') {
    const u = new URL(url);
    this.cookies.set(CookieJar.key(u.hostname, path, name), {
      name, value, host: u.hostname, domain: u.hostname, hostOnly: true, path, created: CookieJar.clock++,
    });
  }

  clone() {
    const j = new CookieJar();
    for (const [k, c] of this.cookies) j.cookies.set(k, { ...c });
    return j;
  }
}

/** Creation order of cookies across jars (browsers send older cookies first). */
CookieJar.clock = 0;

function defaultPath(pathname) {
  if (!pathname.startsWith('/')) return '/';
  const i = pathname.lastIndexOf('/');
  return i <= 0 ? '/' : pathname.slice(0, i);
}

function pathMatch(reqPath, cookiePath) {
  if (reqPath === cookiePath) return true;
  if (reqPath.startsWith(cookiePath)) {
    return cookiePath.endsWith('/') || reqPath[cookiePath.length] === '/';
  }
  return false;
}

/** Parse a Set-Cookie header value into {name, value, path, domain, maxAge, expires, secure, httpOnly, sameSite}. */
export function parseSetCookie(header) {
  const parts = String(header).split(';');
  const first = parts.shift();
  const eq = first.indexOf('=');
  if (eq <= 0) return null;
  const c = {
    name: first.slice(0, eq).trim(),
    value: first.slice(eq + 1).trim(),
    secure: false,
    httpOnly: false,
    raw: String(header),
  };
  for (const p of parts) {
    const i = p.indexOf('=');
    const k = (i < 0 ? p : p.slice(0, i)).trim().toLowerCase();
    const v = i < 0 ? '' : p.slice(i + 1).trim();
    if (k === 'path') c.path = v;
    else if (k === 'domain') c.domain = v;
    else if (k === 'max-age') c.maxAge = Number(v);
    else if (k === 'expires') {
      const t = Date.parse(v);
      if (!Number.isNaN(t)) c.expires = t;
    } else if (k === 'secure') c.secure = true;
    else if (k === 'httponly') c.httpOnly = true;
    else if (k === 'samesite') c.sameSite = v;
  }
  if (c.maxAge !== undefined && c.maxAge > 0) c.expires = Date.now() + c.maxAge * 1000;
  return c;
}

/** Is this Set-Cookie a deletion (Max-Age<=0 or Expires in the past)? */
export function isCookieDeletion(c) {
  return (c.maxAge !== undefined && c.maxAge <= 0) || (c.expires !== undefined && c.expires <= Date.now());
}

/**
 * What a browser sends on a top-level navigation (tests that want XHR/fetch behavior add or
 * override headers per request).
 */
export const NAVIGATION_HEADERS = Object.freeze({
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'user-agent': 'ezauth-e2e (like Mozilla/5.0)',
});

export class Client {
  /**
   * resolve        {hostname: '127.0.0.1'}: connect there for URLs of that name (the Host header
   *                stays the URL's), like Chromium's --host-resolver-rules
   * tlsTerminated  https URLs go out as plain http to the same address with
   *                `X-Forwarded-Proto: https`, as through a TLS-terminating proxy in front of
   *                the host; cookies are judged for the https URL
   */
  constructor({ jar = new CookieJar(), headers = NAVIGATION_HEADERS, timeoutMs = 20000, resolve = {}, tlsTerminated = false } = {}) {
    this.jar = jar;
    this.headers = headers;
    this.timeoutMs = timeoutMs;
    this.resolve = resolve;
    this.tlsTerminated = tlsTerminated;
    this.history = [];
  }

  /**
   * One request, no redirect following. Returns a plain response object:
   * {status, headers (Headers), setCookies [parsed], location (absolute or null), text, json(), url, ms}
   * opts: {method, headers, body, form (object -> urlencoded), cookies: false to send none,
   *        timeoutMs}
   */
  async request(url, opts = {}) {
    const method = opts.method || (opts.form || opts.body ? 'POST' : 'GET');
    const headers = { ...this.headers, ...(opts.headers || {}) };
    let body = opts.body;
    if (opts.form) {
      body = new URLSearchParams(opts.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    if (opts.cookies !== false && !hasHeader(headers, 'cookie')) {
      const ch = this.jar.header(url);
      if (ch) headers.cookie = ch;
    }
    for (const k of Object.keys(headers)) if (headers[k] === undefined || headers[k] === null) delete headers[k];
    const t0 = Date.now();
    let res;
    try {
      let wire = new URL(url);
      if (this.tlsTerminated && wire.protocol === 'https:') {
        wire = new URL(String(url).replace(/^https:/, 'http:'));
        if (!wire.port) wire.port = '443';
        if (!hasHeader(headers, 'x-forwarded-proto')) headers['x-forwarded-proto'] = 'https';
      }
      const address = this.resolve[wire.hostname];
      if (address) {
        if (!hasHeader(headers, 'host')) headers.host = new URL(url).host;
        wire.hostname = address;
      }
      res = await httpExchange(wire, { method, headers, body, timeoutMs: opts.timeoutMs || this.timeoutMs });
    } catch (e) {
      const err = new Error(`${method} ${url}: ${e.code || e.name}: ${e.message}`);
      err.cause = e;
      err.ms = Date.now() - t0;
      throw err;
    }
    const text = res.text;
    const setCookieHeaders = res.headers.getSetCookie();
    const setCookies = [];
    for (const sc of setCookieHeaders) {
      const p = this.jar.setFromHeader(sc, url);
      if (p) setCookies.push(p);
    }
    const loc = res.headers.get('location');
    const out = {
      url: String(url),
      method,
      status: res.status,
      headers: res.headers,
      setCookies,
      location: loc === null ? null : safeResolve(loc, url),
      rawLocation: loc,
      text,
      ms: Date.now() - t0,
      json() {
        try {
          return JSON.parse(text);
        } catch (e) {
          throw new Error(`${method} ${url} -> ${res.status}: body is not JSON: ${text.slice(0, 300)}`);
        }
      },
      describe() {
        return `${method} ${url} -> ${res.status}${loc ? ` Location: ${loc}` : ''} body: ${text.slice(0, 300)}`;
      },
    };
    this.history.push({ method, url: String(url), status: res.status, location: loc });
    return out;
  }

  get(url, opts = {}) {
    return this.request(url, { ...opts, method: 'GET' });
  }

  post(url, opts = {}) {
    return this.request(url, { ...opts, method: 'POST' });
  }

  /** Follow redirects (GET) until a non-3xx response, or until `stop(url)` says to stop. */
  async follow(url, { max = 20, stop, ...opts } = {}) {
    let res = await this.request(url, opts);
    for (let i = 0; i < max && res.status >= 300 && res.status < 400 && res.location; i += 1) {
      if (stop && stop(res.location, res)) return res;
      res = await this.get(res.location);
    }
    return res;
  }
}

/** One HTTP/1.1 exchange with node:http. Resolves {status, headers: Headers, text}. */
function httpExchange(url, { method, headers, body, timeoutMs }) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      {
        host: u.hostname,
        port: u.port || (u.protocol === 'https:' ? 443 : 80),
        method,
        path: `${u.pathname}${u.search}`,
        headers,
        agent: false,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
            try {
              h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
            } catch {
              /* a header value Headers refuses: skip it */
            }
          }
          resolve({ status: res.statusCode, headers: h, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => {
      const e = new Error(`no answer within ${timeoutMs} ms`);
      e.code = 'TIMEOUT';
      req.destroy(e);
    });
    req.on('error', reject);
    if (body !== undefined && body !== null) req.write(body);
    req.end();
  });
}

function hasHeader(h, name) {
  return Object.keys(h).some((k) => k.toLowerCase() === name);
}

function safeResolve(loc, base) {
  try {
    return new URL(loc, base).href;
  } catch {
    return loc;
  }
}

/** Parse the HTML forms of a page: [{action, method, inputs: {name: value}}] (enough for oidc-provider's pages). */
export function parseForms(html, baseUrl) {
  const forms = [];
  const formRe = /<form\b([^>]*)>([\s\S]*?)<\/form>/gi;
  let m;
  while ((m = formRe.exec(html))) {
    const attrs = parseAttrs(m[1]);
    const inputs = {};
    const inputRe = /<input\b([^>]*)>/gi;
    let im;
    while ((im = inputRe.exec(m[2]))) {
      const a = parseAttrs(im[1]);
      if (a.name !== undefined) inputs[a.name] = a.value ?? '';
    }
    forms.push({
      action: attrs.action ? new URL(decodeEntities(attrs.action), baseUrl).href : baseUrl,
      method: (attrs.method || 'get').toUpperCase(),
      inputs,
    });
  }
  return forms;
}

function parseAttrs(s) {
  const out = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  let m;
  while ((m = re.exec(s))) {
    const v = m[2] ?? m[3] ?? m[4];
    out[m[1].toLowerCase()] = v === undefined ? '' : decodeEntities(v);
  }
  return out;
}

export function decodeEntities(s) {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Links (<a href>) of a page, resolved. */
export function parseLinks(html, baseUrl) {
  const out = [];
  const re = /<a\b([^>]*)>([\s\S]*?)<\/a>/gi;
  let m;
  while ((m = re.exec(html))) {
    const a = parseAttrs(m[1]);
    if (a.href) out.push({ href: new URL(a.href, baseUrl).href, text: m[2].replace(/<[^>]*>/g, '').trim() });
  }
  return out;
}

/**
 * A request with an exact request-target (no URL normalization: `..`, `//`, backslashes and
 * percent-escapes reach the server as written) and any headers, including Host.
 * Returns {status, headers (plain object, lower-case names; set-cookie as array), text, json()}.
 */
export async function rawRequest(origin, target, { method = 'GET', headers = {}, body, timeoutMs = 20000 } = {}) {
  const http = await import('node:http');
  const u = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path: target, headers, insecureHTTPParser: true },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode,
            headers: res.headers,
            text,
            location: res.headers.location ?? null,
            json: () => JSON.parse(text),
            describe: () => `${method} ${target} -> ${res.statusCode}${res.headers.location ? ` Location: ${res.headers.location}` : ''} body: ${text.slice(0, 300)}`,
          });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${target}`)));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}
