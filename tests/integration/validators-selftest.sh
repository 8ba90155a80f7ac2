#!/bin/bash
# Negative test of the validator itself: convert the small fixture with guestdump, then let
# selftest_kdumpcheck.py corrupt copies and check that `kdumpcheck.py pages` notices each one.
# Environment: GUESTDUMP (binary), FIXTURE (small fixture dir), WORK (scratch dir), VALIDATORS.
set -euo pipefail
: "${GUESTDUMP:?}" "${FIXTURE:?}" "${WORK:?}" "${VALIDATORS:?}"
rm -rf "$WORK" && mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
"$GUESTDUMP" convert -c zstd "$FIXTURE/vmcore.elf" "$WORK/small.kdump"
/usr/bin/python3 "$VALIDATORS/selftest_kdumpcheck.py" "$WORK/small.kdump" "$FIXTURE/vmcore.elf"
