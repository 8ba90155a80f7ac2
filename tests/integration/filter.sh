#!/bin/bash
# Integration cases for page filtering (`guestdump convert -d LEVEL`) on real guest dumps:
# the set of dumped PFNs (2nd bitmap) must be identical to makedumpfile 1.7.2's for the same
# input and level; filtered output must still hold the source's page contents and satisfy
# crash, makedumpfile --dump-dmesg, libkdumpfile and drgn; broken VMCOREINFO must make the tool
# keep pages and say why, never crash or hang.
# Usage: filter.sh CASE   (environment: GUESTDUMP, FIXTURE, WORK, VALIDATORS, BENCH)
#   levels     dump levels 1 2 4 8 16 31 against makedumpfile on FIXTURE
#   validators -d 31 (and -d 2 as zstd) output through every validator
#   bad-input  lying or incomplete VMCOREINFO (FIXTURE should be a small guest)
set -euo pipefail

case_name=${1:?case}
: "${GUESTDUMP:?}" "${FIXTURE:?}" "${WORK:?}" "${VALIDATORS:?}" "${BENCH:?}"
. "$(dirname "$0")/fixture-lib.sh"

# What the fixture guest really ran: paging levels and KASLR, from its VMCOREINFO.
describe_fixture() {
    $PY - "$ELF" "$fixture_name" <<'PYEOF'
import mmap, re, sys
with open(sys.argv[1], "rb") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    start = m.find(b"OSRELEASE=")
    text = m[start:start + 8192].split(b"\x00")[0].decode("latin-1")
l5 = re.search(r"^NUMBER\(pgtable_l5_enabled\)=(\d+)", text, re.M)
off = re.search(r"^KERNELOFFSET=(\w+)", text, re.M)
l5 = int(l5.group(1)) if l5 else 0
off = off.group(1) if off else "?"
print(f"fixture {sys.argv[2]}: {5 if l5 else 4}-level paging, KERNELOFFSET={off} "
      f"({'nokaslr' if off == '0' else 'KASLR'})")
PYEOF
}

# The per-class counts `info --json` reports must account for every excluded page.
check_info_counts() {
    local f=$1 level=$2
    "$GUESTDUMP" info --json "$f" > info.json
    $PY - "$level" <<'PYEOF'
import json, sys
j = json.load(open("info.json"))
level = int(sys.argv[1])
p = j["pages"]
assert j["dump_level"] == level, j
c = p["excluded_by_class"]
assert sum(c.values()) == p["total"] - p["dumped"], (c, p)
if level & 2: assert c["cache"] > 0, c
if level & 8: assert c["user"] > 0, c
if level & 16: assert c["free"] > 0, c
if not level & 16: assert c["free"] == 0, c
if not level & 8: assert c["user"] == 0, c
if not level & 6: assert c["cache"] == 0 and c["cache_private"] == 0, c
assert "filter_fallback" not in j, j
print(f"info: {p['dumped']} dumped, excluded by class {c}")
PYEOF
}

case "$case_name" in
levels)
    describe_fixture
    norm=$(normalized filter-cache)
    for level in 1 2 4 8 16 31; do
        step "dump level $level"
        # lzo on both sides: the codec does not change the bitmaps and lzo is the fastest
        # codec makedumpfile 1.7.2 has.
        makedumpfile -l -d "$level" "$norm" "md-$level.kdump" > "md-$level.log" 2>&1 ||
            { cat "md-$level.log"; fail "makedumpfile -d $level failed"; }
        $RUN "$GUESTDUMP" convert -c lzo -d "$level" "$ELF" "gd-$level.kdump" > "gd-$level.log" ||
            fail "guestdump convert -d $level failed"
        cat "gd-$level.log"
        $COMPARE "gd-$level.kdump" "md-$level.kdump" --label "$fixture_name -d $level" ||
            fail "dumped PFNs differ from makedumpfile's at -d $level"
        check_info_counts "gd-$level.kdump" "$level"
        rm -f "md-$level.kdump"
        [ "$level" = 31 ] || rm -f "gd-$level.kdump"
    done
    ;;
validators)
    describe_fixture
    step "convert -d 31 (zlib) and -d 2 (zstd)"
    $RUN "$GUESTDUMP" convert -c zlib -d 31 "$ELF" d31.kdump
    $RUN "$GUESTDUMP" convert -c zstd -d 2 "$ELF" d2.kdump
    for f in d31.kdump d2.kdump; do
        step "crash --osrelease $f"
        got=$(crash --osrelease "$f") || fail "crash --osrelease exited $?"
        [ "$got" = "$release" ] || fail "crash --osrelease printed '$got', expected '$release'"
        step "libkdumpfile: every dumped page of $f equals the source"
        $CHECK pages "$f" --source "$ELF"
        step "drgn reads init_uts_ns from $f"
        $CHECK drgn "$f"
        step "guestdump verify $f --against the source"
        "$GUESTDUMP" verify "$f" --against "$ELF"
    done
    step "makedumpfile --dump-dmesg on the -d 31 output"
    makedumpfile --dump-dmesg d31.kdump dmesg.txt > md.log 2>&1 || { cat md.log; fail "makedumpfile --dump-dmesg failed"; }
    grep -qF "$PANIC_LINE" dmesg.txt || fail "makedumpfile's log from the filtered dump lacks the panic line"
    step "re-filtering our own -d 2 output to -d 31 equals converting straight to -d 31"
    $RUN "$GUESTDUMP" convert -c zlib -d 31 d2.kdump d2to31.kdump
    $COMPARE d2to31.kdump d31.kdump --label "-d 2 then -d 31"
    "$GUESTDUMP" info d2to31.kdump
    ;;
