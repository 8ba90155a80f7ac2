#!/bin/bash
# Runs inside the booted image (gd-boot-checks.service, after multi-user.target) with systemd as
# PID 1; its output goes to the second serial port, which boot-test.sh reads on the host. One
# line per check ("OK name" / "FAIL name: detail"), the metrics file and the daemon's journal
# between BEGIN-/END- markers for the host to parse, "END" last.
set -u
ok() { echo "OK $1"; }
bad() { echo "FAIL $1: ${2:-}"; }
check() { # check NAME DETAIL COMMAND...
    local name=$1 detail=$2
    shift 2
    if "$@"; then ok "$name"; else bad "$name" "$detail"; fi
}
wait_for() { # wait_for SECONDS COMMAND...
    local t=$1
    shift
    for ((i = 0; i < t; i++)); do "$@" && return 0; sleep 1; done
    "$@"
}
active() { [ "$(systemctl is-active guestdumpd)" = active ]; }
journal_has() { journalctl -u guestdumpd --no-pager -o cat | grep -qF "$1"; }
conf=/etc/guestdump/guestdumpd.conf
echo "BEGIN boot-checks kernel $(uname -r), systemd $(systemctl --version | head -n 1)"
echo "UPTIME $(cut -d' ' -f1 /proc/uptime)"

# guestdumpd: active through sd_notify (Type=notify: "active" only after READY=1).
wait_for 60 active
check guestdumpd-active "$(systemctl status guestdumpd --no-pager 2>&1 | tail -n 5)" active
check guestdumpd-notify "Type=$(systemctl show -p Type --value guestdumpd)" \
    test "$(systemctl show -p Type --value guestdumpd)" = notify
status=$(systemctl show -p StatusText --value guestdumpd)
echo "STATUS $status"
check status-text "STATUS='$status'" grep -q "watching .* guest" <<< "$status"
check watchdog "WatchdogUSec=$(systemctl show -p WatchdogUSec --value guestdumpd)" \
    test "$(systemctl show -p WatchdogUSec --value guestdumpd)" = 1min
pid=$(systemctl show -p MainPID --value guestdumpd)
echo "MEMORY MemoryCurrent=$(systemctl show -p MemoryCurrent --value guestdumpd)" \
    "MemoryMax=$(systemctl show -p MemoryMax --value guestdumpd)" \
    "$(grep -h VmHWM /proc/"$pid"/status | tr -s ' \t' ' ')"

# The metrics file: written at start and every 30 s.
metrics=/var/lib/prometheus/node-exporter/guestdumpd.prom
wait_for 45 test -s "$metrics"
check metrics-file "$metrics missing" test -s "$metrics"
echo BEGIN-METRICS
cat "$metrics"
echo END-METRICS

# systemctl reload applies a change: a new dump-dir is opened (created) at once.
cp "$conf" /root/guestdumpd.conf.good
echo "dump-dir = /var/lib/guestdump/dumps-reloaded" >> "$conf"
systemctl reload guestdumpd
wait_for 20 test -d /var/lib/guestdump/dumps-reloaded
check reload-applied "no /var/lib/guestdump/dumps-reloaded" test -d /var/lib/guestdump/dumps-reloaded
wait_for 20 journal_has "configuration reloaded"
check reload-logged "no 'configuration reloaded' in the journal" journal_has "configuration reloaded"
check reload-same-process "MainPID $pid -> $(systemctl show -p MainPID --value guestdumpd)" \
    test "$(systemctl show -p MainPID --value guestdumpd)" = "$pid"

# A bad configuration is refused; the daemon keeps running with the old one.
echo "dump-level = 40" >> "$conf"
systemctl reload guestdumpd
wait_for 20 journal_has "reload refused, keeping the running configuration"
check bad-config-refused "no 'reload refused' in the journal" \
    journal_has "reload refused, keeping the running configuration"
sleep 2
check bad-config-still-active "$(systemctl is-active guestdumpd)" active
check bad-config-same-process "MainPID $pid -> $(systemctl show -p MainPID --value guestdumpd)" \
    test "$(systemctl show -p MainPID --value guestdumpd)" = "$pid"
cp /root/guestdumpd.conf.good "$conf"

echo BEGIN-JOURNAL
journalctl -u guestdumpd -o json --no-pager
echo END-JOURNAL

echo "SECURITY $(systemd-analyze security guestdumpd --no-pager 2>&1 | tail -n 1)"

# guestdump-guest: prepare the capture setup for the running kernel ...
release=$(uname -r)
echo 'GUESTDUMP_TARGET_DEVICE="/dev/vda"' >> /etc/default/guestdump-guest
/etc/kernel/postinst.d/guestdump-guest "$release"
check guest-initramfs "no capture-initrd-$release.img" \
    test -s "/var/lib/guestdump/capture-initrd-$release.img"
guestdump-guest apply --mode standalone --no-run
check guest-apply-grub "no grub drop-in" grep -q "crashkernel=" /etc/default/grub.d/zz-guestdump-guest.cfg
check guest-apply-sysctl "no sysctl file" test -s /etc/sysctl.d/90-guestdump.conf
check guest-apply-unit "not enabled: $(systemctl is-enabled guestdump-guest 2>&1)" \
    test "$(systemctl is-enabled guestdump-guest 2>&1)" = enabled
check guest-apply-no-etc-unit "apply wrote its own unit" \
    test ! -e /etc/systemd/system/guestdump-guest.service
systemctl start guestdump-guest
check guest-loaded "kexec_crash_loaded=$(cat /sys/kernel/kexec_crash_loaded); $(systemctl status guestdump-guest --no-pager 2>&1 | tail -n 5)" \
    test "$(cat /sys/kernel/kexec_crash_loaded)" = 1
guestdump-guest status

# ... and a kernel package brings its own capture initramfs (and takes it away again).
kdeb=$(ls /root/kernel2/*.deb)
release2=$(dpkg-deb -f "$kdeb" Package | sed 's/^linux-image-//')
# With an upload target the hook builds the capture initramfs so that the capture kernel's
# --keep never deletes a dump that is not uploaded yet.
echo 'GUESTDUMP_UPLOAD="s3://dumps/fleet"' >> /etc/default/guestdump-guest
# INITRD=No skips initramfs-tools' own hook (not under test; minutes under TCG), not ours.
INITRD=No dpkg -i "$kdeb"
check kernel-hook-postinst "no capture-initrd-$release2.img after dpkg -i" \
    test -s "/var/lib/guestdump/capture-initrd-$release2.img"
check kernel-hook-modules "capture-initrd-$release2.img lacks the kernel's virtio_blk" \
    sh -c "zcat /var/lib/guestdump/capture-initrd-$release2.img 2> /dev/null | grep -qa 'lib/modules/$release2/.*virtio_blk'"
check kernel-hook-hold-unuploaded "capture-initrd-$release2.img lacks hold-unuploaded=yes" \
    sh -c "zcat /var/lib/guestdump/capture-initrd-$release2.img 2> /dev/null | grep -qa '^hold-unuploaded=yes'"
dpkg --purge "linux-image-$release2"
check kernel-hook-postrm "capture-initrd-$release2.img left after purge" \
    test ! -e "/var/lib/guestdump/capture-initrd-$release2.img"
check kernel-hook-keeps-running "capture-initrd-$release.img removed" \
    test -s "/var/lib/guestdump/capture-initrd-$release.img"
echo "UPTIME $(cut -d' ' -f1 /proc/uptime)"
echo END
