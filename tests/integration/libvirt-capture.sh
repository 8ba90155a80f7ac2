#!/bin/bash
# `guestdump dump DOMAIN -c qemu:///system` against a real, private libvirtd (see
# libvirt-env.sh): a TCG domain panics (pvpanic, on_crash=preserve) and is captured by name
# through libvirt's core dump.
# Environment: GUESTDUMP, WORK, VALIDATORS, GUESTDUMP_FIXTURE_CACHE; SID_QEMU_DIR (optional):
# the domain runs the newest QEMU of the sid root instead of Debian 12's (libvirt-env.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/libvirt-env.sh"
exec_in_private_namespace "$@"
: "${GUESTDUMP:?}" "${WORK:?}" "${VALIDATORS:?}"
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
V="virsh -c qemu:///system"

rm -rf "$WORK" && mkdir -p "$WORK"
trap libvirt_stop EXIT
libvirt_start "$WORK/libvirt"
libvirt_define_guest gd-lv "$WORK/guest" 384 24 panic
step "start the domain and wait for its panic"
$V start gd-lv >/dev/null
for _ in $(seq 600); do
    state=$($V domstate gd-lv --reason 2>/dev/null || true)
    case "$state" in crashed*) break ;; esac
    sleep 0.5
done
echo "domain state: $state"
case "$state" in crashed*) ;; *) tail -5 "$WORK/guest/gd-lv.console" >&2; fail "no panic" ;; esac
version=$($V qemu-monitor-command gd-lv '{"execute":"query-version"}')
echo "QEMU: $version"
if [ -n "${SID_QEMU_DIR:-}" ]; then
    major=$(echo "$version" | $PY -c 'import json,sys; print(json.load(sys.stdin)["return"]["qemu"]["major"])')
    [ "$major" -ge 8 ] || fail "the domain runs QEMU $major.x, not the sid QEMU"
fi

dumped() { "$GUESTDUMP" info --json "$1" | $PY -c 'import json,sys; print(json.load(sys.stdin)["pages"]["dumped"])'; }
step "virsh dump --memory-only of the panicked guest, converted at dump level 31"
$V dump gd-lv "$WORK/virsh.elf" --memory-only >/dev/null
"$GUESTDUMP" convert -d 31 "$WORK/virsh.elf" "$WORK/converted.kdump" >/dev/null
want=$(dumped "$WORK/converted.kdump")

# libvirt's core dump into a FIFO, whichever path is asked for (auto and stream).
for path in auto stream; do
    step "guestdump dump gd-lv -c qemu:///system --path $path"
    rm -rf "$WORK/store"
    "$GUESTDUMP" dump gd-lv -c qemu:///system -o "$WORK/store" -d 31 --path $path
    d=$(find "$WORK/store/gd-lv" -mindepth 1 -maxdepth 1 -type d ! -name '.*')
    [ -n "$d" ] || fail "no dump directory"
    expect=libvirt-coredump
    $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["status"] == "complete", j; assert j["capture_path"] == sys.argv[2], j; assert j["uuid"], j; print("paused %.2f s" % j["pause_seconds"])' "$d/meta.json" $expect
    grep -q 'Kernel panic - not syncing: sysrq triggered crash' "$d/dmesg.txt" || fail "dmesg.txt"
    crash --osrelease "$d/vmcore" | grep -q . || fail "crash --osrelease"
    case "$($V domstate gd-lv)" in crashed*) ;; *) fail "the domain left its crashed state" ;; esac
    "$GUESTDUMP" verify "$d/vmcore" --against "$WORK/virsh.elf"
    got=$(dumped "$d/vmcore")
    [ "$got" = "$want" ] || fail "captured $got pages ($path), converted $want"
    "$PY" "$VALIDATORS/kdumpcheck.py" pages "$d/vmcore" --source "$WORK/virsh.elf"
done

step "--path selective is refused for a libvirt domain, with the reason"
if "$GUESTDUMP" dump gd-lv -c qemu:///system -o "$WORK/store2" --path selective 2> "$WORK/err"; then
    fail "selective capture of a libvirt domain succeeded"
fi
cat "$WORK/err"
grep -q "only for QEMU reached with --qmp" "$WORK/err" || fail "no clear reason"
[ ! -d "$WORK/store2/gd-lv" ] || [ -z "$(ls -A "$WORK/store2/gd-lv")" ] || fail "store not empty"

step "an unknown domain"
if "$GUESTDUMP" dump nosuch -c qemu:///system -o "$WORK/store" 2> "$WORK/err"; then
    fail "dump of an unknown domain succeeded"
fi
cat "$WORK/err"
grep -q "nosuch" "$WORK/err" || fail "error does not name the domain"
echo "PASS: libvirt capture"
