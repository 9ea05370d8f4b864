// A test stack: an identity provider (the real oidc-provider, a fake issuer, or none), a host
// with the module loaded, a scratch directory with the file token store.
import fs from 'node:fs';
import path from 'node:path';
import { startIdp } from '../idp.js';
import { testConfig } from './config.js';
import { Client } from './http.js';
import { signIn } from './flow.js';
import { freePort } from './ports.js';
import { scratchDir, removeScratch, randomHexKey } from './paths.js';

export function callbackUrl(port, provider = 'testidp') {
  return `http://127.0.0.1:${port}/.auth/login/${provider}/callback`;
}

export function moduleEnv(keys = {}) {
  return {
    WEBSITE_AUTH_ENCRYPTION_KEY: keys.encryption || randomHexKey(),
    WEBSITE_AUTH_SIGNING_KEY: keys.signing || randomHexKey(),
    TESTIDP_AUTHENTICATION_SECRET: 'ezauth-test-secret',
    MICROSOFT_PROVIDER_AUTHENTICATION_SECRET: 'ezauth-test-secret',
  };
}

/**
 * host: a host module (from hosts/index.js)
 * opts:
 *   provider   'testidp' | 'aad'
 *   idp        'real' (default: start oidc-provider), 'none', or {issuer, wellKnown} of an issuer
 *              the test runs itself (e.g. the fake issuer)
 *   wellKnown  override the discovery URL (e.g. a closed port)
 *   configure  (config, ctx) => config | undefined   — edit the configuration
 *   action     unauthenticatedClientAction
 *   tokenStore false to disable it
 *   env        extra environment; omitEnv: names to remove
 *   keys       {encryption, signing}
 *   hostOptions  more options for host.start (nginx: workers, runAs, ...)
 *   upstreamPort  the application behind the host (on 127.0.0.1), instead of the host's echo app
 *   callbackOrigins  (port) => ['https://app.example.test:PORT', ...]: more origins the IdP
 *              accepts callbacks to (host names mapped to 127.0.0.1, a TLS terminator's https)
 *   idpShape   the real IdP behaves as this provider documents itself ('google'; see idp.js)
 *   callbackProviders  the providers whose callbacks the real IdP accepts (default testidp,
 *              aad, apple, microsoftaccount)
 *   idpRedirects  (port) => [...]: more redirect URIs the real IdP's client accepts
 *   idpClients more clients the real IdP registers (oidc-provider metadata, see idp.js)
 *   idpAccessTokenTtl  the real IdP's access token lifetime in seconds (default 3600)
 *   idpClockTolerance  seconds past expiry the real IdP still accepts a token (default 15)
 *   idpHost    the address the real IdP listens on (default 127.0.0.1); '127.0.0.2' puts it on
 *              another site than the app (another port alone is the same site)
 */
export async function startStack(host, opts = {}) {
  const { provider = 'testidp', idp = 'real', configure, action, tokenStore = true, env = {}, omitEnv = [], keys } = opts;
  const port = await freePort();
  const tmp = scratchDir('stack');
  const tokenDir = path.join(tmp, 'tokens');
  // made as the host's documentation says (nginx: owned by its workers' user, 0700)
  if (host.prepareTokenDir) host.prepareTokenDir(tokenDir, opts.hostOptions || {});
  else fs.mkdirSync(tokenDir, { recursive: true });
  let idpObj = null;
  let ownIdp = false;
  if (idp === 'real') {
    const origins = opts.callbackOrigins ? opts.callbackOrigins(port) : [];
    const names = opts.callbackProviders || ['testidp', 'aad', 'apple', 'microsoftaccount'];
    const extra = origins.flatMap((o) => names.map((p) => `${o}/.auth/login/${p}/callback`));
    idpObj = await startIdp({
      redirectUris: [...names.map((p) => callbackUrl(port, p)), ...extra, ...(opts.idpRedirects ? opts.idpRedirects(port) : [])],
      clients: opts.idpClients || [],
      ...(opts.idpHost ? { host: opts.idpHost } : {}),
      ...(opts.idpShape ? { shape: opts.idpShape } : {}),
      ...(opts.idpAccessTokenTtl ? { accessTokenTtl: opts.idpAccessTokenTtl } : {}),
      ...(opts.idpClockTolerance !== undefined ? { clockTolerance: opts.idpClockTolerance } : {}),
    });
    ownIdp = true;
  } else if (idp && typeof idp === 'object') {
    idpObj = idp;
  }
  let config = testConfig({
    provider,
    wellKnown: opts.wellKnown || idpObj?.wellKnown || 'http://127.0.0.1:9/.well-known/openid-configuration',
    issuer: opts.issuer || idpObj?.issuer || 'http://127.0.0.1:9',
    tokenDir,
    tokenStore,
    action,
  });
  if (configure) config = configure(config, { port, tokenDir, idp: idpObj }) || config;
  const fullEnv = { ...moduleEnv(keys), ...env };
  for (const k of omitEnv) delete fullEnv[k];
  let h;
  try {
    h = await host.start({
      config,
      env: fullEnv,
      port,
      ...(opts.upstreamPort ? { upstreamPort: opts.upstreamPort } : {}),
      ...(opts.hostOptions || {}),
    });
  } catch (e) {
    if (ownIdp) await idpObj.close();
    removeScratch(tmp);
    throw e;
  }
  const stack = {
    hostName: host.name,
    host: h,
    idp: idpObj,
    provider,
    url: h.url,
    origin: h.origin,
    port,
    tmp,
    tokenDir,
    config,
    env: fullEnv,
    logs: () => h.logs(),
    client: (o) => new Client(o),
    signIn: (client, o = {}) => signIn(client, h.url, { provider, ...o }),
    at: (p) => new URL(p, h.url).href,
    tokenFiles: () => tokenFiles(tokenDir),
    snapshot: () => snapshotDir(tokenDir),
    async stop() {
      await h.stop();
      if (ownIdp) await idpObj.close();
      removeScratch(tmp);
    },
  };
  return stack;
}

/** Every regular file under dir: {relpath: "size:mtimeMs:ino"}. */
export function snapshotDir(dir) {
  const out = {};
  const walk = (d) => {
    let entries = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      // .used/ holds the store's one-time markers of redeemed login states (replay
      // protection across workers): bookkeeping, not user data.
      if (e.isDirectory()) {
        if (e.name !== '.used') walk(p);
      }
      else {
        const st = fs.lstatSync(p);
        out[path.relative(dir, p)] = `${st.size}:${st.mtimeMs}:${st.ino}`;
      }
    }
  };
  walk(dir);
  return out;
}

/** Token files: regular files, not lock files, temp files or dotfiles. */
export function tokenFiles(dir) {
  return Object.keys(snapshotDir(dir)).filter((p) => {
    const base = path.basename(p);
    return !base.startsWith('.') && !/\.(lock|tmp)$/i.test(base) && !/\.tmp\./i.test(base);
  });
}
