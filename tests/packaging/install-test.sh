#!/usr/bin/env bash
# piuparts-style check of the packages in DEB_DIR, in a clean Debian 12 root made by mmdebstrap:
# install the previous build, change the daemon's conffile, upgrade to this build (the change is
# kept, no file of another package is overwritten: dpkg refuses that), check what is where, then
# purge everything and compare the root with how it was before: nothing may be left behind.
# The "previous build" is this build repacked with a lower version (0.0~prev), so the upgrade
# path runs every maintainer script in both roles.
# Usage: install-test.sh DEB_DIR CACHE_DIR    (CACHE_DIR keeps the mmdebstrap tarball)
#        install-test.sh --prepare CACHE_DIR   (only make that tarball; scripts/test.sh does this
#                                               in the background)
set -euo pipefail
prepare=
if [[ ${1:-} == --prepare ]]; then
    prepare=1
else
    debs=$(realpath "$1")
fi
cache=$(realpath -m "$2")
mkdir -p "$cache"
# One maker of the cached tarball at a time.
exec 9> "$cache/.install-base.lock"
flock 9
work=$(mktemp -d /var/tmp/gd-install.XXXXXX)
root=$work/root
cleanup() {
    for m in proc dev/pts dev; do umount "$root/$m" 2> /dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
step() { echo "== $*"; }
fail() { echo "install-test: FAIL: $*" >&2; exit 1; }

base=$cache/bookworm-apt.tar
if [[ ! -s $base ]]; then
    step "mmdebstrap: Debian 12 (variant apt) -> $base"
    # mmdebstrap picks the output format from the name: keep ".tar" at the end.
    mmdebstrap --variant=apt --quiet bookworm "$cache/bookworm-apt.partial.tar" \
        http://deb.debian.org/debian
    mv "$cache/bookworm-apt.partial.tar" "$base"
fi
[[ -z $prepare ]] || exit 0
exec 9>&-
mkdir -p "$root"
tar -xf "$base" -C "$root"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2> /dev/null || true
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
# No service may start inside the chroot (there is no init): what Debian's policy-rc.d is for.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
in_root apt-get update -qq

snapshot() { # every path in the root but the volatile ones, with type and mode
    (cd "$root" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./tmp -o -path ./run \
        -o -path ./var/cache -o -path ./var/lib/apt -o -path ./var/lib/dpkg -o -path ./var/log \
        -o -path ./var/tmp \) -prune -o -printf '%y %m %p\n' | sort)
}

# The previous build: the same packages with version 0.0~prev.
mkdir -p "$work/prev" "$root/debs/prev" "$root/debs/new"
for deb in "$debs"/*.deb; do
    case $deb in *-dbgsym_*) continue ;; esac
    x=$work/prev/x
    rm -rf "$x"
    dpkg-deb -R "$deb" "$x"
    sed -i -E 's/^Version: .*/Version: 0.0~prev/' "$x/DEBIAN/control"
    name=$(sed -n 's/^Package: //p' "$x/DEBIAN/control")
    dpkg-deb -b --root-owner-group "$x" "$root/debs/prev/${name}_0.0~prev_amd64.deb" > /dev/null
    cp "$deb" "$root/debs/new/"
done
ls "$root/debs/new"/*.deb > /dev/null || fail "no packages in $debs"

# Dependencies come from the archive first, so the snapshot below holds them and only our files
# count as ours.
step "dependencies from Debian's archive"
in_root apt-get install -y -qq --no-install-recommends libvirt0 systemd > /dev/null
before=$(snapshot)

step "install the previous build"
in_root sh -c 'apt-get install -y -qq --no-install-recommends /debs/prev/*.deb' > /dev/null
[[ -x $root/usr/bin/guestdump && -x $root/usr/sbin/guestdumpd && -x $root/usr/sbin/guestdump-guest ]] ||
    fail "binaries missing after install"
in_root guestdump --help > /dev/null || fail "guestdump does not run in the root"
in_root guestdump-guest --help > /dev/null || fail "guestdump-guest does not run in the root"
[[ $(stat -c %a "$root/var/lib/guestdump/dumps") == 700 ]] || fail "store not 0700"
[[ -L $root/etc/systemd/system/multi-user.target.wants/guestdumpd.service ]] ||
    fail "guestdumpd.service not enabled"
grep -q '^/etc/guestdump/guestdumpd.conf' "$root/var/lib/dpkg/info/guestdumpd.conffiles" ||
    fail "guestdumpd.conf is not a conffile"
for page in man1/guestdump.1 man8/guestdumpd.8 man8/guestdump-guest.8 man5/guestdumpd.conf.5; do
    [[ -s $root/usr/share/man/$page.gz ]] || fail "man page $page missing"
done
for c in guestdump guestdumpd guestdump-guest; do
    [[ -s $root/usr/share/bash-completion/completions/$c ]] || fail "completion for $c missing"
done

step "the operator changes the conffile, then upgrades"
sed -i 's/^#keep = 5$/keep = 3/' "$root/etc/guestdump/guestdumpd.conf"
grep -q '^keep = 3$' "$root/etc/guestdump/guestdumpd.conf" || fail "sample conffile has no '#keep = 5'"
in_root sh -c 'apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confold /debs/new/*.deb' > /dev/null
[[ $(in_root dpkg-query -W -f '${Version}' guestdumpd) != 0.0~prev ]] || fail "not upgraded"
grep -q '^keep = 3$' "$root/etc/guestdump/guestdumpd.conf" || fail "the upgrade lost the operator's change"
in_root guestdumpd --config /etc/guestdump/guestdumpd.conf --dump-dir /tmp/store --check-config ||
    fail "guestdumpd rejects the installed configuration"

step "purge"
in_root apt-get purge -y -qq guestdump guestdumpd guestdump-guest > /dev/null
# The libraries our packages pulled in (libelf1, liblzo2-2, ...) go too, as piuparts does.
in_root apt-get autoremove --purge -y -qq > /dev/null
after=$(snapshot)
if [[ $before != "$after" ]]; then
    diff <(echo "$before") <(echo "$after") >&2 || true
    fail "purge left the root different from before the install (above: < before, > after)"
fi
echo "install-test: install, upgrade over the previous build, purge: clean"
