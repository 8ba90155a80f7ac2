#!/bin/bash
# guestdump-guest capture on the host, with the small fixture's QEMU ELF dump standing in for
# /proc/vmcore (/proc/vmcore is an ELF core of the same kind). Outside a capture kernel, capture
# never reboots the machine (decide_after), so this runs safely on the build host. One case:
#   bad-vmcore      corrupted and truncated ELF files, a missing file: one clear line naming the
#                   file, exit 1, no dump directory left behind
#   full-disk       the target is an 8 MiB tmpfs: "No space left on device", the directory keeps
#                   dmesg.txt and meta.json "failed: ...", no vmcore and no temporary file
#   min-free        --min-free larger than the disk: refused before anything is written
#   missing-device  --device LABEL=<none>: "device ... not found after 1 s (block devices: ...)"
#   retention       three captures with --keep 2: two dump directories remain, the newest
#   stream          --to -: the flattened stream, reassembled by makedumpfile -R, is the dump
# Environment: GUESTDUMP_GUEST, FIXTURE (fixture dir with vmcore.elf), WORK, VALIDATORS.
set -euo pipefail
: "${GUESTDUMP_GUEST:?}" "${FIXTURE:?}" "${WORK:?}" "${VALIDATORS:?}"
case_name=${1:?case}
G=$GUESTDUMP_GUEST
SRC=$FIXTURE/vmcore.elf
PY=/usr/bin/python3
release=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernel"]["release"])' \
    "$FIXTURE/fixture.json" 2>/dev/null || true)
MNT=

fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() { if [ -n "$MNT" ]; then umount "$MNT" 2>/dev/null || true; fi; }
trap cleanup EXIT
[ -f "$SRC" ] || fail "no fixture dump $SRC"
rm -rf "$WORK"
mkdir -p "$WORK"

# expect_fail PATTERN ARGS...: capture must exit 1 with one error line containing PATTERN.
expect_fail() {
    local pattern=$1; shift
    local rc=0
    "$G" capture "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    cat "$WORK/err"
    [ "$rc" = 1 ] || fail "capture $* exited $rc, expected 1"
    [ "$(grep -c . "$WORK/err")" = 1 ] || fail "expected exactly one line on stderr"
    grep -q "^guestdump-guest: error: capture: " "$WORK/err" || fail "not an error line"
    grep -qF -- "$pattern" "$WORK/err" ||
        fail "expected an error containing '$pattern'"
    ! grep -q "after capture: \(reboot\|poweroff\|halt\)" "$WORK/err" ||
        fail "capture decided to stop the machine outside a capture kernel"
}

# save_meta_sample FILE NAME: keeps a meta.json this test produced for e2e.store.meta-schema.
save_meta_sample() {
    [ -n "${META_SAMPLES:-}" ] || return 0
    mkdir -p "$META_SAMPLES" && cp "$1" "$META_SAMPLES/$2.json"
}

dump_dirs() { find "$1" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort; }

case "$case_name" in
bad-vmcore)
    cp "$SRC" "$WORK/badmagic.elf"
    printf 'XXXX' | dd of="$WORK/badmagic.elf" bs=1 conv=notrunc status=none
    expect_fail "'$WORK/badmagic.elf'" --vmcore "$WORK/badmagic.elf" --to "$WORK/crash"
    head -c 3000 "$SRC" > "$WORK/truncated.elf"
    expect_fail "runs past the end of the file" --vmcore "$WORK/truncated.elf" --to "$WORK/crash"
    # Program headers pointing far beyond the file (e_phoff of a corrupted header).
    cp "$SRC" "$WORK/badphoff.elf"
    printf '\xff\xff\xff\xff\xff\xff\x00\x00' | dd of="$WORK/badphoff.elf" bs=1 seek=32 conv=notrunc status=none
    expect_fail "'$WORK/badphoff.elf'" --vmcore "$WORK/badphoff.elf" --to "$WORK/crash"
    expect_fail "open '$WORK/none.elf': No such file or directory" --vmcore "$WORK/none.elf" --to "$WORK/crash"
    [ -z "$(dump_dirs "$WORK/crash")" ] || fail "a failed capture left $(dump_dirs "$WORK/crash")"
    ;;
full-disk)
    MNT=$WORK/small
    mkdir -p "$MNT"
    mount -t tmpfs -o size=8m tmpfs "$MNT"
    expect_fail "No space left on device" --vmcore "$SRC" --to "$MNT/var/crash" -c none
    d=$(dump_dirs "$MNT/var/crash")
    [ "$(printf '%s\n' "$d" | grep -c .)" = 1 ] || fail "expected one (failed) dump directory: $d"
    ls -la "$d"
    [ -s "$d/dmesg.txt" ] || fail "the kernel log was not saved first"
    [ ! -e "$d/vmcore" ] || fail "a partial vmcore was left"
    [ -z "$(find "$MNT" -name '*.partial*')" ] || fail "temporary files left: $(find "$MNT" -name '*.partial*')"
    if [ -e "$d/meta.json" ]; then
        grep -q '"status": "failed: .*No space left on device' "$d/meta.json" ||
            fail "meta.json: $(cat "$d/meta.json")"
    fi
    ;;
