// The nginx host: Debian's stock /usr/sbin/nginx with native-host/build/ngx_http_ezauth_module.so
// loaded by load_module, in front of a small Node echo app reached by proxy_pass.
//
// Same interface as hosts/c.js:
//   start({config, env, port}) -> Promise<{name, url, origin, port, pid, configPath, logs(), alive(), stop()}>
// Like hosts/c.js, start({upstreamPort}) proxies to an application the test runs on 127.0.0.1
// instead of the Node echo app.
// nginx-only options of start():
//   workers        worker_processes (default 1, or EZAUTH_NGINX_WORKERS: the whole suite on 4 workers)
//   threads        threads of the "default" thread pool (default 4)
//   reuseport      listen ... reuseport, so that the kernel spreads connections over the workers
//                  (default: on when workers > 1)
//   workerHeader   add "X-Nginx-Worker: <worker pid>" to every response (default false)
//   mainConf, httpConf, serverConf, locationConf   extra directives for those blocks (mainConf:
//                  the main context, e.g. another thread_pool)
// and of the returned host:
//   reload({config}) rewrites the ezauth configuration (when given) and sends SIGHUP to the master,
//                  as "nginx -s reload" does; resolves {ok, log} once the master has either started
//                  new workers (and the old ones are gone) or refused the configuration
//   workerPids()   the current worker processes
// EZAUTH_NGINX_WRAPPER (a command prefix, e.g. "valgrind -q --error-exitcode=99") runs nginx
// under a checker; EZAUTH_NGINX_BIN names another nginx binary.
//   errorLogPath, nginxConfPath, dir
// and configTest({config, env}) runs "nginx -t" on such a configuration: {code, output}.
//
//   runAs          run the master itself as this user (setpriv), as an nginx started by an ordinary
//                  user: no "user" line, the workers run as the master, the scratch directory and
//                  token directory belong to that user
//
// nginx runs as Debian runs it: the master as the test runner (root in CI) with "user www-data;",
// so the workers run as www-data; the token directory is made as native-host/nginx/README.md
// says (install -d -o www-data -g www-data -m 700, see prepareTokenDir), and the scratch
// directories are where www-data can enter (lib/paths.js). The master's environment is the
// test's env, and every variable of it is also named in an "env" line, so that the workers keep
// WEBSITE_AUTH_* and the *_SECRET values.
import { spawnCaptured } from '../proc.js';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { NGINX_MODULE, REPO_ROOT, scratchDir, removeScratch, userIds } from '../paths.js';
import { freePort } from '../ports.js';
import { baseEnv } from './c.js';

export const name = 'nginx';
export const description = 'Debian nginx + ngx_http_ezauth_module (proxy_pass to a Node echo app)';

export const NGINX_BIN = process.env.EZAUTH_NGINX_BIN || '/usr/sbin/nginx';
export { NGINX_MODULE };

export function available() {
  return fs.existsSync(NGINX_MODULE) && fs.existsSync(NGINX_BIN);
}

const READY_PATH = '/__nginx_ready';

const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/** The user of nginx's workers: Debian's "user www-data;" when the master is root. */
export const WORKER_USER = 'www-data';

/** The user the workers of a host started with runAs (or not) run as; null: the runner's. */
function workersUser(runAs) {
  return runAs || (IS_ROOT ? WORKER_USER : null);
}

/**
 * Makes dir the token directory of nginx's workers, as the README says:
 * install -d -o www-data -g www-data -m 700 DIR (as root; otherwise the runner's own, 0700).
 */
export function prepareTokenDir(dir, { runAs } = {}) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const user = workersUser(runAs);
  if (user && IS_ROOT) {
    const ids = userIds(user);
    if (!ids) throw new Error(`no user ${user} on this machine`);
    fs.chownSync(dir, ids.uid, ids.gid);
  }
}

