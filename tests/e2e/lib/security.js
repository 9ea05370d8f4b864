// Shared pieces of the security scenarios (security-*.test.js): a stack whose host proxies to a
// real application (lib/backends), raw-socket requests (exact bytes: odd header names, NUL,
// obs-text, request-targets no HTTP client would send), and what to read from the application's
// records.
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { startStack } from './stack.js';

/** Start `backend` (a lib/backends module), then a stack whose host proxies to it. */
export async function startBackedStack(host, backendMod, opts = {}) {
  const backend = await backendMod.start();
  let stack;
  try {
    stack = await startStack(host, { ...opts, upstreamPort: backend.port });
  } catch (e) {
    await backend.close();
    throw e;
  }
  return {
    stack,
    backend,
    async stop() {
      try {
        await stack.stop();
      } finally {
        await backend.close();
      }
    },
  };
}

let caseCounter = 0;
/** A request id the backend records (X-Sec-Case), unique within the run. */
export function newCaseId(prefix = 'case') {
  caseCounter += 1;
  return `${prefix}-${caseCounter}-${crypto.randomBytes(3).toString('hex')}`;
}

/**
 * One request over a fresh TCP connection, written byte for byte (strings are latin1: one char
 * per byte). `Connection: close` is sent, so the answer ends with the connection.
 *   method, target, host (default the origin's host:port), headers: [[name, value], ...]
 * Resolves {status (NaN when the server hung up without an answer), head, headers
 * ([[name, value]]), body, raw}.
 */
export function rawHttp(origin, { method = 'GET', target, host, headers = [], body = null, timeoutMs = 15000 }) {
  const u = new URL(origin);
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${host ?? u.host}`, 'Connection: close'];
  for (const [n, v] of headers) lines.push(`${n}: ${v}`);
  let head = lines.join('\r\n') + '\r\n';
  if (body !== null) head += `Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n`;
  const payload = Buffer.from(head + '\r\n' + (body ?? ''), 'latin1');
  return new Promise((resolve, reject) => {
    const chunks = [];
    let settled = false;
    const sock = net.connect(Number(u.port), u.hostname, () => sock.write(payload));
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks)));
    };
    const timer = setTimeout(() => {
      settled = true;
      sock.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms to ${method} ${JSON.stringify(target)}`));
    }, timeoutMs);
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', (e) => {
      // a reset after (part of) an answer still tells us what the server said
      if (chunks.length) finish();
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(e);
      }
    });
  });
}

function parseResponse(buf) {
  const raw = buf.toString('latin1');
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const body = end < 0 ? '' : raw.slice(end + 4);
  const [statusLine, ...rest] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  const headers = rest.map((l) => {
    const i = l.indexOf(':');
    return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1).trim()];
  });
  const header = (n) => headers.find(([k]) => k.toLowerCase() === n)?.[1];
  return {
    status,
    head,
    headers,
    header,
    body,
    raw,
    describe: () => `${statusLine || '(no answer)'}${header('location') ? ` Location: ${header('location')}` : ''} ${body.slice(0, 200)}`,
  };
}

/** Is this header name one only the module may set (X-MS-CLIENT-PRINCIPAL*, X-MS-TOKEN-*, any case, `_` for `-`)? */
export function isReservedName(n) {
  const k = n.toLowerCase().replace(/[^a-z0-9]/g, '-');
  return k.startsWith('x-ms-client-principal') || k.startsWith('x-ms-token-');
}

/** The reserved headers of a backend record, as [normalized name, value] sorted. */
export function reservedHeaders(entry) {
  return entry.raw
    .filter(([n]) => isReservedName(n))
    .map(([n, v]) => [n.toLowerCase().replace(/_/g, '-'), v])
    .sort((a, b) => (a[0] + '\0' + a[1] < b[0] + '\0' + b[1] ? -1 : 1));
}

/** The header lines of a record's request head as it arrived on the wire: [[name, value, line]]. */
export function wireHeaders(entry) {
  if (typeof entry.wire !== 'string') return [];
  const lines = entry.wire.replace(/\r\n\r\n$/, '').split('\r\n').slice(1);
  return lines.map((line) => {
    const i = line.indexOf(':');
    return i < 0 ? [line, '', line] : [line.slice(0, i), line.slice(i + 1).trim(), line];
  });
}

/**
 * What is wrong with a record's request head on the wire: header lines holding a bare CR or LF,
 * NUL or another control byte (HTAB aside), folded continuation lines, lines without a colon.
 */
export function wireProblems(entry) {
  if (typeof entry.wire !== 'string') return [`no wire record (${entry.backend})`];
  const out = [];
  for (const [, , line] of wireHeaders(entry)) {
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(line)) out.push(`control byte in ${esc(line, 80)}`);
    else if (/^[ \t]/.test(line)) out.push(`folded line ${esc(line, 80)}`);
    else if (!line.includes(':')) out.push(`not a header line: ${esc(line, 80)}`);
  }
  return out;
}

/** The backend's records of one request. */
export async function entriesFor(backend, caseId) {
  return (await backend.entries()).filter((e) => e.caseId === caseId);
}

/** Short text of records for assertion messages (bytes shown escaped, long values cut). */
export function showEntries(entries) {
  return entries
    .map((e) => {
      const id = e.identity || {};
      const who = [id.principal ? `principal=${esc(id.principal.decoded, 60)}` : null, id.id !== undefined ? `id=${esc(id.id)}` : null, id.name !== undefined ? `name=${esc(id.name)}` : null]
        .filter(Boolean)
        .join(' ');
      const reserved = reservedHeaders(e).map(([n, v]) => `${n}: ${esc(v, 40)}`);
      return `{${e.handler} handler, ${e.method} ${esc(e.target)} routed as ${esc(e.route)}; reserved headers [${reserved.join('; ')}]${who ? `; app identity ${who}` : ''}}`;
    })
    .join(', ') || '(nothing)';
}

/** A value with its control and non-ASCII bytes escaped, cut to `max` characters, for messages. */
export function esc(s, max = 100) {
  if (typeof s !== 'string') return JSON.stringify(s);
  const t = JSON.stringify(s.length > max ? s.slice(0, max) : s).replace(/[\u007f-\u00ff]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`);
  return s.length > max ? `${t}...(${s.length} bytes)` : t;
}

/** Bytes no header value written by the module may hold: CR, LF, NUL and other controls, DEL. */
export const CONTROL_BYTES = /[\u0000-\u001f\u007f]/;

/** The session cookie header of a signed-in client. */
export function cookieOf(stack, client) {
  const c = client.jar.header(stack.url);
  assert.ok(c, 'no session cookie in the jar after sign-in');
  return c;
}

/** Wait a little for stray requests (a smuggled second request) to reach the backend. */
export function settle(ms = 300) {
  return new Promise((r) => setTimeout(r, ms));
}

/** The status an anonymous GET of a protected path gets under `action`. */
export function actionStatus(action) {
  return { RedirectToLoginPage: 302, Return401: 401, RejectWith401: 401, Return403: 403, Return404: 404 }[action];
}
