#!/bin/bash
# Capture from a real Xen 4.17 (issue 18): the cached environment of build-env.sh booted under
# QEMU/TCG, a PV domU (the fixture's Debian cloud kernel and busybox initramfs, gd.mode=panic,
# on_crash preserve) that panics, `xl dump-core` of it, and guestdump's conversion of that core
# on the host at dump levels 1 and 31, read by guestdump, libkdumpfile and crash; then a PV domU
# created through libvirt's libxl driver that panics and `guestdump dump DOMAIN -c xen:///system`
# run in dom0; then guestdumpd watching xen:///system in dom0 captures a third PV domain's panic
# on its own and destroys it (after-dump destroy). Not in a CTest tier yet (tests/xen/README.md:
# what it shows, what is missing).
# Usage: xen-capture.sh BUILD_DIR CACHE_DIR WORK_DIR
# Environment: GUESTDUMP_FIXTURE_CACHE (the fixture kernel and initramfs; default
# BUILD_DIR/fixtures/cache), VALIDATORS (tests/validators).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(realpath "${1:?build dir}")
cache=$(realpath -m "${2:?cache dir}")
work=$(realpath -m "${3:?work dir}")
PY=/usr/bin/python3
GD=$build/host/guestdump
VALIDATORS=${VALIDATORS:-$root/tests/validators}
fail() { echo "xen-capture: FAIL: $*" >&2; exit 1; }
step() { echo "== $(date +%T) $*"; }

bash "$here/build-env.sh" "$cache"
fcache=${GUESTDUMP_FIXTURE_CACHE:-$build/fixtures/cache}
kernel=$fcache/kernel/vmlinuz
initrd=$(ls "$fcache"/initramfs-*.cpio.gz 2> /dev/null | head -1)
[[ -f $kernel && -n $initrd ]] || fail "no fixture kernel or initramfs in $fcache"
release=$(cat "$fcache/kernel/release")

rm -rf "$work"
mkdir -p "$work/share/in" "$work/share/out"
cp "$kernel" "$work/share/in/vmlinuz"
cp "$initrd" "$work/share/in/initrd.cpio.gz"
cp "$GD" "$work/share/in/guestdump"
cp "$build/host/guestdumpd" "$work/share/in/guestdumpd"
cat > "$work/share/in/pv2.xml" << 'XML'
<domain type='xen'>
  <name>pv2</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os>
    <type>xen</type>
    <kernel>/root/t/vmlinuz</kernel>
    <initrd>/root/t/initrd.cpio.gz</initrd>
    <cmdline>console=hvc0 panic=0 gd.fill=32 gd.mode=panic</cmdline>
  </os>
  <on_crash>preserve</on_crash>
  <devices><console type='pty'/></devices>
</domain>
XML
cat > "$work/share/in/pv1.cfg" << 'CFG'
type = "pv"
name = "pv1"
kernel = "/root/t/vmlinuz"
ramdisk = "/root/t/initrd.cpio.gz"
extra = "console=hvc0 panic=0 gd.fill=32 gd.mode=panic"
memory = 256
vcpus = 2
on_crash = "preserve"
CFG

. "$here/xen-vm.sh"
trap xen_stop EXIT
step "boot Xen and dom0"
xen_boot "$cache" "$work/share"
xen_run 60 'mkdir -p /root/t && cp /share/in/* /root/t/ && xl info | grep -E "^(xen_version|xen_caps|total_memory|free_memory)"'

step "a PV domU that panics (on_crash preserve)"
xen_run 120 'xl create /root/t/pv1.cfg'
state=
for _ in $(seq 150); do
    state=$(xen_run 30 'xl list pv1 | awk "NR == 2 { print \$5 }"') || true
    [[ $state == *c* ]] && break
    sleep 2
done
[[ $state == *c* ]] || fail "pv1 did not crash (state '$state')"
echo "pv1 state: $state"

step "xl dump-core (to dom0's disk: the toolstack cannot write foreign pages to 9p)"
xen_run 600 'xl dump-core pv1 /root/t/pv1.core && cp /root/t/pv1.core /share/out/pv1.core && ls -l /share/out/pv1.core'
xen_run 60 'xl destroy pv1'
cd "$work"
core=share/out/pv1.core

step "guestdump on the real xc_core"
"$GD" info "$core" | tee info.txt
grep -q '^format: *xc_core (PV), Xen 4.17' info.txt || fail "info does not report a PV xc_core of Xen 4.17"
for level in 1 31; do
    "$GD" convert -d "$level" "$core" "pv1-$level.kdump" 2> "convert-$level.log" ||
        { cat "convert-$level.log"; fail "convert -d $level"; }
    cat "convert-$level.log"
    "$GD" verify "pv1-$level.kdump" --against "$core"
done
"$GD" info --json pv1-31.kdump > info31.json
"$GD" info --json pv1-1.kdump > info1.json
"$PY" - info1.json info31.json "$release" << 'PYEOF'
import json, sys
one, top = (json.load(open(p)) for p in sys.argv[1:3])
for name, j in (("-d 1", one), ("-d 31", top)):
    print(name, j["pages"], "vmcoreinfo:", j["vmcoreinfo_source"], "release:", j["release"])
    assert j["release"] == sys.argv[3], f"{name}: release {j['release']!r}, not {sys.argv[3]!r}"
