#!/bin/sh
# Smoke test of the C host: starts ezauth-host (echo app, minimal configuration) on a free
# loopback port and checks it with curl, and with raw bytes from python3 where curl cannot
# send them (identity headers with non-UTF-8 values, obs-fold lines, control bytes in names),
# with a slowloris of 1,100 connections trickling request heads (section 10), with requests
# whose framing a proxy in front could read another way, each followed by a request to
# smuggle (section 11), and with 320 connections trickling request bodies (section 12).
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

# Shared by the raw-socket checks below (each imports it: python puts the script's folder,
# $TMP, on its path): one "ok ..." / "FAIL ..." line per check, a socket from a chosen
# loopback source address, and one response framed by Content-Length.
cat > "$TMP/hostcheck.py" <<'EOF'
import socket


def report(ok, desc, detail=""):
    print(("ok   " if ok else "FAIL ") + desc + ("" if ok else " -- " + detail[:400]), flush=True)


def connect(port, src, timeout=10):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_response(s):
    """One response, framed by Content-Length: (status, body), or (0, what came)."""
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        if not d:
            return 0, data
        data += d
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        d = s.recv(65536)
        if not d:
            return 0, data
        body += d
    return int(head[9:12]), body

def trickle(slow, busy, limit_s):
    """Sends each slow connection's remaining bytes, one byte per connection every 0.3 s,
    until the host has closed every one and busy() (what else runs) is false, or limit_s
    passes. slow: lists [socket, bytes left, label...]. Returns the labels of the
    connections still open and, for each one the host answered, its label and first bytes."""
    import select, time
    poller = select.poll()
    by_fd = {}
    for c in slow:
        by_fd[c[0].fileno()] = c
        poller.register(c[0], select.POLLIN)
    open_ = set(by_fd)
    answered = []
    started = time.monotonic()

    def closed(fd):
        poller.unregister(fd)
        by_fd[fd][0].close()
        open_.discard(fd)

    while (open_ or busy()) and time.monotonic() - started < limit_s:
        for fd, ev in poller.poll(300):
            if fd not in open_:
                continue
            try:
                d = by_fd[fd][0].recv(65536)
            except OSError:
                d = b""
            if d:
                answered.append((by_fd[fd][2:], d[:30]))
            closed(fd)
        for fd in list(open_):
            c = by_fd[fd]
            if not c[1]:
                continue
            try:
                c[0].send(c[1][:1])
                c[1] = c[1][1:]
            except BlockingIOError:
                pass
            except OSError:
                closed(fd)
    return [by_fd[fd][2:] for fd in open_], answered
EOF

# The raw-bytes client. "raw.py reserved PORT" sends every spelling of an identity header
# with every kind of value, one request each, then all at once; "raw.py invalid PORT" sends
# header names that are not tokens; "raw.py recorded FILE" checks what an upstream received.
# Each prints one "ok ..." or "FAIL ..." line per check.
cat > "$TMP/raw.py" <<'EOF'
import json, socket, sys
from hostcheck import report

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
# obs-fold lines (CRLF, then SP or HTAB): libmicrohttpd glues them to the previous name,
# which the host notices whatever the fold holds. Every fold kind after every base header,
# with a reserved header line in many spellings, a bare token, or nothing
FOLDS = [b" ", b"\t", b"   ", b" \t", b"\t "]
BASES = [b"X-A: b", b"X-A:", b"Accept: */*", b"Cookie: a=b", b"X-MS-CLIENT: b"]
PAYLOADS = [b"X-MS-CLIENT-PRINCIPAL-NAME: forged", b"x-ms-client-principal-name:forged",
            b"X_MS_CLIENT_PRINCIPAL_NAME: forged", b"X-Ms-Client-Principal: forged",
            b"X-MS-TOKEN-AAD-ACCESS-TOKEN: forged", b"x_ms_token_aad_id_token: forged",
            b"-PRINCIPAL-NAME", b"forged", b""]
INVALID += [base + b"\r\n" + fold + payload + b"\r\n"
            for base in BASES for fold in FOLDS for payload in PAYLOADS]
# several folds in a row, and a fold of a fold
INVALID += [b"X-A: b\r\n c\r\n\tX-MS-CLIENT-PRINCIPAL-NAME: forged\r\n",
            b"X-A: b\r\n X-MS-CLIENT-PRINCIPAL-NAME: forged\r\n X-MS-TOKEN-AAD-ID-TOKEN: forged\r\n",
            b"X-A: b\r\n \r\n \r\n\t\r\n",
            b"X-MS-CLIENT-PRINCIPAL-NAME: forged\r\n X-MS-CLIENT-PRINCIPAL-ID: forged\r\n"]


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
            if b"\x00" in value:
                # libmicrohttpd would cut the value at the NUL, the rest of the line unseen
                report(status == 400 and b"forged" not in body,
                       "identity header %r: %r gets 400 (a NUL byte in its line)" % (name, value),
                       "status %d, body %r" % (status, body[:300]))
                continue
            check_echo("identity header %r: %r never reaches the app" % (name, value),
                       status, body, proxied)
    every = b"".join(n + b": " + v + b"\r\n" for n in NAMES for v in VALUES if b"\x00" not in v)
    status, body = exchange(port, b"/r/all", every)
    check_echo("%d identity headers in one request never reach the app"
               % every.count(b"\r\n"), status, body, proxied)
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

