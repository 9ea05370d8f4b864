#!/usr/bin/env bash
# Follows native-host/nginx/README.md, "Try it in the foreground", literally, and signs a user in
# through it: the section's two shell blocks are taken from the README itself and run as they
# are written, in one shell, as root (as the README says): nginx as Debian runs it (master root,
# "user www-data;"), the token directory made by the README's install -d, keys from
# "ezauth keygen", the repository's OpenID provider, "ezauth check-config --user www-data".
#
# What this script does besides (each a step the README leaves to the reader):
#   - the first line of the first block names the checkout and the ports; the README says to
#     replace them ("Replace /opt/ezauth with your checkout, and the ports with free ones"):
#     this script puts in its checkout and free ports;
#   - where the README says "open http://127.0.0.1:8080/ in a browser and sign in", a Node
#     client follows the same pages (tests/e2e/lib/flow.js: the provider's login and consent
#     forms), then checks the app's page (the X-MS-CLIENT-PRINCIPAL-* headers the app got),
#     /.auth/me, and that the token files and the workers belong to www-data;
#   - on a failure it shows the logs and does what the README's last block does (stop nginx,
#     the app and the provider; remove the scratch directory).
# Nothing is installed under /etc: the README's foreground setup lives in a scratch directory
# under /var/tmp, and nginx runs with -p/-c on it. systemd is not needed.
#
#   tests/readme-nginx.sh     (as root; after make -C native-host and npm ci in tests/e2e)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
README="$ROOT/native-host/nginx/README.md"
FIRST_LINE='EZAUTH=/opt/ezauth PORT=8080 APP_PORT=3000 IDP_PORT=4000'

fail() { echo "readme-nginx: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root: the README's steps are run as root (sudo -s)"
for f in /usr/sbin/nginx "$ROOT/native-host/build/ngx_http_ezauth_module.so" \
    "$ROOT/target/release/ezauth" "$ROOT/tests/e2e/node_modules/oidc-provider"; do
    [ -e "$f" ] || fail "$f is missing: build (make -C native-host) and npm ci in tests/e2e first"
done
for t in node python3 curl install; do
    command -v "$t" >/dev/null || fail "$t is needed"
done

# The N-th ```sh block of the section.
block() {
    awk -v n="$1" '
        /^## / { in_section = ($0 == "## Try it in the foreground") }
        in_section && !in_block && $0 == "```sh" { count++; if (count == n) { in_block = 1; next } }
        in_block && $0 == "```" { exit }
        in_block { print }
    ' "$README"
}
SETUP="$(block 1)"
STOP="$(block 2)"
[ -n "$SETUP" ] && [ -n "$STOP" ] || fail "the README has no two sh blocks under \"Try it in the foreground\""
[ "$(printf '%s\n' "$SETUP" | head -n1)" = "$FIRST_LINE" ] ||
    fail "the README's first line is no longer \"$FIRST_LINE\": update this script"

free_port() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
PORTS="EZAUTH=$ROOT PORT=$(free_port) APP_PORT=$(free_port) IDP_PORT=$(free_port)"
SETUP="$PORTS"$'\n'"$(printf '%s\n' "$SETUP" | tail -n +2)"

SIGN_IN="$(cat <<'SIGN_IN_SCRIPT'
# --- in place of the browser: sign in, read the app's page and /.auth/me ---
RUN="$PWD"
ORIGIN="http://127.0.0.1:$PORT" E2E="$EZAUTH/tests/e2e" node --input-type=module -e '
import assert from "node:assert/strict";
const { Client } = await import(`${process.env.E2E}/lib/http.js`);
const { signIn, decodePrincipal } = await import(`${process.env.E2E}/lib/flow.js`);
const origin = process.env.ORIGIN;
const client = new Client();
// as a browser opening the app: redirected to the provider, its login and consent forms, back
const r = await signIn(client, origin, { startUrl: `${origin}/`, login: "readme-user", password: "any" });
assert.equal(r.location, `${origin}/`, "back at the page first asked for");
const page = await client.get(r.location);
assert.equal(page.status, 200, page.describe());
const headers = Object.fromEntries(
  page.text.split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 2)]),
);
assert.equal(headers["x-ms-client-principal-id"], "readme-user", page.text);
assert.equal(headers["x-ms-client-principal-idp"], "testidp", page.text);
assert.ok(headers["x-ms-client-principal-name"], page.text);
const principal = decodePrincipal(headers["x-ms-client-principal"]);
const isUser = (c) => /(^sub|\/nameidentifier)$/.test(c.typ) && c.val === "readme-user";
assert.ok(principal.claims.some(isUser), JSON.stringify(principal));
const me = await client.get(`${origin}/.auth/me`);
assert.equal(me.status, 200, me.describe());
const [entry] = me.json();
assert.equal(entry.provider_name, "testidp");
assert.ok(entry.user_claims.some(isUser), me.text);
console.log(`readme-nginx: signed in as ${headers["x-ms-client-principal-name"]}; the app got X-MS-CLIENT-PRINCIPAL-*; /.auth/me 200`);
'
# the workers run as www-data, and every file of the token store is theirs
for w in $(ps -o pid= --ppid "$(cat nginx.pid)"); do
    [ "$(ps -o user= -p "$w")" = www-data ] || { echo "readme-nginx: worker $w is not www-data" >&2; exit 1; }
done
[ -n "$(find tokens -mindepth 1 -print -quit)" ] || { echo "readme-nginx: the token store is empty" >&2; exit 1; }
[ -z "$(find tokens -mindepth 1 ! -user www-data -print -quit)" ] ||
    { echo "readme-nginx: files in tokens not owned by www-data:" >&2; find tokens ! -user www-data -ls >&2; exit 1; }
if grep -E 'Permission denied|\[(emerg|alert|crit)\]' error.log; then
    echo "readme-nginx: nginx logged the above" >&2
    exit 1
fi
NGINX_PID="$(cat nginx.pid)"
# --- end of the browser's part ---
SIGN_IN_SCRIPT
)"

AFTER="$(cat <<'AFTER_SCRIPT'
# --- the README's last block has run: everything stopped and removed ---
kill -0 "$NGINX_PID" 2>/dev/null && { echo "readme-nginx: nginx still runs" >&2; exit 1; }
[ ! -e "$RUN" ] || { echo "readme-nginx: $RUN is still there" >&2; exit 1; }
trap - EXIT
echo "readme-nginx: OK"
AFTER_SCRIPT
)"

# On a failure: the logs, then what the README's last block does.
ON_FAILURE="$(cat <<'ON_FAILURE_SCRIPT'
on_exit() {
    status=$?
    set +e
    [ "$status" -eq 0 ] && return
    case "$PWD" in
        /var/tmp/ezauth-try-*)
            for f in error.log app.log idp.log; do
                [ -f "$f" ] && { echo "--- $f" >&2; tail -n 40 "$f" >&2; }
            done
            [ -f nginx.pid ] && kill "$(cat nginx.pid)" 2>/dev/null
            kill ${APP:-} ${IDP:-} 2>/dev/null
            wait
            d="$PWD"; cd / && rm -rf "$d"
            ;;
    esac
    echo "readme-nginx: FAILED ($status)" >&2
}
trap on_exit EXIT
ON_FAILURE_SCRIPT
)"

SCRIPT="$(mktemp /var/tmp/ezauth-readme-nginx-XXXXXX.sh)"
trap 'rm -f "$SCRIPT"' EXIT
printf '%s\n' "set -euo pipefail" "$ON_FAILURE" "$SETUP" "$SIGN_IN" "$STOP" "$AFTER" >"$SCRIPT"
bash "$SCRIPT"
