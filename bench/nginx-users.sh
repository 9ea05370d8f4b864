#!/usr/bin/env bash
# Signed-in requests through nginx with many active users: wrk cycles through N distinct
# session cookies, one user after the other, each user with a token record in the token store
# (the file store unless STORE says otherwise).
# Shows whether throughput holds as a worker sees more users than its caches can keep.
#
#   bench/nginx-users.sh                               USERS=1,10000,100000,1000000
#   CACHE_MB=1536 USERS=1,100000 bench/nginx-users.sh  with "ezauth": {"cacheMegabytes": 1536}
#   STORE=redis USERS=1000 bench/nginx-users.sh     the records in a Redis the script starts
#                                     (Debian's redis-server on a loopback port); STALENESS sets
#                                     its stalenessSeconds (default 1; 0: every request reads
#                                     Redis in nginx's thread pool, a cold cache)
#   STORE=blob USERS=1000 bench/nginx-users.sh      the records in an Azure Blob container of an
#                                     Azurite the script starts (in memory, the npm azurite of
#                                     tests/e2e: `npm ci` there first), configured as App Service
#                                     does: WEBSITE_AUTH_TOKEN_CONTAINER_SASURL (a container SAS
#                                     URL, sp=rwdl) and login.tokenStore.enabled; STALENESS sets
#                                     "ezauth": {"azureBlobStorage": {"stalenessSeconds"}} (default
#                                     2; it must be above 0: 0.001 makes every request revalidate
#                                     its record in nginx's thread pool, a cold cache; at most 60).
#                                     The users are minted through the store at Azurite's pace
#                                     (~50 a second at 1,000): keep USERS in the thousands
#   EZAUTH_LIB=/path/to/libezauth.so bench/nginx-users.sh
#                                     the module with another build of the library (an earlier
#                                     commit, for before/after figures; it must accept the
#                                     configuration: no CACHE_MB for builds without the setting)
#
# The users are minted without an identity provider by examples/mint_sessions.rs (records and
# cookies as a sign-in makes them: 1.35 KB cookies, 2.5 KB of tokens). The file store goes to
# STORE_BASE (default /dev/shm: a million records with an fsync each would take long on a disk).
# One nginx worker pinned to NGINX_CPU (default 0), wrk (one thread, CONNS connections, a Lua
# script reading the cookies line by line and starting over at the end) pinned to WRK_CPU
# (default 1). For each N, ROUNDS rounds (default 3) of: a fresh nginx (empty caches), one
# warm-up pass (each user once, 50,000 requests at least), DURATION (default 5s) measured.
# Unauthenticated requests get 401 here, so a cookie that did not sign in counts as an error
# and stops the script.
# Prints req/s per round, the median, latencies, and the worker's RSS after each round.
#
# Needs: nginx, the built module (make -C native-host), wrk, taskset, cargo, openssl, curl,
# python3 (plus redis-server for STORE=redis, node for STORE=blob).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE="$ROOT/native-host/build/ngx_http_ezauth_module.so"
NGINX="${NGINX:-/usr/sbin/nginx}"

USERS="${USERS:-1,10000,100000,1000000}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5s}"
CONNS="${CONNS:-32}"
CACHE_MB="${CACHE_MB:-}"
STORE_KIND="${STORE:-file}"
STALENESS="${STALENESS:-}"
STORE_BASE="${STORE_BASE:-/dev/shm}"
NGINX_CPU="${NGINX_CPU:-0}"
WRK_CPU="${WRK_CPU:-1}"

die() { echo "bench/nginx-users.sh: $*" >&2; exit 1; }

case "$STORE_KIND" in
    file) ;;
    redis)
        command -v redis-server >/dev/null && command -v redis-cli >/dev/null || die "missing: redis-server, redis-cli"
        STALENESS="${STALENESS:-1}" ;;
    blob)
        AZURITE="$ROOT/tests/e2e/node_modules/azurite/dist/src/blob/main.js"
        command -v node >/dev/null || die "missing: node"
        [ -f "$AZURITE" ] || die "missing: $AZURITE (npm ci in tests/e2e)"
        STALENESS="${STALENESS:-2}" ;;
    *) die "STORE: file, redis or blob, not $STORE_KIND" ;;
esac
for t in wrk taskset openssl curl cargo "$NGINX"; do
    command -v "$t" >/dev/null || die "missing: $t"
