#!/bin/bash
# Integration cases for `guestdump convert | info | verify` on real QEMU guest dumps, checked
# with the independent validators (crash, makedumpfile, libkdumpfile, drgn).
# Usage: converter.sh CASE   (environment: GUESTDUMP, FIXTURE, WORK, VALIDATORS)
set -euo pipefail

case_name=${1:?case}
: "${GUESTDUMP:?}" "${FIXTURE:?}" "${WORK:?}" "${VALIDATORS:?}"
. "$(dirname "$0")/fixture-lib.sh"
QEMU_KDUMP=$FIXTURE/vmcore.kdump-zlib

# The standard validators on one kdump file; `dmesg` also asks makedumpfile for the log.
validate() {
    local f=$1 want_dmesg=$2
    step "crash --osrelease $f"
    local got
    got=$(crash --osrelease "$f") || fail "crash --osrelease exited $?"
    [ "$got" = "$release" ] || fail "crash --osrelease printed '$got', expected '$release'"
    step "libkdumpfile: every dumped page equals the source ELF"
    $CHECK pages "$f" --source "$ELF" --min-dumped 200000
    step "drgn opens it and reads init_uts_ns through the page tables"
    $CHECK drgn "$f"
    step "guestdump verify --against"
    "$GUESTDUMP" verify "$f" --against "$ELF"
    if [ "$want_dmesg" = dmesg ]; then
        step "makedumpfile --dump-dmesg"
        makedumpfile --dump-dmesg "$f" dmesg.txt > md.log 2>&1 || { cat md.log; fail "makedumpfile --dump-dmesg failed"; }
        grep -qF "$PANIC_LINE" dmesg.txt || fail "makedumpfile's log lacks the panic line"
    fi
}

# Runs a command that must fail with exit 1 and one 'guestdump: error:' line naming $2.
expect_error() {
    local what=$1 name=$2; shift 2
    set +e
    "$@" > out.txt 2> err.txt
    local rc=$?
    set -e
    [ $rc -eq 1 ] || { cat err.txt; fail "$what: exit code $rc, expected 1"; }
    [ "$(wc -l < err.txt)" -eq 1 ] || { cat err.txt; fail "$what: expected exactly one stderr line"; }
    grep -q '^guestdump: error: ' err.txt || { cat err.txt; fail "$what: no 'guestdump: error:' prefix"; }
    grep -qF "$name" err.txt || { cat err.txt; fail "$what: message does not name '$name'"; }
    echo "ok: $what -> $(cat err.txt)"
}

no_output_left() {
    local dir=$1
    if ls -A "$dir" | grep -q .; then ls -la "$dir"; fail "output directory $dir is not empty"; fi
}

case "$case_name" in
codec-zstd | codec-zlib | codec-lzo | codec-snappy | codec-none)
    codec=${case_name#codec-}
    # -d 1: keep every non-zero page, so libkdumpfile compares (nearly) all of RAM.
    "$GUESTDUMP" convert -d 1 -c "$codec" "$ELF" out.kdump
    "$GUESTDUMP" info out.kdump
    "$GUESTDUMP" info --json out.kdump > info.json
    $PY - "$codec" <<'PYEOF'
import json, sys
j = json.load(open("info.json"))
assert j["format"] == "kdump", j
assert j["codec"] == sys.argv[1], j
assert j["dump_level"] == 1, j
# Level 1 keeps every page the kernel manages; only pages outside its mem_map (firmware
# ranges below 1 MiB) are dropped, as makedumpfile drops them.
unmanaged = j["pages"].get("excluded_by_class", {}).get("unmanaged", 0)
assert j["pages"]["dumped"] + unmanaged == j["pages"]["total"], j
assert j["pages"]["zero"] > 0, j
assert j["cpus"] == 2, j
PYEOF
    [ "$(stat -c %a out.kdump)" = 600 ] || fail "output mode is not 0600"
    dm=nodmesg
    if [ "$codec" = zlib ] || [ "$codec" = lzo ]; then dm=dmesg; fi
    validate out.kdump $dm
    ;;
flattened)
    "$GUESTDUMP" convert -c zlib "$ELF" plain.kdump
    "$GUESTDUMP" convert -c zlib --flattened "$ELF" flat.kdump
    "$GUESTDUMP" convert -c zlib "$ELF" - > stdout.kdump
    cmp flat.kdump stdout.kdump || fail "'-' output differs from --flattened output"
    step "makedumpfile -R reassembles it byte for byte"
    makedumpfile -R reassembled.kdump < flat.kdump > r.log 2>&1 || { cat r.log; fail "makedumpfile -R failed"; }
    cmp plain.kdump reassembled.kdump || fail "reassembled flattened output differs from the plain output"
    got=$(crash --osrelease flat.kdump) || fail "crash cannot read the flattened file"
    [ "$got" = "$release" ] || fail "crash --osrelease on flattened printed '$got'"
    "$GUESTDUMP" verify flat.kdump --against "$ELF"
    ;;
