#pragma once
// The local dump store (design.md §3):
//   <dump_dir>/<domain>/<UTC timestamp YYYYmmddTHHMMSSZ>/{vmcore, dmesg.txt, meta.json}
// or, in a one-guest store (guestdump-guest's target inside the guest), without the domain level:
//   <dump_dir>/<UTC timestamp YYYYmmddTHHMMSSZ>/{vmcore, dmesg.txt, meta.json}
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
#include <string_view>
#include <utility>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/common/unique_fd.h"
#include "guestdump/store/backend.h"
#include "guestdump/store/meta.h"

namespace guestdump::store {

class PendingDump;

/// Whether the store has a directory level per domain.
enum class Layout { kPerDomain, kOneGuest };

class DumpStore final : public Backend {
public:
  /// Opens (creating with mode 0700 if missing) the store at `dir`; fails naming the path if
  /// it cannot be created or is not a writable directory.
  static Result<DumpStore> open(const std::string& dir, Layout layout = Layout::kPerDomain);

  const std::string& dir() const { return dir_; }
  const std::string& location() const override { return dir_; }

  /// Starts a dump of `initial.domain` at `initial.started_at`: creates
  /// `<dir>/<domain>/.<ts>.partial` (0700; no domain level in a one-guest store), locks it, and
  /// writes `initial` as its meta.json with status "in progress". Two dumps in the same second get
  /// `-2`, `-3`, ... suffixes.
  Result<PendingDump> begin(const DumpMeta& initial) const;
  Result<PendingDump> begin(const std::string& domain, std::int64_t unix_time) const;

  /// Every dump directory (optionally of one domain), newest first. Only names begin() makes
  /// are dumps: other directories (lost+found, an operator's notes) are never listed.
  Result<std::vector<StoredDump>> list(const std::optional<std::string>& domain) const override;
  Result<std::vector<StoredDump>> list() const { return list(std::nullopt); }

  /// Removes one dump directory (retention). A partial directory is removed only while no
  /// process holds its lock (an interrupted dump); one being written is refused.
  Result<void> remove(const StoredDump& dump) const override;

  /// Turns every interrupted dump (partial and unlocked) into a failure record under its final
  /// name: everything but meta.json is deleted and its status becomes "failed: interrupted
  /// ...", so it counts for the crash-loop limit and names its crash. Returns the new
  /// directories; a directory that cannot be recovered is reported in the error of none but
  /// logged and skipped.
  Result<std::vector<std::string>> recover_interrupted() const;

private:
  DumpStore(std::string dir, Layout layout) : dir_(std::move(dir)), layout_(layout) {}
  /// The directory holding `domain`'s dumps.
  std::string domain_dir(const std::string& domain) const;
  /// Every {directory, domain} holding dumps: the store itself in a one-guest store.
  Result<std::vector<std::pair<std::string, std::string>>> domain_dirs() const;
  Result<void> list_domain(const std::string& ddir, const std::string& domain,
                           std::vector<StoredDump>& out) const;
  std::string dir_;
  Layout layout_ = Layout::kPerDomain;
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
  /// Records a failure: removes every file but meta.json and those named in `keep` (the
  /// guest tool keeps dmesg.txt), writes meta.json with "failed: <reason>" and renames the
  /// directory to its final name, so the event stays on record.
  Result<std::string> fail(DumpMeta meta, const std::string& reason,
                           const std::vector<std::string>& keep = {});

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

/// meta.json of a finished dump directory; nullopt when missing or not a JSON object.
std::optional<DumpMeta> read_meta(const std::string& dump_dir);
/// Replaces meta.json of a finished dump directory (written whole, then renamed).
Result<void> rewrite_meta(const std::string& dump_dir, const DumpMeta& meta);

/// "YYYYmmddTHHMMSSZ" for a Unix time.
std::string store_timestamp(std::int64_t unix_time);
/// The Unix time a store name ("YYYYmmddTHHMMSSZ[-N]") stands for, or 0 if it is none.
std::int64_t store_time(const std::string& name);
/// True for the names begin() gives a dump: "YYYYmmddTHHMMSSZ", optionally followed by "-N".
bool is_store_name(std::string_view name);

} // namespace guestdump::store