/** The scratch directory of a master run as runAs: that user's, as its own would be. */
function ownScratch(dir, runAs) {
  if (!runAs) return;
  const ids = userIds(runAs);
  if (!ids) throw new Error(`no user ${runAs} on this machine`);
  const walk = (p) => {
    fs.lchownSync(p, ids.uid, ids.gid);
    if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(dir);
}

/**
 * A master run as runAs loads the module itself: the README asks for a module and library that
 * nginx's user can read. The checkout may be where that user cannot enter (a clone under a
 * root-only /tmp), so both are copied into the scratch directory, the library found there
 * through LD_LIBRARY_PATH (the module's rpath is a RUNPATH, which it overrides). The module
 * names the library by its SONAME, libezauth.so.N (make -C native-host links that name to
 * libezauth.so), so the copy has that name.
 */
function moduleCopy(dir, runAs) {
  if (!runAs) return { modulePath: NGINX_MODULE, env: {} };
  const libDir = path.join(dir, 'lib');
  fs.mkdirSync(libDir, { recursive: true });
  const modulePath = path.join(libDir, path.basename(NGINX_MODULE));
  fs.copyFileSync(NGINX_MODULE, modulePath);
  const from = process.env.EZAUTH_LIB_DIR || path.join(REPO_ROOT, 'target', 'release');
  const sonames = fs.readdirSync(from).filter((f) => /^libezauth\.so\.\d+$/.test(f));
  if (sonames.length === 0) throw new Error(`no libezauth.so.N in ${from}: run make -C native-host`);
  for (const f of sonames) fs.copyFileSync(path.join(from, f), path.join(libDir, f));
  return { modulePath, env: { LD_LIBRARY_PATH: libDir } };
}

/** argv prefix that runs nginx as runAs (its groups too), or nothing. */
function asUser(runAs) {
  return runAs ? ['setpriv', `--reuid=${runAs}`, `--regid=${runAs}`, '--init-groups', '--'] : [];
}

/**
 * The echo application: 200 {"method", "path" (raw target), "headers": {lower-cased: value}},
 * the shape of the C host's built-in echo (Node joins repeated headers the same way).
 */
export async function startEcho({ port = 0 } = {}) {
  // split session cookies and token headers make large requests: accept what nginx passes on
  const server = http.createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ method: req.method, path: req.url, headers: req.headers }) + '\n';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30000;
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    port: server.address().port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(() => r()));
    },
  };
}

function envNames(env) {
  const skip = new Set(Object.keys(baseEnv()));
  return Object.keys(env).filter((k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !skip.has(k));
}

/** The nginx.conf text for a scratch directory. */
export function nginxConf({
  dir,
  port,
  upstreamPort,
  configPath,
  env = {},
  workers = Number(process.env.EZAUTH_NGINX_WORKERS) || 1,
  threads = 4,
  reuseport = workers > 1,
  workerHeader = false,
  mainConf = '',
  httpConf = '',
  serverConf = '',
  locationConf = '',
  runAs = null,
  modulePath = NGINX_MODULE,
}) {
  const user = runAs ? null : workersUser(null);
  const envLines = envNames(env)
    .map((k) => `env ${k};`)
    .join('\n');
  const tmp = (n) => path.join(dir, 'tmp', n);
  return `# generated by tests/e2e/lib/hosts/nginx.js
load_module ${modulePath};

daemon off;
master_process on;
worker_processes ${workers};
${user ? `user ${user};` : ''}
error_log ${path.join(dir, 'error.log')} info;
pid ${path.join(dir, 'nginx.pid')};

${envLines}

thread_pool default threads=${threads};
${mainConf}

events {
    worker_connections 4096;
}

http {
    access_log off;

    # a split session cookie (AppServiceAuthSession + AppServiceAuthSession1) is one Cookie
    # line of about 8 KB; the default buffers (4 8k) refuse it with 400
    large_client_header_buffers 4 32k;

    client_body_temp_path ${tmp('body')};
    proxy_temp_path ${tmp('proxy')};
    fastcgi_temp_path ${tmp('fastcgi')};
    uwsgi_temp_path ${tmp('uwsgi')};
    scgi_temp_path ${tmp('scgi')};

    ezauth_config ${configPath};

    upstream app {
        server 127.0.0.1:${upstreamPort};
        keepalive 32;
    }
${httpConf}
    server {
        listen 127.0.0.1:${port}${reuseport ? ' reuseport' : ''};
        ${workerHeader ? 'add_header X-Nginx-Worker $pid always;' : ''}
${serverConf}
        location = ${READY_PATH} {
            ezauth_config off;
            return 204;
        }

        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            # a client may half-close its side once the request is sent (the raw-socket tests do);
            # nginx would take that for an abort and drop the request
            proxy_ignore_client_abort on;
${locationConf}
        }
    }
}
`;
}

function writeConfig(configPath, config) {
  fs.writeFileSync(configPath, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
}

function readFileSafe(p) {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** Child processes of pid (the workers of an nginx master, and its cache processes). */
export function childPids(pid) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const stat = readFileSafe(`/proc/${e}/stat`);
    // pid (comm) state ppid ...; comm may hold spaces and parentheses
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[1]) === pid && rest[0] !== 'Z') out.push(Number(e));
  }
  return out.sort((a, b) => a - b);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** One GET on a fresh connection; resolves {status} or rejects. */
