#!/bin/sh
# guestdump-guest's kernel hook (/etc/kernel/postrm.d/guestdump-guest), run by a kernel
# package's postrm as "guestdump-guest VERSION IMAGE": removes that kernel's capture initramfs.
set -e
version="$1"
[ -n "$version" ] || exit 0
rm -f "/var/lib/guestdump/capture-initrd-$version.img"
exit 0
