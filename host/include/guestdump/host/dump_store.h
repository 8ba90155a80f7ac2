#pragma once
// The dump store (design.md §3):
//   <dump_dir>/<domain>/<UTC timestamp YYYYmmddTHHMMSSZ>/{vmcore, dmesg.txt, meta.json}
// A dump is assembled in `.<timestamp>.partial` and renamed when complete, so a directory
// under its final name always holds a finished dump (or the record of a failed one, whose
// meta.json says "failed: <reason>" and which has no vmcore). Directories are 0700, files
// 0600: dumps hold guest secrets.
//
// The writer holds an exclusive flock(2) on its partial directory from begin() to commit() or
// fail(), and the partial directory's meta.json says "in progress" from the start. The kernel
// drops the lock when the writer dies, even by SIGKILL, so "locked" means "being written" and
// an unlocked partial directory is an interrupted dump: retention and recover_interrupted()
// touch only those, whichever process (guestdumpd or `guestdump dump`) wrote them.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "guestdump/common/result.h"
#include "guestdump/common/unique_fd.h"

namespace guestdump::host {

/// What meta.json records about one dump.
struct DumpMeta {
  std::string domain;
  std::string uuid;
  std::string host;
  std::string trigger;          // "manual", "panic", "crashloaded", "watchdog", "hang", ...
  std::string path;             // how memory was read: "qmp-stream", "libvirt-coredump", ...
  std::int64_t started_at = 0;  // Unix seconds
  std::int64_t finished_at = 0; // Unix seconds
  double pause_seconds = 0;     // how long the guest was held paused by us
  int dump_level = 0;
  std::string codec;
  std::uint64_t guest_ram_bytes = 0;
  std::uint64_t vmcore_bytes = 0;
  std::uint64_t pages_dumped = 0;
  std::string kernel_release;
  std::string vmcoreinfo_source; // "dump note", "none", ...
  std::string tool_version;
  std::string status = "complete";                 // "complete" or "failed: <reason>"
  nlohmann::json extra = nlohmann::json::object(); // filter counts, notes, ...
  /// guestdumpd's record of the crash it dumped ({"uri", "domain_id", "vcpu_time_ns"}); null
  /// for on-demand dumps. Written from the start, so an interrupted dump still names its crash.
  nlohmann::json daemon;
};

nlohmann::json to_json(const DumpMeta& meta);
DumpMeta meta_from_json(const nlohmann::json& j);

/// One directory of the store as list() sees it.
struct StoredDump {
  std::string domain;
  std::string name;             // the timestamp directory name
  std::string path;             // full path of the directory
  bool partial = false;         // still `.NAME.partial`: being written, or left by a crash
  bool in_use = false;          // partial and locked: a live process is writing it
  std::optional<DumpMeta> meta; // nullopt if meta.json is missing or unreadable
  std::uint64_t bytes = 0;      // sum of the files' sizes
};

class PendingDump;

class DumpStore {
public:
  /// Opens (creating with mode 0700 if missing) the store at `dir`; fails naming the path if
  /// it cannot be created or is not a writable directory.
  static Result<DumpStore> open(const std::string& dir);

  const std::string& dir() const { return dir_; }

  /// Starts a dump of `initial.domain` at `initial.started_at`: creates
  /// `<dir>/<domain>/.<ts>.partial` (0700), locks it, and writes `initial` as its meta.json with
  /// status "in progress". Two dumps in the same second get `-2`, `-3`, ... suffixes.
  Result<PendingDump> begin(const DumpMeta& initial) const;
  Result<PendingDump> begin(const std::string& domain, std::int64_t unix_time) const;

  /// Every dump directory (optionally of one domain), newest first.
  Result<std::vector<StoredDump>> list(const std::optional<std::string>& domain = {}) const;

  /// Removes one dump directory (retention). A partial directory is removed only while no
  /// process holds its lock (an interrupted dump); one being written is refused.
  Result<void> remove(const StoredDump& dump) const;

  /// Turns every interrupted dump (partial and unlocked) into a failure record under its final
  /// name: everything but meta.json is deleted and its status becomes "failed: interrupted
  /// ...", so it counts for the crash-loop limit and names its crash. Returns the new
  /// directories; a directory that cannot be recovered is reported in the error of none but
  /// logged and skipped.
  Result<std::vector<std::string>> recover_interrupted() const;

private:
  explicit DumpStore(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

/// A dump being assembled. Dies uncommitted → its directory is removed.
class PendingDump {
public:
  PendingDump(PendingDump&& other) noexcept;
  PendingDump& operator=(PendingDump&&) = delete;
  PendingDump(const PendingDump&) = delete;
  ~PendingDump();

  /// The directory being filled and the final one.
  const std::string& dir() const { return partial_dir_; }
  const std::string& final_dir() const { return final_dir_; }
  std::string file(const std::string& name) const { return partial_dir_ + "/" + name; }
  const std::string& timestamp() const { return name_; }

  /// Writes a small text file (dmesg.txt) atomically with mode 0600.
  Result<void> write_text(const std::string& name, const std::string& text) const;

  /// Writes meta.json (status "complete") and renames the directory to its final name.
  Result<std::string> commit(DumpMeta meta);
  /// Records a failure: removes any vmcore, writes meta.json with "failed: <reason>" and
  /// renames the directory to its final name, so the event stays on record.
  Result<std::string> fail(DumpMeta meta, const std::string& reason);

private:
  friend class DumpStore;
  PendingDump(std::string partial_dir, std::string final_dir, std::string name, UniqueFd lock)
      : partial_dir_(std::move(partial_dir)), final_dir_(std::move(final_dir)),
        name_(std::move(name)), lock_(std::move(lock)) {}
  Result<std::string> finish(const DumpMeta& meta);
  std::string partial_dir_;
  std::string final_dir_;
  std::string name_;
  UniqueFd lock_; // the partial directory, flock(LOCK_EX) until done
  bool done_ = false;
};

/// The status an interrupted dump is recorded with.
inline constexpr const char* kInterruptedStatus =
    "failed: interrupted: the capturing process ended before the dump was complete";

/// "YYYYmmddTHHMMSSZ" for a Unix time.
std::string store_timestamp(std::int64_t unix_time);
/// The Unix time a store name ("YYYYmmddTHHMMSSZ[-N]") stands for, or 0 if it is none.
std::int64_t store_time(const std::string& name);

} // namespace guestdump::host
