// id_token validation: a fake issuer returns forged, misaddressed, expired id_tokens; each one
// is refused at the callback, nothing is stored, and the log says why.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { startFakeIssuer } from './lib/fake-issuer.js';
import { SESSION_COOKIE } from './lib/flow.js';
import { echoOf } from './lib/common.js';
import { nowSec } from './lib/jwt.js';

const hosts = await hostsUnderTest();

const HOUR = 3600;

/** name -> {mode for the fake issuer, log: regex the host's log must match} */
const CASES = {
  'bad signature (one bit flipped)': { mode: { tamper: 'signature' }, log: /signature|verif/i },
  'payload changed after signing': { mode: { tamper: 'payload' }, log: /signature|verif/i },
  'signed by an unknown key (kid not in the JWKS)': { mode: { key: 'other' }, log: /signature|verif|kid|key/i },
  'signed by another key claiming the issuer kid': { mode: { key: 'other-same-kid' }, log: /signature|verif/i },
  'wrong aud': { mode: { claims: { aud: 'someone-else' } }, log: /aud/i },
  'aud array without the client id': { mode: { claims: { aud: ['a', 'b'] } }, log: /aud/i },
  'wrong iss': { mode: { claims: { iss: 'http://127.0.0.1:1/not-the-issuer' } }, log: /iss/i },
  expired: { mode: { claims: { exp: nowSec() - 2 * HOUR, iat: nowSec() - 3 * HOUR, nbf: nowSec() - 3 * HOUR } }, log: /expir|\bexp\b|lifetime/i },
  'not yet valid (nbf, iat in the future)': { mode: { claims: { nbf: nowSec() + 2 * HOUR, iat: nowSec() + 2 * HOUR } }, log: /nbf|before|not yet|lifetime|iat|future/i },
  'wrong nonce': { mode: { claims: { nonce: 'not-the-nonce' } }, log: /nonce/i },
  'missing nonce': { mode: { claims: { nonce: undefined } }, log: /nonce/i },
  'alg none': { mode: { alg: 'none' }, log: /alg|none|unsigned|signature/i },
  'alg none, capitalised': { mode: { alg: 'none', header: { alg: 'None' } }, log: /alg|none|unsigned|signature/i },
  'HS256 keyed with the issuer public key (alg confusion)': { mode: { alg: 'HS256' }, log: /alg|HS256|signature|verif/i },
  'missing sub': { mode: { claims: { sub: undefined } }, log: /sub/i },
  'missing exp': { mode: { claims: { exp: undefined } }, log: /exp/i },
};

for (const host of hosts) {
  describe(`id_token validation [${host.name}]`, () => {
    let fake;
    let s;
    before(async () => {
      fake = await startFakeIssuer();
      s = await startStack(host, { idp: fake });
    });
    after(async () => {
      await s?.stop();
      await fake?.close();
    });

    it('a good id_token from the fake issuer signs in (control)', async () => {
      fake.setMode({});
      const c = s.client();
      const r = await s.signIn(c, { login: 'ignored' });
      assert.equal(r.response.status, 302);
      const echo = echoOf(await c.get(s.at('/anything')));
      assert.equal(echo.headers['x-ms-client-principal-id'], 'fake-user');
      const tokenReq = fake.tokenRequests().at(-1);
      assert.ok(tokenReq, 'the module called the token endpoint');
      const form = new URLSearchParams(tokenReq.body);
      assert.equal(form.get('grant_type'), 'authorization_code');
      assert.ok(form.get('code_verifier'), 'PKCE code_verifier sent');
      assert.equal(form.get('client_secret'), 'ezauth-test-secret', 'ClientSecretPost: the secret goes in the body');
    });

    for (const [name, { mode, log }] of Object.entries(CASES)) {
      it(`${name} → callback refused (401/400), nothing stored, the log says why`, async () => {
        fake.setMode(mode);
        const c = s.client();
        const snap = s.snapshot();
        const mark = s.logs().length;
        const r = await s.signIn(c, { login: 'ignored', expectSuccess: false });
        const res = r.response;
        assert.ok([400, 401].includes(res.status), `${name}: expected 401 or 400: ${res.describe()}`);
        const sc = res.setCookies.find((k) => k.name === SESSION_COOKIE && k.value && !(k.maxAge <= 0));
        assert.equal(sc, undefined, `${name}: session cookie set: ${sc && sc.raw}`);
        assert.deepEqual(s.snapshot(), snap, `${name}: the token store changed`);
        const me = await c.get(s.at('/.auth/me'));
        assert.equal(me.status, 401, `${name}: signed in anyway: ${me.describe()}`);
        // give the host a moment to flush its log line
        await new Promise((rr) => setTimeout(rr, 100));
        const lines = s.logs().slice(mark);
        assert.match(lines, log, `${name}: the host log has no reason matching ${log}; it logged:\n${lines || '(nothing)'}`);
      });
    }

    it('after all the forgeries, a good token still signs in', async () => {
      fake.setMode({});
      await s.signIn(s.client(), { login: 'ignored' });
    });
  });
}
