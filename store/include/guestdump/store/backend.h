#pragma once
// Where finished dumps live, as retention and `list` see it: the local directory (DumpStore) or,
// later, a remote store (design.md §3). Dumps are always assembled in a local DumpStore; a
// backend lists the finished and in-progress dumps it holds and deletes them.

#include <optional>
#include <string>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/store/meta.h"

namespace guestdump::store {

/// One dump as a backend lists it.
struct StoredDump {
  std::string domain;           // the <domain-name> level; empty in a one-guest store
  std::string name;             // the timestamp directory name
  std::string path;             // where it is (a directory, or a remote prefix)
  bool partial = false;         // still being written, or left by a crash
  bool in_use = false;          // partial and a live process is writing it
  std::optional<DumpMeta> meta; // nullopt if meta.json is missing or unreadable
  std::uint64_t bytes = 0;      // sum of the files' sizes
};

class Backend {
public:
  virtual ~Backend() = default;
  /// Where the store is, for messages ("/var/lib/guestdump/dumps").
  virtual const std::string& location() const = 0;
  /// Every dump (optionally of one domain), newest first.
  virtual Result<std::vector<StoredDump>> list(const std::optional<std::string>& domain) const = 0;
  /// Deletes one dump; one being written is refused.
  virtual Result<void> remove(const StoredDump& dump) const = 0;
};

} // namespace guestdump::store
