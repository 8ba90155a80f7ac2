#!/bin/bash
# The second QEMU of the test matrix: the newest qemu-system-x86 of Debian unstable, run from the
# mmdebstrap root of tests/fixtures/sid-qemu/build.sh (qemu.sh), on the fixture kernel and
# initramfs under TCG. One guest boot serves every step:
#   running guest: `guestdump dump --qmp` on the selective and the stream path;
#   then an NMI panics it (unknown_nmi_panic): the same two captures of the panicked guest;
#   then QEMU's own dumps of the paused guest in every format it offers: each converts, and
#   its page set at -d 1 and -d 31 equals that of converting its ELF dump.
# Every capture is opened by crash, drgn and makedumpfile --dump-dmesg.
# Environment: GUESTDUMP, WORK, VALIDATORS, GUESTDUMP_FIXTURE_CACHE (kernel + initramfs),
#              SID_QEMU_DIR (build.sh's OUT_DIR).
set -euo pipefail
: "${GUESTDUMP:?}" "${WORK:?}" "${VALIDATORS:?}" "${GUESTDUMP_FIXTURE_CACHE:?}" "${SID_QEMU_DIR:?}"
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../fixtures
PY=/usr/bin/python3
CHECK="$PY $VALIDATORS/kdumpcheck.py"
COMPARE="$PY $VALIDATORS/bitmap_compare.py"

rm -rf "$WORK" && mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$WORK"
guest=$WORK/guest
export QEMU=$fixtures/sid-qemu/qemu.sh SID_QEMU_ROOT=$SID_QEMU_DIR/root
export SID_QEMU_BINDS=$GUESTDUMP_FIXTURE_CACHE:$WORK
cleanup() { "$fixtures/run-guest.sh" stop --dir "$guest" || true; }
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
qmp() { "$PY" "$fixtures/qmp.py" "$guest/qmp.sock" "$@"; }
field() { "$PY" -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v if not isinstance(v, list) else " ".join(v))' "$1"; }
meta() { field "$2" < "$1/meta.json"; }

# crash, drgn and makedumpfile open a capture; its log has `want` (a fixed string).
readers_open() {
    local f=$1 want=$2 got
    got=$(crash --osrelease "$f") || fail "crash --osrelease $f exited $?"
    [ "$got" = "$release" ] || fail "crash --osrelease $f printed '$got', expected '$release'"
    $CHECK drgn "$f"
    makedumpfile --dump-dmesg "$f" "$WORK/md-dmesg.txt" > "$WORK/md.log" 2>&1 ||
        { cat "$WORK/md.log"; fail "makedumpfile --dump-dmesg $f failed"; }
    grep -qF "$want" "$WORK/md-dmesg.txt" || fail "makedumpfile's log of $f lacks '$want'"
    rm -f "$WORK/md-dmesg.txt"
}

# guestdump dump --qmp on both paths; each capture is read by the readers. Leaves the -d 31
# vmcores as $WORK/captured-<state>-<path>.kdump.
capture_both() {
    local state=$1 want=$2 path store d
    for path in selective stream; do
        step "dump --qmp, $state guest, $path path"
        store=$WORK/store-$state-$path
        # zlib: Debian 12's makedumpfile reads zlib and lzo only
        "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$store" -d 31 -c zlib --name sid --path $path
        d=$(find "$store" -mindepth 2 -maxdepth 2 -type d ! -name '.*')
        [ "$(echo "$d" | grep -c .)" = 1 ] || fail "expected one dump directory in $store: $d"
        [ "$(meta "$d" status)" = complete ] || fail "meta.json status: $(meta "$d" status)"
        [ "$(meta "$d" extra.run_state_before)" = "$state" ] ||
            fail "run_state_before $(meta "$d" extra.run_state_before), expected $state"
        readers_open "$d/vmcore" "$want"
        mv "$d/vmcore" "$WORK/captured-$state-$path.kdump"
        rm -rf "$store"
    done
}

step "start the fixture guest under $(cat "$SID_QEMU_DIR/qemu-version")"
t0=$(date +%s)
"$fixtures/run-guest.sh" start --dir "$guest" --mem 128 --fill 16 --mode hang \
    --append unknown_nmi_panic
echo "guest up after $(( $(date +%s) - t0 )) s"
version=$(qmp exec query-version)
echo "QMP query-version: $version"
major=$(echo "$version" | field qemu.major)
[ "$major" -ge 8 ] || fail "the sid QEMU is $major.x: no newer than Debian 12's 7.2"
release=$(cat "$GUESTDUMP_FIXTURE_CACHE/kernel/release") # run-guest.sh fetched the kernel

