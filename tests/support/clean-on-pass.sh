#!/bin/bash
# Runs one integration or e2e test script and, when it passes (or is skipped, exit 77), removes
# its work directory ($WORK): a full run writes several GiB of dumps, and a CI machine's disk is
# not ours to fill. A failing test keeps its directory for the post-mortem; set
# GUESTDUMP_KEEP_WORK=1 to keep every directory.
# Usage: clean-on-pass.sh SCRIPT [ARGS...]   (environment: WORK)
set -uo pipefail
: "${WORK:?clean-on-pass.sh: WORK is not set}"
"$@"
rc=$?
if { [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; } && [ -z "${GUESTDUMP_KEEP_WORK:-}" ]; then
    rm -rf -- "$WORK"
fi
exit "$rc"
