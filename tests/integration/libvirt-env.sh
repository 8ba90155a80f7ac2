# Sourced by tests that need a real libvirtd: a private one, in this process's own mount
# namespace, so no system service or system configuration is touched.
#
#   exec_in_private_namespace "$@"   re-runs the calling script under `unshare -m` once
#   libvirt_start DIR                config + runtime dirs under DIR, starts virtlogd + libvirtd
#   libvirt_stop                     stops both (also on EXIT if the caller traps it)
#   libvirt_define_guest NAME DIR MEM FILL MODE [VMCOREINFO=on]
#                                    a TCG domain booting the fixture kernel + initramfs
#                                    directly, pvpanic (isa), on_crash=preserve; its emulator
#                                    is Debian 12's QEMU, or with SID_QEMU_DIR set the newest
#                                    QEMU of the sid root (tests/fixtures/sid-qemu/build.sh)
#
# Needs GUESTDUMP_FIXTURE_CACHE (kernel + initramfs, see tests/fixtures/run-guest.sh).

exec_in_private_namespace() {
    if [ -z "${GUESTDUMP_IN_NS:-}" ]; then
        export GUESTDUMP_IN_NS=1
        exec unshare --mount --propagation private -- "$0" "$@"
    fi
}

libvirt_start() {
    local d=$1
    LIBVIRT_DIR=$d
    mkdir -p "$d/etc" "$d/run" "$d/lib" "$d/log" "$d/cache"
    cat > "$d/etc/qemu.conf" <<'CONF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "file"
CONF
    cat > "$d/etc/libvirtd.conf" <<'CONF'
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
keepalive_interval = 5
CONF
    : > "$d/etc/virtlogd.conf"
    : > "$d/etc/libvirt.conf"
    # Empty mount points on the host are harmless; what is mounted on them stays in here.
    mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
    mount --bind "$d/etc" /etc/libvirt
    mount --bind "$d/run" /run/libvirt
    mount --bind "$d/lib" /var/lib/libvirt
    mount --bind "$d/log" /var/log/libvirt
    mount --bind "$d/cache" /var/cache/libvirt
    # libvirt resolves its built-in default QEMU user (libvirt-qemu, group kvm) before it reads
    # qemu.conf, and fails if they do not exist; Debian creates them in libvirt-daemon-system,
    # which we do not install. Give this namespace its own passwd/group that have them.
    cp /etc/passwd "$d/passwd"
    cp /etc/group "$d/group"
    grep -q '^libvirt-qemu:' "$d/passwd" ||
        echo 'libvirt-qemu:x:64055:64055:libvirt (test):/var/lib/libvirt:/usr/sbin/nologin' >> "$d/passwd"
    grep -q '^libvirt-qemu:' "$d/group" || echo 'libvirt-qemu:x:64055:' >> "$d/group"
    grep -q '^kvm:' "$d/group" || echo 'kvm:x:64056:' >> "$d/group"
    mount --bind "$d/passwd" /etc/passwd
    mount --bind "$d/group" /etc/group
    mkdir -p /var/log/libvirt/qemu
    virtlogd -d -p "$d/virtlogd.pid" -f /etc/libvirt/virtlogd.conf
    libvirtd -d -p "$d/libvirtd.pid" -f /etc/libvirt/libvirtd.conf
    local i
    for i in $(seq 100); do
        virsh -c qemu:///system version >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "libvirtd did not come up; its log:" >&2
    tail -20 /var/log/libvirt/libvirtd.log >&2 2>/dev/null || true
    return 1
}

libvirt_stop() {
    local d=${LIBVIRT_DIR:-}
    [ -n "$d" ] || return 0
    local name
    for name in $(virsh -c qemu:///system list --all --name 2>/dev/null); do
        virsh -c qemu:///system destroy "$name" >/dev/null 2>&1 || true
    done
    local f pid
    for f in "$d/libvirtd.pid" "$d/virtlogd.pid"; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    LIBVIRT_DIR=
}

# The emulator for a guest in DIR. libvirt starts it with a clean environment, so the sid QEMU
# gets a wrapper in DIR that carries qemu.sh's settings: the fixture cache, DIR (the serial
# console file) and libvirt's own directories are bound into the sid root.
libvirt_emulator() {
    local dir=$1 fixtures=$2
    if [ -z "${SID_QEMU_DIR:-}" ]; then
        echo /usr/bin/qemu-system-x86_64
        return
    fi
    cat > "$dir/qemu-sid.sh" <<WRAPPER
#!/bin/bash
export SID_QEMU_ROOT='$SID_QEMU_DIR/root'
export SID_QEMU_BINDS='$GUESTDUMP_FIXTURE_CACHE:$dir:/var/lib/libvirt:/run/libvirt:/var/log/libvirt:/var/cache/libvirt'
exec '$fixtures/sid-qemu/qemu.sh' "\$@"
WRAPPER
    chmod +x "$dir/qemu-sid.sh"
    echo "$dir/qemu-sid.sh"
}

libvirt_define_guest() {
    local name=$1 dir=$2 mem=$3 fill=$4 mode=$5 vmci=${6:-on}
    local fixtures; fixtures=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures" && pwd)
    local cache=${GUESTDUMP_FIXTURE_CACHE:?}
    "$fixtures/fetch-kernel.sh" "$cache" >/dev/null
    local release; release=$(cat "$cache/kernel/release")
    local irhash; irhash=$(cat "$fixtures/build-initramfs.sh" "$fixtures/guest-init.sh" \
        "$fixtures/initramfs.py" "$cache/kernel/release" | sha256sum | cut -c1-16)
    local initrd=$cache/initramfs-$release-$irhash.cpio.gz
    [ -f "$initrd" ] || "$fixtures/build-initramfs.sh" "$cache" "$initrd" >/dev/null
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local emulator; emulator=$(libvirt_emulator "$dir" "$fixtures")
    cat > "$dir/$name.xml" <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>$mem</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$cache/kernel/vmlinuz</kernel>
    <initrd>$initrd</initrd>
    <cmdline>console=ttyS0 panic=0 no_timer_check cryptomgr.notests gd.fill=$fill gd.mode=$mode</cmdline>
  </os>
  <features><acpi/><vmcoreinfo state='$vmci'/></features>
  <cpu mode='maximum'/>
  <on_crash>preserve</on_crash>
  <devices>
    <emulator>$emulator</emulator>
    <serial type='file'><source path='$dir/$name.console'/></serial>
    <panic model='isa'/>
    <memballoon model='none'/>
  </devices>
</domain>
XML
    virsh -c qemu:///system define "$dir/$name.xml" >/dev/null
}
