#!/usr/bin/env bash
# The sample guestdumpd.conf (generated from guestdumpd.conf(5)) names every key of
# `guestdumpd --help` with the default the daemon really has, and, every line uncommented, is a
# configuration the daemon accepts. Usage: sample_config_test.sh SAMPLE_CONF GUESTDUMPD
set -uo pipefail
conf=$1 gdd=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }
[[ -s $conf ]] || { echo "FAIL: no sample config at $conf"; echo "0 passed, 1 failed"; exit 1; }
# "--key (repeatable)" / "--key" followed by an indented description ending in "[default]".
"$gdd" --help | awk '
    /^  --[a-z]/ { key = substr($1, 3); next }
    key != "" && /^      / { if (match($0, /\[[^]]*\]$/)) print key "\t" substr($0, RSTART + 1, RLENGTH - 2); else print key "\t"; key = "" }
' > "$work/help"
while IFS=$'\t' read -r key def; do
    line=$(grep -E "^#$key = " "$conf" || grep -E "^#$key =$" "$conf")
    [[ -n $line ]] || { fail "key '$key' is missing from the sample"; continue; }
    val=${line#*= }
    [[ $line == "#$key =" ]] && val=
    # --help writes "false" for booleans and has no default for list keys.
    if [[ -n $def && $val != "$def" ]]; then
        fail "key '$key': sample says '$val', guestdumpd --help says '$def'"
    fi
done < "$work/help"
[[ $(wc -l < "$work/help") -ge 25 ]] || fail "guestdumpd --help listed only $(wc -l < "$work/help") keys"
# Every key uncommented (those with a value), the store moved somewhere writable: accepted.
sed -E -n 's/^#([a-z-]+ = .+)$/\1/p' "$conf" | sed "s|^dump-dir = .*|dump-dir = $work/store|" > "$work/all.conf"
"$gdd" --config "$work/all.conf" --check-config > "$work/check.out" 2>&1 ||
    fail "guestdumpd refuses the sample with every key set: $(cat "$work/check.out")"
if ((failed)); then echo "0 passed, 1 failed"; exit 1; fi
echo "1 passed, 0 failed"
