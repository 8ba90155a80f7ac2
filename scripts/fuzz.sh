#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan in their own build directory,
# generates the seed corpus from small synthetic inputs and runs every target for SECONDS
# (default 20). Fails on any crash, sanitizer report, leak, timeout or out-of-memory.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Environment: GUESTDUMP_FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (build jobs, default 2).
# Exit 77 (CTest "skipped") when clang or libFuzzer's runtime is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(vmcoreinfo translator kernel_log elf_core kdump_reader xen_core locator
    boot_config guest_config)
build=${GUESTDUMP_FUZZ_BUILD_DIR:-build-fuzz}

if ! command -v clang++ > /dev/null || ! command -v clang > /dev/null; then
    echo "fuzz: clang is not installed (scripts/install-deps.sh installs it); skipping" >&2
    exit 77
fi
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
    clang++ -x c++ -fsanitize=fuzzer - -o /dev/null 2> /dev/null; then
    echo "fuzz: clang cannot link libFuzzer (install libclang-rt-dev); skipping" >&2
    exit 77
fi

mkdir -p "$build"
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DGUESTDUMP_FUZZ=ON \
    -DGUESTDUMP_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
cmake --build "$build" --target fuzz_all -j "${FUZZ_JOBS:-2}"

work="$build/fuzz/run"
rm -rf "$work"
mkdir -p "$work/seeds" "$work/crashes"
"$build/fuzz/fuzz_seeds" "$work/seeds"

status=0
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t"
    echo "--- fuzz_$t for ${secs}s ($(ls "$work/seeds/$t" | wc -l) seeds)"
    # New inputs go to the scratch corpus; the seeds stay as generated.
    if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:quarantine_size_mb=64 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/crashes/$t-" \
        "$work/corpus/$t" "$work/seeds/$t" > "$work/$t.log" 2>&1; then
        tail -n 60 "$work/$t.log"
        echo "FAIL: fuzz_$t (artifacts in $work/crashes)" >&2
        status=1
    else
        grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$work/$t.log" | tr '\n' ' '
        echo
    fi
done
exit $status