done
if [ ! -f "$MODULE" ]; then
    make -C "$ROOT/native-host" nginx >/dev/null || die "cannot build $MODULE"
fi
(cd "$ROOT" && cargo build --release --quiet --example mint_sessions) || die "cannot build mint_sessions"
MINT="$ROOT/target/release/examples/mint_sessions"
LIB_ENV=()
if [ -n "${EZAUTH_LIB:-}" ]; then
    [ -f "$EZAUTH_LIB" ] || die "no such library: $EZAUTH_LIB"
fi

# nginx runs as Debian runs it (as root: "user www-data;"): its workers must be able to enter
# the scratch directory, which /tmp (root-only on some machines) may not allow, and the token
# directory is theirs, as native-host/nginx/README.md makes it
TMP="$(mktemp -d /var/tmp/ezauth-users.XXXXXX)"
chmod 711 "$TMP"
STORE="$(mktemp -d "$STORE_BASE/ezauth-users-tokens.XXXXXX")"
[ "$(id -u)" -ne 0 ] || chown www-data:www-data "$STORE"
NGINX_PID=""
REDIS_PID=""
AZURITE_PID=""
stop_nginx() {
    if [ -n "$NGINX_PID" ]; then
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        NGINX_PID=""
    fi
}
cleanup() {
    stop_nginx
    [ -z "$REDIS_PID" ] || { kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; } || true
    [ -z "$AZURITE_PID" ] || { kill "$AZURITE_PID" 2>/dev/null; wait "$AZURITE_PID" 2>/dev/null; } || true
    rm -rf "$TMP" "$STORE"
}
trap cleanup EXIT

if [ -n "${EZAUTH_LIB:-}" ]; then
    # The module needs the library by its SONAME (libezauth.so.N, N the ABI version: another
    # build must speak the same ABI); a copy by that name in a directory on LD_LIBRARY_PATH
    # comes first (the module's run path is a RUNPATH).
    SONAME="$(readelf -d "$MODULE" | sed -n 's/.*(NEEDED).*\[\(libezauth[^]]*\)\]$/\1/p')"
    [ -n "$SONAME" ] || die "$MODULE needs no libezauth"
    mkdir -p "$TMP/lib" && cp "$EZAUTH_LIB" "$TMP/lib/$SONAME"
    LIB_ENV=(env "LD_LIBRARY_PATH=$TMP/lib")
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
export WEBSITE_AUTH_ENCRYPTION_KEY="$(openssl rand -hex 32)"
export WEBSITE_AUTH_SIGNING_KEY="$(openssl rand -hex 32)"

EZ=()
[ -z "$CACHE_MB" ] || EZ+=("\"cacheMegabytes\": $CACHE_MB")
ENV_LINES=""
if [ "$STORE_KIND" = redis ]; then
    RPORT="$(free_port)"
    redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 50); do
        [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ] && break
        sleep 0.1
    done
    [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ] || die "redis-server did not start: $(cat "$TMP/redis.log")"
    export REDIS_URL="redis://127.0.0.1:$RPORT/0"
    EZ+=("\"tokenStore\": {\"redis\": {\"urlSettingName\": \"REDIS_URL\", \"stalenessSeconds\": $STALENESS}}")
    ENV_LINES="env REDIS_URL;"
fi
TOKEN_STORE="\"enabled\": true, \"fileSystem\": {\"directory\": \"$STORE\"}"
if [ "$STORE_KIND" = blob ]; then
    APORT="$(free_port)"
    node "$AZURITE" --inMemoryPersistence --blobHost 127.0.0.1 --blobPort "$APORT" \
        --disableTelemetry >"$TMP/azurite.log" 2>&1 &
    AZURITE_PID=$!
    # Azurite's well-known account and key; an account SAS makes the container, a container
    # SAS (read, write, delete, list) is the site's setting, signed as tests/support/azurite.rs
    # signs them.
    SAS_URLS="$(python3 - "$APORT" <<'PY'
import base64, hashlib, hmac, sys, urllib.parse
account, port = "devstoreaccount1", sys.argv[1]
key = base64.b64decode("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
sv, st, se, spr = "2023-11-03", "2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "https,http"
def sig(text):
    return urllib.parse.quote(base64.b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()), safe="")
