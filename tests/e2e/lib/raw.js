// Raw bytes on both sides of a host, for what Node's HTTP stack cannot send or would refuse
// to receive (header values that are not UTF-8, NUL and other control bytes, names with a
// leading space):
//   rawExchange(port, bytes)   one request on a fresh connection; {status, head, body, bytes}
//   startRecorder(respond)     an upstream that keeps every request's bytes and answers
//   reservedName(name)         is this a name only the module may set?
import net from 'node:net';

const PREFIXES = ['x-ms-client-principal', 'x-ms-token-'];

/** X-MS-CLIENT-PRINCIPAL* or X-MS-TOKEN-*: any case, '_' for '-', after leading whitespace. */
export function reservedName(name) {
  const n = Buffer.from(name).toString('latin1').replace(/^[ \t\r\n]+/, '').toLowerCase().replace(/_/g, '-');
  return PREFIXES.some((p) => n.startsWith(p));
}

/** The header lines of a request or response head (a Buffer), as [name, value] Buffers. */
export function headerLines(head) {
  const out = [];
  const text = head.toString('latin1');
  for (const line of text.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    out.push([Buffer.from(line.slice(0, colon), 'latin1'), Buffer.from(line.slice(colon + 1), 'latin1')]);
  }
  return out;
}

/** Sends bytes on a fresh connection and reads until the server closes it. */
export function rawExchange(port, bytes, { timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    const chunks = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const head = end < 0 ? all : all.subarray(0, end);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'))?.[1] || 0);
      resolve({ status, head, body: end < 0 ? Buffer.alloc(0) : all.subarray(end + 4), bytes: all });
    });
    sock.on('error', reject);
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`no answer within ${timeoutMs} ms`)));
  });
}

/**
 * An HTTP/1.x upstream that records the bytes of every request head (and body) it receives.
 * respond({method, path, head, body}) returns {status, headers, body} (default 200 "recorded");
 * every answer closes the connection.
 */
export async function startRecorder(respond = () => ({})) {
  const requests = [];
  const sockets = new Set();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let done = false;
    sock.on('data', (d) => {
      if (done) return;
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end);
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head.toString('latin1'))?.[1] || 0);
      if (buf.length < end + 4 + length) return;
      done = true;
      const [method, path] = head.toString('latin1').split('\r\n')[0].split(' ');
      const req = { method, path, head, body: buf.subarray(end + 4, end + 4 + length) };
      requests.push(req);
      const r = respond(req) || {};
      const body = Buffer.from(r.body ?? 'recorded\n');
      const headers = { 'Content-Type': 'text/plain', ...(r.headers || {}) };
      const lines = [`HTTP/1.1 ${r.status || 200} X`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
      sock.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    requests,
    /** The requests received so far, and forget them. */
    take() {
      return requests.splice(0, requests.length);
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
