#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test tier: unit, then integration (real QEMU
# guests checked with crash, makedumpfile, libkdumpfile and drgn), then e2e, then the sanitizer
# tier (the unit tier and the fuzz corpora under ASan + UBSan, clang, build-asan/), then the fuzz
# tier (every libFuzzer target for a bounded time, in the same tree), then real Xen (a Xen 4.17
# host booted under QEMU), then the Debian packages. The guest tiers keep about one core busy;
# the sanitizer build, the package build and the mmdebstrap roots run beside them in the
# background (scripts/test-background.sh). Each tier ends with CTest's summary or "N passed,
# N failed"; the first failing tier stops the run.
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
build=${GUESTDUMP_BUILD_DIR:-build}
mkdir -p "$build"
# Background work (scripts/test-background.sh), at SCHED_IDLE priority: it only gets the core
# that the guest tiers leave idle. From the unit tier on, the sid QEMU root, the Xen environment
# and the install test's root are fetched, and the clang build of the sanitizer tier, then the
# Debian packages and the boot test's root, are built. (With the fetch running during it, even
# at SCHED_IDLE, the main build took 902 and 962 s in two local CI runs; 687 s without.) Each
# chain has its own session, killed if a tier fails; each step leaves BUILD/background/STEP.rc,
# which the tier that needs the step waits for.
bg=$build/background
rm -rf "$bg"
mkdir -p "$bg"
bg_pids=()
stop_background() {
    local p
    for p in "${bg_pids[@]}"; do kill -- -"$p" 2> /dev/null || true; done
}
trap stop_background EXIT
# Waits until background STEP has ended (its .rc file), or its chain has died.
await() {
    local step=$1 chain=$2 t0=$SECONDS
    while [[ ! -e $bg/$step.rc ]] && kill -0 "$chain" 2> /dev/null; do
        sleep 5
    done
    local rc
    rc=$(cat "$bg/$step.rc" 2> /dev/null || echo '(none: its chain died)')
    echo "test.sh: background $step: exit $rc, waited $((SECONDS - t0)) s (log: $bg/$step.log)"
}
timed build scripts/build.sh
# The integration tier keeps three guest dumps (128 MiB, 1 GiB, 4 GiB, sparse) and each test
# removes its own work directory when it passes; the free space is printed so that a full disk
# on a CI machine is seen for what it is.
disk() { echo "test.sh: $1: $(df -h --output=avail "$build" | tail -1 | tr -d ' ') free, build tree $(du -sh "$build" 2>/dev/null | cut -f1)"; }
disk "before the tests"
setsid scripts/test-background.sh compile "$build" > "$bg/compile.log" 2>&1 &
bg_pids+=($!)
compile_chain=$!
setsid scripts/test-background.sh fetch "$build" > "$bg/fetch.log" 2>&1 &
bg_pids+=($!)
fetch_chain=$!
timed unit ctest --test-dir "$build" -L unit --output-on-failure
timed integration ctest --test-dir "$build" -L integration --output-on-failure
disk "after the integration tier"
timed e2e ctest --test-dir "$build" -L e2e --output-on-failure
disk "after the e2e tier"
# The sanitizer tier (scripts/sanitize.sh: the unit tier and the fuzz corpora under ASan +
# UBSan) in the tree the background built; if that build failed, this one fails the same way.
sanitizer() {
    await asan "$compile_chain"
    GUESTDUMP_SANITIZE_BUILD_DIR="$build-asan" scripts/sanitize.sh
}
timed sanitizer sanitizer
# 17 targets, two at a time, 15 s each: about 2 minutes; the sanitizer tier built them.
timed fuzz env GUESTDUMP_FUZZ_BUILD_DIR="$build-asan" scripts/fuzz.sh "${GUESTDUMP_FUZZ_SECONDS:-15}"
# Real Xen under QEMU: the environment fetched in the background, PV guests that panic
# (tests/xen/); build-env.sh waits for the background builder if it is still at work. The PVH
# guest (label xen-hvm: its xl dump-core alone takes 6 minutes under TCG) is not in this run:
# ctest --test-dir build -L xen-hvm.
xen() {
    await xen-env "$fetch_chain"
    ctest --test-dir "$build" -L '^xen$' --output-on-failure
}
timed xen xen
disk "after the xen tier"
# The Debian packages: built with dpkg-buildpackage and checked by lintian in the background
# (packaging.build shows that result again, or builds if the tree changed), installed, upgraded
# and purged in an mmdebstrap root, then booted with systemd as PID 1 under QEMU.
packaging() {
    await boot-base "$compile_chain"
    await install-base "$fetch_chain"
    ctest --test-dir "$build" -L packaging --output-on-failure
}
timed packaging packaging
disk "after the packaging tier"
# The background steps' times (they overlap the tiers above).
mapfile -t bg_times < <(grep -h '^test-background: ' "$bg/fetch.log" "$bg/compile.log" |
    cut -d' ' -f2-)
times+=("${bg_times[@]/#/background }")
printf 'test.sh: %s\n' "${times[@]}"
