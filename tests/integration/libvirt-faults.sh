#!/bin/bash
# Faults in the middle of a selective capture of a running libvirt domain (`guestdump dump
# DOMAIN`), against a real private libvirtd (libvirt-env.sh) and a TCG domain in hang mode. The
# fault is struck the moment libvirt reports the domain suspended by the capture (a `virsh
# event` listener), then:
#   libvirtd   libvirtd is killed and started again: the capture still ends (the guest's memory
#              is read out of its QEMU process, not through libvirt), the domain runs again
#              (resumed over a new connection), libvirtd has no job left on it
#   qemu       the domain's QEMU process is killed (SIGKILL): a clear error naming the domain,
#              no dump that looks complete (the partial one is marked failed)
#   destroy    `virsh destroy`: the same
# A capture that ended before the fault landed proves nothing: it is taken again (5 tries).
# Environment: GUESTDUMP, WORK, GUESTDUMP_FIXTURE_CACHE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/libvirt-env.sh"
exec_in_private_namespace "$@"
: "${GUESTDUMP:?}" "${WORK:?}"
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $(date -u +%T) $*"; }
V="virsh -c qemu:///system"
DOM=gd-fault

rm -rf "$WORK" && mkdir -p "$WORK"
trap libvirt_stop EXIT
libvirt_start "$WORK/libvirt"

libvirtd_alive() { kill -0 "$(cat "$WORK/libvirt/libvirtd.pid")" 2>/dev/null || fail "libvirtd died"; }
no_job() {
    local info; info=$($V domjobinfo "$1")
    grep -Eq '^Job type: +None' <<< "$info" || { echo "$info" >&2; fail "a libvirt job is left on $1"; }
}
restart_libvirtd() {
    local pid; pid=$(cat "$WORK/libvirt/libvirtd.pid")
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && fail "libvirtd ignored SIGTERM"
    libvirtd -d -p "$WORK/libvirt/libvirtd.pid" -f /etc/libvirt/libvirtd.conf
    for _ in $(seq 150); do $V version >/dev/null 2>&1 && return 0; sleep 0.2; done
    fail "libvirtd did not come back"
}
start_running_domain() {
    $V start "$DOM" >/dev/null
    for _ in $(seq 600); do
        grep -q GD-HANG-SPINNING "$WORK/guest/$DOM.console" 2>/dev/null && return 0
        sleep 0.5
    done
    tail -5 "$WORK/guest/$DOM.console" >&2
    fail "the domain never reached its hang loop"
}
complete_dumps() { find "$WORK/store" -mindepth 2 -maxdepth 2 -type d ! -name '.*' 2>/dev/null; }
# A failed capture may leave a failure record under a final name: meta.json "failed: …" and no
# vmcore. Anything else there would look like a dump.
only_failure_records() {
    local d
    for d in $(complete_dumps); do
        [ ! -e "$d/vmcore" ] || fail "$d has a vmcore after '$1'"
        $PY -c 'import json,sys; s=json.load(open(sys.argv[1]))["status"]; assert s.startswith("failed"), s; print("failure record:", s)' \
            "$d/meta.json" || fail "$d is not a failure record"
    done
}

