// meta.json: see meta.h and docs/meta-json.md.

#include "guestdump/store/meta.h"

#include <chrono>

#include "guestdump/common/json_text.h"

namespace guestdump::store {

void record_upload(DumpMeta& meta, const std::string& url, nlohmann::json checksums) {
  meta.checksums = std::move(checksums);
  meta.upload = {{"url", url},
                 {"state", "complete"},
                 {"finished_at", std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count()}};
}

bool upload_confirmed(const DumpMeta& meta) {
  if (!meta.upload.is_object()) return false;
  auto it = meta.upload.find("state");
  return it != meta.upload.end() && it->is_string() && it->get<std::string>() == "complete";
}

nlohmann::json to_json(const DumpMeta& m) {
  nlohmann::json j{{"schema", kMetaSchemaVersion},
                   {"tool", m.tool},
                   {"tool_version", m.tool_version},
                   {"domain", m.domain},
                   {"uuid", m.uuid},
                   {"host", m.host},
                   {"trigger", m.trigger},
                   {"capture_path", m.path},
                   {"started_at", m.started_at},
                   {"finished_at", m.finished_at},
                   {"pause_seconds", m.pause_seconds},
                   {"dump_level", m.dump_level},
                   {"codec", m.codec},
                   {"guest_ram_bytes", m.guest_ram_bytes},
                   {"vmcore_bytes", m.vmcore_bytes},
                   {"pages_dumped", m.pages_dumped},
                   {"kernel_release", m.kernel_release},
                   {"vmcoreinfo_source", m.vmcoreinfo_source},
                   {"status", m.status},
                   {"extra", m.extra.is_object() ? m.extra : nlohmann::json::object()}};
  if (!m.daemon.is_null()) j["daemon"] = m.daemon;
  if (m.checksums.is_object()) j["checksums"] = m.checksums;
  if (m.upload.is_object()) j["upload"] = m.upload;
  return j;
}

DumpMeta meta_from_json(const nlohmann::json& j) {
  DumpMeta m;
  auto get = [&](const char* key, auto& field) {
    auto it = j.find(key);
    if (it != j.end() && !it->is_null()) {
      try {
        it->get_to(field);
      } catch (const nlohmann::json::exception&) {
        // A field of the wrong type is left at its default: list() must survive odd files.
      }
    }
  };
  get("tool", m.tool);
  get("tool_version", m.tool_version);
  get("domain", m.domain);
  get("uuid", m.uuid);
  get("host", m.host);
  get("trigger", m.trigger);
  get("capture_path", m.path);
  get("started_at", m.started_at);
  get("finished_at", m.finished_at);
  get("pause_seconds", m.pause_seconds);
  get("dump_level", m.dump_level);
  get("codec", m.codec);
  get("guest_ram_bytes", m.guest_ram_bytes);
  get("vmcore_bytes", m.vmcore_bytes);
  get("pages_dumped", m.pages_dumped);
  get("kernel_release", m.kernel_release);
  get("vmcoreinfo_source", m.vmcoreinfo_source);
  get("status", m.status);
  if (auto it = j.find("extra"); it != j.end() && it->is_object()) m.extra = *it;
  if (auto it = j.find("daemon"); it != j.end() && it->is_object()) m.daemon = *it;
  if (auto it = j.find("checksums"); it != j.end() && it->is_object()) m.checksums = *it;
  if (auto it = j.find("upload"); it != j.end() && it->is_object()) m.upload = *it;
  return m;
}

std::string meta_text(const DumpMeta& meta) {
  return dump_json(to_json(meta), 2) + "\n";
}

} // namespace guestdump::store
