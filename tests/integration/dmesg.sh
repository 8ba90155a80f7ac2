#!/bin/bash
# Integration cases for `guestdump dmesg` and `guestdump convert --format elf` on real QEMU guest
# dumps, checked against makedumpfile 1.7.2 --dump-dmesg line for line and with the independent
# readers (crash, makedumpfile, libkdumpfile, drgn).
# Usage: dmesg.sh CASE   (environment: GUESTDUMP, FIXTURE, WORK, VALIDATORS)
#   elf          dmesg of the QEMU ELF dump (and -o OUT) == makedumpfile's
#   kdump        dmesg of our kdump conversion and of QEMU's flattened kdump == makedumpfile's
#   escapes      a record patched to hold control and non-ASCII bytes: escaped like makedumpfile
#   elf-output   convert --format elf: crash, makedumpfile (dmesg, -c -d 1), libkdumpfile, drgn
#   bad-input    dumps without usable VMCOREINFO or log: one error line, exit 1, no output file
set -euo pipefail

case_name=${1:?case}
: "${GUESTDUMP:?}" "${FIXTURE:?}" "${WORK:?}" "${VALIDATORS:?}"
. "$(dirname "$0")/fixture-lib.sh"
NORMALIZE="$PY $TESTS_DIR/bench/normalize_elf.py"
QEMU_KDUMP=$FIXTURE/vmcore.kdump-zlib

# makedumpfile --dump-dmesg DUMP OUT (the reference).
md_dmesg() {
    local dump=$1 out=$2
    makedumpfile --dump-dmesg "$dump" "$out" > md.log 2>&1 || { cat md.log; fail "makedumpfile --dump-dmesg $dump failed"; }
}

# Two logs must be equal line for line; the reference must be a real log.
same_log() {
    local ours=$1 ref=$2
    grep -qF "$PANIC_LINE" "$ref" || fail "$ref lacks the panic line"
    [ "$(wc -l < "$ref")" -gt 100 ] || fail "$ref has fewer than 100 lines"
    if ! cmp -s "$ours" "$ref"; then
        diff "$ref" "$ours" | head -20
        fail "$ours differs from $ref"
    fi
    echo "ok: $ours == $ref ($(wc -l < "$ref") lines)"
}

# The reference log of the fixture, from makedumpfile on the normalized ELF copy.
reference() {
    if [ ! -f ref.txt ]; then
        $NORMALIZE "$ELF" norm.elf
        md_dmesg norm.elf ref.txt
        rm -f norm.elf
    fi
}

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

case "$case_name" in
elf)
    reference
    step "guestdump dmesg on the QEMU ELF dump"
    "$GUESTDUMP" dmesg "$ELF" > ours.txt
    same_log ours.txt ref.txt
    step "dmesg -o writes a private file"
    "$GUESTDUMP" dmesg "$ELF" -o ours-o.txt
    [ "$(stat -c %a ours-o.txt)" = 600 ] || fail "dmesg -o: mode is not 0600"
    same_log ours-o.txt ref.txt
    ;;
kdump)
    reference
    step "convert to kdump (zlib), then dmesg from it: ours and makedumpfile's"
    "$GUESTDUMP" convert -c zlib "$ELF" out.kdump > /dev/null
    "$GUESTDUMP" dmesg out.kdump > ours.txt
    md_dmesg out.kdump md-kdump.txt
    same_log md-kdump.txt ref.txt
    same_log ours.txt ref.txt
    step "dmesg of QEMU's own flattened kdump-zlib output"
    "$GUESTDUMP" dmesg "$QEMU_KDUMP" > ours-qemu.txt
    same_log ours-qemu.txt ref.txt
    ;;
escapes)
    step "patch one log record to hold control and non-ASCII bytes"
    $NORMALIZE "$ELF" patched.elf
    $PY - patched.elf <<'PYEOF'
import mmap, sys
# The record's text keeps its length; tab stays, \x01 and \x7f are escaped, 0xc3 and 0xff come
# out as makedumpfile prints a signed char, and the newline starts an indented line. CR is the
# one deliberate difference: makedumpfile prints it raw, we escape it (\x0d), so a guest cannot
# overwrite the line an operator sees.
needle = b"Command line: console=ttyS0"
patch = b"Command line: \x01\t\r\x7f\xc3\n\xff=ttyS0"
assert len(needle) == len(patch)
with open(sys.argv[1], "r+b") as f:
    mm = mmap.mmap(f.fileno(), 0)
    n, pos = 0, mm.find(needle)
    while pos >= 0:
        mm[pos:pos + len(needle)] = patch
        n += 1
        pos = mm.find(needle, pos + 1)
    mm.flush()
if n == 0:
    sys.exit("needle not found")
print(f"patched {n} copies")
PYEOF
    md_dmesg patched.elf md-patched.txt
    "$GUESTDUMP" dmesg patched.elf > ours-patched.txt
    grep -qF 'Command line: \x01' md-patched.txt || fail "the patched record is not in makedumpfile's log"
    grep -qF '\xffffffc3' md-patched.txt || fail "makedumpfile did not print 0xc3 as a signed char"
    grep -q $'\r' md-patched.txt || fail "makedumpfile no longer prints CR raw; revisit the difference"
    if grep -q $'\r' ours-patched.txt; then fail "a raw CR reached our log"; fi
    sed 's/\r/\\x0d/g' md-patched.txt > md-patched-cr.txt
    same_log ours-patched.txt md-patched-cr.txt
    ;;
