#!/bin/bash
# guestdump-guest end to end in real TCG guests (the fixture kernel). One case per run:
#   capture     a 2 GiB guest boots with crashkernel=$CRASHKERNEL (default 80M: what `plan`
#               recommends for it, the measured minimum plus its margin), runs
#               `guestdump-guest detect --json` and `guestdump-guest load` with the standalone
#               capture initramfs (built by `guestdump-guest initramfs`), panics with sysrq c;
#               the capture kernel runs guestdump-guest as /init, writes the dump to a second
#               virtual disk (ext4, LABEL=gdcrash) and powers off. The disk image is read with
#               debugfs and the dump checked with crash --osrelease, makedumpfile --dump-dmesg,
#               libkdumpfile and drgn.
#   after-fail  the capture initramfs booted as a normal kernel's initramfs: no /proc/vmcore, so
#               the capture fails; it must still power the VM off (QEMU exits by itself).
# Environment: GUESTDUMP_GUEST (the static binary), WORK, GUESTDUMP_FIXTURE_CACHE, VALIDATORS;
# optional CRASHKERNEL (e.g. 96M), GUEST_MEM (MiB, default 2048), GUEST_TIMEOUT (s, default 600).
# Exit 0 pass, 1 fail; the bench script (tests/bench/crashkernel_min.sh) reads the last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../fixtures
: "${GUESTDUMP_GUEST:?}" "${WORK:?}" "${VALIDATORS:?}"
case_name=${1:?case}
PY=/usr/bin/python3
QEMU=${QEMU:-qemu-system-x86_64}
CRASHKERNEL=${CRASHKERNEL:-80M}
GUEST_MEM=${GUEST_MEM:-2048}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-600}
cache=${GUESTDUMP_FIXTURE_CACHE:-$WORK/../cache}
QPID=

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$WORK/console.log" ]; then
        echo "--- guest console (last 40 lines)" >&2
        tail -40 "$WORK/console.log" >&2
    fi
    exit 1
}
step() { echo "--- $(date -u +%T) $*"; }
cleanup() {
    if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill -9 "$QPID" 2>/dev/null || true; fi
}
trap cleanup EXIT

rm -rf "$WORK"
mkdir -p "$WORK" "$cache"
"$fixtures/fetch-kernel.sh" "$cache" >/dev/null
release=$(cat "$cache/kernel/release")
moddir=$cache/kernel/lib/modules/$release

# The binary goes into two initramfs images: strip its debug info (24 MB -> 4 MB).
strip -o "$WORK/guestdump-guest" "$GUESTDUMP_GUEST"

# save_meta_sample FILE NAME: keeps a meta.json this test produced for e2e.store.meta-schema.
save_meta_sample() {
    [ -n "${META_SAMPLES:-}" ] || return 0
    mkdir -p "$META_SAMPLES" && cp "$1" "$META_SAMPLES/$2.json"
}

# run_qemu SECONDS ARGS...: boots and waits for QEMU to exit by itself (poweroff or -no-reboot
# reboot); kills it and fails after SECONDS.
run_qemu() {
    local t=$1; shift
    "$QEMU" -machine q35,accel=tcg -cpu max -nodefaults -display none -no-reboot \
        -serial "file:$WORK/console.log" "$@" </dev/null >"$WORK/qemu.log" 2>&1 &
    QPID=$!
    local end=$((SECONDS + t))
    while kill -0 "$QPID" 2>/dev/null; do
        if [ "$SECONDS" -ge "$end" ]; then
            kill -9 "$QPID" 2>/dev/null || true
            QPID=
            fail "QEMU still running after ${t}s"
        fi
        sleep 1
    done
    wait "$QPID" || fail "QEMU failed: $(tail -3 "$WORK/qemu.log")"
    QPID=
}

build_capture_initramfs() { # extra guestdump-guest initramfs args...
    "$WORK/guestdump-guest" initramfs -o "$WORK/capture.img" --kernel-release "$release" \
        --modules-dir "$moddir" --target-device LABEL=gdcrash --module virtio_blk \
        --module virtio_pci --module ext4 --binary "$WORK/guestdump-guest" "$@" \
        > "$WORK/initramfs.out" || fail "guestdump-guest initramfs failed"
    cat "$WORK/initramfs.out"
    grep -q "^built into the kernel: ext4$" "$WORK/initramfs.out" ||
        fail "ext4 should be reported as built into $release"
    grep -q "virtio_blk" "$WORK/initramfs.out" || fail "virtio_blk missing from the initramfs"
}

