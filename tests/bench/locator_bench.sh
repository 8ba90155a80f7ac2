#!/usr/bin/env bash
# VMCOREINFO locator benchmark: what finding VMCOREINFO in guest memory adds to a conversion.
# On the 4 GiB fixture (4-level, nokaslr, 1 GiB filled) it times `guestdump convert -d 31` and
# the locator alone on the same dump (locate_bench ignores the dump's note, so no 4 GiB copy
# without the note is needed), best of RUNS each, file in the page cache; target: locating
# < 10% of the conversion. If the 1 GiB no-device fixture exists (integration.locator.*), it
# also times the conversion of that dump, which includes locating.
#
# Usage: tests/bench/locator_bench.sh [BUILD_DIR] [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
runs=${2:-3}
gd=$build/host/guestdump
lb=$build/tests/locate_bench
[ -x "$lb" ] || { echo "locator_bench: build the locate_bench target first" >&2; exit 1; }
fixtures=${GUESTDUMP_FIXTURE_ROOT:-$build/fixtures}
fixture=$fixtures/g4096l4
GUESTDUMP_FIXTURE_CACHE=$fixtures/cache "$root/tests/fixtures/make-guest-dump.sh" \
  --out "$fixture" --mem 4096 --fill 1024 --cpu max,la57=off --append nokaslr --no-kdump > /dev/null
work=$build/bench-locator
rm -rf "$work"
mkdir -p "$work"
elf=$fixture/vmcore.elf
cat "$elf" > /dev/null # in the page cache, as for every run

best_of() { # prints the best wall time of "$@" over $runs runs (nanosecond clock)
  local best= t0 t1 t
  for _ in $(seq "$runs"); do
    t0=$(date +%s%N)
    "$@" > "$work/run.log" 2>&1 || { cat "$work/run.log"; echo "locator_bench: $* failed" >&2; exit 1; }
    t1=$(date +%s%N)
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
  done
  echo "$best"
}

conv=$(best_of "$gd" convert -d 31 "$elf" "$work/out.kdump")
"$lb" "$elf" "$runs" > "$work/locate.txt"
loc=$(sed -n 's/^locate_seconds=//p' "$work/locate.txt")
echo "4 GiB fixture ($(nproc) CPUs, best of $runs): $(head -n1 "$work/locate.txt")"
printf '%-40s %8.3f s\n' "guestdump convert -d 31 (zstd)" "$conv" "locator alone (open + locate)" "$loc"
pct=$(echo "scale=1; 100 * $loc / $conv" | bc -l)
echo "locating adds ${pct}% to the conversion (target < 10%)"
novmci=$fixtures/g1024-novmci/vmcore.elf
if [ -f "$novmci" ]; then
  cat "$novmci" > /dev/null
  c1=$(best_of "$gd" convert -d 31 "$novmci" "$work/out1.kdump")
  "$lb" "$novmci" "$runs" > "$work/locate1.txt"
  l1=$(sed -n 's/^locate_seconds=//p' "$work/locate1.txt")
  echo "1 GiB guest without the device: $(head -n1 "$work/locate1.txt")"
  printf '%-40s %8.3f s\n' "guestdump convert -d 31 (locates)" "$c1" "locator alone" "$l1"
fi
rm -rf "$work"
awk "BEGIN{exit !($pct < 10)}" || { echo "locator_bench: over target" >&2; exit 1; }
