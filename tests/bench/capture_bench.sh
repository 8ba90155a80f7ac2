#!/usr/bin/env bash
# Live-capture benchmark (the capture issue's targets), all measured in one run on one guest:
# a running 4 GiB guest holding ~1 GiB of data (hang mode: it spins, never panics) captured by
#   - QEMU dump-guest-memory format kdump-zlib              (the guest is stopped throughout)
#   - QEMU dump-guest-memory format elf + makedumpfile -c -d 31  (stopped during the ELF dump)
#   - guestdump dump --path selective -d 31
#   - guestdump dump --path stream -d 31
# Prints total time, guest pause, guestdump's peak RSS and output size, and the ratios against
# QEMU's kdump-zlib, with the libvirt issue's memory budget for the --qmp path: peak RSS under
# 64 MiB + 2 bytes per guest page + the dump's size.
#
# Usage: tests/bench/capture_bench.sh [BUILD_DIR] [MEM_MIB] [FILL_MIB]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
mem=${2:-4096}
fill=${3:-1024}
gd=$build/host/guestdump
PY=/usr/bin/python3
work=$build/bench-capture
rm -rf "$work" && mkdir -p "$work"
export GUESTDUMP_FIXTURE_CACHE=$build/fixtures/cache
guest=$work/guest
trap '"$root/tests/fixtures/run-guest.sh" stop --dir "$guest"' EXIT
"$root/tests/fixtures/run-guest.sh" start --dir "$guest" --mem "$mem" --fill "$fill" --mode hang \
    --timeout 900
qmp() { "$PY" "$root/tests/fixtures/qmp.py" "$guest/qmp.sock" "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
: > "$work/results.txt"
row() { echo "$*" >> "$work/results.txt"; }  # name total_s pause_s bytes [rss_kib]

# QEMU stops the guest for its whole dump; the dump's duration is the pause.
t0=$(now); qmp dump "$work/qemu.kdump" kdump-zlib --timeout 3600 > /dev/null; t1=$(now)
row qemu-kdump-zlib "$(secs "$t0" "$t1")" "$(secs "$t0" "$t1")" "$(stat -c %s "$work/qemu.kdump")"
rm -f "$work/qemu.kdump"

t0=$(now); qmp dump "$work/qemu.elf" elf --timeout 3600 > /dev/null; t1=$(now)
"$PY" "$here/normalize_elf.py" "$work/qemu.elf" "$work/norm.elf"
rm -f "$work/qemu.elf"
makedumpfile -c -d 31 "$work/norm.elf" "$work/md.kdump" > /dev/null 2>&1; t2=$(now)
row qemu-elf+makedumpfile-c-d31 "$(secs "$t0" "$t2")" "$(secs "$t0" "$t1")" "$(stat -c %s "$work/md.kdump")"
rm -f "$work/norm.elf" "$work/md.kdump"

for path in selective stream; do
    rm -rf "$work/store"
    t0=$(now)
    /usr/bin/time -o "$work/time" -f %M \
        "$gd" dump --qmp "$guest/qmp.sock" -o "$work/store" -d 31 --path $path > /dev/null 2>&1
    t1=$(now)
    d=$(find "$work/store" -mindepth 2 -maxdepth 2 -type d ! -name '.*')
    pause=$("$PY" -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["pause_seconds"])' "$d/meta.json")
    row "guestdump-$path" "$(secs "$t0" "$t1")" "$pause" "$(stat -c %s "$d/vmcore")" "$(cat "$work/time")"
done
[ "$(qmp exec query-status | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = running ] ||
    { echo "bench: the guest is not running after the captures" >&2; exit 1; }

echo "guest: $mem MiB RAM, $fill MiB filled, running (hang mode), TCG; $(nproc) CPUs"
printf '%-30s %9s %9s %11s %9s\n' method total_s pause_s output_MiB rss_MiB
while read -r n t p b r; do
    rss=-
    [ -z "$r" ] || rss=$(awk -v k="$r" 'BEGIN { printf "%.1f", k / 1024 }')
    printf '%-30s %9s %9s %11.1f %9s\n' "$n" "$t" "$p" "$(echo "$b/1048576" | bc -l)" "$rss"
done < "$work/results.txt"
get() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/results.txt"; }
ratio() { echo "scale=1; $1 / $2" | bc -l; }
echo
echo "total: qemu kdump-zlib / guestdump selective = $(ratio "$(get qemu-kdump-zlib 2)" "$(get guestdump-selective 2)")x (target >= 5)"
echo "pause: qemu kdump-zlib / guestdump selective = $(ratio "$(get qemu-kdump-zlib 3)" "$(get guestdump-selective 3)")x (target >= 20)"
echo "size:  guestdump selective / makedumpfile -c -d 31 = $(echo "scale=2; $(get guestdump-selective 4) / $(get qemu-elf+makedumpfile-c-d31 4)" | bc -l) (target <= 1)"
budget=$(echo "scale=1; 64 + 2 * $mem * 256 / 1048576 + $(get guestdump-selective 4) / 1048576" | bc -l)
echo "RSS:   guestdump selective $(awk -v k="$(get guestdump-selective 5)" 'BEGIN { printf "%.1f", k / 1024 }') MiB, budget $budget MiB (64 MiB + 2 B/page + dump size)"
