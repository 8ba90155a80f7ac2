// The remote dump store (s3://BUCKET/PREFIX, layout PREFIX/<host>/<uuid>/<timestamp>/…):
//   guestdump list --store s3://BUCKET/PREFIX [filters] [--json]
//   guestdump fetch s3://BUCKET/…/<timestamp>/ DIR
// and the remote side of info and dmesg (open_remote_file). Every key, meta.json field and
// server reply is untrusted: bounded when read and escaped when printed.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_support.h"
#include "commands.h"
#include "guestdump/common/io.h"
#include "guestdump/common/json_text.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/objstore/remote_object.h"
#include "guestdump/store/dump_store.h"
#include "guestdump/store/meta.h"

namespace po = boost::program_options;

namespace guestdump::cli {
namespace {

constexpr std::size_t kMaxMetaBytes = 1u << 20; // a meta.json larger than this is refused

Result<objstore::S3Client> client_from_environment() {
  GUESTDUMP_TRY(auto config, objstore::resolve_s3_config(objstore::process_environment()));
  return objstore::S3Client(std::move(config));
}

// "20261203T174000Z" → Unix seconds; nullopt for anything else.
std::optional<std::int64_t> parse_store_timestamp(const std::string& text) {
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), "%Y%m%dT%H%M%SZ", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return static_cast<std::int64_t>(::timegm(&tm));
}

// A time given to --since/--until: Unix seconds after '@', a date, a date and time (UTC), or a
// store timestamp.
std::optional<std::int64_t> parse_time_argument(const std::string& text) {
  if (text.size() > 1 && text[0] == '@') {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data() + 1, text.data() + text.size(), v);
    if (ec == std::errc() && p == text.data() + text.size()) return v;
    return std::nullopt;
  }
  for (const char* format :
       {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%MZ",
        "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y%m%dT%H%M%SZ"}) {
    std::tm tm{};
    const char* end = ::strptime(text.c_str(), format, &tm);
    if (end != nullptr && *end == '\0') return static_cast<std::int64_t>(::timegm(&tm));
  }
  return std::nullopt;
}

// One level of a key that may name a local directory: our own key_level()'s alphabet, and not
// "." or "..".
bool safe_level(const std::string& s) {
  if (s.empty() || s.size() > 255 || s.find_first_not_of('.') == std::string::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

struct RemoteDump {
  std::string url; // s3://BUCKET/PREFIX/host/uuid/timestamp/
  std::string host_level, uuid_level, timestamp;
  std::int64_t time = 0;
  std::uint64_t vmcore_bytes = 0;
  std::optional<store::DumpMeta> meta;
  std::string problem; // why meta is missing
};

Result<std::optional<store::DumpMeta>> read_remote_meta(const objstore::S3Client& client,
                                                        const std::string& bucket,
                                                        const std::string& key,
                                                        std::string* text_out = nullptr) {
  GUESTDUMP_TRY(std::string text, client.get_object(bucket, key, kMaxMetaBytes));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (text_out != nullptr) *text_out = std::move(text);
  if (j.is_discarded() || !j.is_object()) return std::optional<store::DumpMeta>();
  return std::optional(store::meta_from_json(j));
}

const std::string* checksum_of(const store::DumpMeta& meta, const char* name) {
  if (!meta.checksums.is_object()) return nullptr;
  auto it = meta.checksums.find(name);
  if (it == meta.checksums.end() || !it->is_object()) return nullptr;
  auto sha = it->find("sha256");
  if (sha == it->end() || !sha->is_string()) return nullptr;
  return sha->get_ptr<const std::string*>();
}

} // namespace

bool is_s3_url(const std::string& text) {
  return text.starts_with("s3://");
}

Result<RemoteFile> open_remote_file(const std::string& url) {
  GUESTDUMP_TRY(objstore::S3Url where, objstore::parse_s3_url(url));
  if (where.prefix.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "'" + url + "' names a bucket, not an object");
  }
  GUESTDUMP_TRY(objstore::S3Client client, client_from_environment());
  GUESTDUMP_TRY(auto object, objstore::RemoteObject::open(client, where.bucket, where.prefix));
  return RemoteFile{std::move(object), std::move(client)};
}

void report_fetched(const objstore::S3Client& client, const std::string& name, std::uint64_t size,
                    bool print) {
  const auto stats = client.read_stats();
  char line[256];
  std::snprintf(line, sizeof line, "fetched %llu bytes in %llu requests (%.2f%% of %llu bytes)",
                static_cast<unsigned long long>(stats.bytes),
                static_cast<unsigned long long>(stats.requests),
                size ? 100.0 * static_cast<double>(stats.bytes) / static_cast<double>(size) : 0.0,
                static_cast<unsigned long long>(size));
  if (print) {
    std::fprintf(stderr, "guestdump: %s: %s\n", escape_text(name).c_str(), line);
  } else {
    GUESTDUMP_LOG(kDebug, "objstore") << name << ": " << line;
  }
}