# The slow clients (section 10)
cat > "$TMP/slow.py" <<'EOF'
# slow.py PORT HOLD SPREAD: a slowloris against the host, and ordinary clients beside it.
#
# HOLD connections trickle a request head, one byte per open connection every 0.3 s: a
# third from their first byte, a third after half a request line, the rest after a whole
# request line and half a header. They come from 127.0.0.1 (SPREAD 1) or from SPREAD
# addresses 127.0.1.x (all of 127/8 is loopback). With SPREAD 1, five more clients from
# 127.0.0.9 complete a request first and then trickle the next one on the same connection,
# and meanwhile one request each from 127.0.0.2 to 127.0.0.6 must be answered 200.
# Prints "ok ..." / "FAIL ..." lines; bounded: it gives up after 90 s.
import resource, select, socket, sys, threading, time
from hostcheck import report, connect as connect_from, read_response, trickle

port, hold, spread = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


def connect(src, timeout=10):
    return connect_from(port, src, timeout)


SOURCES = ["127.0.0.1"] if spread == 1 else ["127.0.1.%d" % (i + 1) for i in range(spread)]
KEEPALIVE = 5 if spread == 1 else 0
NORMAL = ["127.0.0.%d" % i for i in range(2, 7)] if spread == 1 else []
LIMIT_S = 90

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = hold + KEEPALIVE + 64
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


# what each slow connection still has to send, a byte per round
LINE = b"GET /slow HTTP/1.1\r\n"
HEAD = b"Host: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
slow = []          # [socket, bytes left]
refused_at_connect = 0
for i in range(hold):
    try:
        s = connect(SOURCES[i % spread])
    except OSError:
        refused_at_connect += 1
        continue
    first, rest = [(b"", LINE + HEAD), (LINE[:9], LINE[9:] + HEAD), (LINE + HEAD[:20], HEAD[20:])][i % 3]
    try:
        if first:
            s.sendall(first)
    except OSError:
        pass
    s.setblocking(False)
    slow.append([s, rest])

