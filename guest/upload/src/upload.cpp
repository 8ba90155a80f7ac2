// Targets, settings, which dumps go and which are deleted; see upload.h.

#include "guestdump/guest/upload.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>

#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/common/unique_fd.h"
#include "guestdump/guest/config_edit.h"
#include "guestdump/objstore/config.h"
#include "guestdump/store/dump_store.h"

namespace guestdump::guest {
namespace {

constexpr std::string_view kLog = "upload";

bool is_user_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
}

bool is_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253 || h.front() == '-' || h.front() == '.') return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
  });
}

bool is_ipv6(std::string_view h) {
  if (h.empty() || h.size() > 45) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
  });
}

Error bad_url(std::string_view url, const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument,
                    "upload target '" + escape_text(url) + "': " + why);
}

Result<UploadTarget> parse_ssh(std::string_view url) {
  std::string_view rest = url.substr(6); // after "ssh://"
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos)
    return bad_url(url, "expected ssh://[user@]host[:port]/path");
  std::string_view authority = rest.substr(0, slash);
  std::string path(rest.substr(slash));
  UploadTarget out;
  out.kind = UploadKind::kSsh;
  SshTarget& t = out.ssh;
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    t.user = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
    if (t.user.empty() || t.user.front() == '-' ||
        !std::all_of(t.user.begin(), t.user.end(), is_user_char))
      return bad_url(url, "user must be of [A-Za-z0-9._-], not starting with '-'");
  }
  std::string_view port_text;
  bool port_given = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad_url(url, "unterminated '[' in the host");
    t.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad_url(url, "unexpected text after ']'");
      port_text = after.substr(1);
      port_given = true;
    }
    if (!is_ipv6(t.host)) return bad_url(url, "'[...]' must hold an IPv6 address");
  } else {
    const auto colon = authority.find(':');
    t.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      port_given = true;
    }
    if (!is_host_name(t.host))
      return bad_url(url, "host must be a DNS name or address (no leading '-')");
  }
  if (port_given) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return bad_url(url, "port must be 1-65535");
    t.port = port;
  }
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path == "/" || !is_plain_path(path))
    return bad_url(url, "path must be a directory other than '/' of [A-Za-z0-9._/+,=@:%~-]");
  t.path = path;
  out.url = ssh_url(t);
  return out;
}

std::string read_small(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::string text(256, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return std::string(trim(text));
}

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

bool is_plain_path(std::string_view path) {
  if (path.empty()) return false;
  return std::all_of(path.begin(), path.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("._/+,=@:%~-").find(c) != std::string_view::npos;
  });
}

std::string ssh_url(const SshTarget& t) {
  std::string out = "ssh://";
  if (!t.user.empty()) out += t.user + "@";
  out += t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
  if (t.port != 0) out += ":" + std::to_string(t.port);
  return out + t.path;
}

Result<UploadTarget> parse_upload_target(std::string_view url) {
  if (url.starts_with("s3://")) {
    GUESTDUMP_CHECK(objstore::parse_s3_url(url));
    UploadTarget out;
    out.kind = UploadKind::kS3;
    out.url = std::string(url);
    return out;
  }
  if (url.starts_with("ssh://")) return parse_ssh(url);
  return bad_url(url, "expected s3://BUCKET[/PREFIX] or ssh://[user@]host[:port]/path");
}

Result<std::optional<unsigned>> parse_keep_local(std::string_view text, std::string_view source) {
  text = trim(text);
  if (text == "all") return std::optional<unsigned>{};
  unsigned n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size())
    return make_error(ErrorCode::kInvalidArgument, std::string(source) + ": keep-local '" +
                                                       escape_text(text) +
                                                       "': expected a number of dumps or 'all'");
  return std::optional<unsigned>{n};
}

Result<void> apply_upload_defaults(UploadSettings& s, const std::string& text,
                                   const std::string& source) {
  for (auto [key, field] : {std::pair<const char*, std::string*>{"GUESTDUMP_UPLOAD", &s.target},
                            {"GUESTDUMP_DUMP_DIR", &s.dump_dir},
                            {"GUESTDUMP_SSH_KEY", &s.ssh_key},
                            {"GUESTDUMP_SSH_KNOWN_HOSTS", &s.ssh_known_hosts}}) {
    GUESTDUMP_TRY(std::optional<std::string> v, get_shell_var(text, key, source));
    if (v && !v->empty()) *field = *v;
  }
  // Set but empty means no metrics file, unlike the keys above.
  GUESTDUMP_TRY(std::optional<std::string> metrics,
                get_shell_var(text, "GUESTDUMP_METRICS_FILE", source));
  if (metrics) s.metrics_file = *metrics;
  GUESTDUMP_TRY(std::optional<std::string> keep,
                get_shell_var(text, "GUESTDUMP_KEEP_LOCAL", source));
  if (keep && !keep->empty()) {
    GUESTDUMP_TRY(s.keep_local, parse_keep_local(*keep, source + ": GUESTDUMP_KEEP_LOCAL"));
  }
  return {};
}

