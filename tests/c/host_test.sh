#!/bin/sh
# Smoke test of the C host: starts ezauth-host (echo app, minimal configuration) on a free
# loopback port and checks it with curl, and with raw bytes from python3 where curl cannot
# send them (identity headers with non-UTF-8 values, obs-fold lines, control bytes in names).
#
#     tests/c/host_test.sh [path/to/ezauth-host]
#
# EZAUTH_HEADER_SHIM names build/libezauth_header_shim.so (tests/c/header_shim.c): with it,
# the host runs again with the shim preloaded, which slips an invalid header into the
# library's answers, to check that the host never writes one.
#
# Exit status 0 when every check passes.

set -u

HOST_BIN=${1:-$(dirname "$0")/../../native-host/build/ezauth-host}
SHIM=${EZAUTH_HEADER_SHIM:-}
TMP=$(mktemp -d /tmp/ezauth-host-test.XXXXXX)
PID=
UP_PID=
FAILED=0
PASSED=0

cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -KILL "$PID" 2>/dev/null
    fi
    if [ -n "$UP_PID" ]; then
        kill "$UP_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ok()   { PASSED=$((PASSED + 1)); printf "ok   %s\n" "$1"; }
fail() { FAILED=$((FAILED + 1)); printf "FAIL %s\n" "$1"; [ $# -gt 1 ] && printf "     %s\n" "$2"; }

check() {   # check NAME COMMAND...: passes when the command succeeds
    name=$1; shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}

command -v curl >/dev/null || { echo "host_test: curl is required" >&2; exit 2; }
command -v python3 >/dev/null || { echo "host_test: python3 is required" >&2; exit 2; }
[ -x "$HOST_BIN" ] || { echo "host_test: no host binary at $HOST_BIN" >&2; exit 2; }

cat > "$TMP/auth.json" <<'EOF'
{"platform":{"enabled":true},"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"},"httpSettings":{"requireHttps":false}}
EOF
export WEBSITE_AUTH_ENCRYPTION_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
export WEBSITE_AUTH_SIGNING_KEY=ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100

# The raw-bytes client. "raw.py reserved PORT" sends every spelling of an identity header
# with every kind of value, one request each, then all at once; "raw.py invalid PORT" sends
# header names that are not tokens; "raw.py recorded FILE" checks what an upstream received.
# Each prints one "ok ..." or "FAIL ..." line per check.
cat > "$TMP/raw.py" <<'EOF'
import json, socket, sys

PREFIXES = (b"x-ms-client-principal", b"x-ms-token-")
NAMES = [b"X-MS-CLIENT-PRINCIPAL", b"X-MS-CLIENT-PRINCIPAL-NAME", b"x_ms_client_principal_name",
         b"X-Ms-Token-Aad-Access-Token", b"X_MS_TOKEN_AAD_ID_TOKEN", b"x-ms-client-principal-idp",
         b"X-MS-CLIENT-PRINCIPAL-ID", b"x-MS_client-PRINCIPAL_new"]
VALUES = [b"forged-ascii", b"forged\xff", b"\xffforged", b"forged\x00tail",
          b"forged caf\xe9 \x80\x81\xfe", b"forged\xc3\x28", b"forged\x01\x7f"]
# header lines that are not "token: value": the host answers 400 before the module runs
INVALID = [b" X-MS-CLIENT-PRINCIPAL-NAME: forged\r\n",
           b"\tX-MS-TOKEN-AAD-ACCESS-TOKEN: forged\r\n",
           b"X-A: b\r\n X-MS-CLIENT-PRINCIPAL-NAME: forged\r\n",
           b"X-A: b\r\n\tx_ms_token_aad_access_token: forged\r\n",
           b"X-MS-CLIENT-PRINCIPAL-NAME : forged\r\n",
           b"X-MS-CLIENT-PRINCIPAL-NAME\t: forged\r\n",
           b"X-\x01MS-CLIENT-PRINCIPAL-NAME: forged\r\n",
           b"X-MS\x7f: forged\r\n",
           b"X-M\xffS-TOKEN-AAD-ACCESS-TOKEN: forged\r\n",
           b"X(MS): forged\r\n"]


def reserved(name):
    return name.lstrip(b" \t\r\n").lower().replace(b"_", b"-").startswith(PREFIXES)


def exchange(port, path, lines):
    # the lines come first: a leading space makes an obs-fold line of the request line's next
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"GET " + path + b" HTTP/1.1\r\n" + lines + b"Host: 127.0.0.1\r\n"
              + b"Connection: close\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    status = int(data[9:12]) if data.startswith(b"HTTP/1.") else 0
    return status, data.partition(b"\r\n\r\n")[2]


def report(ok, desc, detail=""):
    print(("ok   " if ok else "FAIL ") + desc + ("" if ok else " -- " + detail[:300]))


def check_echo(desc, status, body, proxied):
    # the test upstream answers 201
    if status != (201 if proxied else 200) or b"forged" in body:
        return report(False, desc, "status %d, body %r" % (status, body[:300]))
    if not proxied:
        names = json.loads(body)["headers"].keys()
        bad = [n for n in names if reserved(n.encode("utf-8", "surrogateescape"))]
        if bad:
            return report(False, desc, "the app saw %r" % bad)
    report(True, desc)


mode, arg = sys.argv[1], sys.argv[2]
if mode == "reserved":
    port, proxied = int(arg), len(sys.argv) > 3
    for i, name in enumerate(NAMES):
        for j, value in enumerate(VALUES):
            status, body = exchange(port, b"/r/%d/%d" % (i, j), name + b": " + value + b"\r\n")
            check_echo("identity header %r: %r never reaches the app" % (name, value),
                       status, body, proxied)
    every = b"".join(n + b": " + v + b"\r\n" for n in NAMES for v in VALUES)
    status, body = exchange(port, b"/r/all", every)
    check_echo("%d identity headers in one request never reach the app"
               % (len(NAMES) * len(VALUES)), status, body, proxied)
elif mode == "invalid":
    for i, lines in enumerate(INVALID):
        status, body = exchange(int(arg), b"/i/%d" % i, lines)
        report(status == 400 and b"forged" not in body,
               "header line %r gets 400" % lines, "status %d, body %r" % (status, body[:200]))
elif mode == "recorded":
    data = open(arg, "rb").read()
    bad = [l for l in data.split(b"\r\n") if b":" in l and reserved(l.split(b":")[0])]
    report(not bad and b"forged" not in data, "the upstream received no identity header",
           repr(bad[:5]))
    report(data.count(b" HTTP/1.1\r\n") == int(sys.argv[3]),
           "the upstream received all %s requests" % sys.argv[3],
           "%d" % data.count(b" HTTP/1.1\r\n"))
EOF

# raw CHECK ARGS...: runs raw.py, counting its ok/FAIL lines
raw() {
    python3 "$TMP/raw.py" "$@" > "$TMP/raw.out" 2>&1 ||
        echo "FAIL raw.py $1 exited with $?" >> "$TMP/raw.out"
    while IFS= read -r line; do
        case $line in
            "ok   "*) ok "${line#ok   }" ;;
            "FAIL "*) fail "${line#FAIL }" ;;
            *)        fail "raw.py $1: $line" ;;
        esac
    done < "$TMP/raw.out"
}

