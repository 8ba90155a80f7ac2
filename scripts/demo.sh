#!/usr/bin/env bash
# The main job on a built-in default: boot a throwaway Debian guest under QEMU, let it panic,
# take QEMU's ELF dump of it, convert that to a compressed kdump file, and show what we got.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build=${GUESTDUMP_BUILD_DIR:-build}
out=${1:-$build/demo}
mkdir -p "$out"
chmod 700 "$out"
echo "== booting a throwaway guest that panics (QEMU/TCG, 1 GiB, fills 256 MiB first)"
GUESTDUMP_FIXTURE_CACHE="$build/fixtures/cache" \
  tests/fixtures/make-guest-dump.sh --out "$build/fixtures/g1024" --mem 1024 --fill 256
echo "== converting QEMU's $(du -h "$build/fixtures/g1024/vmcore.elf" | cut -f1) ELF dump"
"$build/host/guestdump" convert -c zlib "$build/fixtures/g1024/vmcore.elf" "$out/vmcore"
echo "== guestdump info"
"$build/host/guestdump" info "$out/vmcore"
echo "== tail of the guest kernel log, read from the new dump by makedumpfile --dump-dmesg"
makedumpfile --dump-dmesg "$out/vmcore" "$out/dmesg.txt" > /dev/null
chmod 600 "$out/dmesg.txt"
tail -n 12 "$out/dmesg.txt"
echo "== dump and log are in $out"
