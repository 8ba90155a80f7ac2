#!/bin/bash
# Integration cases for the VMCOREINFO locator on real guests dumped without QEMU's vmcoreinfo
# device: guestdump must find the kernel's own VMCOREINFO in guest memory and then filter and
# read the log exactly as makedumpfile 1.7.2 does when handed the same text with -i.
# Usage: locator.sh CASE   (environment: GUESTDUMP, FIXTURE, WORK, VALIDATORS, BENCH, and for
#                           `stripped` FIXTURE_VMCI, the same kind of guest dumped with the device)
#   levels      dump levels 1 2 4 8 16 31 against makedumpfile -i on FIXTURE (no device)
#   dmesg       guestdump dmesg == makedumpfile --dump-dmesg -i, on the ELF and on our output
#   validators  -d 31 output through crash, libkdumpfile, drgn and makedumpfile (no -i); QEMU's
#               own kdump-zlib dump of the guest converts to the same pages as its ELF dump
#   stripped    FIXTURE_VMCI's ELF (a small guest dumped with the device) with its VMCOREINFO
#               note renamed: the same paused guest with and without the note; located text ==
#               the note's text, same dumped pages, same log
set -euo pipefail

case_name=${1:?case}
: "${GUESTDUMP:?}" "${FIXTURE:?}" "${WORK:?}" "${VALIDATORS:?}" "${BENCH:?}"
. "$(dirname "$0")/fixture-lib.sh"

# Independent of guestdump: the page-aligned "VMCOREINFO" ELF notes in an ELF core's PT_LOADs,
# printed as "PA OSRELEASE"; with --text PA, the note text at PA. --notes-only: whether the
# PT_NOTE has a VMCOREINFO note (exit 0) or not (exit 1).
scan_notes() {
    $PY - "$@" <<'PYEOF'
import mmap, struct, sys
path, args = sys.argv[1], sys.argv[2:]
with open(path, "rb") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
phoff, = struct.unpack_from("<Q", m, 32)
phnum, = struct.unpack_from("<H", m, 56)
if phnum == 0xFFFF:
    shoff, = struct.unpack_from("<Q", m, 40)
    phnum, = struct.unpack_from("<I", m, shoff + 44)
loads, note = [], None
for i in range(phnum):
    t, _, off, _, pa, fs, _, _ = struct.unpack_from("<IIQQQQQQ", m, phoff + i * 56)
    if t == 1:
        loads.append((pa, off, fs))
    elif t == 4:
        note = (off, fs)
if args and args[0] == "--notes-only":
    sys.exit(0 if m.find(b"VMCOREINFO\0", note[0], note[0] + note[1]) >= 0 else 1)
def text_at(off):
    size, = struct.unpack_from("<I", m, off + 4)
    return m[off + 24:off + 24 + size].split(b"\0")[0].decode()
for pa, off, fs in loads:
    pos = m.find(b"VMCOREINFO\0", off, off + fs)
    while pos >= 0:
        hdr = pos - 12
        if (hdr - off) % 4096 == 0 and struct.unpack_from("<III", m, hdr) [0] == 11:
            npa = pa + hdr - off
            text = text_at(hdr)
            if args and args[0] == "--text":
                if npa == int(args[1], 16):
                    sys.stdout.write(text)
            else:
                rel = text.split("\n", 1)[0].split("=", 1)[1]
                print(f"{npa:#x} {rel}")
        pos = m.find(b"VMCOREINFO\0", pos + 1, off + fs)
PYEOF
}

# The VMCOREINFO the locator chose, checked against an independent scan; writes vmcoreinfo.txt.
located_text() {
    "$GUESTDUMP" info --json "$ELF" > info.json
    local src pa
    src=$($PY -c 'import json; print(json.load(open("info.json"))["vmcoreinfo_source"])')
    echo "info: vmcoreinfo_source = $src"
    case "$src" in "guest memory at PA 0x"*) ;; *) fail "VMCOREINFO not located: $src" ;; esac
    pa=${src#guest memory at PA }
    scan_notes "$ELF" > notes.txt
    echo "page-aligned notes in guest memory:"; cat notes.txt
    grep -q "^$pa $release\$" notes.txt || fail "located PA $pa is not a note of $release"
    scan_notes "$ELF" --text "$pa" > vmcoreinfo.txt
    grep -q "^OSRELEASE=$release\$" vmcoreinfo.txt || fail "vmcoreinfo.txt lacks OSRELEASE"
}

