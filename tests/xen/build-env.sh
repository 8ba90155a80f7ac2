#!/bin/bash
# Builds the real-Xen test environment once per cache directory: a Debian 12 dom0 root made by
# mmdebstrap (Xen 4.17 hypervisor and toolstack, libvirt with the libxl driver, the generic
# kernel, which is dom0-capable) turned into an ext4 image without a loop mount (mke2fs -d), the
# Xen binary, the dom0 kernel and a minimal initramfs (busybox + the modules that mount the root
# disk), and the PID 1 of dom0, gd-xen-init, which starts the toolstack and runs the commands
# the host drops into the 9p share (tests/xen/xen-vm.sh drives it).
# Usage: build-env.sh CACHE_DIR
# Rebuilds only what is missing or older than this script or gd-xen-init.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=$(realpath -m "${1:?cache dir}")
mkdir -p "$cache"
# One builder at a time: scripts/test.sh starts one in the background and the xen tier's test
# runs this again, which waits here and then finds everything built.
exec 9> "$cache/.lock"
flock 9
step() { echo "xen-env: $* ($(date +%T))"; }

packages=xen-utils-4.17,xen-hypervisor-4.17-amd64,linux-image-amd64,libvirt-daemon-driver-xen
packages+=,libvirt-daemon,libvirt-clients,busybox,mount,kmod,iproute2,procps
# Runtime libraries of the project's binaries, which the tests copy into the share.
packages+=,libelf1,libzstd1,liblzo2-2,libsnappy1v5,libboost-program-options1.74.0,libxml2,libfmt9
packages+=,libsystemd0,libcurl4
stamp=$(echo "$packages" | sha256sum | cut -c1-16)
if [[ ! -f "$cache/root.tar" || "$(cat "$cache/root.stamp" 2> /dev/null)" != "$stamp" ]]; then
    step "mmdebstrap: Debian 12 dom0 root"
    rm -f "$cache/root.tar" "$cache/dom0.img"
    mmdebstrap --variant=apt --quiet --include="$packages" bookworm "$cache/root.partial.tar" \
        http://deb.debian.org/debian
    mv "$cache/root.partial.tar" "$cache/root.tar"
    echo "$stamp" > "$cache/root.stamp"
fi

if [[ ! -f "$cache/dom0.img" || "$cache/dom0.img" -ot "$here/gd-xen-init" ||
    "$cache/dom0.img" -ot "$0" ]]; then
    step "dom0 image"
    work=$(mktemp -d "$cache/build.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    mkdir "$work/root"
    tar -xf "$cache/root.tar" -C "$work/root"
    install -m 0755 "$here/gd-xen-init" "$work/root/sbin/gd-xen-init"
    kver=$(ls "$work/root/usr/lib/modules")
    zcat "$work/root/boot/xen-4.17-amd64.gz" > "$cache/xen"
    cp "$work/root/boot/vmlinuz-$kver" "$cache/vmlinuz"
    # The minimal initramfs: load the modules that reach the root disk, then switch_root.
    mkdir -p "$work/initrd/bin" "$work/initrd/lib/modules" "$work/initrd/newroot" \
        "$work/initrd/proc" "$work/initrd/sys" "$work/initrd/dev"
    cp /bin/busybox "$work/initrd/bin/busybox"
    mods=(virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk
        crc16 mbcache jbd2 crc32c_generic ext4)
    for m in "${mods[@]}"; do
        f=$(find "$work/root/usr/lib/modules/$kver" -name "$m.ko*" | head -1)
        [[ -n "$f" ]] || { echo "xen-env: module $m missing in $kver" >&2; exit 1; }
        cp "$f" "$work/initrd/lib/modules/"
    done
    {
        echo '#!/bin/busybox sh'
        echo '/bin/busybox mount -t proc proc /proc'
        echo '/bin/busybox mount -t devtmpfs dev /dev'
        for m in "${mods[@]}"; do echo "/bin/busybox insmod /lib/modules/$m.ko"; done
        echo 'for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; /bin/busybox sleep 0.5; done'
        echo '/bin/busybox mount -t ext4 -o rw /dev/vda /newroot || exec /bin/busybox sh'
        echo '/bin/busybox umount /proc'
        echo '/bin/busybox mount --move /dev /newroot/dev'
        echo 'exec /bin/busybox switch_root /newroot /sbin/gd-xen-init'
    } > "$work/initrd/init"
    chmod 0755 "$work/initrd/init"
    python3 "$here/../fixtures/initramfs.py" cpio "$work/initrd" "$cache/initrd.cpio.gz"
    rm -rf "$work/root/boot" "$work/root/var/cache/apt"/*.bin
    # libvirt-daemon pulls in the QEMU driver, whose start fails without the libvirt-qemu user
    # (made by libvirt-daemon-system, not installed) and takes libvirtd down with it.
    rm -f "$work/root/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"
    mke2fs -q -t ext4 -d "$work/root" -L dom0 "$cache/dom0.partial.img" 3G
    mv "$cache/dom0.partial.img" "$cache/dom0.img"
    rm -rf "$work"
    trap - EXIT
fi
step "ready: $cache"
