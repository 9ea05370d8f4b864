// Which hosts the scenarios run against: EZAUTH_E2E_HOSTS (comma-separated names of modules in
// this directory), by default `c`, plus `nginx` when hosts/nginx.js exists and the nginx module
// has been built.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NGINX_MODULE } from '../paths.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export function hostNames() {
  const env = process.env.EZAUTH_E2E_HOSTS;
  if (env && env.trim()) return env.split(',').map((s) => s.trim()).filter(Boolean);
  const names = ['c'];
  if (fs.existsSync(path.join(HERE, 'nginx.js')) && fs.existsSync(NGINX_MODULE)) names.push('nginx');
  return names;
}

/** [{name, start, ...}] for every host under test. */
export async function hostsUnderTest() {
  const out = [];
  for (const n of hostNames()) {
    if (!/^[a-z0-9_-]+$/i.test(n)) throw new Error(`EZAUTH_E2E_HOSTS: bad host name ${n}`);
    const mod = await import(`./${n}.js`);
    out.push({ ...mod, name: mod.name || n });
  }
  return out;
}
