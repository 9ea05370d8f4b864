// The local GitHub (lib/fake-github.js) as a standalone server, for demo/run.sh:
//   node tests/e2e/fake-github-server.js --port 0 --callback http://127.0.0.1:8080/.auth/login/github/callback
// prints "github <origin> <client id> <client secret>" once it listens; Ctrl-C stops it.
import { startFakeGitHub } from './lib/fake-github.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

const gh = await startFakeGitHub({ port: Number(arg('port', '0')) });
gh.register(arg('callback', ''));
console.log(`github ${gh.origin} ${gh.clientId} ${gh.clientSecret}`);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await gh.close();
    process.exit(0);
  });
}