# Level 31 drops free, cache and user pages: a 256 MiB guest keeps far fewer than level 1.
assert top["pages"]["dumped"] * 2 < one["pages"]["dumped"], "-d 31 filtered nothing"
PYEOF
"$GD" dmesg pv1-31.kdump > dmesg.txt
grep -q 'Kernel panic - not syncing: sysrq triggered crash' dmesg.txt || fail "no panic line in guestdump dmesg"

step "validators"
crash --osrelease pv1-31.kdump | tee osrelease.txt
grep -qx "$release" osrelease.txt || fail "crash --osrelease: $(cat osrelease.txt)"
"$PY" "$VALIDATORS/kdumpcheck.py" info pv1-31.kdump > kdumpfile-info.json ||
    fail "libkdumpfile cannot open the output"
# makedumpfile and drgn walk the output's page tables themselves, and a PV guest's name machine
# frames: neither reads it yet (tests/xen/README.md).

step "libvirt's libxl driver: a PV domain created through libvirt panics; guestdump dump in dom0"
xen_run 120 'virsh -c xen:///system create /root/t/pv2.xml'
reason=
for _ in $(seq 150); do
    reason=$(xen_run 30 'virsh -c xen:///system domstate pv2 --reason') || true
    [[ $reason == *crashed* ]] && break
    sleep 2
done
[[ $reason == *crashed* ]] || fail "pv2 did not crash ('$reason')"
echo "pv2: $reason"
xen_run 900 'rm -rf /root/store && /root/t/guestdump dump pv2 -c xen:///system -o /root/store -d 31 &&
    cp -r /root/store /share/out/store'
d=$(find share/out/store -mindepth 2 -maxdepth 2 -type d ! -name '.*')
[[ -n $d && -f $d/vmcore && -f $d/meta.json && -f $d/dmesg.txt ]] || fail "no complete dump in share/out/store"
cat "$d/meta.json"
grep -q 'Kernel panic - not syncing: sysrq triggered crash' "$d/dmesg.txt" || fail "no panic line in dmesg.txt"
"$GD" dmesg "$d/vmcore" | grep -q 'Kernel panic - not syncing: sysrq triggered crash' ||
    fail "guestdump dmesg of the libvirt dump"
crash --osrelease "$d/vmcore" | grep -qx "$release" || fail "crash --osrelease of the libvirt dump"
xen_run 60 'virsh -c xen:///system destroy pv2'

step "guestdumpd on xen:///system captures a PV panic by itself, once, then destroys the domain"
sed 's/pv2/pv3/' "$work/share/in/pv2.xml" > "$work/share/in/pv3.xml"
xen_run 60 'cp /share/in/pv3.xml /root/t/ && rm -rf /root/dstore && mkdir -p /root/dstore &&
    (setsid /root/t/guestdumpd --connect xen:///system --dump-dir /root/dstore --after-dump destroy \
        --log-level debug > /share/out/guestdumpd.log 2>&1 < /dev/null &) && sleep 3 &&
    pgrep -x guestdumpd'
xen_run 120 'virsh -c xen:///system create /root/t/pv3.xml'
done_dir=
for _ in $(seq 300); do
    done_dir=$(xen_run 30 'for m in /root/dstore/pv3/*/meta.json; do
        grep -q "\"status\": \"complete\"" "$m" 2> /dev/null && dirname "$m"; done') || true
    [[ -n $done_dir ]] && break
    sleep 2
done
[[ -n $done_dir ]] || { tail -30 share/out/guestdumpd.log; fail "guestdumpd wrote no complete dump of pv3"; }
sleep 10 # a second capture of the same crash would show up here
xen_run 60 'ls /root/dstore/pv3; virsh -c xen:///system list --all; cp -r /root/dstore /share/out/dstore;
    pkill -TERM -x guestdumpd; sleep 2; pgrep -x guestdumpd || true'
n=$(find share/out/dstore/pv3 -mindepth 1 -maxdepth 1 | wc -l)
[[ $n == 1 ]] || fail "guestdumpd left $n entries for one crash: $(ls share/out/dstore/pv3)"
dd=$(find share/out/dstore/pv3 -mindepth 1 -maxdepth 1 -type d)
cat "$dd/meta.json"
"$PY" - "$dd/meta.json" << 'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["status"] == "complete" and m["domain"] == "pv3", m
assert m["trigger"] in ("panic", "crash"), m["trigger"]
assert m["capture_path"] == "libvirt-xen-coredump", m["capture_path"]
print("daemon dump:", m["trigger"], m["capture_path"], m["pages_dumped"], "pages")
PYEOF
grep -q 'Kernel panic - not syncing: sysrq triggered crash' "$dd/dmesg.txt" || fail "daemon dump: no panic line"
crash --osrelease "$dd/vmcore" | grep -qx "$release" || fail "crash --osrelease of the daemon dump"
xen_run 30 'virsh -c xen:///system domstate pv3' && fail "pv3 still exists after after-dump destroy"
echo "xen-capture: ok"
