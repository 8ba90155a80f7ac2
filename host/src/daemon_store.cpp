// guestdumpd's use of the dump store; see daemon_store.h.

#include "guestdump/host/daemon_store.h"

#include <cerrno>
#include <fstream>

#include <fcntl.h>
#include <unistd.h>

#include "guestdump/common/io.h"
#include "guestdump/common/json_text.h"
#include "guestdump/common/subprocess.h"
#include "guestdump/common/unique_fd.h"

namespace guestdump::host {

nlohmann::json crash_record(const std::string& uri, const CrashMark& mark) {
  nlohmann::json d = {{"uri", uri}, {"domain_id", mark.domain_id}};
  if (mark.vcpu_time_ns) d["vcpu_time_ns"] = *mark.vcpu_time_ns;
  return d;
}

std::map<std::string, CrashMark> crash_marks(const std::vector<store::StoredDump>& dumps) {
  std::map<std::string, std::pair<std::int64_t, CrashMark>> newest;
  for (const store::StoredDump& d : dumps) {
    if (d.partial || !d.meta || d.meta->uuid.empty() || !d.meta->daemon.is_object()) continue;
    const nlohmann::json& m = d.meta->daemon;
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

std::map<std::string, std::vector<std::int64_t>>
dump_times(const std::vector<store::StoredDump>& dumps) {
  std::map<std::string, std::vector<std::int64_t>> out;
  for (const store::StoredDump& d : dumps) {
    if (d.partial || !d.meta || d.meta->uuid.empty()) continue;
    out[d.meta->uuid].push_back(d.meta->started_at);
  }
  return out;
}

std::vector<policies::LocalDump> upload_view(const std::vector<store::StoredDump>& dumps) {
  std::vector<policies::LocalDump> out;
  for (const store::StoredDump& d : dumps) {
    policies::LocalDump l;
    l.guest = d.domain;
    l.id = d.name;
    std::int64_t t = d.meta ? d.meta->started_at : 0;
    if (t == 0) t = store::store_time(d.name);
    l.time = policies::WallTime(std::chrono::seconds(t));
    if (d.partial) {
      l.status = policies::DumpStatus::kIncomplete;
    } else if (!d.meta || d.meta->status != "complete") {
      l.status = policies::DumpStatus::kFailed;
    }
    l.in_use = d.in_use;
    l.upload_confirmed = d.meta && store::upload_confirmed(*d.meta);
    for (const char* f : {"/.vmcore.upload", "/.dmesg.txt.upload"}) {
      if (::access((d.path + f).c_str(), F_OK) == 0) l.upload_state_file = true;
    }
    out.push_back(std::move(l));
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

Result<int> run_post_hook(const std::string& hook, const std::string& dir,
                          std::chrono::milliseconds timeout) {
  // The directory is an argument, never part of the script: a domain name cannot inject shell.
  GUESTDUMP_TRY(
      ProcessExit ex,
      run_process({"/bin/sh", "-c", hook + " \"$1\"", "guestdumpd-post-hook", dir}, timeout));
  if (ex.timed_out) {
    return make_error(ErrorCode::kTimeout,
                      "post-hook '" + hook + "' for " + dir + " did not finish in " +
                          std::to_string(timeout.count() / 1000) + " s; killed its process group");
  }
  if (ex.signal) {
    return make_error(ErrorCode::kOs,
                      "post-hook '" + hook + "' killed by signal " + std::to_string(*ex.signal));
  }
  return ex.code;
}

} // namespace guestdump::host