qemu-kdump)
    step "convert QEMU's own flattened kdump-zlib output"
    "$GUESTDUMP" info "$QEMU_KDUMP"
    "$GUESTDUMP" convert -d 1 "$QEMU_KDUMP" from-qemu.kdump
    validate from-qemu.kdump nodmesg
    "$GUESTDUMP" convert -c lzo "$QEMU_KDUMP" from-qemu-lzo.kdump
    makedumpfile --dump-dmesg from-qemu-lzo.kdump dmesg.txt > md.log 2>&1 || { cat md.log; fail "makedumpfile --dump-dmesg failed"; }
    grep -qF "$PANIC_LINE" dmesg.txt || fail "panic line missing"
    step "our reading of QEMU's file equals makedumpfile's reassembly of it"
    makedumpfile -R qemu-reassembled.kdump < "$QEMU_KDUMP" > r.log 2>&1 || { cat r.log; fail "makedumpfile -R failed"; }
    "$GUESTDUMP" verify from-qemu.kdump --against qemu-reassembled.kdump
    ;;
bad-input)
    mkdir out
    : > empty.elf
    expect_error "empty file" empty.elf "$GUESTDUMP" convert empty.elf out/x.kdump
    head -c 1048576 /dev/urandom > random.bin
    expect_error "random bytes" random.bin "$GUESTDUMP" convert random.bin out/x.kdump
    head -c 100 "$ELF" > trunc-header.elf
    expect_error "ELF truncated in its headers" trunc-header.elf "$GUESTDUMP" convert trunc-header.elf out/x.kdump
    # Sparse copies: the fixture's zero pages are holes, and the copies should be too.
    cp --sparse=always "$ELF" trunc.elf
    truncate -s $(( $(stat -c %s "$ELF") - 1048576 )) trunc.elf
    expect_error "PT_LOAD past end of file" trunc.elf "$GUESTDUMP" convert trunc.elf out/x.kdump
    grep -q "past the end of the file" err.txt || fail "truncation message does not say what is wrong"
    # Overlapping segments: move the last PT_LOAD's p_paddr into the first one.
    cp --sparse=always "$ELF" overlap.elf
    $PY - overlap.elf <<'PYEOF'
import struct, sys
dst = sys.argv[1]
hdr = open(dst, "rb").read(4096 * 4)
phoff, = struct.unpack_from("<Q", hdr, 32)
phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
loads = [phoff + i * phentsize for i in range(phnum) if struct.unpack_from("<I", hdr, phoff + i * phentsize)[0] == 1]
with open(dst, "r+b") as g:
    g.seek(loads[-1] + 24)  # p_paddr
    g.write(struct.pack("<Q", 0x100000))
PYEOF
    expect_error "overlapping PT_LOADs" overlap.elf "$GUESTDUMP" convert overlap.elf out/x.kdump
    grep -q "overlap" err.txt || fail "overlap message does not say what is wrong"
    # A kdump file with one corrupted page descriptor.
    "$GUESTDUMP" convert -c zstd "$ELF" good.kdump
    $PY - good.kdump bad.kdump <<'PYEOF'
import struct, sys, shutil
src, dst = sys.argv[1], sys.argv[2]
shutil.copyfile(src, dst)
with open(dst, "r+b") as f:
    h = f.read(4096)
    sub_hdr, bitmap_blocks = struct.unpack_from("<iI", h, 432)
    desc = (1 + sub_hdr + bitmap_blocks) * 4096
    f.seek(desc + 24 * 1000)
    f.write(struct.pack("<qII", 1 << 45, 4096, 0x20))
PYEOF
    expect_error "corrupted descriptor (convert)" bad.kdump "$GUESTDUMP" convert bad.kdump out/x.kdump
    grep -q "PFN" err.txt || fail "descriptor error does not name the PFN"
    expect_error "corrupted descriptor (verify)" bad.kdump "$GUESTDUMP" verify bad.kdump
    no_output_left out
    ;;
full-disk)
    mkdir small
    mount -t tmpfs -o size=24m tmpfs small || { echo "SKIP: cannot mount tmpfs (not root?)"; exit 0; }
    trap 'umount "$WORK/small"' EXIT
    echo previous > small/old.kdump
    expect_error "full output disk" "No space left on device" "$GUESTDUMP" convert -c none "$ELF" small/new.kdump
    [ "$(cat small/old.kdump)" = previous ] || fail "the previous dump was touched"
    [ "$(ls -A small)" = old.kdump ] || { ls -la small; fail "a partial file was left behind"; }
    ;;
cli)
    set +e
    "$GUESTDUMP" convert > /dev/null 2>&1; [ $? -eq 2 ] || fail "missing arguments must exit 2"
    "$GUESTDUMP" convert -c gzip a b 2> err.txt; [ $? -eq 2 ] || fail "bad codec must exit 2"
    "$GUESTDUMP" frobnicate 2> /dev/null; [ $? -eq 2 ] || fail "unknown command must exit 2"
    "$GUESTDUMP" convert -d 40 "$ELF" x.kdump 2> /dev/null; [ $? -eq 2 ] || fail "-d 40 must exit 2"
    set -e
    grep -q "unknown codec 'gzip'" err.txt || fail "bad codec message"
    set +e
    "$GUESTDUMP" convert -d 32 "$ELF" x.kdump 2> err.txt; [ $? -eq 2 ] || fail "-d 32 must exit 2"
    set -e
    grep -q "32" err.txt || { cat err.txt; fail "-d 32 message does not name the level"; }
    [ ! -e x.kdump ] || fail "output created for a rejected dump level"
    "$GUESTDUMP" --help | grep -q "convert" || fail "--help"
    ;;
*)
    fail "unknown case $case_name"
    ;;
esac
echo "PASS: $case_name"
