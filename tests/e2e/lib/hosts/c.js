// The C host: native-host/build/ezauth-host, the module in-process in front of its echo app.
//
// Interface shared by every host (hosts/nginx.js implements the same):
//   start({config, env, port}) -> Promise<{name, url, origin, port, logs(), alive(), stop()}>
//     config: the authsettingsV2 object (or a JSON string, written as is)
//     env:    the complete environment for the host process (PATH etc. are added)
//     port:   TCP port on 127.0.0.1 (0/undefined = pick a free one)
//     upstreamPort: the application on 127.0.0.1 (optional; default: the host's own echo app)
//   A host that fails to start (bad configuration, ...) rejects with an Error carrying
//   .exitCode (number, or null when killed) and .logs (everything the process printed).
import { spawnCaptured } from '../proc.js';
import fs from 'node:fs';
import path from 'node:path';
import { C_HOST_BIN, scratchDir, removeScratch } from '../paths.js';
import { freePort } from '../ports.js';

export const name = 'c';
export const description = 'native-host/build/ezauth-host (C host with the echo app)';

const READY_RE = /listening on/i;

/** Variables passed through from the test runner's environment (tooling, not configuration). */
const PASS_THROUGH = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'RUST_BACKTRACE', 'RUST_LOG', 'EZAUTH_LOG'];

export function baseEnv() {
  const out = {};
  for (const k of PASS_THROUGH) if (process.env[k] !== undefined) out[k] = process.env[k];
  return out;
}

export function available() {
  return fs.existsSync(C_HOST_BIN);
}

export async function start({ config, env = {}, port, upstreamPort, readyTimeoutMs = 20000, bin = C_HOST_BIN } = {}) {
  const dir = scratchDir('c-host');
  const configPath = path.join(dir, 'authsettings.json');
  fs.writeFileSync(configPath, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  const listenPort = port || (await freePort());
  if (!fs.existsSync(bin)) {
    const e = new Error(`${bin} does not exist: run 'make -C native-host' first`);
    e.exitCode = null;
    e.logs = '';
    throw e;
  }
  const argv = [bin, '-l', `127.0.0.1:${listenPort}`, '-c', configPath];
  if (upstreamPort) argv.push('-u', `127.0.0.1:${upstreamPort}`);
  const proc = spawnCaptured(argv, { env: { ...baseEnv(), ...env } });
  const { child } = proc;

  await new Promise((resolve, reject) => {
    const deadline = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      const e = new Error(`ezauth-host did not print 'listening on' within ${readyTimeoutMs} ms; output:\n${proc.output()}`);
      e.exitCode = null;
      e.logs = proc.output();
      reject(e);
    }, readyTimeoutMs);
    const check = () => {
      if (READY_RE.test(proc.output())) {
        cleanup();
        resolve();
      }
    };
    const onExit = async () => {
      // drain what is left of the pipes before reporting
      await new Promise((r) => setTimeout(r, 50));
      if (READY_RE.test(proc.output())) return;
      cleanup();
      const e = new Error(
        `ezauth-host exited before listening (code ${proc.exited().code}, signal ${proc.exited().signal}); output:\n${proc.output()}`,
      );
      e.exitCode = proc.exited().code;
      e.signal = proc.exited().signal;
      e.logs = proc.output();
      removeScratch(dir);
      reject(e);
    };
    function cleanup() {
      clearTimeout(deadline);
      child.stdout.off('data', check);
      child.stderr.off('data', check);
      child.off('exit', onExit);
    }
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', onExit);
    check();
  });

  const url = `http://127.0.0.1:${listenPort}`;
  return {
    name,
    url,
    origin: url,
    port: listenPort,
    pid: child.pid,
    configPath,
    logs: () => proc.output(),
    alive: () => proc.exited() === null,
    exitStatus: () => proc.exited(),
    async stop() {
      await proc.terminate();
      removeScratch(dir);
      return proc.exited();
    },
  };
}