int run_list_store(const std::string& store_url, const StoreFilter& filter, bool json) {
  auto where = objstore::parse_s3_url(store_url);
  if (!where) return usage_error(where.error().message);
  std::optional<std::int64_t> since, until;
  if (!filter.since.empty() && !(since = parse_time_argument(filter.since))) {
    return usage_error("--since '" + filter.since +
                       "' is not a time (YYYY-MM-DD[THH:MM[:SS]], "
                       "@UNIX)");
  }
  if (!filter.until.empty() && !(until = parse_time_argument(filter.until))) {
    return usage_error("--until '" + filter.until +
                       "' is not a time (YYYY-MM-DD[THH:MM[:SS]], "
                       "@UNIX)");
  }
  auto client = client_from_environment();
  if (!client) return fail("list: " + client.error().message);
  const std::string prefix = where->prefix.empty() ? "" : where->prefix + "/";
  auto objects = client->list_objects(where->bucket, prefix);
  if (!objects) return fail("list: " + objects.error().message);

  // PREFIX/<host>/<uuid>/<timestamp>/<file>: dumps by their key prefix, with the vmcore's size.
  std::map<std::string, RemoteDump> dumps;
  std::map<std::string, std::uint64_t> vmcore_sizes;
  for (const auto& o : *objects) {
    const std::string rest = o.key.substr(prefix.size());
    std::vector<std::string> levels;
    for (std::size_t start = 0;;) {
      auto slash = rest.find('/', start);
      levels.push_back(rest.substr(start, slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (levels.size() != 4) continue;
    const std::string dump_prefix = o.key.substr(0, o.key.size() - levels[3].size());
    if (levels[3] == "vmcore") vmcore_sizes[dump_prefix] = o.size;
    if (levels[3] != "meta.json") continue;
    RemoteDump& d = dumps[dump_prefix];
    d.url = "s3://" + where->bucket + "/" + dump_prefix;
    d.host_level = levels[0];
    d.uuid_level = levels[1];
    d.timestamp = levels[2];
  }
  std::vector<RemoteDump> shown;
  for (auto& [dump_prefix, d] : dumps) {
    if (auto it = vmcore_sizes.find(dump_prefix); it != vmcore_sizes.end()) {
      d.vmcore_bytes = it->second;
    }
    auto meta = read_remote_meta(*client, where->bucket, dump_prefix + "meta.json");
    if (!meta) {
      d.problem = "meta.json unreadable: " + meta.error().message;
    } else if (!*meta) {
      d.problem = "meta.json is not a JSON object";
    } else {
      d.meta = std::move(**meta);
    }
    d.time = d.meta && d.meta->started_at != 0 ? d.meta->started_at
                                               : parse_store_timestamp(d.timestamp).value_or(0);
    if (d.vmcore_bytes == 0 && d.meta) d.vmcore_bytes = d.meta->vmcore_bytes;
    const std::string host = d.meta ? d.meta->host : d.host_level;
    if (!filter.host.empty() && host != filter.host && d.host_level != filter.host) continue;
    if (!filter.domain.empty() &&
        (!d.meta || (d.meta->domain != filter.domain && d.meta->uuid != filter.domain))) {
      continue;
    }
    if (!filter.trigger.empty() && (!d.meta || d.meta->trigger != filter.trigger)) continue;
    if (since && d.time < *since) continue;
    if (until && d.time > *until) continue;
    shown.push_back(std::move(d));
  }
  std::stable_sort(shown.begin(), shown.end(), [](const RemoteDump& a, const RemoteDump& b) {
    return a.time != b.time ? a.time > b.time : a.url > b.url;
  });
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : shown) {
      nlohmann::json j = {{"url", d.url},
                          {"host", d.meta ? d.meta->host : d.host_level},
                          {"domain", d.meta ? d.meta->domain : ""},
                          {"uuid", d.meta ? d.meta->uuid : d.uuid_level},
                          {"timestamp", d.timestamp},
                          {"time", d.time},
                          {"vmcore_bytes", d.vmcore_bytes},
                          {"trigger", d.meta ? d.meta->trigger : ""},
                          {"status", d.meta ? d.meta->status : d.problem}};
      if (d.meta) j["meta"] = store::to_json(*d.meta);
      out.push_back(std::move(j));
    }
    // dump_json escapes what the JSON library would pass through (invalid UTF-8).
    std::cout << dump_json(out, 2) << "\n";
    return 0;
  }
  std::printf("%-16s %-20s %-20s %10s %-8s %-10s %s\n", "HOST", "DOMAIN", "TIME", "SIZE", "TRIGGER",
              "STATUS", "URL");
  for (const auto& d : shown) {
    const std::string host = d.meta ? d.meta->host : d.host_level;
    const std::string domain = d.meta && !d.meta->domain.empty() ? d.meta->domain : d.uuid_level;
    std::printf("%-16s %-20s %-20s %10s %-8s %-10s %s\n", escape_text(host).c_str(),
                escape_text(domain).c_str(), utc_time_text(d.time).c_str(),
                format_bytes(static_cast<double>(d.vmcore_bytes)).c_str(),
                d.meta ? escape_text(d.meta->trigger).c_str() : "-",
                escape_text(d.meta ? d.meta->status : d.problem).c_str(),
                escape_text(d.url).c_str());
  }
  return 0;
}

namespace {

// Removes a half-fetched directory on every exit path but success.
class TempDirGuard {
public:
  explicit TempDirGuard(std::string path) : path_(std::move(path)) {}
  ~TempDirGuard() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  TempDirGuard(const TempDirGuard&) = delete;
  TempDirGuard& operator=(const TempDirGuard&) = delete;
  void release() { path_.clear(); }

private:
  std::string path_;
};

Result<std::string> fetch_dump(const objstore::S3Client& client, const std::string& url,
                               const std::string& dir) {
  GUESTDUMP_TRY(objstore::S3Url where, objstore::parse_s3_url(url));
  const auto slash = where.prefix.rfind('/');
  const std::string timestamp =
      slash == std::string::npos ? where.prefix : where.prefix.substr(slash + 1);
  if (!safe_level(timestamp)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'" + url + "' does not end in a dump's timestamp level");
  }
  const std::string prefix = where.prefix + "/";
  const std::string base = "s3://" + where.bucket + "/" + prefix;
  std::string meta_text;
  GUESTDUMP_TRY(auto meta,
                read_remote_meta(client, where.bucket, prefix + "meta.json", &meta_text));
  if (!meta) {
    return make_error(ErrorCode::kBadData, "'" + base + "meta.json' is not a JSON object");
  }
  // What to fetch and the SHA-256 each must have: meta.json's word, which the object's own
  // x-amz-meta-sha256 must repeat.
  std::vector<std::pair<std::string, std::string>> files;
  for (const char* name : {"vmcore", "dmesg.txt"}) {
    const std::string* sha = checksum_of(*meta, name);
    if (sha == nullptr) {
      if (std::string_view(name) == "vmcore") {
        return make_error(ErrorCode::kBadData,
                          "'" + base + "meta.json' records no SHA-256 of vmcore");
      }
      continue;
    }
    GUESTDUMP_TRY(auto info, client.head_object(where.bucket, prefix + name));
    if (info.sha256 != *sha) {
      return make_error(ErrorCode::kBadData, "'" + base + name + "': its x-amz-meta-sha256 '" +
                                                 escape_text(info.sha256) +
                                                 "' is not meta.json's " + escape_text(*sha));
    }
    files.emplace_back(name, *sha);
  }

  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return errno_error("mkdir", dir);
  const std::string final_dir = dir + "/" + timestamp;
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(final_dir, ec))) {
    return make_error(ErrorCode::kInvalidArgument, "'" + final_dir + "' exists already");
  }
  std::string temp = dir + "/." + timestamp + ".fetch-XXXXXX";
  if (::mkdtemp(temp.data()) == nullptr) return errno_error("create directory in", dir);
  TempDirGuard guard(temp);
  for (const auto& [name, sha] : files) {
    GUESTDUMP_TRY(auto got,
                  client.download_object(where.bucket, prefix + name, temp + "/" + name, sha));
    GUESTDUMP_LOG(kInfo, "fetch") << "'" << base << name << "': " << got.bytes << " bytes";
  }
  {
    GUESTDUMP_TRY(OutputFile out, OutputFile::create(temp + "/meta.json"));
    GUESTDUMP_CHECK(write_all(out.fd(), std::as_bytes(std::span(meta_text)), temp + "/meta.json"));
    GUESTDUMP_CHECK(out.commit());
  }
  GUESTDUMP_CHECK(sync_directory(temp));
  if (::rename(temp.c_str(), final_dir.c_str()) != 0) return errno_error("rename to", final_dir);
  guard.release();
  GUESTDUMP_CHECK(sync_directory(dir));
  return final_dir;
}

} // namespace

int run_fetch(const std::vector<std::string>& args) {
  std::string url, dir;
  po::options_description desc("fetch options");
  desc.add_options()("help,h", "show this help")(
      "url", po::value<std::string>(&url)->required(),
      "a dump in the remote store: s3://BUCKET/PREFIX/HOST/UUID/TIMESTAMP/")(
      "dir", po::value<std::string>(&dir)->required(), "local directory to fetch it into");
  po::positional_options_description pos;
  pos.add("url", 1).add("dir", 1);
  int code = 0;
  if (!parse_args(args, desc, pos, "usage: guestdump fetch s3://BUCKET/.../TIMESTAMP/ DIR", code)) {
    return code;
  }
  if (auto where = objstore::parse_s3_url(url); !where) return usage_error(where.error().message);
  auto client = client_from_environment();
  if (!client) return fail("fetch: " + client.error().message);
  auto fetched = fetch_dump(*client, url, dir);
  if (!fetched) return fail("fetch: " + fetched.error().message);
  const auto stats = client->read_stats();
  std::printf("%s: fetched and verified (%llu bytes)\n", escape_text(*fetched).c_str(),
              static_cast<unsigned long long>(stats.bytes));
  return 0;
}

} // namespace guestdump::cli
