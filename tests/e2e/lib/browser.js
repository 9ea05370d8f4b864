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

/**
 * A sign-in in a fresh Chromium: opens `url` (a protected page), passes oidc-provider's forms
 * as `login` when given (a provider that approves at once needs none), and waits to be back
 * on `url`. Returns {url: where the page ended, echo: the echo app's JSON there, navigations:
 * [{method, url}] of every top-level request on the way (redirects and form posts included)}.
 */
export async function chromiumSignIn(url, { login } = {}) {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const navigations = [];
    page.on('request', (r) => {
      if (r.isNavigationRequest() && r.frame() === page.mainFrame()) navigations.push({ method: r.method(), url: r.url() });
    });
    await page.goto(url);
    if (login) await passIdp(page, new URL(url).origin, login);
    if (page.url() !== url) await page.waitForURL(url, { timeout: 10000 }).catch(() => {});
    const end = page.url();
    const echo = end === url ? JSON.parse(await page.locator('body').innerText()) : null;
    return { url: end, echo, navigations };
  } finally {
    await browser.close();
  }
}
