#!/bin/bash
# `guestdump dump DOMAIN -c qemu:///system` against a real, private libvirtd (see
# libvirt-env.sh): a TCG domain panics (pvpanic, on_crash=preserve) and is captured by name,
# by the selective path (QEMU process memory, CPU state through the monitor passthrough) and by
# libvirt's core dump; a running (hang-mode) domain is captured by the selective path and runs
# again afterwards. Every capture leaves libvirtd alive and no libvirt job behind.
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

libvirtd_alive() { kill -0 "$(cat "$WORK/libvirt/libvirtd.pid")" 2>/dev/null || fail "libvirtd died"; }
no_job() {
    local info; info=$($V domjobinfo "$1")
    grep -Eq '^Job type: +None' <<< "$info" || { echo "$info" >&2; fail "a libvirt job is left on $1"; }
}
meta_field() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1/meta.json" "$2"; }
# One capture of DOMAIN into a fresh store; DUMP names its directory. The checks every dump
# passes: complete, the expected path, the readers (crash, makedumpfile --dump-dmesg, drgn),
# libvirtd alive, no job left.
capture() {
    local dom=$1 path=$2 expect=$3
    step "guestdump dump $dom -c qemu:///system --path $path"
    rm -rf "$WORK/store"
    # zlib: what makedumpfile 1.7.2 reads
    "$GUESTDUMP" dump "$dom" -c qemu:///system -o "$WORK/store" -d 31 --compress zlib --path "$path"
    DUMP=$(find "$WORK/store/$dom" -mindepth 1 -maxdepth 1 -type d ! -name '.*')
    [ -n "$DUMP" ] || fail "no dump directory"
    $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["status"] == "complete", j; assert j["capture_path"] == sys.argv[2], j; assert j["uuid"], j; print("paused %.3f s" % j["pause_seconds"])' "$DUMP/meta.json" "$expect"
    crash --osrelease "$DUMP/vmcore" | grep -q . || fail "crash --osrelease"
    rm -f "$WORK/mdf.txt"
    makedumpfile --dump-dmesg "$DUMP/vmcore" "$WORK/mdf.txt" >/dev/null 2>&1 || true
    [ -s "$WORK/mdf.txt" ] || fail "makedumpfile --dump-dmesg read nothing"
    "$PY" "$VALIDATORS/kdumpcheck.py" drgn "$DUMP/vmcore"
    libvirtd_alive
    no_job "$dom"
}

# The panicked domain: selective by default and when asked, libvirt's core dump when asked;
# each the same page set as libvirt's own ELF core, converted.
for path in auto selective stream; do
    expect=libvirt-selective
    [ "$path" = stream ] && expect=libvirt-coredump
    capture gd-lv $path $expect
    grep -q 'Kernel panic - not syncing: sysrq triggered crash' "$DUMP/dmesg.txt" || fail "dmesg.txt"
    grep -q 'Kernel panic - not syncing: sysrq triggered crash' "$WORK/mdf.txt" || fail "makedumpfile's log"
    case "$($V domstate gd-lv)" in crashed*) ;; *) fail "the domain left its crashed state" ;; esac
    "$GUESTDUMP" verify "$DUMP/vmcore" --against "$WORK/virsh.elf"
    got=$(dumped "$DUMP/vmcore")
    [ "$got" = "$want" ] || fail "captured $got pages ($path), converted $want"
    if [ "$path" = stream ]; then
        # libvirt's compressed core (QEMU's kdump format), re-filtered, and nothing of it left.
        $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["extra"]["libvirt_format"] in ("kdump-snappy", "kdump-lzo", "kdump-zlib"), j' "$DUMP/meta.json"
        [ -z "$(find "$WORK/store" -name '.libvirt-core')" ] || fail "the temporary core file was left behind"
    fi
    "$PY" "$VALIDATORS/kdumpcheck.py" pages "$DUMP/vmcore" --source "$WORK/virsh.elf"
done

step "a remote URI is refused by --path selective, with the reason"
if "$GUESTDUMP" dump gd-lv -c qemu+ssh://nosuchhost.invalid/system -o "$WORK/store2" \
        --path selective 2> "$WORK/err"; then
    fail "selective capture over a remote URI succeeded"
fi
cat "$WORK/err"
grep -q "is remote" "$WORK/err" || fail "no clear reason"

step "without ptrace rights the automatic path falls back to libvirt's core dump, saying why"
rm -rf "$WORK/store" "$WORK/nobody"
mkdir -p "$WORK/nobody" && chown 65534:65534 "$WORK/nobody"
# Another user cannot read QEMU's memory (it runs as root); libvirt's socket lets it in (0777).
chmod 0777 /run/libvirt/libvirt-sock
HOME=$WORK/nobody setpriv --reuid=65534 --regid=65534 --clear-groups "$GUESTDUMP" dump gd-lv \
    -c qemu:///system -o "$WORK/nobody/store" -d 31 2> "$WORK/err" ||
    { cat "$WORK/err"; fail "fallback capture failed"; }
