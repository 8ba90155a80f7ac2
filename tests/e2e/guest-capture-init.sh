#!/bin/sh
# /init of the first kernel in the guest capture e2e test (tests/e2e/guest-capture.sh), busybox
# ash. Detects the hypervisor, loads the capture kernel with guestdump-guest load (the standalone
# capture initramfs built on the host by guestdump-guest initramfs), then panics with sysrq c.
# Console markers start with "GD-".
PATH=/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

echo "GD-E2E-START kernel=$(uname -r)"
echo "GD-CRASH-SIZE $(cat /sys/kernel/kexec_crash_size)"
if /bin/guestdump-guest detect --json > /tmp/detect.json 2>/tmp/detect.err; then
    echo "GD-DETECT $(tr -d '\n' < /tmp/detect.json)"
else
    echo "GD-DETECT-FAILED $(cat /tmp/detect.err)"
fi
# apply on the live (busybox) system: it writes its files, then runs the boot loader update,
# which does not exist here: exit 1 naming it. Before load, so that its long line has drained
# to the serial console before the panic (a line still in the tty buffer is cut off).
/bin/guestdump-guest apply --mode standalone > /tmp/apply.out 2>&1
echo "GD-APPLY rc=$? $(tr '\n' '|' < /tmp/apply.out)"
# No --cmdline: load uses plan's capture command line (printed by load).
if /bin/guestdump-guest load --kernel /boot/vmlinuz --initrd /boot/capture.img; then
    echo "GD-LOAD ok"
else
    echo "GD-LOAD FAILED"
fi
echo "GD-CRASH-LOADED $(cat /sys/kernel/kexec_crash_loaded)"
echo "GD-PANIC-NOW"
echo c > /proc/sysrq-trigger
echo "GD-ERROR sysrq crash returned"
poweroff -f