bad-input)
    # Each variant edits the VMCOREINFO note text in a copy of the ELF (same length, so every
    # offset stays valid): conversion must succeed, keep every page, and say why on stderr.
    describe_fixture
    full=$("$GUESTDUMP" info --json "$ELF" | $PY -c 'import json,sys; print(json.load(sys.stdin)["pages"]["dumped"])')
    variant() {
        local name=$1 expect=$2 keep=$3 mode=$4; shift 4
        step "$name"
        $PY - "$ELF" "$name.elf" "$mode" "$@" <<'PYEOF'
import mmap, re, shutil, sys
src, dst, mode, *args = sys.argv[1:]
shutil.copyfile(src, dst)
with open(dst, "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    start = m.find(b"OSRELEASE=")
    end = m.find(b"\x00", start)
    text = bytes(m[start:end])
    if mode == "sub":   # args: regex replacement (must keep the length)
        new = re.sub(args[0].encode(), args[1].encode(), text, count=1)
    elif mode == "bump":  # args: key prefix; its first digit becomes (digit + 4) % 10
        i = text.index(args[0].encode()) + len(args[0])
        i += text[i:i + 1] == b"-"
        new = text[:i] + str((int(chr(text[i])) + 4) % 10).encode() + text[i + 1:]
    elif mode == "truncate":  # keep the text up to args[0], blank the rest
        cut = text.index(args[0].encode()) + len(args[0])
        new = text[:cut] + b"\n" * (len(text) - cut)
    assert len(new) == len(text) and new != text, (mode, args)
    m[start:end] = new
    m.flush()
PYEOF
        set +e
        $RUN "$GUESTDUMP" convert -d 31 -c zstd "$name.elf" "$name.kdump" > out.txt 2> err.txt
        local rc=$?
        set -e
        [ $rc -eq 0 ] || { cat err.txt; fail "$name: convert exited $rc"; }
        grep -q "^guestdump: warning: page filter: " err.txt || { cat err.txt; fail "$name: no page filter warning"; }
        grep -qF -- "$expect" err.txt || { cat err.txt; fail "$name: warning does not say '$expect'"; }
        echo "ok: $name -> $(cat err.txt)"
        "$GUESTDUMP" info "$name.kdump" | grep -F "some pages kept unfiltered" > /dev/null ||
            fail "$name: info does not report the fallback"
        "$GUESTDUMP" info --json "$name.kdump" > info.json
        $PY - "$keep" "$full" <<'PYEOF' || fail "$name: wrong pages kept"
import json, sys
keep, full = sys.argv[1], int(sys.argv[2])
p = json.load(open("info.json"))["pages"]
c = p["excluded_by_class"]
if keep == "all":  # only pages outside the kernel's memory map may go
    assert p["dumped"] + c["unmanaged"] == full and c["unmanaged"] <= 64, p
else:  # free pages kept, the other classes still filtered
    assert c["free"] == 0 and c["user"] > 0 and c["cache"] > 0, p
print(f"kept {p['dumped']} of {full} pages, excluded {c}")
PYEOF
        "$GUESTDUMP" verify "$name.kdump" --against "$name.elf" > /dev/null
        rm -f "$name.elf" "$name.kdump"
    }
    variant missing-mapping "OFFSET(page.mapping)" all sub 'OFFSET\(page\.mapping\)=' 'OFFSET(page.mappinX)='
    variant missing-mem-section "SYMBOL(mem_section)" all sub 'SYMBOL\(mem_section\)=' 'SYMBOL(mem_sectioX)='
    variant root-outside-ram "page-table root" all sub 'SYMBOL\(init_top_pgt\)=ffffffff\w' 'SYMBOL(init_top_pgt)=fffffffff'
    variant bad-phys-base "init_top_pgt" all bump 'NUMBER(phys_base)='
    variant mem-section-garbage "mem_section" all sub 'SYMBOL\(mem_section\)=(\w{4})' 'SYMBOL(mem_section)=ffff'
    variant truncated "SIZE(page)" all truncate "PAGESIZE=4096"
    variant free-key-missing "free pages kept" partial sub 'NUMBER\(PAGE_BUDDY_MAPCOUNT_VALUE\)' 'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUX)'
    ;;
*)
    fail "unknown case $case_name"
    ;;
esac
echo "PASS: $case_name"