# Port 0: the host binds a free port and prints it, so there is no race for one.
"$HOST_BIN" -l 127.0.0.1:0 -c "$TMP/auth.json" > "$TMP/stdout" 2> "$TMP/stderr" &
PID=$!

i=0
while ! grep -q '^listening on http://' "$TMP/stdout" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 "$PID" 2>/dev/null; then
        echo "host_test: the host did not start" >&2
        cat "$TMP/stderr" >&2
        exit 1
    fi
    sleep 0.05
done

BASE=$(sed -n 's/^listening on \(http:\/\/.*\)$/\1/p' "$TMP/stdout")
echo "# host at $BASE (pid $PID)"

CURL="curl -sS --max-time 20"

# 1. the echo app sees method, raw target and headers (module edits applied)
$CURL -o "$TMP/echo.json" -w '%{http_code} %{content_type}' \
    -H 'X-Test: a "quoted" \ value' \
    -H 'X-MS-CLIENT-PRINCIPAL-NAME: admin' \
    "$BASE/some/path?q=a%20b&x=%2F" > "$TMP/echo.status"
check "echo answers 200 application/json" \
    grep -q '^200 application/json' "$TMP/echo.status"
check "echo reports the method" grep -q '"method":"GET"' "$TMP/echo.json"
check "echo reports the raw target" grep -q '"path":"/some/path?q=a%20b&x=%2F"' "$TMP/echo.json"
check "echo reports lower-cased headers" grep -q '"host":"127.0.0.1:' "$TMP/echo.json"
check "echo JSON-escapes values" \
    grep -qF '"x-test":"a \"quoted\" \\ value"' "$TMP/echo.json"
