#!/usr/bin/env bash
# Converter benchmark: guestdump convert vs makedumpfile on the same real guest dumps, measured
# in one run on this machine. Prints tables of wall time, peak RSS and output size, and the
# ratios the issues target:
#   dump level 1 on the 1 GiB fixture (converter issue): >= 5x faster than makedumpfile -c,
#     faster than makedumpfile -l, output <= 1.05x makedumpfile -c's;
#   dump level 31 on the 4 GiB fixture (filtering issue): the same three targets, and peak RSS
#     below 64 MiB + 2 bytes per guest page.
#
# Usage: tests/bench/convert_bench.sh [BUILD_DIR] [RUNS]
# Uses the cached fixtures BUILD_DIR/fixtures/g1024 and g4096l4 (built if missing; the same
# ones the integration tests use).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
runs=${2:-3}
gd=$build/host/guestdump
fixture=$build/fixtures/g1024
GUESTDUMP_FIXTURE_CACHE=$build/fixtures/cache "$root/tests/fixtures/make-guest-dump.sh" \
  --out "$fixture" --mem 1024 --fill 256 > /dev/null
work=$build/bench
rm -rf "$work"
mkdir -p "$work"
elf=$fixture/vmcore.elf
norm=$work/normalized.elf
/usr/bin/python3 "$here/normalize_elf.py" "$elf" "$norm"
cat "$elf" "$norm" > /dev/null  # both inputs in the page cache, as for every tool

# best-of-N wall time (s), peak RSS (KiB) of the best run, output size (bytes)
measure() {
  local name=$1 out=$2; shift 2
  local best= rss= size=
  for _ in $(seq "$runs"); do
    rm -f "$out"
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > "$work/$name.log" 2>&1 ||
      { cat "$work/$name.log"; echo "bench: $name failed" >&2; exit 1; }
    read -r t m < "$work/time.txt"
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; fi
  done
  size=$(stat -c %s "$out")
  printf '%s %s %s %s\n' "$name" "$best" "$rss" "$size" >> "$results"
}
results=$work/results.txt

: > "$work/results.txt"
measure guestdump-zstd "$work/gd-zstd.kdump" "$gd" convert -d 1 "$elf" "$work/gd-zstd.kdump"
measure guestdump-lzo "$work/gd-lzo.kdump" "$gd" convert -d 1 -c lzo "$elf" "$work/gd-lzo.kdump"
measure guestdump-zlib "$work/gd-zlib.kdump" "$gd" convert -d 1 -c zlib "$elf" "$work/gd-zlib.kdump"
measure makedumpfile-c "$work/md-c.kdump" makedumpfile -c -d 1 "$norm" "$work/md-c.kdump"
measure makedumpfile-l "$work/md-l.kdump" makedumpfile -l -d 1 "$norm" "$work/md-l.kdump"

echo "guest: $(/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["params"]["mem_mib"], "MiB RAM,", j["params"]["fill_mib"], "MiB filled, kernel", j["kernel"]["release"])' "$fixture/fixture.json"); $(nproc) CPUs; best of $runs runs"
printf '%-18s %9s %10s %12s\n' tool seconds "RSS MiB" "output MiB"
while read -r n t m s; do
  printf '%-18s %9.2f %10.1f %12.1f\n' "$n" "$t" "$(echo "$m/1024" | bc -l)" "$(echo "$s/1048576" | bc -l)"
done < "$work/results.txt"
get() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/results.txt"; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
echo
echo "speed: makedumpfile -c -d 1 / guestdump (zstd) = $(ratio "$(get makedumpfile-c 2)" "$(get guestdump-zstd 2)")x (target >= 5)"
echo "speed: makedumpfile -l -d 1 / guestdump (zstd) = $(ratio "$(get makedumpfile-l 2)" "$(get guestdump-zstd 2)")x (target > 1)"
echo "size:  guestdump (zstd) / makedumpfile -c      = $(ratio "$(get guestdump-zstd 4)" "$(get makedumpfile-c 4)") (target <= 1.05)"

# --- dump level 31 on the 4 GiB guest (RAM above the PCI hole, 4-level paging, nokaslr) ---
fixture4=$build/fixtures/g4096l4
GUESTDUMP_FIXTURE_CACHE=$build/fixtures/cache "$root/tests/fixtures/make-guest-dump.sh" \
  --out "$fixture4" --mem 4096 --fill 1024 --cpu max,la57=off --append nokaslr --no-kdump > /dev/null
elf4=$fixture4/vmcore.elf
norm4=$work/normalized4.elf
rm -f "$norm"
/usr/bin/python3 "$here/normalize_elf.py" "$elf4" "$norm4"
cat "$elf4" "$norm4" > /dev/null
results=$work/results31.txt
: > "$results"
measure guestdump-zstd "$work/gd31.kdump" "$gd" convert -d 31 "$elf4" "$work/gd31.kdump"
measure guestdump-lzo "$work/gd31-lzo.kdump" "$gd" convert -d 31 -c lzo "$elf4" "$work/gd31-lzo.kdump"
measure makedumpfile-c "$work/md31-c.kdump" makedumpfile -c -d 31 "$norm4" "$work/md31-c.kdump"
measure makedumpfile-l "$work/md31-l.kdump" makedumpfile -l -d 31 "$norm4" "$work/md31-l.kdump"
pages=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["pages"]["total"])' \
  < <("$gd" info --json "$work/gd31.kdump"))
echo
echo "dump level 31, 4 GiB guest ($pages pages of RAM); best of $runs runs"
printf '%-18s %9s %10s %12s\n' tool seconds "RSS MiB" "output MiB"
while read -r n t m s; do
  printf '%-18s %9.2f %10.1f %12.1f\n' "$n" "$t" "$(echo "$m/1024" | bc -l)" "$(echo "$s/1048576" | bc -l)"
done < "$results"
get() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$results"; }
echo
echo "speed: makedumpfile -c -d 31 / guestdump (zstd) = $(ratio "$(get makedumpfile-c 2)" "$(get guestdump-zstd 2)")x (target >= 5)"
echo "speed: makedumpfile -l -d 31 / guestdump (zstd) = $(ratio "$(get makedumpfile-l 2)" "$(get guestdump-zstd 2)")x (target > 1)"
echo "size:  guestdump (zstd) / makedumpfile -c -d 31 = $(ratio "$(get guestdump-zstd 4)" "$(get makedumpfile-c 4)") (target <= 1.05)"
budget_kib=$(( 64 * 1024 + pages * 2 / 1024 ))
echo "RSS:   guestdump (zstd) $(get guestdump-zstd 3) KiB, budget 64 MiB + 2 B/page = $budget_kib KiB"
rm -f "$norm4"
