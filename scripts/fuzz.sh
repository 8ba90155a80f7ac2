#!/usr/bin/env bash
# The fuzz tier: builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan in their own
# build directory and runs every target for SECONDS (default 20) from a scratch copy of its
# committed seed corpus fuzz/corpus/<target> (new inputs stay in the scratch copy; the tree stays
# clean), with fuzz/dict/<target>.dict when there is one. Two targets run at a time.
#
# Fails on any crash, sanitizer report, leak, timeout or out-of-memory (the input is kept under
# the scratch directory's crashes/), on a target without seeds, and when clang or libFuzzer's
# runtime is missing (scripts/install-deps.sh installs clang and libclang-rt-14-dev): a fuzz
# tier that cannot run is a failure, never a skip. The last line is "N passed, N failed".
#
# Usage: scripts/fuzz.sh [--make-seeds] [SECONDS] [TARGET...]
#   --make-seeds  regenerate the synthetic seeds into fuzz/corpus with fuzz_seeds, then exit
# Environment: GUESTDUMP_FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (build jobs, default 2),
#   FUZZ_PARALLEL (targets at once, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
make_seeds=0
if [[ "${1:-}" == "--make-seeds" ]]; then
    make_seeds=1
    shift
fi
secs=${1:-20}
shift || true
targets=("$@")
# One line, so that branches adding targets merge trivially (same list as fuzz/CMakeLists.txt).
((${#targets[@]})) || targets=(vmcoreinfo translator kernel_log elf_core kdump_reader xen_core locator page_filter guest_kernel qmp guest_agent mtree proc_maps daemon_config boot_config guest_config s3_list)
build=${GUESTDUMP_FUZZ_BUILD_DIR:-build-fuzz}

if ! command -v clang++ > /dev/null || ! command -v clang > /dev/null; then
    echo "fuzz: FAIL: clang is not installed (scripts/install-deps.sh installs clang)" >&2
    echo "0 passed, ${#targets[@]} failed"
    exit 1
fi
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
    clang++ -x c++ -fsanitize=fuzzer,address,undefined - -o /dev/null 2> /dev/null; then
    echo "fuzz: FAIL: clang cannot link libFuzzer with ASan/UBSan (install libclang-rt-14-dev)" >&2
    echo "0 passed, ${#targets[@]} failed"
    exit 1
fi

mkdir -p "$build"
# A tree scripts/sanitize.sh configured (GUESTDUMP_FUZZ=ON with the tests) is used as it is: its
# fuzz targets are built already and reconfiguring would drop its tests.
if grep -qs '^GUESTDUMP_FUZZ:BOOL=ON' "$build/CMakeCache.txt" &&
    grep -qs '^GUESTDUMP_BUILD_TESTS:BOOL=ON' "$build/CMakeCache.txt"; then
    configured=1
else
    configured=0
fi
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
# -O1 and line tables only: the build is most of the tier's time; asserts stay on.
((configured)) || CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DGUESTDUMP_FUZZ=ON \
    -DGUESTDUMP_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    > "$build/configure.log" 2>&1 || {
    cat "$build/configure.log"
    echo "fuzz: FAIL: cmake could not configure $build" >&2
    echo "0 passed, ${#targets[@]} failed"
    exit 1
}
if ((make_seeds)); then
    cmake --build "$build" --target fuzz_seeds -j "${FUZZ_JOBS:-2}"
    "$build/fuzz/fuzz_seeds" fuzz/corpus
    echo "fuzz: seeds written to fuzz/corpus (commit them)"
    exit 0
fi
start=$SECONDS
if ! cmake --build "$build" --target fuzz_all -j "${FUZZ_JOBS:-2}"; then
    echo "fuzz: FAIL: the fuzz targets do not build" >&2
    echo "0 passed, ${#targets[@]} failed"
    exit 1
fi
echo "fuzz: build took $((SECONDS - start))s"

work="$build/fuzz/run"
rm -rf "$work"
mkdir -p "$work/crashes" "$work/corpus"

# Runs one target; its output goes to $work/$t.log, its verdict to $work/$t.status.
run_one() {
    local t=$1 dict=() seeds="fuzz/corpus/$t"
    if [[ ! -d "$seeds" ]] || [[ -z "$(ls -A "$seeds")" ]]; then
        echo "no seed corpus in $seeds" > "$work/$t.log"
        echo fail > "$work/$t.status"
        return
    fi
    cp -r "$seeds" "$work/corpus/$t"
    [[ -f "fuzz/dict/$t.dict" ]] && dict=(-dict="fuzz/dict/$t.dict")
    if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:quarantine_size_mb=64 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/crashes/$t-" "${dict[@]}" \
        "$work/corpus/$t" > "$work/$t.log" 2>&1; then
        echo pass > "$work/$t.status"
    else
        echo fail > "$work/$t.status"
    fi
}

running=0
for t in "${targets[@]}"; do
    if [[ ! -x "$build/fuzz/fuzz_$t" ]]; then
        echo "no fuzz target fuzz_$t" > "$work/$t.log"
        echo fail > "$work/$t.status"
        continue
    fi
    run_one "$t" &
    if ((++running >= ${FUZZ_PARALLEL:-2})); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

passed=0
failed=0
for t in "${targets[@]}"; do
    if [[ "$(cat "$work/$t.status" 2> /dev/null)" == pass ]]; then
        ((++passed))
        printf 'PASS: fuzz_%s %ss: ' "$t" "$secs"
        grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$work/$t.log" |
            tr '\n' ' '
        echo
    else
        ((++failed))
        tail -n 60 "$work/$t.log"
        echo "FAIL: fuzz_$t (log $work/$t.log, inputs in $work/crashes)"
    fi
done
echo "$passed passed, $failed failed"
((failed == 0))
