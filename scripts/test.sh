#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test tier: unit, then integration (real QEMU
# guests checked with crash, makedumpfile, libkdumpfile and drgn).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build=${GUESTDUMP_BUILD_DIR:-build}
ctest --test-dir "$build" -L unit --output-on-failure
ctest --test-dir "$build" -L integration --output-on-failure
ctest --test-dir "$build" -L e2e --output-on-failure
