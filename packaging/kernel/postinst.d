#!/bin/sh
# guestdump-guest's kernel hook (/etc/kernel/postinst.d/guestdump-guest), run by a kernel
# package's postinst as "guestdump-guest VERSION IMAGE": builds the capture initramfs of that
# kernel (/var/lib/guestdump/capture-initrd-VERSION.img, its own modules) from the settings in
# /etc/default/guestdump-guest. Run it by hand with the running kernel's release to prepare
# the current one. A failure is reported but does not fail the kernel package's installation.
set -e
version="$1"
[ -n "$version" ] || exit 0
# Removed but not purged: the hook stays, the binary is gone.
[ -x /usr/sbin/guestdump-guest ] || exit 0
GUESTDUMP_TARGET_DEVICE=
GUESTDUMP_INITRAMFS_OPTIONS=
GUESTDUMP_UPLOAD=
if [ -r /etc/default/guestdump-guest ]; then
    . /etc/default/guestdump-guest
fi
if [ -z "$GUESTDUMP_TARGET_DEVICE" ]; then
    echo "guestdump-guest: no GUESTDUMP_TARGET_DEVICE in /etc/default/guestdump-guest:" \
        "capture initramfs for $version not built" >&2
    exit 0
fi
# Dumps wait for their upload on the next boot: the capture kernel's --keep must not delete
# them first.
hold=
[ -z "$GUESTDUMP_UPLOAD" ] || hold=--hold-unuploaded
# The options are words on purpose (--module virtio_blk --module ext4 ...).
# shellcheck disable=SC2086
if ! /usr/sbin/guestdump-guest initramfs --kernel-release "$version" \
    --target-device "$GUESTDUMP_TARGET_DEVICE" $hold $GUESTDUMP_INITRAMFS_OPTIONS; then
    echo "guestdump-guest: warning: capture initramfs for $version not built; crash dumps" \
        "will not work with that kernel until it is (see guestdump-guest(8))" >&2
fi
exit 0