elf-output)
    reference
    for level in 1 31; do
        if [ "$level" = 31 ] && ! "$GUESTDUMP" convert --help | grep -q 'format'; then
            fail "convert has no --format option"
        fi
        step "convert --format elf -d $level"
        set +e
        "$GUESTDUMP" convert --format elf -d "$level" "$ELF" out-$level.elf > conv.log 2>&1
        rc=$?
        set -e
        if [ $rc -ne 0 ]; then
            cat conv.log
            if [ "$level" = 31 ] && grep -q 'not implemented' conv.log; then
                echo "skip: dump level 31 is not implemented in this build"
                continue
            fi
            fail "convert --format elf -d $level exited $rc"
        fi
        f=out-$level.elf
        [ "$(stat -c %a "$f")" = 600 ] || fail "$f: mode is not 0600"
        $PY - "$f" <<'PYEOF'
import struct, sys
with open(sys.argv[1], "rb") as fh:
    h = fh.read(64)
assert h[:4] == b"\x7fELF" and h[4] == 2, "not ELF64"
phoff, = struct.unpack_from("<Q", h, 32)
assert phoff == 64, f"e_phoff {phoff}"
PYEOF
        step "crash --osrelease $f"
        got=$(crash --osrelease "$f") || fail "crash --osrelease exited $?"
        [ "$got" = "$release" ] || fail "crash --osrelease printed '$got', expected '$release'"
        step "makedumpfile --dump-dmesg $f"
        md_dmesg "$f" md-$level.txt
        same_log md-$level.txt ref.txt
        "$GUESTDUMP" dmesg "$f" > ours-$level.txt
        same_log ours-$level.txt ref.txt
        step "makedumpfile -c -d 1 $f (re-filter our ELF into kdump)"
        rm -f md-$level.kdump
        # KNOWN ISSUE: on the -d 31 output makedumpfile 1.7.2 crashes (SIGSEGV in readmem's mmap
        # path) while its read(2) path (--non-mmap) reads every page; see the report of issue 3.
        mmap_opt=
        [ "$level" = 31 ] && mmap_opt=--non-mmap
        makedumpfile $mmap_opt -c -d 1 "$f" md-$level.kdump > mdc.log 2>&1 || { cat mdc.log; fail "makedumpfile -c -d 1 $f failed"; }
        got=$(crash --osrelease md-$level.kdump) || fail "crash --osrelease on makedumpfile's output exited $?"
        [ "$got" = "$release" ] || fail "crash --osrelease md-$level.kdump printed '$got'"
        step "libkdumpfile: every page of $f equals the source ELF"
        # The 1 GiB guest: ~262000 RAM pages, ~150000 of them zero in long runs (left out at
        # -d 1), ~25000 kept at -d 31.
        min=100000
        [ "$level" = 31 ] && min=10000
        $CHECK pages "$f" --source "$ELF" --min-dumped "$min"
        step "drgn opens $f"
        $CHECK drgn "$f"
        step "guestdump verify $f --against the source"
        "$GUESTDUMP" verify "$f" --against "$ELF"
        rm -f md-$level.kdump
    done
    ;;
bad-input)
    step "dumps without VMCOREINFO, with a lying printk buffer, and missing files"
    $NORMALIZE "$ELF" novi.elf
    $PY - novi.elf <<'PYEOF'
import mmap, sys
# Rename the VMCOREINFO note, and every copy in guest memory the locator could find, so no
# reader finds one.
with open(sys.argv[1], "r+b") as f:
    mm = mmap.mmap(f.fileno(), 0)
    n = 0
    for needle, repl in ((b"VMCOREINFO\0", b"XMCOREINFO"), (b"OSRELEASE=", b"XSRELEASE=")):
        pos = mm.find(needle)
        while pos >= 0:
            mm[pos:pos + 10] = repl
            n += 1
            pos = mm.find(needle, pos + 1)
    assert n >= 3
    mm.flush()
PYEOF
    expect_error "no VMCOREINFO" "novi.elf" "$GUESTDUMP" dmesg novi.elf
    expect_error "no VMCOREINFO, -o" "VMCOREINFO" "$GUESTDUMP" dmesg novi.elf -o log.txt
    [ ! -e log.txt ] || fail "dmesg -o left log.txt behind after a failure"
    ls -A | grep -q '^\.log\.txt' && fail "dmesg -o left a temporary file behind"
    expect_error "missing file" "nonexistent.elf" "$GUESTDUMP" dmesg nonexistent.elf
    # SYMBOL(prb) pointing at an unmapped address (same length, so the note stays valid).
    $NORMALIZE "$ELF" liar.elf
    $PY - liar.elf <<'PYEOF'
import mmap, re, sys
with open(sys.argv[1], "r+b") as f:
    mm = mmap.mmap(f.fileno(), 0)
    m = re.search(rb"SYMBOL\(prb\)=([0-9a-f]+)\n", mm[:1 << 20])
    assert m
    val = m.group(1)
    mm[m.start(1):m.end(1)] = b"ffffffffff" + b"0" * (len(val) - 10)
    mm.flush()
PYEOF
    expect_error "prb outside the page tables" "prb" "$GUESTDUMP" dmesg liar.elf
    set +e
    "$GUESTDUMP" dmesg > /dev/null 2>&1
    rc=$?
    set -e
    [ $rc -eq 2 ] || fail "dmesg without FILE: exit $rc, expected 2"
    rm -f novi.elf liar.elf
    ;;
*)
    echo "unknown case '$case_name'" >&2
    exit 2
    ;;
esac
echo "PASS: dmesg.sh $case_name"