chmod 0700 /run/libvirt/libvirt-sock
cat "$WORK/err"
grep -q "using libvirt's core dump instead" "$WORK/err" || fail "the fallback was not announced"
DUMP=$(find "$WORK/nobody/store/gd-lv" -mindepth 1 -maxdepth 1 -type d ! -name '.*')
[ "$(meta_field "$DUMP" capture_path)" = libvirt-coredump ] || fail "the fallback did not run"
# libvirtd (root) wrote the compressed core into the user's directory; the user read it back.
$PY -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["extra"]["libvirt_format"] in ("kdump-snappy", "kdump-lzo", "kdump-zlib"), j' "$DUMP/meta.json"
$PY -c 'import json,sys; j=json.load(open(sys.argv[1])); assert "QEMU process" in j["extra"]["selective_fallback"], j' "$DUMP/meta.json"
libvirtd_alive
no_job gd-lv

step "a running (hang-mode) domain"
libvirt_define_guest gd-run "$WORK/guest" 384 24 hang
$V start gd-run >/dev/null
for _ in $(seq 600); do
    grep -q GD-HANG-SPINNING "$WORK/guest/gd-run.console" 2>/dev/null && break
    sleep 0.5
done
grep -q GD-HANG-SPINNING "$WORK/guest/gd-run.console" || { tail -5 "$WORK/guest/gd-run.console" >&2; fail "the guest never hung"; }
step "suspended: the selective dump equals libvirt's ELF core of the same paused memory"
$V suspend gd-run >/dev/null
$V dump gd-run "$WORK/run.elf" --memory-only >/dev/null
"$GUESTDUMP" convert -d 31 "$WORK/run.elf" "$WORK/run.kdump" >/dev/null
capture gd-run auto libvirt-selective
[ "$($V domstate gd-run)" = paused ] || fail "a domain paused by the operator was resumed"
[ "$(dumped "$DUMP/vmcore")" = "$(dumped "$WORK/run.kdump")" ] || fail "page count differs from libvirt's core"
"$PY" "$VALIDATORS/kdumpcheck.py" pages "$DUMP/vmcore" --source "$WORK/run.elf"
"$GUESTDUMP" verify "$DUMP/vmcore" --against "$WORK/run.elf"
$V resume gd-run >/dev/null
step "running: a short pause, and the domain runs again"
capture gd-run auto libvirt-selective
[ "$($V domstate gd-run)" = running ] || fail "the domain is not running after the capture"
$PY -c 'import json,sys; j=json.load(open(sys.argv[1])); assert 0 < j["pause_seconds"] < 30, j; assert j["extra"]["run_state_before"] == "running", j' "$DUMP/meta.json"

step "guestdump dmesg DOMAIN: the live log, as lines, equals the log of a dump taken right after"
"$GUESTDUMP" dmesg gd-run > "$WORK/live.txt"
n=$(wc -l < "$WORK/live.txt")
[ "$n" -gt 100 ] || fail "the live log has $n lines"
[ "$($V domstate gd-run)" = running ] || fail "reading the live log stopped the domain"
capture gd-run auto libvirt-selective
# The guest may log more in between: the dump's log starts with the live one.
head -n "$n" "$DUMP/dmesg.txt" | cmp -s - "$WORK/live.txt" ||
    { diff <(head -n "$n" "$DUMP/dmesg.txt") "$WORK/live.txt" | head >&2; fail "live log differs"; }
echo "live log: $n lines, equal to the dump's"

step "guestdump dmesg DOMAIN -f shows a line the guest logs after it started"
"$GUESTDUMP" dmesg gd-run -f > "$WORK/follow.txt" 2> "$WORK/follow.err" &
follower=$!
for _ in $(seq 120); do [ "$(wc -l < "$WORK/follow.txt")" -ge "$n" ] && break; sleep 0.5; done
[ "$(wc -l < "$WORK/follow.txt")" -ge "$n" ] || { cat "$WORK/follow.err" >&2; fail "--follow printed no log"; }
! grep -q 'NMI received' "$WORK/follow.txt" || fail "the NMI line is there before the NMI"
# An NMI nobody claims makes the kernel log "Uhhuh. NMI received for unknown reason".
$V inject-nmi gd-run
for _ in $(seq 120); do grep -q 'NMI received' "$WORK/follow.txt" && break; sleep 0.5; done
kill -INT "$follower"
rc=0; wait "$follower" || rc=$?
grep 'NMI received' "$WORK/follow.txt" || { cat "$WORK/follow.err" >&2; fail "--follow missed the new line"; }
[ "$rc" = 0 ] || { cat "$WORK/follow.err" >&2; fail "--follow ended with $rc on SIGINT"; }
[ "$($V domstate gd-run)" = running ] || fail "the domain is not running"
$V destroy gd-run >/dev/null

step "an unknown domain"
if "$GUESTDUMP" dump nosuch -c qemu:///system -o "$WORK/store" 2> "$WORK/err"; then
    fail "dump of an unknown domain succeeded"
fi
cat "$WORK/err"
grep -q "nosuch" "$WORK/err" || fail "error does not name the domain"
echo "PASS: libvirt capture"
