#!/usr/bin/env bash
# The Debian packages end to end (issue 16), as a user on a Debian 12 machine gets them:
#   tests/packaging/check_debs.sh [BUILD_DIR]        (root: it installs and removes packages with apt)
# 1. configures BUILD_DIR (default build-package) with -DWEFT_PACKAGE=ON and makes the .debs with
#    `cmake --build BUILD_DIR --target package`;
# 2. inspects them: dpkg-deb -c (every file a user needs is there, nothing from the build tree), the
#    Depends fields (Debian package names; weft-chat needs no libweft package);
# 3. installs them with `apt-get install ./libweft-dev_*.deb ./weft-chat_*.deb`;
# 4. runs the installed weft-chat: --version, its man page, `systemd-analyze verify` of its units, and the
#    service unit's ExecStart= under systemd-socket-activate with a notify socket (run_unit.py);
# 5. builds and runs a consumer with pkg-config (linked with the shared libweft) and with find_package;
# 6. removes the packages and checks that their files are gone.
# Exits 77 (skipped) when not root.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build-package}")  # apt takes a .deb by a path with a slash
if [[ $(id -u) != 0 ]]; then
    echo "check_debs: SKIPPED: installing packages with apt needs root"
    exit 77
fi
fail() { echo "check_debs: FAILED: $*" >&2; exit 1; }
step() { echo "== check_debs: $*"; }
WORK=$(mktemp -d /tmp/weft-debs.XXXXXX)
installed=0
cleanup() {
    if [[ $installed == 1 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq libweft-dev weft-chat >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

for p in libweft-dev weft-chat; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        fail "$p is installed already (apt-get purge $p first): this test installs and removes it"
    fi
done

step "configure and build the packages in $BUILD"
# The same flags as tests/run-all's first build (ccache then reuses its objects), WEFT_PACKAGE added.
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_WERROR=ON -DWEFT_PACKAGE=ON \
      -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_BENCH=OFF >/dev/null
rm -f "$BUILD"/*.deb
cmake --build "$BUILD" --target package -j "$(nproc)" >"$WORK/package.log" 2>&1 || { tail -40 "$WORK/package.log"; fail "cmake --build --target package"; }
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
ARCH=$(dpkg --print-architecture)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
DEV="$BUILD/libweft-dev_${VERSION}_${ARCH}.deb"
APPS="$BUILD/weft-chat_${VERSION}_${ARCH}.deb"
[[ -f $DEV && -f $APPS ]] || { ls "$BUILD"/*.deb >&2 || true; fail "expected $DEV and $APPS"; }

step "inspect the contents"
# The versioning policy (README): 0.MINOR while the major version is 0, then MAJOR.
if [[ ${VERSION%%.*} == 0 ]]; then SOVERSION=0.$(cut -d. -f2 <<<"$VERSION"); else SOVERSION=${VERSION%%.*}; fi
expect() {  # expect DEB PATH...: each path is in the package
    local deb=$1; shift
    dpkg-deb -c "$deb" | awk '{print $6}' >"$WORK/contents"
    for path in "$@"; do grep -qx "./$path" "$WORK/contents" || fail "$(basename "$deb") lacks /$path"; done
}
LIB=usr/lib/$MULTIARCH
expect "$DEV" usr/include/weft/reactor.hpp usr/include/weft/version.hpp usr/include/weft/protocols/basic.hpp \
    usr/include/weft/detail/deferred_core.hpp "$LIB/libweft.a" "$LIB/libweft_protocols.a" "$LIB/libweft.so" \
    "$LIB/libweft_protocols.so" "$LIB/libweft_web.a" "$LIB/libweft_web.so" usr/include/weft/web/site.hpp \
    "$LIB/cmake/weft/weftConfig.cmake" "$LIB/cmake/weft/weftConfigVersion.cmake" \
    "$LIB/pkgconfig/weft.pc"
dpkg-deb -c "$DEV" >"$WORK/dev-contents"
grep -q "$LIB/libweft.so.$SOVERSION" "$WORK/dev-contents" || fail "libweft-dev lacks libweft.so.$SOVERSION"
expect "$APPS" usr/bin/weft-chat usr/bin/weft-chat-client usr/bin/weft-echo usr/share/man/man1/weft-chat.1.gz \
    usr/share/man/man1/weft-chat-client.1.gz usr/share/man/man1/weft-echo.1.gz \
    usr/lib/systemd/system/weft-chat.service usr/lib/systemd/system/weft-chat.socket
dpkg-deb -c "$APPS" >"$WORK/apps-contents"
# Like Debian's dh_strip: no debugging information in the static libraries (it made libweft.a 100 MB).
mkdir -p "$WORK/dev-tree" && dpkg-deb -x "$DEV" "$WORK/dev-tree"
for a in "$WORK/dev-tree/$LIB"/libweft*.a; do
    if readelf -S "$a" | grep -q '\.debug_info'; then fail "$(basename "$a") in libweft-dev carries debugging information"; fi
done
if grep -q "$BUILD" "$WORK/dev-contents" "$WORK/apps-contents"; then fail "a package names the build tree"; fi
dev_depends=$(dpkg-deb -f "$DEV" Depends)
apps_depends=$(dpkg-deb -f "$APPS" Depends)
echo "libweft-dev Depends: $dev_depends"
echo "weft-chat Depends: $apps_depends"
for d in libboost-log1.81-dev libssl-dev libboost-log1.81.0 libssl3; do
    grep -q "$d" <<<"$dev_depends" || fail "libweft-dev does not depend on $d"
done
for d in libc6 libssl3 libboost-program-options1.81.0; do
    grep -q "$d" <<<"$apps_depends" || fail "weft-chat does not depend on $d"
done
if grep -q libweft <<<"$apps_depends"; then fail "weft-chat depends on a libweft package (its apps link weft statically)"; fi

step "install with apt"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$DEV" "$APPS" >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; fail "apt-get install"; }

step "run the installed weft-chat"
[[ $(/usr/bin/weft-chat --version) == "weft-chat $VERSION" ]] || fail "weft-chat --version: $(/usr/bin/weft-chat --version)"
[[ $(/usr/bin/weft-echo --version) == "weft-echo $VERSION" ]] || fail "weft-echo --version"
# The man page as packaged (a minimal Debian image's dpkg may exclude /usr/share/man when installing).
dpkg-deb -x "$APPS" "$WORK/apps-tree"
zcat "$WORK/apps-tree/usr/share/man/man1/weft-chat.1.gz" >"$WORK/weft-chat.1"
grep -q -- 'max\\-clients' "$WORK/weft-chat.1" || fail "the weft-chat man page lacks its options"
grep -q '^\.TH WEFT-CHAT "1"' "$WORK/weft-chat.1" || fail "the weft-chat man page has no .TH header"
if command -v systemd-analyze >/dev/null; then
    # Without man-db the Documentation=man: check cannot run; only that warning is tolerated.
    systemd-analyze verify /usr/lib/systemd/system/weft-chat.socket /usr/lib/systemd/system/weft-chat.service \
        >"$WORK/verify.log" 2>&1 || true
    if grep -v "Command 'man weft-chat(1)' failed" "$WORK/verify.log" | grep -q .; then
        cat "$WORK/verify.log"; fail "systemd-analyze verify"
    fi
fi
/usr/bin/python3 "$ROOT/tests/packaging/run_unit.py" /usr/lib/systemd/system/weft-chat.service \
    /usr/lib/systemd/system/weft-chat.socket || fail "weft-chat from its unit"

step "build consumers against the installed packages"
mkdir -p "$WORK/consumer"
cp "$ROOT/tests/consumer/main.cpp" "$ROOT/tests/consumer/CMakeLists.txt" "$WORK/consumer/"
# shellcheck disable=SC2046
g++ -std=c++20 "$WORK/consumer/main.cpp" -o "$WORK/consumer-pkgconfig" $(pkg-config --cflags --libs weft) \
    || fail "pkg-config consumer build"
readelf -d "$WORK/consumer-pkgconfig" | grep -q "libweft.so.$SOVERSION" || fail "the pkg-config consumer does not load libweft.so.$SOVERSION"
"$WORK/consumer-pkgconfig" >"$WORK/out.txt" || fail "the pkg-config consumer failed: $(cat "$WORK/out.txt")"
cmake -S "$WORK/consumer" -B "$WORK/consumer/build" -G Ninja >/dev/null || fail "find_package(weft) consumer configure"
cmake --build "$WORK/consumer/build" >/dev/null || fail "find_package(weft) consumer build"
"$WORK/consumer/build/consumer" >"$WORK/out.txt" || fail "the find_package consumer failed: $(cat "$WORK/out.txt")"

step "remove"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq libweft-dev weft-chat >/dev/null 2>&1 || fail "apt-get purge"
installed=0
for f in /usr/bin/weft-chat /usr/include/weft/reactor.hpp "/$LIB/libweft.a" "/$LIB/pkgconfig/weft.pc" \
         /usr/lib/systemd/system/weft-chat.service; do
    [[ ! -e $f ]] || fail "$f is still there after apt-get purge"
done
echo "check_debs: OK ($(basename "$DEV"), $(basename "$APPS"))"