if command -v python3 >/dev/null; then
    check "echo body is valid JSON" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' \
        "$TMP/echo.json"
fi
# Spoofed identity headers never reach the app (needs the real core, SPEC section 5).
if grep -qi 'x-ms-client-principal-name' "$TMP/echo.json"; then
    fail "spoofed X-MS-CLIENT-PRINCIPAL-NAME is scrubbed" "$(cat "$TMP/echo.json")"
else
    ok "spoofed X-MS-CLIENT-PRINCIPAL-NAME is scrubbed"
fi

# 2. two requests over one keep-alive connection
$CURL -v "$BASE/first" "$BASE/second" > "$TMP/ka.out" 2> "$TMP/ka.err"
check "keep-alive: both answered" \
    sh -c "grep -q '\"path\":\"/first\"' '$TMP/ka.out' && grep -q '\"path\":\"/second\"' '$TMP/ka.out'"
check "keep-alive: connection reused" grep -qi 're-using existing connection' "$TMP/ka.err"

# 3. a 2 MiB body is refused with 413, declared or chunked
head -c 2097152 /dev/zero > "$TMP/big"
code=$($CURL -o /dev/null -w '%{http_code}' --data-binary @"$TMP/big" "$BASE/upload")
check "2 MiB POST gets 413 (got $code)" [ "$code" = 413 ]
code=$($CURL -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$TMP/big" "$BASE/upload")
check "2 MiB chunked POST gets 413 (got $code)" [ "$code" = 413 ]

# a body under the limit passes
head -c 500000 /dev/zero > "$TMP/mid"
code=$($CURL -o /dev/null -w '%{http_code}' --data-binary @"$TMP/mid" "$BASE/upload")
check "500 KB POST gets 200 (got $code)" [ "$code" = 200 ]

# 4. a 70 KB header block is refused, not a crash
big_header=$(head -c 70000 /dev/zero | tr '\0' 'a')
code=$($CURL -o /dev/null -w '%{http_code}' -H "X-Big: $big_header" "$BASE/")
check "70 KB header gets 431 or 400 (got $code)" [ "$code" = 431 -o "$code" = 400 ]

# malformed requests get a 4xx (or a closed connection), never a crash
if command -v python3 >/dev/null; then
    port=${BASE##*:}
    for raw in 'GET / HTTP/1.1\r\nBad Header Line\r\n\r\n' \
               'GET / HTTP/1.1\r\n\r\n' \
               'GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n' \
               'GARBAGE\r\n\r\n'
    do
        python3 - "$port" "$raw" > "$TMP/raw.out" 2>&1 <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
data = s.recv(100)
print(data.split(b"\r\n")[0].decode("latin-1") if data else "closed")
EOF
        check "malformed $raw: $(head -c 40 "$TMP/raw.out")" \
            grep -Eq '^HTTP/1.1 4[0-9][0-9] |^closed$' "$TMP/raw.out"
    done
fi

# 5. identity headers are removed by the host itself, on raw bytes, whatever their values
# (the module reads only UTF-8 headers): any case, '_' for '-'
port=${BASE##*:}
raw reserved "$port"
check "the host logs each removed identity header by its name" \
    grep -q 'removed client-sent identity header "x_ms_client_principal_name"' "$TMP/stderr"

# header names that are not tokens (an obs-fold line glued to a name by libmicrohttpd, a
# leading space, a control byte) get 400 before the module runs
raw invalid "$port"
check "the host logs the refused header name" \
    grep -qF 'refused a request with an invalid header "\x20X-MS-CLIENT-PRINCIPAL-NAME"' \
    "$TMP/stderr"
if grep -q forged "$TMP/stderr"; then
    fail "no header value reaches the log" "$(grep forged "$TMP/stderr" | head -3)"
else
    ok "no header value reaches the log"
fi

# 6. the host is still alive and answering
check "host still alive" kill -0 "$PID"
code=$($CURL -o /dev/null -w '%{http_code}' "$BASE/after")
check "host still answers (got $code)" [ "$code" = 200 ]

# 7. SIGTERM stops it cleanly, with status 0
kill -TERM "$PID"
i=0
while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do
    i=$((i + 1))
    sleep 0.05
done
if kill -0 "$PID" 2>/dev/null; then
    fail "SIGTERM stops the host"
else
    wait "$PID"
    rc=$?
    check "SIGTERM stops the host with status 0 (got $rc)" [ "$rc" = 0 ]
fi
PID=

# 8. proxy mode (-u): the edited request reaches an upstream and its answer comes back
if command -v python3 >/dev/null; then
    python3 - "$TMP" > "$TMP/up.port" 2> "$TMP/up.err" <<'EOF' &
import socket, sys, threading
tmp = sys.argv[1]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
print(srv.getsockname()[1], flush=True)
def handle(c):
    data = b""
    while b"\r\n\r\n" not in data:
        d = c.recv(65536)
        if not d:
            break
        data += d
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
            while len(body) < n:
                body += c.recv(65536)
    open(tmp + "/up.request", "wb").write(head + b"\r\n\r\n" + body)
    with open(tmp + "/up.all", "ab") as f:
        f.write(head + b"\r\n\r\n" + body)
    # chunked, with two Set-Cookie headers and a trailer
    c.sendall(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n"
              b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n"
              b"6\r\nhello \r\n8;x=y\r\nupstream\r\n0\r\nX-T: t\r\n\r\n")
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
EOF
    UP_PID=$!
    i=0
    while [ ! -s "$TMP/up.port" ] && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
    UP_PORT=$(cat "$TMP/up.port")

    "$HOST_BIN" -l 127.0.0.1:0 -c "$TMP/auth.json" -u "127.0.0.1:$UP_PORT" \
        > "$TMP/stdout2" 2>> "$TMP/stderr" &
    PID=$!
    i=0
    while ! grep -q '^listening on http://' "$TMP/stdout2" 2>/dev/null && [ $i -lt 200 ]; do
        i=$((i + 1))
        sleep 0.05
    done
    BASE=$(sed -n 's/^listening on \(http:\/\/.*\)$/\1/p' "$TMP/stdout2")

    $CURL -D "$TMP/proxy.head" -o "$TMP/proxy.body" -H 'X-Test: 1' \
        -H 'X-MS-CLIENT-PRINCIPAL-NAME: admin' --data-binary 'a=1&b=2' \
        "$BASE/app/path?q=%2F" 2>> "$TMP/stderr"
    check "proxy: upstream got method and raw target" \
        grep -q '^POST /app/path?q=%2F HTTP/1.1' "$TMP/up.request"
    check "proxy: upstream got the headers and the body" \
        sh -c "grep -q '^X-Test: 1' '$TMP/up.request' && grep -q 'a=1&b=2\$' '$TMP/up.request'"
    check "proxy: one connection per request" grep -q '^Connection: close' "$TMP/up.request"
    check "proxy: status relayed" grep -q '^HTTP/1.1 201' "$TMP/proxy.head"
    check "proxy: both Set-Cookie headers relayed" \
        sh -c "[ \$(grep -c '^Set-Cookie: [ab]=' '$TMP/proxy.head') = 2 ]"
    check "proxy: chunked body decoded" grep -qx 'hello upstream' "$TMP/proxy.body"
    if grep -qi '^X-MS-CLIENT-PRINCIPAL-NAME' "$TMP/up.request"; then
        fail "proxy: spoofed X-MS-CLIENT-PRINCIPAL-NAME is scrubbed"
    else
        ok "proxy: spoofed X-MS-CLIENT-PRINCIPAL-NAME is scrubbed"
    fi

    # the raw identity headers, through the proxy: what the upstream received, byte for byte
    : > "$TMP/up.all"
    raw reserved "${BASE##*:}" proxied
    raw recorded "$TMP/up.all" 57

    kill "$UP_PID" 2>/dev/null
    wait "$UP_PID" 2>/dev/null
    UP_PID=
    code=$($CURL -o /dev/null -w '%{http_code}' "$BASE/app")
    check "proxy: upstream down gets 502 (got $code)" [ "$code" = 502 ]

    kill -TERM "$PID"
    wait "$PID"
    rc=$?
    check "proxy: SIGTERM stops the host with status 0 (got $rc)" [ "$rc" = 0 ]
    PID=
fi

# 9. headers from the library are checked before they are written. The shim adds one header
# to one list of each outcome (tests/c/header_shim.c); "good" proves the shim works.
# An invalid request header or response header fails the request with 500; an invalid
# header to add to the application's response is left out.
start_shimmed() {
    : > "$TMP/extra"
    EZAUTH_TEST_EXTRA_HEADER="@$TMP/extra" LD_PRELOAD="$SHIM" \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        "$HOST_BIN" -l 127.0.0.1:0 -c "$TMP/auth.json" > "$TMP/stdout3" 2>> "$TMP/stderr" &
    PID=$!
    i=0
    while ! grep -q '^listening on http://' "$TMP/stdout3" 2>/dev/null && [ $i -lt 200 ]; do
        i=$((i + 1))
        sleep 0.05
    done
    BASE=$(sed -n 's/^listening on \(http:\/\/.*\)$/\1/p' "$TMP/stdout3")
}

BAD_KINDS="crlf lf nul ctl del space colon empty"

if [ -z "$SHIM" ] || [ ! -f "$SHIM" ]; then
    fail "library header checks: no shim at ${SHIM:-(EZAUTH_HEADER_SHIM unset)}" \
        "build it with: make -C native-host shim"
else
    start_shimmed

    echo 1:good > "$TMP/extra"
    $CURL -o "$TMP/shim.body" "$BASE/shim" 2>> "$TMP/stderr"
    check "shim: a valid request header from the library reaches the app" \
        grep -q '"x-shim-test":"ok"' "$TMP/shim.body"
    for kind in $BAD_KINDS; do
        echo "1:$kind" > "$TMP/extra"
        code=$($CURL -o "$TMP/shim.body" -w '%{http_code}' "$BASE/shim" 2>> "$TMP/stderr")
        check "shim: an invalid request header ($kind) from the library gets 500 (got $code)" \
            sh -c "[ '$code' = 500 ] && ! grep -q 'x-shim\|injected' '$TMP/shim.body'"
    done

    echo 2:good > "$TMP/extra"
    $CURL -D "$TMP/shim.head" -o /dev/null "$BASE/.auth/version" 2>> "$TMP/stderr"
    check "shim: a valid header of the library's answer is sent" \
        grep -qi '^X-Shim-Test: ok' "$TMP/shim.head"
    for kind in $BAD_KINDS; do
        echo "2:$kind" > "$TMP/extra"
        code=$($CURL -D "$TMP/shim.head" -o /dev/null -w '%{http_code}' "$BASE/.auth/version" \
            2>> "$TMP/stderr")
        check "shim: an invalid header ($kind) of the library's answer gets 500 (got $code)" \
            sh -c "[ '$code' = 500 ] && ! grep -qi 'x-shim\|injected' '$TMP/shim.head'"
    done

    echo 3:good > "$TMP/extra"
    $CURL -D "$TMP/shim.head" -o /dev/null "$BASE/shim" 2>> "$TMP/stderr"
    check "shim: a valid header to add to the app's response is added" \
        grep -qi '^X-Shim-Test: ok' "$TMP/shim.head"
    for kind in $BAD_KINDS; do
        echo "3:$kind" > "$TMP/extra"
        code=$($CURL -D "$TMP/shim.head" -o /dev/null -w '%{http_code}' "$BASE/shim" \
            2>> "$TMP/stderr")
        check "shim: an invalid header ($kind) to add to the response is left out (got $code)" \
            sh -c "[ '$code' = 200 ] && ! grep -qi 'x-shim\|injected' '$TMP/shim.head'"
    done
    check "shim: the host logs the invalid headers by name" \
        grep -qF 'the module gave an invalid request header "X-Shim\x20Test"' "$TMP/stderr"

    kill -TERM "$PID"
    wait "$PID"
    rc=$?
    check "shim: SIGTERM stops the host with status 0 (got $rc)" [ "$rc" = 0 ]
    PID=
fi

if [ "$FAILED" -ne 0 ]; then
    echo "# host stderr:"
    sed 's/^/#   /' "$TMP/stderr"
fi

echo "$PASSED of $((PASSED + FAILED)) host checks passed"
[ "$FAILED" -eq 0 ]
