#!/usr/bin/env bash
# Configures and builds guestdump into build/ (or $GUESTDUMP_BUILD_DIR): everything, or only
# the targets named in $GUESTDUMP_BUILD_TARGETS (the demo builds just the CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${GUESTDUMP_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DGUESTDUMP_WERROR=ON "$@" > /dev/null
# shellcheck disable=SC2086 # a list of target names
cmake --build "$build" ${GUESTDUMP_BUILD_TARGETS:+--target $GUESTDUMP_BUILD_TARGETS}