require_no_note() {
    if scan_notes "$ELF" --notes-only; then
        fail "$ELF has a VMCOREINFO note: the fixture must be dumped without -device vmcoreinfo"
    fi
}

case "$case_name" in
levels)
    require_no_note
    located_text
    norm=$(normalized locator-cache)
    for level in 1 2 4 8 16 31; do
        step "dump level $level"
        makedumpfile -l -d "$level" -i vmcoreinfo.txt "$norm" "md-$level.kdump" > "md-$level.log" 2>&1 ||
            { cat "md-$level.log"; fail "makedumpfile -d $level -i failed"; }
        $RUN "$GUESTDUMP" convert -c lzo -d "$level" "$ELF" "gd-$level.kdump" > "gd-$level.log" ||
            fail "guestdump convert -d $level failed"
        cat "gd-$level.log"
        grep -q "^vmcoreinfo: guest memory at PA " "gd-$level.log" || fail "convert does not say where VMCOREINFO came from"
        $COMPARE "gd-$level.kdump" "md-$level.kdump" --label "$fixture_name (no device) -d $level" ||
            fail "dumped PFNs differ from makedumpfile -i's at -d $level"
        "$GUESTDUMP" info --json "gd-$level.kdump" > out.json
        $PY - "$level" <<'PYEOF' || fail "info on the -d $level output"
import json, sys
j = json.load(open("out.json"))
assert j["vmcoreinfo"] is True, j
assert j["vmcoreinfo_source"].startswith("guest memory at PA 0x"), j
assert "filter_fallback" not in j, j
c = j["pages"]["excluded_by_class"]
level = int(sys.argv[1])
if level & 16: assert c["free"] > 0, c
if level & 8: assert c["user"] > 0, c
print(f"info: {j['vmcoreinfo_source']}, excluded {c}")
PYEOF
        rm -f "md-$level.kdump" "gd-$level.kdump"
    done
    ;;
dmesg)
    require_no_note
    located_text
    norm=$(normalized locator-cache)
    step "makedumpfile --dump-dmesg -i vs guestdump dmesg on the ELF"
    makedumpfile --dump-dmesg -i vmcoreinfo.txt "$norm" md-dmesg.txt > md.log 2>&1 ||
        { cat md.log; fail "makedumpfile --dump-dmesg -i failed"; }
    $RUN "$GUESTDUMP" dmesg "$ELF" > gd-dmesg.txt
    [ -s gd-dmesg.txt ] || fail "empty log"
    cmp md-dmesg.txt gd-dmesg.txt || { diff md-dmesg.txt gd-dmesg.txt | head; fail "logs differ"; }
    step "guestdump dmesg on our -d 31 output"
    $RUN "$GUESTDUMP" convert -c zstd -d 31 "$ELF" d31.kdump > /dev/null
    "$GUESTDUMP" dmesg d31.kdump > gd-out-dmesg.txt
    cmp md-dmesg.txt gd-out-dmesg.txt || fail "log from our output differs"
    echo "logs identical ($(wc -l < gd-dmesg.txt) lines)"
    ;;
validators)
    require_no_note
    located_text
    step "convert -d 31 (zlib)"
    $RUN "$GUESTDUMP" convert -c zlib -d 31 "$ELF" d31.kdump
    step "crash --osrelease"
    got=$(crash --osrelease d31.kdump) || fail "crash --osrelease exited $?"
    [ "$got" = "$release" ] || fail "crash --osrelease printed '$got', expected '$release'"
    step "libkdumpfile: every dumped page equals the source"
    $CHECK pages d31.kdump --source "$ELF"
    step "drgn reads init_uts_ns"
    $CHECK drgn d31.kdump
    step "makedumpfile --dump-dmesg without -i (reads the VMCOREINFO we wrote)"
    makedumpfile --dump-dmesg d31.kdump md-dmesg.txt > md.log 2>&1 ||
        { cat md.log; fail "makedumpfile --dump-dmesg on our output failed"; }
    "$GUESTDUMP" dmesg d31.kdump | cmp - md-dmesg.txt || fail "logs differ"
    step "the VMCOREINFO note and offset_vmcoreinfo hold the located text"
    $PY - d31.kdump vmcoreinfo.txt <<'PYEOF' || fail "VMCOREINFO in the output"
