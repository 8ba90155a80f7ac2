# Sourced (bash) by the integration scripts that work on a fixture guest's dump: converter.sh,
# dmesg.sh, filter.sh, locator.sh, xen.sh. Needs FIXTURE, WORK and VALIDATORS; leaves a fresh,
# empty $WORK as the current directory.
PY=/usr/bin/python3
CHECK="$PY $VALIDATORS/kdumpcheck.py"
COMPARE="$PY $VALIDATORS/bitmap_compare.py"
ELF=$FIXTURE/vmcore.elf
PANIC_LINE='Kernel panic - not syncing: sysrq triggered crash'
RUN="timeout 600"
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
fixture_name=$(basename "$FIXTURE")
release=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernel"]["release"])' "$FIXTURE/fixture.json")

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

# normalized CACHE: makedumpfile 1.7.2 cannot read QEMU 7.2's ELF layout, so it gets a
# normalized, sparse copy of the fixture, cached in $WORK/../CACHE (shared by one script's
# cases) and rebuilt when the fixture is newer. Prints its path.
normalized() {
    local cache="$WORK/../${1:?cache directory name}"
    local norm="$cache/$fixture_name.norm.elf"
    mkdir -p "$cache"
    if [ ! -f "$norm" ] || [ "$ELF" -nt "$norm" ]; then
        $PY "$TESTS_DIR/bench/normalize_elf.py" "$ELF" "$norm.tmp"
        mv "$norm.tmp" "$norm"
    fi
    echo "$norm"
}
