#pragma once
// Paths shared by the guestdump-guest subcommands (apply, load, capture, initramfs). They are
// absolute paths on the running system; commands that take --root read and write them under
// that directory instead.

namespace guestdump::guest {

/// The standalone capture initramfs: written by `guestdump-guest initramfs`, loaded by
/// `guestdump-guest load` (and by the unit `apply --mode standalone` installs).
inline constexpr const char* kCaptureInitrd = "/var/lib/guestdump/capture-initrd.img";
/// Directory holding guestdump-guest state (the capture initramfs).
inline constexpr const char* kStateDir = "/var/lib/guestdump";
/// Where `apply --mode standalone` installs the unit that runs `guestdump-guest load` at boot.
inline constexpr const char* kSystemdUnit = "/etc/systemd/system/guestdump-guest.service";
/// Where the installed binary is expected (ExecStart of the unit).
inline constexpr const char* kGuestBinary = "/usr/sbin/guestdump-guest";
/// Panic and sysrq knobs written by `apply`.
inline constexpr const char* kSysctlFile = "/etc/sysctl.d/90-guestdump.conf";

} // namespace guestdump::guest