min-free)
    expect_fail "not enough free space in '$WORK/crash'" --vmcore "$SRC" --to "$WORK/crash" --min-free 1000T
    [ -z "$(dump_dirs "$WORK/crash")" ] || fail "min-free refusal still wrote $(dump_dirs "$WORK/crash")"
    ;;
missing-device)
    expect_fail "device 'LABEL=gd-no-such-label' not found after 1 s (block devices: " \
        --vmcore "$SRC" --device LABEL=gd-no-such-label --device-timeout 1
    ;;
retention)
    for i in 1 2 3; do
        "$G" capture --vmcore "$SRC" --to "$WORK/crash" --keep 2 -c zlib 2>"$WORK/err" ||
            fail "capture $i: $(cat "$WORK/err")"
        cat "$WORK/err"
        [ "$i" = 1 ] || grep -q "deleted old dump\|wrote" "$WORK/err"
    done
    mapfile -t dirs < <(dump_dirs "$WORK/crash")
    [ "${#dirs[@]}" = 2 ] || fail "keep=2 left ${#dirs[@]} dumps: ${dirs[*]}"
    for d in "${dirs[@]}"; do
        [ "$(stat -c %a "$d")" = 700 ] || fail "$d mode $(stat -c %a "$d")"
        [ "$(stat -c %a "$d/vmcore")" = 600 ] || fail "$d/vmcore mode $(stat -c %a "$d/vmcore")"
        grep -q '"status": "complete"' "$d/meta.json" || fail "$d/meta.json"
    done
    # --hold-unuploaded (the kernel hook's, with an upload target): --keep deletes only dumps
    # whose upload meta.json confirms. Three unuploaded dumps stay with --keep 1 ...
    "$G" capture --vmcore "$SRC" --to "$WORK/crash" --keep 1 --hold-unuploaded -c zlib \
        2>"$WORK/err" || fail "capture with --hold-unuploaded: $(cat "$WORK/err")"
    mapfile -t held < <(dump_dirs "$WORK/crash")
    [ "${#held[@]}" = 3 ] || fail "--keep 1 --hold-unuploaded left ${#held[@]} dumps: ${held[*]}"
    # ... and once the oldest is marked uploaded, the next capture deletes that one only.
    "$PY" - "${held[0]}/meta.json" <<'PYEOF'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["upload"] = {"url": "s3://b/p/", "state": "complete", "finished_at": 1}
json.dump(m, open(p, "w"))
PYEOF
    "$G" capture --config /dev/stdin --vmcore "$SRC" --to "$WORK/crash" --keep 1 -c zlib \
        2>"$WORK/err" <<<"hold-unuploaded=yes" || fail "capture, hold from --config: $(cat "$WORK/err")"
    mapfile -t after < <(dump_dirs "$WORK/crash")
    [ "${#after[@]}" = 3 ] || fail "after one upload, ${#after[@]} dumps remain: ${after[*]}"
    [ ! -e "${held[0]}" ] || fail "the uploaded dump ${held[0]} was kept"
    for d in "${held[1]}" "${held[2]}"; do
        [ -e "$d" ] || fail "the unuploaded dump $d was deleted"
    done
    save_meta_sample "${dirs[1]}/meta.json" guestdump-guest-integration
    [ -n "$release" ] || fail "no kernel release in $FIXTURE/fixture.json"
    "$PY" "$VALIDATORS/kdumpcheck.py" crash-osrelease "${dirs[1]}/vmcore" "$release" || fail "crash"
    ;;
stream)
    "$G" capture --vmcore "$SRC" --to - -c zlib > "$WORK/stream" 2>"$WORK/err" ||
        fail "stream: $(cat "$WORK/err")"
    cat "$WORK/err"
    head -c 16 "$WORK/stream" | grep -q "makedumpfile" || fail "stdout is not a flattened stream"
    makedumpfile -R "$WORK/vmcore" < "$WORK/stream" >/dev/null 2>&1 || fail "makedumpfile -R"
    [ -n "$release" ] || fail "no kernel release in $FIXTURE/fixture.json"
    "$PY" "$VALIDATORS/kdumpcheck.py" crash-osrelease "$WORK/vmcore" "$release" || fail "crash"
    "$PY" "$VALIDATORS/kdumpcheck.py" pages "$WORK/vmcore" --source "$SRC" || fail "pages differ"
    ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS $case_name"
