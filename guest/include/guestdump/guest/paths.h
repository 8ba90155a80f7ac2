#pragma once
// Paths shared by the guestdump-guest subcommands (apply, load, capture, initramfs). They are
// absolute paths on the running system; commands that take --root read and write them under
// that directory instead.

#include <string>
#include <string_view>

namespace guestdump::guest {

/// The standalone capture initramfs of kernel `release` (it holds that kernel's modules):
/// written by `guestdump-guest initramfs` and by the package's /etc/kernel/postinst.d hook,
/// loaded by `guestdump-guest load` for the running kernel.
inline std::string capture_initrd_for(std::string_view release) {
  return "/var/lib/guestdump/capture-initrd-" + std::string(release) + ".img";
}
/// The same path in systemd unit syntax (%v is the running kernel's release).
inline constexpr const char* kCaptureInitrdUnitPath = "/var/lib/guestdump/capture-initrd-%v.img";
/// Directory holding guestdump-guest state (the capture initramfs).
inline constexpr const char* kStateDir = "/var/lib/guestdump";
/// Where `apply --mode standalone` installs the unit that runs `guestdump-guest load` at boot
/// when the guestdump-guest package (which ships kPackageUnit) is not installed.
inline constexpr const char* kSystemdUnit = "/etc/systemd/system/guestdump-guest.service";
/// The unit the guestdump-guest package ships (packaging/guestdump-guest.service).
inline constexpr const char* kPackageUnit = "/lib/systemd/system/guestdump-guest.service";
/// Where the installed binary is expected (ExecStart of the unit).
inline constexpr const char* kGuestBinary = "/usr/sbin/guestdump-guest";
/// Debian: our GRUB drop-in with crashkernel= (sourced after kdump-tools.cfg).
inline constexpr const char* kGrubDropin = "/etc/default/grub.d/zz-guestdump-guest.cfg";
/// Debian with kdump-tools: our drop-in of kdump-tools.service (KDUMP_CMDLINE_APPEND).
inline constexpr const char* kKdumpToolsDropin =
    "/etc/systemd/system/kdump-tools.service.d/guestdump-guest.conf";
/// Panic and sysrq knobs written by `apply`.
inline constexpr const char* kSysctlFile = "/etc/sysctl.d/90-guestdump.conf";

} // namespace guestdump::guest
