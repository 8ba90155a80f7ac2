#pragma once
// Typed wrappers for the QMP commands guestdump uses (QEMU qapi/run-state.json, qapi/dump.json,
// qapi/misc.json). Each validates the shape of QEMU's reply and fails with kProtocol when a
// member is missing or has the wrong type; the error names the command and the member.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <guestdump/common/result.h>
#include <guestdump/qmp/client.h>

namespace guestdump::qmp {

/// query-status: QEMU's RunState ("running", "paused", "guest-panicked", "save-vm", ...).
struct RunStatus {
  std::string status;
  bool running = false;
};

/// The progress of a dump, from query-dump or DUMP_COMPLETED. Byte counts are guest bytes
/// (uncompressed), not output bytes.
enum class DumpStatus { kNone, kActive, kCompleted, kFailed };
struct DumpProgress {
  DumpStatus status = DumpStatus::kNone;
  std::uint64_t completed = 0;
  std::uint64_t total = 0;
};
/// "none", "active", "completed", "failed".
std::string_view dump_status_name(DumpStatus status);
/// Parses a DumpQueryResult object ({"status", "completed", "total"}).
Result<DumpProgress> parse_dump_progress(const Json& object);

/// Arguments of dump-guest-memory. paging stays false (QEMU's own warning: paging=true trusts
/// guest page tables and can allocate gigabytes).
struct DumpRequest {
  std::string protocol;       // "fd:NAME" (after getfd) or "file:PATH"
  std::string format = "elf"; // elf, kdump-zlib, kdump-lzo, kdump-snappy, win-dmp, ...
  bool paging = false;
  bool detach = true; // return at once; watch DUMP_COMPLETED / query-dump
};
/// "fd:NAME".
std::string fd_protocol(std::string_view fdname);
/// "file:PATH".
std::string file_protocol(std::string_view path);

/// Result of add-fd: the fd set and the fd number QEMU gave the descriptor.
struct AddFdInfo {
  std::int64_t fdset_id = 0;
  std::int64_t fd = 0;
};

Result<RunStatus> query_status(Client& client);
Result<void> stop(Client& client);
Result<void> cont(Client& client);
Result<void> inject_nmi(Client& client);
/// query-dump-guest-memory-capability: the dump formats this QEMU binary supports.
Result<std::vector<std::string>> query_dump_guest_memory_capability(Client& client);
/// dump-guest-memory. With detach=false the call lasts as long as the dump (pass a long
/// timeout); with detach=true it returns as soon as QEMU has started the dump.
Result<void> dump_guest_memory(Client& client, const DumpRequest& request,
                               Milliseconds timeout = kDefaultCommandTimeout);
Result<DumpProgress> query_dump(Client& client);
/// getfd: passes `fd` (still owned by the caller) to QEMU under `fdname`.
Result<void> getfd(Client& client, std::string_view fdname, int fd);
/// closefd: drops a name passed with getfd that QEMU has not consumed.
Result<void> closefd(Client& client, std::string_view fdname);
/// add-fd: passes `fd` into an fd set (a new one when fdset_id is empty).
Result<AddFdInfo> add_fd(Client& client, int fd, std::optional<std::int64_t> fdset_id = {},
                         std::optional<std::string> opaque = {});
/// remove-fd: removes a whole fd set, or one fd of it.
Result<void> remove_fd(Client& client, std::int64_t fdset_id, std::optional<std::int64_t> fd = {});
/// human-monitor-command: runs an HMP command line and returns its text output.
Result<std::string> human_monitor_command(Client& client, std::string_view command_line,
                                          Milliseconds timeout = kDefaultCommandTimeout);

} // namespace guestdump::qmp
