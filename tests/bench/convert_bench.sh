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

# Each table's tools run once per round, RUNS rounds, interleaved, so that a slow phase of this
# shared machine hits every tool alike. Kept per tool: the best wall time (nanosecond clock;
# /usr/bin/time's %e has 10 ms steps), the peak RSS (KiB) of that run and the output size.
#
# Every run starts with its input wholly in the page cache, read again just before it: this
# VM's balloon reclaims idle page cache (~60 MB per 30 s seen, holes of the sparse fixtures
# included), and a page read back from disk, or a hole's page zeroed afresh (2 ms per MiB seen),
# costs the tool that meets it more than the work measured; the 20,948 zero pages of the -d 31
# input are holes.
T_NAME=() T_OUT=() T_IN=() T_CMD=()
tool() {
  T_NAME+=("$1") T_OUT+=("$2") T_IN+=("$3")
  shift 3
  T_CMD+=("$(printf '%q ' "$@")")
}
measure_all() {
  : > "$results"
  : > "$results.runs"
  local -A best=() rss=()
  local i name out t0 t1 us
  for _ in $(seq "$runs"); do
    for i in "${!T_NAME[@]}"; do
      name=${T_NAME[$i]} out=${T_OUT[$i]}
      rm -f "$out"
      cat "${T_IN[$i]}" > /dev/null
      # Every run starts with no dirty data in the page cache: makedumpfile leaves its output
      # to background writeback, and a journal commit (guestdump syncs its output before the
      # rename) would otherwise also wait for the previous runs' data.
      sync
      t0=$(date +%s%N)
      eval "/usr/bin/time -f %M -o \"\$work/time.txt\" ${T_CMD[$i]}" > "$work/$name.log" 2>&1 ||
        { cat "$work/$name.log"; echo "bench: $name failed" >&2; exit 1; }
      t1=$(date +%s%N)
      us=$(( (t1 - t0) / 1000 ))
      echo "$name $us" >> "$results.runs" # every run, in microseconds
      if [ -z "${best[$name]:-}" ] || [ "$us" -lt "${best[$name]}" ]; then
        best[$name]=$us
        rss[$name]=$(cat "$work/time.txt")
      fi
    done
  done
  for i in "${!T_NAME[@]}"; do
    name=${T_NAME[$i]}
    printf '%s %s %s %s\n' "$name" "$(awk -v u="${best[$name]}" 'BEGIN { printf "%.3f", u / 1e6 }')" \
      "${rss[$name]}" "$(stat -c %s "${T_OUT[$i]}")" >> "$results"
  done
  T_NAME=() T_OUT=() T_IN=() T_CMD=()
}
results=$work/results.txt

: > "$work/results.txt"
tool guestdump-zstd "$work/gd-zstd.kdump" "$elf" "$gd" convert -d 1 "$elf" "$work/gd-zstd.kdump"
tool guestdump-lzo "$work/gd-lzo.kdump" "$elf" "$gd" convert -d 1 -c lzo "$elf" "$work/gd-lzo.kdump"
tool guestdump-zlib "$work/gd-zlib.kdump" "$elf" "$gd" convert -d 1 -c zlib "$elf" "$work/gd-zlib.kdump"
tool makedumpfile-c "$work/md-c.kdump" "$norm" makedumpfile -c -d 1 "$norm" "$work/md-c.kdump"
tool makedumpfile-l "$work/md-l.kdump" "$norm" makedumpfile -l -d 1 "$norm" "$work/md-l.kdump"
measure_all

echo "guest: $(/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["params"]["mem_mib"], "MiB RAM,", j["params"]["fill_mib"], "MiB filled, kernel", j["kernel"]["release"])' "$fixture/fixture.json"); $(nproc) CPUs; best of $runs runs"
printf '%-18s %9s %10s %12s\n' tool seconds "RSS MiB" "output MiB"
while read -r n t m s; do
  printf '%-18s %9.3f %10.1f %12.1f\n' "$n" "$t" "$(echo "$m/1024" | bc -l)" "$(echo "$s/1048576" | bc -l)"
done < "$work/results.txt"
get() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/results.txt"; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
# median NAME RUNS_FILE: the median of a tool's runs, in seconds (the targets are on the best).
median() {
  awk -v n="$1" '$1 == n { print $2 }' "$2" | sort -n |
    awk '{ v[NR] = $1 } END { printf "%.3f", v[int((NR + 1) / 2)] / 1e6 }'
}
echo
echo "speed: makedumpfile -c -d 1 / guestdump (zstd) = $(ratio "$(get makedumpfile-c 2)" "$(get guestdump-zstd 2)")x (target >= 5)"
echo "       medians: makedumpfile -c $(median makedumpfile-c "$work/results.txt.runs") s, guestdump (zstd) $(median guestdump-zstd "$work/results.txt.runs") s = $(ratio "$(median makedumpfile-c "$work/results.txt.runs")" "$(median guestdump-zstd "$work/results.txt.runs")")x"
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
results=$work/results31.txt
: > "$results"
tool guestdump-zstd "$work/gd31.kdump" "$elf4" "$gd" convert -d 31 "$elf4" "$work/gd31.kdump"
tool guestdump-lzo "$work/gd31-lzo.kdump" "$elf4" "$gd" convert -d 31 -c lzo "$elf4" "$work/gd31-lzo.kdump"
tool makedumpfile-c "$work/md31-c.kdump" "$norm4" makedumpfile -c -d 31 "$norm4" "$work/md31-c.kdump"
tool makedumpfile-l "$work/md31-l.kdump" "$norm4" makedumpfile -l -d 31 "$norm4" "$work/md31-l.kdump"
measure_all
pages=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["pages"]["total"])' \
  < <("$gd" info --json "$work/gd31.kdump"))
echo
echo "dump level 31, 4 GiB guest ($pages pages of RAM); best of $runs runs"
printf '%-18s %9s %10s %12s\n' tool seconds "RSS MiB" "output MiB"
while read -r n t m s; do
  printf '%-18s %9.3f %10.1f %12.1f\n' "$n" "$t" "$(echo "$m/1024" | bc -l)" "$(echo "$s/1048576" | bc -l)"
done < "$results"
get() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$results"; }
echo
echo "speed: makedumpfile -c -d 31 / guestdump (zstd) = $(ratio "$(get makedumpfile-c 2)" "$(get guestdump-zstd 2)")x (target >= 5)"
echo "       medians: makedumpfile -c $(median makedumpfile-c "$results.runs") s, guestdump (zstd) $(median guestdump-zstd "$results.runs") s = $(ratio "$(median makedumpfile-c "$results.runs")" "$(median guestdump-zstd "$results.runs")")x"
echo "speed: makedumpfile -l -d 31 / guestdump (zstd) = $(ratio "$(get makedumpfile-l 2)" "$(get guestdump-zstd 2)")x (target > 1)"
echo "size:  guestdump (zstd) / makedumpfile -c -d 31 = $(ratio "$(get guestdump-zstd 4)" "$(get makedumpfile-c 4)") (target <= 1.05)"
budget_kib=$(( 64 * 1024 + pages * 2 / 1024 ))
echo "RSS:   guestdump (zstd) $(get guestdump-zstd 3) KiB, budget 64 MiB + 2 B/page = $budget_kib KiB"
rm -f "$norm4"