capture_both running "Linux version $release"

step "an NMI panics the guest (unknown_nmi_panic); QEMU holds it in guest-panicked"
qmp exec inject-nmi > /dev/null
qmp wait-panic --timeout 120 > /dev/null || fail "no GUEST_PANICKED after the NMI"
capture_both guest-panicked "Kernel panic - not syncing"

formats=$(qmp exec query-dump-guest-memory-capability | field formats)
echo "dump formats offered: $formats"
for want in elf kdump-zlib kdump-raw-zlib; do
    [[ " $formats " == *" $want "* ]] || fail "QEMU $major does not offer $want"
done
# Conversions use zlib: Debian 12's makedumpfile reads zlib and lzo only.
step "QEMU's elf dump of the paused guest, converted at -d 1 and -d 31 (the reference)"
qmp dump "$WORK/qemu.elf" elf --timeout 600
for level in 1 31; do
    "$GUESTDUMP" convert -c zlib -d "$level" "$WORK/qemu.elf" "$WORK/elf-d$level.kdump" > /dev/null
done
for path in selective stream; do
    $COMPARE "$WORK/captured-guest-panicked-$path.kdump" "$WORK/elf-d31.kdump" \
        --label "dump --qmp $path vs converted elf, -d 31"
done
for fmt in $formats; do
    case "$fmt" in elf | win-dmp) continue ;; esac # win-dmp needs a Windows guest
    step "QEMU $fmt: info, convert at -d 1 and -d 31, same pages as the elf dump"
    qmp dump "$WORK/qemu.$fmt" "$fmt" --timeout 600
    "$GUESTDUMP" info "$WORK/qemu.$fmt" > "$WORK/info.txt" 2> "$WORK/info.err" ||
        { cat "$WORK/info.err"; fail "guestdump info refused QEMU's $fmt file"; }
    cat "$WORK/info.txt" "$WORK/info.err"
    grep -q '^producer: *QEMU dump-guest-memory$' "$WORK/info.txt" || fail "info names no producer"
    grep -q '^arch: *x86_64' "$WORK/info.txt" || fail "info does not read the dump as x86_64"
    # utsname.machine of QEMU's header (flattened: the first record holds the header).
    machine=$("$PY" -c 'import sys; b = open(sys.argv[1], "rb").read(8192)
o = 4096 + 16 if b[:12] == b"makedumpfile" else 0
print(b[o + 272:o + 337].split(b"\0")[0].decode(errors="replace"))' "$WORK/qemu.$fmt")
    echo "header utsname.machine: '$machine'"
    "$GUESTDUMP" info --json "$WORK/qemu.$fmt" > "$WORK/info.json" 2> /dev/null
    if [ "$machine" != x86_64 ]; then
        grep -q "^guestdump: warning: .*kdump header .*machine.*read as x86_64" "$WORK/info.err" ||
            fail "info gives no warning for the header machine '$machine'"
        [ "$(field warnings < "$WORK/info.json")" != "" ] || fail "info --json lists no warning"
    fi
    [ "$(field producer < "$WORK/info.json")" = "QEMU dump-guest-memory" ] ||
        fail "info --json names no producer"
    "$GUESTDUMP" dmesg "$WORK/qemu.$fmt" > "$WORK/dmesg.txt" || fail "guestdump dmesg refused $fmt"
    grep -qF "Kernel panic - not syncing" "$WORK/dmesg.txt" || fail "guestdump dmesg of $fmt lacks the panic"
    for level in 1 31; do
        "$GUESTDUMP" convert -c zlib -d "$level" "$WORK/qemu.$fmt" "$WORK/$fmt-d$level.kdump" > /dev/null
        $COMPARE "$WORK/$fmt-d$level.kdump" "$WORK/elf-d$level.kdump" --label "$fmt vs elf, -d $level"
    done
    rm -f "$WORK/qemu.$fmt" "$WORK/$fmt-d1.kdump"
done
step "a converted QEMU kdump-raw-zlib file has a correct header: the readers open it"
readers_open "$WORK/kdump-raw-zlib-d31.kdump" "Kernel panic - not syncing"
echo "PASS: qemu-sid ($(cat "$SID_QEMU_DIR/qemu-version"), $(( $(date +%s) - t0 )) s from boot)"