case "$case_name" in
capture)
    step "capture initramfs and first-kernel initramfs (kernel $release)"
    build_capture_initramfs --codec zlib
    stage=$WORK/stage
    mkdir -p "$stage"/{bin,dev,proc,sys,tmp,etc/default,boot}
    # A GRUB defaults file for `apply` to edit: it then runs update-grub, which is missing here.
    printf 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n' > "$stage/etc/default/grub"
    busybox=$(command -v busybox)
    cp "$busybox" "$stage/bin/busybox"
    for a in $("$busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$stage/bin/$a"; done
    cp "$WORK/guestdump-guest" "$stage/bin/guestdump-guest"
    install -m 0755 "$here/guest-capture-init.sh" "$stage/init"
    cp "$cache/kernel/vmlinuz" "$stage/boot/vmlinuz"
    cp "$WORK/capture.img" "$stage/boot/capture.img"
    "$PY" "$fixtures/initramfs.py" cpio "$stage" "$WORK/first.img"

    step "dump disk: 256 MiB ext4, label gdcrash"
    truncate -s 256M "$WORK/disk.img"
    mkfs.ext4 -q -F -L gdcrash "$WORK/disk.img"

    # `load` takes the capture kernel's command line from `plan` (the running one minus
    # crashkernel= and the like, plus what distro kdump appends); these two words pass through
    # it: guestdump.after=poweroff lets QEMU exit once the dump is written.
    first_extra="guestdump.after=poweroff guestdump.device-timeout=60"

    step "boot: ${GUEST_MEM} MiB guest, crashkernel=$CRASHKERNEL"
    start=$SECONDS
    run_qemu "$GUEST_TIMEOUT" -m "$GUEST_MEM" -smp 2 -kernel "$cache/kernel/vmlinuz" \
        -initrd "$WORK/first.img" \
        -append "console=ttyS0 no_timer_check cryptomgr.notests crashkernel=$CRASHKERNEL panic=1 oops=panic $first_extra" \
        -drive "file=$WORK/disk.img,format=raw,if=virtio"
    echo "guest ran $((SECONDS - start)) s"
    con=$WORK/console.log
    grep -a "GD-" "$con" | grep -v "GD-DETECT" || true
    detect=$(grep -ao "GD-DETECT {.*}" "$con" | head -1 | cut -d' ' -f2-)
    [ -n "$detect" ] || fail "no GD-DETECT line (detect --json failed)"
    hv=$(printf '%s' "$detect" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["hypervisor"])') ||
        fail "detect --json printed no JSON object with 'hypervisor': $detect"
    echo "detect: hypervisor=$hv"
    case "$hv" in qemu|kvm) ;; *) fail "detect says hypervisor '$hv' in a QEMU guest" ;; esac
    grep -aq "GD-LOAD ok" "$con" || fail "guestdump-guest load failed"
    grep -aq "GD-CRASH-LOADED 1" "$con" || fail "kexec_crash_loaded is not 1 after load"
    apply=$(grep -a "^GD-APPLY " "$con" | head -1)
    echo "apply: $apply"
    for w in "rc=1 " "wrote /etc/systemd/system/guestdump-guest.service" \
        "wrote /etc/default/grub (backup /etc/default/grub.guestdump.bak)" "running: update-grub" \
        "update-grub not found in PATH" "the files are written"; do
        printf '%s\n' "$apply" | grep -qF -- "$w" || fail "apply on the live guest: no '$w'"
    done
    grep -aq "sysrq triggered crash" "$con" || fail "the first kernel did not panic"
    grep -aq "guestdump-guest: capture init starting" "$con" || fail "the capture kernel did not run our /init"
    # The capture kernel ran with plan's command line: its settings in, the reservation out.
    capline=$(grep -a "Kernel command line:" "$con" | sed -n 2p)
    echo "capture kernel: $capline"
    for w in irqpoll nr_cpus=1 reset_devices panic=10 guestdump.after=poweroff; do
        printf '%s\n' "$capline" | grep -qw -- "$w" || fail "capture command line lacks $w (plan's)"
    done
    printf '%s\n' "$capline" | grep -q "crashkernel=" && fail "capture command line keeps crashkernel="
    grep -aq "guestdump-guest: capture: wrote " "$con" || fail "capture did not complete"
    grep -aq "guestdump-guest: poweroff: capture done" "$con" || fail "no poweroff after the capture"

    step "read the dump back from the disk image"
    dirs=$(debugfs -R "ls -p /var/crash" "$WORK/disk.img" 2>/dev/null |
        grep -oE '/[0-9]{8}T[0-9]{6}Z/' | tr -d /)
    [ "$(printf '%s\n' "$dirs" | grep -c .)" = 1 ] || fail "expected one dump directory, got: $dirs"
    dir=/var/crash/$dirs
    mkdir -p "$WORK/out"
    for f in vmcore dmesg.txt meta.json; do
        debugfs -R "dump $dir/$f $WORK/out/$f" "$WORK/disk.img" 2>/dev/null
        [ -s "$WORK/out/$f" ] || fail "$dir/$f missing on the dump disk"
    done
    mode() { debugfs -R "stat $1" "$WORK/disk.img" 2>/dev/null | sed -n 's/.*Mode: *\([0-7]*\).*/\1/p'; }
    [ "$(mode "$dir")" = 0700 ] || fail "$dir has mode $(mode "$dir"), expected 0700"
    [ "$(mode "$dir/vmcore")" = 0600 ] || fail "vmcore has mode $(mode "$dir/vmcore"), expected 0600"
    [ "$(mode "$dir/dmesg.txt")" = 0600 ] || fail "dmesg.txt has mode $(mode "$dir/dmesg.txt")"
    grep -q '"status": "complete"' "$WORK/out/meta.json" || fail "meta.json: $(cat "$WORK/out/meta.json")"
    save_meta_sample "$WORK/out/meta.json" guestdump-guest-e2e
    grep -q "sysrq triggered crash" "$WORK/out/dmesg.txt" || fail "dmesg.txt lacks the panic line"
    ls -l "$WORK/out"

    step "validators"
    "$PY" "$VALIDATORS/kdumpcheck.py" crash-osrelease "$WORK/out/vmcore" "$release" ||
        fail "crash --osrelease"
    makedumpfile --dump-dmesg "$WORK/out/vmcore" "$WORK/out/mkd-dmesg.txt" >"$WORK/mkd.log" 2>&1 ||
        fail "makedumpfile --dump-dmesg: $(tail -3 "$WORK/mkd.log")"
    grep -q "Kernel panic - not syncing: sysrq triggered crash" "$WORK/out/mkd-dmesg.txt" ||
        fail "makedumpfile's dmesg lacks the panic line"
    "$PY" "$VALIDATORS/kdumpcheck.py" info "$WORK/out/vmcore" > "$WORK/out/info.json" ||
        fail "libkdumpfile cannot open the dump"
    grep -q "\"linux.uts.release\": \"$release\"" "$WORK/out/info.json" ||
        fail "libkdumpfile: $(cat "$WORK/out/info.json")"
    "$PY" "$VALIDATORS/kdumpcheck.py" drgn "$WORK/out/vmcore" || fail "drgn"
    # Large intermediates go (the disk is shared); logs and the small outputs stay.
    rm -rf "$stage" "$WORK/first.img" "$WORK/disk.img" "$WORK/out/vmcore" "$WORK/guestdump-guest"
    echo "PASS capture crashkernel=$CRASHKERNEL mem=$GUEST_MEM hypervisor=$hv"
    ;;
after-fail)
    step "capture initramfs booted without a crashed kernel: capture fails, VM must power off"
    build_capture_initramfs --after poweroff
    start=$SECONDS
    run_qemu 300 -m 256 -smp 1 -kernel "$cache/kernel/vmlinuz" -initrd "$WORK/capture.img" \
        -append "console=ttyS0 panic=-1"
    echo "guest ran $((SECONDS - start)) s"
    con=$WORK/console.log
    grep -a "guestdump-guest" "$con" || true
    grep -aq "guestdump-guest: error: capture: open '/proc/vmcore': No such file or directory" "$con" ||
        fail "no clear error for the missing /proc/vmcore"
    grep -aq "guestdump-guest: poweroff: capture failed; configured action" "$con" ||
        fail "no poweroff decision after the failed capture"
    grep -aq "reboot: Power down" "$con" || fail "the kernel did not power down"
    echo "PASS after-fail"
    ;;
*) fail "unknown case $case_name" ;;
esac
