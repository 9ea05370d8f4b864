// Headless Chromium for the browser scenarios: playwright-core drives the Debian `chromium`
// package (set CHROMIUM=/path/to/chrome to use another). Without one the scenarios are skipped,
// unless EZAUTH_E2E_REQUIRE_BROWSER=1 (CI sets it).
import fs from 'node:fs';

export function findChromium() {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  return candidates.find((p) => p && fs.existsSync(p)) || null;
}

export const chromiumPath = findChromium();

/** `describe(..., { skip })`: false, or why the browser scenarios cannot run. */
export const skipWithoutBrowser =
  !chromiumPath && process.env.EZAUTH_E2E_REQUIRE_BROWSER !== '1' ? 'no Chromium installed (apt-get install chromium)' : false;

/**
 * A fresh headless Chromium (its own temporary profile; nothing reaches out). `args`: more
 * command-line switches (e.g. `--host-resolver-rules=MAP app.example.test 127.0.0.1`).
 */
export async function launchChromium({ args = [] } = {}) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...args,
    ],
  });
}

/** Fills oidc-provider's devInteractions login form and its consent form, if shown. */
export async function passIdp(page, origin, login) {
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any password');
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
  if (new URL(page.url()).origin !== origin) {
    await Promise.all([page.waitForURL((u) => u.origin === origin), page.click('button[type=submit]')]);
  }
}
