#include "guestdump/objstore/dump_upload.h"

#include <chrono>
#include <filesystem>

#include "guestdump/common/log.h"
#include "guestdump/store/dump_store.h"

namespace guestdump::objstore {
namespace {

std::string key_level(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '_');
  }
  if (out.find_first_not_of('.') == std::string::npos) return "unknown";
  return out;
}

} // namespace

std::string dump_key_prefix(const S3Url& store, const store::DumpMeta& meta,
                            const std::string& timestamp) {
  std::string prefix = store.prefix.empty() ? "" : store.prefix + "/";
  return prefix + key_level(meta.host) + "/" + key_level(meta.uuid) + "/" + key_level(timestamp) +
         "/";
}

Result<std::string> upload_dump(const S3Client& client, const S3Url& store,
                                const std::string& dump_dir, const UploadOptions& options) {
  const std::string what = "upload dump '" + dump_dir + "'";
  auto meta = store::read_meta(dump_dir);
  if (!meta) {
    return make_error(ErrorCode::kBadData, what + ": no readable meta.json");
  }
  const std::string timestamp = std::filesystem::path(dump_dir).filename().string();
  const std::string prefix = dump_key_prefix(store, *meta, timestamp);
  const std::string url = "s3://" + store.bucket + "/" + prefix;

  nlohmann::json checksums = nlohmann::json::object();
  for (const char* name : {"vmcore", "dmesg.txt"}) {
    const std::string path = dump_dir + "/" + name;
    std::error_code ec;
    if (std::string_view(name) != "vmcore" && !std::filesystem::exists(path, ec)) continue;
    GUESTDUMP_TRY(auto object, client.upload_file(path, store.bucket, prefix + name,
                                                  dump_dir + "/." + name + ".upload", options));
    checksums[name] = {{"sha256", object.sha256}};
    GUESTDUMP_LOG(kInfo, "objstore")
        << "uploaded '" << path << "' to " << url << name << " (" << object.bytes << " bytes"
        << (object.parts ? ", " + std::to_string(object.parts) + " parts" : std::string()) << ")";
  }
  store::record_upload(*meta, url, std::move(checksums));
  // meta.json goes last: a remote dump with a meta.json is a complete one. The local copy says
  // "uploaded" only once the remote one is stored (retention may then delete the local dump).
  const std::string text = store::meta_text(*meta);
  GUESTDUMP_CHECK(client.put_object(store.bucket, prefix + "meta.json", text, options));
  if (auto r = store::rewrite_meta(dump_dir, *meta); !r) return std::move(r).error().context(what);
  return url;
}

} // namespace guestdump::objstore
