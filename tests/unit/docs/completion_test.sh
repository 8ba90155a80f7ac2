#!/usr/bin/env bash
# The bash completion offers each program's commands and each command's options, as their
# --help prints them. Usage: completion_test.sh COMPLETION_FILE GUESTDUMP GUESTDUMPD GUEST
set -uo pipefail
comp=$1
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
ln -s "$(realpath "$2")" "$bindir/guestdump"
ln -s "$(realpath "$3")" "$bindir/guestdumpd"
ln -s "$(realpath "$4")" "$bindir/guestdump-guest"
PATH=$bindir:$PATH
# shellcheck source=/dev/null
source "$comp"
failed=0
expect() { # expect "WORDS..." WORD-THAT-MUST-BE-OFFERED [MUST-NOT]
    local line=$1 want=$2 not=${3:-}
    read -ra COMP_WORDS <<< "$line"
    [[ $line == *' ' ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _guestdump
    local got=" ${COMPREPLY[*]} "
    if [[ $got != *" $want "* ]]; then
        echo "FAIL: '$line' does not offer '$want' (got:$got)"
        failed=1
    fi
    if [[ -n $not && $got == *" $not "* ]]; then
        echo "FAIL: '$line' offers '$not' (got:$got)"
        failed=1
    fi
}
expect "guestdump " convert
expect "guestdump " dump
expect "guestdump co" convert dump
expect "guestdump convert --fl" --flattened
expect "guestdump convert -" --dump-level
expect "guestdump convert --compress " zlib
expect "guestdump dump --pa" --path
expect "guestdump dump --path " selective
expect "guestdump info --" --json
expect "guestdumpd --hang-" --hang-timeout
expect "guestdumpd --after-dump " restart
expect "guestdumpd --check" --check-config
expect "guestdumpd --keep-l" --keep-local
expect "guestdump-guest " initramfs
expect "guestdump-guest capture --dev" --device-timeout
expect "guestdump-guest apply --mode " standalone
expect "guestdump-guest " upload
expect "guestdump-guest upload --ssh-k" --ssh-known-hosts
expect "guestdump-guest upload --keep-local " all
if ((failed)); then
    echo "0 passed, 1 failed"
    exit 1
fi
echo "1 passed, 0 failed"
