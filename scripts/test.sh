#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test tier, cheap failures first: unit, then the
# sanitizer tier (the unit tier and the fuzz corpora under ASan + UBSan, clang, build-asan/), then
# the fuzz tier (every libFuzzer target for a bounded time, in the same tree), then integration
# (real QEMU guests checked with crash, makedumpfile, libkdumpfile and drgn), then e2e, then the
# Debian packages, then real Xen (a Xen 4.17 host booted under QEMU). Each tier ends with CTest's summary or "N passed, N failed"; the first failing
# tier stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."
# Root installs packages and starts QEMU/libvirt; a user with sudo gets the same run through it.
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo > /dev/null || { echo "${0##*/}: run as root (no sudo here)" >&2; exit 1; }
    exec sudo -E "$PWD/scripts/${0##*/}" "$@"
fi
# Each step prints its time ("test.sh: TIER took N s"), and the run ends with all of them.
times=()
timed() {
    local name=$1 t0=$SECONDS rc=0
    shift
    "$@" || rc=$?
    times+=("$name $((SECONDS - t0)) s")
    echo "test.sh: $name took $((SECONDS - t0)) s"
    return "$rc"
}
timed install-deps scripts/install-deps.sh
timed build scripts/build.sh
build=${GUESTDUMP_BUILD_DIR:-build}
# The integration tier keeps three guest dumps (128 MiB, 1 GiB, 4 GiB, sparse) and each test
# removes its own work directory when it passes; the free space is printed so that a full disk
# on a CI machine is seen for what it is.
disk() { echo "test.sh: $1: $(df -h --output=avail "$build" | tail -1 | tr -d ' ') free, build tree $(du -sh "$build" 2>/dev/null | cut -f1)"; }
disk "before the tests"
timed unit ctest --test-dir "$build" -L unit --output-on-failure
# The xen tier's environment (an mmdebstrap root of ~800 MB, mostly a wait on the archive) is
# built while the sanitizer tier compiles; the xen tier's own build-env.sh waits for it.
xen_cache=$build/fixtures/cache/xen
mkdir -p "$xen_cache"
# Its own session, so that a failing tier stops mmdebstrap too.
setsid bash tests/xen/build-env.sh "$xen_cache" > "$build/xen-env.log" 2>&1 &
xen_env=$!
trap 'kill -- -"$xen_env" 2> /dev/null || true' EXIT
timed sanitizer env GUESTDUMP_SANITIZE_BUILD_DIR="$build-asan" scripts/sanitize.sh
# 16 targets, two at a time, 15 s each: about 2 minutes; the sanitizer tier built them.
timed fuzz env GUESTDUMP_FUZZ_BUILD_DIR="$build-asan" scripts/fuzz.sh "${GUESTDUMP_FUZZ_SECONDS:-15}"
timed integration ctest --test-dir "$build" -L integration --output-on-failure
disk "after the integration tier"
timed e2e ctest --test-dir "$build" -L e2e --output-on-failure
disk "after the e2e tier"
# The Debian packages: built with dpkg-buildpackage and checked by lintian, installed, upgraded
# and purged in an mmdebstrap root, then booted with systemd as PID 1 under QEMU.
timed packaging ctest --test-dir "$build" -L packaging --output-on-failure
disk "after the packaging tier"
# Real Xen under QEMU: the environment built above, PV guests that panic (tests/xen/).
wait "$xen_env" || echo "test.sh: building the Xen environment in the background failed" \
    "($build/xen-env.log); the xen tier builds it again"
timed xen ctest --test-dir "$build" -L xen --output-on-failure
disk "after the xen tier"
printf 'test.sh: %s\n' "${times[@]}"
