#!/bin/bash
# Live capture over QMP with real QEMU guests: `guestdump dump --qmp SOCKET`.
# Usage: capture.sh CASE   (panic | hang | no-vmcoreinfo | bad-socket)
# Environment: GUESTDUMP (binary), WORK (scratch dir), VALIDATORS (tests/validators),
#              GUESTDUMP_FIXTURE_CACHE (kernel + initramfs cache).
set -euo pipefail
: "${GUESTDUMP:?}" "${WORK:?}" "${VALIDATORS:?}"
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../fixtures
PY=/usr/bin/python3
case_name=${1:?case}

rm -rf "$WORK" && mkdir -p "$WORK"
guest=$WORK/guest
store=$WORK/store
cleanup() {
    "$fixtures/run-guest.sh" stop --dir "$guest" || true
    if mountpoint -q "$WORK/small" 2>/dev/null; then umount "$WORK/small"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
qmp() { "$PY" "$fixtures/qmp.py" "$guest/qmp.sock" "$@"; }
run_state() { qmp exec query-status | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
# save_meta_sample FILE NAME: keeps a meta.json this test produced for e2e.store.meta-schema.
save_meta_sample() {
    [ -n "${META_SAMPLES:-}" ] || return 0
    mkdir -p "$META_SAMPLES" && cp "$1" "$META_SAMPLES/$2.json"
}

meta() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); v=j
for k in sys.argv[2].split("."): v=v[k]
print(v)' "$1/meta.json" "$2"; }
only_dump() {  # the one complete dump directory in the store
    local dirs; dirs=$(find "$store" -mindepth 2 -maxdepth 2 -type d ! -name '.*')
    [ "$(echo "$dirs" | grep -c .)" = 1 ] || fail "expected one dump directory, found: $dirs"
    echo "$dirs"
}
no_complete_dump() {
    local d
    for d in $(find "$store" -mindepth 2 -maxdepth 2 -type d 2>/dev/null); do
        [ -e "$d/vmcore" ] && fail "a vmcore exists after a failed capture: $d"
        case "$(basename "$d")" in .*) fail "a partial directory was left behind: $d" ;; esac
        meta "$d" status | grep -q '^failed: ' || fail "$d does not record the failure"
    done
    return 0
}
second_bitmap_equal() {  # the dumped-PFN sets of two plain kdump files
    "$PY" - "$1" "$2" <<'EOF'
import struct, sys
def bitmap2(path):
    with open(path, 'rb') as f:
        head = f.read(464)
        assert head[:8] == b'KDUMP   ', path
        bs, sub, blocks = struct.unpack_from('<iiI', head, 428)
        f.seek((1 + sub) * bs + blocks // 2 * bs)
        return f.read(blocks // 2 * bs).rstrip(b'\0')
a, b = bitmap2(sys.argv[1]), bitmap2(sys.argv[2])
sys.exit(0 if a == b else 1)
EOF
}

case "$case_name" in
panic)
    "$fixtures/run-guest.sh" start --dir "$guest" --mem 512 --fill 48 --mode panic
    step "capture a panicked guest at dump level 31 (automatic path: selective)"
    "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$store" -d 31 > "$WORK/dump.out"
    cat "$WORK/dump.out"
    d=$(only_dump)
    [ "$(meta "$d" capture_path)" = selective ] || fail "the automatic path was not selective"
    [ "$(stat -c %a "$store")" = 700 ] || fail "store is not 0700"
    [ "$(stat -c %a "$d")" = 700 ] || fail "dump directory is not 0700"
    for f in vmcore dmesg.txt meta.json; do
        [ "$(stat -c %a "$d/$f")" = 600 ] || fail "$f is not 0600"
    done
    [ "$(meta "$d" status)" = complete ] || fail "meta.json status"
    [ "$(meta "$d" extra.run_state_after)" = guest-panicked ] || fail "guest left its panicked state"
    save_meta_sample "$d/meta.json" guestdump-capture-panic
    grep -q 'Kernel panic - not syncing: sysrq triggered crash' "$d/dmesg.txt" ||
        fail "dmesg.txt lacks the panic line"
    crash --osrelease "$d/vmcore" | grep -q . || fail "crash --osrelease"
    step "QEMU's own ELF dump of the same paused guest, converted at the same level"
    qmp dump "$WORK/qemu.elf" elf --timeout 600 > /dev/null
    "$GUESTDUMP" convert -d 31 "$WORK/qemu.elf" "$WORK/converted.kdump"
    second_bitmap_equal "$d/vmcore" "$WORK/converted.kdump" ||
        fail "captured and converted dumps keep different pages"
    "$GUESTDUMP" verify "$d/vmcore" --against "$WORK/qemu.elf"
    "$PY" "$VALIDATORS/kdumpcheck.py" pages "$d/vmcore" --source "$WORK/qemu.elf"
    "$GUESTDUMP" list -o "$store" | grep -q complete || fail "guestdump list"

    step "the stream path gives the same pages"
    rm -rf "$store"
    "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$store" -d 31 --path stream > "$WORK/dump.out"
    d=$(only_dump)
    [ "$(meta "$d" capture_path)" = qmp-stream ] || fail "--path stream was not honoured"
    second_bitmap_equal "$d/vmcore" "$WORK/converted.kdump" ||
        fail "stream-captured and converted dumps keep different pages"
    "$GUESTDUMP" verify "$d/vmcore" --against "$WORK/qemu.elf"
    grep -q 'Kernel panic - not syncing: sysrq triggered crash' "$d/dmesg.txt" ||
        fail "dmesg.txt (stream) lacks the panic line"

    step "a dump already running in QEMU is refused"
    mkfifo "$WORK/fifo"
    qmp exec dump-guest-memory '{"paging": false, "protocol": "file:'"$WORK/fifo"'", "detach": true}' > /dev/null &
    exec 8<"$WORK/fifo"   # QEMU's dump thread now blocks writing into the FIFO
    sleep 1
    rm -rf "$store"
    if "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$store" 2> "$WORK/err"; then
        fail "capture succeeded while another dump ran"
    fi
    cat "$WORK/err"
    grep -q 'already running' "$WORK/err" || fail "no clear 'already running' error"
    cat <&8 > /dev/null; exec 8<&-
    wait
    qmp wait-event DUMP_COMPLETED --timeout 60 > /dev/null 2>&1 || true
    no_complete_dump

    step "a full store disk fails cleanly"
    mkdir -p "$WORK/small" && mount -t tmpfs -o size=4m tmpfs "$WORK/small"
    if "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$WORK/small/store" -d 1 --path stream 2> "$WORK/err"; then
        fail "capture onto a 4 MiB disk succeeded"
    fi
    cat "$WORK/err"
    grep -qi 'no space left' "$WORK/err" || fail "no clear disk-full error"
    store=$WORK/small/store no_complete_dump
    [ "$(run_state)" = guest-panicked ] || fail "guest state changed after the failed capture"
    umount "$WORK/small"

    step "Ctrl-C during the capture"
    rm -rf "$store"
    "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$store" -d 1 -c zlib --path stream 2> "$WORK/err" &
    pid=$!
    sleep 0.7
    kill -INT "$pid"
    if wait "$pid"; then echo "(capture finished before the signal)"; else cat "$WORK/err"; fi
    if [ -d "$store" ] && ! find "$store" -name vmcore | grep -q .; then no_complete_dump; fi
    [ "$(run_state)" = guest-panicked ] || fail "guest state changed after Ctrl-C"
    ;;
hang)
    "$fixtures/run-guest.sh" start --dir "$guest" --mem 512 --fill 48 --mode hang
    [ "$(run_state)" = running ] || fail "hung guest is not running"
    for path in selective stream; do
        step "capture a hung, running guest ($path path); it must run again afterwards"
        rm -rf "$store"
        "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$store" -d 31 --name hung --path $path
        d=$(only_dump)
        [ "$(meta "$d" extra.run_state_before)" = running ] || fail "run_state_before"
        [ "$(meta "$d" extra.run_state_after)" = running ] || fail "guest was not resumed"
        [ "$(run_state)" = running ] || fail "guest is not running after the capture"
        crash --osrelease "$d/vmcore" | grep -q . || fail "crash --osrelease"
        echo "guest paused $(meta "$d" pause_seconds) s"
    done
    step "guestdump dmesg --qmp: the live log, as lines, equals the log of a dump taken right after"
    "$GUESTDUMP" dmesg --qmp "$guest/qmp.sock" > "$WORK/live.txt"
    n=$(wc -l < "$WORK/live.txt")
    [ "$n" -gt 100 ] || fail "the live log has $n lines"
    [ "$(run_state)" = running ] || fail "reading the live log stopped the guest"
    rm -rf "$store"
    "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$store" -d 31 --name live > /dev/null
    d=$(only_dump)
    # The guest may log more in between: the dump's log starts with the live one.
    head -n "$n" "$d/dmesg.txt" | cmp -s - "$WORK/live.txt" ||
        { diff <(head -n "$n" "$d/dmesg.txt") "$WORK/live.txt" | head >&2; fail "live log differs"; }
    echo "live log: $n lines, equal to the dump's"
    step "guestdump dmesg --qmp -f: the lines the guest logs after it started, and the socket stays free"
    "$GUESTDUMP" dmesg --qmp "$guest/qmp.sock" -f > "$WORK/follow.txt" 2> "$WORK/follow.err" &
    follower=$!
    for _ in $(seq 120); do [ "$(wc -l < "$WORK/follow.txt")" -ge "$n" ] && break; sleep 0.5; done
    [ "$(wc -l < "$WORK/follow.txt")" -ge "$n" ] || { cat "$WORK/follow.err" >&2; fail "--follow printed no log"; }
    ! grep -q 'NMI received' "$WORK/follow.txt" || fail "the NMI line is there before the NMI"
    # An NMI nobody claims makes the kernel log "Uhhuh. NMI received for unknown reason"; sent
    # through the same QMP socket, which the follower no longer holds. Two of them: two lines.
    qmp exec inject-nmi > /dev/null
    for _ in $(seq 120); do grep -q 'NMI received' "$WORK/follow.txt" && break; sleep 0.5; done
    qmp exec inject-nmi > /dev/null
    for _ in $(seq 120); do [ "$(grep -c 'NMI received' "$WORK/follow.txt")" -ge 2 ] && break; sleep 0.5; done
    kill -INT "$follower"
    rc=0; wait "$follower" || rc=$?
    [ "$(grep -c 'NMI received' "$WORK/follow.txt")" = 2 ] ||
        { cat "$WORK/follow.err" >&2; grep 'NMI' "$WORK/follow.txt" >&2; fail "--follow did not print each NMI line once"; }
    [ "$rc" = 0 ] || { cat "$WORK/follow.err" >&2; fail "--follow ended with $rc on SIGINT"; }
    # Every line printed once: the followed log has no line twice that the guest logged once.
    [ "$(sort "$WORK/follow.txt" | uniq -d | wc -l)" = 0 ] || fail "--follow printed lines twice"
    [ "$(run_state)" = running ] || fail "the guest is not running"
    for path in selective stream; do
        step "guestdump killed (SIGKILL) while the guest is paused ($path path): it runs again"
        killed=0
        for attempt in 1 2 3 4 5; do
            rm -rf "$store"
            "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$store" -d 1 -c zlib --path $path \
                2> "$WORK/err" &
            pid=$!
            # The test's own monitor (mon.sock) sees the pause; the capture's socket is busy.
            if "$PY" "$here/kill_when_paused.py" "$guest/mon.sock" "$pid"; then killed=1; fi
            wait "$pid" 2>/dev/null || true
            [ "$killed" = 1 ] && break
            echo "(attempt $attempt: the capture ended before it was seen paused)"
        done
        [ "$killed" = 1 ] || fail "never caught the $path capture with the guest paused"
        for _ in $(seq 1 120); do
            [ "$("$PY" "$fixtures/qmp.py" "$guest/mon.sock" exec query-status |
                "$PY" -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = running ] && break
            sleep 0.25
        done
        [ "$(run_state)" = running ] || fail "the guest stayed paused after guestdump was killed"
        for d in $(find "$store" -mindepth 2 -maxdepth 2 -type d ! -name '.*' 2>/dev/null); do
            fail "a dump directory under its final name after SIGKILL: $d"
        done
        # Killed before the store was touched (the selective path stops the guest first), or
        # after: then the partial dump must be listed as interrupted.
        if [ -n "$(find "$store" -mindepth 2 -maxdepth 2 -name '.*.partial' 2>/dev/null)" ]; then
            "$GUESTDUMP" list -o "$store" | tee "$WORK/list.out"
            grep -q interrupted "$WORK/list.out" || fail "guestdump list does not call it interrupted"
        fi
    done
    step "QEMU killed in the middle of a capture"
    rm -rf "$store"
    "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$store" -d 1 -c zlib --path stream 2> "$WORK/err" &
    pid=$!
    sleep 0.5
    kill -9 "$(cat "$guest/qemu.pid")"
    if wait "$pid"; then fail "capture succeeded although QEMU died"; fi
    cat "$WORK/err"
    grep -Eq 'ended after|closed|connection' "$WORK/err" || fail "no clear error for a dead QEMU"
    no_complete_dump
    ;;
