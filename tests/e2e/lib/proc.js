// A child process whose stdout and stderr are captured (bounded) for a test's logs.
import { spawn } from 'node:child_process';

/**
 * Spawns argv[0] with argv[1..]; returns {child, output(), exited(), exitPromise, terminate()}.
 * output(): what it printed so far (the last few MiB); exited(): null while it runs, then
 * {code, signal}.
 */
export function spawnCaptured(argv, { env, maxBytes = 8 * 1024 * 1024 } = {}) {
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = null;
  const onData = (d) => {
    out += d.toString('utf8');
    if (out.length > maxBytes) out = out.slice(-maxBytes / 2);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  child.on('error', (e) => {
    out += `\n[spawn error] ${e.message}\n`;
  });
  /** SIGTERM, then SIGKILL after graceMs; resolves with {code, signal}. */
  async function terminate(graceMs = 5000) {
    if (exited === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exitPromise;
      clearTimeout(t);
    }
    return exited;
  }
  return { child, exitPromise, output: () => out, exited: () => exited, terminate };
}
