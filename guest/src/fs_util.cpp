// See fs_util.h.

#include "fs_util.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace guestdump::guest {

namespace {

// Linux's own limit on symlinks followed in one lookup.
constexpr int kMaxSymlinks = 40;

std::deque<std::string> components(const std::string& path) {
  std::deque<std::string> out;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

Result<UniqueFd> open_dir_at(int dir, const std::string& name, const std::string& shown) {
  int fd = ::openat(dir, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno_error("open directory", shown);
  return UniqueFd(fd);
}

std::string canonical_of(const std::vector<std::string>& names, const std::string& last) {
  std::string out;
  for (const auto& n : names) out += "/" + n;
  if (last != ".") out += "/" + last;
  return out.empty() ? "/" : out;
}

} // namespace

std::string under_root(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return r + (path.empty() || path[0] != '/' ? "/" : "") + path;
}

Result<RootPath> resolve_in_root(const std::string& root, const std::string& path,
                                 ResolveOptions options) {
  const std::string root_dir = root.empty() ? "/" : root;
  GUESTDUMP_TRY(auto root_fd, UniqueFd::open(root_dir, O_PATH | O_DIRECTORY));
  // stack[i] is the directory names[0..i) leads to; stack is empty at the root itself.
  std::vector<UniqueFd> stack;
  std::vector<std::string> names;
  auto top = [&] { return stack.empty() ? root_fd.get() : stack.back().get(); };
  auto shown = [&](const std::string& c) { return under_root(root, canonical_of(names, c)); };
  std::deque<std::string> pending = components(path);
  int links = 0;
  std::string last = ".";
  while (!pending.empty()) {
    std::string c = std::move(pending.front());
    pending.pop_front();
    last = ".";
    if (c == ".") continue;
    if (c == "..") { // never above the root
      if (!stack.empty()) {
        stack.pop_back();
        names.pop_back();
      }
      continue;
    }
    const bool is_last = pending.empty();
    if (is_last && !options.follow_last) {
      last = c;
      break;
    }
    struct stat st {};
    if (::fstatat(top(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) return errno_error("stat", shown(c));
      if (is_last) {
        last = c;
        break;
      }
      if (!options.create_parents) return errno_error("open directory", shown(c), ENOENT);
      if (::mkdirat(top(), c.c_str(), 0755) != 0 && errno != EEXIST)
        return errno_error("create directory", shown(c));
      st.st_mode = S_IFDIR;
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxSymlinks) return errno_error("resolve", under_root(root, path), ELOOP);
      std::string target(PATH_MAX, '\0');
      ssize_t n = ::readlinkat(top(), c.c_str(), target.data(), target.size());
      if (n < 0) return errno_error("read link", shown(c));
      target.resize(static_cast<std::size_t>(n));
      if (!target.empty() && target[0] == '/') { // absolute: from the root again
        stack.clear();
        names.clear();
      }
      auto more = components(target);
      pending.insert(pending.begin(), more.begin(), more.end());
      if (more.empty() && is_last) last = ".";
      continue;
    }
    if (is_last) {
      last = c;
      break;
    }
    if (!S_ISDIR(st.st_mode)) return errno_error("open directory", shown(c), ENOTDIR);
    GUESTDUMP_TRY(auto fd, open_dir_at(top(), c, shown(c)));
    stack.push_back(std::move(fd));
    names.push_back(c);
  }
  RootPath out;
  int fd = ::fcntl(top(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return errno_error("duplicate descriptor of", shown("."));
  out.dir = UniqueFd(fd);
  out.name = last;
  out.canonical = canonical_of(names, last);
  return out;
}

std::optional<UniqueFd> open_file_under(const std::string& root, const std::string& path) {
  auto r = resolve_in_root(root, path);
  if (!r) return std::nullopt;
  // O_NOFOLLOW: a symlink swapped in after the walk is refused, not followed. O_NONBLOCK: a
  // FIFO does not block the open (it is refused below).
  int fd = ::openat(r->dir.get(), r->name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  UniqueFd file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) return std::nullopt;
  return file;
}

std::optional<std::string> read_file_under(const std::string& root, const std::string& path,
                                           std::uint64_t max_bytes) {
  auto fd = open_file_under(root, path);
  if (!fd) return std::nullopt;
  // /proc and /sys files report size 0: read until end of file, up to the cap.
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) return std::nullopt;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

bool exists_under(const std::string& root, const std::string& path) {
  auto r = resolve_in_root(root, path, {.follow_last = false});
  if (!r) return false;
  struct stat st {};
  return ::fstatat(r->dir.get(), r->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

std::optional<std::string> read_link_under(const std::string& root, const std::string& path) {
  auto r = resolve_in_root(root, path, {.follow_last = false});
  if (!r) return std::nullopt;
  std::string target(PATH_MAX, '\0');
  ssize_t n = ::readlinkat(r->dir.get(), r->name.c_str(), target.data(), target.size());
  if (n < 0) return std::nullopt;
  target.resize(static_cast<std::size_t>(n));
  return target;
}

std::optional<std::vector<std::string>> list_dir_under(const std::string& root,
                                                       const std::string& path) {
  auto r = resolve_in_root(root, path);
  if (!r) return std::nullopt;
  int fd = ::openat(r->dir.get(), r->name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return std::nullopt;
  }
  std::vector<std::string> out;
  while (const dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(std::move(n));
  }
  ::closedir(d);
  return out;
}

} // namespace guestdump::guest
