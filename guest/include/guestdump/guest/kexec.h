#pragma once
// Loading the capture kernel with kexec_file_load(2). There is no library for this (glibc has
// no wrapper; kexec-tools is a program), so this is our own thin wrapper around syscall(2).

#include <cstdint>
#include <optional>
#include <string>

#include "guestdump/common/result.h"

namespace guestdump::guest {

/// What the errno explanations draw on (from detect; all optional).
struct KexecContext {
  std::string kernel_path;
  std::string initrd_path;
  std::optional<std::string> lockdown; // "none", "integrity", "confidentiality"
  std::optional<bool> secure_boot;
  std::optional<std::uint64_t> crash_size; // /sys/kernel/kexec_crash_size
  std::optional<bool> load_disabled;       // kernel.kexec_load_disabled
  bool unload = false;
};

/// An operator-facing explanation of a kexec_file_load errno (what it means here and what to
/// do), following the kernel's own error paths (kernel/kexec_file.c, kexec_core.c).
std::string explain_kexec_errno(int err, const KexecContext& ctx);

/// kexec_file_load(kernel, initrd, cmdline, KEXEC_FILE_ON_CRASH). Refuses before the syscall
/// when the context shows no crashkernel reservation. Errors carry sys_errno and the
/// explanation.
Result<void> load_crash_kernel(const std::string& cmdline, const KexecContext& ctx);

/// kexec_file_load(-1, -1, 0, NULL, KEXEC_FILE_UNLOAD | KEXEC_FILE_ON_CRASH).
Result<void> unload_crash_kernel(const KexecContext& ctx);

} // namespace guestdump::guest
