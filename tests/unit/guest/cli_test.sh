#!/bin/bash
# guestdump-guest itself on fake roots: the fixed `detect --json` / `plan --json` keys, apply
# --dry-run writing nothing, and the exit codes (0 ok, 1 one-line error, 2 usage).
# Usage: cli_test.sh PATH-TO-guestdump-guest
set -u
bin=$1
root=$(mktemp -d /tmp/guestdump-guest-cli.XXXXXX)
trap 'rm -rf "$root"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
json_get() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

mkdir -p "$root/kvm/sys/class/dmi/id" "$root/kvm/proc" "$root/kvm/etc/default"
echo QEMU >"$root/kvm/sys/class/dmi/id/sys_vendor"
echo "MemTotal: 2000000 kB" >"$root/kvm/proc/meminfo"
echo "root=/dev/vda1 ro quiet" >"$root/kvm/proc/cmdline"
printf 'ID=debian\n' >"$root/kvm/etc/os-release"
printf 'USE_KDUMP=0\n# keep me\n' >"$root/kvm/etc/default/kdump-tools"
printf 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n' >"$root/kvm/etc/default/grub"
mkdir -p "$root/hv/sys/bus/vmbus/devices" "$root/hv/sys/firmware/efi"

h=$("$bin" detect --json --root "$root/kvm" --cpuid-signature KVMKVMKVM | json_get hypervisor)
[ "$h" = kvm ] || fail "KVM signature: hypervisor '$h'"
h=$("$bin" detect --json --root "$root/kvm" --cpuid-signature '' | json_get hypervisor)
[ "$h" = qemu ] || fail "no CPUID leaf, QEMU DMI: hypervisor '$h'"
h=$("$bin" detect --json --root "$root/hv" --cpuid-signature 'Microsoft Hv' | json_get hypervisor)
[ "$h" = hyperv ] || fail "Hyper-V: hypervisor '$h'"
h=$("$bin" detect --json --root "$root/hv" --cpuid-signature '' | json_get hypervisor)
[ "$h" = hyperv ] || fail "VMBus without CPUID input: hypervisor '$h'"

plan=$("$bin" plan --json --root "$root/kvm" --cpuid-signature KVMKVMKVM) || fail "plan exit $?"
[ "$(json_get hypervisor <<<"$plan")" = kvm ] || fail "plan hypervisor"
ck=$(json_get crashkernel <<<"$plan")
[[ $ck =~ ^512M-[0-9]+[MGT]:[0-9]+M(,[0-9]+[MGT]-[0-9]*[MGT]?:[0-9]+[MGT])+$ ]] || fail "crashkernel '$ck'"
cl=$(json_get capture_cmdline <<<"$plan")
for t in root=/dev/vda1 irqpoll nr_cpus=1 reset_devices; do
  [[ " $cl " == *" $t "* ]] || fail "capture_cmdline lacks $t: '$cl'"
done
[[ " $cl " != *" quiet "* ]] || fail "capture_cmdline keeps quiet: '$cl'"

before=$(cat "$root/kvm/etc/default/kdump-tools")
out=$("$bin" apply --dry-run --root "$root/kvm" --cpuid-signature KVMKVMKVM 2>/dev/null)
rc=$?
[ $rc = 0 ] || fail "apply --dry-run exit $rc"
[[ $out == *"+++ b/etc/systemd/system/kdump-tools.service.d/guestdump-guest.conf"* ]] ||
    fail "dry-run diff lacks the kdump-tools drop-in: $out"
[[ $out == *"Environment=\"KDUMP_CMDLINE_APPEND="*"panic=10"* ]] ||
    fail "dry-run drop-in lacks the capture arguments: $out"
[[ $out == *"sets USE_KDUMP=0"* ]] || fail "dry-run does not note USE_KDUMP=0: $out"
[ "$(cat "$root/kvm/etc/default/kdump-tools")" = "$before" ] || fail "dry-run changed the file"
[ ! -e "$root/kvm/etc/sysctl.d/90-guestdump.conf" ] || fail "dry-run wrote sysctl.d"
[ ! -e "$root/kvm/etc/systemd/system/kdump-tools.service.d" ] || fail "dry-run wrote the drop-in"

printf 'ID=plan9\n' >"$root/kvm/etc/os-release"
err=$("$bin" apply --root "$root/kvm" --cpuid-signature KVMKVMKVM 2>&1 >/dev/null)
rc=$?
[ $rc = 1 ] || fail "unknown distro: exit $rc"
[[ $err == "guestdump-guest: error: apply: distro mode: unknown distro (ID 'plan9'"* ]] ||
  fail "unknown distro message: $err"
[ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "error is not one line: $err"

"$bin" detect --bogus >/dev/null 2>&1
rc=$?
[ $rc = 2 ] || fail "bad option: exit $rc"
"$bin" plan --root "$root/kvm" --hyperv-blacklist sometimes >/dev/null 2>&1
rc=$?
[ $rc = 2 ] || fail "bad --hyperv-blacklist: exit $rc"
"$bin" --help | grep -q '^  detect ' || fail "--help does not list detect"

[ $fails = 0 ] && echo "guestdump-guest CLI: all checks passed"
exit $((fails > 0))
