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
export const RUN_DIR = process.env.EZAUTH_E2E_RUN_DIR || path.join(E2E_DIR, '.run');

/** A fresh scratch directory under tests/e2e/.run (git-ignored). */
export function scratchDir(prefix = 'run') {
  fs.mkdirSync(RUN_DIR, { recursive: true });
  return fs.mkdtempSync(path.join(RUN_DIR, `${prefix}-`));
}

/** Remove a scratch directory unless EZAUTH_E2E_KEEP=1. */
export function removeScratch(dir) {
  if (process.env.EZAUTH_E2E_KEEP === '1' || !dir) return;
  fs.rmSync(dir, { recursive: true, force: true });
}

export function randomHexKey(bytes = 32) {
  return crypto.randomBytes(bytes).toString('hex');
}
