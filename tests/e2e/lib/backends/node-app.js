// Backend A: a plain Node http application, as an app behind Easy Auth would be written. It routes
// on `new URL(req.url, 'http://x').pathname` (so it resolves `..`, `%2e%2e`, `\` and `//` the way
// WHATWG URL parsing does), has explicit handlers for the excluded paths (/health, /public/*) and a
// catch-all protected handler for everything else (/admin/<anything>, ...), which trusts the
// identity headers it is given: it decodes X-MS-CLIENT-PRINCIPAL with Buffer.from(v, 'base64').
//
// Every request is recorded (see lib/backends/index.js for the entry shape), with the header
// block as parsed and the request head as it arrived on the wire (latin1 strings: one char per
// byte).
//
// The parser is Node's lenient one (insecureHTTPParser): a strict parser would answer 400 to a
// forwarded header holding a NUL or a bare CR, and so hide from the tests that it was forwarded.
import http from 'node:http';
import { closerFor } from '../ports.js';

export const name = 'node';

function route(pathname) {
  if (pathname === '/health') return 'excluded';
  if (pathname.startsWith('/public/')) return 'excluded';
  return 'protected';
}

/** What the app makes of the identity headers (Node joins repeated ones with ", "). */
function appIdentity(headers) {
  const out = {};
  const p = headers['x-ms-client-principal'];
  if (p !== undefined) out.principal = { value: p, decoded: Buffer.from(p, 'base64').toString('latin1') };
  for (const k of ['id', 'name', 'idp']) {
    const v = headers[`x-ms-client-principal-${k}`];
    if (v !== undefined) out[k] = v;
  }
  for (const [k, v] of Object.entries(headers)) if (k.startsWith('x-ms-token-')) (out.tokens ||= {})[k] = v;
  return out;
}

export async function start() {
  const entries = [];
  const errors = [];
  let seq = 0;
  const server = http.createServer({ insecureHTTPParser: true, maxHeaderSize: 256 * 1024 }, (req, res) => {
    let pathname;
    try {
      pathname = new URL(req.url, 'http://x').pathname;
    } catch {
      pathname = null;
    }
    const handler = pathname === null ? 'bad-url' : route(pathname);
    const raw = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) raw.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    const entry = {
      seq: ++seq,
      backend: name,
      handler,
      method: req.method,
      target: req.url,
      route: pathname,
      caseId: req.headers['x-sec-case'] ?? null,
      raw,
      identity: appIdentity(req.headers),
    };
    entries.push(entry);
    req.resume();
    req.on('end', () => {
      // by now the connection's tap has seen this request's bytes
      entry.wire = takeHead(req.socket, Number(req.headers['content-length']) || 0);
      const status = handler === 'bad-url' ? 400 : 200;
      const body = JSON.stringify({ backend: name, handler, route: pathname, seq: entry.seq }) + '\n';
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-backend-handler': handler });
      res.end(body);
    });
  });
  // The bytes of each connection as they arrived, so that a record holds the request head as
  // it was on the wire (Node's parser, for one, unfolds obs-fold lines before rawHeaders).
  // Adding a 'data' listener makes Node feed its parser from the same JS 'data' events.
  const wires = new WeakMap();
  server.on('connection', (socket) => {
    const w = { buf: '', pos: 0 };
    wires.set(socket, w);
    socket.on('data', (d) => {
      w.buf += d.toString('latin1');
    });
  });
  function takeHead(socket, bodyLength) {
    const w = wires.get(socket);
    if (!w) return null;
    const end = w.buf.indexOf('\r\n\r\n', w.pos);
    if (end < 0) return null;
    const head = w.buf.slice(w.pos, end + 4);
    w.pos = end + 4 + bodyLength;
    if (w.pos > 1 << 20) {
      w.buf = w.buf.slice(w.pos);
      w.pos = 0;
    }
    return head;
  }
  // a request line or header block the parser refused: recorded, so that a smuggled second
  // request that fails to parse is still seen
  server.on('clientError', (err, socket) => {
    errors.push({ backend: name, code: err.code, message: err.message, rawPacket: err.rawPacket ? err.rawPacket.toString('latin1') : null });
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.keepAliveTimeout = 30000;
  const close = closerFor(server);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    name,
    port: server.address().port,
    async entries() {
      return entries.slice();
    },
    async errors() {
      return errors.slice();
    },
    close,
  };
}
