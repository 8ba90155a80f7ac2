#!/bin/bash
# `guestdump dump DOMAIN -c qemu:///system` against a real, private libvirtd (see
# libvirt-env.sh): a TCG domain panics (pvpanic, on_crash=preserve) and is captured by name.
# Environment: GUESTDUMP, WORK, VALIDATORS, GUESTDUMP_FIXTURE_CACHE.
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

step "guestdump dump gd-lv -c qemu:///system"
"$GUESTDUMP" dump gd-lv -c qemu:///system -o "$WORK/store" -d 31
d=$(find "$WORK/store/gd-lv" -mindepth 1 -maxdepth 1 -type d ! -name '.*')
[ -n "$d" ] || fail "no dump directory"
grep -q 'Kernel panic - not syncing: sysrq triggered crash' "$d/dmesg.txt" || fail "dmesg.txt"
$PY -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["status"] == "complete", j; assert j["capture_path"] == "libvirt-coredump"; assert j["uuid"], j' "$d/meta.json"
crash --osrelease "$d/vmcore" | grep -q . || fail "crash --osrelease"
case "$($V domstate gd-lv)" in crashed*) ;; *) fail "the domain left its crashed state" ;; esac

step "virsh dump --memory-only of the same guest, converted at the same level"
$V dump gd-lv "$WORK/virsh.elf" --memory-only >/dev/null
"$GUESTDUMP" verify "$d/vmcore" --against "$WORK/virsh.elf"
"$GUESTDUMP" convert -d 31 "$WORK/virsh.elf" "$WORK/converted.kdump" >/dev/null
a=$("$GUESTDUMP" info --json "$d/vmcore" | $PY -c 'import json,sys; print(json.load(sys.stdin)["pages"]["dumped"])')
b=$("$GUESTDUMP" info --json "$WORK/converted.kdump" | $PY -c 'import json,sys; print(json.load(sys.stdin)["pages"]["dumped"])')
[ "$a" = "$b" ] || fail "captured $a pages, converted $b"
"$PY" "$VALIDATORS/kdumpcheck.py" pages "$d/vmcore" --source "$WORK/virsh.elf"

step "an unknown domain"
if "$GUESTDUMP" dump nosuch -c qemu:///system -o "$WORK/store" 2> "$WORK/err"; then
    fail "dump of an unknown domain succeeded"
fi
cat "$WORK/err"
grep -q "nosuch" "$WORK/err" || fail "error does not name the domain"
echo "PASS: libvirt capture"
