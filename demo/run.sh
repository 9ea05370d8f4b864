#!/usr/bin/env bash
# The ezauth demo: a test OpenID provider, a local GitHub (OAuth 2.0, following GitHub's
# documented endpoints) and the C host with the module in-process, in front of its built-in
# echo app, all on loopback, with fresh keys and a file token store in a temp dir.
#
#   demo/run.sh            then open the printed URL; any user name and password signs in
#   PORT=8080 demo/run.sh  choose the host's port (default: a free one); IDP_PORT likewise
#   EZAUTH_HOST_BIN=...    use an already built host instead of running make
#
# Ctrl-C stops everything and removes the temp dir.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="$ROOT/tests/e2e"
HOST_BIN="${EZAUTH_HOST_BIN:-$ROOT/native-host/build/ezauth-host}"

command -v node >/dev/null || { echo "demo: node (20 or later) is needed" >&2; exit 1; }

if [ -z "${EZAUTH_HOST_BIN:-}" ]; then
    echo "demo: building the library and the C host (make -C native-host) ..."
    make -s -C "$ROOT/native-host" >/dev/null
fi
[ -x "$HOST_BIN" ] || { echo "demo: $HOST_BIN was not built" >&2; exit 1; }
if [ ! -d "$E2E/node_modules/oidc-provider" ]; then
    echo "demo: installing the test identity provider (npm ci in tests/e2e) ..."
    (cd "$E2E" && npm ci --no-audit --no-fund >/dev/null)
fi

mkdir -p "$ROOT/demo/.run"
RUN="$(mktemp -d "$ROOT/demo/.run/demo-XXXXXX")"
mkdir -p "$RUN/tokens"
IDP_PID=""
GITHUB_PID=""
HOST_PID=""
TAIL_PID=""

cleanup() {
    trap - EXIT INT TERM
    for pid in $TAIL_PID $HOST_PID $GITHUB_PID $IDP_PID; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $TAIL_PID $HOST_PID $GITHUB_PID $IDP_PID; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$RUN"
    echo
    echo "demo: stopped."
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE PATTERN PID WHAT: wait until FILE has a line matching PATTERN
wait_for() {
    local i
    for i in $(seq 1 200); do
        if grep -q "$2" "$1" 2>/dev/null; then return 0; fi
        if ! kill -0 "$3" 2>/dev/null; then
            echo "demo: $4 exited; its output:" >&2
            cat "$1" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "demo: $4 did not start in 20 s; its output:" >&2
    cat "$1" >&2
    return 1
}

# The host's port first: the IdP must know the redirect URI.
HOST_PORT="${PORT:-$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')}"
ORIGIN="http://127.0.0.1:$HOST_PORT"

node "$E2E/idp.js" --port "${IDP_PORT:-0}" \
    --redirect-uri "$ORIGIN/.auth/login/testidp/callback" >"$RUN/idp.log" 2>&1 &
IDP_PID=$!
wait_for "$RUN/idp.log" '^issuer ' "$IDP_PID" "the identity provider"
ISSUER="$(sed -n 's/^issuer //p' "$RUN/idp.log" | head -n1)"

node "$E2E/fake-github-server.js" --port "${GITHUB_PORT:-0}" \
    --callback "$ORIGIN/.auth/login/github/callback" >"$RUN/github.log" 2>&1 &
GITHUB_PID=$!
wait_for "$RUN/github.log" '^github ' "$GITHUB_PID" "the local GitHub"
read -r _ GITHUB_ORIGIN GITHUB_CLIENT_ID GITHUB_SECRET < <(grep '^github ' "$RUN/github.log" | head -n1)

cat >"$RUN/authsettings.json" <<EOF
{
  "platform": { "enabled": true },
  "globalValidation": {
    "requireAuthentication": true,
    "unauthenticatedClientAction": "RedirectToLoginPage",
    "redirectToProvider": "testidp",
    "excludedPaths": ["/public/*", "/health"]
  },
  "identityProviders": {
    "customOpenIdConnectProviders": {
      "testidp": {
        "enabled": true,
        "registration": {
          "clientId": "ezauth-test",
          "clientCredential": { "method": "ClientSecretPost", "clientSecretSettingName": "TESTIDP_AUTHENTICATION_SECRET" },
          "openIdConnectConfiguration": { "wellKnownOpenIdConfiguration": "$ISSUER/.well-known/openid-configuration" }
        },
        "login": { "nameClaimType": "name", "scopes": ["openid", "profile", "email", "offline_access"] }
      }
    },
    "gitHub": {
      "enabled": true,
      "registration": { "clientId": "$GITHUB_CLIENT_ID", "clientSecretSettingName": "GITHUB_PROVIDER_AUTHENTICATION_SECRET" },
      "login": { "scopes": ["user:email"] }
    }
  },
  "login": {
    "tokenStore": { "enabled": true, "fileSystem": { "directory": "$RUN/tokens" } },
    "allowedExternalRedirectUrls": []
  },
  "httpSettings": { "requireHttps": false },
  "ezauth": {
    "httpTimeoutSeconds": 10, "httpConnectTimeoutSeconds": 5,
    "providers": { "github": {
      "authorizationEndpoint": "$GITHUB_ORIGIN/login/oauth/authorize",
      "tokenEndpoint": "$GITHUB_ORIGIN/login/oauth/access_token",
      "apiEndpoint": "$GITHUB_ORIGIN/api/v3"
    } }
  }
}
EOF

hexkey() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

WEBSITE_AUTH_ENCRYPTION_KEY="$(hexkey)" \
WEBSITE_AUTH_SIGNING_KEY="$(hexkey)" \
TESTIDP_AUTHENTICATION_SECRET="ezauth-test-secret" \
GITHUB_PROVIDER_AUTHENTICATION_SECRET="$GITHUB_SECRET" \
    "$HOST_BIN" -l "127.0.0.1:$HOST_PORT" -c "$RUN/authsettings.json" >"$RUN/host.log" 2>&1 &
HOST_PID=$!
wait_for "$RUN/host.log" 'listening on' "$HOST_PID" "the ezauth host"

cat <<EOF

  ezauth demo is running.

    Open  $ORIGIN/
          You are sent to the identity provider ($ISSUER) to sign in:
          any user name and any password work. Then the echo app shows the request as the
          app sees it, with the X-MS-CLIENT-PRINCIPAL* and X-MS-TOKEN-TESTIDP-* headers.

    Also  $ORIGIN/.auth/me          your claims and tokens (from the file token store)
          $ORIGIN/.auth/logout      sign out
          $ORIGIN/public/hello      an excluded path: no sign-in needed
          $ORIGIN/.auth/login/testidp?prompt=consent   sign in again, granting a refresh token
          $ORIGIN/.auth/login/github   sign in with the local GitHub instead ($GITHUB_ORIGIN,
                                       OAuth 2.0: user "octocat", X-MS-TOKEN-GITHUB-ACCESS-TOKEN)

    Tokens are stored encrypted under $RUN/tokens
    Ctrl-C stops the demo.

  host log:
EOF

tail -n +2 -f "$RUN/host.log" &
TAIL_PID=$!

# Wait until one of the services ends (or Ctrl-C).
while kill -0 "$HOST_PID" 2>/dev/null && kill -0 "$IDP_PID" 2>/dev/null &&
    kill -0 "$GITHUB_PID" 2>/dev/null; do
    sleep 1
done
echo "demo: a service stopped unexpectedly" >&2
exit 1
