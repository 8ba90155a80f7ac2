#!/usr/bin/env bash
# The main job on a built-in default: boot a throwaway Debian guest under QEMU that fills some
# memory and panics, capture it live with `guestdump dump --qmp` (filtered, compressed kdump +
# dmesg.txt + meta.json in a dump store), and show what we got.
# Usage: scripts/demo.sh [STORE_DIR]   (default: build/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
# Root installs packages and starts QEMU/libvirt; a user with sudo gets the same run through it.
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo > /dev/null || { echo "${0##*/}: run as root (no sudo here)" >&2; exit 1; }
    exec sudo -E "$PWD/scripts/${0##*/}" "$@"
fi
scripts/install-deps.sh
# Only the CLI: the demo needs nothing else, and the whole tree with its tests takes ~10 minutes
# on 2 cores.
GUESTDUMP_BUILD_TARGETS=guestdump scripts/build.sh
build=${GUESTDUMP_BUILD_DIR:-build}
gd=$build/host/guestdump
store=${1:-$build/demo}
guest=$build/demo-guest
trap 'tests/fixtures/run-guest.sh stop --dir "$guest" > /dev/null 2>&1 || true' EXIT
echo "== booting a throwaway guest that panics (QEMU/TCG, 1 GiB, fills 256 MiB first)"
GUESTDUMP_FIXTURE_CACHE="$build/fixtures/cache" \
  tests/fixtures/run-guest.sh start --dir "$guest" --mem 1024 --fill 256 --mode panic
echo "== guestdump dump --qmp $guest/qmp.sock (dump level 31, zlib so makedumpfile reads it too)"
"$gd" dump --qmp "$guest/qmp.sock" -o "$store" --name demo --compress zlib
dump=$(find "$store/demo" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | sort | tail -n 1)
echo "== guestdump info $dump/vmcore"
"$gd" info "$dump/vmcore"
echo "== tail of the guest's kernel log ($dump/dmesg.txt, saved during the capture)"
tail -n 12 "$dump/dmesg.txt"
echo "== makedumpfile --dump-dmesg reads the same log from the dump"
makedumpfile --dump-dmesg "$dump/vmcore" "$build/demo-dmesg.txt" > /dev/null
grep -F "Kernel panic" "$build/demo-dmesg.txt" | tail -n 1
rm -f "$build/demo-dmesg.txt"
echo "== the dump store"
"$gd" list -o "$store"
