#!/bin/bash
# Xen `xl dump-core` input: xc_core files generated from a real guest's QEMU ELF dump by
# tests/fixtures/make-xc-core.py (Xen cannot run here), read back by libkdumpfile, converted by
# guestdump and compared page by page with the ELF they came from.
# Usage: xen.sh CASE   (environment: GUESTDUMP, FIXTURE, WORK, VALIDATORS)
#   hvm        HVM (.xen_pfn, trailing ~0 entries): libkdumpfile check, info, -d 0/1 vs the ELF
#   pv         PV (.xen_p2m, machine frames != PFNs): libkdumpfile check, -d 1 and -d 31 vs the
#              ELF
#   levels     -d 0,1,2,4,8,16,31: the xc_core conversion equals the ELF conversion exactly;
#              needs VMCOREINFO found in guest memory (the locator), else it fails
#   gap        the 4 GiB fixture: RAM above the 4 GiB gap, sparse xc_core, -d 1 vs the ELF
#   bad-input  truncated sections, index past .xen_pages, absurd xch_nr_pages, lying notes
set -euo pipefail

case_name=${1:?case}
: "${GUESTDUMP:?}" "${FIXTURE:?}" "${WORK:?}" "${VALIDATORS:?}"
. "$(dirname "$0")/fixture-lib.sh"
MAKE_XC="$PY $TESTS_DIR/fixtures/make-xc-core.py"

info_field() { # FILE KEY: one field of `guestdump info --json`
    "$GUESTDUMP" info --json "$1" | $PY -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

# Converts XC and the ELF at LEVEL; every page of the xc_core conversion equals the ELF's, and
# every page the ELF conversion keeps is in the xc_core conversion with the same bytes.
compare_level() {
    local xc=$1 level=$2 exact=$3
    "$GUESTDUMP" convert -d "$level" "$xc" "xc-$level.kdump" 2> "xc-$level.log" || { cat "xc-$level.log"; fail "convert -d $level of $xc"; }
    "$GUESTDUMP" convert -d "$level" "$ELF" "elf-$level.kdump" 2> "elf-$level.log" || { cat "elf-$level.log"; fail "convert -d $level of the ELF"; }
    "$GUESTDUMP" verify "xc-$level.kdump" --against "$ELF" > /dev/null
    "$GUESTDUMP" verify "elf-$level.kdump" --against "xc-$level.kdump" > /dev/null
    local nx ne
    nx=$("$GUESTDUMP" info --json "xc-$level.kdump" | $PY -c 'import json,sys; print(json.load(sys.stdin)["pages"]["dumped"])')
    ne=$("$GUESTDUMP" info --json "elf-$level.kdump" | $PY -c 'import json,sys; print(json.load(sys.stdin)["pages"]["dumped"])')
    if [ "$exact" = exact ]; then
        "$GUESTDUMP" verify "xc-$level.kdump" --against "elf-$level.kdump" > /dev/null
        [ "$nx" = "$ne" ] || fail "-d $level: xc_core conversion dumps $nx pages, ELF conversion $ne"
    fi
    echo "ok: -d $level: xc_core conversion $nx pages, ELF conversion $ne pages"
}

# Must fail with exit 1, one 'guestdump: error:' line naming the file and containing WHAT,
# and leave the output directory empty.
expect_error() {
    local file=$1 what=$2
    set +e
    "$GUESTDUMP" convert -d 1 "$file" out/x.kdump > out.txt 2> err.txt
    local rc=$?
    set -e
    [ $rc -eq 1 ] || { cat err.txt; fail "$file: exit code $rc, expected 1"; }
    [ "$(grep -c '^guestdump: error: ' err.txt)" -eq 1 ] || { cat err.txt; fail "$file: no single error line"; }
    grep -qF "'$file'" err.txt || { cat err.txt; fail "$file: message does not name the file"; }
    grep -qF -- "$what" err.txt || { cat err.txt; fail "$file: message lacks '$what'"; }
    if ls -A out | grep -q .; then ls -la out; fail "$file: output left behind"; fi
    echo "ok: $file -> $(grep '^guestdump: error: ' err.txt)"
}

case "$case_name" in
hvm)
    $MAKE_XC "$ELF" hvm.core --mode hvm --trailing-invalid 5
    step "libkdumpfile reads every source page from the xc_core file"
    $CHECK xc-pages hvm.core --source "$ELF"
    "$GUESTDUMP" info hvm.core | tee info.txt
    grep -q '^format: *xc_core (HVM)' info.txt || fail "info does not report an HVM xc_core file"
    grep -q '^vmcoreinfo: *no' info.txt || {
        grep -q '^vmcoreinfo: *yes' info.txt || fail "info says nothing about VMCOREINFO"
        echo "note: VMCOREINFO was found in guest memory (locator present)"
    }
    [ "$(info_field hvm.core cpus)" = 2 ] || fail "info does not count 2 vCPUs"
    for level in 0 1; do compare_level hvm.core $level subset; done
    step "CPU notes: one CORE NT_PRSTATUS and one QEMU note per vCPU, CR3 carried over"
    $PY - "$ELF" xc-1.kdump <<'PYEOF'
