#pragma once
// Reading and writing the files of a system image under a root directory (guest/src internal).
//
// Every path is resolved inside the root, as chroot would: a symlink is followed with its
// target taken under the root (an absolute target starts again at the root, a relative one at
// the link's directory), and ".." never climbs above the root (it stays there, like "/.." does).
// The walk goes one component at a time from a directory descriptor, never letting the kernel
// follow a symlink, so nothing under the root can make a read or a write land outside it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/common/unique_fd.h"

namespace guestdump::guest {

/// `path` (absolute) under `root`; root "/" gives path itself. Plain string concatenation: for
/// messages, and for paths resolve_in_root() has already made symlink-free.
std::string under_root(const std::string& root, const std::string& path);

/// Where `path` lands inside the root.
struct RootPath {
  UniqueFd dir;          // the directory holding the last component (O_PATH)
  std::string name;      // the last component ("." when the path ends at a directory)
  std::string canonical; // the symlink-free absolute path inside the root ("/etc/default/grub")
};

struct ResolveOptions {
  bool follow_last = true;     // follow a symlink in the last component
  bool create_parents = false; // create missing directories (mode 0755) on the way
};

/// Resolves `path` inside `root` (see the file comment). The last component need not exist.
/// Errors: the root cannot be opened, a directory on the way is missing (unless created), is not
/// a directory, or symlinks nest more than 40 deep.
Result<RootPath> resolve_in_root(const std::string& root, const std::string& path,
                                 ResolveOptions options = {});

/// Files larger than this are not read (a probe or config file is far smaller).
inline constexpr std::uint64_t kMaxReadBytes = 64ull << 20;

/// The whole regular file (symlinks followed inside root), or nullopt when it cannot be read:
/// missing (normal in probes), not a regular file (FIFOs and devices are never opened for
/// reading), or larger than `max_bytes`.
std::optional<std::string> read_file_under(const std::string& root, const std::string& path,
                                           std::uint64_t max_bytes = kMaxReadBytes);
/// True when `path` exists under root (any file type; dangling symlinks count).
bool exists_under(const std::string& root, const std::string& path);
/// The contents of the symlink `path` under root (not followed), or nullopt.
std::optional<std::string> read_link_under(const std::string& root, const std::string& path);
/// The names in directory `path` under root, or nullopt when it cannot be listed.
std::optional<std::vector<std::string>> list_dir_under(const std::string& root,
                                                       const std::string& path);
/// The regular file `path` under root opened read-only, or nullopt.
std::optional<UniqueFd> open_file_under(const std::string& root, const std::string& path);

} // namespace guestdump::guest