no-vmcoreinfo)
    "$fixtures/run-guest.sh" start --dir "$guest" --mem 256 --fill 16 --mode panic --no-vmcoreinfo
    step "a guest without the vmcoreinfo device: VMCOREINFO is found in guest memory"
    "$GUESTDUMP" dump --qmp "$guest/qmp.sock" -o "$store" -d 31 2> "$WORK/err"
    cat "$WORK/err"
    d=$(only_dump)
    grep -q 'found at PA 0x' "$WORK/err" || fail "no word on where VMCOREINFO came from"
    meta "$d" vmcoreinfo_source | grep -Eq '^guest memory at PA 0x[0-9a-f]+$' ||
        fail "meta.json vmcoreinfo_source: $(meta "$d" vmcoreinfo_source)"
    "$PY" -c 'import json,sys; sys.exit("filter_fallback" in json.load(open(sys.argv[1]))["extra"])' \
        "$d/meta.json" || fail "filtering fell back despite VMCOREINFO"
    "$GUESTDUMP" info "$d/vmcore" | grep -q 'vmcoreinfo:  yes (guest memory at PA 0x' ||
        fail "info does not say where VMCOREINFO came from"
    qmp dump "$WORK/qemu.elf" elf --timeout 600 > /dev/null
    "$GUESTDUMP" verify "$d/vmcore" --against "$WORK/qemu.elf"
    ;;
bad-socket)
    step "a socket nobody listens on"
    if "$GUESTDUMP" dump --qmp "$WORK/none.sock" -o "$store" 2> "$WORK/err"; then
        fail "capture from a missing socket succeeded"
    fi
    cat "$WORK/err"
    grep -q "none.sock" "$WORK/err" || fail "error does not name the socket"
    [ ! -d "$store" ] || [ -z "$(find "$store" -mindepth 2)" ] || fail "store not empty"
    ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS: capture $case_name"
