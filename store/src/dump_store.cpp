// The dump store: partial directories, atomic commit, listing. See dump_store.h.

#include "guestdump/store/dump_store.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string_view>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guestdump/common/io.h"

namespace guestdump::store {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPartialSuffix = ".partial";
constexpr const char* kCreatingInfix = ".creating.";
constexpr const char* kInProgress = "in progress";

/// Opens directory `path` (never through a symlink) and flocks it; kBusy-like kInvalidArgument
/// when `nonblock` and another process holds a conflicting lock.
Result<UniqueFd> lock_dir(const std::string& path, int how) {
  GUESTDUMP_TRY(UniqueFd fd, UniqueFd::open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  while (::flock(fd.get(), how) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) {
      return make_error(ErrorCode::kInvalidArgument, "'" + path + "' is being written");
    }
    return errno_error("lock", path);
  }
  return fd;
}

/// True while a live process holds the lock of partial directory `path`.
bool locked_by_writer(const std::string& path) {
  auto probe = lock_dir(path, LOCK_SH | LOCK_NB);
  return !probe && probe.error().code == ErrorCode::kInvalidArgument;
}

bool is_partial_name(const std::string& name) {
  const std::string suffix = kPartialSuffix;
  return name.size() > suffix.size() + 1 && name[0] == '.' &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// rename(2) that never replaces an existing directory (two writers, one timestamp).
Result<void> rename_no_replace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    return errno_error("rename '" + from + "' to", to);
  }
  return {};
}

std::optional<DumpMeta> read_meta_file(const std::string& dir) {
  std::ifstream in(dir + "/meta.json");
  if (!in) return std::nullopt;
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return meta_from_json(j);
}

/// A small file written whole under a hidden name and renamed (mode 0600).
Result<void> write_small_file(const std::string& path, const std::string& text) {
  GUESTDUMP_TRY(OutputFile out, OutputFile::create(path));
  GUESTDUMP_CHECK(write_all(out.fd(), std::as_bytes(std::span(text)), path));
  return out.commit();
}

Result<void> write_meta_file(const std::string& dir, const DumpMeta& meta) {
  return write_small_file(dir + "/meta.json", meta_text(meta));
}

/// Deletes everything in a dump directory but meta.json and the files named in `keep`: a failed
/// or interrupted dump keeps only its record, never partial guest memory under a final name.
void keep_only_meta(const std::string& dir, const std::vector<std::string>& keep = {}) {
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    const std::string name = f.path().filename().string();
    if (name == "meta.json" || std::find(keep.begin(), keep.end(), name) != keep.end()) continue;
    fs::remove_all(f.path(), ec);
  }
}

Result<void> make_dir_0700(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) == 0) return {};
  if (errno != EEXIST) return errno_error("create directory", path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("stat", path);
  if (!S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument, "'" + path + "' is not a directory");
  }
  return {};
}

Result<void> check_domain_name(const std::string& domain) {
  if (domain.empty() || domain[0] == '.' || domain.find('/') != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "domain name '" + domain + "' cannot name a dump directory");
  }
  return {};
}

std::uint64_t dir_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

} // namespace

std::int64_t store_time(const std::string& name) {
  std::tm tm{};
  std::istringstream is(name.substr(0, 16));
  is >> std::get_time(&tm, "%Y%m%dT%H%M%SZ");
  return is.fail() ? 0 : static_cast<std::int64_t>(timegm(&tm));
}

std::optional<DumpMeta> read_meta(const std::string& dump_dir) {
  return read_meta_file(dump_dir);
}

Result<void> rewrite_meta(const std::string& dump_dir, const DumpMeta& meta) {
  return write_meta_file(dump_dir, meta);
}

