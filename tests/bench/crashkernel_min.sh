#!/bin/bash
# crashkernel_min.sh [GUESTDUMP_GUEST] [LO_MiB] [HI_MiB] [STEP_MiB]
#
# Finds the smallest crashkernel= reservation with which the whole guest capture still succeeds
# (tests/e2e/guest-capture.sh capture: 2 GiB TCG guest, standalone capture initramfs, dump
# written to a virtio ext4 disk and validated), by bisection over sizes that are multiples of
# STEP (default 8 MiB) between LO (default 32, assumed to fail) and HI (default 256, checked
# first). Each trial is one full boot-panic-capture run (about a minute under TCG), so this is
# not part of CTest. Prints one line per trial and the result; also compares with Debian 12's
# kdump-tools default (crashkernel=384M-:128M, i.e. 128 MiB for this guest).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/guest/guestdump-guest}
lo=${2:-32}
hi=${3:-256}
step=${4:-8}
mem=${GUEST_MEM:-2048}
work=${WORK:-$root/build/bench/crashkernel}
export GUESTDUMP_FIXTURE_CACHE=${GUESTDUMP_FIXTURE_CACHE:-$root/build/fixtures/cache}
[ -x "$bin" ] || { echo "crashkernel_min: no guestdump-guest at $bin" >&2; exit 2; }
mkdir -p "$work"

# trial SIZE_MiB: 0 when the capture succeeded and validated.
trial() {
    local n=$1 log=$work/trial-$1.log rc=0 t0=$SECONDS
    GUESTDUMP_GUEST=$bin WORK=$work/run-$n VALIDATORS=$root/tests/validators CRASHKERNEL=${n}M \
        GUEST_MEM=$mem GUEST_TIMEOUT=300 "$root/tests/e2e/guest-capture.sh" capture >"$log" 2>&1 ||
        rc=$?
    local why
    if [ "$rc" = 0 ]; then
        why=$(grep -a "capture: wrote" "$work/run-$n/console.log" | sed 's/.*(\(.*\)) in \(.*\)/\1, \2/')
        echo "crashkernel=${n}M: ok ($why; run $((SECONDS - t0)) s)"
    else
        # Not the apply step's expected "update-grub not found" error (GD-APPLY lines).
        why=$(grep -a -h -E "^FAIL|Out of memory|Kernel panic|error:" "$log" "$work/run-$n/console.log" 2>/dev/null |
            grep -v "GD-APPLY" | head -1 | cut -c1-160)
        echo "crashkernel=${n}M: FAILED ($why; run $((SECONDS - t0)) s)"
    fi
    # The disk is shared: keep logs, drop images (a failed run leaves them all).
    rm -rf "$work/run-$n/disk.img" "$work/run-$n/stage" "$work/run-$n/first.img" \
        "$work/run-$n/guestdump-guest" "$work/run-$n/out/vmcore"
    return "$rc"
}

echo "crashkernel_min: $mem MiB guest, $(basename "$bin") $(stat -c %s "$bin") bytes, sizes $lo..$hi step $step"
trial "$hi" || { echo "crashkernel_min: capture fails even with ${hi}M" >&2; exit 1; }
# Invariant: lo fails (assumed), hi succeeds.
while [ $((hi - lo)) -gt "$step" ]; do
    mid=$(( (lo + hi) / 2 / step * step ))
    [ "$mid" -gt "$lo" ] || mid=$((lo + step))
    if trial "$mid"; then hi=$mid; else lo=$mid; fi
done
debian=128
echo "RESULT minimum crashkernel=${hi}M for a ${mem} MiB guest (largest failing: ${lo}M);" \
    "Debian 12 kdump-tools default 384M-:128M gives ${debian}M: $((hi * 100 / debian))% of it"