import struct, sys
def notes(path):
    """Notes of a kdump-compressed file (offset_note/size_note in the sub header)."""
    with open(path, 'rb') as f:
        data = f.read(1 << 20)
    bs, = struct.unpack_from('<i', data, 428)  # disk_dump_header.block_size (x86_64)
    sub = data[bs:]
    off, size = struct.unpack_from('<QQ', sub, 48)  # offset_note, size_note (header_version >= 4)
    with open(path, 'rb') as f:
        f.seek(off)
        blob = f.read(size)
    return parse(blob)
def elf_notes(path):
    with open(path, 'rb') as f:
        d = f.read(1 << 20)
    phoff, = struct.unpack_from('<Q', d, 32)
    phentsize, phnum = struct.unpack_from('<HH', d, 54)
    for i in range(phnum):
        t, _, off, _, _, sz, _, _ = struct.unpack_from('<IIQQQQQQ', d, phoff + i * phentsize)
        if t == 4:
            with open(path, 'rb') as f:
                f.seek(off)
                return parse(f.read(sz))
def parse(blob):
    out, pos = [], 0
    while pos + 12 <= len(blob):
        n, dsz, t = struct.unpack_from('<III', blob, pos)
        if n == 0 and dsz == 0:
            break
        name = blob[pos + 12:pos + 12 + n].rstrip(b'\0').decode()
        dpos = pos + 12 + ((n + 3) & ~3)
        out.append((name, t, blob[dpos:dpos + dsz]))
        pos = dpos + ((dsz + 3) & ~3)
    return out
src, out = elf_notes(sys.argv[1]), notes(sys.argv[2])
for kind in ('CORE', 'QEMU'):
    a = [d for n, t, d in src if n == kind]
    b = [d for n, t, d in out if n == kind]
    assert len(a) == len(b) == 2, (kind, len(a), len(b))
    for x, y in zip(a, b):
        if kind == 'CORE':
            # pr_reg: the 15 GPRs, rip, cs, rflags, rsp, ss, fs_base, gs_base
            for i in list(range(15)) + [16, 17, 18, 19, 20, 21, 22]:
                rx, = struct.unpack_from('<Q', x, 112 + 8 * i)
                ry, = struct.unpack_from('<Q', y, 112 + 8 * i)
                assert rx == ry, ('pr_reg', i, hex(rx), hex(ry))
        else:
            assert x[392:432] == y[392:432], 'CR0-CR4 differ'
            assert x[8:8 + 18 * 8] == y[8:8 + 18 * 8], 'general registers differ'
print('notes: CORE and QEMU registers (incl. CR3) equal the source ELF')
PYEOF
    ;;
pv)
    $MAKE_XC "$ELF" pv.core --mode pv --trailing-invalid 2
    step "libkdumpfile reads every source page at its machine frame"
    $CHECK xc-pages pv.core --source "$ELF"
    "$GUESTDUMP" info pv.core | tee info.txt
    grep -q '^format: *xc_core (PV)' info.txt || fail "info does not report a PV xc_core file"
    "$GUESTDUMP" convert -d 1 pv.core pv-1.kdump 2> pv.log || { cat pv.log; fail "convert -d 1 of the PV file"; }
    cat pv.log
    "$GUESTDUMP" verify pv-1.kdump --against "$ELF"
    # The generated file holds an HVM guest's memory: its page tables name guest-physical
    # frames, which the reader, taking them for a PV guest's machine frames, maps through the
    # reversed p2m to the wrong pages, so the kernel model's checks fail and filtering keeps
    # pages (a real PV guest's walk: tests/xen/xen-capture.sh). No kept page may differ.
    step "-d 31 on PV input: every kept page equals the source"
    "$GUESTDUMP" convert -d 31 pv.core pv-31.kdump 2> pv31.log || { cat pv31.log; fail "convert -d 31 of the PV file"; }
    cat pv31.log
    "$GUESTDUMP" verify pv-31.kdump --against "$ELF"
    ;;