import struct, sys
data = open(sys.argv[1], "rb").read(1 << 20)
want = open(sys.argv[2]).read()
# kdump_sub_header at block_size: offset_vmcoreinfo @ 32, size_vmcoreinfo @ 40 (u64)
bs, = struct.unpack_from("<i", data, 428)
off, size = struct.unpack_from("<QQ", data, bs + 32)
got = data[off:off + size].split(b"\0")[0].decode()
assert got == want, "offset_vmcoreinfo text differs"
print(f"offset_vmcoreinfo {off}, {size} bytes: located text")
PYEOF
    "$GUESTDUMP" info d31.kdump | grep -q "^vmcoreinfo:  yes (guest memory at PA 0x" ||
        fail "info on the output does not say where VMCOREINFO came from"
    step "QEMU's kdump-zlib dump of the same guest converts to the same pages"
    $RUN "$GUESTDUMP" convert -c zlib -d 31 "$FIXTURE/vmcore.kdump-zlib" q31.kdump
    $COMPARE q31.kdump d31.kdump --label "kdump-zlib vs ELF input -d 31" || fail "pages differ"
    ;;
stripped)
    : "${FIXTURE_VMCI:?}"
    step "the same dump with and without its VMCOREINFO note"
    cp "$FIXTURE_VMCI/vmcore.elf" stripped.elf
    $PY - "$FIXTURE_VMCI/vmcore.elf" stripped.elf note.txt <<'PYEOF'
import mmap, struct, sys
with open(sys.argv[2], "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    pos = m.find(b"VMCOREINFO\0", 0, 1 << 20)  # the PT_NOTE comes before guest memory
    assert pos >= 0
    size, = struct.unpack_from("<I", m, pos - 8)
    open(sys.argv[3], "w").write(m[pos + 12:pos + 12 + size].split(b"\0")[0].decode())
    m[pos:pos + 10] = b"XMCOREINFO"
    m.flush()
PYEOF
    "$GUESTDUMP" info --json stripped.elf > info.json
    $PY -c 'import json; s=json.load(open("info.json"))["vmcoreinfo_source"]; print(s); assert s.startswith("guest memory at PA 0x")'
    for level in 1 31; do
        $RUN "$GUESTDUMP" convert -c zstd -d "$level" stripped.elf "s-$level.kdump" > /dev/null
        $RUN "$GUESTDUMP" convert -c zstd -d "$level" "$FIXTURE_VMCI/vmcore.elf" "n-$level.kdump" > /dev/null
        $COMPARE "s-$level.kdump" "n-$level.kdump" --label "located vs note -d $level" ||
            fail "-d $level: located VMCOREINFO filters differently"
        rm -f "n-$level.kdump"
        [ "$level" = 31 ] || rm -f "s-$level.kdump"
    done
    $PY - s-31.kdump note.txt <<'PYEOF' || fail "located text differs from the note"
import struct, sys
data = open(sys.argv[1], "rb").read(1 << 20)
bs, = struct.unpack_from("<i", data, 428)
off, size = struct.unpack_from("<QQ", data, bs + 32)
got = data[off:off + size].split(b"\0")[0].decode()
want = open(sys.argv[2]).read()
assert got == want, (len(got), len(want))
print(f"located text == the device's note ({len(got)} bytes)")
PYEOF
    "$GUESTDUMP" dmesg stripped.elf | cmp - <("$GUESTDUMP" dmesg "$FIXTURE_VMCI/vmcore.elf") ||
        fail "logs differ"
    rm -f stripped.elf
    ;;
*)
    fail "unknown case $case_name"
    ;;
esac
echo "PASS: $case_name"
