#pragma once
// meta.json, the record of one dump: one versioned schema written by guestdump, guestdumpd and
// guestdump-guest alike. Every field, its type and its producers: docs/meta-json.md; the JSON
// Schema: docs/meta.schema.json.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "guestdump/common/result.h"

namespace guestdump::store {

/// meta.json's "schema": raised when a field changes meaning or type (adding one does not).
inline constexpr int kMetaSchemaVersion = 1;

/// What meta.json records about one dump.
struct DumpMeta {
  std::string tool; // the program that wrote it: "guestdump", "guestdumpd", ...
  std::string tool_version;
  std::string domain; // empty from guestdump-guest (the guest does not know it)
  std::string uuid;
  std::string host;             // the hypervisor host; empty from guestdump-guest
  std::string trigger;          // "manual", "panic", "crashloaded", "watchdog", "hang", "kdump"
  std::string path;             // how memory was read: "qmp-stream", "libvirt-coredump", ...
  std::int64_t started_at = 0;  // Unix seconds
  std::int64_t finished_at = 0; // Unix seconds
  double pause_seconds = 0;     // how long the guest was held paused by us
  int dump_level = 0;
  std::string codec;
  std::uint64_t guest_ram_bytes = 0;
  std::uint64_t vmcore_bytes = 0;
  std::uint64_t pages_dumped = 0;
  std::string kernel_release;
  std::string vmcoreinfo_source;                   // "dump note", "none", ...
  std::string status = "complete";                 // "complete" or "failed: <reason>"
  nlohmann::json extra = nlohmann::json::object(); // filter counts, notes, ...
  /// guestdumpd's record of the crash it dumped ({"uri", "domain_id", "vcpu_time_ns"}); null
  /// for on-demand dumps. Written from the start, so an interrupted dump still names its crash.
  nlohmann::json daemon;
  /// SHA-256 of the dump's files once computed ({"vmcore": {"sha256": hex}, "dmesg.txt": ...});
  /// null until then.
  nlohmann::json checksums;
  /// Where the dump was uploaded ({"url": "s3://…/", "state": "complete", "finished_at": N});
  /// null when it was not.
  nlohmann::json upload;
};

/// Records a confirmed upload in `meta`: `checksums` ({"vmcore": {"sha256": hex}, ...}) and
/// upload = {"url": url, "state": "complete", "finished_at": now}.
void record_upload(DumpMeta& meta, const std::string& url, nlohmann::json checksums);
/// Whether `meta` records a confirmed upload. meta.json is untrusted: only an `upload` object
/// whose "state" is the string "complete" counts.
bool upload_confirmed(const DumpMeta& meta);

nlohmann::json to_json(const DumpMeta& meta);
/// Reads any JSON object leniently: a missing field or one of the wrong type keeps its default
/// (list() must survive odd files, including those of older schema versions).
DumpMeta meta_from_json(const nlohmann::json& j);
/// meta.json's text: to_json() through dump_json(), so guest strings cannot break it.
std::string meta_text(const DumpMeta& meta);

} // namespace guestdump::store
