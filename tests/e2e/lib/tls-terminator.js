// A TLS-terminating proxy on 127.0.0.1 in front of a host under test, as a load balancer or
// App Service's front end is: https in (a self-signed certificate made with the openssl CLI
// for this run; Chromium is told to accept it), plain http out with `X-Forwarded-Proto:
// https` (the module trusts it with `forwardProxy.convention: Standard`). For the browser
// scenarios that need https: `Secure` cookies, `SameSite=None`.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { scratchDir, removeScratch } from './paths.js';

/** Starts the proxy (listening at once, so its origin is known before the host starts);
 * `setUpstream(port)` points it at the host. */
export async function startTlsTerminator() {
  const dir = scratchDir('tls');
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  let upstreamPort = null;
  const server = https.createServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) }, (req, res) => {
    if (!upstreamPort) {
      res.writeHead(502);
      res.end('no upstream yet');
      return;
    }
    const headers = { ...req.headers, 'x-forwarded-proto': 'https' };
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.rawHeaders);
      ur.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = server.address().port;
  return {
    origin: `https://127.0.0.1:${port}`,
    setUpstream(p) {
      upstreamPort = p;
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
      removeScratch(dir);
    },
  };
}
