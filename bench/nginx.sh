#!/usr/bin/env bash
# The cost of ezauth inside nginx, measured with wrk on loopback.
#
#   bench/nginx.sh                      3 interleaved rounds of 5 s per case
#   ROUNDS=5 DURATION=10s bench/nginx.sh
#
# One nginx worker pinned to one core (NGINX_CPU, default 0), wrk (one thread, CONNS
# connections) pinned to another (WRK_CPU, default 1); the cases run interleaved, round after
# round, so that drift (thermal, other load) hits them alike:
#   (a) a small static file, nginx without the module (no load_module at all);
#   (b) the same file, module on, AllowAnonymous (every request goes through begin_request);
#   (c) the same file, signed in by a session cookie, with the token store on: every request
#       opens the session, reads the user's tokens from the file store and adds the
#       X-MS-CLIENT-PRINCIPAL* and X-MS-TOKEN-* headers.
# The session comes from a real sign-in with the e2e IdP (tests/e2e/idp.js, oidc-provider),
# driven by the e2e sign-in helpers. Prints requests/s, ratios (b)/(a) and (c)/(a), latencies,
# and the worker's RSS before and after NREQ (default 100000) signed-in requests and after a
# second such round.
#
# Needs: nginx, the built module (make -C native-host), wrk, taskset, node with tests/e2e's
# node_modules (npm ci in tests/e2e), openssl. Runs as any user that can start nginx on
# unprivileged ports (root is fine). PERF_OUT=/path/perf.data records a perf profile of the
# worker during the last (c) run; KEEP=1 keeps the scratch directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="$ROOT/tests/e2e"
MODULE="$ROOT/native-host/build/ngx_http_ezauth_module.so"
NGINX="${NGINX:-/usr/sbin/nginx}"

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5s}"
CONNS="${CONNS:-32}"
NREQ="${NREQ:-100000}"
NGINX_CPU="${NGINX_CPU:-0}"
WRK_CPU="${WRK_CPU:-1}"

die() { echo "bench/nginx.sh: $*" >&2; exit 1; }

for t in wrk taskset node openssl curl "$NGINX"; do
    command -v "$t" >/dev/null || die "missing: $t"
done
[ -d "$E2E/node_modules/oidc-provider" ] || die "run 'npm ci' in tests/e2e first"
if [ ! -f "$MODULE" ]; then
    make -C "$ROOT/native-host" nginx >/dev/null || die "cannot build $MODULE"
fi
[ "$(nproc)" -ge 2 ] || echo "warning: one CPU only: nginx and wrk share it" >&2

# nginx runs as Debian runs it (as root: "user www-data;"): its workers must be able to enter
# the scratch directory, which /tmp (root-only on some machines) may not allow
TMP="$(mktemp -d /var/tmp/ezauth-bench.XXXXXX)"
chmod 711 "$TMP"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

free_ports() {
    node -e '
        const net = require("net");
        (async () => {
            const out = [];
            for (let i = 0; i < Number(process.argv[1]); i++) {
                out.push(await new Promise((res) => {
                    const s = net.createServer().listen(0, "127.0.0.1", () => {
                        const p = s.address().port; s.close(() => res(p));
                    });
                }));
            }
            console.log(out.join(" "));
        })();' "$1"
}

read -r PORT_A PORT_M IDP_PORT <<<"$(free_ports 3)"
export WEBSITE_AUTH_ENCRYPTION_KEY="$(openssl rand -hex 32)"
export WEBSITE_AUTH_SIGNING_KEY="$(openssl rand -hex 32)"
export TESTIDP_AUTHENTICATION_SECRET=ezauth-test-secret

# -- the identity provider (idle during the measurements; pinned beside wrk) --------------------
taskset -c "$WRK_CPU" node "$E2E/idp.js" --port "$IDP_PORT" \
    --redirect-uri "http://127.0.0.1:$PORT_M/.auth/login/testidp/callback" >"$TMP/idp.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^issuer ' "$TMP/idp.log" && break; sleep 0.1; done
grep -q '^issuer ' "$TMP/idp.log" || die "the IdP did not start: $(cat "$TMP/idp.log")"

# -- configurations ------------------------------------------------------------------------------
mkdir -p "$TMP/www" "$TMP/tmp"
# the token directory as native-host/nginx/README.md makes it: the workers' own
if [ "$(id -u)" -eq 0 ]; then
    install -d -o www-data -g www-data -m 700 "$TMP/tokens"
else
    mkdir -m 700 "$TMP/tokens"
fi
printf 'hello, world\n' >"$TMP/www/static.txt"
node --input-type=module -e "
    import fs from 'node:fs';
    import { testConfig } from '$E2E/lib/config.js';
    const base = { wellKnown: 'http://127.0.0.1:$IDP_PORT/.well-known/openid-configuration',
                   tokenDir: '$TMP/tokens' };
    fs.writeFileSync('$TMP/anon.json', JSON.stringify(testConfig({ ...base, action: 'AllowAnonymous' }), null, 2));
    fs.writeFileSync('$TMP/signed.json', JSON.stringify(testConfig({ ...base, action: 'RedirectToLoginPage' }), null, 2));
