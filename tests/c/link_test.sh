#!/bin/sh
# The library's SONAME and how the hosts link it (run by "make -C native-host test"):
#   - libezauth.so names itself libezauth.so.N, N being EZAUTH_ABI_VERSION of include/ezauth.h
#     (build.rs passes -Wl,-soname), so a host built for one ABI is refused by the dynamic
#     loader when only another is installed;
#   - the ezauth-host, abi_test and (when built) the nginx module record that name (NEEDED)
#     and an rpath to the library's directory, and the loader resolves it there to the library
#     cargo built (the libezauth.so.N link "make" keeps next to it).
#
#   sh tests/c/link_test.sh LIB_DIR HEADER BINARY...
set -u

LIB_DIR=$1
HEADER=$2
shift 2

fails=0
ok() { echo "ok   link: $*"; }
fail() { echo "FAIL link: $*"; fails=$((fails + 1)); }

abi=$(sed -n 's/^#define EZAUTH_ABI_VERSION \([0-9][0-9]*\)$/\1/p' "$HEADER")
[ -n "$abi" ] || { echo "FAIL link: no EZAUTH_ABI_VERSION in $HEADER"; exit 1; }
want="libezauth.so.$abi"

soname=$(readelf -d "$LIB_DIR/libezauth.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
if [ "$soname" = "$want" ]; then
    ok "libezauth.so has SONAME $soname"
else
    fail "libezauth.so has SONAME '$soname', want $want (EZAUTH_ABI_VERSION $abi)"
fi

real=$(readlink -f "$LIB_DIR/libezauth.so")
if [ "$(readlink -f "$LIB_DIR/$want")" = "$real" ]; then
    ok "$LIB_DIR/$want is the built library"
else
    fail "$LIB_DIR/$want is missing or not the built library (make -C native-host makes it)"
fi

for bin in "$@"; do
    name=$(basename "$bin")
    [ -f "$bin" ] || { echo "skip link: $name (not built)"; continue; }
    needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(libezauth[^]]*\)\]$/\1/p')
    if [ "$needed" = "$want" ]; then
        ok "$name needs $needed"
    else
        fail "$name needs '$needed', want $want"
    fi
    if readelf -d "$bin" | grep -E '\((RPATH|RUNPATH)\)' | grep -qF "[$LIB_DIR]"; then
        ok "$name has run path $LIB_DIR"
    else
        fail "$name has no run path $LIB_DIR: $(readelf -d "$bin" | grep -E 'RPATH|RUNPATH')"
    fi
    # ldd runs nothing of a shared object it is given; LD_LIBRARY_PATH must not decide here
    resolved=$(env -u LD_LIBRARY_PATH ldd "$bin" | sed -n "s/^[[:space:]]*$want => \([^ ]*\) .*/\1/p")
    if [ -n "$resolved" ] && [ "$(readlink -f "$resolved")" = "$real" ]; then
        ok "$name loads $resolved"
    else
        fail "$name resolves $want to '${resolved:-nothing}', not $real"
    fi
done

[ "$fails" -eq 0 ]
