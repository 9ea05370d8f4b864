// Backend B: lib/backends/werkzeug_app.py (a Werkzeug WSGI app) in a Python child process.
// Python is EZAUTH_PYTHON or python3; Werkzeug comes from tests/e2e/requirements.txt
// (tests/run-all.sh installs it).
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { spawnCaptured } from '../proc.js';

export const name = 'werkzeug';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const APP = path.join(HERE, 'werkzeug_app.py');
export const PYTHON = process.env.EZAUTH_PYTHON || 'python3';

function getJson(port, p, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(new Error(`werkzeug backend: ${p} answered ${res.statusCode}, not JSON: ${e.message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`werkzeug backend: no answer to ${p} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export async function start({ readyTimeoutMs = 15000 } = {}) {
  const proc = spawnCaptured([PYTHON, '-u', APP], { env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8' } });
  const port = await new Promise((resolve, reject) => {
    const fail = (why) => {
      clearTimeout(t);
      clearInterval(poll);
      proc.child.kill('SIGKILL');
      const hint = /No module named 'werkzeug'/.test(proc.output())
        ? `\nWerkzeug is missing: ${PYTHON} -m pip install -r tests/e2e/requirements.txt`
        : '';
      reject(new Error(`werkzeug backend ${why}; output:\n${proc.output()}${hint}`));
    };
    const t = setTimeout(() => fail(`did not print "listening" within ${readyTimeoutMs} ms`), readyTimeoutMs);
    const poll = setInterval(() => {
      const m = /^listening (\d+)$/m.exec(proc.output());
      if (m) {
        clearTimeout(t);
        clearInterval(poll);
        resolve(Number(m[1]));
      } else if (proc.exited() !== null) fail(`exited (${JSON.stringify(proc.exited())})`);
    }, 20);
  });
  return {
    name,
    port,
    async entries() {
      return (await getJson(port, '/__backend/log')).entries;
    },
    async errors() {
      return (await getJson(port, '/__backend/log')).errors;
    },
    logs: () => proc.output(),
    async close() {
      await proc.terminate(3000);
    },
  };
}
