#!/usr/bin/env bash
# libvirt-domain capture benchmark (issue 14's targets), measured in one run per guest size on
# one running (hang-mode) TCG domain of a private libvirtd (tests/integration/libvirt-env.sh)
# holding a quarter of its RAM in data, one capture after the other (the domain runs again
# after each):
#   - virsh dump --memory-only --format kdump-zlib      (what operators use today; the domain is
#                                                        paused throughout)
#   - guestdump dump DOMAIN -d 31                       (libvirt-selective)
#   - guestdump dump DOMAIN -d 31 --path stream         (the fallback: libvirt's compressed core
#                                                        dump, re-filtered)
#   - makedumpfile -c -d 31 of libvirt's ELF core       (size reference only)
# Prints total time, guest pause, peak RSS and output size per method, and the ratios against
# virsh dump, with the issue's targets: pause >= 50x shorter, total >= 10x shorter, output no
# larger than makedumpfile's, peak RSS under 64 MiB + 2 bytes per guest page + the dump's size.
#
# Usage (as root): tests/bench/libvirt_bench.sh [BUILD_DIR] [MEM_MIB...]   (default: 4096)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/tests/integration/libvirt-env.sh"
exec_in_private_namespace "$@"
build=$(cd "${1:-$root/build}" && pwd)
shift || true
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(4096)
gd=$build/host/guestdump
PY=/usr/bin/python3
V="virsh -c qemu:///system"
work=$build/bench-libvirt
rm -rf "$work" && mkdir -p "$work"
export GUESTDUMP_FIXTURE_CACHE=$build/fixtures/cache
trap libvirt_stop EXIT
libvirt_start "$work/libvirt"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
meta() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%.2f" % j["pause_seconds"])' "$1"; }
# peak RSS in KiB of the command that wrote TIMEFILE (/usr/bin/time -f %M)
rss_mib() { awk '{ printf "%.1f", $1 / 1024 }' "$1"; }

for mem in "${sizes[@]}"; do
    fill=$((mem / 4))
    dom=gd-bench-$mem
    results=$work/results-$mem.txt
    : > "$results"
    row() { echo "$*" >> "$results"; } # name total_s pause_s rss_mib bytes
    libvirt_define_guest "$dom" "$work/guest" "$mem" "$fill" hang
    $V start "$dom" > /dev/null
    for _ in $(seq 3600); do
        grep -q GD-HANG-SPINNING "$work/guest/$dom.console" 2>/dev/null && break
        sleep 0.5
    done
    grep -q GD-HANG-SPINNING "$work/guest/$dom.console" ||
        { echo "bench: $dom never reached its hang loop" >&2; exit 1; }

    # libvirt keeps the domain paused for its whole memory-only dump: the pause is the dump.
    t0=$(now)
    /usr/bin/time -o "$work/time" -f %M $V dump "$dom" "$work/virsh.kdump" --memory-only --format kdump-zlib > /dev/null
    t1=$(now)
    row virsh-dump-kdump-zlib "$(secs "$t0" "$t1")" "$(secs "$t0" "$t1")" - "$(stat -c %s "$work/virsh.kdump")"
    rm -f "$work/virsh.kdump"
    # Each method starts with nothing of the previous one left to write back.
    sync

    for path in auto stream; do
        rm -rf "$work/store"
        sync
        t0=$(now)
        /usr/bin/time -o "$work/time" -f %M "$gd" dump "$dom" -c qemu:///system -o "$work/store" \
            -d 31 --path "$path" > /dev/null 2> "$work/err-$path"
        t1=$(now)
        d=$(find "$work/store" -mindepth 2 -maxdepth 2 -type d ! -name '.*')
        name=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["capture_path"])' "$d/meta.json")
        row "guestdump-$name" "$(secs "$t0" "$t1")" "$(meta "$d/meta.json")" "$(rss_mib "$work/time")" \
            "$(stat -c %s "$d/vmcore")"
        [ "$($V domstate "$dom")" = running ] || { echo "bench: $dom is not running after $path" >&2; exit 1; }
    done

    $V dump "$dom" "$work/core.elf" --memory-only > /dev/null
    # makedumpfile 1.7.2 cannot read QEMU >= 7.2's ELF dump as it is (normalize_elf.py).
    "$PY" "$here/normalize_elf.py" "$work/core.elf" "$work/norm.elf"
    rm -f "$work/core.elf"
    makedumpfile -c -d 31 "$work/norm.elf" "$work/md.kdump" > /dev/null 2>&1
    rm -f "$work/norm.elf"
    row makedumpfile-c-d31 - - - "$(stat -c %s "$work/md.kdump")"
    rm -f "$work/md.kdump"
    $V destroy "$dom" > /dev/null
    $V undefine "$dom" > /dev/null

    echo "domain: $mem MiB RAM, $fill MiB filled, running (hang mode), TCG, 2 vCPUs; $(nproc) host CPUs"
    printf '%-34s %9s %9s %9s %11s\n' method total_s pause_s rss_MiB output_MiB
    while read -r n t p r b; do
        printf '%-34s %9s %9s %9s %11.1f\n' "$n" "$t" "$p" "$r" "$(echo "$b/1048576" | bc -l)"
    done < "$results"
    get() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$results"; }
    ratio() { echo "scale=1; $1 / $2" | bc -l; }
    sel=guestdump-libvirt-selective
    echo "pause: virsh dump / guestdump = $(ratio "$(get virsh-dump-kdump-zlib 3)" "$(get $sel 3)")x (target >= 50)"
    echo "total: virsh dump / guestdump = $(ratio "$(get virsh-dump-kdump-zlib 2)" "$(get $sel 2)")x (target >= 10)"
    echo "fallback total: virsh dump / guestdump --path stream = $(ratio "$(get virsh-dump-kdump-zlib 2)" "$(get guestdump-libvirt-coredump 2)")x (target >= 1)"
    echo "size: guestdump / makedumpfile -c -d 31 = $(echo "scale=2; $(get $sel 5) / $(get makedumpfile-c-d31 5)" | bc -l) (target <= 1)"
    budget=$(echo "scale=1; 64 + 2 * $mem * 256 / 1048576 + $(get $sel 5) / 1048576" | bc -l)
    echo "RSS: guestdump $(get $sel 4) MiB, budget $budget MiB (64 MiB + 2 B/page + dump size)"
    echo
done