Result<std::vector<LocalDump>> list_local_dumps(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return std::vector<LocalDump>{};
  GUESTDUMP_TRY(store::DumpStore st, store::DumpStore::open(dir, store::Layout::kOneGuest));
  GUESTDUMP_TRY(std::vector<store::StoredDump> listed, st.list());
  std::vector<LocalDump> out;
  for (const store::StoredDump& d : listed) {
    if (d.partial) continue;
    LocalDump l;
    l.name = d.name;
    l.path = d.path;
    l.time = d.meta && d.meta->started_at != 0 ? d.meta->started_at : store::store_time(d.name);
    const bool has_vmcore = std::filesystem::is_regular_file(d.path + "/vmcore", ec);
    l.complete = d.meta && d.meta->status == "complete" && has_vmcore;
    l.uploaded = d.meta && store::upload_confirmed(*d.meta);
    out.push_back(std::move(l));
  }
  return out;
}

namespace {
/// Newest first by time, then name (two dumps in one second: "-2" sorts after).
void sort_newest_first(std::vector<LocalDump>& v) {
  std::sort(v.begin(), v.end(), [](const LocalDump& a, const LocalDump& b) {
    if (a.time != b.time) return a.time > b.time;
    return a.name > b.name;
  });
}
} // namespace

std::vector<LocalDump> dumps_to_upload(const std::vector<LocalDump>& dumps) {
  std::vector<LocalDump> out;
  for (const LocalDump& d : dumps)
    if (d.complete && !d.uploaded) out.push_back(d);
  sort_newest_first(out);
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<LocalDump> local_deletions(const std::vector<LocalDump>& dumps,
                                       std::optional<unsigned> keep_local) {
  if (!keep_local) return {};
  std::vector<LocalDump> complete;
  for (const LocalDump& d : dumps)
    if (d.complete) complete.push_back(d);
  sort_newest_first(complete);
  std::vector<LocalDump> out;
  for (std::size_t i = *keep_local; i < complete.size(); ++i)
    if (complete[i].uploaded) out.push_back(complete[i]);
  return out;
}

std::string upload_metrics_text(const UploadRunMetrics& m) {
  std::string out;
  auto gauge = [&](const char* name, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
  };
  auto num = [](double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return std::string(buf);
  };
  gauge("guestdump_guest_upload_last_run_timestamp_seconds",
        "When the last guestdump-guest upload run ended (Unix time).");
  out +=
      "guestdump_guest_upload_last_run_timestamp_seconds " + std::to_string(m.finished_at) + "\n";
  gauge("guestdump_guest_upload_last_run_seconds", "Wall time of the last upload run.");
  out += "guestdump_guest_upload_last_run_seconds " + num(m.seconds) + "\n";
  gauge("guestdump_guest_upload_last_run_dumps",
        "Dumps of the last run: uploaded, failed (left for the next run), deleted (keep-local).");
  out += "guestdump_guest_upload_last_run_dumps{outcome=\"uploaded\"} " +
         std::to_string(m.uploaded) + "\n";
  out += "guestdump_guest_upload_last_run_dumps{outcome=\"failed\"} " + std::to_string(m.failed) +
         "\n";
  out += "guestdump_guest_upload_last_run_dumps{outcome=\"deleted\"} " + std::to_string(m.deleted) +
         "\n";
  gauge("guestdump_guest_upload_last_run_bytes", "Bytes of the dumps the last run uploaded.");
  out += "guestdump_guest_upload_last_run_bytes " + std::to_string(m.bytes) + "\n";
  gauge("guestdump_guest_upload_last_run_success", "1 when no dump of the last run failed.");
  out +=
      std::string("guestdump_guest_upload_last_run_success ") + (m.failed == 0 ? "1" : "0") + "\n";
  gauge("guestdump_guest_upload_backlog", "Complete dumps on this disk not uploaded yet.");
  out += "guestdump_guest_upload_backlog " + std::to_string(m.backlog) + "\n";
  return out;
}

std::string machine_uuid(const std::string& root) {
  const std::string base = root == "/" ? "" : root;
  std::string dmi = lower(read_small(base + "/sys/class/dmi/id/product_uuid"));
  if (dmi.size() == 36 && dmi[8] == '-' && dmi[13] == '-' && dmi[18] == '-' && dmi[23] == '-') {
    std::string digits = dmi;
    std::erase(digits, '-');
    if (digits.size() == 32 && is_hex(digits)) return dmi;
  }
  std::string id = lower(read_small(base + "/etc/machine-id"));
  if (id.size() == 32 && is_hex(id)) {
    return id.substr(0, 8) + "-" + id.substr(8, 4) + "-" + id.substr(12, 4) + "-" +
           id.substr(16, 4) + "-" + id.substr(20);
  }
  return {};
}

Result<UploadOutcome> upload_and_prune(const std::string& dump_dir, const DumpUploader& uploader,
                                       std::optional<unsigned> keep_local,
                                       const std::string& uuid) {
  UploadOutcome out;
  std::error_code ec;
  if (!std::filesystem::exists(dump_dir, ec)) return out;
  // One upload run per directory at a time (the unit and an operator's run): the lock is on the
  // directory itself, which the capture's writers never lock (they lock their partial ones).
  GUESTDUMP_TRY(UniqueFd lock, UniqueFd::open(dump_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return make_error(ErrorCode::kOs,
                        "'" + dump_dir + "': another guestdump-guest upload is running on it");
    return errno_error("lock", dump_dir);
  }
  GUESTDUMP_TRY(std::vector<LocalDump> dumps, list_local_dumps(dump_dir));
  for (const LocalDump& d : dumps_to_upload(dumps)) {
    if (cancel_requested()) {
      out.failures.push_back("cancelled before dump '" + d.path + "'");
      break;
    }
    // The guest's capture does not know its UUID; without one every guest's dumps would share
    // one remote <uuid> level (and two guests' dumps of one second one place).
    if (auto meta = store::read_meta(d.path); meta && meta->uuid.empty() && !uuid.empty()) {
      meta->uuid = uuid;
      meta->extra["uuid_source"] = "upload: SMBIOS system UUID or machine-id";
      if (auto r = store::rewrite_meta(d.path, *meta); !r) {
        out.failures.push_back("dump '" + d.path + "' to " + uploader.describe() + ": " +
                               r.error().message);
        continue;
      }
    }
    auto url = uploader.upload(d.path);
    if (!url) {
      out.failures.push_back("dump '" + d.path + "' to " + uploader.describe() + ": " +
                             url.error().message);
      continue;
    }
    GUESTDUMP_LOG(kDebug, kLog) << "uploaded '" << d.path << "' to " << escape_text(*url);
    out.uploaded.emplace_back(d.path, *url);
    for (const auto& e : std::filesystem::directory_iterator(d.path, ec)) {
      std::error_code size_ec;
      const std::uintmax_t n = e.is_regular_file(size_ec) ? e.file_size(size_ec) : 0;
      if (!size_ec) out.bytes += n;
    }
  }

  // Retention on a fresh listing: only what meta.json now says was uploaded may go.
  GUESTDUMP_TRY(std::vector<LocalDump> after, list_local_dumps(dump_dir));
  out.backlog = dumps_to_upload(after).size();
  const std::vector<LocalDump> doomed = local_deletions(after, keep_local);
  if (doomed.empty()) return out;
  GUESTDUMP_TRY(store::DumpStore st, store::DumpStore::open(dump_dir, store::Layout::kOneGuest));
  GUESTDUMP_TRY(std::vector<store::StoredDump> listed, st.list());
  for (const LocalDump& d : doomed) {
    for (const store::StoredDump& s : listed) {
      if (s.name != d.name || s.partial) continue;
      if (auto r = st.remove(s); !r) {
        out.failures.push_back("keep-local: " + r.error().message);
        continue;
      }
      GUESTDUMP_LOG(kDebug, kLog) << "deleted '" << s.path << "' (uploaded; keep-local "
                                  << *keep_local << ")";
      out.deleted.push_back(s.path);
    }
  }
  return out;
}

} // namespace guestdump::guest