"

common_conf() { # $1: name
    cat <<EOF
daemon off;
master_process on;
worker_processes 1;
$( [ "$(id -u)" -eq 0 ] && echo 'user www-data;' )
error_log $TMP/$1-error.log warn;
pid $TMP/$1.pid;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
EOF
}

http_common() { # $1: name
    cat <<EOF
    access_log off;
    client_body_temp_path $TMP/tmp/$1-body;
    proxy_temp_path $TMP/tmp/$1-proxy;
    fastcgi_temp_path $TMP/tmp/$1-fastcgi;
    uwsgi_temp_path $TMP/tmp/$1-uwsgi;
    scgi_temp_path $TMP/tmp/$1-scgi;
    large_client_header_buffers 4 32k;
    client_header_buffer_size 8k;
    keepalive_requests 1000000;
    root $TMP/www;
EOF
}

{
    common_conf a
    echo "http {"
    http_common a
    echo "    server { listen 127.0.0.1:$PORT_A; }"
    echo "}"
} >"$TMP/nginx-a.conf"

{
    echo "load_module $MODULE;"
    common_conf m
    cat <<EOF
env WEBSITE_AUTH_ENCRYPTION_KEY;
env WEBSITE_AUTH_SIGNING_KEY;
env TESTIDP_AUTHENTICATION_SECRET;
thread_pool default threads=4;
EOF
    echo "http {"
    http_common m
    cat <<EOF
    server {
        listen 127.0.0.1:$PORT_M;
        ezauth_config $TMP/signed.json;
        location = /anon/static.txt {
            ezauth_config $TMP/anon.json;
            alias $TMP/www/static.txt;
        }
    }
}
EOF
} >"$TMP/nginx-m.conf"

"$NGINX" -t -p "$TMP" -c "$TMP/nginx-m.conf" >"$TMP/nginx-t.log" 2>&1 || die "nginx -t: $(cat "$TMP/nginx-t.log")"

taskset -c "$NGINX_CPU" "$NGINX" -p "$TMP" -c "$TMP/nginx-a.conf" >"$TMP/a.out" 2>&1 &
PIDS+=($!)
taskset -c "$NGINX_CPU" "$NGINX" -p "$TMP" -c "$TMP/nginx-m.conf" >"$TMP/m.out" 2>&1 &
PIDS+=($!)
MASTER_M=$!

for port in "$PORT_A" "$PORT_M"; do
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/static.txt" && break
        sleep 0.1
    done
done

# -- a real sign-in: the session cookie for (c) --------------------------------------------------
COOKIE="$(taskset -c "$WRK_CPU" node --input-type=module -e "
    import { Client } from '$E2E/lib/http.js';
    import { signIn } from '$E2E/lib/flow.js';
    const c = new Client();
    await signIn(c, 'http://127.0.0.1:$PORT_M', { login: 'bench-user', prompt: 'consent', target: '/static.txt' });
    // only the module's cookies (the jar keys cookies by host, so the IdP's would come along)
    const mine = c.jar.matching('http://127.0.0.1:$PORT_M/static.txt').filter((k) => k.name.startsWith('AppServiceAuthSession'));
    console.log(mine.map((k) => k.name + '=' + k.value).join('; '));
")"
[ -n "$COOKIE" ] || die "sign-in produced no session cookie"

URL_A="http://127.0.0.1:$PORT_A/static.txt"
URL_B="http://127.0.0.1:$PORT_M/anon/static.txt"
URL_C="http://127.0.0.1:$PORT_M/static.txt"

check() { # $1 url, $2 expected status, rest: curl args
    local url="$1" want="$2" got
    shift 2
    got="$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")"
    [ "$got" = "$want" ] || die "$url: $got, expected $want"
}
check "$URL_A" 200
check "$URL_B" 200
check "$URL_C" 200 -H "Cookie: $COOKIE"
check "$URL_C" 302                       # not signed in: off to the IdP
check "http://127.0.0.1:$PORT_M/.auth/me" 200 -H "Cookie: $COOKIE"
[ -n "$(ls -A "$TMP/tokens")" ] || die "the token store is empty after the sign-in"

worker_of() { # $1: master pid
    local p
    for p in /proc/[0-9]*; do
        if [ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$1" ]; then echo "${p#/proc/}"; return; fi
    done
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

WORKER_M="$(worker_of "$MASTER_M")"
[ -n "$WORKER_M" ] || die "no worker for the module's nginx"

# -- measurements --------------------------------------------------------------------------------
# wrk's summary -> "rps avg_us p50_us p99_us non2xx"
to_us() {
    awk '{
        v = $1; u = $1; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000; else m = 1;
        printf "%.0f", v * m }'
}
run_wrk() { # $1 url, rest: wrk args
    local url="$1" out rps avg p50 p99 bad
    shift
    out="$(taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@" "$url")"
    rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
    avg="$(awk '$1 == "Latency" {print $2; exit}' <<<"$out" | to_us)"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out" | to_us)"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out" | to_us)"
    bad="$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")"
    echo "$rps $avg $p50 $p99 ${bad:-0}"
}

echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), ezauth module, 1 worker on CPU $NGINX_CPU; wrk -t1 -c$CONNS -d$DURATION on CPU $WRK_CPU; $ROUNDS rounds"
echo "warm-up..."
run_wrk "$URL_A" >/dev/null
run_wrk "$URL_B" >/dev/null
run_wrk "$URL_C" -H "Cookie: $COOKIE" >/dev/null

declare -a RA RB RC RD
printf '\n%-6s %-34s %12s %9s %9s %9s\n' round case 'req/s' 'avg us' 'p50 us' 'p99 us'
for r in $(seq "$ROUNDS"); do
    for c in a d b c; do
        case $c in
            a) res="$(run_wrk "$URL_A")"; label='(a) static, no module' ;;
            d) res="$(run_wrk "$URL_A" -H "Cookie: $COOKIE")"; label="(a') as (a), with (c)'s Cookie" ;;
            b) res="$(run_wrk "$URL_B")"; label='(b) module, AllowAnonymous' ;;
            c)
                if [ -n "${PERF_OUT:-}" ] && [ "$r" = "$ROUNDS" ]; then
                    # PERF_OUT=file: a perf profile of the worker during the last (c)
                    perf record -q -g -p "$WORKER_M" -o "$PERF_OUT" -- sleep "${DURATION%s}" >/dev/null 2>&1 &
                    PIDS+=($!)
                fi
                res="$(run_wrk "$URL_C" -H "Cookie: $COOKIE")"; label='(c) signed in, token headers' ;;
        esac
        read -r rps avg p50 p99 bad <<<"$res"
        [ "$bad" = 0 ] || die "$label: $bad responses were not 2xx/3xx"
        printf '%-6s %-34s %12s %9s %9s %9s\n' "$r" "$label" "$rps" "$avg" "$p50" "$p99"
        case $c in a) RA+=("$rps") ;; b) RB+=("$rps") ;; c) RC+=("$rps") ;; d) RD+=("$rps") ;; esac
    done
done

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
MA="$(median "${RA[@]}")"
MB="$(median "${RB[@]}")"
MC="$(median "${RC[@]}")"
MD="$(median "${RD[@]}")"
echo
echo "median req/s: (a) $MA  (a') $MD  (b) $MB  (c) $MC"
awk -v a="$MA" -v b="$MB" -v c="$MC" -v d="$MD" 'BEGIN { printf "ratio (b)/(a) = %.3f\nratio (c)/(a) = %.3f   (target >= 0.85)\nratio (c)/(a\x27) = %.3f   (the module alone: same request bytes)\n", b / a, c / a, c / d }'

# -- memory: NREQ signed-in requests, twice ------------------------------------------------------
cat >"$TMP/count.lua" <<'EOF'
local done = 0
local limit = tonumber(os.getenv("BENCH_NREQ"))
response = function(status, headers, body)
    done = done + 1
    if done >= limit then wrk.thread:stop() end
end
EOF
# wrk always runs for its whole -d; the script stops each chunk at its share of requests
signed_in_requests() { # $1: how many; prints how many were made
    local want="$1" done_=0 chunk secs n i
    for i in $(seq 20); do
        [ "$done_" -lt "$want" ] || break
        chunk=$((want - done_))
        secs="$(awk -v n="$chunk" -v r="$MC" 'BEGIN { s = int(n / r * 1.15) + 1; print (s < 1) ? 1 : s }')"
        BENCH_NREQ="$chunk" taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${secs}s" -s "$TMP/count.lua" \
            -H "Cookie: $COOKIE" "$URL_C" >"$TMP/rss-wrk.txt"
        n="$(awk '/requests in/ {print $1}' "$TMP/rss-wrk.txt")"
        done_=$((done_ + ${n:-0}))
    done
    echo "$done_"
}
rss0="$(rss_kb "$WORKER_M")"
n1="$(signed_in_requests "$NREQ")"
rss1="$(rss_kb "$WORKER_M")"
n2="$(signed_in_requests "$NREQ")"
rss2="$(rss_kb "$WORKER_M")"
echo
echo "worker RSS: before ${rss0} kB; after $n1 signed-in requests ${rss1} kB; after $n2 more ${rss2} kB" \
    "(second round: $((rss2 - rss1)) kB)"
[ "$(cat "$TMP"/m-error.log | grep -c '\[alert\]\|\[emerg\]\|\[crit\]')" = 0 ] ||
    { echo "nginx logged errors:"; grep '\[alert\]\|\[emerg\]\|\[crit\]' "$TMP/m-error.log" | head; }