levels)
    $MAKE_XC "$ELF" hvm.core --mode hvm --trailing-invalid 1
    [ "$(info_field hvm.core vmcoreinfo)" = True ] ||
        fail "no VMCOREINFO found in the xc_core file's guest memory (the locator)"
    for level in 0 1 2 4 8 16 31; do compare_level hvm.core $level exact; done
    step "the -d 31 conversion opens in crash, drgn and libkdumpfile"
    release=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernel"]["release"])' "$FIXTURE/fixture.json")
    got=$(crash --osrelease xc-31.kdump) || fail "crash --osrelease exited $?"
    [ "$got" = "$release" ] || fail "crash --osrelease printed '$got', expected '$release'"
    $CHECK drgn xc-31.kdump
    $CHECK pages xc-31.kdump --source "$ELF"
    ;;
gap)
    $MAKE_XC "$ELF" gap.core --mode hvm --trailing-invalid 3 --sparse
    $PY - gap.core <<'PYEOF'
import struct, sys
d = open(sys.argv[1], 'rb').read(64 + 7 * 64)
shoff, = struct.unpack_from('<Q', d, 40)
# The index is the last section; the generator writes .xen_pfn there for HVM.
_, _, _, _, off, size, _, _, _, _ = struct.unpack_from('<IIQQQQIIQQ', d, shoff + 6 * 64)
with open(sys.argv[1], 'rb') as f:
    f.seek(off)
    pfns = [p for p in struct.unpack('<%dQ' % (size // 8), f.read(size)) if p != 2**64 - 1]
assert pfns == sorted(pfns), 'index not ascending'
assert max(pfns) >= 0x100000, 'no RAM above 4 GiB'
assert any(b - a > 1 for a, b in zip(pfns, pfns[1:])), 'no gap'
print(f'gap: {len(pfns)} pages up to PFN {max(pfns):#x}')
PYEOF
    step "libkdumpfile reads every source page from the xc_core file"
    $CHECK xc-pages gap.core --source "$ELF"
    compare_level gap.core 1 subset
    ;;
bad-input)
    mkdir out
    $MAKE_XC "$ELF" good.core --mode hvm
    $PY - good.core <<'PYEOF'
import os, shutil, struct, sys
src = sys.argv[1]
d = open(src, 'rb').read(64 + 7 * 64)
shoff, = struct.unpack_from('<Q', d, 40)
secs = [struct.unpack_from('<IIQQQQIIQQ', d, shoff + i * 64) for i in range(7)]
pages_off, pages_size = secs[5][4], secs[5][5]
notes_off = secs[2][4]
def variant(name, edits, truncate=None):
    shutil.copyfile(src, name)
    with open(name, 'r+b') as f:
        for off, data in edits:
            f.seek(off)
            f.write(data)
        if truncate is not None:
            f.truncate(truncate)
# Cut in the middle of .xen_pages (the index and names are gone too).
variant('truncated.core', [], truncate=pages_off + pages_size // 2)
# Index with more entries than .xen_pages holds pages: shrink .xen_pages by 10 pages.
variant('index-past.core', [(shoff + 5 * 64 + 32, struct.pack('<Q', pages_size - 10 * 4096))])
# Header note: xch_nr_pages far beyond what the file can hold (note 2 starts after NONE's 16 bytes).
hdr = notes_off + 16 + 16
variant('absurd-pages.core', [(hdr + 16, struct.pack('<Q', 1 << 45))])
# Header note: 64 vCPUs although .xen_prstatus holds 2.
variant('lying-vcpus.core', [(hdr + 8, struct.pack('<Q', 64))])
# Header note: a magic that is neither PV nor HVM.
variant('bad-magic.core', [(hdr, struct.pack('<Q', 0xdeadbeef))])
# .note.Xen longer than the file: its size field runs past the end.
variant('note-past.core', [(shoff + 2 * 64 + 32, struct.pack('<Q', 1 << 40))])
PYEOF
    expect_error truncated.core "past the end of the file"
    expect_error index-past.core "holds only"
    expect_error absurd-pages.core "more than the file"
    expect_error lying-vcpus.core "64 vCPUs"
    expect_error bad-magic.core "neither PV nor HVM"
    expect_error note-past.core "past the end of the file"
    ;;
*)
    fail "unknown case '$case_name'"
    ;;
esac
echo "PASS: xen $case_name"