# strike FAULT: one capture of the running domain with FAULT struck when it is suspended.
# Sets RC (guestdump's exit code), HIT (1 when the fault landed while the domain was suspended).
strike() {
    local fault=$1
    rm -rf "$WORK/store" "$WORK/events" "$WORK/err"
    # The listener prints a line per lifecycle event; line-buffered so the fault follows at once.
    stdbuf -oL $V event "$DOM" --event lifecycle --loop --timeout 300 > "$WORK/events" 2>&1 &
    local listener=$!
    sleep 1 # the listener is registered
    "$GUESTDUMP" dump "$DOM" -c qemu:///system -o "$WORK/store" -d 0 --compress zlib \
        > "$WORK/out" 2> "$WORK/err" &
    local capture=$!
    HIT=0
    for _ in $(seq 6000); do
        if grep -q "Suspended" "$WORK/events"; then
            case $fault in
            libvirtd) restart_libvirtd ;;
            qemu) kill -9 "$(cat "/run/libvirt/qemu/$DOM.pid")" ;;
            destroy) $V destroy "$DOM" >/dev/null ;;
            esac
            HIT=1
            break
        fi
        kill -0 "$capture" 2>/dev/null || break
        sleep 0.01
    done
    RC=0
    wait "$capture" || RC=$?
    kill "$listener" 2>/dev/null || true
    wait "$listener" 2>/dev/null || true
    # The capture had resumed the domain before the fault: it proves nothing.
    if [ "$HIT" = 1 ] && grep -q "Resumed" "$WORK/events" &&
        [ "$(grep -n "Resumed" "$WORK/events" | head -1 | cut -d: -f1)" -lt \
          "$(grep -n "Suspended" "$WORK/events" | head -1 | cut -d: -f1)" ]; then HIT=0; fi
    echo "fault $fault: capture exit $RC, struck while suspended: $HIT"
    sed 's/^/  guestdump: /' "$WORK/err" | tail -8
}

libvirt_define_guest "$DOM" "$WORK/guest" 512 48 hang

step "libvirtd restarted while the capture holds the domain suspended"
start_running_domain
for try in 1 2 3 4 5; do
    strike libvirtd
    [ "$HIT" = 1 ] && grep -q "over a new connection" "$WORK/err" && break
    echo "(try $try: the capture ended before the fault)"
    HIT=0
done
[ "$HIT" = 1 ] || fail "never struck libvirtd during a capture"
libvirtd_alive
grep -q "over a new connection: resumed" "$WORK/err" || fail "the domain was not resumed over a new connection"
for _ in $(seq 40); do [ "$($V domstate "$DOM")" = running ] && break; sleep 0.25; done
[ "$($V domstate "$DOM")" = running ] || fail "the domain is $($V domstate "$DOM") after the capture"
no_job "$DOM"
if [ "$RC" = 0 ]; then
    # The memory was read out of QEMU, which lived on: the dump is whole.
    d=$(complete_dumps)
    [ "$(echo "$d" | grep -c .)" = 1 ] || fail "exit 0 but dumps: $d"
    "$GUESTDUMP" verify "$d/vmcore" || fail "the dump taken across the restart does not verify"
    echo "capture across the libvirtd restart: complete, verified"
else
    grep -q "$DOM" "$WORK/err" || fail "the error does not name the domain"
    only_failure_records libvirtd
fi

for fault in qemu destroy; do
    step "fault '$fault' while the capture holds the domain suspended"
    for try in 1 2 3 4 5; do
        [ "$($V domstate "$DOM")" = running ] || start_running_domain
        strike "$fault"
        [ "$HIT" = 1 ] && [ "$RC" != 0 ] && break
        echo "(try $try: the capture ended before the fault)"
        HIT=0
    done
    [ "$HIT" = 1 ] || fail "never struck '$fault' during a capture"
    [ "$RC" = 1 ] || fail "capture exit $RC after '$fault'"
    grep -q "guestdump: error: dump: .*$DOM" "$WORK/err" || fail "the error does not name the domain"
    only_failure_records "$fault"
    [ "$(complete_dumps | wc -l)" -le 1 ] || fail "more than one record of one capture: $(complete_dumps)"
    # What was written is marked as what it is (the store lists it as failed), or nothing was.
    "$GUESTDUMP" list -o "$WORK/store" > "$WORK/list" 2>&1 || true
    cat "$WORK/list"
    ! grep -q "complete" "$WORK/list" || fail "the store lists a complete dump"
    libvirtd_alive
    case "$($V domstate "$DOM")" in "shut off"*) ;; *) fail "the domain is $($V domstate "$DOM")" ;; esac
done
echo "PASS: libvirt faults"
