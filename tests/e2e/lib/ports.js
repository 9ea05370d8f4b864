import net from 'node:net';

// Ports for the hosts under test come from below the kernel's ephemeral range (32768-60999 on
// Linux): servers that listen on port 0 (the IdP, the echo upstream, the fake issuer) get
// ephemeral ports, so they can never take a port picked here between the pick and the bind.
const LOW = 20000;
const HIGH = 32000;

function tryListen(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago, outside the ephemeral range. */
export async function freePort() {
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await tryListen(port)) return port;
  }
  throw new Error(`no free port in ${LOW}-${HIGH}`);
}

/** A port on which nothing listens (bound then closed; nobody else should grab it that fast). */
export const closedPort = freePort;

/**
 * Tracks a server's connections; the returned close() drops them (keep-alive clients would
 * otherwise hold server.close() open) and resolves once the server is closed.
 */
export function closerFor(server) {
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(() => r()));
  };
}
