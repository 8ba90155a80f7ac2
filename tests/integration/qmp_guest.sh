#!/bin/bash
# Integration test of the qmp library against a real QEMU: boots the fixture kernel and
# initramfs (256 MiB guest, gd.fill=16, panics after filling) with a QMP socket, then runs
# qmp_guest_check (query-status, stop/cont + STOP/RESUME, GUEST_PANICKED, a getfd pipe dump with
# DUMP_COMPLETED) and checks the ELF it saved with `guestdump info`. One guest boot.
# Environment: QMP_CHECK (the check program), GUESTDUMP, WORK, FIXTURE_CACHE (kernel/initramfs
# cache shared with make-guest-dump.sh), FIXTURES (tests/fixtures).
set -euo pipefail

: "${QMP_CHECK:?}" "${GUESTDUMP:?}" "${WORK:?}" "${FIXTURE_CACHE:?}" "${FIXTURES:?}"
QEMU=${QEMU:-qemu-system-x86_64}
PY=/usr/bin/python3
MEM=256

fail() { echo "FAIL: $*" >&2; exit 1; }
command -v "$QEMU" >/dev/null || { echo "SKIP: $QEMU not installed"; exit 77; }

rm -rf "$WORK"
mkdir -p "$WORK"
rundir=$(mktemp -d "${TMPDIR:-/tmp}/gd-qmpit.XXXXXX") # short path for the UNIX socket
sock=$rundir/qmp.sock
qpid=
cleanup() {
    local rc=$?
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill "$qpid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$qpid" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    rm -rf "$rundir"
    if [ "$rc" != 0 ] && [ -f "$WORK/console.log" ]; then
        echo "---- last 20 lines of the guest console ----" >&2
        tail -n 20 "$WORK/console.log" >&2 || true
    fi
    exit "$rc"
}
trap cleanup EXIT

# Kernel and initramfs: the same cache and naming as make-guest-dump.sh.
"$FIXTURES/fetch-kernel.sh" "$FIXTURE_CACHE" >/dev/null
release=$(cat "$FIXTURE_CACHE/kernel/release")
irhash=$(cat "$FIXTURES/build-initramfs.sh" "$FIXTURES/guest-init.sh" "$FIXTURES/initramfs.py" \
    "$FIXTURE_CACHE/kernel/release" | sha256sum | cut -c1-16)
initrd=$FIXTURE_CACHE/initramfs-$release-$irhash.cpio.gz
[ -f "$initrd" ] || "$FIXTURES/build-initramfs.sh" "$FIXTURE_CACHE" "$initrd"

echo "--- booting a $MEM MiB TCG guest ($release) with -qmp $sock"
"$QEMU" -machine q35,accel=tcg -cpu max -m "$MEM" -smp 2 \
    -nodefaults -display none -no-reboot \
    -serial "file:$WORK/console.log" \
    -device pvpanic -device vmcoreinfo -action panic=pause \
    -qmp "unix:$sock,server=on,wait=off" \
    -kernel "$FIXTURE_CACHE/kernel/vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 panic=0 no_timer_check cryptomgr.notests gd.fill=16 gd.mode=panic" \
    </dev/null >"$WORK/qemu.log" 2>&1 &
qpid=$!

echo "--- qmp_guest_check"
summary=$(timeout 900 "$QMP_CHECK" "$sock" "$WORK/vmcore.elf") || fail "qmp_guest_check failed"
echo "$summary"
grep -q 'Kernel panic - not syncing: sysrq triggered crash' "$WORK/console.log" ||
    fail "guest console lacks the panic line"

echo "--- guestdump info on the ELF received through the pipe"
"$GUESTDUMP" info --json "$WORK/vmcore.elf" > "$WORK/info.json" || fail "guestdump info failed"
SUMMARY=$summary RELEASE=$release SIZE=$(stat -c %s "$WORK/vmcore.elf") \
    $PY - "$WORK/info.json" <<'PYEOF' || fail "guestdump info does not match the dump"
import json, os, sys
info = json.load(open(sys.argv[1]))
s = json.loads(os.environ["SUMMARY"])
problems = []
def want(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        problems.append(what)
want(info.get("format") == "elf64", "format elf64 (%s)" % info.get("format"))
want(info.get("release") == os.environ["RELEASE"], "kernel release %s" % info.get("release"))
want(info.get("vmcoreinfo") is True, "VMCOREINFO note present")
want(info.get("cpus") == 2, "2 CPUs (%s)" % info.get("cpus"))
want(info.get("file_size") == s["received"] == int(os.environ["SIZE"]),
     "file size %s == bytes received %s" % (info.get("file_size"), s["received"]))
pages = info.get("pages", {}).get("total", 0)
want(pages * info.get("page_size", 0) == s["total"],
     "pages %d x page size == QEMU's dump total %d" % (pages, s["total"]))
want(s["total"] >= 256 << 20, "dump covers the 256 MiB of guest RAM")
sys.exit(1 if problems else 0)
PYEOF

"$QEMU" --version | head -n1
echo "PASS: qmp integration"
