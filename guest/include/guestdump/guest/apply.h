#pragma once
// `guestdump-guest apply`: the file changes that carry a Plan out, computed first (so
// --dry-run can show them as diffs) and then written atomically with a backup.

#include <optional>
#include <string>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/guest/plan.h"
#include "guestdump/guest/system_info.h"

namespace guestdump::guest {

enum class ApplyMode { kDistro, kStandalone };

struct FileChange {
  std::string path;                  // absolute path on the target system
  std::optional<std::string> before; // nullopt: the file does not exist yet
  std::string after;
  std::string why;
};

struct SymlinkChange {
  std::string path;   // absolute
  std::string target; // link contents
};

struct ApplyActions {
  std::vector<FileChange> files; // only files whose content changes
  std::vector<SymlinkChange> links;
  std::vector<std::string> commands; // boot loader updates to run afterwards (update-grub ...)
  // Reloads of the kdump tooling (kdump-config load, kdumpctl restart ...): they only succeed
  // once a crashkernel= reservation exists, i.e. after the reboot on a system that had none.
  std::vector<std::string> reload_commands;
  std::vector<std::string> notes;
};

/// The changes under `info.root` for `mode`. Errors: distro mode on an unknown distro or
/// without installed kdump tooling; standalone mode on a kernel without CONFIG_KEXEC_FILE.
Result<ApplyActions> plan_apply(const SystemInfo& info, const Plan& plan, ApplyMode mode);

/// Writes every change under `root`: each existing file is first copied to
/// FILE.guestdump.bak (unless that backup already exists, so it keeps the original), then
/// replaced atomically (temporary file + rename) with its mode and owner kept; new files get
/// mode 0644. Parent directories are created.
Result<void> write_actions(const std::string& root, const ApplyActions& actions);

/// Every change as a unified diff, then the links and commands, for --dry-run.
std::string describe_actions(const ApplyActions& actions);

/// The systemd unit standalone mode installs.
std::string standalone_unit_text();

} // namespace guestdump::guest
