"""Backend B: a WSGI application on Werkzeug, as an app behind Easy Auth would be written.

Routing is werkzeug.routing.Map: /health and /public/<path:p> are the excluded-path handlers,
/admin/<path:p> (and every other path) the protected one, which trusts the identity headers it is
given and decodes X-MS-CLIENT-PRINCIPAL with base64.b64decode (non-strict, as apps do). Served by
Werkzeug's own server (werkzeug.serving.make_server, what run_simple runs), threaded.

Every request is recorded: the routing verdict, the WSGI environ's view of the identity headers,
the header block as the server parsed it and the request head as it arrived on the wire (latin-1
text: one char per byte). The test reads the records from GET /__backend/log on the backend's own port.

    python3 werkzeug_app.py      prints "listening <port>" once it serves on 127.0.0.1
"""

import base64
import json
import os
import sys
import threading
import time

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.serving import WSGIRequestHandler, make_server

NAME = "werkzeug"

URL_MAP = Map(
    [
        Rule("/health", endpoint="excluded"),
        Rule("/public/<path:p>", endpoint="excluded"),
        Rule("/admin/<path:p>", endpoint="protected"),
        Rule("/", endpoint="protected"),
        Rule("/<path:p>", endpoint="protected"),
    ]
)

_lock = threading.Lock()
_entries = []
_errors = []


def _b64(value):
    """What an app gets from base64.b64decode (non-strict: bytes outside the alphabet are skipped)."""
    try:
        return base64.b64decode(value.encode("latin-1")).decode("latin-1")
    except Exception as e:  # binascii.Error (padding), UnicodeEncodeError
        return {"error": str(e)}


def _identity(environ):
    out = {}
    p = environ.get("HTTP_X_MS_CLIENT_PRINCIPAL")
    if p is not None:
        out["principal"] = {"value": p, "decoded": _b64(p)}
    for k in ("id", "name", "idp"):
        v = environ.get("HTTP_X_MS_CLIENT_PRINCIPAL_" + k.upper())
        if v is not None:
            out[k] = v
    for k, v in environ.items():
        if k.startswith("HTTP_X_MS_TOKEN_"):
            out.setdefault("tokens", {})[k] = v
    return out


def _json(start_response, status, obj, extra=()):
    body = (json.dumps(obj) + "\n").encode("utf-8")
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))] + list(extra),
    )
    return [body]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/__backend/log":
        with _lock:
            return _json(start_response, "200 OK", {"entries": _entries, "errors": _errors})

    adapter = URL_MAP.bind_to_environ(environ)
    response = None
    try:
        handler, _args = adapter.match()
    except RequestRedirect as e:
        handler, response = "redirect", e
    except HTTPException as e:
        handler, response = "notfound", e

    route = path.encode("latin-1").decode("utf-8", "replace")
    with _lock:
        entry = {
            "seq": len(_entries) + 1,
            "backend": NAME,
            "handler": handler,
            "method": environ.get("REQUEST_METHOD"),
            "target": environ.get("REQUEST_URI"),
            "route": route,
            "caseId": environ.get("HTTP_X_SEC_CASE"),
            "raw": [[n, v] for n, v in environ.get("ezauth.raw_headers", [])],
            "wire": environ.get("ezauth.wire"),
            "identity": _identity(environ),
        }
        _entries.append(entry)
    # the body, if any (the dev server's wsgi.input is the socket: read only what was announced)
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        environ["wsgi.input"].read(int(length))
    if response is not None:
        return response(environ, start_response)
    return _json(
        start_response,
        "200 OK",
        {"backend": NAME, "handler": handler, "route": route, "seq": entry["seq"]},
        [("X-Backend-Handler", handler)],
    )


class _Tee:
    """The connection's input, keeping a copy of what was read (the request line and header
    block exactly as they arrived on the wire)."""

    def __init__(self, f):
        self._f = f
        self.buf = bytearray()

    def readline(self, *args):
        b = self._f.readline(*args)
        self.buf += b
        return b

    def read(self, *args):
        b = self._f.read(*args)
        self.buf += b
        return b

    def __getattr__(self, name):
        return getattr(self._f, name)


class Handler(WSGIRequestHandler):
    def setup(self):
        super().setup()
        self.rfile = _Tee(self.rfile)

    def handle_one_request(self):
        self.rfile.buf.clear()
        return super().handle_one_request()

    def make_environ(self):
        environ = super().make_environ()
        # the header block as parsed, underscore names included (make_environ skips those)
        environ["ezauth.raw_headers"] = list(self.headers.raw_items())
        # and as it arrived: the body has not been read yet
        environ["ezauth.wire"] = bytes(self.rfile.buf).decode("latin-1")
        return environ

    def send_error(self, code, message=None, explain=None):
        # a request line or header block the server refused (a smuggled request that does not
        # parse shows up here)
        with _lock:
            _errors.append(
                {
                    "backend": NAME,
                    "code": code,
                    "message": message,
                    "requestline": getattr(self, "requestline", None),
                }
            )
        super().send_error(code, message, explain)

    def log_request(self, *args, **kwargs):
        pass


def _exit_with_parent():
    """The test runner that started us may die without stopping us: then go too."""
    parent = os.getppid()
    while True:
        time.sleep(1)
        if os.getppid() != parent:
            os._exit(0)


def main():
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Handler)
    print(f"listening {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
