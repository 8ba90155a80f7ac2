# Sourced by the Xen tests: boots the cached Xen environment (tests/xen/build-env.sh) under
# QEMU/TCG and runs commands in dom0 through the 9p share that dom0's PID 1 (gd-xen-init) polls.
#   xen_boot CACHE SHARE   boot (a copy-on-write overlay keeps the cached image clean)
#   xen_run TIMEOUT CMD... run CMD in dom0 (sh -c); its output is printed, its status returned
#   xen_stop               power dom0 off (kill QEMU if it does not stop)
# The QEMU console (Xen and dom0 kernel messages) goes to $SHARE/serial.log, dom0's PID 1 log to
# $SHARE/dom0.log.
XEN_QEMU_PID=
XEN_SHARE=
XEN_CPU_HVM=Opteron_G3,+svm,+npt,monitor=off,rdtscp=off

xen_boot() {
    local cache=$1 share=$2 t0=$SECONDS
    XEN_SHARE=$share
    mkdir -p "$share/cmd"
    rm -f "$share/ready" "$share/poweroff"
    qemu-img create -q -f qcow2 -F raw -b "$cache/dom0.img" "$share/../dom0-overlay.qcow2"
    # With plain -cpu max the PV dom0 faults at once (pku, la57, smap, smep); with qemu64 or
    # max minus those, libvirt's libxl driver finds no CPU model for the host ("Cannot find
    # suitable CPU model for given data") and refuses to start. Nehalem satisfies both but has
    # no VMX under TCG, so Xen offers PV only. XEN_CPU_HVM below gives HVM with HAP (AMD SVM
    # with nested paging, both emulated by TCG), for PVH guests through xl; libvirt's libxl
    # driver does not start with it (the same CPU-model error). It goes without monitor (Xen's
    # idle loop takes a #GP on MWAIT under TCG) and without rdtscp (TCG has no SVM next-RIP,
    # and Xen fails to emulate an intercepted RDTSCP: "SVM Insn len emulation failed").
    local cpu=${XEN_CPU:-Nehalem}
    qemu-system-x86_64 -machine q35,accel=tcg -cpu "$cpu" -m 3072 -smp 2 -nodefaults \
        -display none -no-reboot -serial "file:$share/serial.log" \
        -kernel "$cache/xen" -append "console=com1 dom0_mem=1024M,max:1024M noreboot" \
        -initrd "$cache/vmlinuz root=/dev/vda console=hvc0 quiet,$cache/initrd.cpio.gz" \
        -drive "file=$share/../dom0-overlay.qcow2,if=virtio,format=qcow2,cache=unsafe" \
        -virtfs "local,path=$share,mount_tag=share,security_model=none,id=share" \
        > "$share/qemu.log" 2>&1 &
    XEN_QEMU_PID=$!
    while [[ ! -e "$share/ready" ]]; do
        if ! kill -0 "$XEN_QEMU_PID" 2> /dev/null; then
            tail -n 40 "$share/serial.log" >&2
            echo "xen: QEMU exited before dom0 was ready" >&2
            return 1
        fi
        if ((SECONDS - t0 > ${XEN_BOOT_TIMEOUT:-900})); then
            tail -n 40 "$share/serial.log" >&2
            echo "xen: dom0 not ready after $((SECONDS - t0)) s" >&2
            return 1
        fi
        sleep 2
    done
    echo "xen: dom0 ready after $((SECONDS - t0)) s"
}

xen_run() {
    local timeout=$1 t0=$SECONDS n
    shift
    # The counter lives in the share: `out=$(xen_run ...)` runs in a subshell, whose variables
    # are lost, and a reused number would return an earlier command's answer.
    n=$(cat "$XEN_SHARE/cmd/next" 2> /dev/null || echo 0)
    echo $((n + 1)) > "$XEN_SHARE/cmd/next"
    printf '%s\n' "$*" > "$XEN_SHARE/cmd/$n.tmp"
    mv "$XEN_SHARE/cmd/$n.tmp" "$XEN_SHARE/cmd/$n.sh"
    while [[ ! -e "$XEN_SHARE/cmd/$n.rc" ]]; do
        if ! kill -0 "$XEN_QEMU_PID" 2> /dev/null; then
            echo "xen: QEMU died while dom0 ran: $*" >&2
            return 1
        fi
        if ((SECONDS - t0 > timeout)); then
            echo "xen: no answer from dom0 after $timeout s to: $*" >&2
            return 1
        fi
        sleep 1
    done
    cat "$XEN_SHARE/cmd/$n.out"
    return "$(cat "$XEN_SHARE/cmd/$n.rc")"
}

xen_stop() {
    [[ -n "$XEN_QEMU_PID" ]] || return 0
    touch "$XEN_SHARE/poweroff"
    local i
    for i in $(seq 60); do
        kill -0 "$XEN_QEMU_PID" 2> /dev/null || break
        sleep 1
    done
    kill -9 "$XEN_QEMU_PID" 2> /dev/null || true
    wait "$XEN_QEMU_PID" 2> /dev/null || true
    XEN_QEMU_PID=
}
