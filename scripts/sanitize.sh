#!/usr/bin/env bash
# The sanitizer tier: builds everything with ASan + UBSan (GCC, -DGUESTDUMP_SANITIZE=
# address,undefined, which also sets -fno-sanitize-recover=undefined) in its own build directory
# and runs the whole unit tier there: the GoogleTest binaries and fuzz.replay.<target>, which
# runs every fuzz target once on each file of its committed corpus fuzz/corpus/<target>.
# Any sanitizer report (memory error, leak, undefined behaviour) fails the test it happens in.
# The output ends with CTest's summary. -O1 -g1 (line tables for the reports, asserts on) keeps the
# extra build short. No ccache launcher, like scripts/build.sh: with a ccache base_dir, __FILE__
# becomes relative and tests that find files next to their sources fail.
# Usage: scripts/sanitize.sh [CTEST ARGS...]   (e.g. -R fuzz.replay to replay the corpora only)
# Environment: GUESTDUMP_SANITIZE_BUILD_DIR (default build-asan), SANITIZE_JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${GUESTDUMP_SANITIZE_BUILD_DIR:-build-asan}
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja -DGUESTDUMP_SANITIZE=address,undefined \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -UCMAKE_CXX_COMPILER_LAUNCHER -UCMAKE_C_COMPILER_LAUNCHER \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    > "$build/configure.log" 2>&1 || {
    cat "$build/configure.log"
    echo "sanitize: FAIL: cmake could not configure $build" >&2
    echo "0 passed, 1 failed"
    exit 1
}
start=$SECONDS
# A build failure still ends with a line CI's parser reads.
if ! cmake --build "$build" -j "${SANITIZE_JOBS:-2}"; then
    echo "sanitize: FAIL: the sanitizer build failed" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
echo "sanitize: build took $((SECONDS - start))s"
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$build" -L unit --output-on-failure "$@"
