// guestdumpd's use of the dump store; see daemon_store.h.

#include "guestdump/host/daemon_store.h"

#include <cerrno>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guestdump/common/io.h"
#include "guestdump/common/unique_fd.h"

extern char** environ;

namespace guestdump::host {

Result<void> record_crash_mark(const std::string& dir, const std::string& uri,
                               const CrashMark& mark) {
  const std::string path = dir + "/meta.json";
  nlohmann::json j;
  {
    std::ifstream in(path);
    if (!in) return errno_error("open", path);
    j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return make_error(ErrorCode::kBadData, "'" + path + "': not a JSON object");
    }
  }
  nlohmann::json d = {{"uri", uri}, {"domain_id", mark.domain_id}};
  if (mark.vcpu_time_ns) d["vcpu_time_ns"] = *mark.vcpu_time_ns;
  j["daemon"] = d;
  const std::string text = j.dump(2) + "\n";
  const std::string tmp = dir + "/.meta.json.tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return errno_error("create", tmp);
  GUESTDUMP_CHECK(write_all(fd.get(), std::as_bytes(std::span(text.data(), text.size())), tmp));
  if (::fsync(fd.get()) != 0) return errno_error("fsync", tmp);
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return errno_error("rename to", path, err);
  }
  return {};
}

namespace {

// The raw meta.json object of a listed dump; DumpMeta does not carry unknown top-level keys.
nlohmann::json read_meta(const StoredDump& d) {
  std::ifstream in(d.path + "/meta.json");
  if (!in) return {};
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() ? j : nlohmann::json{};
}

} // namespace

std::map<std::string, CrashMark> crash_marks(const std::vector<StoredDump>& dumps) {
  std::map<std::string, std::pair<std::int64_t, CrashMark>> newest;
  for (const StoredDump& d : dumps) {
    if (d.partial || !d.meta || d.meta->uuid.empty()) continue;
    const nlohmann::json j = read_meta(d);
    auto it = j.find("daemon");
    if (it == j.end() || !it->is_object()) continue;
    const nlohmann::json& m = *it;
    if (!m.contains("uri") || !m["uri"].is_string() || !m.contains("domain_id") ||
        !m["domain_id"].is_number_integer()) {
      continue;
    }
    CrashMark mark;
    mark.domain_id = m["domain_id"].get<int>();
    if (m.contains("vcpu_time_ns") && m["vcpu_time_ns"].is_number_unsigned()) {
      mark.vcpu_time_ns = m["vcpu_time_ns"].get<std::uint64_t>();
    }
    const std::string key = m["uri"].get<std::string>() + " " + d.meta->uuid;
    auto [pos, inserted] = newest.try_emplace(key, d.meta->started_at, mark);
    if (!inserted && d.meta->started_at >= pos->second.first) {
      pos->second = {d.meta->started_at, mark};
    }
  }
  std::map<std::string, CrashMark> out;
  for (auto& [k, v] : newest) out.emplace(k, v.second);
  return out;
}

std::map<std::string, std::vector<std::int64_t>> dump_times(const std::vector<StoredDump>& dumps) {
  std::map<std::string, std::vector<std::int64_t>> out;
  for (const StoredDump& d : dumps) {
    if (d.partial || !d.meta || d.meta->uuid.empty()) continue;
    out[d.meta->uuid].push_back(d.meta->started_at);
  }
  return out;
}

std::vector<policies::StoredDump> retention_view(const std::vector<StoredDump>& dumps,
                                                 const std::set<std::string>& busy_domains) {
  std::vector<policies::StoredDump> out;
  for (const StoredDump& d : dumps) {
    policies::StoredDump p;
    p.guest = d.domain;
    p.id = d.name;
    p.bytes = d.bytes;
    std::int64_t t = d.meta ? d.meta->started_at : 0;
    if (t == 0) {
      // No readable meta.json: the directory name is the time (YYYYmmddTHHMMSSZ[-N]).
      std::string name = d.name;
      if (!name.empty() && name[0] == '.') name = name.substr(1);
      std::tm tm{};
      std::istringstream is(name.substr(0, 16));
      is >> std::get_time(&tm, "%Y%m%dT%H%M%SZ");
      if (!is.fail()) t = static_cast<std::int64_t>(timegm(&tm));
    }
    p.time = policies::WallTime(std::chrono::seconds(t));
    if (d.partial) {
      p.status = policies::DumpStatus::kIncomplete;
      p.in_use = busy_domains.count(d.domain) != 0;
    } else if (d.meta && d.meta->status != "complete") {
      p.status = policies::DumpStatus::kFailed;
    } else if (!d.meta) {
      p.status = policies::DumpStatus::kFailed;
    } else {
      p.status = policies::DumpStatus::kComplete;
    }
    out.push_back(std::move(p));
  }
  return out;
}

Result<void> check_store_writable(const std::string& dir) {
  std::string probe = dir + "/.guestdumpd-probe-XXXXXX";
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) return errno_error("dump-dir: cannot write to", dir);
  ::close(fd);
  ::unlink(probe.c_str());
  return {};
}

Result<int> run_post_hook(const std::string& hook, const std::string& dir) {
  const std::string script = hook + " \"$1\"";
  const char* argv[] = {"/bin/sh",   "-c",   script.c_str(), "guestdumpd-post-hook",
                        dir.c_str(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  // stdin from /dev/null; stdout and stderr stay ours (the journal).
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int rc =
      posix_spawn(&pid, "/bin/sh", &fa, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return errno_error("start post-hook", hook, rc);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return errno_error("wait for post-hook", hook);
  }
  if (WIFSIGNALED(status)) {
    return make_error(ErrorCode::kOs, "post-hook '" + hook + "' killed by signal " +
                                          std::to_string(WTERMSIG(status)));
  }
  return WEXITSTATUS(status);
}

} // namespace guestdump::host
