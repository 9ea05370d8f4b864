#!/usr/bin/env bash
# Every test of ezauth, from a fresh Debian machine:
#   Debian packages (installed only when missing), rustfmt, clippy, cargo test, the C ABI and
#   host tests (plain and under ASan/UBSan), the end-to-end suite (real IdP, C host, nginx,
#   headless Chromium), and native-host/nginx/README.md followed literally (tests/readme-nginx.sh).
#
#   tests/run-all.sh            run everything; exit non-zero when any step failed
#   KEEP_GOING=0 tests/run-all.sh  stop at the first failing step
#
# Needs: a Rust toolchain (cargo, rustfmt, clippy) and Node.js 20 or later with npm.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
KEEP_GOING="${KEEP_GOING:-1}"

DEBIAN_PACKAGES=(libssl-dev pkg-config libmicrohttpd-dev libcurl4-openssl-dev nginx nginx-dev chromium wrk curl openssl redis-server)

log() { printf '\n==> %s\n' "$*"; }

install_debian_packages() {
    command -v dpkg-query >/dev/null || { echo "not a Debian system: install ${DEBIAN_PACKAGES[*]} yourself"; return 0; }
    local missing=() p
    for p in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "all present: ${DEBIAN_PACKAGES[*]}"
        return 0
    fi
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "installing: ${missing[*]}"
    "${sudo[@]}" apt-get update &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
}

# The e2e suite's Python packages (tests/e2e/requirements.txt: the Werkzeug backend of the
# security scenarios). Idempotent: nothing is fetched when every pin is already installed.
PYTHON="${EZAUTH_PYTHON:-python3}"
install_python_packages() {
    local req="$ROOT/tests/e2e/requirements.txt"
    command -v "$PYTHON" >/dev/null || { echo "missing: $PYTHON"; return 1; }
    if "$PYTHON" - "$req" <<'PY'
import sys, importlib.metadata as md
ok = True
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, _, version = line.partition("==")
        try:
            ok = ok and md.version(name) == version
        except md.PackageNotFoundError:
            ok = False
sys.exit(0 if ok else 1)
PY
    then
        echo "all present: $(grep -v '^#' "$req" | xargs)"
        return 0
    fi
    if ! "$PYTHON" -m pip --version >/dev/null 2>&1 && command -v apt-get >/dev/null; then
        local sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends python3-pip
    fi
    local pip=("$PYTHON" -m pip install --disable-pip-version-check -q -r "$req")
    # a Debian system Python refuses pip installs (PEP 668) unless told otherwise
    "${pip[@]}" || "${pip[@]}" --break-system-packages
}

check_tools() {
    local ok=0
    for t in cargo node npm make cc; do
        command -v "$t" >/dev/null || { echo "missing: $t"; ok=1; }
    done
    if command -v node >/dev/null; then
        local major
        major="$(node -p 'process.versions.node.split(".")[0]')"
        [ "$major" -ge 20 ] || { echo "Node.js $major is too old: 20 or later is needed"; ok=1; }
    fi
    return "$ok"
}

e2e() {
    cd "$ROOT/tests/e2e" || return 1
    # chromium and nginx were installed and built above: their tests must run, not skip
    export EZAUTH_E2E_REQUIRE_BROWSER=1
    export EZAUTH_E2E_HOSTS=c,nginx
    npm test
}

# The npm packages of tests/e2e, before `cargo test`: the Azure Blob store tests start the
# npm azurite from there.
npm_packages() {
    cd "$ROOT/tests/e2e" && npm ci --no-audit --no-fund
}

# The whole suite again on nginx with four workers: tokens, login states and refreshes must
# hold across processes.
e2e_workers() {
    cd "$ROOT/tests/e2e" || return 1
    EZAUTH_E2E_REQUIRE_BROWSER=1 EZAUTH_E2E_HOSTS=nginx EZAUTH_NGINX_WORKERS=4 npm test
}

# native-host/nginx/README.md's "Try it in the foreground", followed literally (as root, as the
# README says): nginx as Debian runs it, a user signed in through it.
readme_nginx() {
    [ -d "$ROOT/tests/e2e/node_modules" ] || (cd "$ROOT/tests/e2e" && npm ci --no-audit --no-fund) || return 1
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" "$ROOT/tests/readme-nginx.sh"
}

STEPS=(
    "debian packages|install_debian_packages"
    "tools|check_tools"
    "python packages (tests/e2e/requirements.txt)|install_python_packages"
    "cargo fmt --check|cargo fmt --check"
    "cargo clippy|cargo clippy --all-targets -- -D warnings"
    "npm packages (tests/e2e, azurite for cargo test)|npm_packages"
    "cargo test|cargo test"
    "build the hosts (C host, nginx module)|make -C native-host"
    "C ABI + host tests, plain and ASan/UBSan|make -C native-host test asan"
    "end-to-end (tests/e2e)|e2e"
    "nginx README followed literally (tests/readme-nginx.sh)|readme_nginx"
    "end-to-end, nginx with 4 workers|e2e_workers"
)

failed=()
start_all=$SECONDS
for step in "${STEPS[@]}"; do
    name="${step%%|*}"
    cmd="${step#*|}"
    log "$name"
    t0=$SECONDS
    if (eval "$cmd"); then
        echo "--- ok: $name ($((SECONDS - t0)) s)"
    else
        echo "--- FAILED: $name ($((SECONDS - t0)) s)"
        failed+=("$name")
        # without the packages and tools nothing else can run
        if [ "$KEEP_GOING" != 1 ] || [ "$name" = "tools" ]; then break; fi
    fi
done

echo
if [ "${#failed[@]}" -eq 0 ]; then
    echo "run-all: every step succeeded in $((SECONDS - start_all)) s"
    exit 0
fi
echo "run-all: failed steps: ${failed[*]} ($((SECONDS - start_all)) s)"
exit 1
