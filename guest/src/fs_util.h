#pragma once
// Reading files of a system image under a root directory (guest/src internal).

#include <optional>
#include <string>

namespace guestdump::guest {

/// `path` (absolute) under `root`; root "/" gives path itself.
std::string under_root(const std::string& root, const std::string& path);
/// under_root(root, path) with a final-component symlink followed inside root (an absolute
/// link target is taken under root, as the system itself would see it).
std::string resolve_under(const std::string& root, const std::string& path);
/// The whole file (symlinks followed inside root), or nullopt when it cannot be read (missing files
/// are normal in probes).
std::optional<std::string> read_file_under(const std::string& root, const std::string& path);
/// True when `path` exists under root (any file type; dangling symlinks count).
bool exists_under(const std::string& root, const std::string& path);
/// Strips leading and trailing whitespace (and NULs).
std::string trim(const std::string& s);

} // namespace guestdump::guest