function probe(port, p, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** "nginx -t" on the configuration a host would run: {code, output}. */
export async function configTest({ config, env = {}, workers = 1, runAs = null } = {}) {
  const dir = scratchDir('nginx-t');
  try {
    fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
    const configPath = path.join(dir, 'authsettings.json');
    writeConfig(configPath, config);
    const confPath = path.join(dir, 'nginx.conf');
    const copy = moduleCopy(dir, runAs);
    fs.writeFileSync(
      confPath,
      nginxConf({ dir, port: await freePort(), upstreamPort: 9, configPath, env, workers, runAs, modulePath: copy.modulePath }),
    );
    ownScratch(dir, runAs);
    const argv = [...asUser(runAs), NGINX_BIN, '-t', '-p', dir, '-c', confPath];
    const child = spawn(argv[0], argv.slice(1), {
      env: { ...baseEnv(), ...env, ...copy.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 20000);
      child.on('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    return { code, output };
  } finally {
    removeScratch(dir);
  }
}

export async function start({ config, env = {}, port, upstreamPort, readyTimeoutMs = 20000, runAs = null, ...opts } = {}) {
  if (!fs.existsSync(NGINX_MODULE)) {
    const e = new Error(`${NGINX_MODULE} does not exist: run 'make -C native-host' first`);
    e.exitCode = null;
    e.logs = '';
    throw e;
  }
  const dir = scratchDir('nginx');
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const configPath = path.join(dir, 'authsettings.json');
  writeConfig(configPath, config);
  const listenPort = port || (await freePort());
  // the test's own application, which the test stops itself, or the echo app
  const echo = upstreamPort ? { port: upstreamPort, async close() {} } : await startEcho();
  const confPath = path.join(dir, 'nginx.conf');
  const errorLogPath = path.join(dir, 'error.log');
  const copy = moduleCopy(dir, runAs);
  fs.writeFileSync(
    confPath,
    nginxConf({ dir, port: listenPort, upstreamPort: echo.port, configPath, env, runAs, modulePath: copy.modulePath, ...opts }),
  );
  ownScratch(dir, runAs);

  // EZAUTH_NGINX_WRAPPER="valgrind --error-exitcode=99 ..." runs nginx (and, over fork, its
  // workers) under a checker
  const wrapper = (process.env.EZAUTH_NGINX_WRAPPER || '').split(' ').filter(Boolean);
  const argv = [...asUser(runAs), ...wrapper, NGINX_BIN, '-p', dir, '-c', confPath];
  const proc = spawnCaptured(argv, { env: { ...baseEnv(), ...env, ...copy.env }, maxBytes: 4 * 1024 * 1024 });
  const { child, exitPromise } = proc;

  // The master's own output (startup, before error_log is open) comes first; it does not grow
  // once nginx runs, so offsets into logs() stay valid as the error log grows.
  const logs = () => proc.output() + readFileSafe(errorLogPath);

  const fail = async (why) => {
    if (proc.exited() === null) {
      child.kill('SIGKILL');
      await exitPromise;
    }
    await echo.close();
    const e = new Error(`nginx ${why}; output:\n${logs()}`);
    e.exitCode = proc.exited() ? proc.exited().code : null;
    e.signal = proc.exited() ? proc.exited().signal : null;
    e.logs = logs();
    removeScratch(dir);
    return e;
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (proc.exited() !== null) {
      await sleep(50); // drain the pipes
      throw await fail(`exited before serving (code ${proc.exited().code}, signal ${proc.exited().signal})`);
    }
    try {
      const r = await probe(listenPort, READY_PATH, 500);
      if (r.status === 204) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw await fail(`did not answer ${READY_PATH} within ${readyTimeoutMs} ms`);
    await sleep(25);
  }

  const url = `http://127.0.0.1:${listenPort}`;
  const host = {
    name,
    url,
    origin: url,
    port: listenPort,
    pid: child.pid,
    dir,
    configPath,
    nginxConfPath: confPath,
    errorLogPath,
    echoPort: echo.port,
    logs,
    alive: () => proc.exited() === null,
    exitStatus: () => proc.exited(),
    workerPids: () => childPids(child.pid),

    async reload({ config: next, timeoutMs = 15000 } = {}) {
      if (next !== undefined) writeConfig(configPath, next);
      const before = childPids(child.pid);
      const mark = readFileSafe(errorLogPath).length;
      process.kill(child.pid, 'SIGHUP');
      const end = Date.now() + timeoutMs;
      let log = '';
      let ok = null;
      while (ok === null && Date.now() < end) {
        await sleep(25);
        log = readFileSafe(errorLogPath).slice(mark);
        if (/\[emerg\]/.test(log)) ok = false;
        else if (/start worker process/.test(log)) ok = true;
      }
      if (ok === null) throw new Error(`nginx did not act on SIGHUP within ${timeoutMs} ms; log:\n${log}`);
      if (ok) {
        // the old workers finish their requests and exit; new connections go to the new ones
        while (Date.now() < end && childPids(child.pid).some((p) => before.includes(p))) await sleep(25);
        log = readFileSafe(errorLogPath).slice(mark);
      }
      return { ok, log };
    },

    async stop() {
      await proc.terminate();
      await echo.close();
      removeScratch(dir);
      return proc.exited();
    },
  };
  return host;
}