kept = len(slow)
for i in range(KEEPALIVE):
    try:
        s = connect("127.0.0.9")
        s.sendall(b"GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status = read_response(s)[0]
    except OSError as e:
        status = str(e)
    report(status == 200, "keep-alive client %d: its first request is answered 200" % i, "got %r" % (status,))
    if status == 200:
        s.setblocking(False)
        slow.append([s, LINE + HEAD])

normal = {}


def ordinary():
    for src in NORMAL:
        try:
            s = connect(src)
            s.settimeout(30)
            s.sendall(b"GET /normal HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            normal[src] = read_response(s)[0]
            s.close()
        except OSError as e:
            normal[src] = "%s" % e


t = threading.Thread(target=ordinary, daemon=True)
t.start()

open_, answered = trickle(slow, t.is_alive, LIMIT_S)
answered = len(answered)
t.join(1)
for src in NORMAL:
    got = normal.get(src, "no answer")
    report(got == 200, "while %d slow connections from 127.0.0.1 trickle bytes, a request from %s is answered 200"
           % (hold, src), "got %r" % (got,))
where = "127.0.0.1" if spread == 1 else "%d addresses" % spread
report(not open_, "every slow connection from %s (%d, %d of them kept-alive after a first request) is closed "
       "by the host while its client goes on sending" % (where, len(slow), len(slow) - kept),
       "%d still open after %d s" % (len(open_), LIMIT_S))
report(answered == 0, "the host closes slow connections without answering them", "%d answered" % answered)
report(refused_at_connect == 0, "the kernel accepted every TCP connection (the host decides)",
       "%d refused" % refused_at_connect)
EOF

# Request framing (section 11)
cat > "$TMP/framing.py" <<'EOF'
# framing.py PORT UPSTREAM_LOG: request framing that a front proxy could read differently
# (RFC 9112 6.1, 6.3, 7.1). Every case is one request whose framing headers or chunk lines
# are ambiguous or invalid, followed on the same connection by a second request (the bytes
# a front proxy framing differently would take for the next request). The host must answer
# the first with the expected status (400, 501, or 413 for sizes past 64 bits), close the
# connection, answer nothing else, and send nothing to the upstream.
# Then the control cases: well-framed requests are still served.
# Prints "ok ..." / "FAIL ..." lines.
import socket, sys, time
from hostcheck import report

port, uplog = int(sys.argv[1]), sys.argv[2]


def exchange(data, piece=0):
    """Sends data at once (or in pieces); reads until the host closes. (bytes, closed)"""
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        for i in range(0, len(data), piece or len(data)):
            s.sendall(data[i:i + (piece or len(data))])
            time.sleep(0.002 if piece else 0)
    except OSError:
        pass   # the host answered and closed before the bytes after the request were sent
    out, closed = b"", False
    try:
        while True:
            d = s.recv(65536)
            if not d:
                closed = True
                break
            out += d
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        pass
    s.close()
    return out, closed


def statuses(out):
    return [st for st, _ in responses(out)]


def responses(out):
    """(status, body) of each response in out, framed by Content-Length; status 0 for
    bytes that are not a response."""
    got = []
    while out:
        head, sep, rest = out.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"HTTP/1.") or len(head) < 12:
            got.append((0, out))
            break
        # libmicrohttpd 0.9.75 writes the head of its own error answers twice
        if rest.startswith(head[:12]):
            head, _, rest = rest.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n")[1:]:
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        got.append((int(head[9:12]), rest[:n]))
        out = rest[n:]
    return got


def head(method, path, version, lines):
    return b"%s %s %s\r\n" % (method, path, version) + b"Host: 127.0.0.1\r\n" + b"".join(l + b"\r\n" for l in lines) + b"\r\n"


def smuggled(i):
    # Connection: close, so that a host that wrongly answers it closes the connection then
    return b"GET /smuggled/%d HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % i


BODY = b"abc"
CHUNKED = b"3\r\nabc\r\n0\r\n\r\n"
S = b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
REFUSE, UNKNOWN, BIG = {400}, {400, 501}, {400, 413}

# (name, framing header lines, body, expected statuses, version)
CASES = []


def case(name, lines, body, want=REFUSE, version=b"HTTP/1.1", method=b"POST"):
    CASES.append((name, lines, body, want, version, method))


# Content-Length: one line, plain digits
case("two Content-Length lines, 0 then the length of what follows", [b"Content-Length: 0", b"Content-Length: %d" % len(S)], S)
case("two Content-Length lines, the length then 0", [b"Content-Length: %d" % len(S), b"Content-Length: 0"], S)
case("two equal Content-Length lines", [b"Content-Length: 3", b"Content-Length: 3"], BODY)
case("two Content-Length lines, different case", [b"content-length: 0", b"CONTENT-LENGTH: 3"], BODY)
case("three Content-Length lines", [b"Content-Length: 3"] * 3, BODY)
case("Content-Length list 3, 3", [b"Content-Length: 3, 3"], BODY)
case("Content-Length list 3,3", [b"Content-Length: 3,3"], BODY)
case("Content-Length list 0, 3", [b"Content-Length: 0, 3"], BODY)
for v in [b"+3", b"-3", b"0x3", b"3.0", b"3e0", b"1 0", b"3 ", b"3\t", b"\t3", b"\"3\"", b"", b"three",
          b"\x0b3", b"3;", b"03 3", b"\xef\xbc\x93"]:
    case("Content-Length %r" % v, [b"Content-Length:" + (b"" if v[:1] in (b"\t", b"") else b" ") + v], BODY)
for v in [b"18446744073709551619", b"99999999999999999999999999", b"18446744073709551616"]:
    case("Content-Length %s (past 64 bits)" % v.decode(), [b"Content-Length: " + v], BODY, BIG)
case("Content-Length continued by an obs-fold line", [b"Content-Length: 3", b" 5"], BODY)
# Transfer-Encoding: only chunked, alone, once, HTTP/1.1, without Content-Length
case("Content-Length then Transfer-Encoding: chunked", [b"Content-Length: 4", b"Transfer-Encoding: chunked"], b"0\r\n\r\n")
case("Transfer-Encoding: chunked then Content-Length", [b"Transfer-Encoding: chunked", b"Content-Length: 100"], b"0\r\n\r\n")
case("Transfer-Encoding: chunked and Content-Length: 0", [b"Transfer-Encoding: chunked", b"Content-Length: 0"], CHUNKED)
case("Transfer-Encoding: chunked and two Content-Length", [b"Content-Length: 3", b"Transfer-Encoding: chunked", b"Content-Length: 3"], CHUNKED)
case("Transfer-Encoding: xchunked and Content-Length", [b"Transfer-Encoding: xchunked", b"Content-Length: 3"], BODY)
case("Transfer-Encoding: identity and Content-Length", [b"Transfer-Encoding: identity", b"Content-Length: 3"], BODY)
case("GET with Transfer-Encoding and Content-Length", [b"Content-Length: 5", b"Transfer-Encoding: chunked"], b"0\r\n\r\n", method=b"GET")
case("two Transfer-Encoding lines, chunked then identity", [b"Transfer-Encoding: chunked", b"Transfer-Encoding: identity"], CHUNKED)
case("two Transfer-Encoding lines, identity then chunked", [b"Transfer-Encoding: identity", b"Transfer-Encoding: chunked"], CHUNKED)
case("two Transfer-Encoding: chunked lines", [b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"], CHUNKED)
case("two Transfer-Encoding lines, chunked then empty", [b"Transfer-Encoding: chunked", b"Transfer-Encoding:"], CHUNKED)
case("two Transfer-Encoding lines, different case", [b"transfer-encoding: chunked", b"TRANSFER-ENCODING: gzip"], CHUNKED)
for v in [b"\tchunked", b" \tchunked", b"chunked ", b"chunked\t", b"chunked, identity", b"identity, chunked",
          b"gzip, chunked", b"chunked, chunked", b"chunked,", b",chunked", b"chunked;q=1", b"\"chunked\"",
          b"chunked\x0b", b"\x0bchunked", b"", b"chu nked", b"chunked\x00", b"\xe2\x80\x8bchunked"]:
    case("Transfer-Encoding %r" % v, [b"Transfer-Encoding:" + (b"" if v[:1] in (b"\t", b" ", b"") else b" ") + v], CHUNKED)
for v in [b"identity", b"xchunked", b"chunk", b"gzip", b"deflate", b"compress", b"chunked-x"]:
    case("Transfer-Encoding %s (unknown coding)" % v.decode(), [b"Transfer-Encoding: " + v], CHUNKED, UNKNOWN)
# a NUL byte: libmicrohttpd cuts the value there and drops the rest of the line unseen
case("Content-Length with a NUL and more digits, last line", [b"Content-Length: 3\x00 5"], BODY)
case("Content-Length with a NUL and more digits", [b"Content-Length: 3\x00 5", b"X-After: 1"], BODY)
case("Content-Length with a NUL before CRLF", [b"Content-Length: 3\x00", b"X-After: 1"], BODY)
case("Transfer-Encoding: chunked, NUL, gzip", [b"Transfer-Encoding: chunked\x00, gzip"], CHUNKED)
case("a header hiding Transfer-Encoding behind a NUL", [b"X-A: b\x00Transfer-Encoding: chunked"], CHUNKED)
case("a header hiding Content-Length behind a NUL", [b"X-A: b\x00\r\nContent-Length: 40", b"X-B: c"], BODY)
case("a NUL in the Content-Length name", [b"Content\x00-Length: 3"], BODY)
case("a NUL line between headers", [b"X-A: b", b"\x00", b"Content-Length: 3"], BODY)
case("Transfer-Encoding continued by an obs-fold line", [b"Transfer-Encoding: identity", b" chunked"], CHUNKED)
case("Transfer-Encoding with a space before its colon", [b"Transfer-Encoding : chunked", b"Content-Length: 3"], BODY)
case("Transfer-Encoding on HTTP/1.0", [b"Transfer-Encoding: chunked"], CHUNKED, version=b"HTTP/1.0")
case("Transfer-Encoding on HTTP/1.0, kept alive", [b"Connection: keep-alive", b"Transfer-Encoding: chunked"], CHUNKED, version=b"HTTP/1.0")
case("Transfer-Encoding and Content-Length on HTTP/1.0", [b"Transfer-Encoding: chunked", b"Content-Length: 3"], BODY, version=b"HTTP/1.0")
case("Transfer-Encoding: CHUNKED on HTTP/1.0", [b"Transfer-Encoding: CHUNKED"], CHUNKED, version=b"HTTP/1.0")
# chunk lines (RFC 9112 7.1): hex digits, then an optional extension
TE = [b"Transfer-Encoding: chunked"]
for size in [b"0x3", b"-3", b"+3", b" 3", b"3 ", b"3\t", b"", b"g", b"3g", b"1_0", b"0x", b"3\x00", b"\xef\xbc\x93"]:
    case("chunk size %r" % size, TE, size + b"\r\nabc\r\n0\r\n\r\n")
for size in [b"10000000000000003", b"fffffffffffffffff", b"1" + b"0" * 40]:
    case("chunk size %s (past 64 bits)" % size.decode(), TE, size + b"\r\nabc\r\n0\r\n\r\n", BIG)
case("chunk data longer than its size", TE, b"3\r\nabcd\r\n0\r\n\r\n")
case("chunk data without its CRLF", TE, b"3\r\nabc0\r\n\r\n")
case("chunk size line ending in a bare CR", TE, b"3\rabc\r\n0\r\n\r\n")
case("a quoted chunk extension holding CRLF", TE, b"3;ext=\"a\r\n0\r\n\r\n\"\r\nabc\r\n0\r\n\r\n")


def upstream_requests():
    try:
        return open(uplog, "rb").read()
    except FileNotFoundError:
        return b""


for i, (name, lines, body, want, version, method) in enumerate(CASES):
    path = b"/frame/%d" % i
    out, closed = exchange(head(method, path, version, lines) + body + smuggled(i))
    st = statuses(out)
    report(st[:1] and st[0] in want and len(st) == 1 and closed,
           "%s: %s and the connection is closed, the request after it is not answered"
           % (name, "/".join(str(w) for w in sorted(want))),
           "statuses %r, closed %r: %r" % (st, closed, out[:200]))

# the control cases: served, with the body the upstream counted ("upstream N"), and kept
# alive where nothing is chunked (the request after it answered too)
MANY = [b"X-Many-%d: %s" % (i, b"v" * 150) for i in range(200)]
CONTROL = [
    # (name, framing lines, body, its length once decoded, requests answered, piece size)
    ("Content-Length: 3", [b"Content-Length: 3"], BODY, 3, 2, 0),
    ("Content-Length: 003", [b"Content-Length: 003"], BODY, 3, 2, 0),
    ("Content-Length:3 (no space)", [b"Content-Length:3"], BODY, 3, 2, 0),
    ("Content-Length:   3 (spaces)", [b"Content-Length:   3"], BODY, 3, 2, 0),
    ("Content-Length: 0", [b"Content-Length: 0"], b"", 0, 2, 0),
    ("no body", [], b"", 0, 2, 0),
    ("a body of NUL bytes", [b"Content-Length: 3"], b"\x00\x00\x00", 3, 2, 0),
    ("empty header values", [b"X-E1:", b"X-E2:   ", b"Content-Length: 3", b"X-E3:"], BODY, 3, 2, 0),
    ("a last header with an empty value", [b"Content-Length: 3", b"X-E:"], BODY, 3, 2, 0),
    ("200 headers, 31 KB, sent in 1000-byte pieces", MANY + [b"Content-Length: 3"], BODY, 3, 2, 1000),
    ("Transfer-Encoding: chunked", TE, CHUNKED, 3, 1, 0),
    ("Transfer-Encoding: CHUNKED", [b"Transfer-Encoding: CHUNKED"], CHUNKED, 3, 1, 0),
    ("Transfer-Encoding:chunked (no space)", [b"Transfer-Encoding:chunked"], CHUNKED, 3, 1, 0),
    ("Transfer-Encoding:   chunked (spaces)", [b"Transfer-Encoding:   chunked"], CHUNKED, 3, 1, 0),
    ("200 headers, then Transfer-Encoding, sent in 700-byte pieces", MANY + TE, CHUNKED, 3, 1, 700),
    ("a chunked body sent in 5-byte pieces", TE, b"a\r\n0123456789\r\n3\r\nabc\r\n0\r\n\r\n", 13, 1, 5),
    ("chunk extensions", TE, b"3;a=b;c=\"d e\"\r\nabc\r\n0;x=y\r\n\r\n", 3, 1, 0),
    ("upper-case hex, leading zeros", TE, b"000A\r\n0123456789\r\n0\r\n\r\n", 10, 1, 0),
    ("a trailer", TE, b"3\r\nabc\r\n0\r\nX-MS-CLIENT-PRINCIPAL-ID: forged\r\n\r\n", 3, 1, 0),
    # libmicrohttpd takes these as nginx does; the connection is closed after a chunked
    # body, so no byte after it is read as a next request, however a proxy framed it
    ("bare LF line ends", TE, b"3\nabc\n0\n\n", 3, 1, 0),
    ("an unterminated quoted extension", TE, b"3;ext=\"a\r\nabc\r\n0\r\n\r\n", 3, 1, 0),
    ("a bare CR in an extension", TE, b"3;a\rb\r\nabc\r\n0\r\n\r\n", 3, 1, 0),
    ("junk after the last chunk", TE, b"3\r\nabc\r\n0\r\n\r\nZZ\r\n", 3, 1, 0),
]
for i, (name, lines, body, length, n, piece) in enumerate(CONTROL):
    path = b"/control/%d" % i
    out, closed = exchange(head(b"POST", path, b"HTTP/1.1", lines) + body + smuggled(1000 + i), piece)
    got = responses(out)
    want = [(200, b"upstream %d\n" % length)] + [(200, b"upstream 0\n")] * (n - 1)
    what = "answered, and so is the request after it" if n == 2 else \
        "answered, then the connection is closed (no request after a chunked body)"
    report(got == want and closed, "control, %s: %s" % (name, what), "got %r, closed %r" % (got, closed))

# bare LF line ends in the head too (libmicrohttpd and nginx take them)
out, closed = exchange(b"POST /control/lf HTTP/1.1\nHost: 127.0.0.1\nX-E:\nContent-Length: 3\n\nabc" + smuggled(2000))
got = responses(out)
report(got == [(200, b"upstream 3\n"), (200, b"upstream 0\n")] and closed,
       "control, a head with bare LF line ends: answered, and so is the request after it", "got %r, closed %r" % (got, closed))

time.sleep(0.5)
up = upstream_requests()
for i, (name, *_rest) in enumerate(CASES):
    report(b"/frame/%d " % i not in up and b"/smuggled/%d " % i not in up,
           "%s: nothing reached the upstream" % name,
           "the upstream got %r" % [l for l in up.split(b"\r\n") if b"/frame/%d " % i in l or b"/smuggled/%d " % i in l])
for i, (name, lines, body, length, n, piece) in enumerate(CONTROL):
    got = up.count(b"POST /control/%d " % i)
    report(got == 1, "control, %s: the upstream got it once" % name, "%d times" % got)
    got = up.count(b"/smuggled/%d " % (1000 + i))
    report(got == (1 if n == 2 else 0), "control, %s: the upstream got the request after it %s"
           % (name, "once" if n == 2 else "never"), "%d times" % got)
report(up.count(b"/control/lf ") == 1 and up.count(b"/smuggled/2000 ") == 1,
       "control, a head with bare LF line ends: the upstream got it and the request after it once")
report(b"forged" not in up, "no trailer reaches the upstream")
EOF

# The application behind the host in section 11
cat > "$TMP/app.py" <<'EOF'
# app.py LOG: an HTTP/1.1 application that appends every request it gets to LOG and
# answers 200 "upstream N", N the length of the body it got (Content-Length framing,
# Connection: close); /sleep/N answers after N seconds. Prints its port.
import socket, sys, threading, time
log = sys.argv[1]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print(srv.getsockname()[1], flush=True)
lock = threading.Lock()
def handle(c):
    c.settimeout(30)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            d = c.recv(65536)
            if not d:
                break
            data += d
        head, _, body = data.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        while len(body) < n:
            d = c.recv(65536)
            if not d:
                break
            body += d
        with lock, open(log, "ab") as f:
            f.write(head + b"\r\n\r\n" + body + b"\r\n")
        # a slow application: /sleep/N answers after N seconds
        path = head.split(b" ")[1] if b" " in head else b""
        if path.startswith(b"/sleep/"):
            time.sleep(int(path.split(b"/")[2]))
        answer = b"upstream %d\n" % len(body)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(answer) + answer)
    except OSError:
        pass
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
EOF

# Slow request bodies (section 12)
cat > "$TMP/slowbody.py" <<'EOF'
# slowbody.py PORT HOLD ADDRS: slow request bodies against the host, ordinary clients beside.
#
# HOLD connections from 127.0.0.3 (the default per-address limit is 64) and HOLD from each
# of ADDRS addresses 127.0.2.x send a whole request head at once, then trickle its body, a
# byte per open connection every 0.3 s, kinds in turn: a Content-Length body; a chunked
# body; a body sent after a 100 Continue; a second request on a kept-alive connection whose
# first was answered; a head whose body never starts (not from 127.0.0.3, which only
# trickles, so that only the body deadline can free its places). Meanwhile requests from
# 127.0.0.4 to 127.0.0.6 (two with a 900 KB body at full speed) must be answered 200; once
# the host has closed every slow connection, 127.0.0.3 must be served again.
# Prints "ok ..." / "FAIL ..." lines; bounded: it gives up after 90 s.
import resource, select, socket, sys, threading, time
from hostcheck import report, connect as connect_from, read_response, trickle

port, hold, addrs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


def connect(src, timeout=30):
    return connect_from(port, src, timeout)


SOURCES = ["127.0.0.3"] + ["127.0.2.%d" % (i + 1) for i in range(addrs)]
KINDS = ["Content-Length", "chunked", "100 Continue", "kept-alive", "no body byte"]
LIMIT_S = 90

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = hold * len(SOURCES) + 64
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def request(src, head, body=b""):
    try:
        s = connect(src)
        s.sendall(head + body)
        got = read_response(s)[0]
        s.close()
        return got
    except OSError as e:
        return str(e)


HEAD = b"POST /slow-body HTTP/1.1\r\nHost: 127.0.0.1\r\n"
slow = []          # [socket, bytes left to trickle, kind]
failed = []
for n in range(hold * len(SOURCES)):
    # 127.0.0.3 only trickles: its places are freed by the body deadline, not the idle timeout
    src = SOURCES[n % len(SOURCES)]
    kind = KINDS[(n // len(SOURCES)) % (len(KINDS) - (src == "127.0.0.3"))]
    try:
        s = connect(src)
        if kind == "Content-Length":
            s.sendall(HEAD + b"Content-Length: 100000\r\n\r\n")
            rest = b"x" * 100000
        elif kind == "chunked":
            s.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
            rest = b"1\r\nx\r\n" * 20000
        elif kind == "100 Continue":
            s.sendall(HEAD + b"Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
            d = s.recv(100)
            if not d.startswith(b"HTTP/1.1 100"):
                raise OSError("no 100 Continue: %r" % d[:40])
            rest = b"y" * 5000
        elif kind == "kept-alive":
            s.sendall(b"GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status = read_response(s)[0]
            if status != 200:
                raise OSError("first request got %r" % status)
            s.sendall(HEAD + b"Content-Length: 100000\r\n\r\n")
            rest = b"z" * 100000
        else:
            s.sendall(HEAD + b"Content-Length: 10\r\n\r\n")
            rest = b""
    except OSError as e:
        failed.append("%s (%s): %s" % (src, kind, e))
        continue
    s.setblocking(False)
    slow.append([s, rest, kind])

report(not failed, "%d slow-body connections from %d addresses are accepted and send their heads"
       % (hold * len(SOURCES), len(SOURCES)), "; ".join(failed[:5]))

normal = {}
big = b"b" * 900000


def ordinary():
    normal["127.0.0.4"] = request("127.0.0.4", b"GET /normal HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    normal["127.0.0.5 (900 KB body)"] = request(
        "127.0.0.5", HEAD + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(big), big)
    normal["127.0.0.6 (900 KB chunked body)"] = request(
        "127.0.0.6", HEAD + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 65536]), big[i:i + 65536]) for i in range(0, len(big), 65536)) + b"0\r\n\r\n")


t = threading.Thread(target=ordinary, daemon=True)
t.start()

open_, answered = trickle(slow, t.is_alive, LIMIT_S)
t.join(1)
for src in sorted(normal) or ["(none)"]:
    got = normal.get(src, "no answer")
    report(got == 200, "while %d connections trickle request bodies, a request from %s is answered 200"
           % (len(slow), src), "got %r" % (got,))
left = {}
for (kind,) in open_:
    left[kind] = left.get(kind, 0) + 1
report(not open_, "every slow-body connection (%d: %s) is closed by the host while its client goes on sending"
       % (len(slow), ", ".join(KINDS)), "%d still open after %d s: %r" % (len(open_), LIMIT_S, left))
report(not answered, "the host closes slow-body connections without answering them",
       "%d answered: %r" % (len(answered), answered[:3]))

# the places of 127.0.0.3 are free again: libmicrohttpd counts a connection out just after
# closing it, so a few tries (bounded)
for i in range(40):
    got = request("127.0.0.3", b"GET /after HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    if got == 200:
        break
    time.sleep(0.25)
report(got == 200, "once the slow bodies are closed, 127.0.0.3 (which held %d) is served again" % hold,
       "got %r" % (got,))
EOF

# py SCRIPT ARGS...: runs $TMP/SCRIPT.py, counting its ok/FAIL lines
py() {
    script=$1; shift
    python3 "$TMP/$script.py" "$@" > "$TMP/py.out" 2>&1 ||
        echo "FAIL $script.py $1 exited with $?" >> "$TMP/py.out"
    while IFS= read -r line; do
        case $line in
            "ok   "*) ok "${line#ok   }" ;;
            "FAIL "*) fail "${line#FAIL }" ;;
            *)        fail "$script.py $1: $line" ;;
        esac
    done < "$TMP/py.out"
}