base = f"http://127.0.0.1:{port}/{account}/tokens"
acct = "\n".join([account, "rwdlac", "b", "sco", st, se, "", spr, sv, "", ""])
print(f"{base}?restype=container&sv={sv}&ss=b&srt=sco&sp=rwdlac&st={st}&se={se}&spr=https%2Chttp&sig={sig(acct)}")
cont = "\n".join(["rwdl", st, se, f"/blob/{account}/tokens", "", "", spr, sv, "c"] + [""] * 7)
print(f"{base}?sv={sv}&sr=c&sp=rwdl&st={st}&se={se}&spr=https%2Chttp&sig={sig(cont)}")
PY
)"
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$APORT/" && break
        sleep 0.1
    done
    code="$(curl -s -o "$TMP/container.out" -w '%{http_code}' -X PUT -H 'x-ms-version: 2023-11-03' \
        -H 'Content-Length: 0' "$(sed -n 1p <<<"$SAS_URLS")")" || true
    [ "$code" = 201 ] || die "creating the container: $code $(cat "$TMP/container.out" "$TMP/azurite.log")"
    export WEBSITE_AUTH_TOKEN_CONTAINER_SASURL="$(sed -n 2p <<<"$SAS_URLS")"
    EZ+=("\"azureBlobStorage\": {\"stalenessSeconds\": $STALENESS}")
    ENV_LINES="env WEBSITE_AUTH_TOKEN_CONTAINER_SASURL;"
    TOKEN_STORE="\"enabled\": true"
fi
EXT=""
[ "${#EZ[@]}" -eq 0 ] || EXT=",\"ezauth\": {$(IFS=,; echo "${EZ[*]}")}"
cat >"$TMP/auth.json" <<EOF
{
  "globalValidation": {"requireAuthentication": true, "unauthenticatedClientAction": "Return401"},
  "identityProviders": {"customOpenIdConnectProviders": {"testidp": {"registration": {
    "clientId": "ezauth-test",
    "openIdConnectConfiguration": {"wellKnownOpenIdConfiguration": "http://127.0.0.1:9/.well-known/openid-configuration"}}}}},
  "login": {"tokenStore": {$TOKEN_STORE}},
  "httpSettings": {"requireHttps": false}$EXT
}
EOF

mkdir -p "$TMP/www" "$TMP/tmp"
printf 'hello, world\n' >"$TMP/www/static.txt"
cat >"$TMP/nginx.conf" <<EOF
load_module $MODULE;
daemon off;
master_process on;
worker_processes 1;
$( [ "$(id -u)" -eq 0 ] && echo 'user www-data;' )
error_log $TMP/error.log warn;
pid $TMP/nginx.pid;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
env WEBSITE_AUTH_ENCRYPTION_KEY;
env WEBSITE_AUTH_SIGNING_KEY;
$ENV_LINES
thread_pool default threads=4;
http {
    access_log off;
    client_body_temp_path $TMP/tmp/body;
    proxy_temp_path $TMP/tmp/proxy;
    fastcgi_temp_path $TMP/tmp/fastcgi;
    uwsgi_temp_path $TMP/tmp/uwsgi;
    scgi_temp_path $TMP/tmp/scgi;
    large_client_header_buffers 4 32k;
    client_header_buffer_size 8k;
    keepalive_requests 1000000;
    root $TMP/www;
    server {
        listen 127.0.0.1:$PORT;
        ezauth_config $TMP/auth.json;
    }
}
EOF
"${LIB_ENV[@]}" "$NGINX" -t -p "$TMP" -c "$TMP/nginx.conf" >"$TMP/nginx-t.log" 2>&1 ||
    die "nginx -t: $(cat "$TMP/nginx-t.log")"

# -- the users ------------------------------------------------------------------------------------
MOST="$(tr ',' '\n' <<<"$USERS" | sort -n | tail -1)"
t0=$SECONDS
taskset -c "$WRK_CPU" "$MINT" "$TMP/auth.json" "$MOST" "$TMP/cookies-all.txt" ||
    die "minting $MOST users failed"
# minted here (as root when root): the records go to the workers, as the store's own files are
[ "$(id -u)" -ne 0 ] || chown -R www-data:www-data "$STORE"
STORE_DESC="$STORE_KIND on $STORE_BASE"
[ "$STORE_KIND" = file ] || STORE_DESC="$STORE_KIND, stalenessSeconds $STALENESS"
echo "minted $MOST users in $((SECONDS - t0)) s; store: $STORE_DESC; cacheMegabytes: ${CACHE_MB:-default}${EZAUTH_LIB:+; library: $EZAUTH_LIB}"