std::string store_timestamp(std::int64_t unix_time) {
  std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

bool is_store_name(std::string_view name) {
  if (name.size() < 16) return false;
  for (std::size_t i = 0; i < 16; ++i) {
    const char c = name[i];
    const bool ok = i == 8 ? c == 'T' : i == 15 ? c == 'Z' : (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  if (name.size() == 16) return true;
  if (name[16] != '-' || name.size() == 17) return false;
  unsigned n = 0;
  const char* end = name.data() + name.size();
  auto [p, ec] = std::from_chars(name.data() + 17, end, n);
  return ec == std::errc() && p == end;
}

Result<DumpStore> DumpStore::open(const std::string& dir, Layout layout) {
  if (dir.empty()) return make_error(ErrorCode::kInvalidArgument, "empty dump directory");
  std::error_code ec;
  fs::path p(dir);
  if (!fs::exists(p, ec)) {
    // Parents are created 0700 too: nothing on the way to a dump is world-readable by us.
    fs::path cur;
    for (const auto& part : p) {
      cur /= part;
      if (cur == "/" || cur.empty()) continue;
      if (!fs::exists(cur, ec)) GUESTDUMP_CHECK(make_dir_0700(cur.string()));
    }
  }
  GUESTDUMP_CHECK(make_dir_0700(dir));
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return errno_error("write to dump directory", dir);
  }
  return DumpStore(dir, layout);
}

std::string DumpStore::domain_dir(const std::string& domain) const {
  return layout_ == Layout::kOneGuest ? dir_ : dir_ + "/" + domain;
}

Result<PendingDump> DumpStore::begin(const std::string& domain, std::int64_t unix_time) const {
  DumpMeta initial;
  initial.domain = domain;
  initial.started_at = unix_time;
  return begin(initial);
}

Result<PendingDump> DumpStore::begin(const DumpMeta& initial) const {
  const std::string& domain = initial.domain;
  if (layout_ == Layout::kPerDomain) GUESTDUMP_CHECK(check_domain_name(domain));
  const std::string ddir = domain_dir(domain);
  if (layout_ == Layout::kPerDomain) GUESTDUMP_CHECK(make_dir_0700(ddir));
  const std::string base = store_timestamp(initial.started_at);
  // The directory is made, locked and given its "in progress" meta.json under a name list()
  // ignores, and only then renamed to `.<ts>.partial`: a partial directory is never seen
  // unlocked while its writer lives, so "unlocked" can mean "interrupted".
  std::string tmpl = ddir + "/." + base + kCreatingInfix + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return errno_error("create dump directory in", ddir);
  const std::string creating = tmpl;
  auto drop = [&](Error e) {
    std::error_code ec;
    fs::remove_all(creating, ec);
    return e;
  };
  auto lock = lock_dir(creating, LOCK_EX | LOCK_NB);
  if (!lock) return drop(std::move(lock).error());
  DumpMeta meta = initial;
  meta.status = kInProgress;
  if (auto w = write_meta_file(creating, meta); !w) return drop(std::move(w).error());
  for (int n = 1; n < 1000; ++n) {
    std::string name = n == 1 ? base : base + "-" + std::to_string(n);
    std::string final_dir = ddir + "/" + name;
    std::string partial = ddir + "/." + name + kPartialSuffix;
    std::error_code ec;
    if (fs::exists(final_dir, ec)) continue;
    if (::renameat2(AT_FDCWD, creating.c_str(), AT_FDCWD, partial.c_str(), RENAME_NOREPLACE) == 0) {
      return PendingDump(partial, final_dir, name, std::move(lock).value());
    }
    if (errno != EEXIST) return drop(errno_error("create dump directory", partial));
  }
  return drop(make_error(ErrorCode::kInvalidArgument,
                         "too many dumps of '" + domain + "' at " + base + " in " + ddir));
}

Result<void> DumpStore::list_domain(const std::string& ddir, const std::string& domain,
                                    std::vector<StoredDump>& out) const {
  std::error_code ec;
  fs::directory_iterator it(ddir, ec);
  if (ec) return make_error(ErrorCode::kOs, "list '" + ddir + "': " + ec.message());
  for (const auto& e : it) {
    if (e.is_symlink(ec) || !e.is_directory(ec)) continue;
    StoredDump s;
    s.domain = domain;
    s.path = e.path().string();
    std::string name = e.path().filename().string();
    if (is_partial_name(name)) {
      s.partial = true;
      name = name.substr(1, name.size() - 1 - std::string_view(kPartialSuffix).size());
    }
    if (!is_store_name(name)) continue;
    if (s.partial) s.in_use = locked_by_writer(s.path);
    s.name = name;
    s.bytes = dir_bytes(e.path());
    s.meta = read_meta_file(s.path);
    out.push_back(std::move(s));
  }
  return {};
}

Result<std::vector<std::pair<std::string, std::string>>> DumpStore::domain_dirs() const {
  std::vector<std::pair<std::string, std::string>> out;
  if (layout_ == Layout::kOneGuest) {
    out.emplace_back(dir_, std::string());
    return out;
  }
  std::error_code ec;
  fs::directory_iterator top(dir_, ec);
  if (ec) return make_error(ErrorCode::kOs, "list '" + dir_ + "': " + ec.message());
  for (const auto& d : top) {
    if (d.is_symlink(ec) || !d.is_directory(ec)) continue;
    std::string dom = d.path().filename().string();
    if (dom.empty() || dom[0] == '.') continue;
    out.emplace_back(d.path().string(), std::move(dom));
  }
  return out;
}

Result<std::vector<StoredDump>> DumpStore::list(const std::optional<std::string>& domain) const {
  std::vector<StoredDump> out;
  GUESTDUMP_TRY(auto dirs, domain_dirs());
  for (const auto& [ddir, dom] : dirs) {
    if (layout_ == Layout::kPerDomain && domain && dom != *domain) continue;
    // A domain directory that vanished or cannot be read is skipped.
    auto listed = list_domain(ddir, dom, out);
    if (!listed && layout_ == Layout::kOneGuest) return std::move(listed).error();
  }
  // Timestamps sort lexically; newest first, then domain for a stable order.
  std::sort(out.begin(), out.end(), [](const StoredDump& a, const StoredDump& b) {
    if (a.name != b.name) return a.name > b.name;
    return a.domain < b.domain;
  });
  return out;
}

Result<void> DumpStore::remove(const StoredDump& dump) const {
  UniqueFd held;
  if (dump.partial) {
    // Held while the directory goes: its writer cannot have come back, none ever does.
    auto lock = lock_dir(dump.path, LOCK_EX | LOCK_NB);
    if (!lock) {
      return make_error(ErrorCode::kInvalidArgument,
                        "refusing to remove '" + dump.path + "': " + lock.error().message);
    }
    held = std::move(lock).value();
  }
  std::error_code ec;
  fs::remove_all(dump.path, ec);
  if (ec) return make_error(ErrorCode::kOs, "remove '" + dump.path + "': " + ec.message());
  return {};
}

Result<std::vector<std::string>> DumpStore::recover_interrupted() const {
  std::vector<std::string> recovered;
  std::error_code ec;
  GUESTDUMP_TRY(auto dirs, domain_dirs());
  for (const auto& [ddir, domain] : dirs) {
    for (const auto& e : fs::directory_iterator(ddir, ec)) {
      const std::string name = e.path().filename().string();
      const std::string path = e.path().string();
      if (e.is_symlink(ec) || !e.is_directory(ec)) continue;
      const bool creating = name[0] == '.' && name.find(kCreatingInfix) != std::string::npos;
      if (!creating && !is_partial_name(name)) continue;
      auto lock = lock_dir(path, LOCK_EX | LOCK_NB);
      if (!lock) continue; // being written, or not ours to touch
      if (creating) {
        fs::remove_all(path, ec); // died before it was even a partial dump
        continue;
      }
      const std::string ts =
          name.substr(1, name.size() - 1 - std::string_view(kPartialSuffix).size());
      DumpMeta meta = read_meta_file(path).value_or(DumpMeta{});
      if (meta.domain.empty()) meta.domain = domain;
      if (meta.started_at == 0) meta.started_at = store_time(ts);
      keep_only_meta(path);
      meta.status = kInterruptedStatus;
      meta.vmcore_bytes = 0;
      if (auto w = write_meta_file(path, meta); !w) return std::move(w).error();
      GUESTDUMP_CHECK(sync_directory(path));
      std::string final_dir = ddir + "/" + ts;
      for (int n = 2; fs::exists(final_dir, ec) && n < 1000; ++n) {
        final_dir = ddir + "/" + ts + "-" + std::to_string(n);
      }
      GUESTDUMP_CHECK(rename_no_replace(path, final_dir));
      GUESTDUMP_CHECK(sync_directory(ddir));
      recovered.push_back(final_dir);
    }
  }
  return recovered;
}

PendingDump::PendingDump(PendingDump&& other) noexcept
    : partial_dir_(std::move(other.partial_dir_)), final_dir_(std::move(other.final_dir_)),
      name_(std::move(other.name_)), lock_(std::move(other.lock_)), done_(other.done_) {
  other.done_ = true;
}

PendingDump::~PendingDump() {
  if (!done_ && !partial_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(partial_dir_, ec);
  }
}

Result<void> PendingDump::write_text(const std::string& name, const std::string& text) const {
  return write_small_file(file(name), text);
}

Result<std::string> PendingDump::finish(const DumpMeta& meta) {
  GUESTDUMP_CHECK(write_meta_file(partial_dir_, meta));
  GUESTDUMP_CHECK(sync_directory(partial_dir_));
  GUESTDUMP_CHECK(rename_no_replace(partial_dir_, final_dir_));
  done_ = true;
  lock_.reset();
  auto parent = fs::path(final_dir_).parent_path().string();
  GUESTDUMP_CHECK(sync_directory(parent));
  return final_dir_;
}

Result<std::string> PendingDump::commit(DumpMeta meta) {
  meta.status = "complete";
  return finish(meta);
}

Result<std::string> PendingDump::fail(DumpMeta meta, const std::string& reason,
                                      const std::vector<std::string>& keep) {
  keep_only_meta(partial_dir_, keep);
  meta.status = "failed: " + reason;
  meta.vmcore_bytes = 0;
  return finish(meta);
}

} // namespace guestdump::store