raw() { py raw "$@"; }

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
# Spoofed identity headers never reach the app (needs the real core, README, "What the application sees").
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
check "the host logs a folded header as such" \
    grep -qF 'refused a request with a header continued by an obs-fold line' \
    "$TMP/stderr"
if grep -q forged "$TMP/stderr"; then
    fail "no header value reaches the log" "$(grep forged "$TMP/stderr" | head -3)"
else
    ok "no header value reaches the log"
fi

# the library's lines about a request carry its log userdata: the host ends them with the
# client's address (a session cookie that does not open is logged and cleared)
for cookie in garbage x.y.z; do
    $CURL -o /dev/null -H "Cookie: AppServiceAuthSession=$cookie" "$BASE/log-probe"
done
check "the library's lines about a request end with its client" \
    grep -q '^ezauth: \[WARN\] ignored session cookie from 127\.0\.0\.1: .*, client: 127\.0\.0\.1$' \
    "$TMP/stderr"

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
    path = head.split(b" ")[1] if b" " in head else b""
    if path == b"/interim":
        # an interim 103 with a header of its own, then the answer
        c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                  b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Final: 1\r\n\r\nfin")
    elif path == b"/folded":
        c.sendall(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\nContent-Length: 0\r\n\r\n")
    elif path == b"/garbage":
        c.sendall(b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n")
    elif path == b"/unframed":
        c.sendall(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
    else:
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

    check "proxy: a trailer is not relayed" sh -c "! grep -qi '^X-T:' '$TMP/proxy.head'"

    # the upstream client (libcurl) sends the target and headers as they came, and adds
    # nothing of its own: no Accept, Content-Type, Expect or User-Agent the client did not send
    python3 - "${BASE##*:}" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /a/./b/../c/%2e%2E/d?x=/../y HTTP/1.1\r\nHost: h.example\r\nX-Empty:\r\n"
          b"x-lower: v\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n" + b"z" * 2000)
s.settimeout(20)
while s.recv(65536):
    pass
PY
    python3 - "$TMP/up.request" > "$TMP/up.lines" <<'PY'
import sys
head = open(sys.argv[1], "rb").read().split(b"\r\n\r\n")[0]
for line in head.split(b"\r\n"):
    print(line.decode("latin-1"))
PY
    check "proxy: the raw target reaches the upstream (no dot segments removed)" \
        grep -qx 'POST /a/./b/../c/%2e%2E/d?x=/../y HTTP/1.1' "$TMP/up.lines"
    check "proxy: exactly the client's headers, the Host given, one Content-Length, Connection: close" \
        sh -c "sed 1d '$TMP/up.lines' | grep -v '^X-Empty:' | LC_ALL=C sort | tr '\n' '|' | grep -qx 'Connection: close|Content-Length: 2000|Host: h.example|x-lower: v|'"
    check "proxy: an empty header value is kept" grep -qx 'X-Empty: *' "$TMP/up.lines"
    code=$($CURL -o "$TMP/interim.body" -D "$TMP/interim.head" -w '%{http_code}' "$BASE/interim")
    check "proxy: an interim 103 is skipped, the final answer relayed (got $code)" \
        sh -c "[ '$code' = 200 ] && grep -qx fin '$TMP/interim.body' && grep -qi '^X-Final: 1' '$TMP/interim.head' && ! grep -qi '^Link:' '$TMP/interim.head'"
    code=$($CURL -o "$TMP/unframed.body" -w '%{http_code}' "$BASE/unframed")
    check "proxy: a body framed by the connection's end is relayed (got $code)" \
        sh -c "[ '$code' = 200 ] && grep -qx 'until the end' '$TMP/unframed.body'"
    code=$($CURL -o /dev/null -w '%{http_code}' -I "$BASE/interim")
    check "proxy: HEAD is answered without waiting for a body (got $code)" [ "$code" = 200 ]
    for bad in folded garbage; do
        code=$($CURL -o /dev/null -w '%{http_code}' "$BASE/$bad")
        check "proxy: a malformed upstream answer ($bad) gets 502 (got $code)" [ "$code" = 502 ]
    done

    # the raw identity headers, through the proxy: what the upstream received, byte for byte
    : > "$TMP/up.all"
    raw reserved "${BASE##*:}" proxied
    # 8 names x 6 values, and all of them at once (a NUL byte gets 400)
    raw recorded "$TMP/up.all" 49

    # names that are not tokens, obs-fold lines: 400, and nothing reaches the upstream
    : > "$TMP/up.all"
    raw invalid "${BASE##*:}"
    raw recorded "$TMP/up.all" 0

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

# 10. slow clients (slowloris). Connections are limited in all (-m) and per client address
# (-p, default 64), and a request head is due -t seconds after the connection opens (or
# after its request line, on a kept-alive connection), however slowly its bytes come.
for bad in "-t x" "-t -1" "-p -1" "-m 0" "-i 99999999" "-m 12ab" "-b x" "-b -1" "-b 86401" "-b 1.5"; do
    # shellcheck disable=SC2086
    "$HOST_BIN" -l 127.0.0.1:0 -c "$TMP/auth.json" $bad > /dev/null 2> "$TMP/bad.err"
    rc=$?
    check "a bad option value ($bad) is refused at startup with status 1 (got $rc)" \
        sh -c "[ $rc = 1 ] && grep -q 'bad value' '$TMP/bad.err'"
done

# start_slow NAME ARGS...: a host with those options, its stderr in $TMP/NAME.err
start_slow() {
    name=$1; shift
    "$HOST_BIN" -l 127.0.0.1:0 -c "$TMP/auth.json" "$@" > "$TMP/$name.out" 2> "$TMP/$name.err" &
    PID=$!
    i=0
    while ! grep -q '^listening on http://' "$TMP/$name.out" 2>/dev/null && [ $i -lt 200 ]; do
        i=$((i + 1))
        sleep 0.05
    done
    BASE=$(sed -n 's/^listening on \(http:\/\/.*\)$/\1/p' "$TMP/$name.out")
}

# how many connections the host closed for their request head's deadline
head_closed() {
    sed -n 's/^ezauth-host: closed \([0-9]*\) connections* .*request head was not complete.*/\1/p' \
        "$TMP/$1.err" | awk '{ n += $1 } END { print n + 0 }'
}

# how many connections the host closed for their request body's deadline
body_closed() {
    sed -n 's/^ezauth-host: closed \([0-9]*\) connections* .*request body was not complete.*/\1/p' \
        "$TMP/$1.err" | awk '{ n += $1 } END { print n + 0 }'
}

stop_slow() {
    check "$1: host still alive" kill -0 "$PID"
    code=$($CURL -o /dev/null -w '%{http_code}' "$BASE/after-slow")
    check "$1: host answers once the slow clients are gone (got $code)" [ "$code" = 200 ]
    kill -TERM "$PID"
    wait "$PID"
    rc=$?
    check "$1: SIGTERM stops the host with status 0 (got $rc)" [ "$rc" = 0 ]
    PID=
    cat "$TMP/$1.err" >> "$TMP/stderr"
}

# 1,100 slow connections from 127.0.0.1 against the default limits: one address gets 64,
# others are served beside them
start_slow slow1 -t 3 -i 30
py slow "${BASE##*:}" 1100 1
n=$(head_closed slow1)
check "per address: the host held at most 64 of 127.0.0.1's and the 5 kept-alive ones, and closed them for their deadline (closed $n)" \
    [ "$n" -ge 5 -a "$n" -le 69 ]
check "per address: the host logs the connections it refused over the limit" \
    grep -q 'mhd: Server reached connection limit' "$TMP/slow1.err"
stop_slow slow1

# 300 slow connections from 30 addresses against -m 100: the host holds 100 at most
start_slow slow2 -t 3 -m 100 -p 0
py slow "${BASE##*:}" 300 30
n=$(head_closed slow2)
check "in all: the host held at most 100 slow connections, and closed them for their deadline (closed $n)" \
    [ "$n" -ge 1 -a "$n" -le 100 ]
check "in all: repeated libmicrohttpd lines are left out (one line a second at most)" \
    sh -c "[ \$(grep -c 'Server reached connection limit' '$TMP/slow2.err') -le 10 ]"
stop_slow slow2

# 11. request framing (RFC 9112 6.1, 6.3), in front of an application (-u). libmicrohttpd
# frames a body by the first Content-Length or Transfer-Encoding line; a proxy in front that
# framed it by another would take what follows for a next request (or the next request for
# body). Every ambiguous or invalid framing gets 400 (501 for an unknown coding, 413 for a
# size past 64 bits) and a closed connection, before the library or the application sees it;
# after a chunked body the connection is closed too (framing.py says why).
python3 "$TMP/app.py" "$TMP/app.log" > "$TMP/app.port" 2> "$TMP/app.err" &
UP_PID=$!
i=0
while [ ! -s "$TMP/app.port" ] && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
start_slow framing -u "127.0.0.1:$(cat "$TMP/app.port")" -b 2
py framing "${BASE##*:}" "$TMP/app.log"
for why in "more than one Content-Length line" "more than one Transfer-Encoding line" \
           "both Content-Length and Transfer-Encoding" "Transfer-Encoding on HTTP/1.0" \
           "an HTAB before the Content-Length value" \
           "a Transfer-Encoding value other than \"chunked\"" \
           "an HTAB before the Transfer-Encoding value"; do
    check "framing: the host logs one line for a request refused with $why" \
        grep -qF "refused a request with $why (ambiguous framing): 400, connection closed" \
        "$TMP/framing.err"
done
check "framing: the host logs an unknown transfer coding by name" \
    grep -qF 'refused a request with an unknown transfer coding "gzip": 501' "$TMP/framing.err"
check "framing: the host logs a NUL byte in a header line" \
    grep -qF 'refused a request with an invalid header "Transfer-Encoding": a NUL byte in its line' \
    "$TMP/framing.err"
# the body deadline (-b 2) ends with the body: an answer that takes longer still comes
code=$($CURL -o "$TMP/sleep.body" -w '%{http_code}' --data-binary 'abc' "$BASE/sleep/4")
check "framing: a request whose body is in is answered after longer than -b (got $code)" \
    sh -c "[ '$code' = 200 ] && grep -qx 'upstream 3' '$TMP/sleep.body'"
stop_slow framing
kill "$UP_PID" 2>/dev/null
wait "$UP_PID" 2>/dev/null
UP_PID=

# 12. slow request bodies: a body is due -b seconds after its head, however slowly its
# bytes come; 64 connections from one address (all its places) and 64 from each of four
# others trickle bodies, of every kind, while other clients are served
start_slow slowbody -b 5 -i 30
py slowbody "${BASE##*:}" 64 4
n=$(body_closed slowbody)
check "slow bodies: the host closed all 320 for their body deadline (closed $n)" [ "$n" = 320 ]
n=$(head_closed slowbody)
check "slow bodies: none of them for a head deadline (closed $n)" [ "$n" = 0 ]
stop_slow slowbody

if [ "$FAILED" -ne 0 ]; then
    echo "# host stderr:"
    sed 's/^/#   /' "$TMP/stderr"
fi

echo "$PASSED of $((PASSED + FAILED)) host checks passed"
[ "$FAILED" -eq 0 ]
