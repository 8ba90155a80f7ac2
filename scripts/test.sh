#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test tier, cheap failures first: unit, then the
# sanitizer tier (the unit tier and the fuzz corpora under ASan + UBSan, clang, build-asan/), then
# the fuzz tier (every libFuzzer target for a bounded time, in the same tree), then integration
# (real QEMU guests checked with crash, makedumpfile, libkdumpfile and drgn), then e2e, then the
# Debian packages. Each tier ends with CTest's summary or "N passed, N failed"; the first failing
# tier stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."
# Root installs packages and starts QEMU/libvirt; a user with sudo gets the same run through it.
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo > /dev/null || { echo "${0##*/}: run as root (no sudo here)" >&2; exit 1; }
    exec sudo -E "$PWD/scripts/${0##*/}" "$@"
fi
scripts/install-deps.sh
scripts/build.sh
build=${GUESTDUMP_BUILD_DIR:-build}
# The integration tier keeps three guest dumps (128 MiB, 1 GiB, 4 GiB, sparse) and each test
# removes its own work directory when it passes; the free space is printed so that a full disk
# on a CI machine is seen for what it is.
disk() { echo "test.sh: $1: $(df -h --output=avail "$build" | tail -1 | tr -d ' ') free, build tree $(du -sh "$build" 2>/dev/null | cut -f1)"; }
disk "before the tests"
ctest --test-dir "$build" -L unit --output-on-failure
GUESTDUMP_SANITIZE_BUILD_DIR="$build-asan" scripts/sanitize.sh
# 16 targets, two at a time, 15 s each: about 2 minutes; the sanitizer tier built them.
GUESTDUMP_FUZZ_BUILD_DIR="$build-asan" scripts/fuzz.sh "${GUESTDUMP_FUZZ_SECONDS:-15}"
ctest --test-dir "$build" -L integration --output-on-failure
disk "after the integration tier"
ctest --test-dir "$build" -L e2e --output-on-failure
disk "after the e2e tier"
# The Debian packages: built with dpkg-buildpackage and checked by lintian, installed, upgraded
# and purged in an mmdebstrap root, then booted with systemd as PID 1 under QEMU.
ctest --test-dir "$build" -L packaging --output-on-failure
disk "after the packaging tier"
