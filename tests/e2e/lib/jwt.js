// Minimal JWT/JWK helpers on node:crypto, for minting the tokens the tests need
// (valid ones, forged ones, alg=none ones). Nothing here validates anything.
import crypto from 'node:crypto';

export function b64url(input) {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input);
  return buf.toString('base64url');
}

/** Generate an RSA key pair for RS256; returns {privateKey, publicKey, kid, publicJwk, privateJwk}. */
export function generateRsaKey(kid = crypto.randomBytes(8).toString('hex')) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  return { privateKey, publicKey, kid, publicJwk, privateJwk };
}

/**
 * Sign a JWT.
 * key: {privateKey, kid} for RS256; a Buffer/string secret for HS256; ignored for alg "none".
 * header: extra header fields (override alg/kid/typ as you like).
 */
export function signJwt(payload, { alg = 'RS256', key, header = {} } = {}) {
  const h = { alg, typ: 'JWT', ...(key && key.kid && alg === 'RS256' ? { kid: key.kid } : {}), ...header };
  const signingInput = `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(payload))}`;
  let sig = '';
  if (alg === 'RS256') {
    sig = b64url(crypto.sign('sha256', Buffer.from(signingInput), key.privateKey));
  } else if (alg === 'HS256') {
    sig = b64url(crypto.createHmac('sha256', key).update(signingInput).digest());
  } else if (alg.toLowerCase() === 'none') {
    sig = '';
  } else {
    throw new Error(`signJwt: unsupported alg ${alg}`);
  }
  return `${signingInput}.${sig}`;
}

/** Decode (without verifying) a JWT's header and payload. */
export function decodeJwt(token) {
  const [h, p] = String(token).split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
}

/** Verify an HS256 JWT with a secret (used to check X-ZUMO-AUTH tokens). */
export function verifyHs256(token, secret) {
  const [h, p, s] = String(token).split('.');
  const expected = crypto.createHmac('sha256', secret).update(`${h}.${p}`).digest();
  const got = Buffer.from(s || '', 'base64url');
  return got.length === expected.length && crypto.timingSafeEqual(got, expected);
}

export function pkceChallenge(verifier) {
  return b64url(crypto.createHash('sha256').update(verifier).digest());
}

export function nowSec() {
  return Math.floor(Date.now() / 1000);
}