# wrk: each request carries the next cookie of the file, starting over at its end.
cat >"$TMP/cycle.lua" <<'EOF'
local f
function init(args)
    f = assert(io.open(os.getenv("BENCH_COOKIES"), "r"))
end
function request()
    local c = f:read("*l")
    if not c then
        f:seek("set", 0)
        c = f:read("*l")
    end
    return wrk.format(nil, nil, { ["Cookie"] = c })
end
EOF
# the same, stopping after BENCH_NREQ responses (the warm-up pass)
cat "$TMP/cycle.lua" >"$TMP/warm.lua"
cat >>"$TMP/warm.lua" <<'EOF'
local done, limit = 0, tonumber(os.getenv("BENCH_NREQ"))
function response(status, headers, body)
    done = done + 1
    if done >= limit then wrk.thread:stop() end
end
EOF

worker_of() { # $1: master pid
    local p
    for p in /proc/[0-9]*; do
        if [ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$1" ]; then echo "${p#/proc/}"; return; fi
    done
}
to_us() {
    awk '{
        v = $1; u = $1; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000; else m = 1;
        printf "%.0f", v * m }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

start_nginx() {
    taskset -c "$NGINX_CPU" "${LIB_ENV[@]}" "$NGINX" -p "$TMP" -c "$TMP/nginx.conf" >"$TMP/nginx.out" 2>&1 &
    NGINX_PID=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/static.txt" && return 0
        sleep 0.1
    done
    die "nginx did not start: $(cat "$TMP/nginx.out" "$TMP/error.log")"
}

printf '\n%-9s %-6s %12s %9s %9s %12s\n' users round 'req/s' 'p50 us' 'p99 us' 'worker RSS'
SUMMARY=()
for n in ${USERS//,/ }; do
    if [ "$n" = "$MOST" ]; then
        cookies="$TMP/cookies-all.txt"
    else
        cookies="$TMP/cookies-$n.txt"
        head -n "$n" "$TMP/cookies-all.txt" >"$cookies"
    fi
    rates=()
    for r in $(seq "$ROUNDS"); do
        start_nginx
        worker="$(worker_of "$NGINX_PID")"
        # one pass over the users, 50,000 requests at least (wrk runs until the script stops it)
        BENCH_COOKIES="$cookies" BENCH_NREQ="$((n > 50000 ? n : 50000))" taskset -c "$WRK_CPU" \
            wrk -t1 -c"$CONNS" -d"$((n / 5000 + 10))s" -s "$TMP/warm.lua" "http://127.0.0.1:$PORT/static.txt" >"$TMP/warm.txt"
        out="$(BENCH_COOKIES="$cookies" taskset -c "$WRK_CPU" \
            wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$TMP/cycle.lua" "http://127.0.0.1:$PORT/static.txt")"
        bad="$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")"
        [ -z "$bad" ] || die "$n users: $bad responses were errors (a session that did not sign in?)"
        rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
        p50="$(awk '$1 == "50%" {print $2}' <<<"$out" | to_us)"
        p99="$(awk '$1 == "99%" {print $2}' <<<"$out" | to_us)"
        rss="$(awk '/^VmRSS:/ {print $2 " " $3}' "/proc/$worker/status")"
        printf '%-9s %-6s %12s %9s %9s %12s\n' "$n" "$r" "$rps" "$p50" "$p99" "$rss"
        rates+=("$rps")
        stop_nginx
    done
    SUMMARY+=("$n $(median "${rates[@]}")")
done

echo
echo "median req/s by active users:"
base=""
for line in "${SUMMARY[@]}"; do
    read -r n rps <<<"$line"
    [ -n "$base" ] || base="$rps"
    awk -v n="$n" -v r="$rps" -v b="$base" 'BEGIN { printf "  %9s users  %10.0f req/s  (%.2f of the first)\n", n, r, r / b }'
done
grep -q '\[alert\]\|\[emerg\]\|\[crit\]' "$TMP/error.log" &&
    { echo "nginx logged errors:"; grep '\[alert\]\|\[emerg\]\|\[crit\]' "$TMP/error.log" | head; }
exit 0
