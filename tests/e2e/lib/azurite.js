// A real Azurite (the npm `azurite`, blob service, in memory) on a loopback port, as
// tests/support/azurite.rs starts it for the Rust tests: containers are made with an account
// SAS, and container SAS URLs are minted with the emulator's well-known key by the documented
// algorithm (HMAC-SHA256 over the string-to-sign; reference notes §8.4).
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnCaptured } from './proc.js';

export const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const SV = '2023-11-03';
const START = '2020-01-01T00:00:00Z';
const EXPIRY = '2099-01-01T00:00:00Z';
const SPR = 'https,http';
const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '../node_modules/azurite/dist/src/blob/main.js');

const sign = (stringToSign) => encodeURIComponent(crypto.createHmac('sha256', Buffer.from(KEY, 'base64')).update(stringToSign).digest('base64'));

/** An account SAS allowing container creation (string-to-sign for sv >= 2020-12-06). */
function accountSas() {
  const [sp, ss, srt] = ['rwdlac', 'b', 'sco'];
  const toSign = `${ACCOUNT}\n${sp}\n${ss}\n${srt}\n${START}\n${EXPIRY}\n\n${SPR}\n${SV}\n\n`;
  return `sv=${SV}&ss=${ss}&srt=${srt}&sp=${sp}&st=${START}&se=${EXPIRY}&spr=${encodeURIComponent(SPR)}&sig=${sign(toSign)}`;
}

/** A service SAS for one container (`sr=c`) granting `sp` (`rwl`, `rwdl`...). */
function containerSas(container, sp) {
  // sp, st, se, resource, si, sip, spr, sv, sr, snapshot time, ses, rscc, rscd, rsce, rscl, rsct
  const toSign = [sp, START, EXPIRY, `/blob/${ACCOUNT}/${container}`, '', '', SPR, SV, 'c', '', '', '', '', '', '', ''].join('\n');
  return `sv=${SV}&sr=c&sp=${sp}&st=${START}&se=${EXPIRY}&spr=${encodeURIComponent(SPR)}&sig=${sign(toSign)}`;
}

/** Azurite's blob service on 127.0.0.1:port; resolves once it listens, throws if it exits first. */
async function spawnAzurite(port, ms = 20000) {
  const proc = spawnCaptured(['node', MAIN, '--inMemoryPersistence', '--blobHost', '127.0.0.1', '--blobPort', String(port), '--disableTelemetry']);
  const until = Date.now() + ms;
  while (!proc.output().includes(`listens on http://127.0.0.1:${port}`)) {
    if (proc.exited() || Date.now() > until) {
      await proc.terminate();
      throw new Error(`azurite did not start on ${port}: ${proc.output().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return proc;
}

/**
 * Azurite on `port`: {base, create(container), sasUrl(container, sp), stop(), restart()}.
 * stop() is an outage; restart() starts it again on the same port, empty (in memory), so the
 * caller makes its containers again.
 */
export async function startAzurite(port) {
  let proc = await spawnAzurite(port);
  const base = `http://127.0.0.1:${port}/${ACCOUNT}`;
  return {
    base,
    output: () => proc.output(),
    async create(container) {
      const r = await fetch(`${base}/${container}?restype=container&${accountSas()}`, { method: 'PUT', headers: { 'x-ms-version': SV } });
      if (r.status !== 201 && r.status !== 409) throw new Error(`creating container ${container}: ${r.status} ${await r.text()}`);
    },
    sasUrl: (container, sp) => `${base}/${container}?${containerSas(container, sp)}`,
    stop: () => proc.terminate(),
    async restart() {
      await proc.terminate();
      // The port may linger a moment after the kill.
      for (let i = 0; ; i++) {
        try {
          proc = await spawnAzurite(port);
          return;
        } catch (e) {
          if (i >= 20) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
  };
}
