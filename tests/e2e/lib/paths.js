// Where things are: the repository root, the built hosts, the scratch directory.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = process.env.EZAUTH_ROOT || path.resolve(E2E_DIR, '..', '..');
export const BUILD_DIR = path.join(REPO_ROOT, 'native-host', 'build');
export const C_HOST_BIN = process.env.EZAUTH_HOST_BIN || path.join(BUILD_DIR, 'ezauth-host');
export const NGINX_MODULE = path.join(BUILD_DIR, 'ngx_http_ezauth_module.so');
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
// As root, nginx's workers run as www-data (as on Debian) and must reach the token directory
// and nginx's temp paths in the scratch directories: the checkout may be where www-data cannot
// enter (a clone under a root-only /tmp), so scratch directories go under /var/tmp.
export const RUN_DIR =
  process.env.EZAUTH_E2E_RUN_DIR || (IS_ROOT ? '/var/tmp/ezauth-e2e' : path.join(E2E_DIR, '.run'));

/**
 * A fresh scratch directory under RUN_DIR (tests/e2e/.run, git-ignored, or /var/tmp/ezauth-e2e
 * as root). It and RUN_DIR can be entered (not listed) by other users: nginx's workers.
 */
export function scratchDir(prefix = 'run') {
  fs.mkdirSync(RUN_DIR, { recursive: true, mode: 0o711 });
  fs.chmodSync(RUN_DIR, 0o711);
  const dir = fs.mkdtempSync(path.join(RUN_DIR, `${prefix}-`));
  fs.chmodSync(dir, 0o711);
  return dir;
}

/** uid and gid of a user from /etc/passwd (null when there is none). */
export function userIds(name) {
  for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/** Remove a scratch directory unless EZAUTH_E2E_KEEP=1. */
export function removeScratch(dir) {
  if (process.env.EZAUTH_E2E_KEEP === '1' || !dir) return;
  fs.rmSync(dir, { recursive: true, force: true });
}

export function randomHexKey(bytes = 32) {
  return crypto.randomBytes(bytes).toString('hex');
}
