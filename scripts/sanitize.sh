#!/usr/bin/env bash
# The sanitizer tier: builds everything with clang, ASan + UBSan (-fno-sanitize-recover=undefined)
# and libFuzzer's coverage instrumentation (-DGUESTDUMP_FUZZ=ON with the tests) in its own build
# directory, and runs the whole unit tier there: the GoogleTest binaries and fuzz.replay.<target>,
# in which each libFuzzer target runs once over its committed corpus fuzz/corpus/<target>.
# The same tree then serves the fuzz tier (scripts/fuzz.sh with GUESTDUMP_FUZZ_BUILD_DIR set to
# it), so CI compiles the sanitized code once. Any sanitizer report (memory error, leak, undefined
# behaviour) fails the test it happens in. The output ends with CTest's summary. -O1 with line
# tables (for the reports; asserts on) keeps the extra build short. No ccache launcher, like
# scripts/build.sh.
# Usage: scripts/sanitize.sh [CTEST ARGS...]   (e.g. -R fuzz.replay to replay the corpora only)
#        scripts/sanitize.sh --build-only         (configure and build; scripts/test.sh runs this
#                                                  in the background while other tiers run)
# Environment: GUESTDUMP_SANITIZE_BUILD_DIR (default build-asan), SANITIZE_JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${GUESTDUMP_SANITIZE_BUILD_DIR:-build-asan}
build_only=
if [[ ${1:-} == --build-only ]]; then
    build_only=1
    shift
fi
fail() {
    echo "sanitize: FAIL: $*" >&2
    echo "0 passed, 1 failed"
    exit 1
}
command -v clang++ > /dev/null && command -v clang > /dev/null ||
    fail "clang is not installed (scripts/install-deps.sh installs clang)"
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
    clang++ -x c++ -fsanitize=fuzzer,address,undefined - -o /dev/null 2> /dev/null; then
    fail "clang cannot link libFuzzer with ASan/UBSan (install libclang-rt-14-dev)"
fi
mkdir -p "$build"
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DGUESTDUMP_FUZZ=ON \
    -DGUESTDUMP_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -UCMAKE_CXX_COMPILER_LAUNCHER -UCMAKE_C_COMPILER_LAUNCHER \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    > "$build/configure.log" 2>&1 || {
    cat "$build/configure.log"
    fail "cmake could not configure $build"
}
start=$SECONDS
# A build failure still ends with a line CI's parser reads.
cmake --build "$build" -j "${SANITIZE_JOBS:-2}" || fail "the sanitizer build failed"
echo "sanitize: build took $((SECONDS - start))s"
[[ -z $build_only ]] || exit 0
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$build" -L unit --output-on-failure "$@"
