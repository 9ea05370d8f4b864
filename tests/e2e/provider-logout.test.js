// Logout also ends the provider's session (RP-initiated logout) where the provider signs out
// too: Azure AD by default, as App Service does, any provider with ezauth.signOutAtProvider.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostsUnderTest } from './lib/hosts/index.js';
import { startStack } from './lib/stack.js';
import { Client, parseForms, isCookieDeletion } from './lib/http.js';
import { SESSION_COOKIE } from './lib/flow.js';

const hosts = await hostsUnderTest();

for (const host of hosts) {
  describe(`sign-out at the provider [${host.name}]`, () => {
    let s;
    before(async () => {
      s = await startStack(host, { provider: 'aad' });
    });
    after(async () => {
      await s?.stop();
    });

    it('logout goes through the end-session endpoint with id_token_hint and comes back signed out', async () => {
      const c = s.client();
      await s.signIn(c, { login: 'leaver' });
      assert.equal(s.tokenFiles().length, 1);
      const copy = c.jar.clone();

      const res = await c.get(s.at('/.auth/logout'));
      assert.equal(res.status, 302, res.describe());
      const loc = new URL(res.location);
      assert.equal(loc.origin, new URL(s.idp.issuer).origin, `not sent to the IdP: ${res.location}`);
      assert.equal(loc.searchParams.get('post_logout_redirect_uri'), s.at('/.auth/logout/complete'));
      assert.equal(loc.searchParams.get('client_id'), 'ezauth-test');
      assert.ok(loc.searchParams.get('id_token_hint'), 'id_token_hint missing');
      assert.ok(res.setCookies.some((x) => x.name === SESSION_COOKIE && isCookieDeletion(x)), 'session cookie not cleared');
      // the tokens are gone and the session is revoked: a copy of the cookie reads nothing
      const me = await new Client({ jar: copy }).get(s.at('/.auth/me'));
      assert.equal(me.status, 401, `tokens not deleted or session not revoked: ${me.describe()}`);

      // the IdP asks for confirmation, then returns to the module's signed-out page
      const page = await c.get(res.location);
      assert.equal(page.status, 200, page.describe());
      const form = parseForms(page.text, page.url).find((f) => f.method === 'POST');
      assert.ok(form, `no logout form at the IdP: ${page.text.slice(0, 300)}`);
      const confirmed = await c.post(form.action, { form: { ...form.inputs, logout: 'yes' } });
      assert.ok([302, 303].includes(confirmed.status), confirmed.describe());
      assert.equal(confirmed.location, s.at('/.auth/logout/complete'));
      assert.equal((await c.get(confirmed.location)).status, 200);

      // the IdP's own session is gone: a new login asks for credentials again
      const again = await c.get(s.at('/.auth/login/aad'));
      const idpPage = await c.get(again.location);
      const interaction = idpPage.status === 303 || idpPage.status === 302 ? await c.get(idpPage.location) : idpPage;
      assert.match(interaction.text, /name="login"/, 'the IdP still had a session');
    });

    it('a custom provider signs out only locally unless ezauth.signOutAtProvider is set', async () => {
      const local = await startStack(host);
      try {
        const c = local.client();
        await local.signIn(c, { login: 'stayer' });
        const res = await c.get(local.at('/.auth/logout'));
        assert.equal(res.location, local.at('/.auth/logout/complete'));
      } finally {
        await local.stop();
      }
    });
  });
}
