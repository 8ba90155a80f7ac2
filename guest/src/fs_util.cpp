// See fs_util.h.

#include "fs_util.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace guestdump::guest {

std::string under_root(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return r + (path.empty() || path[0] != '/' ? "/" : "") + path;
}

std::string resolve_under(const std::string& root, const std::string& path) {
  namespace fs = std::filesystem;
  std::string p = under_root(root, path);
  std::error_code ec;
  for (int hops = 0; hops < 8 && fs::is_symlink(p, ec); ++hops) {
    fs::path target = fs::read_symlink(p, ec);
    if (ec) break;
    p = target.is_absolute() ? under_root(root, target.string())
                             : (fs::path(p).parent_path() / target).string();
  }
  return p;
}

std::optional<std::string> read_file_under(const std::string& root, const std::string& path) {
  std::ifstream in(resolve_under(root, path), std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

bool exists_under(const std::string& root, const std::string& path) {
  std::error_code ec;
  return std::filesystem::symlink_status(under_root(root, path), ec).type() !=
         std::filesystem::file_type::not_found;
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  std::string t = s;
  while (!t.empty() && (t.back() == '\0' || std::strchr(ws, t.back()) != nullptr)) t.pop_back();
  std::size_t b = 0;
  while (b < t.size() && std::strchr(ws, t[b]) != nullptr) ++b;
  return t.substr(b);
}

} // namespace guestdump::guest
