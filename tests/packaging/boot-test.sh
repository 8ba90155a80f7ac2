#!/usr/bin/env bash
# Boot test of the packages in DEB_DIR: a Debian 12 root (mmdebstrap: systemd-sysv, udev, the
# cloud kernel with a small initramfs, the packages' dependencies; cached as a tarball in
# CACHE_DIR), the three packages installed with dpkg, written to an ext4 image with
# `mke2fs -d` (no loop mount) and booted under QEMU (TCG) with systemd as PID 1.
# boot-checks.sh runs in it as a unit and reports on the second serial port; the host then
# checks its lines, parses the metrics file (Prometheus text format) and the daemon's
# `journalctl -o json`, and the `systemd-analyze security` score.
# A second cloud kernel package (fetched once with apt-get download into CACHE_DIR) is
# installed in the guest to run guestdump-guest's kernel hooks.
# Usage: boot-test.sh [--prepare] DEB_DIR CACHE_DIR
#   --prepare: only make the cached base root (scripts/test.sh does this in the background)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prepare=
if [[ ${1:-} == --prepare ]]; then
    prepare=1
    shift
fi
debs=$(realpath "$1")
cache=$(realpath -m "$2")
mkdir -p "$cache"
# One maker of the cached base root at a time.
exec 9> "$cache/.boot-base.lock"
flock 9
work=$(mktemp -d /var/tmp/gd-boot.XXXXXX)
qemu_pid=
cleanup() {
    if [[ -n $qemu_pid ]]; then kill "$qemu_pid" 2> /dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
step() { echo "== $(date +%T) $*"; }
fail() { echo "boot-test: FAIL: $*" >&2; exit 1; }
start=$SECONDS

shopt -s nullglob
pkgs=()
for deb in "$debs"/*.deb; do
    case $deb in *-dbgsym_*) ;; *) pkgs+=("$deb") ;; esac
done
((${#pkgs[@]} == 3)) || fail "expected the 3 packages in $debs, found ${#pkgs[@]}"

# The base root holds every dependency of our packages, so dpkg -i needs no network later.
deps=$(for deb in "${pkgs[@]}"; do dpkg-deb -f "$deb" Depends; echo; done |
    tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/[[:space:]]//g' | grep -v '^$' | sort -u |
    tr '\n' ',')
include="systemd-sysv,udev,dbus,linux-image-cloud-amd64,initramfs-tools,zstd,kmod,procps,${deps%,}"
base=$cache/boot-base.tar
if [[ ! -s $base || $(cat "$cache/boot-base.include" 2> /dev/null) != "$include" ]]; then
    step "mmdebstrap: Debian 12 with systemd and the cloud kernel -> $base"
    rm -f "$base"
    # The initramfs only has to find the virtio root disk: MODULES=list keeps it small, which
    # also keeps update-initramfs quick when the guest installs the second kernel.
    mmdebstrap --variant=apt --quiet --include="$include" \
        --customize-hook='printf "virtio_pci\nvirtio_blk\n" >> "$1/etc/initramfs-tools/modules"' \
        --customize-hook='echo MODULES=list > "$1/etc/initramfs-tools/conf.d/boot-test"' \
        --customize-hook='chroot "$1" update-initramfs -u -k all' \
        bookworm "$cache/boot-base.partial.tar" http://deb.debian.org/debian
    mv "$cache/boot-base.partial.tar" "$base"
    echo "$include" > "$cache/boot-base.include"
    step "base root built ($((SECONDS - start)) s)"
fi
[[ -z $prepare ]] || exit 0
exec 9>&-

root=$work/root
mkdir -p "$root"
tar -xf "$base" -C "$root"
release=$(basename "$(ls -d "$root"/lib/modules/*)")
[[ -f $root/boot/vmlinuz-$release && -f $root/boot/initrd.img-$release ]] ||
    fail "no kernel or initramfs for $release in the base root"

# The second kernel: another ABI of the cloud kernel, fetched once.
kdir=$cache/kernel2
kdebs=("$kdir"/*.deb)
if ((${#kdebs[@]} != 1)); then
    other=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' |
        awk '{print $1}' | grep -vx "linux-image-$release" | sort -V | tail -n 1)
    [[ -n $other ]] || fail "no other cloud kernel than $release in the archive"
    mkdir -p "$kdir.partial"
    (cd "$kdir.partial" && apt-get download -q "$other") || fail "apt-get download $other"
    rm -rf "$kdir"
    mv "$kdir.partial" "$kdir"
    kdebs=("$kdir"/*.deb)
fi
mkdir -p "$root/root/kernel2"
cp "${kdebs[@]}" "$root/root/kernel2/"

step "install the packages (dpkg -i in the root)"
mkdir -p "$root/debs"
cp "${pkgs[@]}" "$root/debs/"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
chroot "$root" sh -c 'dpkg -i /debs/*.deb' > "$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log" >&2; fail "dpkg -i of the packages in the root"; }
rm -rf "$root/debs" "$root/usr/sbin/policy-rc.d"

# The daemon talks to libvirt's test driver (no libvirtd); node-exporter's textfile directory
# exists as prometheus-node-exporter would make it.
echo "connect = test:///default" >> "$root/etc/guestdump/guestdumpd.conf"
mkdir -p "$root/var/lib/prometheus/node-exporter"
install -m 0755 "$here/boot-checks.sh" "$root/usr/local/sbin/gd-boot-checks"
cat > "$root/etc/systemd/system/gd-boot-checks.service" << 'UNIT'
[Unit]
Description=guestdump boot test checks
After=multi-user.target guestdumpd.service
[Service]
Type=oneshot
TimeoutStartSec=0
ExecStart=/bin/sh -c '/usr/local/sbin/gd-boot-checks > /dev/ttyS1 2>&1; systemctl poweroff --no-block'
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/gd-boot-checks.service \
    "$root/etc/systemd/system/multi-user.target.wants/gd-boot-checks.service"
echo gdboot > "$root/etc/hostname"
# Units this boot does not need and TCG makes slow: udev's coldplug (nothing here waits for a
# device unit; the checks read /sys and devtmpfs), the gettys, logind and the timers.
for u in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-udev-trigger.service systemd-udev-settle.service serial-getty@ttyS0.service \
    getty@tty1.service systemd-logind.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
done
cp "$root/boot/vmlinuz-$release" "$root/boot/initrd.img-$release" "$work/"

step "ext4 image (mke2fs -d)"
size_mb=$(($(du -sm "$root" | cut -f1) + 900))
mke2fs -q -t ext4 -L gdroot -d "$root" "$work/root.img" "${size_mb}M"
rm -rf "$root"
prep=$((SECONDS - start))

step "boot under TCG (systemd as PID 1)"
boot_start=$SECONDS
: > "$work/results.log"
qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 1024 -smp 1 -display none -no-reboot \
    -nic none -kernel "$work/vmlinuz-$release" -initrd "$work/initrd.img-$release" \
    -append "root=/dev/vda rw console=ttyS0 crashkernel=96M panic=-1 net.ifnames=0" \
    -drive "file=$work/root.img,format=raw,if=virtio" \
    -serial "file:$work/console.log" -serial "file:$work/results.log" &
qemu_pid=$!
deadline=$((SECONDS + ${GD_BOOT_TIMEOUT:-900}))
while kill -0 "$qemu_pid" 2> /dev/null && ((SECONDS < deadline)); do sleep 2; done
if kill -0 "$qemu_pid" 2> /dev/null; then
    kill "$qemu_pid"
    tail -n 40 "$work/console.log" >&2
    fail "the guest did not power off within ${GD_BOOT_TIMEOUT:-900} s"
fi
wait "$qemu_pid" || true
qemu_pid=
boot=$((SECONDS - boot_start))
tr -d '\r' < "$work/results.log" > "$work/results.txt"
grep -v '^{' "$work/results.txt" | sed -n '/^BEGIN-METRICS/,/^END-METRICS/!p' || true
grep -q '^END$' "$work/results.txt" || { tail -n 60 "$work/console.log" >&2; fail "the checks did not finish"; }

step "host-side checks"
python3 "$here/boot-results.py" "$work/results.txt"
echo "boot-test: prepare $prep s (base root and kernel download included when not cached), boot and checks $boot s, total $((SECONDS - start)) s"
