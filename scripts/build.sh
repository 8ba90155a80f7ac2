#!/usr/bin/env bash
# Configures and builds guestdump into build/ (or $GUESTDUMP_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${GUESTDUMP_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DGUESTDUMP_WERROR=ON "$@" > /dev/null
cmake --build "$build"
