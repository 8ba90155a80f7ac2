#pragma once
// Reading /sys/kernel/vmcoreinfo through the QEMU guest agent while a guest is healthy: the
// physical address of the kernel's VMCOREINFO note, which the locator tries first when a later
// dump carries no VMCOREINFO (no vmcoreinfo device). Commands and reply parsing are pure
// functions; LibvirtWatcher::read_vmcoreinfo_address() sends them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace guestdump::host {

inline constexpr std::string_view kSysfsVmcoreinfo = "/sys/kernel/vmcoreinfo";

/// guest-file-open of `path` for reading.
std::string agent_file_open_command(std::string_view path);
/// guest-file-read of up to `count` bytes from `handle`.
std::string agent_file_read_command(std::int64_t handle, std::size_t count);
/// guest-file-close of `handle`.
std::string agent_file_close_command(std::int64_t handle);

/// The handle in a guest-file-open reply ({"return": 1000}); nullopt if malformed.
std::optional<std::int64_t> parse_agent_file_handle(std::string_view reply);
/// The bytes in a guest-file-read reply ({"return": {"count": n, "buf-b64": "...", "eof": b}});
/// nullopt if malformed or if count disagrees with the decoded length.
std::optional<std::string> parse_agent_file_read(std::string_view reply);

/// The note's physical address from the text of /sys/kernel/vmcoreinfo; nullopt if malformed.
std::optional<std::uint64_t> vmcoreinfo_address(std::string_view sysfs_text);

} // namespace guestdump::host
